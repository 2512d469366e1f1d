// The time clock: clock in/out and breaks at a register with one's PIN; hours per person for payroll (JSON, CSV).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import type { Context } from 'hono'
import { actorCan } from '../../core/staff/actor.ts'
import { DEFAULT_PIN_POLICY } from '../../core/staff/pins.ts'
import { addTimeEntries, CLOCK_ACTIONS, clockWithPin, hoursCsv, listTimeEntries, staffHours, voidTimeEntry, type ListedEntry } from '../../core/staff/timeclock.ts'
import { forbidden } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { fileLocale } from '../locale.ts'
import { defineRoute, json, jsonBody } from '../route.ts'
import { BusinessDate, Instant, uuid } from '../schemas.ts'

const tags = ['Time clock']

const clock = defineRoute({
  method: 'post',
  path: '/api/v1/timeclock',
  tags,
  summary: 'Clock in or out, or start or end a break, with one’s PIN at a register',
  description:
    'Out-of-order actions are refused with 409 (clocking out or a break when not clocked in, clocking in twice, ending a break not started). Clocking out during a break ends the break. Wrong PINs are throttled per register like PIN sign-in (429 with Retry-After).',
  access: 'public',
  transaction: false,
  request: {
    body: jsonBody(
      z
        .object({
          registerId: uuid(),
          pin: z.string().regex(/^\d{4,8}$/, 'a PIN is 4 to 8 digits'),
          action: z.enum(CLOCK_ACTIONS),
        })
        .strict(),
    ),
  },
  responses: {
    201: json(
      z.object({
        entry: z.object({ id: z.number().int(), userId: uuid(), registerId: uuid().nullable(), kind: z.enum(CLOCK_ACTIONS), at: z.string() }),
        state: z.enum(['off', 'working', 'on_break']),
        user: z.object({ id: uuid(), name: z.string() }),
      }),
      'Recorded',
    ),
  },
})

const HoursQuery = z.object({
  from: BusinessDate().openapi({ description: 'First business date (merchant time zone)' }),
  to: BusinessDate().openapi({ description: 'Last business date, inclusive' }),
  userId: uuid().optional().openapi({ description: 'One person; without it, everyone with time in the period (or only the caller, for callers without reports.read)' }),
})

const Minutes = z.number().int()
const HoursSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    timeZone: z.string(),
    people: z.array(
      z.object({
        userId: uuid(),
        name: z.string(),
        email: z.string(),
        role: z.string(),
        workedMinutes: Minutes.openapi({ description: 'Clocked time less breaks, inside the period' }),
        breakMinutes: Minutes,
        shifts: z.number().int(),
        days: z.array(z.object({ date: z.string(), workedMinutes: Minutes, breakMinutes: Minutes })),
        open: z.object({ clockedInAt: z.string(), onBreak: z.boolean() }).nullable().openapi({ description: 'A shift not yet clocked out: reported, not counted' }),
      }),
    ),
  })
  .openapi('StaffHours')

const RULE =
  'Entries count to the minute. Time counts in the business day and period in which it was worked: shifts across midnight or the period’s edges are split there. A shift without a clock-out is reported as open and not counted. Reading others’ hours needs reports.read; anyone may read their own.'

const hours = defineRoute({ method: 'get', path: '/api/v1/timeclock/hours', tags, summary: 'Hours worked per person over a period', description: RULE, access: 'authenticated', request: { query: HoursQuery }, responses: { 200: json(HoursSchema) } })

const hoursCsvRoute = defineRoute({
  method: 'get',
  path: '/api/v1/timeclock/hours.csv',
  tags,
  summary: 'Hours worked per person over a period, as CSV',
  description: RULE,
  access: 'authenticated',
  request: { query: HoursQuery },
  responses: { 200: { description: 'One line per person', content: { 'text/csv': { schema: z.string() } } } },
})

const EntrySchema = z
  .object({
    id: z.number().int(),
    userId: uuid(),
    registerId: uuid().nullable(),
    kind: z.enum(CLOCK_ACTIONS),
    at: z.string(),
    addedBy: uuid().nullable().openapi({ description: 'The manager who added it by hand; null when clocked with a PIN' }),
    reason: z.string().nullable(),
    voidedAt: z.string().nullable().openapi({ description: 'Set when a manager voided it: it no longer counts' }),
    voidedBy: uuid().nullable(),
    voidReason: z.string().nullable(),
  })
  .openapi('TimeEntry')

const entryJson = (e: ListedEntry) => ({
  id: e.id,
  userId: e.userId,
  registerId: e.registerId,
  kind: e.kind,
  at: e.at.toISOString(),
  addedBy: e.addedBy,
  reason: e.reason,
  voidedAt: e.voidedAt?.toISOString() ?? null,
  voidedBy: e.voidedBy,
  voidReason: e.voidReason,
})

const CORRECTIONS =
  "A manager (timeclock.manage) corrects others' entries, never their own (403 `own_time_entry`): an entry added for a time that has passed (422 `time_entry_in_future` otherwise), or one voided, each with a reason and audited (`timeclock.entry_added`, `timeclock.entry_voided`). A change that would leave the person's entries out of order (a clock-out with no clock-in before it, two clock-ins in a row) is refused with 409 `time_entries_out_of_order`."

const entries = defineRoute({
  method: 'get',
  path: '/api/v1/timeclock/entries',
  tags,
  summary: 'Clock entries over a period (at most 31 days), voided ones too',
  description: 'Reading others’ entries needs reports.read; anyone may read their own.',
  access: 'authenticated',
  request: { query: HoursQuery },
  responses: { 200: json(z.object({ items: z.array(EntrySchema) })) },
})

const addEntry = defineRoute({
  method: 'post',
  path: '/api/v1/timeclock/entries',
  tags,
  summary: 'Add entries a person missed: a forgotten clock-out, or a whole shift',
  description: `${CORRECTIONS} Entries given together are checked together (a whole shift before the person's later entries: its clock-in and clock-out).`,
  access: 'timeclock.manage',
  request: {
    body: jsonBody(
      z
        .object({
          userId: uuid(),
          entries: z.array(z.object({ action: z.enum(CLOCK_ACTIONS), at: Instant() }).strict()).min(1).max(8),
          reason: z.string().trim().min(1).max(500),
        })
        .strict(),
    ),
  },
  responses: { 201: json(z.object({ items: z.array(EntrySchema) }), 'Added') },
})

const voidEntry = defineRoute({
  method: 'post',
  path: '/api/v1/timeclock/entries/{id}/void',
  tags,
  summary: 'Void an entry that should not count',
  description: `${CORRECTIONS} An entry voided already answers 409 \`time_entry_voided\`.`,
  access: 'timeclock.manage',
  request: { params: z.object({ id: z.coerce.number().int().min(1).max(Number.MAX_SAFE_INTEGER) }), body: jsonBody(z.object({ reason: z.string().trim().min(1).max(500) }).strict()) },
  responses: { 200: json(EntrySchema) },
})

/** Whose hours the caller may read: anyone's with reports.read, else only their own. */
function whose(c: Context<AppEnv>, userId: string | undefined): string[] | undefined {
  const p = c.var.principal
  if (actorCan(p, 'reports.read').ok) return userId ? [userId] : undefined
  if (p.type !== 'user' || (userId !== undefined && userId !== p.id)) {
    throw forbidden('permission_denied', `role ${p.role} may only read its own hours`, { permission: 'reports.read', role: p.role })
  }
  return [p.id]
}

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(clock, async (c) => {
    const body = c.req.valid('json')
    const r = await clockWithPin(c.var.db, c.var.hub.secrets, body, c.var.options.pinPolicy ?? DEFAULT_PIN_POLICY, c.var.hub.clock())
    const { id, userId, registerId, kind, at } = r.entry
    return c.json({ entry: { id, userId, registerId, kind, at: at.toISOString() }, state: r.state, user: { id: r.user.id, name: r.user.name } }, 201)
  })
  app.openapi(entries, async (c) => {
    const q = c.req.valid('query')
    const rows = await listTimeEntries(c.var.db, c.var.principal.merchantId, { from: q.from, to: q.to, userIds: whose(c, q.userId) })
    return c.json({ items: rows.map(entryJson) }, 200)
  })
  app.openapi(addEntry, async (c) => {
    const body = c.req.valid('json')
    const added = await addTimeEntries(c.var.db, c.var.principal, { userId: body.userId, entries: body.entries.map((e) => ({ action: e.action, at: new Date(e.at) })), reason: body.reason }, c.var.hub.clock())
    return c.json({ items: added.map((entry) => entryJson({ ...entry, voidedAt: null, voidedBy: null, voidReason: null })) }, 201)
  })
  app.openapi(voidEntry, async (c) => {
    const entry = await voidTimeEntry(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json').reason, c.var.hub.clock())
    return c.json(entryJson(entry), 200)
  })
  app.openapi(hours, async (c) => {
    const q = c.req.valid('query')
    return c.json(await staffHours(c.var.db, c.var.principal.merchantId, { from: q.from, to: q.to, userIds: whose(c, q.userId) }), 200)
  })
  app.openapi(hoursCsvRoute, async (c) => {
    const q = c.req.valid('query')
    const report = await staffHours(c.var.db, c.var.principal.merchantId, { from: q.from, to: q.to, userIds: whose(c, q.userId) })
    const file = hoursCsv(report, await fileLocale(c))
    return c.body(file.bytes as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'text/csv; charset=utf-8', 'Content-Disposition': `attachment; filename="${file.filename}"` })
  })
}
