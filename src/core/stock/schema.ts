// Stock: an append-only ledger of movements, the on-hand and reserved levels it maintains per (variant, location),
// reservations, stock counts and transfers.
import { sql } from 'drizzle-orm'
import { bigint, check, index, integer, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, timestamptz, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'
import { variants } from '../catalog/schema.ts'
import { stockLocations } from '../stores/schema.ts'

const qty = (name: string) => bigint(name, { mode: 'number' })

/** On-hand and reserved per (variant, location). Changed only together with a movement, in the same transaction. */
export const stockLevels = pgTable(
  'stock_levels',
  {
    merchantId: merchantId().references(() => merchants.id),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => stockLocations.id),
    onHand: qty('on_hand').notNull().default(0),
    reserved: qty('reserved').notNull().default(0),
    /** Low-stock threshold (safety stock): at or below it the level is "low". */
    safetyStock: qty('safety_stock'),
    /**
     * The last posted stock count of this level (countedBy) saw the shelf as it was at this moment: a movement that
     * happened by then but is recorded only after the post (a checkout in flight, an offline sale uploaded late) was
     * already in the count, and is recorded with a count movement that takes it back out (see counts.ts).
     */
    countedThrough: timestamptz('counted_through'),
    countedBy: uuid('counted_by'),
    updatedAt: updatedAt(),
  },
  (t) => [
    primaryKey({ columns: [t.locationId, t.variantId] }),
    index('stock_levels_variant_idx').on(t.merchantId, t.variantId),
    check('stock_levels_reserved_check', sql`${t.reserved} >= 0`),
  ],
)

export type MovementKind =
  | 'receipt'
  | 'sale'
  | 'return'
  | 'void'
  | 'adjustment'
  | 'count'
  | 'transfer_out'
  | 'transfer_in'
  | 'reservation_consumed'

export type MovementCause = 'sale_line' | 'refund_line' | 'count' | 'transfer' | 'adjustment' | 'receipt' | 'reservation' | 'import'

/** Append-only (a trigger refuses UPDATE and DELETE). */
export const stockMovements = pgTable(
  'stock_movements',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId().references(() => merchants.id),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => stockLocations.id),
    kind: text('kind').$type<MovementKind>().notNull(),
    /** Signed change of on-hand in the product's base unit. */
    quantity: qty('quantity').notNull(),
    onHandAfter: qty('on_hand_after').notNull(),
    causeType: text('cause_type').$type<MovementCause>().notNull(),
    causeId: text('cause_id'),
    reason: text('reason'),
    /** Cost in minor units per `costPer` base units, at the time of the movement (for valuation and COGS). */
    unitCost: money('unit_cost').notNull().default(0),
    costPer: integer('cost_per').notNull().default(1),
    actorType: text('actor_type').$type<'user' | 'api_key' | 'system'>().notNull(),
    actorId: uuid('actor_id'),
    /** When it happened (a till's own clock for offline sales); `recordedAt` is when the hub stored it. */
    occurredAt: timestamptz('occurred_at').notNull(),
    recordedAt: createdAt(),
  },
  (t) => [
    index('stock_movements_level_idx').on(t.locationId, t.variantId, t.id),
    index('stock_movements_merchant_idx').on(t.merchantId, t.occurredAt),
    index('stock_movements_cause_idx').on(t.causeType, t.causeId),
    check('stock_movements_quantity_check', sql`${t.quantity} <> 0`),
  ],
)

export const stockReservations = pgTable(
  'stock_reservations',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => stockLocations.id),
    quantity: qty('quantity').notNull(),
    status: text('status').$type<'active' | 'released' | 'consumed'>().notNull().default('active'),
    /** What holds the stock: an online order line, a pickup order, a manual hold. Unique, so a redelivered order reserves once. */
    sourceType: text('source_type').notNull(),
    sourceId: text('source_id').notNull(),
    expiresAt: timestamptz('expires_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // One hold per source and level at a time; a released one is history, and the source may hold again.
    uniqueIndex('stock_reservations_source_key').on(t.merchantId, t.sourceType, t.sourceId, t.variantId, t.locationId).where(sql`${t.status} <> 'released'`),
    index('stock_reservations_level_idx').on(t.locationId, t.variantId).where(sql`${t.status} = 'active'`),
    check('stock_reservations_quantity_check', sql`${t.quantity} > 0`),
  ],
)

export const stockCounts = pgTable(
  'stock_counts',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    locationId: uuid('location_id')
      .notNull()
      .references(() => stockLocations.id),
    status: text('status').$type<'open' | 'posted' | 'cancelled'>().notNull().default('open'),
    scope: text('scope').$type<'all' | 'some'>().notNull(),
    note: text('note'),
    /** The snapshot moment: expected quantities are on-hand at this time plus what moved until each entry. */
    startedAt: timestamptz('started_at').notNull(),
    startedBy: uuid('started_by'),
    postedAt: timestamptz('posted_at'),
    postedBy: uuid('posted_by'),
    /** The last movement on the ledger when the count was posted: its report reads no movement after it. */
    postedMovementId: bigint('posted_movement_id', { mode: 'number' }),
    /** How the post treated lines nobody counted: left alone, or written down to zero. */
    uncounted: text('uncounted').$type<'ignore' | 'zero'>(),
    createdAt: createdAt(),
  },
  (t) => [index('stock_counts_location_idx').on(t.merchantId, t.locationId, t.status)],
)

export const stockCountLines = pgTable(
  'stock_count_lines',
  {
    countId: uuid('count_id')
      .notNull()
      .references(() => stockCounts.id),
    merchantId: merchantId(),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    snapshotOnHand: qty('snapshot_on_hand').notNull(),
    /** Movement id up to which the snapshot covers the ledger. */
    snapshotMovementId: bigint('snapshot_movement_id', { mode: 'number' }).notNull(),
    unitCost: money('unit_cost').notNull().default(0),
    costPer: integer('cost_per').notNull().default(1),
  },
  (t) => [primaryKey({ columns: [t.countId, t.variantId] })],
)

export const stockCountEntries = pgTable(
  'stock_count_entries',
  {
    id: id(),
    countId: uuid('count_id')
      .notNull()
      .references(() => stockCounts.id),
    merchantId: merchantId(),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    quantity: qty('quantity').notNull(),
    enteredBy: uuid('entered_by'),
    enteredAt: createdAt(),
    /** The level's last movement the entry could see: what was recorded before the shelf was counted. */
    seenMovementId: bigint('seen_movement_id', { mode: 'number' }),
  },
  (t) => [index('stock_count_entries_count_idx').on(t.countId, t.variantId)],
)

export const stockTransfers = pgTable(
  'stock_transfers',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    fromLocationId: uuid('from_location_id')
      .notNull()
      .references(() => stockLocations.id),
    toLocationId: uuid('to_location_id')
      .notNull()
      .references(() => stockLocations.id),
    status: text('status').$type<'in_transit' | 'received' | 'cancelled'>().notNull().default('in_transit'),
    note: text('note'),
    sentBy: uuid('sent_by'),
    sentAt: timestamptz('sent_at').notNull(),
    receivedBy: uuid('received_by'),
    receivedAt: timestamptz('received_at'),
    createdAt: createdAt(),
  },
  (t) => [index('stock_transfers_merchant_idx').on(t.merchantId, t.status), check('stock_transfers_locations_check', sql`${t.fromLocationId} <> ${t.toLocationId}`)],
)

export const stockTransferLines = pgTable(
  'stock_transfer_lines',
  {
    transferId: uuid('transfer_id')
      .notNull()
      .references(() => stockTransfers.id),
    merchantId: merchantId(),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    quantitySent: qty('quantity_sent').notNull(),
    quantityReceived: qty('quantity_received'),
  },
  (t) => [primaryKey({ columns: [t.transferId, t.variantId] }), check('stock_transfer_lines_qty_check', sql`${t.quantitySent} > 0`)],
)
