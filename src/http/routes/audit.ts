// Reading the audit log, newest first.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { listAudit } from '../../core/staff/audit.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'
import { RowCursor, serialize, uuid } from '../schemas.ts'

const AuditEntrySchema = z
  .object({
    id: z.number().int(),
    at: z.string(),
    actorType: z.enum(['user', 'api_key', 'system']),
    actorId: z.string().nullable(),
    actorName: z.string().nullable(),
    approverId: z.string().nullable(),
    action: z.string(),
    entityType: z.string(),
    entityId: z.string().nullable(),
    details: z.record(z.string(), z.unknown()),
    requestId: z.string().nullable(),
  })
  .openapi('AuditEntry')

const list = defineRoute({
  method: 'get',
  path: '/api/v1/audit',
  tags: ['Audit'],
  summary: 'Audit log entries, newest first',
  access: 'audit.read',
  request: {
    query: z.object({
      action: z.string().max(100).optional(),
      entityType: z.string().max(100).optional(),
      entityId: z.string().max(200).optional(),
      actorId: uuid().optional(),
      from: z.iso.datetime({ offset: true }).optional(),
      to: z.iso.datetime({ offset: true }).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(100),
      cursor: RowCursor(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(AuditEntrySchema), nextCursor: z.string().nullable() })) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listAudit(c.var.db, {
      merchantId: c.var.principal.merchantId,
      action: q.action,
      entityType: q.entityType,
      entityId: q.entityId,
      actorId: q.actorId,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      before: q.cursor ? Number(q.cursor) : undefined,
      limit: q.limit,
    })
    return c.json({ items: r.items.map((e) => serialize(e) as z.infer<typeof AuditEntrySchema>), nextCursor: r.nextCursor }, 200)
  })
}
