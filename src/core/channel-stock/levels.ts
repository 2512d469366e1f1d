// The sync state of channel levels: what each should hold (its target, from our available stock and the rules),
// what the marketplace holds, and the outcome of pushes, reads and vendor events. The push job asks for the dirty
// levels, writes what differs, and reports back here; a level is clean again only if no change came meanwhile.
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { enqueue } from '../../db/enqueue.ts'
import { redactText } from '../../lib/redact.ts'
import { channelQuantity, type ChannelRule } from './allocation.ts'
import type { ChannelRef } from './listings.ts'
import { channelDrift, channelLevels } from './schema.ts'

export const PUSH_TASK = 'stock.push'

/**
 * Queues the channel's push job (the same job the stock trigger queues), coalesced with one already waiting, which
 * keeps its time; `replace` moves it to `runAt` (now when not given).
 */
export async function queueChannelPush(tx: Tx, ref: ChannelRef, runAt?: Date, mode: 'preserve_run_at' | 'replace' = 'preserve_run_at'): Promise<void> {
  await enqueue(tx, PUSH_TASK, { merchantId: ref.merchantId, connectionId: ref.connectionId }, {
    jobKey: `${PUSH_TASK}:${ref.connectionId}`,
    jobKeyMode: mode,
    queueName: `stock-push:${ref.connectionId}`,
    maxAttempts: 25,
    runAt,
  })
}

/**
 * Takes the stock changes noted for the channel (by the trigger on events) into its levels' dirty marks. Run by the
 * push job, which is the channel's only consumer of them.
 */
export async function absorbChanges(tx: Tx, connectionId: string): Promise<number> {
  const { rows } = await tx.execute<{ n: number }>(sql`
    with taken as (
      delete from channel_stock_changes where connection_id = ${connectionId} returning variant_id, changed_at
    ), marked as (
      update channel_levels l
         set dirty_since = coalesce(l.dirty_since, x.first), change_seq = l.change_seq + 1
        from (select variant_id, min(changed_at) as first from taken group by variant_id) x
       where l.connection_id = ${connectionId} and l.variant_id = x.variant_id
      returning 1
    )
    select count(*)::int as n from marked`)
  return rows[0]!.n
}

export interface LevelState {
  levelId: string
  listingId: string
  variantId: string
  sku: string
  externalId: string
  externalIds: Record<string, string>
  remoteLocationId: string
  available: number
  target: number
  lastRemote: number | null
  lastPushed: number | null
  changeSeq: number
  dirtySince: Date | null
}

type Row = {
  level_id: string
  listing_id: string
  variant_id: string
  sku: string
  external_id: string
  external_ids: Record<string, string>
  remote_location_id: string
  available: string
  last_remote: string | null
  last_pushed: string | null
  change_seq: string
  dirty_since: string | null
  percent: number
  buffer: number
  maximum: number | null
  zero_at_or_below: number | null
  fixed: number | null
}

const num = (v: string | null) => (v === null ? null : Number(v))

/** Levels of the channel with their targets computed now: the dirty ones oldest first, or the ones named. */
export async function levelStates(tx: Tx, connectionId: string, which: { dirty: true; limit: number; exclude?: string[] } | { levelIds: string[] } | { variantIds: string[] }): Promise<LevelState[]> {
  let where: SQL
  let tail = sql``
  if ('dirty' in which) {
    where = which.exclude?.length ? sql`l.dirty_since is not null and l.id <> all(${sql.param(which.exclude)}::uuid[])` : sql`l.dirty_since is not null`
    tail = sql`order by l.dirty_since, l.id limit ${which.limit}`
  } else if ('levelIds' in which) where = sql`l.id = any(${sql.param(which.levelIds)}::uuid[])`
  else where = sql`l.variant_id = any(${sql.param(which.variantIds)}::uuid[])`
  const { rows } = await tx.execute<Row>(sql`
    select l.id as level_id, l.listing_id, l.variant_id, v.sku, li.external_id, li.external_ids, l.remote_location_id,
           -- The pool's units less every reservation on them: a store holding more for orders than it has left takes
           -- its shortfall off the others' units (the order is one claim on the pool); a store below zero has none.
           -- Nothing of a product archived or a variant off the shelf: it is not for sale (the listing stays bound).
           case when p.status = 'archived' or not v.on_shelf then 0
                else greatest(coalesce((select sum(greatest(s.on_hand, 0) - s.reserved) from stock_levels s
                                         where s.variant_id = l.variant_id and s.location_id = any(m.location_ids)), 0), 0)
           end::text as available,
           l.last_remote::text, l.last_pushed::text, l.change_seq::text, l.dirty_since::text,
           coalesce(rv.percent, rd.percent, 100) as percent, coalesce(rv.buffer, rd.buffer, 0) as buffer,
           case when rv.id is not null then rv.maximum else rd.maximum end as maximum,
           case when rv.id is not null then rv.zero_at_or_below else rd.zero_at_or_below end as zero_at_or_below,
           case when rv.id is not null then rv.fixed else rd.fixed end as fixed
      from channel_levels l
      join channel_listings li on li.id = l.listing_id
      join variants v on v.id = l.variant_id
      join products p on p.id = v.product_id
      join channel_locations m on m.connection_id = l.connection_id and m.remote_location_id = l.remote_location_id
      left join channel_rules rv on rv.connection_id = l.connection_id and rv.variant_id = l.variant_id
      left join channel_rules rd on rd.connection_id = l.connection_id and rd.variant_id is null
     where l.connection_id = ${connectionId} and ${where}
     ${tail}`)
  return rows.map((r) => {
    const rule: ChannelRule = { percent: r.percent, buffer: r.buffer, maximum: r.maximum, zeroAtOrBelow: r.zero_at_or_below, fixed: r.fixed }
    const available = Number(r.available)
    return {
      levelId: r.level_id,
      listingId: r.listing_id,
      variantId: r.variant_id,
      sku: r.sku,
      externalId: r.external_id,
      externalIds: r.external_ids,
      remoteLocationId: r.remote_location_id,
      available,
      target: channelQuantity(available, rule),
      lastRemote: num(r.last_remote),
      lastPushed: num(r.last_pushed),
      changeSeq: Number(r.change_seq),
      dirtySince: r.dirty_since === null ? null : new Date(r.dirty_since),
    }
  })
}

/** What a push of one level came to (a marketplace connector's write result, as the core sees it). */
export type PushOutcome =
  | { status: 'ok'; quantity: number }
  | { status: 'unchanged' }
  | { status: 'stale'; actual: number | null }
  | { status: 'not_applied' }
  | { status: 'failed'; code: string; message: string; retryable: boolean }

/**
 * Records the outcome of pushing (or deciding not to push) each level, read at `changeSeq`. A level stays dirty
 * when it changed meanwhile, went stale, or failed in a way worth retrying.
 */
export async function recordPushOutcomes(tx: Tx, items: { level: LevelState; outcome: PushOutcome }[], at: Date): Promise<void> {
  if (items.length === 0) return
  const rows = items.map(({ level, outcome }) => ({
    id: level.levelId,
    seq: level.changeSeq,
    target: level.target,
    kind: outcome.status,
    quantity: outcome.status === 'ok' ? outcome.quantity : null,
    actual: outcome.status === 'stale' ? outcome.actual : null,
    error: outcome.status === 'failed' ? redactText(`${outcome.code}: ${outcome.message}`).slice(0, 2000) : null,
    keep: outcome.status === 'stale' || outcome.status === 'not_applied' || (outcome.status === 'failed' && outcome.retryable),
  }))
  await tx.execute(sql`
    update channel_levels l set
      target = x.target,
      last_pushed = case when x.kind = 'ok' then x.quantity else l.last_pushed end,
      last_pushed_at = case when x.kind = 'ok' then ${at} else l.last_pushed_at end,
      last_remote = case when x.kind = 'ok' then x.quantity when x.kind = 'stale' then coalesce(x.actual, l.last_remote) else l.last_remote end,
      last_remote_at = case when x.kind = 'ok' or (x.kind = 'stale' and x.actual is not null) then ${at} else l.last_remote_at end,
      status = case when x.kind in ('ok', 'unchanged') then 'ok' when x.kind = 'failed' then 'error' else l.status end,
      last_error = case when x.kind in ('ok', 'unchanged') then null when x.kind = 'failed' then x.error else l.last_error end,
      dirty_since = case when x.keep or l.change_seq <> x.seq then l.dirty_since else null end,
      updated_at = ${at}
    from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id uuid, seq bigint, target bigint, kind text, quantity bigint, actual bigint, error text, keep boolean)
    where l.id = x.id`)
  const repaired = items.filter((i) => i.outcome.status === 'ok' || i.outcome.status === 'unchanged').map((i) => i.level.levelId)
  if (repaired.length) await tx.update(channelDrift).set({ repaired: true }).where(and(inArray(channelDrift.levelId, repaired), eq(channelDrift.repaired, false)))
}

/**
 * Every level of the channel waiting for a push shows why none could go: the marketplace refused the whole call
 * (credentials, an outage). They stay waiting; the next push that goes through clears it.
 */
export async function recordPushRefused(tx: Tx, connectionId: string, reason: string, at: Date): Promise<void> {
  await tx
    .update(channelLevels)
    .set({ status: 'error', lastError: redactText(reason).slice(0, 2000), updatedAt: at })
    .where(and(eq(channelLevels.connectionId, connectionId), sql`${channelLevels.dirtySince} is not null`))
}

export interface RemoteReading {
  /** The listing's externalId and the remote location. */
  externalId: string
  remoteLocationId: string
  available: number
  /**
   * When the marketplace held this value, by its clock, where it says so precisely (a Shopify event): an event older
   * than what we already know of the level is not taken for its current value.
   */
  at?: Date | null
}

/**
 * How much older than our last write or reading of a level an event may be and still be taken as possibly newer: the
 * marketplace's clock and ours differ a little, and our write is recorded a moment after the marketplace made it.
 * Within it, the value is not trusted either way (see recordReadings).
 */
export const EVENT_CLOCK_SLACK_MS = 5_000

export interface ReadingSummary {
  /** Levels whose reading matched what we last pushed (our own write coming back). */
  echoes: number
  /** Levels the marketplace changed on its side: marked for a push of the target. */
  changed: number
  /** Levels an audit found different from their target (recorded as drift, marked for a push). */
  drift: number
  /** Events older than what we already knew of the level (delivered late): their value is not taken. */
  older: number
  unknown: number
}

/**
 * Records what the marketplace holds. From a vendor event: a value equal to what we last pushed is our own write
 * echoing back and changes nothing; another value is a change made there, and the level is pushed again. An event
 * that says when (`at`) and is older than what we already know of the level (our last write or reading of it, or a
 * newer event: `last_remote_at`) is a late delivery: its value does not stand for what the marketplace holds now, and
 * taking it would hide a newer change, or make the push find nothing to write (see EVENT_CLOCK_SLACK_MS). From an
 * audit: a value different from the target is drift, reported per SKU and repaired by the next push.
 */
export async function recordReadings(tx: Tx, ref: ChannelRef, readings: RemoteReading[], at: Date, source: 'event' | 'audit' | 'reread', runId?: string): Promise<ReadingSummary> {
  const summary: ReadingSummary = { echoes: 0, changed: 0, drift: 0, older: 0, unknown: 0 }
  if (readings.length === 0) return summary
  const { rows } = await tx.execute<{ id: string; external_id: string; remote_location_id: string; last_pushed: string | null; last_remote: string | null; last_remote_at: string | null }>(sql`
    select l.id, li.external_id, l.remote_location_id, l.last_pushed::text, l.last_remote::text, l.last_remote_at::text
      from channel_levels l join channel_listings li on li.id = l.listing_id
      join unnest(${sql.param(readings.map((r) => r.externalId))}::text[], ${sql.param(readings.map((r) => r.remoteLocationId))}::text[]) as k(external_id, remote_location_id)
        on li.external_id = k.external_id and l.remote_location_id = k.remote_location_id
     where l.connection_id = ${ref.connectionId} and li.connection_id = ${ref.connectionId}
     for update of l`)
  const byKey = new Map(rows.map((r) => [`${r.external_id}\n${r.remote_location_id}`, r]))
  const targets = source === 'audit' ? new Map((await levelStates(tx, ref.connectionId, { levelIds: rows.map((r) => r.id) })).map((s) => [s.levelId, s])) : new Map<string, LevelState>()
  const updates: { id: string; remote: number | null; dirty: boolean; status: string | null; at: string | null }[] = []
  const drift: (typeof channelDrift.$inferInsert)[] = []
  for (const r of readings) {
    const row = byKey.get(`${r.externalId}\n${r.remoteLocationId}`)
    if (!row) {
      summary.unknown++
      continue
    }
    const lastPushed = num(row.last_pushed)
    if (source === 'event') {
      const echo = lastPushed !== null && r.available === lastPushed && num(row.last_remote) === lastPushed
      const when = r.at && !Number.isNaN(r.at.getTime()) ? r.at : null
      const known = row.last_remote_at === null ? null : new Date(row.last_remote_at)
      const behind = when && known ? known.getTime() - when.getTime() : null
      if (behind !== null && behind > EVENT_CLOCK_SLACK_MS) {
        // Older than what we know: a late delivery (an earlier change, or the echo of an earlier write of ours).
        summary.older++
      } else if (behind !== null && behind > 0 && num(row.last_remote) === r.available) {
        // A little older, and what we believe already: nothing to learn from it.
        summary.older++
      } else if (behind !== null && behind > 0 && !echo) {
        // A little older than our last write or reading: it may be a change made just before it, or just after it
        // (two clocks). The belief is forgotten, so the push sends our figure whatever the marketplace shows.
        summary.changed++
        updates.push({ id: row.id, remote: null, dirty: true, status: null, at: when!.toISOString() })
      } else if (echo) {
        summary.echoes++
        updates.push({ id: row.id, remote: r.available, dirty: false, status: null, at: when?.toISOString() ?? null })
      } else {
        summary.changed++
        updates.push({ id: row.id, remote: r.available, dirty: true, status: null, at: when?.toISOString() ?? null })
      }
    } else if (source === 'audit') {
      const state = targets.get(row.id)!
      if (r.available !== state.target) {
        summary.drift++
        drift.push({ merchantId: ref.merchantId, connectionId: ref.connectionId, runId: runId ?? null, levelId: row.id, sku: state.sku, remoteLocationId: r.remoteLocationId, lastPushed, remote: r.available, target: state.target, foundAt: at })
        updates.push({ id: row.id, remote: r.available, dirty: true, status: 'drift', at: null })
      } else updates.push({ id: row.id, remote: r.available, dirty: false, status: null, at: null })
    } else updates.push({ id: row.id, remote: r.available, dirty: false, status: null, at: null })
  }
  if (updates.length) {
    // An event that says when is known as of then (never earlier than what was known); anything else as of now.
    await tx.execute(sql`
      update channel_levels l set
        last_remote = x.remote,
        last_remote_at = case when x.at is null then ${at} else greatest(l.last_remote_at, x.at) end,
        status = coalesce(x.status, l.status),
        dirty_since = case when x.dirty then coalesce(l.dirty_since, ${at}) else l.dirty_since end,
        change_seq = case when x.dirty then l.change_seq + 1 else l.change_seq end,
        updated_at = ${at}
      from jsonb_to_recordset(${JSON.stringify(updates)}::jsonb) as x(id uuid, remote bigint, dirty boolean, status text, at timestamptz)
      where l.id = x.id`)
  }
  if (drift.length) await tx.insert(channelDrift).values(drift)
  if (updates.some((u) => u.dirty)) await queueChannelPush(tx, ref)
  return summary
}

/** A variant's levels on a channel: at one remote location, or at all of them (null). */
const levelsOfVariant = (connectionId: string, variantId: string, remoteLocationId: string | null) =>
  and(
    eq(channelLevels.connectionId, connectionId),
    eq(channelLevels.variantId, variantId),
    remoteLocationId === null ? undefined : eq(channelLevels.remoteLocationId, remoteLocationId),
  )

/**
 * Forgets what we believe the marketplace holds of a variant, so the next push sends it our figure whatever it shows:
 * after a cancellation, which a marketplace may or may not have restocked on its side (Shopify cancels without
 * restocking when told so, WooCommerce does not restock a trashed or deleted order). With `repush`, the levels are
 * also marked for that push and it is queued, for when our own stock did not change (and so marks nothing).
 */
export async function forgetBelievedRemote(
  tx: Tx,
  connectionId: string,
  variantId: string,
  remoteLocationId: string | null,
  repush?: { ref: ChannelRef; at: Date },
): Promise<void> {
  const marks = repush ? { dirtySince: sql`coalesce(${channelLevels.dirtySince}, ${repush.at})`, changeSeq: sql`${channelLevels.changeSeq} + 1` } : {}
  const forgotten = await tx
    .update(channelLevels)
    .set({ lastRemote: null, ...marks })
    .where(levelsOfVariant(connectionId, variantId, remoteLocationId))
    .returning({ id: channelLevels.id })
  if (repush && forgotten.length) await queueChannelPush(tx, repush.ref)
}

/**
 * Marketplace stamps against our clock: stamps to the second, and two clocks a little apart. An order placed within
 * this of our last write or reading of a level may or may not be in it.
 */
const SAME_MOMENT_MS = 5_000

/**
 * What we believe the marketplace holds, after an order placed there took `quantity` off its own stock. Taken off
 * only when the order was placed after our last write or reading of the level: an order placed before is already in
 * the figure we read, or was overwritten by the figure we wrote. Taking it off again would put the belief below what
 * the marketplace shows, and the push that should correct it would find nothing to send. When it cannot be told
 * (placed about then, or its time unknown), the belief is forgotten, so the next push sends our figure. So it is too
 * when the order does not say which remote location it took the units from (`remoteLocationId` null: a Shopify
 * online order) and the variant is at more than one: taken off at each, the belief would sit below what the
 * locations the marketplace did not take from show, and they would never be pushed our figure again.
 */
export async function takeOrderOffBelievedRemote(tx: Tx, connectionId: string, variantId: string, remoteLocationId: string | null, quantity: number, placedAt: Date | null): Promise<void> {
  const where = and(levelsOfVariant(connectionId, variantId, remoteLocationId), sql`${channelLevels.lastRemote} is not null`)
  if (remoteLocationId === null) {
    const { rows } = await tx.execute<{ n: number }>(sql`
      select count(distinct remote_location_id)::int as n from channel_levels where connection_id = ${connectionId} and variant_id = ${variantId}`)
    if (rows[0]!.n > 1) {
      await tx.update(channelLevels).set({ lastRemote: null }).where(where)
      return
    }
  }
  const after = placedAt && !Number.isNaN(placedAt.getTime()) ? new Date(placedAt.getTime() - SAME_MOMENT_MS).toISOString() : null
  await tx
    .update(channelLevels)
    .set({
      lastRemote: sql`case when ${after}::timestamptz > ${channelLevels.lastRemoteAt} then greatest(0, ${channelLevels.lastRemote} - ${quantity}) end`,
    })
    .where(where)
}
