// Received webhooks, for the merchant and the integrator: what arrived, what became of it, and a replay button.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { recordAudit } from '../../core/staff/audit.ts'
import { getInboundWebhook, INBOUND_STATUSES, listInboundWebhooks, replayInboundWebhook, type InboundRow } from '../../webhooks/inbound-events.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json } from '../route.ts'
import { serialize, uuid } from '../schemas.ts'

const fields = {
  id: uuid(),
  connectionId: uuid(),
  vendorEventId: z.string().openapi({ description: 'The vendor’s id of the event, the same on every redelivery' }),
  topic: z.string().openapi({ example: 'payment_intent.succeeded' }),
  status: z.enum(INBOUND_STATUSES),
  deliveries: z.number().int().openapi({ description: 'How many times the vendor delivered this event' }),
  attempts: z.number().int().openapi({ description: 'How many times processing was attempted' }),
  lastError: z.string().nullable(),
  receivedAt: z.string(),
  lastReceivedAt: z.string(),
  processedAt: z.string().nullable(),
}

const InboundWebhookSchema = z.object(fields).openapi('InboundWebhook')
const InboundWebhookDetailSchema = z
  .object({
    ...fields,
    headers: z.record(z.string(), z.string()).openapi({ description: 'Request headers as received, credentials removed' }),
    body: z.string().openapi({ description: 'The body exactly as received' }),
    bodyEncoding: z.enum(['utf8', 'base64']),
  })
  .openapi('InboundWebhookDetail')

type Summary = z.infer<typeof InboundWebhookSchema>
const summary = (r: Omit<InboundRow, 'merchantId' | 'headers' | 'body' | 'bodyEncoding'>): Summary => {
  const s = serialize(r)
  return {
    id: s.id,
    connectionId: s.connectionId,
    vendorEventId: s.vendorEventId,
    topic: s.topic,
    status: s.status as Summary['status'],
    deliveries: s.deliveries,
    attempts: s.attempts,
    lastError: s.lastError,
    receivedAt: s.receivedAt,
    lastReceivedAt: s.lastReceivedAt,
    processedAt: s.processedAt,
  }
}
const detail = (r: InboundRow): z.infer<typeof InboundWebhookDetailSchema> => ({
  ...summary(r),
  headers: r.headers,
  body: r.body,
  bodyEncoding: r.bodyEncoding === 'base64' ? 'base64' : 'utf8',
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/inbound-webhooks',
  tags: ['Webhooks'],
  summary: 'Webhooks received from connected vendors, newest first',
  access: 'connections.read',
  request: {
    query: z.object({
      connectionId: uuid({ error: 'must be a UUID' }).optional(),
      status: z.enum(INBOUND_STATUSES).optional(),
      topic: z.string().min(1).max(255).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50).openapi({ description: 'Items per page (1–200)' }),
      cursor: z.string().max(200).optional().openapi({ description: 'The `nextCursor` of the previous page' }),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(InboundWebhookSchema), nextCursor: z.string().nullable() })) },
})

const get = defineRoute({
  method: 'get',
  path: '/api/v1/inbound-webhooks/{id}',
  tags: ['Webhooks'],
  summary: 'A received webhook with its headers and body',
  access: 'connections.read',
  request: { params: IdParam },
  responses: { 200: json(InboundWebhookDetailSchema), 404: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'No such webhook') },
})

const replay = defineRoute({
  method: 'post',
  path: '/api/v1/inbound-webhooks/{id}/replay',
  tags: ['Webhooks'],
  summary: 'Process a received webhook again',
  description: 'Resets the webhook to `received` and queues its processing, whatever its status: a failed one after the cause is fixed, a processed one to run it again (handlers are idempotent).',
  access: 'webhooks.manage',
  request: { params: IdParam },
  responses: { 202: json(InboundWebhookSchema, 'Queued for processing'), 404: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'No such webhook') },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listInboundWebhooks(c.var.db, c.var.principal.merchantId, q)
    return c.json({ items: r.items.map(summary), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(get, async (c) => c.json(detail(await getInboundWebhook(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(replay, async (c) => {
    const row = await replayInboundWebhook(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    await recordAudit(c.var.db, c.var.principal, { action: 'inbound_webhook.replayed', entityType: 'inbound_webhook', entityId: row.id, details: { connectionId: row.connectionId, topic: row.topic } })
    return c.json(summary(row), 202)
  })
}
