// Stock counts (盘点): count what is on the shelves of one location while the store keeps selling, then post the
// differences as 'count' movements.
//
// Sales during an open count are not lost: a count is a snapshot at the moment it opens, not a freeze. Opening
// share-locks the levels in scope (in the ledger's (location, variant) order, so it waits for checkouts in flight
// and never deadlocks with them) and stores, per variant, the on-hand at that moment and the id of the last
// movement it includes (snapshot_on_hand, snapshot_movement_id). For a counted variant,
//   expected = snapshot_on_hand + Σ quantity of that level's movements with id > snapshot_movement_id that happened
//              (occurred_at) at or before the variant's last entry, or were already on the ledger when it was made
//              (id ≤ the last movement the entry could see), other 'count' movements excepted,
//   variance = counted − expected.
// A sale rung up before the shelf was counted is in `expected` (the counter no longer saw the item); a sale after
// the entry is not (the counter saw it), and stays on the ledger as it is. Posting adds the variance to on-hand,
// so after posting on-hand = counted + whatever moved after the count. The moment a movement happened is its
// occurred_at, which for a till that was offline is the till's own clock: a sale made before the entry but uploaded
// after it is still counted against the entry, as it should be. A sale already recorded when the entry is made was
// made before it, whatever its till's clock says (one running a few minutes fast dates it after the entry).
//
// A movement can be recorded after the count that already saw it: a checkout rung up before the entry that commits
// after the post, or an offline sale uploaded later. Posting stamps each level it posts with the moment its count
// saw the shelf (stock_levels.counted_through, the variant's last entry) and the count; the ledger records any later
// movement that happened by that moment together with a 'count' movement of the opposite quantity, naming that
// count, so the unit does not come off twice (applyMovements). A posted count's report reads the ledger only up to
// the post (posted_movement_id), so it stays what was posted; beside each line's variance it shows what such late
// movements explain of it (recordedLater) and what is left unexplained. A variant that joins a count of everything
// with its first entry gets its snapshot then, and the entry is dated no earlier than the movements in that snapshot.
//
// Variances are valued at the variant's current cost while the count is open (the figure the stock valuation uses),
// and posted at it: the lines keep that cost, so a posted count's report stays what was posted.
//
// Two open counts never cover the same level at once (a posted correction of one would be counted again by the
// other): 'all' excludes any other open count at the location, 'some' excludes counts sharing a variant.
// Snapshots rely on READ COMMITTED (the default): the on-hand and last movement id are read by a statement that
// starts after the share locks are held, so both describe the same committed ledger.
import { and, desc, eq, lt, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { sum } from '../../lib/money.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { costValue, requireLocation, resolveItems, variantName, type ItemRef } from './items.ts'
import { flagOrdersLosingCover } from '../channel-stock/orders.ts'
import { applyMovements, LATE_MOVEMENT_REASON } from './ledger.ts'
import { stockCountEntries, stockCounts } from './schema.ts'

export type StockCount = typeof stockCounts.$inferSelect

/** Class of the advisory lock that serialises opening counts at one location (key: hash of the location id). */
const COUNT_OPEN_LOCK_CLASS = 74_620_201

async function lockCount(tx: Tx, merchantId: string, id: string, mode: 'share' | 'update'): Promise<StockCount> {
  const [c] = await tx
    .select()
    .from(stockCounts)
    .where(and(eq(stockCounts.merchantId, merchantId), eq(stockCounts.id, id)))
    .for(mode)
  if (!c) throw notFound('stock_count', id)
  return c
}

function assertOpen(c: StockCount, doing: string) {
  if (c.status !== 'open') throw conflict('count_not_open', `the count is ${c.status}; cannot ${doing}`, { status: c.status })
}

/**
 * Takes the snapshot of levels at a location: every level there ('all'), or the named variants (their levels are
 * created at zero when missing so they can be locked). Inserts the count lines, each with the variant's current cost.
 */
async function snapshot(tx: Tx, merchantId: string, countId: string, locationId: string, variantIds: string[] | 'all'): Promise<number> {
  const only = variantIds === 'all' ? sql`` : sql`and variant_id = any(${sql.param(variantIds)}::uuid[])`
  if (variantIds !== 'all') {
    await tx.execute(sql`
      insert into stock_levels (merchant_id, variant_id, location_id)
      select ${merchantId}, v, ${locationId}::uuid from unnest(${sql.param(variantIds)}::uuid[]) as v
      on conflict do nothing`)
  }
  await tx.execute(sql`
    select 1 from stock_levels
     where merchant_id = ${merchantId} and location_id = ${locationId} ${only}
     order by location_id, variant_id
       for share`)
  // A new statement, so its snapshot includes every checkout the locks waited for.
  const { rowCount } = await tx.execute(sql`
    insert into stock_count_lines (count_id, merchant_id, variant_id, snapshot_on_hand, snapshot_movement_id, unit_cost, cost_per)
    select ${countId}, l.merchant_id, l.variant_id, l.on_hand,
           coalesce((select max(m.id) from stock_movements m where m.location_id = l.location_id and m.variant_id = l.variant_id), 0),
           v.cost, v.price_per
      from stock_levels l join variants v on v.id = l.variant_id
     where l.merchant_id = ${merchantId} and l.location_id = ${locationId} ${variantIds === 'all' ? sql`` : sql`and l.variant_id = any(${sql.param(variantIds)}::uuid[])`}
    on conflict (count_id, variant_id) do nothing`)
  return rowCount ?? 0
}

export interface OpenCountInput {
  locationId: string
  /** The variants to count; omitted: every variant with a level at the location. */
  variantIds?: string[]
  note?: string
  at?: Date
}

export async function openCount(tx: Tx, actor: Actor, input: OpenCountInput) {
  await requireLocation(tx, actor.merchantId, input.locationId)
  const scope: StockCount['scope'] = input.variantIds ? 'some' : 'all'
  let variantIds: string[] = []
  if (input.variantIds) {
    if (input.variantIds.length === 0) throw invalid('empty_count', 'name at least one variant, or omit variantIds to count everything')
    const items = await resolveItems(
      tx,
      actor.merchantId,
      input.variantIds.map((variantId) => ({ variantId })),
    )
    variantIds = [...new Set(items.map((i) => i.variantId))].sort()
  }
  await tx.execute(sql`select pg_advisory_xact_lock(${COUNT_OPEN_LOCK_CLASS}, hashtext(${input.locationId}::uuid::text))`)
  const open = await tx
    .select({ id: stockCounts.id, scope: stockCounts.scope })
    .from(stockCounts)
    .where(and(eq(stockCounts.merchantId, actor.merchantId), eq(stockCounts.locationId, input.locationId), eq(stockCounts.status, 'open')))
  if (open.length) {
    if (scope === 'all' || open.some((o) => o.scope === 'all')) {
      throw conflict('count_in_progress', 'another count is open at this location; post or cancel it first', { countIds: open.map((o) => o.id) })
    }
    const { rows } = await tx.execute<{ variant_id: string; count_id: string }>(sql`
      select variant_id, count_id from stock_count_lines
       where count_id = any(${sql.param(open.map((o) => o.id))}::uuid[]) and variant_id = any(${sql.param(variantIds)}::uuid[])`)
    if (rows.length) {
      throw conflict('count_in_progress', 'another open count at this location covers some of these variants', {
        countIds: [...new Set(rows.map((r) => r.count_id))],
        variantIds: rows.map((r) => r.variant_id),
      })
    }
  }
  const id = newId()
  const at = input.at ?? new Date()
  const [count] = await tx
    .insert(stockCounts)
    .values({ id, merchantId: actor.merchantId, locationId: input.locationId, scope, note: input.note ?? null, startedAt: at, startedBy: actor.id })
    .returning()
  const lines = await snapshot(tx, actor.merchantId, id, input.locationId, scope === 'all' ? 'all' : variantIds)
  await recordAudit(tx, actor, { action: 'stock.count_opened', entityType: 'stock_count', entityId: id, details: { locationId: input.locationId, scope, lines } })
  return { ...count!, lineCount: lines }
}

export interface CountEntryInput {
  lines: (ItemRef & { quantity: number })[]
  at?: Date
}

/**
 * Records counted quantities; several entries of one variant add up. In a count of some variants, another variant
 * is refused; in a count of all, a variant not in it yet joins with a snapshot taken now.
 */
export async function addCountEntries(tx: Tx, actor: Actor, countId: string, input: CountEntryInput) {
  const count = await lockCount(tx, actor.merchantId, countId, 'share')
  assertOpen(count, 'enter counted quantities')
  input.lines.forEach((l, i) => {
    if (!Number.isSafeInteger(l.quantity) || l.quantity < 0) throw invalid('invalid_quantity', `quantity of line ${i + 1} must be a whole number of base units, 0 or more`, { quantity: l.quantity })
  })
  const items = await resolveItems(tx, actor.merchantId, input.lines)
  const wanted = [...new Set(items.map((i) => i.variantId))].sort()
  const { rows } = await tx.execute<{ variant_id: string }>(sql`
    select variant_id from stock_count_lines where count_id = ${countId} and variant_id = any(${sql.param(wanted)}::uuid[])`)
  const inCount = new Set(rows.map((r) => r.variant_id))
  const outside = wanted.filter((v) => !inCount.has(v))
  if (outside.length) {
    if (count.scope === 'some') {
      const skus = items.filter((i) => outside.includes(i.variantId)).map((i) => i.sku)
      throw invalid('variant_not_in_count', `not part of this count: ${[...new Set(skus)].join(', ')}`, { variantIds: outside })
    }
    await snapshot(tx, actor.merchantId, countId, count.locationId, outside)
  }
  const at = input.at ?? new Date()
  let joinedAt = at
  if (outside.length) {
    // The joining variants' snapshot was taken just now, after this entry's request began: a sale that began
    // meanwhile and committed before the snapshot is in it, so their entries are dated no earlier than the movements
    // in it (the latest few of each level are all that can be that recent). Otherwise that sale would count as after
    // the entry, and the variance would give it back. No later, though, than the time this request has taken (and
    // a second): a movement dated ahead of that (a till whose clock runs fast) does not move the entry.
    const { rows: latest } = await tx.execute<{ at: string | Date | null; elapsed: number }>(sql`
      select max(r.occurred_at) as at, (extract(epoch from clock_timestamp() - now()) * 1000)::float8 as elapsed
        from unnest(${sql.param(outside)}::uuid[]) as v(id)
        left join lateral (select m.occurred_at from stock_movements m where m.location_id = ${count.locationId} and m.variant_id = v.id order by m.id desc limit 50) r on true`)
    const inSnapshot = latest[0]?.at == null ? null : new Date(latest[0].at)
    const latestPossible = new Date(at.getTime() + Number(latest[0]!.elapsed) + 1000)
    if (inSnapshot && inSnapshot > at) joinedAt = inSnapshot < latestPossible ? inSnapshot : latestPossible
  }
  const joined = new Set(outside)
  const { rows: seen } = await tx.execute<{ variant_id: string; seen: string | null }>(sql`
    select v.id as variant_id, (select max(m.id) from stock_movements m where m.location_id = ${count.locationId} and m.variant_id = v.id) as seen
      from unnest(${sql.param(wanted)}::uuid[]) as v(id)`)
  const seenOf = new Map(seen.map((r) => [r.variant_id, r.seen === null ? null : Number(r.seen)]))
  await tx.insert(stockCountEntries).values(
    input.lines.map((l, i) => ({
      id: newId(),
      countId,
      merchantId: actor.merchantId,
      variantId: items[i]!.variantId,
      quantity: l.quantity,
      enteredBy: actor.id,
      enteredAt: joined.has(items[i]!.variantId) ? joinedAt : at,
      seenMovementId: seenOf.get(items[i]!.variantId) ?? null,
    })),
  )
  return getCount(tx, actor.merchantId, countId)
}

export interface CountLineView {
  variantId: string
  sku: string
  name: string
  /** Sum of the entries; null while the variant has not been counted. */
  counted: number | null
  entries: number
  lastEnteredAt: Date | null
}

export async function getCount(tx: Tx, merchantId: string, id: string) {
  const [count] = await tx
    .select()
    .from(stockCounts)
    .where(and(eq(stockCounts.merchantId, merchantId), eq(stockCounts.id, id)))
  if (!count) throw notFound('stock_count', id)
  const { rows } = await tx.execute<{ variant_id: string; sku: string; name: string; counted: number | null; entries: number; last_at: string | Date | null }>(sql`
    select cl.variant_id, v.sku, ${variantName} as name, e.counted, coalesce(e.entries, 0)::int as entries, e.last_at
      from stock_count_lines cl
      join variants v on v.id = cl.variant_id
      join products p on p.id = v.product_id
      left join (select variant_id, sum(quantity)::bigint as counted, count(*) as entries, max(created_at) as last_at
                   from stock_count_entries where count_id = ${id} group by variant_id) e on e.variant_id = cl.variant_id
     where cl.count_id = ${id}
     order by v.sku`)
  const lines: CountLineView[] = rows.map((r) => ({
    variantId: r.variant_id,
    sku: r.sku,
    name: r.name,
    counted: r.counted === null ? null : Number(r.counted),
    entries: Number(r.entries),
    lastEnteredAt: r.last_at === null ? null : new Date(r.last_at),
  }))
  return { ...count, lineCount: lines.length, lines }
}

export interface CountFilter {
  locationId?: string
  status?: StockCount['status']
  before?: string
  limit: number
}

export async function listCounts(tx: Tx, merchantId: string, f: CountFilter) {
  if (f.locationId) await requireLocation(tx, merchantId, f.locationId)
  const where: (SQL | undefined)[] = [
    eq(stockCounts.merchantId, merchantId),
    f.locationId ? eq(stockCounts.locationId, f.locationId) : undefined,
    f.status ? eq(stockCounts.status, f.status) : undefined,
    f.before ? lt(stockCounts.id, f.before) : undefined,
  ]
  const rows = await tx
    .select({ c: stockCounts, lineCount: sql<number>`(select count(*)::int from stock_count_lines cl where cl.count_id = ${stockCounts.id})` })
    .from(stockCounts)
    .where(and(...where))
    .orderBy(desc(stockCounts.id))
    .limit(f.limit + 1)
  const page = rows.slice(0, f.limit).map((r) => ({ ...r.c, lineCount: Number(r.lineCount) }))
  return { items: page, nextCursor: rows.length > f.limit ? page[page.length - 1]!.id : null }
}

export interface VarianceLine {
  variantId: string
  sku: string
  name: string
  snapshotOnHand: number
  /** What moved on the level after the snapshot and up to the last entry (for uncounted lines: up to now). */
  movedSinceSnapshot: number
  expected: number
  counted: number
  variance: number
  unitCost: number
  costPer: number
  /** variance × unit cost ÷ costPer, rounded half up. */
  value: number
  /**
   * What moved on the level by the time it was counted but was recorded only after the count was posted (a checkout
   * in flight, an offline upload): part of the variance, which it explains. 0 until the count is posted.
   */
  recordedLater: number
  /** variance − recordedLater: the gain or loss the ledger does not account for (shrinkage, a miscount). */
  unexplained: number
  unexplainedValue: number
  lastEnteredAt: Date | null
}

export interface VarianceReport {
  countId: string
  locationId: string
  status: StockCount['status']
  lines: VarianceLine[]
  /** Lines nobody counted, with what is expected now (posting with uncounted 'zero' writes them off). */
  uncounted: { variantId: string; sku: string; name: string; expected: number }[]
  totals: {
    quantity: { gains: number; losses: number; net: number }
    value: { gains: number; losses: number; net: number }
    /** Net of what the ledger does not account for, once movements recorded after the post are taken in. */
    unexplained: { quantity: number; value: number }
  }
}

type VarianceRow = {
  variant_id: string
  sku: string
  name: string
  snapshot_on_hand: number
  unit_cost: number
  cost_per: number
  counted: number | null
  last_at: string | Date | null
  moved: number
  later: number
}

async function varianceRows(tx: Tx, count: StockCount): Promise<VarianceRow[]> {
  // Valued at the variant's current cost while the count is open (as the stock valuation values stock), and at the
  // cost it was posted at once posted.
  const open = count.status === 'open'
  const { rows } = await tx.execute<VarianceRow>(sql`
    with e as (
      select variant_id, sum(quantity)::bigint as counted, max(created_at) as last_at, max(seen_movement_id) as seen
        from stock_count_entries where count_id = ${count.id} group by variant_id
    )
    select cl.variant_id, v.sku, ${variantName} as name, cl.snapshot_on_hand,
           ${open ? sql`v.cost as unit_cost, v.price_per as cost_per` : sql`cl.unit_cost, cl.cost_per`}, e.counted, e.last_at,
           coalesce((select sum(m.quantity) from stock_movements m
                      where m.location_id = ${count.locationId} and m.variant_id = cl.variant_id
                        and m.id > cl.snapshot_movement_id and m.id <= ${count.postedMovementId ?? Number.MAX_SAFE_INTEGER}
                        and not (m.kind = 'count' and m.cause_id = ${count.id})
                        and (e.last_at is null or m.occurred_at <= e.last_at or m.id <= e.seen)), 0)::bigint as moved,
           coalesce((select -sum(m.quantity) from stock_movements m
                      where m.location_id = ${count.locationId} and m.variant_id = cl.variant_id
                        and m.id > ${count.postedMovementId ?? Number.MAX_SAFE_INTEGER}
                        and m.kind = 'count' and m.cause_id = ${count.id} and m.reason = ${LATE_MOVEMENT_REASON}), 0)::bigint as later
      from stock_count_lines cl
      join variants v on v.id = cl.variant_id
      join products p on p.id = v.product_id
      left join e on e.variant_id = cl.variant_id
     where cl.count_id = ${count.id}
     order by v.sku`)
  return rows
}

function toVarianceLine(r: VarianceRow, counted: number): VarianceLine {
  const snapshotOnHand = Number(r.snapshot_on_hand)
  const moved = Number(r.moved)
  const expected = snapshotOnHand + moved
  const variance = counted - expected
  const recordedLater = Number(r.later)
  const unitCost = Number(r.unit_cost)
  const costPer = Number(r.cost_per)
  return {
    variantId: r.variant_id,
    sku: r.sku,
    name: r.name,
    snapshotOnHand,
    movedSinceSnapshot: moved,
    expected,
    counted,
    variance,
    unitCost,
    costPer,
    value: costValue(variance, unitCost, costPer),
    recordedLater,
    unexplained: variance - recordedLater,
    unexplainedValue: costValue(variance - recordedLater, unitCost, costPer),
    lastEnteredAt: r.last_at === null ? null : new Date(r.last_at),
  }
}

function report(count: StockCount, rows: VarianceRow[], uncounted: 'ignore' | 'zero'): VarianceReport {
  const lines = rows.filter((r) => r.counted !== null || uncounted === 'zero').map((r) => toVarianceLine(r, r.counted === null ? 0 : Number(r.counted)))
  const left = uncounted === 'zero' ? [] : rows.filter((r) => r.counted === null)
  const gains = lines.filter((l) => l.variance > 0)
  const losses = lines.filter((l) => l.variance < 0)
  return {
    countId: count.id,
    locationId: count.locationId,
    status: count.status,
    lines,
    uncounted: left.map((r) => ({ variantId: r.variant_id, sku: r.sku, name: r.name, expected: Number(r.snapshot_on_hand) + Number(r.moved) })),
    totals: {
      quantity: { gains: sum(gains.map((l) => l.variance)), losses: sum(losses.map((l) => l.variance)), net: sum(lines.map((l) => l.variance)) },
      value: { gains: sum(gains.map((l) => l.value)), losses: sum(losses.map((l) => l.value)), net: sum(lines.map((l) => l.value)) },
      unexplained: { quantity: sum(lines.map((l) => l.unexplained)), value: sum(lines.map((l) => l.unexplainedValue)) },
    },
  }
}

export async function countVariance(tx: Tx, merchantId: string, id: string): Promise<VarianceReport> {
  const [count] = await tx
    .select()
    .from(stockCounts)
    .where(and(eq(stockCounts.merchantId, merchantId), eq(stockCounts.id, id)))
  if (!count) throw notFound('stock_count', id)
  return report(count, await varianceRows(tx, count), count.uncounted ?? 'ignore')
}

/**
 * Posts the count: one 'count' movement per non-zero variance (a count states the truth, so the negative-stock
 * policy does not apply). Uncounted lines are left alone ('ignore') or written down to zero ('zero').
 */
export async function postCount(tx: Tx, actor: Actor, id: string, input: { uncounted?: 'ignore' | 'zero'; at?: Date } = {}) {
  const count = await lockCount(tx, actor.merchantId, id, 'update')
  assertOpen(count, 'post it')
  const at = input.at ?? new Date()
  // Wait for checkouts in flight on these levels, so the variance reads a settled ledger.
  await tx.execute(sql`
    select 1 from stock_levels l
     where l.merchant_id = ${actor.merchantId} and l.location_id = ${count.locationId}
       and l.variant_id in (select variant_id from stock_count_lines where count_id = ${id})
     order by l.location_id, l.variant_id
       for update`)
  const { rows: last } = await tx.execute<{ id: number }>(sql`select coalesce(max(id), 0)::bigint as id from stock_movements`)
  const postedMovementId = Number(last[0]!.id)
  const rows = await varianceRows(tx, count)
  // The cost the variance is posted at stays with the count's lines, so its report stays what was posted.
  await tx.execute(sql`
    update stock_count_lines cl set unit_cost = x.cost, cost_per = x.per
      from jsonb_to_recordset(${JSON.stringify(rows.map((r) => ({ v: r.variant_id, cost: Number(r.unit_cost), per: Number(r.cost_per) })))}::jsonb) as x(v uuid, cost bigint, per int)
     where cl.count_id = ${id} and cl.variant_id = x.v`)
  const rep = report(count, rows, input.uncounted ?? 'ignore')
  const changes = rep.lines.filter((l) => l.variance !== 0)
  const applied = await applyMovements(
    tx,
    actor,
    changes.map((l) => ({
      variantId: l.variantId,
      locationId: count.locationId,
      quantity: l.variance,
      kind: 'count' as const,
      causeType: 'count' as const,
      causeId: id,
      reason: 'count',
      unitCost: l.unitCost,
      costPer: l.costPer,
      occurredAt: at,
    })),
    { policy: 'allow' },
  )
  // A shelf found short of what online orders hold: those orders are flagged, as an offline sale taking them does.
  if (applied.holdsTaken.length) await flagOrdersLosingCover(tx, actor.merchantId, applied.holdsTaken, at)
  // What the count saw stands for every level it posted (a variance of zero too): a movement of one of them that
  // happened by then but is recorded after this post was already in the count (see applyMovements).
  const seen = rep.lines.map((l) => ({ v: l.variantId, t: (l.lastEnteredAt && l.lastEnteredAt < at ? l.lastEnteredAt : at).toISOString() }))
  if (seen.length) {
    await tx.execute(sql`
      update stock_levels l set counted_through = x.t, counted_by = ${id}
        from jsonb_to_recordset(${JSON.stringify(seen)}::jsonb) as x(v uuid, t timestamptz)
       where l.merchant_id = ${actor.merchantId} and l.location_id = ${count.locationId} and l.variant_id = x.v
         and (l.counted_through is null or l.counted_through < x.t)`)
  }
  const [posted] = await tx
    .update(stockCounts)
    .set({ status: 'posted', postedAt: at, postedBy: actor.id, postedMovementId, uncounted: input.uncounted ?? 'ignore' })
    .where(eq(stockCounts.id, id))
    .returning()
  await recordAudit(tx, actor, {
    action: 'stock.count_posted',
    entityType: 'stock_count',
    entityId: id,
    details: {
      locationId: count.locationId,
      uncounted: input.uncounted ?? 'ignore',
      totals: rep.totals,
      lines: changes.map((l) => ({ variantId: l.variantId, sku: l.sku, expected: l.expected, counted: l.counted, variance: l.variance, value: l.value })),
    },
  })
  return { count: posted!, report: { ...rep, status: posted!.status }, movementIds: applied.movementIds }
}

export async function cancelCount(tx: Tx, actor: Actor, id: string) {
  const count = await lockCount(tx, actor.merchantId, id, 'update')
  assertOpen(count, 'cancel it')
  const [cancelled] = await tx.update(stockCounts).set({ status: 'cancelled' }).where(eq(stockCounts.id, id)).returning()
  await recordAudit(tx, actor, { action: 'stock.count_cancelled', entityType: 'stock_count', entityId: id, details: { locationId: count.locationId } })
  return cancelled!
}
