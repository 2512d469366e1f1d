// Voucher jobs: the glue between the voucher core and the accounting connectors.
//
// - `vouchers.schedule` runs hourly; once it is past the merchant's export time (default 02:00 local) it builds
//   yesterday's voucher of every store that did business (and looks again at the days before it, so a late change
//   is corrected), then queues the export of every voucher not yet delivered to the merchant's targets.
// - `vouchers.export` delivers one voucher to one connection: claimed in our ledger first (a voucher delivered once
//   is never sent again, and one export of it is sent at a time, under a sending lease), the target's own
//   idempotency on top; transient failures retried with backoff, then the
//   delivery is marked failed and a `voucher.export_failed` event goes out.
import { setTimeout as delay } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import { and, eq, inArray, sql } from 'drizzle-orm'
import { z } from 'zod'
import type { AccountingCapabilities, VoucherDocument } from '../connectors/framework/accounting.ts'
import { listConnections, loadConnection } from '../connectors/framework/connections.ts'
import { connections } from '../connectors/framework/schema.ts'
import { connectorContext } from '../connectors/framework/context.ts'
import { ConnectorError } from '../connectors/framework/http-types.ts'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { merchants } from '../core/merchants/schema.ts'
import { voucherExports, vouchers } from '../core/vouchers/schema.ts'
import { buildVoucher, claimExport, exportsOf, getVoucher, recordExport, releaseExport, targetsOf, voucherDocumentOf, type BuildResult, type ExportRow } from '../core/vouchers/service.ts'
import { recordAudit } from '../core/staff/audit.ts'
import type { Actor } from '../core/staff/actor.ts'
import { dayStores } from '../core/vouchers/build.ts'
import type { Tx } from '../db/client.ts'
import { enqueue } from '../db/enqueue.ts'
import { conflict, invalid, isDomainError } from '../lib/errors.ts'
import { createRedactor } from '../connectors/framework/call-log.ts'
import { addDays, businessDate, localTimeOfDay } from '../lib/time.ts'
import type { Hub } from '../runtime.ts'
import { defineTask, type CronDefinition } from './task.ts'
import { advanceMark, laterDay, markOf } from './daily-marks.ts'

export const EXPORT_TASK = 'vouchers.export'
export const EXPORT_MAX_ATTEMPTS = 10

export interface ExportInput {
  merchantId: string
  voucherId: string
  connectionId: string
}

export type ExportAttempt = { row: ExportRow; sent: boolean }

/** The merchant's enabled accounting connection that takes vouchers (a 4xx otherwise). */
export async function voucherConnection(hub: Hub, merchantId: string, connectionId: string, registry: ConnectorRegistry = connectorRegistry) {
  const loaded = await loadConnection(hub.database.db, registry, hub.secrets, connectionId, merchantId)
  if (loaded.connector.family !== 'accounting') throw invalid('not_an_accounting_connection', `connection ${loaded.row.name} does not take vouchers`)
  if (!loaded.row.enabled) throw invalid('connection_disabled', `connection ${loaded.row.name} is disabled`)
  return loaded
}

/**
 * Delivers a voucher to a connection once. Returns the delivery as recorded; throws the ConnectorError of a
 * transient failure (after recording the attempt) so a job retries, unless `final` says it was the last attempt.
 */
export async function exportVoucher(hub: Hub, input: ExportInput, opts: { registry?: ConnectorRegistry; signal?: AbortSignal; final?: boolean } = {}): Promise<ExportAttempt> {
  const db = hub.database.db
  const loaded = await voucherConnection(hub, input.merchantId, input.connectionId, opts.registry)
  // One delivery of a voucher to a connection at a time, whoever asks (the queued job, a manual export, twice at
  // once): the export that claims the sending lease sends; the others wait for what it comes to (and send nothing
  // once it is delivered), for a while, without holding a database connection meanwhile.
  const claim = () => db.transaction((tx) => claimExport(tx, input.merchantId, input.voucherId, input.connectionId, hub.clock(), EXPORT_LEASE_MS))
  const giveUp = performance.now() + EXPORT_WAIT_MS
  let claimed = await claim()
  while (claimed.busy) {
    if (performance.now() > giveUp) throw conflict('export_in_progress', 'this voucher is being sent to that connection right now; look again shortly')
    await delay(EXPORT_WAIT_STEP_MS, undefined, { signal: opts.signal })
    claimed = await claim()
  }
  if (claimed.done) return { row: claimed.row, sent: false }
  const caps = loaded.connector.capabilities as AccountingCapabilities<any>
  const mask = (m: string) => createRedactor(loaded.secretValues).text(m).slice(0, 2000)
  try {
    const { document, refusals } = await db.transaction(async (tx) => ({
      ...(await voucherDocumentOf(tx, input.merchantId, input.voucherId)),
      refusals: await refusalsOf(tx, input.voucherId, loaded.connector.id),
    }))
    const voucher: VoucherDocument = { ...(document as VoucherDocument), refusals }
    const result = await caps.exportVoucher(connectorContext(hub, loaded, opts.signal), { voucher })
    const row = await db.transaction((tx) =>
      recordExport(tx, input.merchantId, input.voucherId, input.connectionId, result.status === 'rejected' ? { ...result, message: mask(result.message) } : result, hub.clock()),
    )
    return { row, sent: true }
  } catch (e) {
    if (!(e instanceof ConnectorError)) {
      await db.transaction((tx) => releaseExport(tx, input.merchantId, input.voucherId, input.connectionId))
      throw e
    }
    const final = opts.final || !e.transient
    await db.transaction((tx) =>
      recordExport(tx, input.merchantId, input.voucherId, input.connectionId, { status: final ? 'failed' : 'retrying', message: mask(`${e.kind}: ${e.message}`), unanswered: !e.notSent }, hub.clock()),
    )
    throw e
  }
}

/**
 * How many times targets of this connector refused the voucher, over all the merchant's connections to it: a vendor
 * keeps idempotency keys per company, which two connections may share, so a second connection must not send the
 * key of the first one's refused attempt (the vendor would replay the refusal).
 */
async function refusalsOf(tx: Tx, voucherId: string, connectorId: string): Promise<number> {
  const [row] = await tx
    .select({ n: sql<number>`coalesce(sum(${voucherExports.refusals}), 0)::int` })
    .from(voucherExports)
    .innerJoin(connections, eq(connections.id, voucherExports.connectionId))
    .where(and(eq(voucherExports.voucherId, voucherId), eq(connections.connectorId, connectorId)))
  return row?.n ?? 0
}

/**
 * The sending lease: longer than any delivery takes (a vendor call's retries and timeouts), so it only runs out for a
 * process that stopped mid-send; then the voucher can be sent again.
 */
const EXPORT_LEASE_MS = 5 * 60_000
/** How long an export waits for another export of the same voucher to the same connection before answering 409. */
const EXPORT_WAIT_MS = 30_000
const EXPORT_WAIT_STEP_MS = 200

/** What an export asked for by a person (the API's or the dashboard's) came to. */
export type ManualExport =
  | { queued: true }
  | { queued: false; attempt: ExportAttempt }
  /** The target did not take it: the attempt as recorded (its message cleaned of the connection's secrets). */
  | { queued: false; failed: { row: ExportRow | undefined; error: ConnectorError } }

/**
 * An export asked for by a person, now or queued for the job, each audited once, naming them (`via` says from
 * where): queued (voucher.export_queued), sent or refused or not taken by the target (voucher.exported, with the
 * export's status).
 */
export async function exportVoucherAs(hub: Hub, actor: Actor, input: { voucherId: string; connectionId: string }, opts: { queue: boolean; via: 'api' | 'dashboard'; signal?: AbortSignal }): Promise<ManualExport> {
  const db = hub.database.db
  const target = { merchantId: actor.merchantId, ...input }
  await getVoucher(db, actor.merchantId, input.voucherId)
  const audit = (tx: Tx, action: string, details: Record<string, unknown> = {}) =>
    recordAudit(tx, actor, { action, entityType: 'voucher', entityId: input.voucherId, details: { connectionId: input.connectionId, ...details, via: opts.via } })
  if (opts.queue) {
    // Refused now if it could never go (exportVoucher checks the same when it sends).
    await voucherConnection(hub, actor.merchantId, input.connectionId)
    await db.transaction(async (tx) => {
      await queueExport(tx, target)
      await audit(tx, 'voucher.export_queued')
    })
    return { queued: true }
  }
  try {
    const attempt = await exportVoucher(hub, target, { signal: opts.signal, final: true })
    await audit(db, 'voucher.exported', { status: attempt.row.status, sent: attempt.sent })
    return { queued: false, attempt }
  } catch (e) {
    if (!(e instanceof ConnectorError)) throw e
    const row = (await exportsOf(db, input.voucherId)).find((x) => x.connectionId === input.connectionId)
    await audit(db, 'voucher.exported', { status: row?.status ?? 'failed', sent: true })
    return { queued: false, failed: { row, error: e } }
  }
}

export const queueExport = (tx: Tx, input: ExportInput) =>
  enqueue(tx, EXPORT_TASK, input, { jobKey: `${EXPORT_TASK}:${input.voucherId}:${input.connectionId}`, maxAttempts: EXPORT_MAX_ATTEMPTS })

/** Stores (or the merchant, grouping 'merchant') with anything on the day that its voucher books. */
async function activeScopes(tx: Tx, merchantId: string, day: string, settings: { timeZone: string; vouchers: { grouping: 'store' | 'merchant'; noStoreTo: string | null } }): Promise<(string | null)[]> {
  const stores = await dayStores(tx, { merchantId, businessDate: day, noStoreTo: settings.vouchers.noStoreTo })
  if (settings.vouchers.grouping === 'merchant') return stores.length ? [null] : []
  return stores.filter((s): s is string => s !== null)
}

/** Builds (or corrects) a merchant's vouchers of one day and queues their export to the merchant's targets. */
export async function buildDay(hub: Hub, merchantId: string, day: string): Promise<BuildResult[]> {
  const db = hub.database.db
  const all = await getSettings(db, merchantId)
  const settings = all.vouchers
  const results: BuildResult[] = []
  const targets = await liveTargets(hub, merchantId, settings.exportTo)
  // Each store's voucher on its own: one that cannot be built (an exported day whose correction misses an account)
  // holds up no other store's; the day fails after the rest are built, so it is not counted done.
  let failed: unknown = null
  for (const storeId of await activeScopes(db, merchantId, day, all)) {
    try {
      const r = await db.transaction(async (tx) => {
        const built = await buildVoucher(tx, { merchantId, storeId, businessDate: day }, hub.clock())
        await queuePendingExports(tx, merchantId, day, targets)
        return built
      })
      results.push(r)
    } catch (e) {
      hub.logger.warn({ merchantId, storeId, businessDate: day, err: e }, 'a store’s daily voucher could not be built')
      failed ??= e
    }
  }
  if (failed !== null) throw failed
  return results
}

/**
 * The export targets that are still the merchant's accounting connections: one deleted since the settings named it
 * would take every export queued to it through all its attempts to fail in the end, reported nowhere.
 */
async function liveTargets(hub: Hub, merchantId: string, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return ids
  const live = new Set((await listConnections(hub.database.db, merchantId, { family: 'accounting' }, connectorRegistry)).map((c) => c.id))
  const gone = ids.filter((id) => !live.has(id))
  if (gone.length) hub.logger.warn({ merchantId, connectionIds: gone }, 'settings.vouchers.exportTo names connections that are deleted or take no vouchers: nothing is sent to them')
  return ids.filter((id) => live.has(id))
}

/**
 * Every voucher of the day that a target does not hold yet, in the order they were built, so that each target ends up
 * with the whole day: a voucher corrected by a difference still goes (the difference adds to it); a voucher reversed
 * before the target took it does not, nor does its reversal (the day's new revision holds the day).
 */
async function queuePendingExports(tx: Tx, merchantId: string, day: string, targets: string[]) {
  if (targets.length === 0) return
  const pending = await tx
    .select({ id: vouchers.id, kind: vouchers.kind, status: vouchers.status, correctsId: vouchers.correctsId })
    .from(vouchers)
    .where(and(eq(vouchers.merchantId, merchantId), eq(vouchers.businessDate, day), inArray(vouchers.status, ['built', 'exported', 'corrected'])))
    // A reversal and the revision after it are built together: the reversal goes first.
    .orderBy(vouchers.createdAt, sql`${vouchers.kind} <> 'reversal'`)
  if (pending.length === 0) return
  const rows = await tx
    .select({ voucherId: voucherExports.voucherId, connectionId: voucherExports.connectionId, status: voucherExports.status, unanswered: voucherExports.unanswered, sendingUntil: voucherExports.sendingUntil })
    .from(voucherExports)
    .where(inArray(voucherExports.voucherId, pending.map((p) => p.id)))
  const delivered = targetsOf(rows, new Set(pending.filter((v) => v.kind === 'reversal').map((v) => v.correctsId)))
  // A voucher the target refused is not sent again by itself: a person looks at why.
  const refused = new Set(rows.filter((r) => r.status === 'rejected').map((r) => `${r.voucherId}:${r.connectionId}`))
  for (const v of pending) {
    for (const c of targets) {
      if (delivered.holds(v.id, c) || refused.has(`${v.id}:${c}`) || delivered.needless(v, c)) continue
      await queueExport(tx, { merchantId, voucherId: v.id, connectionId: c })
    }
  }
}

/** Why a queued export has nothing to send any more (claimExport). */
const NOT_TO_SEND = ['voucher_superseded', 'voucher_reversed', 'voucher_not_held']

export const exportTask = defineTask({
  name: EXPORT_TASK,
  payload: z.object({ merchantId: z.uuid(), voucherId: z.uuid(), connectionId: z.uuid() }),
  async run(payload, { hub, signal, job }) {
    try {
      const r = await exportVoucher(hub, payload, { signal, final: job.attempts >= job.maxAttempts })
      if (r.sent) hub.logger.info({ voucherId: payload.voucherId, connectionId: payload.connectionId, status: r.row.status }, 'voucher export attempted')
    } catch (e) {
      // Queued before the day changed: the voucher was replaced, or the target no longer needs it.
      if (!(isDomainError(e) && NOT_TO_SEND.includes(e.code))) throw e
      hub.logger.info({ voucherId: payload.voucherId, connectionId: payload.connectionId, reason: e.code }, 'queued voucher export not sent: ' + e.message)
    }
  },
})

/** Hourly: after each merchant's export time, yesterday's vouchers (and changed earlier days) are built and sent. */
export const schedule = defineTask({
  name: 'vouchers.schedule',
  payload: z.object({}).loose(),
  async run(_payload, { hub, signal }) {
    const now = hub.clock()
    const db = hub.database.db
    const rows = await db.select({ id: merchants.id, timeZone: merchants.timeZone }).from(merchants)
    for (const m of rows) {
      if (signal.aborted) return
      const settings = (await getSettings(db, m.id)).vouchers
      // The latest day whose export time (the next day, at exportAt) has passed: yesterday once today's has, else
      // the day before. A run at any minute of the hour meets an export time of any minute.
      const today = businessDate(now, m.timeZone)
      const due = addDays(today, localTimeOfDay(now, m.timeZone) < settings.exportAt ? -2 : -1)
      const mark = await markOf(db, m.id, 'vouchers')
      // The days looked at again for late changes, and before them every day since the last one done (a hub that
      // was down), up to CATCH_UP_DAYS back.
      const recheckFrom = addDays(due, -settings.recheckDays)
      const missedFrom = mark && mark < recheckFrom ? laterDay(addDays(mark, 1), addDays(due, -CATCH_UP_DAYS)) : recheckFrom
      // The last day done with every day before it (a hub down past CATCH_UP_DAYS leaves the days before undone).
      let through = mark ? laterDay(mark, addDays(missedFrom, -1)) : null
      let gap = false
      for (let day = missedFrom; day <= due; day = addDays(day, 1)) {
        try {
          await buildDay(hub, m.id, day)
          if (!gap && (through === null || day === addDays(through, 1))) through = day
        } catch (e) {
          // One merchant's broken mapping must not hold up the others; the voucher stays blocked with its reasons.
          // A day that failed is not done: the next run tries it again, with the days after it.
          hub.logger.warn({ merchantId: m.id, businessDate: day, err: e }, 'daily voucher build failed')
          if (through === null || day > through) gap = true
        }
      }
      if (through !== null && through !== mark) await advanceMark(db, m.id, 'vouchers', through, now)
    }
  },
})

/** How far back a hub that was down catches up missed days (about two months; a longer outage is built by hand). */
const CATCH_UP_DAYS = 62

export const tasks = [exportTask, schedule]
export const cron: CronDefinition[] = [{ task: 'vouchers.schedule', match: '7 * * * *', backfillMs: 6 * 60 * 60_000 }]
