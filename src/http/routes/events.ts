// The event feed: what happened, in order, for integrators who poll rather than receive webhooks.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { listEvents, parseFeedCursor } from '../../core/events/service.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'
import { serialize } from '../schemas.ts'

const EventSchema = z
  .object({
    id: z.number().int(),
    type: z.string(),
    entityType: z.string(),
    entityId: z.string(),
    data: z.record(z.string(), z.unknown()),
    createdAt: z.string(),
    cursor: z.string().openapi({ description: 'Where the feed stands after this event: pass it as `after` to read on from here' }),
  })
  .openapi('Event')

const list = defineRoute({
  method: 'get',
  path: '/api/v1/events',
  tags: ['Events'],
  summary: 'Events after a cursor, oldest first',
  access: 'events.read',
  request: {
    query: z.object({
      after: z
        .string()
        .regex(/^\d{1,20}(-\d{1,19})?$/)
        .optional()
        .openapi({
          description:
            'Return the events after this cursor (the nextCursor of the previous page, or the cursor of the last event read; an event id is taken too). Events come in the order they became visible: an event of a transaction still running appears once it ends, after the events already read, never behind the cursor.',
        }),
      type: z.string().max(500).optional().openapi({ description: 'Comma-separated event types' }),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(EventSchema), nextCursor: z.string().nullable() })) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listEvents(c.var.db, c.var.principal.merchantId, { after: q.after ? parseFeedCursor(q.after) : undefined, types: q.type?.split(',').filter(Boolean), limit: q.limit })
    return c.json({ items: r.items.map(({ xid: _x, ...e }) => serialize(e)), nextCursor: r.nextCursor }, 200)
  })
}
