// Outbound webhooks: subscriptions of merchant URLs to hub events, their delivery log, and replays. The signing
// secret appears in the create and rotate-secret responses only.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { listEventTypes } from '../../webhooks/event-types.ts'
import { BULK_REPLAY_LIMIT, getDelivery, listDeliveries, MAX_ATTEMPTS, replayDeliveries, replayDelivery, RETRY_DELAYS_MS, type AttemptRow, type DeliveryRow } from '../../webhooks/outbound.ts'
import { createSubscription, deleteSubscription, getSubscription, listSubscriptions, rotateSecret, updateSubscription, viewSubscription } from '../../webhooks/subscriptions.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, page } from '../route.ts'
import { serialize, uuid } from '../schemas.ts'

const tags = ['Webhooks']
const access = 'webhooks.manage' as const

const SubscriptionSchema = z
  .object({
    id: uuid(),
    url: z.string(),
    description: z.string().nullable(),
    eventTypes: z.array(z.string()),
    enabled: z.boolean(),
    failingSince: z.string().nullable().openapi({ description: 'Since when every attempt to the receiver failed; null while deliveries get through' }),
    disabledReason: z
      .enum(['failing'])
      .nullable()
      .openapi({ description: 'failing: the hub switched the subscription off after its receiver failed every attempt for 3 days (its waiting deliveries parked); enabling it again clears this' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('WebhookSubscription')

const WithSecretSchema = z
  .object({
    secret: z.string().openapi({ description: 'The `whsec_…` signing secret (Standard Webhooks). Shown in this response only.', example: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }),
    subscription: SubscriptionSchema,
  })
  .openapi('WebhookSubscriptionWithSecret')

const DeliveryStatus = z.enum(['pending', 'succeeded', 'failed'])

const DeliverySchema = z
  .object({
    id: uuid(),
    subscriptionId: uuid(),
    eventId: z.number().int(),
    eventType: z.string(),
    messageId: z.string().openapi({ description: 'The `webhook-id` header of every attempt' }),
    status: DeliveryStatus,
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable(),
    lastStatusCode: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
    payload: z.record(z.string(), z.unknown()),
  })
  .openapi('WebhookDelivery')

const AttemptSchema = z
  .object({ attempt: z.number().int(), statusCode: z.number().int().nullable(), durationMs: z.number().int(), responseExcerpt: z.string().nullable(), error: z.string().nullable(), at: z.string() })
  .openapi('WebhookAttempt')

const EventTypes = z.array(z.string().min(1).max(100)).min(1).max(100).openapi({ description: "Event types to deliver (GET /api/v1/webhook-event-types), or ['*'] for all" })
const Url = z.string().min(1).max(2000).openapi({ description: 'https URL; http only for localhost or with allowInsecureHttp', example: 'https://example.com/hooks/tillbridge' })
const AllowHttp = z.boolean().optional().openapi({ description: 'Accept an http:// URL on a host other than localhost (a receiver on a private network)' })

const deliveryView = (d: DeliveryRow) =>
  serialize({
    id: d.id,
    subscriptionId: d.subscriptionId,
    eventId: d.eventId,
    eventType: d.eventType,
    messageId: d.messageId,
    status: d.status as z.infer<typeof DeliveryStatus>,
    attempts: d.attempts,
    nextAttemptAt: d.nextAttemptAt,
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    createdAt: d.createdAt,
    deliveredAt: d.deliveredAt,
    payload: d.payload,
  })

const attemptView = (a: AttemptRow) => ({ attempt: a.attempt, statusCode: a.statusCode, durationMs: a.durationMs, responseExcerpt: a.responseExcerpt, error: a.error, at: a.createdAt.toISOString() })

const eventTypes = defineRoute({
  method: 'get',
  path: '/api/v1/webhook-event-types',
  tags,
  summary: 'Event types a subscription may name',
  access,
  responses: { 200: json(z.object({ items: z.array(z.object({ type: z.string(), description: z.string() })) })) },
})

const create = defineRoute({
  method: 'post',
  path: '/api/v1/webhook-subscriptions',
  tags,
  summary: 'Subscribe a URL to hub events',
  description: `Deliveries are POSTed as JSON \`{type, timestamp, data}\` and signed per Standard Webhooks (\`webhook-id\`, \`webhook-timestamp\`, \`webhook-signature\`). A delivery that does not get a 2xx within 15 s is retried after ${RETRY_DELAYS_MS.map((ms) => (ms < 60_000 ? `${ms / 1000} s` : ms < 3_600_000 ? `${ms / 60_000} min` : `${ms / 3_600_000} h`)).join(', ')} (${MAX_ATTEMPTS} attempts), or later where the receiver answers 429 or 503 with a longer Retry-After (up to the longest delay), then parked as failed until replayed. The \`secret\` is shown in this response only.`,
  access,
  request: { body: jsonBody(z.object({ url: Url, eventTypes: EventTypes, description: z.string().max(500).optional(), enabled: z.boolean().optional(), allowInsecureHttp: AllowHttp }).strict()) },
  responses: { 201: json(WithSecretSchema, 'Subscribed') },
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/webhook-subscriptions',
  tags,
  summary: 'List webhook subscriptions',
  access,
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50), cursor: uuid().optional() }) },
  responses: { 200: json(page(SubscriptionSchema)) },
})

const get = defineRoute({ method: 'get', path: '/api/v1/webhook-subscriptions/{id}', tags, summary: 'One webhook subscription', access, request: { params: IdParam }, responses: { 200: json(SubscriptionSchema) } })

const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/webhook-subscriptions/{id}',
  tags,
  summary: 'Change a subscription, or disable and enable it',
  access,
  request: {
    params: IdParam,
    body: jsonBody(z.object({ url: Url, eventTypes: EventTypes, description: z.string().max(500).nullable(), enabled: z.boolean(), allowInsecureHttp: AllowHttp }).partial().strict()),
  },
  responses: { 200: json(SubscriptionSchema) },
})

const remove = defineRoute({
  method: 'delete',
  path: '/api/v1/webhook-subscriptions/{id}',
  tags,
  summary: 'Delete a subscription',
  description: 'Nothing more is sent to it; deliveries still waiting for a retry are parked.',
  access,
  request: { params: IdParam },
  responses: { 200: json(SubscriptionSchema) },
})

const rotate = defineRoute({
  method: 'post',
  path: '/api/v1/webhook-subscriptions/{id}/rotate-secret',
  tags,
  summary: 'Replace the signing secret',
  description: 'The new secret signs every attempt from now on (retries of earlier deliveries too). It is shown in this response only.',
  access,
  request: { params: IdParam },
  responses: { 200: json(WithSecretSchema) },
})

const deliveries = defineRoute({
  method: 'get',
  path: '/api/v1/webhook-subscriptions/{id}/deliveries',
  tags,
  summary: 'Delivery log of a subscription, newest first',
  access,
  request: {
    params: IdParam,
    query: z.object({ status: DeliveryStatus.optional(), limit: z.coerce.number().int().min(1).max(200).default(50), cursor: uuid().optional().openapi({ description: 'The `nextCursor` of the previous page' }) }),
  },
  responses: { 200: json(page(DeliverySchema)) },
})

const bulkReplay = defineRoute({
  method: 'post',
  path: '/api/v1/webhook-subscriptions/{id}/replay',
  tags,
  summary: 'Replay the deliveries of a subscription that failed (or succeeded), optionally since a time',
  description: `Each is sent once more, now. At most ${BULK_REPLAY_LIMIT} per call: call again while \`more\` is true.`,
  access,
  request: { params: IdParam, body: jsonBody(z.object({ status: z.enum(['failed', 'succeeded']).default('failed'), since: z.iso.datetime({ offset: true }).optional() }).strict()) },
  responses: { 200: json(z.object({ count: z.number().int(), more: z.boolean() })) },
})

const getOne = defineRoute({
  method: 'get',
  path: '/api/v1/webhook-deliveries/{id}',
  tags,
  summary: 'One delivery with its failed attempts',
  access,
  request: { params: IdParam },
  responses: { 200: json(DeliverySchema.extend({ attemptLog: z.array(AttemptSchema) })) },
})

const replayOne = defineRoute({
  method: 'post',
  path: '/api/v1/webhook-deliveries/{id}/replay',
  tags,
  summary: 'Send a failed or succeeded delivery once more, now',
  description: 'The attempt counter continues; if the attempt fails the delivery is parked again.',
  access,
  request: { params: IdParam },
  responses: { 202: json(DeliverySchema, 'Queued') },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(eventTypes, (c) => c.json({ items: listEventTypes() }, 200))
  app.openapi(create, async (c) => {
    const r = await createSubscription(c.var.db, c.var.hub.secrets, c.var.principal, c.req.valid('json'))
    c.set('secretShownOnce', true)
    return c.json({ secret: r.secret, subscription: serialize(viewSubscription(r.subscription)) }, 201)
  })
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listSubscriptions(c.var.db, c.var.principal.merchantId, { after: q.cursor, limit: q.limit })
    return c.json({ items: r.items.map((s) => serialize(viewSubscription(s))), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(get, async (c) => c.json(serialize(viewSubscription(await getSubscription(c.var.db, c.var.principal.merchantId, c.req.valid('param').id))), 200))
  app.openapi(patch, async (c) => {
    const row = await updateSubscription(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())
    return c.json(serialize(viewSubscription(row)), 200)
  })
  app.openapi(remove, async (c) => c.json(serialize(viewSubscription(await deleteSubscription(c.var.db, c.var.principal, c.req.valid('param').id, c.var.hub.clock()))), 200))
  app.openapi(rotate, async (c) => {
    const r = await rotateSecret(c.var.db, c.var.hub.secrets, c.var.principal, c.req.valid('param').id, c.var.hub.clock())
    c.set('secretShownOnce', true)
    return c.json({ secret: r.secret, subscription: serialize(viewSubscription(r.subscription)) }, 200)
  })
  app.openapi(deliveries, async (c) => {
    const q = c.req.valid('query')
    const r = await listDeliveries(c.var.db, c.var.principal.merchantId, c.req.valid('param').id, { status: q.status, before: q.cursor, limit: q.limit })
    return c.json({ items: r.items.map(deliveryView), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(bulkReplay, async (c) => {
    const b = c.req.valid('json')
    const r = await replayDeliveries(c.var.db, c.var.principal.merchantId, c.req.valid('param').id, { status: b.status, since: b.since ? new Date(b.since) : undefined }, c.var.hub.clock())
    return c.json(r, 200)
  })
  app.openapi(getOne, async (c) => {
    const { delivery, attempts } = await getDelivery(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    return c.json({ ...deliveryView(delivery), attemptLog: attempts.map(attemptView) }, 200)
  })
  app.openapi(replayOne, async (c) => c.json(deliveryView(await replayDelivery(c.var.db, c.var.principal.merchantId, c.req.valid('param').id, c.var.hub.clock())), 202))
}
