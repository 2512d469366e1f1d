// Settlement reconciliation jobs: the glue between payment connectors (fetch and parse a channel's statement) and
// the core (import it, reconcile the day). `settlement.schedule` runs hourly and, once it is 10:30 or later in the
// merchant's time zone, queues `settlement.fetch` of yesterday for every enabled payment connection that can fetch;
// a bill not generated yet is fetched again every half hour until 18:00 the next day, then the day is recorded as
// 'not_ready'. A fetched or uploaded statement is imported and `settlement.reconcile` runs the day.
import { and, eq, isNull, sql } from 'drizzle-orm'
import { z } from 'zod'
import { errorText } from '../db/errors.ts'
import { discardFetched, type AnyConnector, type PaymentCapabilities, type StatementFile } from '../connectors/framework/define.ts'
import { loadConnection, type LoadedConnection } from '../connectors/framework/connections.ts'
import { createRedactor } from '../connectors/framework/call-log.ts'
import { connectorContext } from '../connectors/framework/context.ts'
import { ConnectorError } from '../connectors/framework/http-types.ts'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import { connections } from '../connectors/framework/schema.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { getSettings } from '../core/merchants/settings.ts'
import type { StatementContent } from '../core/reconciliation/file.ts'
import { importStatement, recordEmptyStatement, Rejection, type ImportResult, type ImportStatementInput, type RejectCode, type VendorHash } from '../core/reconciliation/import.ts'
import { previewDay, reconcileDay, recordRunOutcome, type DayPreview, type FeeRule, type ReconcileDayInput, type RunSummary } from '../core/reconciliation/match.ts'
import { StatementFormatError, type ParsedStatement } from '../core/reconciliation/types.ts'
import type { Db, Tx } from '../db/client.ts'
import { enqueue } from '../db/enqueue.ts'
import { badRequest, invalid, isDomainError } from '../lib/errors.ts'
import { addDays, businessDate, isDate, localInstant } from '../lib/time.ts'
import type { Hub } from '../runtime.ts'
import { defineTask, type CronDefinition, type JobContext } from './task.ts'
import { laterDay } from './daily-marks.ts'
import { trackProgress } from './progress.ts'

export const FETCH_TASK = 'settlement.fetch'
export const RECONCILE_TASK = 'settlement.reconcile'
export const SCHEDULE_TASK = 'settlement.schedule'

/** When the channels have published yesterday's bills (WeChat from 09:00–10:00, Alipay by 09:00), local time. */
export const FETCH_AFTER = '10:30'
/** How long a bill that is "not ready" is waited for: until this local time of the day after the business date. */
export const NOT_READY_DEADLINE = '18:00'
/** Between two fetches of a bill that is not ready yet. */
export const NOT_READY_RETRY_MS = 30 * 60_000

/** What a channel settles and how: the till's tender kinds, the statement formats to match, the fee rounding. */
export interface ChannelProfile {
  tenderKinds: string[]
  /** The statement format a file of this connector is when none is named. */
  defaultFormat: string
  /** Formats whose lines are matched against tenders (others, like fund-flow ledgers, are kept but not matched). */
  formats?: string[]
  /** The channel's fee rounding in thousandths of a minor unit (WeChat prints 5 decimals of a yuan). */
  feeRoundingMilli: number
  /** The time zone the channel's business dates are in (default: the merchant's). */
  timeZone?: string
  /**
   * Formats that are the same day's movements in other shapes (Stripe's API fetch and its itemized report): a day
   * has one current file among them, the last imported, which supersedes the others as a corrected file of the same
   * format does. Matching both would count every transaction twice.
   */
  interchangeable?: string[]
}

const PROFILES: Record<string, ChannelProfile> = {
  wechatpay: { tenderKinds: ['wechat'], defaultFormat: 'wechat_trade', formats: ['wechat_trade'], feeRoundingMilli: 1, timeZone: 'Asia/Shanghai' },
  alipay: { tenderKinds: ['alipay'], defaultFormat: 'alipay_trade', formats: ['alipay_trade'], feeRoundingMilli: 1000, timeZone: 'Asia/Shanghai' },
  allinpay: { tenderKinds: ['card', 'unionpay_qr'], defaultFormat: 'allinpay', feeRoundingMilli: 1000 },
  unionpay: { tenderKinds: ['unionpay_qr', 'card'], defaultFormat: 'unionpay_inn', feeRoundingMilli: 1000 },
  // The balance transactions fetched over the API, or the itemized report a person downloaded and uploaded: either
  // is the day's statement, never both (the later import supersedes the earlier, whichever it is; a scheduled fetch
  // skips a day that already has one, so an uploaded report stays current until someone fetches the day again).
  stripe: {
    tenderKinds: ['card'],
    defaultFormat: 'stripe_balance',
    formats: ['stripe_balance', 'stripe_itemized'],
    interchangeable: ['stripe_balance', 'stripe_itemized'],
    feeRoundingMilli: 1000,
  },
  mapped: { tenderKinds: ['card', 'unionpay_qr'], defaultFormat: 'mapped', feeRoundingMilli: 1000 },
}

export function channelProfile(connector: AnyConnector): ChannelProfile {
  return PROFILES[connector.id] ?? { tenderKinds: [connector.id], defaultFormat: connector.id, feeRoundingMilli: 1000 }
}

const capabilitiesOf = (loaded: LoadedConnection) =>
  loaded.connector.family === 'payment' ? (loaded.connector.capabilities as PaymentCapabilities<Record<string, unknown>>) : undefined

export interface Options {
  registry?: ConnectorRegistry
}

async function open(hub: Hub, connectionId: string, merchantId: string | undefined, opts: Options): Promise<LoadedConnection> {
  return loadConnection(hub.database.db, opts.registry ?? connectorRegistry, hub.secrets, connectionId, merchantId)
}

export interface ImportFileInput {
  merchantId?: string
  connectionId: string
  businessDate: string
  format?: string
  fileName?: string | null
  /** The file as received: in memory, or on disk (read as a stream, never whole). */
  content: StatementContent
  contentType?: string
  source: 'fetched' | 'uploaded'
  vendorHash?: VendorHash
  createdBy?: string | null
  /** Told the rows read so far while the file streams in. */
  onProgress?: (rows: number) => void | Promise<void>
  /** Queue the day's run in the import's own transaction when the file becomes the day's current statement. */
  queueRun?: boolean
}

/** What a file would do, found by importing it and reconciling its day in one transaction that is rolled back. */
export type FilePreview =
  /** The file would become the day's current statement (superseding `supersedes`); `run` is the day's run then. */
  | { file: { result: 'would_import'; format: string; lineCount: number; supersedes: string[] }; run: DayPreview }
  /** The same file is the day's statement already (or would be made current again): the day's run as it stands. */
  | { file: { result: 'duplicate'; format: string; statementId: string; lineCount: number }; run: DayPreview }
  /** The file would be refused, with the reason; nothing would change. */
  | { file: { result: 'rejected'; format: string; code: RejectCode; reason: string; lineNo: number | null }; run: null }

/** Thrown from inside the dry run's import transaction to roll it back, with what was found. */
class RolledBackFile extends Error {
  readonly found: { lineCount: number; superseded: string[]; run: DayPreview }
  constructor(found: RolledBackFile['found']) {
    super('dry run of a file')
    this.found = found
  }
}

/**
 * A dry run of a file: it is parsed and imported as an upload would be, and its day reconciled, in one transaction
 * that is then rolled back. Nothing is written: no statement (not even a refused one), no line, no item, no job.
 */
export async function previewFile(hub: Hub, input: Omit<ImportFileInput, 'queueRun' | 'onProgress'>, opts: Options = {}): Promise<FilePreview> {
  // The connection is read once for the import and the run.
  const channel = await openChannel(hub, input, opts)
  const rules = dayRulesOf(hub, channel, input.businessDate)
  const prepared = statementInputOf(channel, input)
  const { format } = prepared
  let imported: ImportResult
  try {
    imported = await importStatement(hub.database.db, {
      ...prepared,
      dryRun: true,
      // The day's run as it would be with the file current: worked out in a savepoint of the import's transaction,
      // which the throw then rolls back whole.
      onCurrent: async (tx, _statementId, file) => {
        throw new RolledBackFile({ ...file, run: await previewDay(tx as unknown as Db, rules) })
      },
    })
  } catch (e) {
    if (e instanceof RolledBackFile) return { file: { result: 'would_import', format, lineCount: e.found.lineCount, supersedes: e.found.superseded }, run: e.found.run }
    if (e instanceof Rejection) return { file: { result: 'rejected', format, code: e.code, reason: e.message, lineNo: e.lineNo }, run: null }
    throw e
  }
  if (imported.status !== 'duplicate') throw new Error(`a dry run's import ended as ${imported.status}`)
  return { file: { result: 'duplicate', format, statementId: imported.statementId, lineCount: imported.lineCount }, run: await previewDay(hub.database.db, rules) }
}

/** Parses a file with its connection's connector and imports it. A format the connector cannot read is a bad request. */
export async function importFile(hub: Hub, input: ImportFileInput, opts: Options = {}): Promise<ImportResult & { format: string }> {
  const prepared = await statementInput(hub, input, opts)
  return { ...(await importStatement(hub.database.db, prepared)), format: prepared.format }
}

/** A connection's channel as the reconciliation jobs read it: the connection, its capabilities and profile, the merchant's settings. */
async function openChannel(hub: Hub, input: { merchantId?: string; connectionId: string; businessDate: string }, opts: Options) {
  if (!isDate(input.businessDate)) throw badRequest('invalid_date', `${input.businessDate} is not a YYYY-MM-DD date`)
  const loaded = await open(hub, input.connectionId, input.merchantId, opts)
  const settings = await getSettings(hub.database.db, loaded.row.merchantId)
  return { loaded, caps: capabilitiesOf(loaded), profile: channelProfile(loaded.connector), settings }
}
type Channel = Awaited<ReturnType<typeof openChannel>>

/** The core's import of a file: its connection's parser, format, time zone and the day's run to queue. */
async function statementInput(hub: Hub, input: ImportFileInput, opts: Options): Promise<ImportStatementInput> {
  return statementInputOf(await openChannel(hub, input, opts), input)
}

function statementInputOf({ loaded, caps, profile, settings }: Channel, input: ImportFileInput): ImportStatementInput {
  if (!caps?.parseStatement) throw invalid('not_a_statement_connection', `Connection ${loaded.row.name} (${loaded.connector.title}) does not read settlement statements`)
  const format = input.format ?? profile.defaultFormat
  const timeZone = profile.timeZone ?? settings.timeZone
  let parsed: ParsedStatement
  try {
    parsed = caps.parseStatement({ format, content: input.content, businessDate: input.businessDate, timeZone }, loaded.config)
  } catch (e) {
    if (e instanceof StatementFormatError) throw badRequest('unsupported_format', e.message, { format })
    throw e
  }
  return {
    merchantId: loaded.row.merchantId,
    connectionId: loaded.row.id,
    format,
    businessDate: input.businessDate,
    source: input.source,
    fileName: input.fileName ?? null,
    content: input.content,
    contentType: input.contentType ?? 'application/octet-stream',
    vendorHash: input.vendorHash,
    parsed,
    timeZone,
    supersedesFormats: profile.interchangeable?.includes(format) ? profile.interchangeable : undefined,
    createdBy: input.createdBy ?? null,
    onProgress: input.onProgress,
    // The day's run when asked for (a fetch queues it after the day's last file); the runs of the later payouts its
    // lines joined always, in the import's transaction.
    onCurrent: async (tx, _statementId, file) => {
      const days = input.queueRun ? [input.businessDate, ...file.payoutDays] : file.payoutDays
      for (const businessDate of days) await queueReconcile(tx, { merchantId: loaded.row.merchantId, connectionId: loaded.row.id, businessDate })
    },
  }
}

/** Reconciles a connection's day with the rules of its channel: tender kinds, formats, the contract's fee. */
export async function reconcileConnectionDay(hub: Hub, input: { merchantId?: string; connectionId: string; businessDate: string }, opts: Options = {}): Promise<RunSummary> {
  return reconcileDay(hub.database.db, await dayRules(hub, input, opts))
}

/** What reconciling a connection's day would do, worked out in full and rolled back: nothing is written. */
export async function previewConnectionDay(hub: Hub, input: { merchantId?: string; connectionId: string; businessDate: string }, opts: Options = {}): Promise<DayPreview> {
  return previewDay(hub.database.db, await dayRules(hub, input, opts))
}

async function dayRules(hub: Hub, input: { merchantId?: string; connectionId: string; businessDate: string }, opts: Options): Promise<ReconcileDayInput> {
  return dayRulesOf(hub, await openChannel(hub, input, opts), input.businessDate)
}

function dayRulesOf(hub: Hub, { loaded, caps, profile, settings }: Channel, businessDate: string): ReconcileDayInput {
  if (!caps) throw invalid('not_a_statement_connection', `Connection ${loaded.row.name} is not a payment connection`)
  const expected = caps.expectedFeeMilli
  const feeRule: FeeRule | undefined = expected
    ? { expectedFeeMilli: (line) => expected({ kind: line.kind, amount: line.amount }, loaded.config), roundingMilli: profile.feeRoundingMilli }
    : undefined
  return {
    merchantId: loaded.row.merchantId,
    connectionId: loaded.row.id,
    businessDate,
    tenderKinds: profile.tenderKinds,
    timeZone: settings.timeZone,
    channelTimeZone: profile.timeZone,
    formats: profile.formats,
    feeRule,
    carryDays: settings.reconciliation.carryDays,
    now: hub.clock(),
  }
}

const FetchPayload = z.object({ merchantId: z.uuid(), connectionId: z.uuid(), businessDate: z.string().refine(isDate, 'a YYYY-MM-DD date') })
export type FetchPayload = z.infer<typeof FetchPayload>

export type FetchOutcome =
  | { status: 'imported'; statements: string[] }
  | { status: 'empty'; statementId: string }
  | { status: 'waiting'; until: Date }
  | { status: 'not_ready'; runId: string }
  | { status: 'fetch_failed'; runId: string; error: string }
  | { status: 'skipped'; reason: string }

/** 18:00 (merchant time) of the day after the business date: after it, a missing bill is recorded as not ready. */
export function notReadyDeadline(date: string, timeZone: string): Date {
  return localInstant(addDays(date, 1), NOT_READY_DEADLINE, timeZone)
}

const fetchKey = (connectionId: string, date: string) => `${FETCH_TASK}:${connectionId}:${date}`
const reconcileKey = (connectionId: string, date: string) => `${RECONCILE_TASK}:${connectionId}:${date}`

async function failed(hub: Hub, p: FetchPayload, error: string, secrets: string[]): Promise<FetchOutcome> {
  const message = createRedactor(secrets).text(error)
  const runId = await recordRunOutcome(hub.database.db, { ...p, status: 'fetch_failed', error: message, now: hub.clock() })
  hub.logger.warn({ connectionId: p.connectionId, businessDate: p.businessDate, error: message }, 'settlement fetch failed')
  return { status: 'fetch_failed', runId, error: message }
}

/**
 * Fetches a day's statement and imports it. A bill not generated yet is asked for again later (the job re-queues
 * itself) until the deadline; "no transactions that day" becomes an empty statement; either way a reconcile follows.
 * Retryable vendor errors are thrown for graphile-worker to retry; on the last attempt the day is asked for again
 * later until the deadline, as a bill not ready. Past the deadline, and for errors no retry mends, the day is recorded
 * as 'fetch_failed'.
 */
export async function fetchSettlement(hub: Hub, p: FetchPayload, ctx: Pick<JobContext, 'job' | 'signal'>, opts: Options = {}): Promise<FetchOutcome> {
  const db = hub.database.db
  const loaded = await open(hub, p.connectionId, p.merchantId, opts)
  const caps = capabilitiesOf(loaded)
  if (!loaded.row.enabled) return { status: 'skipped', reason: 'the connection is disabled' }
  if (!caps?.fetchStatement || !caps.parseStatement) return { status: 'skipped', reason: 'the connector cannot fetch statements' }
  if (caps.fetches && !caps.fetches(loaded.config)) return { status: 'skipped', reason: 'the connection is set up for uploads only' }
  // A file uploaded by hand since the fetch was queued (or while it waited for the bill) is the day's statement: the
  // schedule fetches only days that have none. (A fetch that imported some of the day's files and failed on the next
  // is retried whole: the files it has are recognised by their bytes.)
  const { rows: uploaded } = await db.execute(sql`
    select 1 from settlement_statements where connection_id = ${p.connectionId} and business_date = ${p.businessDate}::date
       and status in ('imported', 'empty') and source = 'uploaded' limit 1`)
  if (uploaded.length > 0) return { status: 'skipped', reason: 'the day has a statement uploaded by hand' }
  const settings = await getSettings(db, p.merchantId)
  const now = hub.clock()

  const deadline = notReadyDeadline(p.businessDate, settings.timeZone)
  /** Asks again in 30 minutes (never past the deadline), as a fetch of its own with the job's retries afresh. */
  const askAgain = async (): Promise<FetchOutcome> => {
    const until = new Date(Math.min(now.getTime() + NOT_READY_RETRY_MS, deadline.getTime()))
    await enqueue(db, FETCH_TASK, p, { jobKey: fetchKey(p.connectionId, p.businessDate), runAt: until, maxAttempts: 8 })
    return { status: 'waiting', until }
  }

  let fetched
  try {
    // A channel without days of its own (Stripe) cuts the day in the merchant's time zone.
    const timeZone = channelProfile(loaded.connector).timeZone ?? settings.timeZone
    fetched = await caps.fetchStatement(connectorContext(hub, loaded, ctx.signal), { businessDate: p.businessDate, timeZone })
  } catch (e) {
    const lastAttempt = ctx.job.attempts >= ctx.job.maxAttempts
    const transient = e instanceof ConnectorError && (e.kind === 'retryable' || e.kind === 'rate_limited' || e.kind === 'circuit_open')
    if (transient && !lastAttempt) throw e
    // A channel down for longer than the job's own retries (about half an hour) is asked again every 30 minutes
    // until the deadline, as for a bill not ready: an outage of a morning must not cost the day its statement.
    if (transient && now < deadline) {
      hub.logger.warn({ connectionId: p.connectionId, businessDate: p.businessDate, error: createRedactor(loaded.secretValues).text((e as Error).message) }, 'settlement fetch still failing; asking again later')
      return askAgain()
    }
    if (e instanceof ConnectorError || lastAttempt) return failed(hub, p, `${loaded.connector.title}: ${(e as Error).message}`, loaded.secretValues)
    throw e
  }

  if (fetched.status === 'not_ready') {
    if (now < deadline) return askAgain()
    const runId = await recordRunOutcome(db, { ...p, status: 'not_ready', error: fetched.message, now })
    return { status: 'not_ready', runId }
  }

  if (fetched.status === 'empty') {
    const { statementId } = await recordEmptyStatement(db, { merchantId: p.merchantId, connectionId: p.connectionId, businessDate: p.businessDate, message: fetched.message })
    await queueReconcile(db, p)
    return { status: 'empty', statementId }
  }

  // Downloaded files are on disk only until they are imported (the statement keeps the original).
  try {
    return await importFetched(hub, p, loaded, fetched.files as StatementFile[], ctx.job.id, opts)
  } finally {
    await discardFetched(fetched)
  }
}

/** Imports the files of a day's fetch, with their progress on the jobs page, then queues the day's run. */
async function importFetched(hub: Hub, p: FetchPayload, loaded: LoadedConnection, files: StatementFile[], jobId: string, opts: Options): Promise<FetchOutcome> {
  const db = hub.database.db
  const statements: string[] = []
  // Rows read so far over the day's files, for the dashboard's jobs page (the total is known once they are read).
  const progress = await trackProgress(
    db,
    { merchantId: p.merchantId, task: FETCH_TASK, key: `${p.connectionId}:${p.businessDate}`, label: `${loaded.row.name} ${p.businessDate}`, unit: 'rows', jobId },
    { warn: (err) => hub.logger.warn({ err }, 'job progress not recorded') },
  )
  let read = 0
  try {
    for (const file of files) {
      const r = await importFile(
        hub,
        {
          merchantId: p.merchantId,
          connectionId: p.connectionId,
          businessDate: p.businessDate,
          format: file.format,
          fileName: file.name,
          content: file.content,
          contentType: file.contentType,
          source: 'fetched',
          vendorHash: file.vendorHash,
          onProgress: (rows) => progress.update(read + rows),
        },
        opts,
      )
      if (r.status === 'rejected') {
        const reason = `the ${file.format} file ${file.name} was refused: ${r.reason}`
        await progress.fail(createRedactor(loaded.secretValues).text(reason))
        const outcome = await failed(hub, p, reason, loaded.secretValues)
        // The day's files imported before it stand, and are reconciled (the day is not fetched again).
        if (statements.length) await queueReconcile(db, p)
        return outcome
      }
      read += r.lineCount
      statements.push(r.statementId)
    }
  } catch (e) {
    await progress.fail(createRedactor(loaded.secretValues).text(errorText(e)))
    throw e
  }
  await progress.finish({ done: read })
  await queueReconcile(db, p)
  return { status: 'imported', statements }
}

/** Queues the reconciliation of a day (one queued run per connection and day at a time). */
export const queueReconcile = (tx: Tx, p: FetchPayload) => enqueue(tx, RECONCILE_TASK, p, { jobKey: reconcileKey(p.connectionId, p.businessDate) })

export async function runReconcileTask(hub: Hub, p: FetchPayload, opts: Options = {}): Promise<RunSummary | undefined> {
  try {
    const r = await reconcileConnectionDay(hub, p, opts)
    hub.logger.info({ connectionId: p.connectionId, businessDate: p.businessDate, runId: r.runId, status: r.status, reused: r.reused, counts: r.counts }, 'settlement reconciled')
    return r
  } catch (e) {
    // Nothing to reconcile (no statement) or a connection gone: retrying does not help.
    if (isDomainError(e) && (e.code === 'no_statement' || e.kind === 'not_found')) {
      hub.logger.warn({ connectionId: p.connectionId, businessDate: p.businessDate, code: e.code }, e.message)
      return undefined
    }
    throw e
  }
}

/** How far back the daily fetch catches up days a hub that was down missed; older ones are fetched by hand. */
export const FETCH_CATCH_UP_DAYS = 7

/**
 * Queues yesterday's fetch for every enabled payment connection that can fetch, once the merchant's clock says 10:30
 * or later, and the fetch of each earlier day a hub that was down missed (FETCH_CATCH_UP_DAYS). Once per day: a day
 * that already has a statement or a verdict is left alone, and the job key keeps a queued or waiting fetch from being
 * queued twice.
 */

export async function scheduleFetches(hub: Hub, opts: Options & { now?: Date } = {}): Promise<{ queued: FetchPayload[] }> {
  const db = hub.database.db
  const registry = opts.registry ?? connectorRegistry
  const now = opts.now ?? hub.clock()
  const fetchers = registry
    .all()
    .filter((c) => c.family === 'payment' && typeof (c.capabilities as { fetchStatement?: unknown }).fetchStatement === 'function')
    .map((c) => c.id)
  if (fetchers.length === 0) return { queued: [] }
  const rows = await db
    .select({ id: connections.id, merchantId: connections.merchantId, connectorId: connections.connectorId, createdAt: connections.createdAt, timeZone: sql<string>`m.time_zone` })
    .from(connections)
    .innerJoin(sql`merchants m`, sql`m.id = ${connections.merchantId}`)
    .where(and(eq(connections.enabled, true), isNull(connections.deletedAt), sql`${connections.connectorId} = any(${sql.param(fetchers)}::text[])`))
  const queued: FetchPayload[] = []
  for (const c of rows) {
    const today = businessDate(now, c.timeZone)
    // By the local clock, on days of 23 or 25 hours too.
    if (now < localInstant(today, FETCH_AFTER, c.timeZone)) continue
    // Yesterday, and the days before it a hub that was down missed (up to FETCH_CATCH_UP_DAYS back, never before the
    // day before the connection was made: earlier bills are of days the hub did not record).
    const yesterday = addDays(today, -1)
    const from = laterDay(addDays(today, -FETCH_CATCH_UP_DAYS), addDays(businessDate(c.createdAt, c.timeZone), -1))
    const todo = await db.execute<{ day: string }>(sql`
      select d::date::text as day from generate_series(least(${from}::date, ${yesterday}::date), ${yesterday}::date, interval '1 day') d
       where not exists (select 1 from settlement_statements s where s.connection_id = ${c.id} and s.business_date = d::date and s.status in ('imported', 'empty'))
         and not exists (select 1 from recon_runs r where r.connection_id = ${c.id} and r.business_date = d::date and r.status in ('not_ready', 'fetch_failed'))
       order by 1`)
    if (todo.rows.length === 0) continue
    // An upload-only connection (no credentials for the channel's interface) is never fetched.
    const fetches = (registry.get(c.connectorId)?.capabilities as PaymentCapabilities<unknown> | undefined)?.fetches
    if (fetches && !fetches((await open(hub, c.id, c.merchantId, opts)).config)) continue
    for (const { day } of todo.rows) {
      const payload = { merchantId: c.merchantId, connectionId: c.id, businessDate: day }
      await enqueue(db, FETCH_TASK, payload, { jobKey: fetchKey(c.id, day), jobKeyMode: 'unsafe_dedupe', maxAttempts: 8 })
      queued.push(payload)
    }
  }
  return { queued }
}

export const fetchTask = defineTask({
  name: FETCH_TASK,
  payload: FetchPayload,
  async run(payload, ctx) {
    const r = await fetchSettlement(ctx.hub, payload, ctx)
    ctx.hub.logger.info({ connectionId: payload.connectionId, businessDate: payload.businessDate, status: r.status }, 'settlement fetch')
  },
})

export const reconcileTask = defineTask({
  name: RECONCILE_TASK,
  payload: FetchPayload,
  async run(payload, ctx) {
    await runReconcileTask(ctx.hub, payload)
  },
})

export const scheduleTask = defineTask({
  name: SCHEDULE_TASK,
  payload: z.object({}).loose(),
  async run(_payload, ctx) {
    const r = await scheduleFetches(ctx.hub)
    if (r.queued.length) ctx.hub.logger.info({ queued: r.queued.length }, 'settlement fetches queued')
  },
})

export const tasks = [fetchTask, reconcileTask, scheduleTask]
// Hourly at :35, so a merchant on a whole-hour offset is first checked at 10:35 local time.
export const cron: CronDefinition[] = [{ task: SCHEDULE_TASK, match: '35 * * * *', backfillMs: 3600_000 }]
