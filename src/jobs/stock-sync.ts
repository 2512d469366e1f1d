// Stock sync jobs: the glue between the channel-stock core and the marketplace connectors.
//
// - `stock.push` (queued by a stock change in its own transaction, one per connection, coalesced): writes the dirty
//   levels whose target differs from what the marketplace holds, in the vendor's batch size, with compare-and-set
//   where the vendor has it; a stale value is read again and retried; what changed meanwhile stays dirty.
// - `stock.listings` reads every listing with its levels, binds what it can, and — as the audit — reports and
//   repairs drift, polling orders after reading each page and before comparing it (an order not seen yet is no
//   drift); listings gone from the marketplace are marked so after a complete pass only (and, where the pass pages
//   a list that can shift under it, only once the marketplace confirms it no longer has them).
// - `stock.poll-orders` reads orders modified since the checkpoint minus a lookback (webhooks get lost; Woo never
//   retries them) and applies them; `stock.fetch-order` reads one order a webhook only hinted at.
// - `stock.recover` re-asserts webhook subscriptions, polls and audits; `stock.schedule` polls every 5 minutes and
//   audits nightly at 02:00 in the merchant's time zone.
import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm'
import { z } from 'zod'
import { loadConnection, recordCheck, type LoadedConnection } from '../connectors/framework/connections.ts'
import { connectorContext } from '../connectors/framework/context.ts'
import { ConnectorError } from '../connectors/framework/http-types.ts'
import { traitsOf, type MarketplaceCapabilities, type MarketplaceTraits, type RemoteOrder, type StockWrite } from '../connectors/framework/marketplace.ts'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import { connections } from '../connectors/framework/schema.ts'
import { commitBatch, getCheckpoint, withSyncRun } from '../connectors/framework/sync-state.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { absorbChanges, levelStates, PUSH_TASK, queueChannelPush, recordPushOutcomes, recordPushRefused, recordReadings, type LevelState, type PushOutcome } from '../core/channel-stock/levels.ts'
import { bindFreedListings, ensureLevels, importListings, type ChannelRef } from '../core/channel-stock/listings.ts'
import { applyChannelOrder, cancelVanishedChannelOrder } from '../core/channel-stock/orders.ts'
import { channelLevels, channelListings } from '../core/channel-stock/schema.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { systemActor } from '../core/staff/actor.ts'
import { enqueue } from '../db/enqueue.ts'
import type { Tx } from '../db/client.ts'
import { nameUuid } from '../lib/ids.ts'
import { isDomainError } from '../lib/errors.ts'
import { businessDate, localInstant } from '../lib/time.ts'
import type { Hub } from '../runtime.ts'
import type { InboundHandler, InboundHandlerContext } from './inbound-handlers.ts'
import { defineTask, type CronDefinition } from './task.ts'
import { advanceMark, markOf } from './daily-marks.ts'
import { trackProgress } from './progress.ts'

/** Orders are read again from this long before the checkpoint: late writes on the vendor's side are not missed. */
export const ORDER_LOOKBACK_MS = 10 * 60_000
/** A first poll reaches back this far. */
export const FIRST_POLL_MS = 24 * 60 * 60_000
/** Rounds a level may go back unapplied within one push job (its compare-and-set stale, or refused with one that was). */
export const STALE_RETRIES = 3
/** A push that could not finish (vendor down, rate limited) comes back after this long. */
export const PUSH_RETRY_MS = 30_000
/**
 * A push the marketplace refused outright (our credentials, or the call itself) comes back after this long: only a
 * person can mend it, and new credentials push at once (stock.recover).
 */
export const REFUSED_RETRY_MS = 60 * 60_000
/** The nightly audit's local time in the merchant's time zone. */
export const AUDIT_AT = '02:00'
/** How often stock.schedule runs: the nightly recovery is queued by the run in the 5 minutes from its time. */
const SCHEDULE_EVERY_MS = 5 * 60_000

export interface Options {
  registry?: ConnectorRegistry
  signal?: AbortSignal
}

interface Marketplace {
  loaded: LoadedConnection
  caps: MarketplaceCapabilities<any>
  traits: MarketplaceTraits
  ref: ChannelRef
}

async function openMarketplace(hub: Hub, ref: ChannelRef, opts: Options): Promise<Marketplace | null> {
  let loaded: LoadedConnection
  try {
    loaded = await loadConnection(hub.database.db, opts.registry ?? connectorRegistry, hub.secrets, ref.connectionId, ref.merchantId)
  } catch (e) {
    // A deleted connection stops working at once, as a disabled one does: its queued jobs end quietly.
    if (isDomainError(e) && e.code === 'connection_not_found') return null
    throw e
  }
  if (loaded.connector.family !== 'marketplace') return null
  if (!loaded.row.enabled) return null
  const caps = loaded.connector.capabilities as MarketplaceCapabilities<any>
  return { loaded, caps, traits: traitsOf(caps, loaded.config), ref }
}

const ctxOf = (hub: Hub, m: Marketplace, opts: Options) => connectorContext(hub, m.loaded, opts.signal)

/** Stable for one state of one level: a retried job sends the same key, a newer change a new one. */
export function writeKey(connectionId: string, level: Pick<LevelState, 'levelId' | 'changeSeq' | 'target'>): string {
  return nameUuid(`stock-push:${connectionId}:${level.levelId}:${level.changeSeq}:${level.target}`)
}

export interface PushSummary {
  pushed: number
  unchanged: number
  stale: number
  failed: number
  /** Levels left dirty for a later push (vendor unavailable, stale too often, changed meanwhile). */
  deferred: number
  calls: number
}

/** Pushes every dirty level of a marketplace connection. */
export async function pushChannel(hub: Hub, ref: ChannelRef, opts: Options = {}): Promise<PushSummary> {
  const summary: PushSummary = { pushed: 0, unchanged: 0, stale: 0, failed: 0, deferred: 0, calls: 0 }
  const m = await openMarketplace(hub, ref, opts)
  if (!m) return summary
  const ctx = ctxOf(hub, m, opts)
  const db = hub.database.db
  /** Rounds each level went back unapplied (stale, or refused with a stale one): bounded by STALE_RETRIES. */
  const tries = new Map<string, number>()
  const skip = new Set<string>()
  let unavailable: ConnectorError | null = null

  for (let round = 0; round < 1000 && !unavailable; round++) {
    const levels = await db.transaction(async (tx) => {
      // Changes are taken in once, at the start: what comes during this push waits (briefly, coalescing) for the
      // next job, which the change itself queued. Later rounds finish big batches and stale retries.
      if (round === 0) await absorbChanges(tx, ref.connectionId)
      return levelStates(tx, ref.connectionId, { dirty: true, limit: m.traits.maxBatch * 4, exclude: [...skip] })
    })
    if (levels.length === 0) break
    const unchanged = levels.filter((l) => l.lastRemote !== null && l.target === l.lastRemote)
    const toWrite = levels.filter((l) => !(l.lastRemote !== null && l.target === l.lastRemote))
    const outcomes: { level: LevelState; outcome: PushOutcome }[] = unchanged.map((level) => ({ level, outcome: { status: 'unchanged' } }))
    summary.unchanged += unchanged.length
    const stale: LevelState[] = []
    for (let i = 0; i < toWrite.length && !unavailable; i += m.traits.maxBatch) {
      const chunk = toWrite.slice(i, i + m.traits.maxBatch)
      const writes: StockWrite[] = chunk.map((l) => ({
        externalId: l.externalId,
        externalIds: l.externalIds,
        locationId: l.remoteLocationId,
        quantity: l.target,
        expected: l.lastRemote,
        idempotencyKey: writeKey(ref.connectionId, l),
        reference: `gid://tillbridge/StockLevel/${l.levelId}?seq=${l.changeSeq}`,
      }))
      try {
        summary.calls++
        const results = await m.caps.setLevels(ctx, { writes })
        chunk.forEach((level, k) => {
          const r = results[k] ?? { status: 'failed', code: 'NO_RESULT', message: 'the connector returned no result for this write', retryable: true }
          outcomes.push({ level, outcome: r })
          if (r.status === 'ok') summary.pushed++
          else if (r.status === 'stale' || r.status === 'not_applied') {
            // A stale level is read again below; one refused only with it goes again as it is, in the next round.
            if (r.status === 'stale') {
              summary.stale++
              stale.push(level)
            }
            const n = (tries.get(level.levelId) ?? 0) + 1
            tries.set(level.levelId, n)
            if (n >= STALE_RETRIES) skip.add(level.levelId)
          } else {
            summary.failed++
            if (r.retryable) skip.add(level.levelId)
          }
        })
      } catch (e) {
        if (!(e instanceof ConnectorError)) throw e
        // The vendor is unavailable, limits us, or refuses the credentials: these levels stay dirty for later.
        unavailable = e
        for (const level of chunk) skip.add(level.levelId)
        if (e.kind !== 'rate_limited' && e.kind !== 'circuit_open') {
          for (const level of chunk) outcomes.push({ level, outcome: { status: 'failed', code: e.kind, message: e.message, retryable: true } })
        }
      }
    }
    await db.transaction((tx) => recordPushOutcomes(tx, outcomes, hub.clock()))
    if (stale.length && !unavailable) {
      // Compare-and-set lost: read what the marketplace holds now; the next round recomputes and retries.
      const byLocation = new Map<string, LevelState[]>()
      for (const l of stale) byLocation.set(l.remoteLocationId, [...(byLocation.get(l.remoteLocationId) ?? []), l])
      for (const [locationId, group] of byLocation) {
        try {
          summary.calls++
          const read = await m.caps.readLevels(ctx, { listings: group.map((l) => ({ externalId: l.externalId, externalIds: l.externalIds })), locationId })
          await db.transaction((tx) => recordReadings(tx, ref, read.map((r) => ({ externalId: r.externalId, remoteLocationId: r.locationId, available: r.available })), hub.clock(), 'reread'))
        } catch (e) {
          if (!(e instanceof ConnectorError)) throw e
          unavailable = e
        }
      }
    }
  }
  summary.deferred = skip.size
  const failure = unavailable as ConnectorError | null
  const refused = failure?.kind === 'auth_failed' || failure?.kind === 'permanent'
  if (failure && (refused || failure.kind === 'retryable')) {
    // Each waiting SKU says why (a limit or an open circuit is only a wait: they stay pending).
    await db.transaction(async (tx) => {
      await recordPushRefused(tx, ref.connectionId, `${failure.kind}: ${failure.message}`, hub.clock())
      if (failure.kind === 'auth_failed') {
        await recordCheck(tx, ref.connectionId, { ok: false, message: failure.message, details: { source: PUSH_TASK, kind: failure.kind, status: failure.status ?? null } }, hub.clock())
      }
    })
  }
  if (skip.size > 0 || unavailable) {
    const wait = refused ? REFUSED_RETRY_MS : Math.max(PUSH_RETRY_MS, failure?.retryAfterMs ?? 0)
    await db.transaction((tx) => queueChannelPush(tx, ref, new Date(Date.now() + wait)))
    hub.logger.warn({ connectionId: ref.connectionId, deferred: skip.size, error: unavailable?.message, kind: unavailable?.kind }, 'stock push deferred')
  }
  return summary
}

export interface ListingSyncSummary {
  listings: number
  bound: number
  unmapped: number
  ambiguous: number
  untracked: number
  gone: number
  drift: number
  pages: number
  /** Orders the audit polled before comparing the shop's figures, and applied. */
  ordersApplied: number
}

/** Reads every listing (with levels), binds, records what the marketplace holds; as an audit, reports drift. */
export async function syncListings(hub: Hub, ref: ChannelRef, mode: 'import' | 'audit', opts: Options & { jobId?: string } = {}): Promise<ListingSyncSummary | null> {
  const m = await openMarketplace(hub, ref, opts)
  if (!m) return null
  const ctx = ctxOf(hub, m, opts)
  const db = hub.database.db
  const started = hub.clock()
  const summary: ListingSyncSummary = { listings: 0, bound: 0, unmapped: 0, ambiguous: 0, untracked: 0, gone: 0, drift: 0, pages: 0, ordersApplied: 0 }
  // Listings read, for the dashboard's jobs page; the total is what the last pass found (the marketplace gives none).
  const [known] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(channelListings)
    .where(and(eq(channelListings.connectionId, ref.connectionId), sql`${channelListings.state} <> 'gone'`))
  const expected = known?.n || null
  const progressRef = {
    merchantId: ref.merchantId,
    task: 'stock.listings',
    key: ref.connectionId,
    label: `${m.loaded.row.name} ${mode === 'audit' ? 'stock audit' : 'listings import'}`,
    unit: 'listings',
    jobId: opts.jobId ?? null,
  }
  let read = 0
  const progress = await trackProgress(db, progressRef, { total: expected, warn: (err) => hub.logger.warn({ err }, 'job progress not recorded') })
  const result = await withSyncRun(db, { ...ref, stream: mode === 'audit' ? 'audit' : 'listings', jobId: opts.jobId ?? null, secretValues: m.loaded.secretValues }, hub.clock, async (run) => {
    let cursor: string | null = null
    do {
      const page = await m.caps.listListings(ctx, { cursor })
      summary.pages++
      // The shop's figures take in every order placed there until they were read, some of which we may not have seen
      // (a webhook lost, or still on its way): polled now, after the read, they hold our stock before the figures are
      // compared with the target, so the audit never puts an order's units back on the shop (it sees no drift there).
      if (mode === 'audit') summary.ordersApplied += (await pollPass(hub, m, opts)).applied
      await db.transaction(async (tx) => {
        const imported = await importListings(tx, ref, page.items, hub.clock())
        for (const k of ['listings', 'bound', 'unmapped', 'ambiguous', 'untracked'] as const) summary[k] += imported[k]
        const readings = page.items.flatMap((l) => (l.levels ?? []).map((x) => ({ externalId: l.externalId, remoteLocationId: x.locationId, available: x.available })))
        const r = await recordReadings(tx, ref, readings, hub.clock(), mode === 'audit' ? 'audit' : 'reread', run.id)
        summary.drift += r.drift
      })
      read += page.items.length
      await progress.update(read, expected === null ? null : Math.max(expected, read))
      cursor = page.nextCursor
    } while (cursor)
    if (m.traits.shiftingListingPages) {
      const missed = await confirmUnseen(hub, m, ctx, { started, mode, runId: run.id }, opts)
      read += missed.listings
      summary.drift += missed.drift
      summary.ordersApplied += missed.ordersApplied
    }
    // A complete pass: listings not seen in it are gone from the marketplace.
    summary.gone = await db.transaction(async (tx) => {
      const gone = await tx
        .update(channelListings)
        .set({ state: 'gone', variantId: null, matchedBy: null, updatedAt: hub.clock() })
        .where(and(eq(channelListings.connectionId, ref.connectionId), lt(channelListings.seenAt, started), sql`${channelListings.state} <> 'gone'`))
        .returning({ id: channelListings.id })
      if (gone.length) await ensureLevels(tx, ref, gone.map((g) => g.id))
      // A listing that lost to one now gone (a product deleted and created again with its SKU) is bound now.
      const bound = await bindFreedListings(tx, ref, hub.clock())
      summary.bound += bound.length
      summary.ambiguous = Math.max(0, summary.ambiguous - bound.length)
      await tx.update(channelLevels).set({ dirtySince: sql`coalesce(${channelLevels.dirtySince}, now())` }).where(and(eq(channelLevels.connectionId, ref.connectionId), isNull(channelLevels.lastRemote)))
      await queueChannelPush(tx, ref)
      return gone.length
    })
    for (const [k, v] of Object.entries(summary)) run.count(k, v)
    return summary
  }).catch(async (e: unknown) => {
    await progress.fail(e)
    throw e
  })
  await progress.finish({ done: read })
  return result
}

/**
 * The listings a complete pass did not see, read by themselves: one the marketplace still offers was skipped by the
 * paging. It is seen now (not gone) and its levels are recorded as its page's would have been, in an audit after
 * polling orders, as for a page.
 */
async function confirmUnseen(hub: Hub, m: Marketplace, ctx: ReturnType<typeof ctxOf>, pass: { started: Date; mode: 'import' | 'audit'; runId: string }, opts: Options) {
  const db = hub.database.db
  const found = { listings: 0, drift: 0, ordersApplied: 0 }
  const unseen = await db
    .select({ externalId: channelListings.externalId, externalIds: channelListings.externalIds })
    .from(channelListings)
    .where(and(eq(channelListings.connectionId, m.ref.connectionId), lt(channelListings.seenAt, pass.started), sql`${channelListings.state} <> 'gone'`))
  if (unseen.length === 0) return found
  const levels = await m.caps.readLevels(ctx, { listings: unseen, locationId: null })
  const still = [...new Set(levels.map((l) => l.externalId))]
  if (still.length === 0) return found
  if (pass.mode === 'audit') found.ordersApplied = (await pollPass(hub, m, opts)).applied
  await db.transaction(async (tx) => {
    await tx
      .update(channelListings)
      .set({ seenAt: hub.clock() })
      .where(and(eq(channelListings.connectionId, m.ref.connectionId), inArray(channelListings.externalId, still)))
    const readings = levels.map((l) => ({ externalId: l.externalId, remoteLocationId: l.locationId, available: l.available }))
    found.drift = (await recordReadings(tx, m.ref, readings, hub.clock(), pass.mode === 'audit' ? 'audit' : 'reread', pass.runId)).drift
  })
  found.listings = still.length
  return found
}

export interface PollSummary {
  orders: number
  applied: number
  pages: number
}

const toInput = (o: RemoteOrder) => ({ id: o.id, name: o.name, status: o.status, updatedAt: o.updatedAt, placedAt: o.placedAt, locationId: o.locationId, pickupLocationId: o.pickupLocationId, lines: o.lines })

/** Applies orders modified since the last poll (minus the lookback); the checkpoint moves with every page stored. */
export async function pollOrders(hub: Hub, ref: ChannelRef, opts: Options & { jobId?: string } = {}): Promise<PollSummary | null> {
  const m = await openMarketplace(hub, ref, opts)
  if (!m) return null
  return withSyncRun(hub.database.db, { ...ref, stream: 'orders', jobId: opts.jobId ?? null, secretValues: m.loaded.secretValues }, hub.clock, async (run) => {
    const summary = await pollPass(hub, m, opts)
    run.count('orders', summary.orders)
    run.count('applied', summary.applied)
    return summary
  })
}

/** One pass over the orders modified since the checkpoint (minus the lookback), applied page by page. */
async function pollPass(hub: Hub, m: Marketplace, opts: Options): Promise<PollSummary> {
  const { ref } = m
  const ctx = ctxOf(hub, m, opts)
  const db = hub.database.db
  const stream = { ...ref, stream: 'orders' }
  const summary: PollSummary = { orders: 0, applied: 0, pages: 0 }
  const checkpoint = await getCheckpoint(db, ref.connectionId, 'orders')
  const since = typeof checkpoint?.since === 'string' ? new Date(checkpoint.since) : new Date(hub.clock().getTime() - FIRST_POLL_MS)
  const from = new Date(since.getTime() - ORDER_LOOKBACK_MS)
  let cursor: string | null = null
  let newest = since
  do {
    const page = await m.caps.listOrders(ctx, { updatedSince: from, cursor })
    summary.pages++
    for (const o of page.items) {
      const t = new Date(o.updatedAt)
      if (t > newest) newest = t
    }
    await commitBatch(db, stream, { since: newest.toISOString() }, async (tx) => {
      for (const o of page.items) {
        const r = await applyChannelOrder(tx, systemActor(ref.merchantId, 'marketplace order'), ref, toInput(o), hub.clock())
        if (r.applied) summary.applied++
      }
    })
    summary.orders += page.items.length
    cursor = page.nextCursor
  } while (cursor)
  return summary
}

/** Applies one order read from the marketplace (after a webhook that only named it). */
export async function fetchOrder(hub: Hub, ref: ChannelRef, orderId: string, opts: Options = {}): Promise<boolean> {
  const m = await openMarketplace(hub, ref, opts)
  if (!m) return false
  const order = await m.caps.getOrder(ctxOf(hub, m, opts), { id: orderId })
  const actor = systemActor(ref.merchantId, 'marketplace order')
  // Gone from the marketplace (deleted for good): cancelled here, so its holds do not stay for ever.
  if (!order) return hub.database.db.transaction(async (tx) => (await cancelVanishedChannelOrder(tx, actor, ref, orderId, hub.clock()))?.applied ?? false)
  return hub.database.db.transaction(async (tx) => (await applyChannelOrder(tx, actor, ref, toInput(order), hub.clock())).applied)
}

/** Makes sure the marketplace sends its events to this hub. */
export async function ensureSubscriptions(hub: Hub, ref: ChannelRef, opts: Options = {}) {
  const m = await openMarketplace(hub, ref, opts)
  if (!m?.caps.ensureWebhooks) return null
  return m.caps.ensureWebhooks(ctxOf(hub, m, opts), { address: `${hub.config.publicUrl}/webhooks/${ref.connectionId}` })
}

// ---------------------------------------------------------------------------------------------------------------
// Inbound webhooks of marketplaces

const marketplaceEvent: InboundHandler = async ({ hub, tx, merchantId, connection, event }: InboundHandlerContext) => {
  const caps = connection.connector.capabilities as MarketplaceCapabilities<any>
  if (!caps.interpretWebhook) return 'ignored'
  const meaning = caps.interpretWebhook(event, connection.config)
  const traits = traitsOf(caps, connection.config)
  const ref = { merchantId, connectionId: connection.row.id }
  switch (meaning.kind) {
    case 'order':
      await applyChannelOrder(tx, systemActor(merchantId, 'marketplace order'), ref, toInput(meaning.order), hub.clock())
      return
    case 'order_changed':
      await enqueue(tx, FETCH_ORDER_TASK, { ...ref, orderId: meaning.orderId }, { jobKey: `${FETCH_ORDER_TASK}:${ref.connectionId}:${meaning.orderId}` })
      return
    case 'level': {
      // The event's time, where the marketplace gives a precise one: a late delivery does not undo what we know since.
      const at = traits.levelEventTimes && meaning.at ? new Date(meaning.at) : null
      await recordReadings(tx, ref, [{ externalId: meaning.level.externalId, remoteLocationId: meaning.level.locationId, available: meaning.level.available, at }], hub.clock(), 'event')
      return
    }
    case 'ignored':
      return 'ignored'
  }
}

/** The marketplace topics the stock sync acts on, per connector. */
export const marketplaceInboundHandlers: Record<string, Record<string, InboundHandler>> = {
  shopify: Object.fromEntries(['orders/create', 'orders/updated', 'orders/cancelled', 'refunds/create', 'inventory_levels/update'].map((t) => [t, marketplaceEvent])),
  woocommerce: Object.fromEntries(['order.created', 'order.updated', 'order.deleted', 'order.restored', 'product.updated'].map((t) => [t, marketplaceEvent])),
}

// ---------------------------------------------------------------------------------------------------------------
// Tasks

const Ref = z.object({ merchantId: z.uuid(), connectionId: z.uuid() })
export const FETCH_ORDER_TASK = 'stock.fetch-order'

export const push = defineTask({
  name: 'stock.push',
  payload: Ref,
  async run(payload, { hub, signal }) {
    const s = await pushChannel(hub, payload, { signal })
    if (s.calls > 0) hub.logger.info({ connectionId: payload.connectionId, ...s }, 'stock pushed')
  },
})

export const listings = defineTask({
  name: 'stock.listings',
  payload: Ref.extend({ audit: z.boolean().default(false) }),
  async run(payload, { hub, signal, job }) {
    const s = await syncListings(hub, payload, payload.audit ? 'audit' : 'import', { signal, jobId: job.id })
    if (s) hub.logger.info({ connectionId: payload.connectionId, ...s }, payload.audit ? 'stock audit done' : 'listings imported')
  },
})

export const pollOrdersTask = defineTask({
  name: 'stock.poll-orders',
  payload: Ref,
  async run(payload, { hub, signal, job }) {
    await pollOrders(hub, payload, { signal, jobId: job.id })
  },
})

export const fetchOrderTask = defineTask({
  name: FETCH_ORDER_TASK,
  payload: Ref.extend({ orderId: z.string().min(1) }),
  async run(payload, { hub, signal }) {
    await fetchOrder(hub, payload, payload.orderId, { signal })
  },
})

export const recover = defineTask({
  name: 'stock.recover',
  payload: Ref,
  async run(payload, { hub, signal }) {
    // Nothing to recover on a connection switched off or deleted (its jobs would end at once).
    if (!(await openMarketplace(hub, payload, {}))) return
    // Poll and audit first: they do not depend on webhooks, and a refused subscription must not hold them up. They
    // are in queues of their own and may run in either order: the audit polls orders itself before it compares.
    await hub.database.db.transaction(async (tx) => {
      await queuePoll(tx, payload)
      await queueAudit(tx, payload)
      // A push waiting out refused credentials goes now.
      await queueChannelPush(tx, payload, undefined, 'replace')
    })
    const subs = await ensureSubscriptions(hub, payload, { signal })
    if (subs) hub.logger.info({ connectionId: payload.connectionId, ...subs }, 'marketplace webhooks asserted')
  },
})

export const queuePoll = (tx: Tx, ref: ChannelRef) =>
  enqueue(tx, 'stock.poll-orders', ref, { jobKey: `stock.poll-orders:${ref.connectionId}`, jobKeyMode: 'preserve_run_at', queueName: `stock-orders:${ref.connectionId}` })
export const queueAudit = (tx: Tx, ref: ChannelRef, audit = true) =>
  enqueue(tx, 'stock.listings', { ...ref, audit }, { jobKey: `stock.listings:${ref.connectionId}`, queueName: `stock-listings:${ref.connectionId}` })
export const queueRecover = (tx: Tx, ref: ChannelRef) => enqueue(tx, 'stock.recover', ref, { jobKey: `stock.recover:${ref.connectionId}` })

/** Every 5 minutes: a poll of every enabled marketplace connection; at 02:00 local time, the nightly recovery and audit. */
export const schedule = defineTask({
  name: 'stock.schedule',
  payload: z.object({}).loose(),
  async run(_payload, { hub, signal }) {
    const now = hub.clock()
    const rows = await hub.database.db
      .select({ id: connections.id, merchantId: connections.merchantId, connectorId: connections.connectorId })
      .from(connections)
      .where(and(eq(connections.enabled, true), isNull(connections.deletedAt)))
    const registry = connectorRegistry
    for (const c of rows) {
      if (signal.aborted) return
      if (registry.get(c.connectorId)?.family !== 'marketplace') continue
      const settings = await getSettings(hub.database.db, c.merchantId)
      // Once a local night: from the first 02:00 (or the instant the clocks jump over it), not by the clock's reading,
      // which skips 02:00 the night the clocks go forward and shows it twice the night they go back. A night the hub
      // was down at 02:00 is audited at its first schedule after (the last night audited is kept); a connection never
      // audited yet waits for 02:00.
      const today = businessDate(now, settings.timeZone)
      const auditAt = localInstant(today, AUDIT_AT, settings.timeZone)
      const task = `stock-audit:${c.id}`
      await hub.database.db.transaction(async (tx) => {
        const ref = { merchantId: c.merchantId, connectionId: c.id }
        await queuePoll(tx, ref)
        if (now < auditAt) return
        const mark = await markOf(tx, c.merchantId, task, { lock: true })
        if (mark ? mark >= today : now.getTime() >= auditAt.getTime() + SCHEDULE_EVERY_MS) return
        await queueRecover(tx, ref)
        await advanceMark(tx, c.merchantId, task, today, now)
      })
    }
  },
})

export const tasks = [push, listings, pollOrdersTask, fetchOrderTask, recover, schedule]
export const cron: CronDefinition[] = [{ task: 'stock.schedule', match: '*/5 * * * *', backfillMs: 60 * 60_000 }]
