// Cash sessions on registers: open with a float, paid in/out, X report, close with the count (Z report).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { closeSession, getSession, listSessions, openSession, paidInOut, type CashSession } from '../../core/sales/cash-sessions.ts'
import { sessionReport } from '../../core/sales/session-report.ts'
import { snapshot } from '../snapshot.ts'
import { MAX_PAYMENT_AMOUNT } from '../../lib/money.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { BusinessDate, IdCursor, serialize, uuid } from '../schemas.ts'
import { keysetPage } from '../../db/page.ts'

const tags = ['Cash sessions']
const minor = z.number().int()

const SessionSchema = z
  .object({
    id: uuid(),
    storeId: uuid(),
    registerId: uuid(),
    status: z.enum(['open', 'closed']),
    rescue: z.boolean(),
    businessDate: z.string(),
    openingFloat: minor,
    openedBy: uuid().nullable(),
    openedAt: z.string(),
    closedBy: uuid().nullable(),
    closedAt: z.string().nullable(),
    expectedCash: minor.nullable(),
    countedCash: minor.nullable(),
    overShort: minor.nullable().openapi({ description: 'counted − expected: positive over, negative short' }),
    denominations: z.record(z.string(), z.number().int()).nullable(),
    note: z.string().nullable(),
  })
  .openapi('CashSession')

export const ReportSchema = z
  .object({
    type: z.enum(['X', 'Z']),
    session: z.object({ id: uuid(), registerId: uuid(), storeId: uuid(), businessDate: z.string(), status: z.enum(['open', 'closed']), rescue: z.boolean(), openedAt: z.string(), closedAt: z.string().nullable() }),
    sales: z.object({
      count: z.number().int(),
      gross: minor,
      discounts: minor,
      tax: minor,
      total: minor,
      rounding: minor,
      amountDue: minor,
      tenderDifference: minor.openapi({ description: 'What offline tills took beyond the amount due (negative: short); 0 online. Σ tenders net = net + tenderDifference.' }),
    }),
    voids: z.object({ count: z.number().int(), total: minor }),
    refunds: z.object({ count: z.number().int(), total: minor, tax: minor }),
    net: minor.openapi({ description: "Completed sales' amount due minus refunds" }),
    tenders: z.array(z.object({ kind: z.string(), sales: minor, refunds: minor, net: minor })),
    discounts: z.array(z.object({ source: z.string(), label: z.string(), amount: minor })),
    cash: z
      .object({
        openingFloat: minor,
        sales: minor,
        refunds: minor,
        voids: minor,
        paidIn: minor,
        paidOut: minor,
        topUps: minor.openapi({ description: 'Stored value bought with cash at this till' }),
        topUpRefunds: minor.openapi({ description: 'Cash given back for refunded top-ups' }),
        expected: minor,
        counted: minor.nullable(),
        overShort: minor.nullable(),
      })
      .openapi({ description: 'The drawer: expected = openingFloat + sales − refunds − voids + paidIn − paidOut + topUps − topUpRefunds' }),
  })
  .openapi('SessionReport')

const out = (s: CashSession) => serialize(s) as unknown as z.infer<typeof SessionSchema>

const open = defineRoute({
  method: 'post',
  path: '/api/v1/cash-sessions',
  tags,
  summary: 'Open a cash session on a register with a counted float',
  access: 'cash.session',
  request: { body: jsonBody(z.object({ registerId: uuid(), openingFloat: z.number().int().min(0).max(MAX_PAYMENT_AMOUNT), note: z.string().max(500).optional() }).strict()) },
  responses: { 201: json(SessionSchema, 'Opened') },
})
const list = defineRoute({
  method: 'get',
  path: '/api/v1/cash-sessions',
  tags,
  summary: 'List cash sessions, newest first',
  access: 'sales.read',
  request: {
    query: z.object({ storeId: uuid().optional(), registerId: uuid().optional(), status: z.enum(['open', 'closed']).optional(), businessDate: BusinessDate().optional(), limit: z.coerce.number().int().min(1).max(200).default(50), cursor: IdCursor() }),
  },
  responses: { 200: json(z.object({ items: z.array(SessionSchema), nextCursor: z.string().nullable() })) },
})
const get = defineRoute({ method: 'get', path: '/api/v1/cash-sessions/{id}', tags, summary: 'One cash session', access: 'sales.read', request: { params: IdParam }, responses: { 200: json(SessionSchema) } })
const move = defineRoute({
  method: 'post',
  path: '/api/v1/cash-sessions/{id}/movements',
  tags,
  summary: 'Paid in or paid out: cash into or out of the drawer without a sale',
  description: 'Opens the register’s drawer (a drawer.open_requested event whose reason starts with “paid in:” or “paid out:”).',
  access: 'cash.paid_in_out',
  request: { params: IdParam, body: jsonBody(z.object({ kind: z.enum(['paid_in', 'paid_out']), amount: z.number().int().min(1).max(MAX_PAYMENT_AMOUNT), reason: z.string().min(1).max(500) }).strict()) },
  responses: { 201: json(z.object({ expectedCash: minor }), 'Recorded') },
})
const xReport = defineRoute({
  method: 'get',
  path: '/api/v1/cash-sessions/{id}/report',
  tags,
  summary: 'X report while open, Z report once closed',
  access: 'cash.session',
  request: { params: IdParam },
  responses: { 200: json(ReportSchema) },
})
const close = defineRoute({
  method: 'post',
  path: '/api/v1/cash-sessions/{id}/close',
  tags,
  summary: 'Close with the counted cash (total or per denomination); answers the Z report',
  access: 'cash.session',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({
          countedCash: z.number().int().min(0).max(MAX_PAYMENT_AMOUNT).optional(),
          denominations: z.record(z.string().regex(/^\d+$/), z.number().int().min(0)).optional().openapi({ description: 'Denomination in minor units → count, e.g. {"10000": 3, "50": 4}' }),
          note: z.string().max(500).optional(),
        })
        .strict(),
    ),
  },
  responses: { 200: json(z.object({ session: SessionSchema, report: ReportSchema })) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(open, async (c) => c.json(out(await openSession(c.var.db, c.var.principal, { ...c.req.valid('json'), at: c.var.hub.clock() })), 201))
  app.openapi(list, async (c) => {
    const { cursor, limit, ...q } = c.req.valid('query')
    const page = keysetPage(await listSessions(c.var.db, c.var.principal.merchantId, { ...q, after: cursor, limit: limit + 1 }), limit, (s) => s.id)
    return c.json({ items: page.items.map(out), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(get, async (c) => c.json(out(await getSession(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(move, async (c) => c.json(await paidInOut(c.var.db, c.var.principal, c.req.valid('param').id, { ...c.req.valid('json'), approverId: c.var.principal.approvedBy }, c.var.hub.clock()), 201))
  // Every figure of one report counts the same sales: its queries read one snapshot while the till goes on selling.
  app.openapi(xReport, async (c) => c.json(await snapshot(c, (tx) => sessionReport(tx, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(close, async (c) => {
    const id = c.req.valid('param').id
    const session = await closeSession(c.var.db, c.var.principal, id, c.req.valid('json'), c.var.hub.clock())
    return c.json({ session: out(session), report: await sessionReport(c.var.db, c.var.principal.merchantId, id) }, 200)
  })
}
