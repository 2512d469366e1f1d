// Actions held for a manager's approval (the merchant's settings.approvals rules): list them, approve (the action
// runs then, atomically), reject, or withdraw one's own.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { actorCan } from '../../core/staff/actor.ts'
import { approveRequest, cancelRequest, getRequest, listRequests, rejectRequest, type ApprovalRequest } from '../../core/staff/approvals.ts'
import { notFound } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { serialize, uuid } from '../schemas.ts'

const tags = ['Approvals']
const STATUSES = ['pending', 'approved', 'rejected', 'failed', 'cancelled'] as const

export const ApprovalSchema = z
  .object({
    id: uuid(),
    action: z.string().openapi({ example: 'sale.refund' }),
    summary: z.string(),
    status: z.enum(STATUSES),
    payload: z.record(z.string(), z.unknown()).openapi({ description: 'The validated request the action will run with' }),
    requestedBy: uuid().nullable(),
    requestedByType: z.enum(['user', 'api_key', 'system']),
    decidedBy: uuid().nullable(),
    decidedAt: z.string().nullable(),
    decisionNote: z.string().nullable(),
    result: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'What the action did, once approved' }),
    error: z.record(z.string(), z.unknown()).nullable().openapi({ description: 'Why the action failed when it was approved (nothing of it was written)' }),
    createdAt: z.string(),
  })
  .openapi('ApprovalRequest')

export const toApproval = (row: ApprovalRequest) => {
  const { merchantId: _m, ...rest } = serialize(row)
  return rest as z.infer<typeof ApprovalSchema>
}

/** The 202 answer of a route whose action was held for approval. */
export const HeldResponse = json(z.object({ approval: ApprovalSchema }), 'Held: the merchant requires a manager’s approval; nothing happened yet')
export const held = (row: ApprovalRequest) => ({ approval: toApproval(row) })

const list = defineRoute({
  method: 'get',
  path: '/api/v1/approvals',
  tags,
  summary: 'Approval requests, newest first',
  description: 'Callers who may decide approvals see every request of the merchant; others see their own.',
  access: 'authenticated',
  request: {
    query: z.object({
      status: z.enum(STATUSES).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: uuid().optional().openapi({ description: 'The `nextCursor` of the previous page' }),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(ApprovalSchema), nextCursor: z.string().nullable() })) },
})

const get = defineRoute({ method: 'get', path: '/api/v1/approvals/{id}', tags, summary: 'One approval request', access: 'authenticated', request: { params: IdParam }, responses: { 200: json(ApprovalSchema) } })

const Note = jsonBody(z.object({ note: z.string().max(1000).optional() }).strict())

const approve = defineRoute({
  method: 'post',
  path: '/api/v1/approvals/{id}/approve',
  tags,
  summary: 'Approve a request: its action runs now',
  description:
    'The action runs as its requester with the decider on record, in this request’s transaction. If it fails (stock no longer enough, say), nothing of it is written and the request is answered with status "failed" and the error. Only pending requests can be decided (409), and not by their requester (403).',
  access: 'approvals.decide',
  request: { params: IdParam, body: Note },
  responses: { 200: json(ApprovalSchema) },
})

const reject = defineRoute({
  method: 'post',
  path: '/api/v1/approvals/{id}/reject',
  tags,
  summary: 'Reject a request: its action never runs',
  access: 'approvals.decide',
  request: { params: IdParam, body: Note },
  responses: { 200: json(ApprovalSchema) },
})

const cancel = defineRoute({
  method: 'post',
  path: '/api/v1/approvals/{id}/cancel',
  tags,
  summary: 'Withdraw one’s own pending request',
  access: 'authenticated',
  request: { params: IdParam },
  responses: { 200: json(ApprovalSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const p = c.var.principal
    const all = actorCan(p, 'approvals.decide').ok
    const r = await listRequests(c.var.db, { merchantId: p.merchantId, status: q.status, requestedBy: all ? undefined : p.id, before: q.cursor, limit: q.limit })
    return c.json({ items: r.items.map(toApproval), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(get, async (c) => {
    const p = c.var.principal
    const row = await getRequest(c.var.db, p.merchantId, c.req.valid('param').id)
    if (!actorCan(p, 'approvals.decide').ok && row.requestedBy !== p.id) throw notFound('approval_request', row.id)
    return c.json(toApproval(row), 200)
  })
  app.openapi(approve, async (c) => c.json(toApproval(await approveRequest(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())), 200))
  app.openapi(reject, async (c) => c.json(toApproval(await rejectRequest(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())), 200))
  app.openapi(cancel, async (c) => c.json(toApproval(await cancelRequest(c.var.db, c.var.principal, c.req.valid('param').id, c.var.hub.clock())), 200))
}
