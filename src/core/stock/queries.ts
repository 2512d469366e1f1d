// Reading stock: levels per (variant, location) with what is available to sell, and the movement ledger, newest
// first. Every query is scoped by the merchant; a foreign store or location filter is "not found".
import { sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { businessDayRange, startOfBusinessDay } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import { getStore } from '../stores/service.ts'
import { requireLocation, variantName } from './items.ts'
import type { MovementCause, MovementKind } from './schema.ts'

export interface LevelView {
  variantId: string
  sku: string
  name: string
  locationId: string
  storeId: string
  onHand: number
  reserved: number
  /** on-hand − reserved: what may still be sold or reserved. */
  available: number
  safetyStock: number | null
  /** At or below its safety stock (the same rule as the 'stock.low' event). */
  low: boolean
  updatedAt: Date
}

export interface LevelFilter {
  storeId?: string
  locationId?: string
  variantId?: string
  sku?: string
  lowOnly?: boolean
  /** The nextCursor of the previous page. */
  after?: string
  limit: number
}

type LevelRow = {
  variant_id: string
  sku: string
  name: string
  location_id: string
  store_id: string
  on_hand: number
  reserved: number
  safety_stock: number | null
  updated_at: string | Date
}

const toLevel = (r: LevelRow): LevelView => ({
  variantId: r.variant_id,
  sku: r.sku,
  name: r.name,
  locationId: r.location_id,
  storeId: r.store_id,
  onHand: Number(r.on_hand),
  reserved: Number(r.reserved),
  available: Number(r.on_hand) - Number(r.reserved),
  safetyStock: r.safety_stock === null ? null : Number(r.safety_stock),
  low: r.safety_stock !== null && Number(r.on_hand) <= Number(r.safety_stock),
  updatedAt: new Date(r.updated_at),
})

/** Levels in (location, variant) order; the cursor is "locationId/variantId" of the last one returned. */
export async function listLevels(tx: Tx, merchantId: string, f: LevelFilter): Promise<{ items: LevelView[]; nextCursor: string | null }> {
  if (f.storeId) await getStore(tx, merchantId, f.storeId)
  if (f.locationId) await requireLocation(tx, merchantId, f.locationId)
  let after: [string, string] | undefined
  if (f.after) {
    const [loc, variant] = f.after.split('/')
    if (!loc || !variant || !isUuid(loc) || !isUuid(variant)) throw badRequest('invalid_cursor', 'the cursor is not one this list returned')
    after = [loc, variant]
  }
  const where: SQL[] = [sql`l.merchant_id = ${merchantId}`]
  if (f.storeId) where.push(sql`loc.store_id = ${f.storeId}`)
  if (f.locationId) where.push(sql`l.location_id = ${f.locationId}`)
  if (f.variantId) where.push(sql`l.variant_id = ${f.variantId}`)
  if (f.sku) where.push(sql`v.sku = ${f.sku}`)
  // What is low is what to restock: an archived product is not sold any more (its levels stay in the full list).
  if (f.lowOnly) where.push(sql`l.safety_stock is not null and l.on_hand <= l.safety_stock and p.status <> 'archived'`)
  if (after) where.push(sql`(l.location_id, l.variant_id) > (${after[0]}::uuid, ${after[1]}::uuid)`)
  const { rows } = await tx.execute<LevelRow>(sql`
    select l.variant_id, v.sku, ${variantName} as name, l.location_id, loc.store_id, l.on_hand, l.reserved, l.safety_stock, l.updated_at
      from stock_levels l
      join stock_locations loc on loc.id = l.location_id
      join variants v on v.id = l.variant_id
      join products p on p.id = v.product_id
     where ${sql.join(where, sql` and `)}
     order by l.location_id, l.variant_id
     limit ${f.limit + 1}`)
  const page = rows.slice(0, f.limit).map(toLevel)
  const last = page[page.length - 1]
  return { items: page, nextCursor: rows.length > f.limit && last ? `${last.locationId}/${last.variantId}` : null }
}

export interface MovementView {
  id: number
  variantId: string
  sku: string
  name: string
  locationId: string
  kind: MovementKind
  quantity: number
  onHandAfter: number
  causeType: MovementCause
  causeId: string | null
  reason: string | null
  unitCost: number
  costPer: number
  actorType: 'user' | 'api_key' | 'system'
  actorId: string | null
  occurredAt: Date
  recordedAt: Date
}

export interface MovementFilter {
  variantId?: string
  locationId?: string
  kinds?: MovementKind[]
  causeType?: MovementCause
  causeId?: string
  /** occurredAt at or after this instant, or from the start of this business date ('YYYY-MM-DD', merchant's zone). */
  from?: Date | string
  /** occurredAt before this instant, or up to the end of this business date (inclusive). */
  to?: Date | string
  /** Movements with a smaller id (the nextCursor of the previous page). */
  before?: number
  limit: number
}

type MovementRow = {
  id: number
  variant_id: string
  sku: string
  name: string
  location_id: string
  kind: MovementKind
  quantity: number
  on_hand_after: number
  cause_type: MovementCause
  cause_id: string | null
  reason: string | null
  unit_cost: number
  cost_per: number
  actor_type: MovementView['actorType']
  actor_id: string | null
  occurred_at: string | Date
  recorded_at: string | Date
}

export async function listMovements(tx: Tx, merchantId: string, f: MovementFilter): Promise<{ items: MovementView[]; nextCursor: string | null }> {
  if (f.locationId) await requireLocation(tx, merchantId, f.locationId)
  const zone = typeof f.from === 'string' || typeof f.to === 'string' ? (await getSettings(tx, merchantId)).timeZone : 'UTC'
  const from = typeof f.from === 'string' ? startOfBusinessDay(f.from, zone) : f.from
  const to = typeof f.to === 'string' ? businessDayRange(f.to, zone).end : f.to
  const where: SQL[] = [sql`m.merchant_id = ${merchantId}`]
  if (f.variantId) where.push(sql`m.variant_id = ${f.variantId}`)
  if (f.locationId) where.push(sql`m.location_id = ${f.locationId}`)
  if (f.kinds?.length) where.push(sql`m.kind = any(${sql.param(f.kinds)}::text[])`)
  if (f.causeType) where.push(sql`m.cause_type = ${f.causeType}`)
  if (f.causeId) where.push(sql`m.cause_id = ${f.causeId}`)
  if (from) where.push(sql`m.occurred_at >= ${from.toISOString()}::timestamptz`)
  if (to) where.push(sql`m.occurred_at < ${to.toISOString()}::timestamptz`)
  if (f.before) where.push(sql`m.id < ${f.before}`)
  const { rows } = await tx.execute<MovementRow>(sql`
    select m.id, m.variant_id, v.sku, ${variantName} as name, m.location_id, m.kind, m.quantity, m.on_hand_after, m.cause_type, m.cause_id, m.reason,
           m.unit_cost, m.cost_per, m.actor_type, m.actor_id, m.occurred_at, m.created_at as recorded_at
      from stock_movements m
      join variants v on v.id = m.variant_id
      join products p on p.id = v.product_id
     where ${sql.join(where, sql` and `)}
     order by m.id desc
     limit ${f.limit + 1}`)
  const page = rows.slice(0, f.limit).map(
    (r): MovementView => ({
      id: Number(r.id),
      variantId: r.variant_id,
      sku: r.sku,
      name: r.name,
      locationId: r.location_id,
      kind: r.kind,
      quantity: Number(r.quantity),
      onHandAfter: Number(r.on_hand_after),
      causeType: r.cause_type,
      causeId: r.cause_id,
      reason: r.reason,
      unitCost: Number(r.unit_cost),
      costPer: Number(r.cost_per),
      actorType: r.actor_type,
      actorId: r.actor_id,
      occurredAt: new Date(r.occurred_at),
      recordedAt: new Date(r.recorded_at),
    }),
  )
  const last = page[page.length - 1]
  return { items: page, nextCursor: rows.length > f.limit && last ? String(last.id) : null }
}
