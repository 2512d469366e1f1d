// The event feed: what happened, in order, for integrators who poll rather than receive webhooks.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { listEvents } from '../../core/events/service.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'
import { serialize } from '../schemas.ts'

const EventSchema = z
  .object({ id: z.number().int(), type: z.string(), entityType: z.string(), entityId: z.string(), data: z.record(z.string(), z.unknown()), createdAt: z.string() })
  .openapi('Event')

const list = defineRoute({
  method: 'get',
  path: '/api/v1/events',
  tags: ['Events'],
  summary: 'Events after a cursor, oldest first',
  access: 'events.read',
  request: {
    query: z.object({
      after: z.string().regex(/^\d+$/).optional().openapi({ description: 'Return events with a larger id (the nextCursor of the previous page)' }),
      type: z.string().max(500).optional().openapi({ description: 'Comma-separated event types' }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(EventSchema), nextCursor: z.string().nullable() })) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listEvents(c.var.db, c.var.principal.merchantId, { after: q.after ? Number(q.after) : undefined, types: q.type?.split(',').filter(Boolean), limit: q.limit })
    return c.json({ items: r.items.map((e) => serialize(e)), nextCursor: r.nextCursor }, 200)
  })
}
