// Holds on stock for orders fulfilled later (an online order, a pickup, a manual hold): the checks and lookups
// around the ledger's reserve/release/consume, listing, and the release of holds whose time has run out.
import { and, desc, eq, lt, lte, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { systemActor, type Actor } from '../staff/actor.ts'
import { variants } from '../catalog/schema.ts'
import { requireLocation, resolveItems, type ItemRef } from './items.ts'
import { consumeReservation, releaseReservation, reserve } from './ledger.ts'
import { stockReservations } from './schema.ts'

export type Reservation = typeof stockReservations.$inferSelect
export type ReservationView = Reservation & { sku: string }

export interface ReservationInput {
  item: ItemRef
  locationId: string
  quantity: number
  sourceType?: string
  sourceId: string
  expiresAt?: Date | null
  at?: Date
}

const withSku = async (tx: Tx, r: Reservation): Promise<ReservationView> => {
  const [v] = await tx.select({ sku: variants.sku }).from(variants).where(eq(variants.id, r.variantId))
  return { ...r, sku: v!.sku }
}

/** Never more than is available; a repeat for the same source, variant and location returns the first hold. */
export async function createReservation(tx: Tx, actor: Actor, input: ReservationInput): Promise<{ reservation: ReservationView; created: boolean }> {
  if (!Number.isSafeInteger(input.quantity) || input.quantity <= 0) throw invalid('invalid_quantity', 'quantity must be a positive whole number of base units')
  const at = input.at ?? new Date()
  if (input.expiresAt && input.expiresAt.getTime() <= at.getTime()) throw invalid('invalid_expiry', 'expiresAt must be in the future')
  await requireLocation(tx, actor.merchantId, input.locationId)
  const [item] = await resolveItems(tx, actor.merchantId, [input.item])
  const r = await reserve(tx, actor, {
    variantId: item!.variantId,
    locationId: input.locationId,
    quantity: input.quantity,
    sourceType: input.sourceType ?? 'manual',
    sourceId: input.sourceId,
    expiresAt: input.expiresAt ?? null,
  })
  return { reservation: { ...r.reservation, sku: item!.sku }, created: r.created }
}

export async function getReservation(tx: Tx, merchantId: string, id: string): Promise<ReservationView> {
  const [r] = await tx.select().from(stockReservations).where(and(eq(stockReservations.merchantId, merchantId), eq(stockReservations.id, id)))
  if (!r) throw notFound('reservation', id)
  return withSku(tx, r)
}

/** Gives the held stock back; releasing a released hold again is harmless, a consumed one cannot be released. */
export async function cancelReservation(tx: Tx, actor: Actor, id: string): Promise<ReservationView> {
  const r = await releaseReservation(tx, actor, id)
  if (!r) throw notFound('reservation', id)
  if (r.status === 'consumed') throw conflict('reservation_consumed', 'the reservation was already fulfilled; its stock has left')
  return withSku(tx, r)
}

/** Fulfils the hold: a 'reservation_consumed' movement takes the units off on-hand and reserved together, once. */
export async function fulfilReservation(tx: Tx, actor: Actor, id: string, at?: Date): Promise<{ reservation: ReservationView; consumed: boolean }> {
  const r = await consumeReservation(tx, actor, id, { causeType: 'reservation', causeId: id, occurredAt: at })
  if (!r) throw notFound('reservation', id)
  if (r.reservation.status === 'released') throw conflict('reservation_released', 'the reservation was released; reserve again to fulfil it')
  return { reservation: await withSku(tx, r.reservation), consumed: r.consumed }
}

export interface ReservationFilter {
  status?: Reservation['status']
  locationId?: string
  variantId?: string
  sourceType?: string
  sourceId?: string
  /** Reservations with a smaller id (UUIDv7: created earlier); the nextCursor of the previous page. */
  before?: string
  limit: number
}

export async function listReservations(tx: Tx, merchantId: string, f: ReservationFilter) {
  if (f.locationId) await requireLocation(tx, merchantId, f.locationId)
  const where: (SQL | undefined)[] = [
    eq(stockReservations.merchantId, merchantId),
    f.status ? eq(stockReservations.status, f.status) : undefined,
    f.locationId ? eq(stockReservations.locationId, f.locationId) : undefined,
    f.variantId ? eq(stockReservations.variantId, f.variantId) : undefined,
    f.sourceType ? eq(stockReservations.sourceType, f.sourceType) : undefined,
    f.sourceId ? eq(stockReservations.sourceId, f.sourceId) : undefined,
    f.before ? lt(stockReservations.id, f.before) : undefined,
  ]
  const rows = await tx
    .select({ r: stockReservations, sku: variants.sku })
    .from(stockReservations)
    .innerJoin(variants, eq(variants.id, stockReservations.variantId))
    .where(and(...where))
    .orderBy(desc(stockReservations.id))
    .limit(f.limit + 1)
  const page = rows.slice(0, f.limit).map((x): ReservationView => ({ ...x.r, sku: x.sku }))
  return { items: page, nextCursor: rows.length > f.limit ? page[page.length - 1]!.id : null }
}

/**
 * Releases active reservations whose expiresAt has passed, across merchants, in batches of one transaction each.
 * A hold being consumed or released at the same moment is skipped (SKIP LOCKED) or found no longer active.
 */
export async function releaseExpiredReservations(db: Db, now: Date, opts: { batchSize?: number } = {}): Promise<number> {
  const batchSize = opts.batchSize ?? 200
  let released = 0
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const due = await tx
        .select({ id: stockReservations.id, merchantId: stockReservations.merchantId, locationId: stockReservations.locationId, variantId: stockReservations.variantId })
        .from(stockReservations)
        .where(and(eq(stockReservations.status, 'active'), lte(stockReservations.expiresAt, now)))
        .orderBy(stockReservations.expiresAt)
        .limit(batchSize)
        .for('update', { skipLocked: true })
      // Levels are updated in the ledger's (location, variant) order so this never deadlocks with a checkout.
      due.sort((a, b) => (a.locationId + a.variantId < b.locationId + b.variantId ? -1 : a.locationId + a.variantId > b.locationId + b.variantId ? 1 : 0))
      for (const r of due) {
        const done = await releaseReservation(tx, systemActor(r.merchantId, 'reservation expiry'), r.id)
        if (done?.status === 'released') released++
      }
      return due.length
    })
    if (n < batchSize) return released
  }
}
