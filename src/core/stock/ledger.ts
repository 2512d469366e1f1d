// The only way stock changes: movements appended to the ledger, with the level of each (variant, location) updated
// in the same statement sequence and transaction. Levels are locked in a fixed order (location, variant) so
// concurrent sales never deadlock, and under the 'block' policy a decrement that would take available stock
// (on-hand − reserved) below zero is refused by the UPDATE's own condition, so concurrent checkouts cannot oversell.
import { and, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { executeNamed } from '../../db/prepared.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordEvents, type HubEvent } from '../events/service.ts'
import { variants } from '../catalog/schema.ts'
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
  reservedBefore: number
  reserved: number
  safetyStock: number | null
}

export interface ApplyResult {
  /** The movement of each input, in input order. */
  movementIds: number[]
  /** The on-hand each input's movement left (its ledger row's on_hand_after), in input order. */
  onHandAfter: number[]
  levels: LevelChange[]
  /** Levels left below zero (only under the 'allow' policy). */
  negatives: LevelChange[]
  /** Levels whose reservations the change left without the on-hand to cover them (only under the 'allow' policy). */
  holdsTaken: HoldsTaken[]
}

/**
 * Units held by reservations that a decrement took (under the 'allow' policy): on-hand fell below what the level's
 * active reservations hold, so `taken` held units are no longer on the shelf. On-hand itself may still be zero or more.
 */
export interface HoldsTaken {
  variantId: string
  locationId: string
  onHand: number
  reserved: number
  /** On-hand − reserved, below zero. */
  available: number
  /** Held units the change left uncovered (those already uncovered before it not counted). */
  taken: number
}

/** Held units on-hand does not cover: reserved beyond what is on the shelf (none of it when on-hand is negative). */
const uncoveredHeld = (onHand: number, reserved: number) => Math.max(0, reserved - Math.max(onHand, 0))


// Ids are compared as text here: in the lower case PostgreSQL writes them, however a caller spelled them.
const levelKey = (variantId: string, locationId: string) => `${locationId.toLowerCase()}/${variantId.toLowerCase()}`

/** The reason on the count movement that takes back out a movement its count had already seen (see applyMovements). */
export const LATE_MOVEMENT_REASON = 'counted before it was recorded'

/** The most one line of a receipt, adjustment, transfer or stock import may move. */
export const MAX_MOVEMENT_QUANTITY = 1_000_000_000

export async function applyMovements(tx: Tx, actor: Actor, inputs: MovementInput[], opts: ApplyOptions): Promise<ApplyResult> {
  if (inputs.length === 0) return { movementIds: [], onHandAfter: [], levels: [], negatives: [], holdsTaken: [] }
  const merchantId = actor.merchantId
  // Per level: the change of on-hand, and what the inputs themselves move (the change of reserved when they consume
  // reservations; a count's corrections below change on-hand only).
  const totals = new Map<string, { variantId: string; locationId: string; delta: number; moved: number }>()
  for (const m of inputs) {
    if (!Number.isSafeInteger(m.quantity) || m.quantity === 0) throw new RangeError(`movement quantity must be a non-zero integer, got ${m.quantity}`)
    const k = levelKey(m.variantId, m.locationId)
    const t = totals.get(k) ?? { variantId: m.variantId.toLowerCase(), locationId: m.locationId.toLowerCase(), delta: 0, moved: 0 }
    t.delta += m.quantity
    t.moved += m.quantity
    totals.set(k, t)
  }
  const ordered = [...totals.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v)
  const consume = opts.consumesReservation === true

  // 1. Lock the levels in (location, variant) order and read them; create the ones that do not exist yet.
  let current = await lockLevels(tx, merchantId, ordered)
  const missing = ordered.filter((t) => !current.has(levelKey(t.variantId, t.locationId)))
  if (missing.length) {
    await tx
      .insert(stockLevels)
      .values(missing.map((t) => ({ merchantId, variantId: t.variantId, locationId: t.locationId })))
      .onConflictDoNothing()
    current = await lockLevels(tx, merchantId, ordered)
    const foreign = ordered.find((t) => !current.has(levelKey(t.variantId, t.locationId)))
    if (foreign) throw notFound('stock_level', `${foreign.locationId}/${foreign.variantId}`)
  }
  const now = new Date()
  // A movement that happened by the moment the level's last posted count saw the shelf, but is recorded only now (a
  // checkout that was in flight, an offline sale uploaded late): the count already left it out of the shelf, so a
  // count movement takes it back out again, beside it. Without it the unit would come off twice. (See counts.ts.)
  const corrections: MovementInput[] = []
  for (const m of inputs) {
    const level = current.get(levelKey(m.variantId, m.locationId))!
    if (m.kind === 'count' || !level.countedThrough || (m.occurredAt ?? now) > level.countedThrough) continue
    corrections.push({ ...m, quantity: -m.quantity, kind: 'count', causeType: 'count', causeId: level.countedBy, reason: LATE_MOVEMENT_REASON })
    totals.get(levelKey(m.variantId, m.locationId))!.delta -= m.quantity
  }
  if (corrections.length) await nameCountsThatSaw(tx, merchantId, corrections, now)
  const written = corrections.length ? [...inputs, ...corrections] : inputs
  // A movement its caller gave no cost (an order fulfilled from a hold, a marketplace order) is valued at the
  // variant's cost now, as a sale is: the ledger's value of every movement is what valuation and COGS read.
  const uncosted = [...new Set(written.filter((m) => m.unitCost === undefined).map((m) => m.variantId))]
  const costs = new Map(
    uncosted.length ? (await tx.select({ id: variants.id, cost: variants.cost, per: variants.pricePer }).from(variants).where(inArray(variants.id, uncosted))).map((v) => [v.id, v]) : [],
  )

  // 2. Under 'block', a decrement may not take available (on-hand − reserved) below zero.
  const levels: LevelChange[] = []
  for (const t of ordered) {
    const cur = current.get(levelKey(t.variantId, t.locationId))!
    if (t.delta < 0 && opts.policy === 'block' && !consume && cur.onHand - cur.reserved + t.delta < 0) {
      throw conflict('insufficient_stock', `only ${Math.max(0, cur.onHand - cur.reserved)} available of variant ${t.variantId} at location ${t.locationId}, ${-t.delta} needed`, {
        variantId: t.variantId,
        locationId: t.locationId,
        onHand: cur.onHand,
        reserved: cur.reserved,
        requested: -t.delta,
      })
    }
    // On-hand is a bigint in the database but a number here: past the largest exact integer it would stop being
    // the ledger's sum.
    if (!Number.isSafeInteger(cur.onHand + t.delta) || !Number.isSafeInteger(cur.reserved + t.moved)) {
      throw invalid('quantity_out_of_range', `the on-hand of variant ${t.variantId} at location ${t.locationId} would go beyond what is counted exactly`, {
        variantId: t.variantId,
        locationId: t.locationId,
        onHand: cur.onHand,
        change: t.delta,
      })
    }
    levels.push({
      variantId: t.variantId,
      locationId: t.locationId,
      before: cur.onHand,
      onHand: cur.onHand + t.delta,
      reservedBefore: cur.reserved,
      reserved: cur.reserved + (consume ? t.moved : 0),
      safetyStock: cur.safetyStock,
    })
  }
  const negatives = levels.filter((l) => l.onHand < 0 && l.onHand < l.before)
  // Reserved units the change took: held units on-hand covered before and does not now (a consumption lowers both
  // together and takes none). Under 'block' a decrement never takes available stock below zero, so none.
  const holdsTaken: HoldsTaken[] = []
  for (const l of levels) {
    const taken = uncoveredHeld(l.onHand, l.reserved) - uncoveredHeld(l.before, l.reservedBefore)
    if (taken > 0) holdsTaken.push({ variantId: l.variantId, locationId: l.locationId, onHand: l.onHand, reserved: l.reserved, available: l.onHand - l.reserved, taken })
  }

  // 3. One statement: the new levels, the ledger rows (on_hand_after running through the inputs of each level)
  //    and the events.
  const running = new Map(levels.map((l) => [levelKey(l.variantId, l.locationId), l.before]))
  const order = increasesFirst(written)
  const movements = order.map((i) => {
    const m = written[i]!
    const k = levelKey(m.variantId, m.locationId)
    const after = running.get(k)! + m.quantity
    running.set(k, after)
    return {
      variantId: m.variantId,
      locationId: m.locationId,
      kind: m.kind,
      quantity: m.quantity,
      onHandAfter: after,
      causeType: m.causeType,
      causeId: m.causeId ?? null,
      reason: m.reason ?? null,
      unitCost: m.unitCost ?? costs.get(m.variantId)?.cost ?? 0,
      costPer: m.unitCost === undefined ? (costs.get(m.variantId)?.per ?? 1) : (m.costPer ?? 1),
      occurredAt: (m.occurredAt ?? now).toISOString(),
    }
  })
  const events: HubEvent[] = []
  for (const l of levels) {
    const entityId = levelKey(l.variantId, l.locationId)
    // A movement the level's count had already seen is taken back out beside it (step 1): nothing changed to tell.
    if (l.onHand === l.before && l.reserved === l.reservedBefore) continue
    events.push({ type: 'stock.changed', entityType: 'stock_level', entityId, data: { variantId: l.variantId, locationId: l.locationId, onHand: l.onHand, reserved: l.reserved, available: l.onHand - l.reserved } })
    if (l.safetyStock !== null && l.before > l.safetyStock && l.onHand <= l.safetyStock) {
      events.push({ type: 'stock.low', entityType: 'stock_level', entityId, data: { variantId: l.variantId, locationId: l.locationId, onHand: l.onHand, safetyStock: l.safetyStock } })
    }
  }
  for (const n of negatives) {
    events.push({ type: 'stock.negative', entityType: 'stock_level', entityId: levelKey(n.variantId, n.locationId), data: { variantId: n.variantId, locationId: n.locationId, onHand: n.onHand } })
  }
  // The levels are updated where step 1 found and locked them, fetched by their tuple ids (a TID scan), the keys
  // checked too. Joined on the keys alone, the statement's one cached plan took the JSON for a hundred rows and read
  // the whole stock_levels table for every sale of a catalogue of thousands of variants.
  const located = levels.map((l) => ({ ...l, tid: current.get(levelKey(l.variantId, l.locationId))!.tid }))
  const { rows } = await executeNamed<{ ids: number[]; levels: number }>(tx, 'apply_stock_movements', sql`
    with level_rows as (
      update stock_levels l set on_hand = x."onHand", reserved = x.reserved, updated_at = now()
        from jsonb_to_recordset(${JSON.stringify(located)}::jsonb) as x(tid tid, "variantId" uuid, "locationId" uuid, "onHand" bigint, reserved bigint)
       where l.ctid = any(${sql.param(located.map((l) => l.tid))}::tid[]) and l.ctid = x.tid
         and l.location_id = x."locationId" and l.variant_id = x."variantId"
      returning 1
    ), movement_rows as (
      insert into stock_movements (merchant_id, variant_id, location_id, kind, quantity, on_hand_after, cause_type, cause_id, reason,
                                   unit_cost, cost_per, actor_type, actor_id, occurred_at)
      select ${merchantId}, x."variantId", x."locationId", x.kind, x.quantity, x."onHandAfter", x."causeType", x."causeId", x.reason,
             x."unitCost", x."costPer", ${actor.type}, ${actor.id}, x."occurredAt"
        from rows from (jsonb_to_recordset(${JSON.stringify(movements)}::jsonb) as ("variantId" uuid, "locationId" uuid, kind text,
             quantity bigint, "onHandAfter" bigint, "causeType" text, "causeId" text, reason text, "unitCost" bigint, "costPer" int,
             "occurredAt" timestamptz)) with ordinality as x("variantId", "locationId", kind, quantity, "onHandAfter", "causeType", "causeId",
             reason, "unitCost", "costPer", "occurredAt", n)
       order by x.n
      returning id
    ), event_rows as (
      insert into events (merchant_id, type, entity_type, entity_id, data)
      select ${merchantId}, x.type, x."entityType", x."entityId", x.data
        from jsonb_to_recordset(${JSON.stringify(events)}::jsonb) as x(type text, "entityType" text, "entityId" text, data jsonb)
      returning 1
    )
    select coalesce(array_agg(id order by id), '{}') as ids, (select count(*) from level_rows)::int as levels from movement_rows`)
  // A level locked in step 1 keeps its tuple until this transaction changes it; should one not be found, nothing of
  // this change stands.
  if (rows[0]!.levels !== levels.length) throw new Error(`stock levels moved under their lock: ${rows[0]!.levels} of ${levels.length} updated`)
  // The ids were given in the order written; each goes back to its input (a count's corrections are not inputs).
  const movementIds = new Array<number>(inputs.length)
  const onHandAfter = new Array<number>(inputs.length)
  order.forEach((input, k) => {
    if (input >= inputs.length) return
    movementIds[input] = Number(rows[0]!.ids[k])
    onHandAfter[input] = movements[k]!.onHandAfter
  })
  return { movementIds, onHandAfter, levels, negatives, holdsTaken }
}

/**
 * Each correction names the count that saw its movement happen: the first posted count of its level whose moment of
 * counting (the variant's last entry, at the latest the post) is at or after the movement. The level keeps only its
 * latest count; a sale made before an earlier count and recorded after a later one explains the earlier count's loss.
 */
async function nameCountsThatSaw(tx: Tx, merchantId: string, corrections: MovementInput[], now: Date) {
  const keys = corrections.map((c, i) => ({ i, v: c.variantId, l: c.locationId, t: (c.occurredAt ?? now).toISOString() }))
  const { rows } = await tx.execute<{ i: number; count_id: string | null }>(sql`
    select x.i, (
      select c.id from stock_counts c
        join stock_count_lines cl on cl.count_id = c.id and cl.variant_id = x.v
       where c.merchant_id = ${merchantId} and c.location_id = x.l and c.status = 'posted'
         and (c.uncounted = 'zero' or exists (select 1 from stock_count_entries e where e.count_id = c.id and e.variant_id = x.v))
         and least((select max(e.created_at) from stock_count_entries e where e.count_id = c.id and e.variant_id = x.v), c.posted_at) >= x.t
       order by c.posted_at, c.id
       limit 1) as count_id
      from jsonb_to_recordset(${JSON.stringify(keys)}::jsonb) as x(i int, v uuid, l uuid, t timestamptz)`)
  for (const r of rows) if (r.count_id) corrections[r.i]!.causeId = r.count_id
}

/**
 * The order the inputs are written in: as given, except that within one level its increases come before its
 * decreases. on_hand_after runs through a level's movements in that order, so a change that nets to what the policy
 * allows (4 on hand: −8 and +10) never writes a ledger row below zero on the way (−4, then 6).
 */
function increasesFirst(inputs: MovementInput[]): number[] {
  const positions = new Map<string, number[]>()
  inputs.forEach((m, i) => {
    const k = levelKey(m.variantId, m.locationId)
    const at = positions.get(k) ?? positions.set(k, []).get(k)!
    at.push(i)
  })
  const order = inputs.map((_, i) => i)
  for (const at of positions.values()) {
    const sorted = [...at].sort((a, b) => Number(inputs[a]!.quantity < 0) - Number(inputs[b]!.quantity < 0) || a - b)
    at.forEach((slot, j) => (order[slot] = sorted[j]!))
  }
  return order
}

async function lockLevels(tx: Tx, merchantId: string, ordered: { variantId: string; locationId: string }[]) {
  // One index lookup per level, locked in the order given (sorted by the caller), so concurrent callers never deadlock.
  // The keys come as a JSON recordset, which the planner sizes the same whatever it holds: the statement keeps one
  // generic plan per connection. (Given as arrays, the planner saw each call's length and planned every call anew.)
  const { rows } = await executeNamed<{
    tid: string
    variant_id: string
    location_id: string
    on_hand: number
    reserved: number
    safety_stock: number | null
    counted_through: string | Date | null
    counted_by: string | null
  }>(
    tx,
    'lock_stock_levels',
    sql`
    select l.ctid::text as tid, l.variant_id, l.location_id, l.on_hand, l.reserved, l.safety_stock, l.counted_through, l.counted_by
      from rows from (jsonb_to_recordset(${JSON.stringify(ordered.map((t) => ({ l: t.locationId, v: t.variantId })))}::jsonb) as (l uuid, v uuid))
           with ordinality as k(location_id, variant_id, n)
      cross join lateral (
        select s.ctid, s.* from stock_levels s where s.location_id = k.location_id and s.variant_id = k.variant_id and s.merchant_id = ${merchantId}
        for update
      ) l
     order by k.n`,
  )
  return new Map(
    rows.map((r) => [
      levelKey(r.variant_id, r.location_id),
      {
        tid: r.tid,
        onHand: Number(r.on_hand),
        reserved: Number(r.reserved),
        safetyStock: r.safety_stock === null ? null : Number(r.safety_stock),
        countedThrough: r.counted_through === null ? null : new Date(r.counted_through),
        countedBy: r.counted_by,
      },
    ]),
  )
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
    ne(stockReservations.status, 'released'),
  )
  // The hold this source already has (active, or consumed by its order; a released one is over): found first, or
  // held by a twin of this request sent at the same time.
  const heldBefore = async () => (await tx.select().from(stockReservations).where(where))[0]
  const existing = await heldBefore()
  if (existing) return { reservation: existing, created: false }
  const owned = await tx.execute(sql`
    select (select count(*) from stock_locations where id = ${input.locationId} and merchant_id = ${actor.merchantId})
         + (select count(*) from variants where id = ${input.variantId} and merchant_id = ${actor.merchantId}) as n`)
  if (Number((owned.rows[0] as { n: number }).n) !== 2) throw notFound('stock_level', `${input.locationId}/${input.variantId}`)
  await tx.insert(stockLevels).values({ merchantId: actor.merchantId, variantId: input.variantId, locationId: input.locationId }).onConflictDoNothing()
  const held = await tx.execute(sql`
    update stock_levels set reserved = reserved + ${input.quantity}, updated_at = now()
     where location_id = ${input.locationId} and variant_id = ${input.variantId} and merchant_id = ${actor.merchantId}
       and on_hand - reserved >= ${input.quantity}
    returning on_hand, reserved`)
  if (held.rows.length === 0) {
    // The same request sent twice at once: the twin that held the stock first has committed its reservation by now
    // (this update waited for its lock), and that reservation is the answer to both.
    const twin = await heldBefore()
    if (twin) return { reservation: twin, created: false }
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
    return { reservation: (await heldBefore())!, created: false }
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

/**
 * Consumes `quantity` units of an active reservation (goods of an order shipped in part): on-hand and reserved fall by
 * them together, and the reservation keeps the rest. All of it consumes the reservation.
 */
export async function consumeReservationPart(tx: Tx, actor: Actor, id: string, quantity: number, cause: { causeType: MovementCause; causeId: string; occurredAt?: Date }) {
  if (!Number.isSafeInteger(quantity) || quantity < 1) throw new RangeError('consume at least one unit')
  const r = await lockActiveReservation(tx, actor.merchantId, id)
  if (!r || r.status !== 'active') return r
  if (quantity >= r.quantity) return (await consumeReservation(tx, actor, id, cause))?.reservation
  await applyMovements(
    tx,
    actor,
    [{ variantId: r.variantId, locationId: r.locationId, quantity: -quantity, kind: 'reservation_consumed', causeType: cause.causeType, causeId: cause.causeId, occurredAt: cause.occurredAt }],
    { policy: 'allow', consumesReservation: true },
  )
  const [updated] = await tx.update(stockReservations).set({ quantity: r.quantity - quantity, updatedAt: new Date() }).where(eq(stockReservations.id, id)).returning()
  return updated
}

/** Lowers an active reservation to `quantity` (an order line partly cancelled); the difference goes back to available. */
export async function shrinkReservation(tx: Tx, actor: Actor, id: string, quantity: number) {
  if (!Number.isSafeInteger(quantity) || quantity < 1) throw new RangeError('a reservation keeps at least one unit; release it instead')
  const r = await lockActiveReservation(tx, actor.merchantId, id)
  if (!r || r.status !== 'active' || quantity >= r.quantity) return r
  const level = await tx.execute<{ on_hand: number; reserved: number }>(sql`
    update stock_levels set reserved = reserved - ${r.quantity - quantity}, updated_at = now()
     where location_id = ${r.locationId} and variant_id = ${r.variantId} returning on_hand, reserved`)
  const [updated] = await tx.update(stockReservations).set({ quantity, updatedAt: new Date() }).where(eq(stockReservations.id, id)).returning()
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
