// Shopify webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body keyed with the app's client
// secret; `X-Shopify-Event-Id` stays the same on every delivery of one event (`X-Shopify-Webhook-Id` names one
// delivery). Payloads are REST JSON, mapped here onto global ids so they match what the GraphQL polls return.
// https://shopify.dev/docs/apps/build/webhooks/verify-deliveries, https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates
import { createHmac } from 'node:crypto'
import type { ConnectorContext, InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { MarketplaceEvent } from '../../framework/marketplace.ts'
import { safeEqual } from '../../framework/signatures.ts'
import { allPages, connectionCost, gid, shopifyGraphql } from './graphql.ts'
import { orderFromRest, type RestOrder } from './orders.ts'

/** The topics the stock sync subscribes to, as the GraphQL enum names them. */
export const SHOPIFY_TOPICS = ['ORDERS_CREATE', 'ORDERS_UPDATED', 'ORDERS_CANCELLED', 'REFUNDS_CREATE', 'INVENTORY_LEVELS_UPDATE'] as const

/** `ORDERS_CREATE` → `orders/create`, the name the X-Shopify-Topic header uses. */
export const topicName = (enumName: string) => {
  const [resource, ...event] = enumName.toLowerCase().split('_')
  // INVENTORY_LEVELS_UPDATE → inventory_levels/update: the event is the last word.
  const last = event.pop()
  return [resource, ...event].join('_') + '/' + last
}

export function shopifyHmac(secret: string, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64')
}

export function verifyShopifyWebhook(req: InboundRequest, config: { shop: string; webhookSecret?: string }): boolean {
  const header = req.headers['x-shopify-hmac-sha256']
  if (!config.webhookSecret || !header) return false
  // One app secret signs for every shop that installed the app: a delivery for another shop is not this connection's.
  const shop = req.headers['x-shopify-shop-domain']
  if (shop !== undefined && shop.toLowerCase() !== config.shop) return false
  return safeEqual(header.trim(), shopifyHmac(config.webhookSecret, req.rawBody))
}

export function parseShopifyWebhook(req: InboundRequest): ParsedWebhook {
  const topic = req.headers['x-shopify-topic']
  const eventId = req.headers['x-shopify-event-id'] || req.headers['x-shopify-webhook-id']
  if (!topic || !eventId) throw new Error('a Shopify webhook carries X-Shopify-Topic and X-Shopify-Event-Id (or X-Shopify-Webhook-Id)')
  const triggeredAt = req.headers['x-shopify-triggered-at'] ? new Date(req.headers['x-shopify-triggered-at']) : undefined
  return {
    eventId,
    topic,
    occurredAt: triggeredAt && !Number.isNaN(triggeredAt.getTime()) ? triggeredAt : undefined,
    data: JSON.parse(req.rawBody.toString('utf8')),
  }
}

interface RestInventoryLevel {
  inventory_item_id: number
  location_id: number
  available: number | null
  updated_at?: string
}

/**
 * When the level held the value a delivery carries: the later of its `updated_at` (to the second) and
 * X-Shopify-Triggered-At (to the millisecond or finer, the same on every retry of the event), so two changes within
 * one second are told apart. Null when neither is given.
 */
function levelTime(updatedAt: string | undefined, triggeredAt: Date | undefined): string | null {
  const times = [updatedAt ? new Date(updatedAt) : null, triggeredAt ?? null].filter((t): t is Date => t !== null && !Number.isNaN(t.getTime()))
  return times.length ? new Date(Math.max(...times.map((t) => t.getTime()))).toISOString() : null
}

export function interpretShopifyWebhook(event: ParsedWebhook): MarketplaceEvent {
  const data = event.data as Record<string, unknown> | null
  if (!data || typeof data !== 'object') return { kind: 'ignored', reason: `${event.topic} without a JSON object body` }
  switch (event.topic) {
    case 'orders/create':
    case 'orders/updated':
    case 'orders/cancelled':
      return { kind: 'order', order: orderFromRest(data as unknown as RestOrder) }
    case 'refunds/create': {
      const orderId = data.order_id
      if (typeof orderId !== 'number' && typeof orderId !== 'string') return { kind: 'ignored', reason: 'a refund without order_id' }
      return { kind: 'order_changed', orderId: gid('Order', orderId) }
    }
    case 'inventory_levels/update': {
      const l = data as unknown as RestInventoryLevel
      // `available` is null when the item stopped being tracked: there is no level to take.
      if (l.available === null || l.available === undefined) return { kind: 'ignored', reason: 'an inventory level without an available quantity' }
      return {
        kind: 'level',
        level: { externalId: gid('InventoryItem', l.inventory_item_id), locationId: gid('Location', l.location_id), available: l.available },
        at: levelTime(l.updated_at, event.occurredAt),
      }
    }
    default:
      return { kind: 'ignored', reason: `topic ${event.topic} is not used by the stock sync` }
  }
}

// ---- subscriptions ----------------------------------------------------------------------------------------------

const SUBSCRIPTIONS = `query WebhookSubscriptions($after: String) {
  webhookSubscriptions(first: 100, after: $after) { nodes { id topic uri } pageInfo { hasNextPage endCursor } }
}`
// `uri` replaced the deprecated `callbackUrl` of WebhookSubscriptionInput in 2025-04.
const CREATE_SUBSCRIPTION = `mutation WebhookSubscriptionCreate($topic: WebhookSubscriptionTopic!, $webhookSubscription: WebhookSubscriptionInput!) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) { webhookSubscription { id topic uri } userErrors { field message } }
}`

type Subscription = { id: string; topic: string; uri: string }

export async function ensureShopifyWebhooks(ctx: ConnectorContext<unknown>, input: { address: string }): Promise<{ created: string[]; existing: string[]; reactivated: string[] }> {
  const subscriptions = await allPages(async (after) => {
    const { data } = await shopifyGraphql<{ webhookSubscriptions: { nodes: Subscription[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(ctx, {
      operation: 'WebhookSubscriptions',
      query: SUBSCRIPTIONS,
      variables: { after },
      cost: connectionCost(100, 1),
      idempotent: true,
    })
    return data.webhookSubscriptions
  })
  const have = new Set(subscriptions.filter((s) => s.uri === input.address).map((s) => s.topic))
  const created: string[] = []
  const existing: string[] = []
  for (const topic of SHOPIFY_TOPICS) {
    if (have.has(topic)) {
      existing.push(topicName(topic))
      continue
    }
    const { data } = await shopifyGraphql<{ webhookSubscriptionCreate: { webhookSubscription: Subscription | null; userErrors: { field: string[] | null; message: string }[] } }>(ctx, {
      operation: 'WebhookSubscriptionCreate',
      query: CREATE_SUBSCRIPTION,
      variables: { topic, webhookSubscription: { uri: input.address, format: 'JSON' } },
      cost: 10,
      idempotent: false,
    })
    const result = data.webhookSubscriptionCreate
    if (!result.webhookSubscription) {
      throw new ConnectorError('permanent', `Shopify refused the ${topicName(topic)} subscription: ${result.userErrors.map((e) => e.message).join('; ') || 'no reason given'}`)
    }
    created.push(topicName(topic))
  }
  // Shopify deletes a failing subscription rather than disabling it, so there is nothing to reactivate.
  return { created, existing, reactivated: [] }
}
