// What every marketplace connector offers the stock sync (Shopify, WooCommerce, Taobao/Tmall): its listings and
// locations, reading and writing stock levels in batches, its orders (by webhook and by poll), and its webhook
// subscriptions. The sync (src/jobs/stock-sync.ts) decides what to write; a connector only speaks the vendor's API.
//
// Terms: a *listing* is one stock-keeping record on the marketplace (a Shopify inventory item, a WooCommerce product
// or variation, a Taobao item SKU); its `externalId` is the id stock writes address. A *level* is the sellable
// quantity of a listing at one remote location (single-location marketplaces use the location id 'default').
import type { ChannelOrderLineInput } from '../../core/channel-stock/orders.ts'
import type { ConnectorContext, ParsedWebhook } from './define.ts'

export const SINGLE_LOCATION = 'default'

export interface RemoteLocation {
  id: string
  name: string
  active: boolean
}

export interface RemoteListing {
  /** The id stock writes address: Shopify InventoryItem gid, WooCommerce product or variation id, Taobao `num_iid:sku_id`. */
  externalId: string
  /** Every other id a write or a link needs (productId, variantId, parentId, numIid, skuId, …), as strings. */
  externalIds: Record<string, string>
  sku: string | null
  barcode: string | null
  title: string
  /** False when the marketplace does not track stock for it (Shopify `tracked: false`, Woo `manage_stock: false`). */
  tracked: boolean
  /** The sellable quantity per remote location, when the listing call returns it (it does for all three vendors). */
  levels?: { locationId: string; available: number }[]
}

export interface RemoteLevel {
  externalId: string
  locationId: string
  available: number
}

export interface StockWrite {
  externalId: string
  externalIds: Record<string, string>
  locationId: string
  /** The absolute sellable quantity to set. */
  quantity: number
  /**
   * What we believe the marketplace holds now (last pushed or last read): sent as the compare-and-set value where
   * the vendor has one (Shopify `changeFromQuantity`); null when unknown.
   */
  expected: number | null
  /** Stable across retries of the same write; the vendor's idempotency key where it has one. */
  idempotencyKey: string
  /** Tags our write where the vendor keeps a reference (Shopify `referenceDocumentUri`), to recognise its echo. */
  reference: string
}

/** One result per write, in the order of the writes. Expected outcomes are values; a failed call throws ConnectorError. */
export type StockWriteResult =
  | { status: 'ok'; quantity: number }
  /** The compare-and-set value did not match: the marketplace holds `actual` now (null when it did not say). */
  | { status: 'stale'; actual: number | null }
  /** An atomic call refused for another of its writes: this one was not applied and goes again as it is. */
  | { status: 'not_applied' }
  | { status: 'failed'; code: string; message: string; retryable: boolean }

export interface StockAdjustment {
  externalId: string
  externalIds: Record<string, string>
  locationId: string
  delta: number
  /** Hex only for Tmall `outer_biz_key`; the same key on a retry of the same adjustment. */
  idempotencyKey: string
}

/** An order's line: the shape the channel-stock core takes it in. */
export type RemoteOrderLine = ChannelOrderLineInput

export interface RemoteOrder {
  id: string
  /** What the merchant sees: Shopify `#1001`, Woo order number, Taobao `tid`. */
  name: string
  /** open: stock is held for it; fulfilled: it left (or was collected); cancelled: the stock comes back. */
  status: 'open' | 'fulfilled' | 'cancelled'
  /** The vendor's last-modified time (ISO 8601). */
  updatedAt: string
  /**
   * When the marketplace took the order's units off its own stock (ISO 8601): the order's creation, or its payment
   * on a shop that takes stock at payment (WooCommerce); null while it has not, or when the payload does not say.
   */
  placedAt: string | null
  /** The remote location the order ships from, when the vendor says. */
  locationId: string | null
  /** Set when the buyer collects in a store: the remote location of that store. */
  pickupLocationId: string | null
  lines: RemoteOrderLine[]
}

/** What a verified webhook means to the stock sync. */
export type MarketplaceEvent =
  | { kind: 'order'; order: RemoteOrder }
  /** The order changed in a way the payload does not show in full (a Shopify refund): read it again. */
  | { kind: 'order_changed'; orderId: string }
  | { kind: 'level'; level: RemoteLevel; at: string | null }
  | { kind: 'ignored'; reason: string }

export interface MarketplaceTraits {
  /** Writes can carry a compare-and-set value (Shopify). */
  compareAndSet: boolean
  /** Stock is held per remote location (Shopify); otherwise one level per listing at SINGLE_LOCATION. */
  multiLocation: boolean
  /** Most writes per call (Shopify 250 quantities, WooCommerce 100 items, Taobao/Tmall 20 SKUs of one item). */
  maxBatch: number
  /** The marketplace delivers webhooks (and should be polled besides). */
  webhooks: boolean
  /**
   * A level event's `at` is the marketplace's time of the value it carries, precise and on a clock kept close to ours
   * (Shopify's X-Shopify-Triggered-At): an event older than what we already know of the level is not taken for its
   * current value (a late delivery of an earlier change, or of the echo of an earlier write of ours).
   */
  levelEventTimes?: boolean
  /**
   * The listing pass pages by page number over a list that closes up when an item leaves it (Taobao's
   * items.onsale.get, WooCommerce's products): an item leaving a page already read pulls the next one onto it, unseen.
   * A listing such a pass missed is read by itself (readLevels, which answers nothing for one the shop no longer
   * offers) before it is taken for gone.
   */
  shiftingListingPages?: boolean
}

export type Page<T> = { items: T[]; nextCursor: string | null }

type Cap<C, I, O> = (ctx: ConnectorContext<C>, input: I) => Promise<O>

export interface MarketplaceCapabilities<C> {
  traits: MarketplaceTraits | ((config: C) => MarketplaceTraits)
  listLocations: Cap<C, Record<string, never>, RemoteLocation[]>
  /** Every listing, page by page (with its levels). */
  listListings: Cap<C, { cursor: string | null }, Page<RemoteListing>>
  /** Current levels of some listings (after a stale compare-and-set; for a targeted audit). */
  readLevels: Cap<C, { listings: { externalId: string; externalIds: Record<string, string> }[]; locationId: string | null }, RemoteLevel[]>
  /** Absolute writes, at most `maxBatch` per call. */
  setLevels: Cap<C, { writes: StockWrite[] }, StockWriteResult[]>
  /** Incremental writes with an idempotency key (Taobao/Tmall `type=2`). */
  adjustLevels?: Cap<C, { adjustments: StockAdjustment[] }, StockWriteResult[]>
  /** Orders modified at or after `updatedSince`, oldest first, page by page. */
  listOrders: Cap<C, { updatedSince: Date; cursor: string | null }, Page<RemoteOrder>>
  getOrder: Cap<C, { id: string }, RemoteOrder | null>
  /** Interprets a webhook the connector verified and parsed. */
  interpretWebhook?: (event: ParsedWebhook, config: C) => MarketplaceEvent
  /** Makes sure the marketplace sends our topics to `address` (creates missing, re-enables disabled subscriptions). */
  ensureWebhooks?: Cap<C, { address: string }, { created: string[]; existing: string[]; reactivated: string[] }>
}

export const traitsOf = <C>(caps: MarketplaceCapabilities<C>, config: C): MarketplaceTraits => (typeof caps.traits === 'function' ? caps.traits(config) : caps.traits)
