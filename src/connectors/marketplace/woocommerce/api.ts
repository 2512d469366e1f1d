// The WooCommerce REST v3 resources this connector reads (only the fields it uses), the paging headers, and the
// mapping of products, variations and orders to the marketplace terms. Field names and values as in
// woocommerce-rest-api-docs `wp-api-v3/_products.md`, `_product-variations.md`, `_orders.md`, `_introduction.md`.
import type { HttpResponse } from '../../framework/http-types.ts'
import { SINGLE_LOCATION, type RemoteListing, type RemoteOrder } from '../../framework/marketplace.ts'

/** Most objects a list call returns (`per_page` is capped at 100) and, by default, a batch call takes. */
export const WOO_PAGE_SIZE = 100

export interface WooProduct {
  id: number
  name: string
  /** simple | variable | grouped | external, or a plugin's type (subscription, bundle, …). */
  type: string
  status: string
  sku: string
  /** GTIN, UPC, EAN or ISBN (WooCommerce 9.2+); absent on older shops. */
  global_unique_id?: string
  manage_stock: boolean
  stock_quantity: number | null
  stock_status: string
  date_modified_gmt: string | null
  parent_id?: number
  /** Ids of the variations of a variable product. */
  variations?: number[]
}

export interface WooVariation {
  id: number
  /** WooCommerce 8.x+ names variations "Parent – Option"; older shops leave it out. */
  name?: string
  sku: string
  global_unique_id?: string
  /** true, false, or 'parent' when the parent product holds the stock for it. */
  manage_stock: boolean | 'parent'
  stock_quantity: number | null
  date_modified_gmt: string | null
  parent_id?: number
  attributes?: { id: number; name: string; option: string }[]
}

export interface WooLineItem {
  id: number
  name: string
  product_id: number
  variation_id: number
  quantity: number
  sku: string | null
}

export interface WooOrder {
  id: number
  number: string
  status: string
  date_created_gmt: string
  date_modified_gmt: string
  /** Null until paid (and for on-hold orders, which wait for an offline payment). */
  date_paid_gmt?: string | null
  line_items: WooLineItem[]
  shipping_lines: { id: number; method_id: string; method_title: string }[]
  /** Only totals: `{ id, reason, total }`; the refunded lines are read from `/orders/{id}/refunds`. */
  refunds: { id: number; reason: string; total: string }[]
}

export interface WooRefund {
  id: number
  line_items: { id: number; product_id: number; variation_id: number; quantity: number }[]
}

export interface WooWebhook {
  id: number
  name: string
  status: 'active' | 'paused' | 'disabled'
  topic: string
  delivery_url: string
}

/** WooCommerce's error envelope, also the shape of a failed item inside a batch answer. */
export interface WooError {
  code: string
  message: string
  data?: { status?: number } | null
}

/** The page after `page`, from `X-WP-TotalPages`, else the `Link` header, else a full page. */
export function nextPage(res: HttpResponse<unknown[]>, page: number): number | null {
  const total = Number(res.headers['x-wp-totalpages'] ?? NaN)
  if (Number.isInteger(total)) return page < total ? page + 1 : null
  const link = res.headers.link
  if (link !== undefined) return /rel="next"/.test(link) ? page + 1 : null
  return Array.isArray(res.data) && res.data.length >= WOO_PAGE_SIZE ? page + 1 : null
}

/** WooCommerce writes GMT times without a zone (`2026-03-14T09:30:00`). */
export const gmtToIso = (gmt: string): string => (/[zZ]|[+-]\d\d:?\d\d$/.test(gmt) ? new Date(gmt).toISOString() : new Date(`${gmt}Z`).toISOString())

/** The `YYYY-MM-DDTHH:MM:SS` form WooCommerce's date filters take (with `dates_are_gmt=true`). */
export const isoSeconds = (d: Date): string => d.toISOString().slice(0, 19)

const orNull = (s: string | null | undefined): string | null => (typeof s === 'string' && s.trim() !== '' ? s : null)

const level = (qty: number | null) => [{ locationId: SINGLE_LOCATION, available: qty ?? 0 }]

/** A product that holds its own stock record: simple (and plugin types built on it), or a variable parent managing stock for its variations. */
export function productListing(p: WooProduct): RemoteListing {
  return {
    externalId: String(p.id),
    externalIds: { productId: String(p.id) },
    sku: orNull(p.sku),
    barcode: orNull(p.global_unique_id),
    title: p.name,
    tracked: p.manage_stock === true,
    levels: level(p.stock_quantity),
  }
}

export function variationListing(parent: { id: number; name: string }, v: WooVariation): RemoteListing {
  const options = (v.attributes ?? []).map((a) => a.option).filter(Boolean)
  return {
    externalId: String(v.id),
    externalIds: { productId: String(parent.id), variationId: String(v.id) },
    sku: orNull(v.sku),
    barcode: orNull(v.global_unique_id),
    title: orNull(v.name) ?? (options.length ? `${parent.name} – ${options.join(', ')}` : parent.name),
    // 'parent': the parent product's stock is sold through it; the parent is listed (and written) instead.
    tracked: v.manage_stock === true,
    levels: level(v.stock_quantity),
  }
}

/** Types that never hold stock of their own: a grouped product is a set of other products, an external one is sold elsewhere. */
export const STOCKLESS_TYPES = new Set(['grouped', 'external'])

const CANCELLED = new Set(['cancelled', 'refunded', 'failed', 'trash', 'checkout-draft'])

/**
 * pending (placed, not paid yet), on-hold and processing hold stock: open. completed: fulfilled. cancelled, refunded,
 * failed and trash give it back; so does a block-checkout draft, which never took any. A status added by a plugin
 * ("shipped", "awaiting-pickup") is treated as open: holding stock is the safe side.
 */
/**
 * WooCommerce takes an order's units off its stock when the order is paid, or put on hold for an offline payment
 * (wc_maybe_reduce_stock_levels), not at checkout: a pending order has not taken them yet.
 */
const TAKES_STOCK = new Set(['processing', 'on-hold', 'completed'])

/** When WooCommerce took the order's units off its stock: its payment, else its creation; null while pending. */
function stockTakenAt(o: WooOrder): string | null {
  if (!TAKES_STOCK.has(o.status)) return null
  const at = o.date_paid_gmt || o.date_created_gmt
  return at ? gmtToIso(at) : null
}

export function orderStatus(status: string): RemoteOrder['status'] {
  if (status === 'completed') return 'fulfilled'
  if (CANCELLED.has(status)) return 'cancelled'
  return 'open'
}

const PICKUP_METHODS = new Set(['local_pickup', 'pickup_location'])

/** Refunded units per (product id, variation id) key. */
export type RefundedUnits = Map<string, number>
const lineKey = (productId: number, variationId: number) => `${productId}:${variationId}`

/** Adds up the refunded units of an order's refunds (refund lines carry negative quantities). */
export function refundedUnits(refunds: WooRefund[]): RefundedUnits {
  const out: RefundedUnits = new Map()
  for (const r of refunds) for (const l of r.line_items ?? []) {
    const units = Math.abs(Number(l.quantity) || 0)
    if (units > 0) out.set(lineKey(l.product_id, l.variation_id), (out.get(lineKey(l.product_id, l.variation_id)) ?? 0) + units)
  }
  return out
}

/** True when the order payload alone cannot give line quantities: it has refunds, whose lines are read apart. */
export const needsRefundLines = (o: WooOrder): boolean => (o.refunds?.length ?? 0) > 0 && orderStatus(o.status) !== 'cancelled'

/**
 * The order as the stock sync sees it. Line quantity = ordered minus refunded units (the refund lines of
 * `/orders/{id}/refunds`, matched by product and variation, taken from the first lines of that product first);
 * a cancelled order keeps its lines at 0 units.
 */
export function toRemoteOrder(o: WooOrder, refunded: RefundedUnits = new Map()): RemoteOrder {
  const status = orderStatus(o.status)
  const left = new Map(refunded)
  const lines = o.line_items.map((l) => {
    const key = lineKey(l.product_id, l.variation_id)
    const back = Math.min(left.get(key) ?? 0, l.quantity)
    if (back > 0) left.set(key, (left.get(key) ?? 0) - back)
    const id = l.variation_id || l.product_id
    return {
      id: String(l.id),
      sku: orNull(l.sku),
      externalId: id ? String(id) : null,
      quantity: status === 'cancelled' ? 0 : Math.max(0, l.quantity - back),
    }
  })
  const pickup = (o.shipping_lines ?? []).some((s) => PICKUP_METHODS.has(s.method_id))
  return {
    id: String(o.id),
    name: `#${o.number || o.id}`,
    status,
    updatedAt: gmtToIso(o.date_modified_gmt),
    placedAt: stockTakenAt(o),
    locationId: SINGLE_LOCATION,
    pickupLocationId: pickup ? SINGLE_LOCATION : null,
    lines,
  }
}
