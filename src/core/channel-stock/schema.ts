// One stock shared with online marketplaces: the marketplace's listings and which variant each is bound to, which
// of our stock locations feed each remote location, the rules that turn our available stock into a channel's
// quantity, the sync state of every (listing, remote location), and the online orders that hold our stock.
//
// Terms: a *channel* is a marketplace connection; a *listing* is one stock-keeping record there (a Shopify inventory
// item, a WooCommerce product or variation, a Taobao SKU); a *channel level* is a listing at one remote location —
// the unit we push. *Available* is on-hand − reserved (reservations of every channel); the *target* is what the
// rules make of it for this channel.
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../../db/columns.ts'
import { variants } from '../catalog/schema.ts'
import { stockLocations } from '../stores/schema.ts'

const qty = (name: string) => bigint(name, { mode: 'number' })

export type ListingState = 'bound' | 'unmapped' | 'ambiguous' | 'untracked' | 'gone'

export const channelListings = pgTable(
  'channel_listings',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    externalId: text('external_id').notNull(),
    externalIds: jsonb('external_ids').$type<Record<string, string>>().notNull().default({}),
    sku: text('sku'),
    barcode: text('barcode'),
    title: text('title').notNull().default(''),
    tracked: boolean('tracked').notNull().default(true),
    variantId: uuid('variant_id').references(() => variants.id),
    /** How the variant was bound: 'sku' | 'barcode' (automatically) | 'manual'. */
    matchedBy: text('matched_by'),
    state: text('state').$type<ListingState>().notNull(),
    /** For 'ambiguous': the variants that match the listing's SKU or barcode, none of which was chosen. */
    candidates: jsonb('candidates').$type<string[]>().notNull().default([]),
    seenAt: timestamptz('seen_at').notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('channel_listings_external_key').on(t.connectionId, t.externalId),
    uniqueIndex('channel_listings_variant_key').on(t.connectionId, t.variantId).where(sql`${t.variantId} is not null`),
    index('channel_listings_state_idx').on(t.connectionId, t.state),
  ],
)

/** Which of our stock locations feed a remote location (summed), and where its pickup orders are held. */
export const channelLocations = pgTable(
  'channel_locations',
  {
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    remoteLocationId: text('remote_location_id').notNull(),
    name: text('name').notNull().default(''),
    locationIds: uuid('location_ids').array().notNull(),
    /** Our location that holds and hands over pickup orders of this remote location (default: the first fed one). */
    pickupLocationId: uuid('pickup_location_id').references(() => stockLocations.id),
    updatedAt: updatedAt(),
  },
  // By merchant: every stock change asks whether its merchant sells in a marketplace (tb_channel_stock_changed).
  (t) => [primaryKey({ columns: [t.connectionId, t.remoteLocationId] }), index('channel_locations_merchant_idx').on(t.merchantId)],
)

/** Allocation rules of a channel: one row with variant null (the connection's default), others override per variant. */
export const channelRules = pgTable(
  'channel_rules',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    variantId: uuid('variant_id').references(() => variants.id),
    /** Percentage of available offered, rounded down (100 = all). */
    percent: integer('percent').notNull().default(100),
    /** Units kept back from the channel. */
    buffer: integer('buffer').notNull().default(0),
    /** Never more than this. */
    maximum: integer('maximum'),
    /** Zero when available is at or below this. */
    zeroAtOrBelow: integer('zero_at_or_below'),
    /** A fixed allocation: this many (never more than available), whatever the other rules say. */
    fixed: integer('fixed'),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('channel_rules_key').on(t.connectionId, sql`coalesce(${t.variantId}, '00000000-0000-0000-0000-000000000000'::uuid)`),
    check('channel_rules_percent_check', sql`${t.percent} between 0 and 100`),
    check('channel_rules_units_check', sql`${t.buffer} >= 0 and coalesce(${t.maximum}, 0) >= 0 and coalesce(${t.zeroAtOrBelow}, 0) >= 0 and coalesce(${t.fixed}, 0) >= 0`),
  ],
)

export type LevelStatus = 'ok' | 'pending' | 'error' | 'drift'

/**
 * Sync state of one listing at one remote location. A stock change marks it dirty (`dirtySince`, `changeSeq`) in the
 * transaction of the change; the push job sends the target if it differs from what the remote holds and clears the
 * mark only if no newer change came meanwhile.
 */
export const channelLevels = pgTable(
  'channel_levels',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    listingId: uuid('listing_id')
      .notNull()
      .references(() => channelListings.id),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    remoteLocationId: text('remote_location_id').notNull(),
    /** The quantity last computed for the channel. */
    target: qty('target'),
    lastPushed: qty('last_pushed'),
    lastPushedAt: timestamptz('last_pushed_at'),
    /** What the marketplace holds, as last read, pushed or learnt from its events. */
    lastRemote: qty('last_remote'),
    lastRemoteAt: timestamptz('last_remote_at'),
    status: text('status').$type<LevelStatus>().notNull().default('pending'),
    lastError: text('last_error'),
    dirtySince: timestamptz('dirty_since'),
    changeSeq: bigint('change_seq', { mode: 'number' }).notNull().default(0),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('channel_levels_key').on(t.connectionId, t.listingId, t.remoteLocationId),
    index('channel_levels_variant_idx').on(t.variantId),
    index('channel_levels_dirty_idx').on(t.connectionId, t.dirtySince).where(sql`${t.dirtySince} is not null`),
    index('channel_levels_status_idx').on(t.connectionId, t.status),
  ],
)

export type ChannelOrderStatus = 'open' | 'fulfilled' | 'cancelled' | 'collected'

export const channelOrders = pgTable(
  'channel_orders',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    remoteOrderId: text('remote_order_id').notNull(),
    name: text('name').notNull(),
    status: text('status').$type<ChannelOrderStatus>().notNull(),
    remoteUpdatedAt: timestamptz('remote_updated_at').notNull(),
    /** Our location whose stock the order holds (the pickup store's for pickup orders). */
    locationId: uuid('location_id').references(() => stockLocations.id),
    pickup: boolean('pickup').notNull().default(false),
    /** Why staff should look at it: 'insufficient_stock', 'unmapped_lines', 'unmapped_location'. */
    flag: text('flag'),
    collectedAt: timestamptz('collected_at'),
    collectedBy: uuid('collected_by'),
    /**
     * When the marketplace took the order's units off its own stock, as we learned it; null while it has not (an
     * order not paid yet on a shop that takes stock at payment).
     */
    stockTakenAt: timestamptz('stock_taken_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('channel_orders_remote_key').on(t.connectionId, t.remoteOrderId), index('channel_orders_merchant_idx').on(t.merchantId, t.status, t.flag)],
)

export type ChannelOrderLineState = 'held' | 'short' | 'unmapped' | 'released' | 'consumed'

export const channelOrderLines = pgTable(
  'channel_order_lines',
  {
    orderId: uuid('order_id')
      .notNull()
      .references(() => channelOrders.id),
    merchantId: merchantId(),
    lineId: text('line_id').notNull(),
    sku: text('sku'),
    variantId: uuid('variant_id').references(() => variants.id),
    quantity: qty('quantity').notNull(),
    /** Units of the line that left while the order was still open (shipped in part), taken off on-hand then. */
    shippedQuantity: qty('shipped_quantity').notNull().default(0),
    reservationId: uuid('reservation_id'),
    state: text('state').$type<ChannelOrderLineState>().notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.orderId, t.lineId] }), check('channel_order_lines_quantity_check', sql`${t.quantity} >= 0`)],
)

/** What an audit found: a level whose remote quantity differed from what it should be, and whether it was repaired. */
export const channelDrift = pgTable(
  'channel_drift',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    runId: uuid('run_id'),
    levelId: uuid('level_id').notNull(),
    sku: text('sku'),
    remoteLocationId: text('remote_location_id').notNull(),
    /** What we last pushed (null: never pushed), what the remote held, and what it should hold. */
    lastPushed: qty('last_pushed'),
    remote: qty('remote').notNull(),
    target: qty('target').notNull(),
    repaired: boolean('repaired').notNull().default(false),
    foundAt: timestamptz('found_at').notNull(),
  },
  (t) => [index('channel_drift_connection_idx').on(t.connectionId, t.id)],
)

/**
 * Stock changes waiting for a channel's push job, written by the trigger on `events` in the transaction of the
 * change. Append-only from the till's side: a sale never locks a sync row, so it can never deadlock with a push.
 * The push job absorbs them into its levels' dirty marks.
 */
export const channelStockChanges = pgTable(
  'channel_stock_changes',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    connectionId: uuid('connection_id').notNull(),
    variantId: uuid('variant_id').notNull(),
    changedAt: timestamptz('changed_at').notNull().defaultNow(),
  },
  (t) => [index('channel_stock_changes_connection_idx').on(t.connectionId, t.id)],
)
