// The only way stock changes: movements appended to the ledger, with the level of each (variant, location) updated
// in the same statement sequence and transaction. Levels are locked in a fixed order (location, variant) so
// concurrent sales never deadlock, and under the 'block' policy a decrement that would take available stock
// (on-hand − reserved) below zero is refused by the UPDATE's own condition, so concurrent checkouts cannot oversell.
import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordEvents, type HubEvent } from '../events/service.ts'
import { stockLevels, stockMovements, stockReservations, type MovementCause, type MovementKind } from './schema.ts'

export interface MovementInput {
  variantId: string
  locationId: string
  /** Signed change of on-hand in base units. */
  quantity: number
  kind: MovementKind
  causeType: MovementCause
  causeId?: string | null
  reason?: string | null
  occurredAt?: Date
  unitCost?: number
  costPer?: number
}

export interface ApplyOptions {
  /** 'block' refuses to take available stock below zero; 'allow' lets on-hand go negative and reports it. */
  policy: 'block' | 'allow'
  /** Movements that consume reserved stock lower `reserved` by the same quantity (reservation consumption). */
  consumesReservation?: boolean
}

export interface LevelChange {
  variantId: string
  locationId: string
  before: number
  onHand: number
  reserved: number
  safetyStock: number | null
}

export interface ApplyResult {
  movementIds: number[]
  levels: LevelChange[]
  /** Levels left below zero (only under the 'allow' policy). */
  negatives: LevelChange[]
}

const levelKey = (variantId: string, locationId: string) => `${locationId}/${variantId}`

export class InsufficientStock extends Error {}

export async function applyMovements(tx: Tx, actor: Actor, inputs: MovementInput[], opts: ApplyOptions): Promise<ApplyResult> {
  if (inputs.length === 0) return { movementIds: [], levels: [], negatives: [] }
  const merchantId = actor.merchantId
  const totals = new Map<string, { variantId: string; locationId: string; delta: number }>()
  for (const m of inputs) {
    if (!Number.isSafeInteger(m.quantity) || m.quantity === 0) throw new RangeError(`movement quantity must be a non-zero integer, got ${m.quantity}`)
    const k = levelKey(m.variantId, m.locationId)
    const t = totals.get(k) ?? { variantId: m.variantId, locationId: m.locationId, delta: 0 }
    t.delta += m.quantity
    totals.set(k, t)
  }
  const ordered = [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v)

  await tx
    .insert(stockLevels)
    .values(ordered.map((t) => ({ merchantId, variantId: t.variantId, locationId: t.locationId })))
    .onConflictDoNothing()

  const levels = new Map<string, LevelChange>()
  const negatives: LevelChange[] = []
  for (const t of ordered) {
    const consume = opts.consumesReservation === true
    const reservedDelta = consume ? t.delta : 0 // consuming: reserved falls with on-hand
    const guard = t.delta < 0 && opts.policy === 'block' && !consume
    const rows = await tx.execute<{ on_hand: number; reserved: number; safety_stock: number | null }>(sql`
      update stock_levels
         set on_hand = on_hand + ${t.delta}, reserved = reserved + ${reservedDelta}, updated_at = now()
       where location_id = ${t.locationId} and variant_id = ${t.variantId} and merchant_id = ${merchantId}
         ${guard ? sql`and on_hand - reserved + ${t.delta} >= 0` : sql``}
      returning on_hand, reserved, safety_stock`)
    const row = rows.rows[0]
    if (!row) {
      const [cur] = await tx
        .select({ onHand: stockLevels.onHand, reserved: stockLevels.reserved })
        .from(stockLevels)
        .where(and(eq(stockLevels.locationId, t.locationId), eq(stockLevels.variantId, t.variantId)))
      throw conflict('insufficient_stock', `only ${Math.max(0, (cur?.onHand ?? 0) - (cur?.reserved ?? 0))} available of variant ${t.variantId} at location ${t.locationId}, ${-t.delta} needed`, {
        variantId: t.variantId,
        locationId: t.locationId,
        onHand: cur?.onHand ?? 0,
        reserved: cur?.reserved ?? 0,
        requested: -t.delta,
      })
    }
    const change: LevelChange = {
      variantId: t.variantId,
      locationId: t.locationId,
      before: row.on_hand - t.delta,
      onHand: row.on_hand,
      reserved: row.reserved,
      safetyStock: row.safety_stock,
    }
    levels.set(levelKey(t.variantId, t.locationId), change)
    if (change.onHand < 0 && t.delta < 0) negatives.push(change)
  }

  // Each input is its own ledger row; on_hand_after runs through the inputs of the same level in order.
  const running = new Map<string, number>()
  for (const [k, l] of levels) running.set(k, l.before)
  const now = new Date()
  const rows = inputs.map((m) => {
    const k = levelKey(m.variantId, m.locationId)
    const after = running.get(k)! + m.quantity
    running.set(k, after)
    return {
      merchantId,
      variantId: m.variantId,
      locationId: m.locationId,
      kind: m.kind,
      quantity: m.quantity,
      onHandAfter: after,
      causeType: m.causeType,
      causeId: m.causeId ?? null,
      reason: m.reason ?? null,
      unitCost: m.unitCost ?? 0,
      costPer: m.costPer ?? 1,
      actorType: actor.type,
      actorId: actor.id,
      occurredAt: m.occurredAt ?? now,
    }
  })
  const inserted = await tx.insert(stockMovements).values(rows).returning({ id: stockMovements.id })

  const events: HubEvent[] = []
  for (const l of levels.values()) {
    events.push({
      type: 'stock.changed',
      entityType: 'stock_level',
      entityId: levelKey(l.variantId, l.locationId),
      data: { variantId: l.variantId, locationId: l.locationId, onHand: l.onHand, reserved: l.reserved, available: l.onHand - l.reserved },
    })
    if (l.safetyStock !== null && l.before > l.safetyStock && l.onHand <= l.safetyStock) {
      events.push({
        type: 'stock.low',
        entityType: 'stock_level',
        entityId: levelKey(l.variantId, l.locationId),
        data: { variantId: l.variantId, locationId: l.locationId, onHand: l.onHand, safetyStock: l.safetyStock },
      })
    }
  }
  for (const n of negatives) {
    events.push({ type: 'stock.negative', entityType: 'stock_level', entityId: levelKey(n.variantId, n.locationId), data: { variantId: n.variantId, locationId: n.locationId, onHand: n.onHand } })
  }
  await recordEvents(tx, merchantId, events)
  return { movementIds: inserted.map((r) => r.id), levels: [...levels.values()], negatives }
}

export interface ReserveInput {
  variantId: string
  locationId: string
  quantity: number
  sourceType: string
  sourceId: string
  expiresAt?: Date | null
}

/**
 * Holds stock for an order that will be fulfilled later. Never more than is available, also under concurrency
 * (the level UPDATE checks it). Idempotent per (source, variant, location): a repeat returns the first reservation.
 */
export async function reserve(tx: Tx, actor: Actor, input: ReserveInput): Promise<{ reservation: typeof stockReservations.$inferSelect; created: boolean }> {
  if (!Number.isSafeInteger(input.quantity) || input.quantity <= 0) throw new RangeError('reservation quantity must be a positive integer')
  const where = and(
    eq(stockReservations.merchantId, actor.merchantId),
    eq(stockReservations.sourceType, input.sourceType),
    eq(stockReservations.sourceId, input.sourceId),
    eq(stockReservations.variantId, input.variantId),
    eq(stockReservations.locationId, input.locationId),
  )
  const [existing] = await tx.select().from(stockReservations).where(where)
  if (existing) return { reservation: existing, created: false }
  await tx.insert(stockLevels).values({ merchantId: actor.merchantId, variantId: input.variantId, locationId: input.locationId }).onConflictDoNothing()
  const held = await tx.execute(sql`
    update stock_levels set reserved = reserved + ${input.quantity}, updated_at = now()
     where location_id = ${input.locationId} and variant_id = ${input.variantId} and merchant_id = ${actor.merchantId}
       and on_hand - reserved >= ${input.quantity}
    returning on_hand, reserved`)
  if (held.rows.length === 0) {
    throw conflict('insufficient_stock', `not enough available stock to reserve ${input.quantity} of variant ${input.variantId}`, {
      variantId: input.variantId,
      locationId: input.locationId,
      requested: input.quantity,
    })
  }
  const inserted = await tx
    .insert(stockReservations)
    .values({ merchantId: actor.merchantId, ...input, id: newId(), expiresAt: input.expiresAt ?? null })
    .onConflictDoNothing()
    .returning()
  if (inserted.length === 0) {
    // A concurrent twin inserted first: undo our hold and return theirs.
    await tx.execute(sql`update stock_levels set reserved = reserved - ${input.quantity} where location_id = ${input.locationId} and variant_id = ${input.variantId}`)
    const [twin] = await tx.select().from(stockReservations).where(where)
    return { reservation: twin!, created: false }
  }
  const level = held.rows[0] as { on_hand: number; reserved: number }
  await recordEvents(tx, actor.merchantId, [
    {
      type: 'stock.changed',
      entityType: 'stock_level',
      entityId: levelKey(input.variantId, input.locationId),
      data: { variantId: input.variantId, locationId: input.locationId, onHand: level.on_hand, reserved: level.reserved, available: level.on_hand - level.reserved },
    },
  ])
  return { reservation: inserted[0]!, created: true }
}

async function lockActiveReservation(tx: Tx, merchantId: string, id: string) {
  const [r] = await tx
    .select()
    .from(stockReservations)
    .where(and(eq(stockReservations.merchantId, merchantId), eq(stockReservations.id, id)))
    .for('update')
  return r
}

/** Gives reserved stock back to available. Releasing twice is harmless. */
export async function releaseReservation(tx: Tx, actor: Actor, id: string) {
  const r = await lockActiveReservation(tx, actor.merchantId, id)
  if (!r) return undefined
  if (r.status !== 'active') return r
  const level = await tx.execute<{ on_hand: number; reserved: number }>(sql`
    update stock_levels set reserved = reserved - ${r.quantity}, updated_at = now()
     where location_id = ${r.locationId} and variant_id = ${r.variantId} returning on_hand, reserved`)
  const [updated] = await tx.update(stockReservations).set({ status: 'released', updatedAt: new Date() }).where(eq(stockReservations.id, id)).returning()
  const l = level.rows[0]!
  await recordEvents(tx, actor.merchantId, [
    {
      type: 'stock.changed',
      entityType: 'stock_level',
      entityId: levelKey(r.variantId, r.locationId),
      data: { variantId: r.variantId, locationId: r.locationId, onHand: l.on_hand, reserved: l.reserved, available: l.on_hand - l.reserved },
    },
  ])
  return updated
}

/** Turns a reservation into the stock movement of its fulfilment: on-hand and reserved fall together, once. */
export async function consumeReservation(tx: Tx, actor: Actor, id: string, cause: { causeType: MovementCause; causeId: string; occurredAt?: Date }) {
  const r = await lockActiveReservation(tx, actor.merchantId, id)
  if (!r) return undefined
  if (r.status !== 'active') return { reservation: r, consumed: false }
  await applyMovements(
    tx,
    actor,
    [{ variantId: r.variantId, locationId: r.locationId, quantity: -r.quantity, kind: 'reservation_consumed', causeType: cause.causeType, causeId: cause.causeId, occurredAt: cause.occurredAt }],
    { policy: 'allow', consumesReservation: true },
  )
  const [updated] = await tx.update(stockReservations).set({ status: 'consumed', updatedAt: new Date() }).where(eq(stockReservations.id, id)).returning()
  return { reservation: updated!, consumed: true }
}
