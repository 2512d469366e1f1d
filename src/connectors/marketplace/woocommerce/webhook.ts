// WooCommerce webhooks (core `includes/class-wc-webhook.php`): the body is the REST v3 resource (just `{id}` for a
// `*.deleted` topic), signed in `X-WC-Webhook-Signature` as base64 HMAC-SHA256 of the exact body bytes with the
// webhook's secret. WooCommerce never retries a delivery and disables a webhook after more than 5 failures in a
// row, so `ensureWebhooks` re-activates it and the order poll covers what was missed.
//
// The ping WooCommerce sends when a webhook is created (`deliver_ping()`) is unsigned: no X-WC-Webhook-* headers and
// the form body `webhook_id=<n>`. It must be answered 200 or the merchant cannot save the webhook in the admin, so
// it passes verification on its exact shape alone, and it carries nothing the hub acts on.
import { createHash, createHmac } from 'node:crypto'
import type { ConnectorContext, InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import type { HttpResponse } from '../../framework/http-types.ts'
import { safeEqual } from '../../framework/signatures.ts'
import { SINGLE_LOCATION, type MarketplaceEvent } from '../../framework/marketplace.ts'
import { gmtToIso, needsRefundLines, toRemoteOrder, WOO_PAGE_SIZE, nextPage, type WooOrder, type WooProduct, type WooWebhook } from './api.ts'

/** The topics the stock sync subscribes to. */
export const WOO_TOPICS = ['order.created', 'order.updated', 'order.deleted', 'product.updated'] as const

export const PING_TOPIC = 'ping'
const PING_BODY = /^webhook_id=(\d{1,20})$/

export function wooSignature(secret: string, rawBody: Buffer | string): string {
  return createHmac('sha256', secret).update(rawBody).digest('base64')
}

function pingId(req: InboundRequest): string | null {
  if (req.headers['x-wc-webhook-topic'] !== undefined || req.headers['x-wc-webhook-signature'] !== undefined) return null
  if (req.rawBody.length > 40) return null
  return PING_BODY.exec(req.rawBody.toString('latin1'))?.[1] ?? null
}

export function verifyWooSignature(req: InboundRequest, secret: string | undefined): boolean {
  const signature = req.headers['x-wc-webhook-signature']
  if (signature === undefined) return pingId(req) !== null
  if (!secret) return false
  return safeEqual(signature, wooSignature(secret, req.rawBody))
}

/**
 * WooCommerce gives no event id (`X-WC-Webhook-Delivery-ID` is a hash of webhook id and time, new on every send),
 * so the event is its topic, resource id, `date_modified_gmt` and status: the same change gives the same id, and two
 * changes in one second (paid, then cancelled; processing, then completed by a plugin) are two events, as the time
 * has whole seconds only. A `deleted` payload has only `{id}`; its delivery id stands in for the time.
 */
export function parseWooWebhook(req: InboundRequest): ParsedWebhook {
  const ping = pingId(req)
  if (ping !== null) return { eventId: `${PING_TOPIC}:${ping}`, topic: PING_TOPIC, data: { webhook_id: Number(ping) } }
  const topic = req.headers['x-wc-webhook-topic']
  if (!topic) throw new Error('a WooCommerce delivery names its topic in X-WC-Webhook-Topic')
  const data = JSON.parse(req.rawBody.toString('utf8')) as { id?: unknown; date_modified_gmt?: unknown; status?: unknown }
  if (!data || typeof data !== 'object' || (typeof data.id !== 'number' && typeof data.id !== 'string')) throw new Error('a WooCommerce payload has an id')
  const modified = typeof data.date_modified_gmt === 'string' && data.date_modified_gmt ? data.date_modified_gmt : null
  const status = typeof data.status === 'string' && data.status ? `:${data.status.slice(0, 40)}` : ''
  const stamp = modified ? `${modified}${status}` : `d:${req.headers['x-wc-webhook-delivery-id'] || createHash('sha256').update(req.rawBody).digest('hex').slice(0, 32)}`
  return { eventId: `${topic}:${data.id}:${stamp}`, topic, occurredAt: modified ? new Date(gmtToIso(modified)) : undefined, data }
}

export function interpretWooWebhook(event: ParsedWebhook): MarketplaceEvent {
  const data = event.data as Record<string, unknown>
  switch (event.topic) {
    case 'order.created':
    case 'order.updated':
    case 'order.restored': {
      const order = data as unknown as WooOrder
      if (!Array.isArray(order.line_items) || typeof order.date_modified_gmt !== 'string') return { kind: 'order_changed', orderId: String(order.id) }
      // The refunded lines are not in the order payload: read the order with its refunds.
      if (needsRefundLines(order)) return { kind: 'order_changed', orderId: String(order.id) }
      return { kind: 'order', order: toRemoteOrder(order) }
    }
    case 'order.deleted':
      // Trashed (GET shows status `trash`) or deleted for good (GET answers 404): reading it tells which.
      return { kind: 'order_changed', orderId: String(data.id) }
    case 'product.created':
    case 'product.updated':
    case 'product.restored': {
      const p = data as unknown as WooProduct
      if (p.manage_stock !== true) return { kind: 'ignored', reason: `product ${p.id} does not manage its own stock` }
      return {
        kind: 'level',
        level: { externalId: String(p.id), locationId: SINGLE_LOCATION, available: p.stock_quantity ?? 0 },
        at: p.date_modified_gmt ? gmtToIso(p.date_modified_gmt) : null,
      }
    }
    case PING_TOPIC:
      return { kind: 'ignored', reason: 'WooCommerce checks the delivery URL when a webhook is created' }
    default:
      return { kind: 'ignored', reason: `the topic ${event.topic} does not concern stock` }
  }
}

const sameUrl = (a: string, b: string) => a.trim().replace(/\/+$/, '') === b.trim().replace(/\/+$/, '')

/**
 * Our topics delivered to `address`: a missing subscription is created with the connection's webhook secret; a
 * `disabled` one (WooCommerce's doing after failed deliveries) or `paused` one is set active again.
 */
export async function ensureWooWebhooks(ctx: ConnectorContext<{ webhookSecret: string }>, input: { address: string }) {
  const hooks: WooWebhook[] = []
  for (let page: number | null = 1; page !== null; ) {
    const res: HttpResponse<WooWebhook[]> = await ctx.http.request<WooWebhook[]>({ method: 'GET', url: '/webhooks', params: { per_page: WOO_PAGE_SIZE, page }, operation: 'listWebhooks', signal: ctx.signal })
    hooks.push(...res.data)
    page = res.data.length ? nextPage(res, page) : null
  }
  const out = { created: [] as string[], existing: [] as string[], reactivated: [] as string[] }
  for (const topic of WOO_TOPICS) {
    const ours = hooks.filter((h) => h.topic === topic && sameUrl(h.delivery_url, input.address))
    if (ours.some((h) => h.status === 'active')) out.existing.push(topic)
    else if (ours[0]) {
      await ctx.http.request({ method: 'PUT', url: `/webhooks/${ours[0].id}`, data: { status: 'active' }, operation: 'reactivateWebhook', signal: ctx.signal })
      out.reactivated.push(topic)
    } else {
      await ctx.http.request({
        method: 'POST',
        url: '/webhooks',
        data: { name: `Tillbridge stock sync: ${topic}`, topic, delivery_url: input.address, secret: ctx.config.webhookSecret, status: 'active' },
        operation: 'createWebhook',
        signal: ctx.signal,
      })
      out.created.push(topic)
    }
  }
  return out
}
