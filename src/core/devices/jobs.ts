// Device jobs: the lifecycle of every print, drawer kick, display update and weighing.
//
//   queued ──(handed to the bridge / the hub's runner)──► sent ──► done | failed | unknown | dropped
//
// - A job is created once per idempotency key (a sale's receipt, a client's key); asking again returns it.
// - failed + retryable (nothing reached the device: paper end, cover open, unreachable) waits for the device: it goes
//   back to queued when the device reports it has recovered, while the job is still fresh; its attempts count up.
// - A device's waiting jobs (queued, and failed + retryable while fresh) go in seq order: a device with a problem
//   stops its queue, and a later job never goes before one that waits. When new work queues behind a waiting failure,
//   the failure is the device's next job and is handed over again first (straight from failed to sent, so its retry
//   wakes no runner again): if the device is still not ready it fails again and the queue stays put.
// - A device switched off (or a drawer whose printer is) gets nothing: its waiting jobs are dropped (dropWaiting),
//   and nothing here picks, requeues or hands over a job of it.
// - A sale voided takes its waiting receipt, kitchen tickets and display screens with it (dropWaitingOfSale, in the
//   void's transaction): they are dropped, not printed as if the sale stood. Its drawer kicks stay.
// - unknown (bytes may have reached the device) is never resent: the driver settles it by reading the device's
//   status, or a person says whether it printed. A reprint is a new job, marked as one.
// - A job past its expiry (a drawer kick after 10 s) is dropped, never delivered late.
// - Results apply at most once: a result for a job that is already final changes nothing.
// - A driver's result is taken only for a job handed over to it (sent). A job never sent, or back in the queue after
//   a retryable failure (nothing reached the device), did not run: a result for it — a repeat of the failure, or one
//   the hub never asked for — changes nothing, so it still prints exactly once when it goes out. A job sent and still
//   owing its result stays sent across reconnects (it is never put back in the queue), so a late result of one that
//   did print is taken.
import { and, asc, desc, eq, inArray, isNull, lt, or, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { checkRowCursor } from '../../db/page.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { getDevice } from './registry.ts'
import { deviceJobs, devices, type DeviceDocument, type DeviceJobAction, type DeviceJobState, type DeviceStatusLike } from './schema.ts'

export type DeviceJob = typeof deviceJobs.$inferSelect

/** How long each kind of work stays worth doing. */
export const JOB_TTL_MS: Record<DeviceJobAction, number> = { print: 3_600_000, drawer: 10_000, display: 30_000, weigh: 10_000 }

const FINAL: readonly DeviceJobState[] = ['done', 'failed', 'unknown', 'dropped']

export interface NewJob {
  deviceId: string
  action: Exclude<DeviceJobAction, 'drawer'>
  document: DeviceDocument
  idempotencyKey: string
  source: 'api' | 'reprint'
  reprintOf?: string | null
  ttlMs?: number
}

/** Creates a job unless its key exists; returns the job and whether it is new. */
export async function createJob(tx: Tx, actor: Actor, input: NewJob, now: Date): Promise<{ job: DeviceJob; created: boolean }> {
  const device = await getDevice(tx, actor.merchantId, input.deviceId)
  if (!device.enabled) throw invalid('device_disabled', `device ${device.name} is disabled`)
  const fits: Record<NewJob['action'], readonly string[]> = {
    print: ['receipt_printer', 'kitchen_printer', 'label_printer'],
    display: ['customer_display'],
    weigh: ['scale'],
  }
  if (!fits[input.action].includes(device.kind)) throw invalid('action_not_for_device', `a ${device.kind} cannot ${input.action}`)
  const [row] = await tx
    .insert(deviceJobs)
    .values({
      id: newId(),
      merchantId: actor.merchantId,
      storeId: device.storeId,
      deviceId: device.id,
      action: input.action,
      idempotencyKey: input.idempotencyKey,
      document: input.document,
      source: input.source,
      reprintOf: input.reprintOf ?? null,
      requestedBy: actor.id,
      expiresAt: new Date(now.getTime() + (input.ttlMs ?? JOB_TTL_MS[input.action])),
    })
    .onConflictDoNothing()
    .returning()
  if (row) return { job: row, created: true }
  const [existing] = await tx.select().from(deviceJobs).where(and(eq(deviceJobs.merchantId, actor.merchantId), eq(deviceJobs.idempotencyKey, input.idempotencyKey)))
  if (existing!.deviceId !== device.id || existing!.action !== input.action) {
    throw conflict('idempotency_key_reused', `key ${input.idempotencyKey} already names another job`, { jobId: existing!.id })
  }
  return { job: existing!, created: false }
}

/** A person asks for a printed document again: a new job marked as a reprint, never the original's key. */
export async function reprintJob(tx: Tx, actor: Actor, jobId: string, opts: { idempotencyKey?: string; deviceId?: string }, now: Date) {
  const original = await getJob(tx, actor.merchantId, jobId)
  if (original.action !== 'print') throw invalid('not_printable', 'only print jobs can be reprinted')
  const source = original.reprintOf ? await getJob(tx, actor.merchantId, original.reprintOf) : original
  if (opts.deviceId && opts.deviceId !== source.deviceId) {
    // Another printer of the same kind in the same store (a receipt does not print in the kitchen, nor in another shop).
    const [target, first] = [await getDevice(tx, actor.merchantId, opts.deviceId), await getDevice(tx, actor.merchantId, source.deviceId)]
    if (target.storeId !== source.storeId) throw invalid('device_of_other_store', 'a reprint goes to a printer of the store the job was printed in', { storeId: source.storeId })
    if (target.kind !== first.kind) throw invalid('wrong_printer_kind', `a reprint of a ${first.kind} job goes to a ${first.kind}`, { kind: first.kind })
  }
  const [{ n }] = (await tx.execute<{ n: number }>(sql`select count(*)::int as n from device_jobs where reprint_of = ${source.id}`)).rows as [{ n: number }]
  // A kitchen ticket is its station's lines: reprinted, it names the station it was printed for, wherever it prints.
  let document = source.document
  if (document.type === 'kitchen' && !document.station) {
    const station = await getDevice(tx, actor.merchantId, source.deviceId)
    document = { ...document, station: { deviceId: station.id, name: station.name, categoryIds: station.categoryIds } }
  }
  const result = await createJob(
    tx,
    actor,
    {
      deviceId: opts.deviceId ?? source.deviceId,
      action: 'print',
      document,
      idempotencyKey: opts.idempotencyKey ?? `reprint:${source.id}:${n + 1}`,
      source: 'reprint',
      reprintOf: source.id,
    },
    now,
  )
  if (result.created) await recordAudit(tx, actor, { action: 'receipt.reprinted', entityType: 'device_job', entityId: result.job.id, details: { original: source.id, document: source.document } })
  return result
}

export async function getJob(tx: Tx, merchantId: string, id: string): Promise<DeviceJob> {
  const [row] = await tx.select().from(deviceJobs).where(and(eq(deviceJobs.merchantId, merchantId), eq(deviceJobs.id, id)))
  if (!row) throw notFound('device_job', id)
  return row
}

export interface JobFilter {
  merchantId: string
  storeId?: string
  deviceId?: string
  state?: DeviceJobState
  /** The id of the previous page's last job. */
  after?: string
  limit: number
}

/** Jobs newest first. `after`: the id of the previous page's last job. */
export async function listJobs(tx: Tx, f: JobFilter) {
  if (f.after) await checkRowCursor(tx, deviceJobs, f.merchantId, f.after)
  return tx
    .select()
    .from(deviceJobs)
    .where(
      and(
        eq(deviceJobs.merchantId, f.merchantId),
        f.storeId ? eq(deviceJobs.storeId, f.storeId) : undefined,
        f.deviceId ? eq(deviceJobs.deviceId, f.deviceId) : undefined,
        f.state ? eq(deviceJobs.state, f.state) : undefined,
        f.after ? sql`${deviceJobs.seq} < (select c.seq from device_jobs c where c.id = ${f.after})` : undefined,
      ),
    )
    .orderBy(desc(deviceJobs.seq))
    .limit(f.limit)
}

const QUEUED = eq(deviceJobs.state, 'queued')
const FAILED_RETRYABLE = and(eq(deviceJobs.state, 'failed'), eq(deviceJobs.retryable, true))
/** A job still worth doing at `now`. */
const fresh = (now: Date) => sql`(${deviceJobs.expiresAt} is null or ${deviceJobs.expiresAt} > ${now.toISOString()}::timestamptz)`
/** A failed job that waits for its device (retryable, still fresh). */
const waitingFailure = (now: Date) => and(FAILED_RETRYABLE, fresh(now))
/** The job's device is switched on, and so is the printer a drawer is kicked through. */
const DEVICE_ON = sql`${deviceJobs.deviceId} in (select d.id from devices d left join devices p on p.id = d.printer_id where d.enabled and (p.id is null or p.enabled))`
/** Its device has queued work after it: a waiting failure then is the device's next job, handed over first. */
const QUEUED_AFTER = sql`exists (select 1 from device_jobs q where q.device_id = ${deviceJobs.deviceId} and q.state = 'queued' and q.seq > ${deviceJobs.seq})`

/** Queued work past its expiry is dropped (reason expired), never delivered late. Returns the dropped ids. */
export async function dropExpired(tx: Tx, where: { storeId?: string; deviceId?: string }, now: Date): Promise<string[]> {
  return drop(tx, and(where.storeId ? eq(deviceJobs.storeId, where.storeId) : undefined, where.deviceId ? eq(deviceJobs.deviceId, where.deviceId) : undefined, QUEUED, lt(deviceJobs.expiresAt, now)), 'expired', 'not delivered in time', now)
}

/**
 * Drops a device's waiting jobs — queued, or failed + retryable (waiting for the device to recover) — with why
 * (a device switched off); returns how many. A job handed over (sent) still reports its result.
 */
export async function dropWaiting(tx: Tx, deviceId: string, reason: string, message: string, now: Date): Promise<number> {
  return (await drop(tx, and(eq(deviceJobs.deviceId, deviceId), or(QUEUED, FAILED_RETRYABLE)), reason, message, now)).length
}

/**
 * A sale voided: its receipt, kitchen tickets and customer-display screens still waiting — queued, or failed +
 * retryable (waiting for paper, for the link) — are dropped (reason sale_voided), so none of them goes out as if the
 * sale stood. Drawer kicks are left alone (the void's own kick opens the drawer for the cash paid back), and so is
 * work already handed over. A reprint asked for after the void is a new job and prints marked VOID. Returns the
 * dropped ids. Called in the void's transaction.
 */
export async function dropWaitingOfSale(tx: Tx, where: { merchantId: string; storeId: string; saleId: string }, now: Date): Promise<string[]> {
  return drop(
    tx,
    and(
      eq(deviceJobs.merchantId, where.merchantId),
      eq(deviceJobs.storeId, where.storeId),
      inArray(deviceJobs.action, ['print', 'display']),
      sql`${deviceJobs.document}->>'saleId' = ${where.saleId}`,
      or(QUEUED, FAILED_RETRYABLE),
    ),
    'sale_voided',
    'the sale was voided before this reached the device',
    now,
  )
}

/** Drops the jobs `where` says (it names their states), with why; returns their ids. A dropped job is never retried. */
async function drop(tx: Tx, where: SQL | undefined, reason: string, message: string, now: Date): Promise<string[]> {
  const rows = await tx
    .update(deviceJobs)
    .set({ state: 'dropped', reason, message, retryable: false, finishedAt: now, updatedAt: now })
    .where(where)
    .returning({ id: deviceJobs.id })
  return rows.map((r) => r.id)
}

/**
 * A store's work not yet final on its switched-on bridged devices, in seq order: what its bridge must run (queued,
 * and a waiting failure with queued work of its device after it: the device's next job, see the header) or still
 * owes a result for (sent).
 */
export async function openWork(tx: Tx, storeId: string, now: Date) {
  await dropExpired(tx, { storeId }, now)
  return tx
    .select({ job: deviceJobs, device: devices })
    .from(deviceJobs)
    .innerJoin(devices, eq(devices.id, deviceJobs.deviceId))
    .where(
      and(
        eq(deviceJobs.storeId, storeId),
        or(inArray(deviceJobs.state, ['queued', 'sent']), and(waitingFailure(now), QUEUED_AFTER)),
        eq(devices.route, 'bridge'),
        DEVICE_ON,
      ),
    )
    .orderBy(asc(deviceJobs.seq))
}

/**
 * Marks jobs as handed over (to a bridge, or to the hub's own driver): queued ones, and a waiting failure handed over
 * again as its device's next job (openWork, claimNextForDevice). `to`: the bridge it goes to. Returns the ids marked:
 * a job another process handed over first is not among them.
 */
export async function markSent(tx: Tx, jobIds: string[], now: Date, preview?: Map<string, string>, to?: string): Promise<Set<string>> {
  if (!jobIds.length) return new Set()
  const rows = await tx
    .update(deviceJobs)
    .set({ state: 'sent', sentAt: now, sentTo: to ?? null, attempts: sql`${deviceJobs.attempts} + 1`, updatedAt: now })
    .where(and(inArray(deviceJobs.id, jobIds), or(QUEUED, FAILED_RETRYABLE)))
    .returning({ id: deviceJobs.id })
  for (const [id, text] of preview ?? []) await tx.update(deviceJobs).set({ preview: text }).where(eq(deviceJobs.id, id))
  return new Set(rows.map((r) => r.id))
}

const BRIDGE_REPLACED = 'bridge_replaced'

/**
 * A bridge greeting the hub for a store: the jobs of the store handed to another bridge (another journal) and not
 * answered may have run there — a receipt printed — so they are not handed to this one: their outcome is unknown
 * until the bridge that had them answers, a status read settles them, or a person does. Returns how many.
 */
export async function loseToOtherBridges(tx: Tx, storeId: string, bridgeId: string, now: Date): Promise<number> {
  const rows = await tx
    .update(deviceJobs)
    .set({ state: 'unknown', reason: BRIDGE_REPLACED, message: 'another bridge of the store took over while this job was with the bridge it was handed to: whether it ran is not known', finishedAt: now, updatedAt: now })
    .where(and(eq(deviceJobs.storeId, storeId), eq(deviceJobs.state, 'sent'), sql`${deviceJobs.sentTo} is distinct from ${bridgeId}`, sql`${deviceJobs.deviceId} in (select id from devices where route = 'bridge')`))
    .returning({ id: deviceJobs.id })
  return rows.length
}

export interface JobOutcome {
  jobId: string
  outcome: 'done' | 'failed' | 'unknown' | 'dropped'
  reason: string | null
  message: string | null
  retryable: boolean
  status: DeviceStatusLike | null
  weight?: { grams: number; stable: true } | null
  finishedAt: string
}


/**
 * What an unknown outcome becomes once the device answers a status read: nothing wrong → done (the bytes reached a
 * ready printer); a problem (paper end, cover open) → failed, not retryable (part may have printed: a person
 * decides on a reprint). No answer → still unknown.
 */
function settle(r: JobOutcome, status: DeviceStatusLike | null) {
  if (r.outcome !== 'unknown' || status?.online !== true) return { ...r, settledBy: null }
  return status.problem === null
    ? { ...r, outcome: 'done' as const, message: `outcome lost (${r.reason}); the device reported ready afterwards, so it is taken as done`, retryable: false, settledBy: 'status' }
    : { ...r, outcome: 'failed' as const, reason: status.problem, message: `outcome lost (${r.reason}); the device then reported ${status.problem}: reprint if the copy is incomplete`, retryable: false, settledBy: 'status' }
}

/**
 * Whether a job takes an outcome: the hub's own (no `from`) while it is open; a driver's only for a job handed over to
 * it — a bridge's for a job handed to that bridge, even after another bridge took over the store and its outcome was
 * lost (it is that bridge's answer, unless a status or a person settled it first).
 */
function takesResult(job: DeviceJob, from?: { route: 'bridge' | 'hub'; bridgeId?: string }): boolean {
  if (!from) return !FINAL.includes(job.state)
  const handedHere = from.bridgeId === undefined || job.sentTo === null || job.sentTo === from.bridgeId
  if (job.state === 'sent') return handedHere
  return job.state === 'unknown' && job.reason === BRIDGE_REPLACED && job.settledBy === null && from.bridgeId !== undefined && job.sentTo === from.bridgeId
}

/**
 * Applies an outcome at most once: a job still open takes it (an unknown one settled by the status read that came
 * with it), anything else — a repeat, a late result for a dropped job — is ignored. With `from` it is a driver's
 * result: only a job handed over (sent) to a device on that route takes it (see the header). Without it the hub
 * itself decides (a job it could not render, before or instead of handing it over). Returns the job as stored and
 * whether this call changed it.
 */
export async function applyOutcome(tx: Tx, storeId: string, r: JobOutcome, from?: { route: 'bridge' | 'hub'; bridgeId?: string }): Promise<{ job: DeviceJob | null; applied: boolean }> {
  const [found] = await tx
    .select({ job: deviceJobs, route: devices.route })
    .from(deviceJobs)
    .innerJoin(devices, eq(devices.id, deviceJobs.deviceId))
    .where(and(eq(deviceJobs.id, r.jobId), eq(deviceJobs.storeId, storeId)))
    .for('update', { of: deviceJobs })
  // A driver speaks for the jobs of its own route only: a bridge's result for a job the hub drives is ignored.
  if (!found || (from && found.route !== from.route)) return { job: null, applied: false }
  const job = found.job
  if (!takesResult(job, from)) return { job, applied: false }
  const s = settle(r, r.status)
  const result: Record<string, unknown> = {}
  if (r.status) result.status = r.status
  if (r.weight !== undefined) result.weight = r.weight
  const [row] = await tx
    .update(deviceJobs)
    .set({
      state: s.outcome,
      reason: s.reason,
      message: s.message,
      retryable: s.outcome === 'failed' && s.retryable,
      result,
      settledBy: s.settledBy,
      finishedAt: new Date(r.finishedAt),
      updatedAt: new Date(),
    })
    .where(eq(deviceJobs.id, job.id))
    .returning()
  return { job: row!, applied: true }
}

/** A status read from a device settles its jobs whose outcome was unknown (see settle). Returns how many. */
export async function settleUnknownByStatus(tx: Tx, deviceId: string, status: DeviceStatusLike, now: Date): Promise<number> {
  if (status.online !== true) return 0
  const open = await tx
    .select()
    .from(deviceJobs)
    .where(and(or(eq(deviceJobs.deviceId, deviceId), sql`${deviceJobs.deviceId} in (select id from devices where printer_id = ${deviceId})`), eq(deviceJobs.state, 'unknown'), isNull(deviceJobs.settledBy)))
  let n = 0
  for (const job of open) {
    const s = settle({ jobId: job.id, outcome: 'unknown', reason: job.reason, message: job.message, retryable: false, status, finishedAt: now.toISOString() }, status)
    await tx.update(deviceJobs).set({ state: s.outcome, reason: s.reason, message: s.message, retryable: false, settledBy: 'status', updatedAt: now }).where(eq(deviceJobs.id, job.id))
    n++
  }
  return n
}

/**
 * A device that recovered (paper back, cover closed, reachable again) gets its retryable failures back in the
 * queue, oldest first, while they are still fresh — unless it is switched off (its waiting work was dropped then).
 * Returns how many.
 */
export async function requeueRecovered(tx: Tx, deviceId: string, now: Date): Promise<number> {
  const rows = await tx
    .update(deviceJobs)
    .set({ state: 'queued', updatedAt: now })
    .where(
      and(
        or(eq(deviceJobs.deviceId, deviceId), sql`${deviceJobs.deviceId} in (select id from devices where printer_id = ${deviceId})`),
        waitingFailure(now),
        DEVICE_ON,
      ),
    )
    .returning({ id: deviceJobs.id })
  return rows.length
}

/** A person says what became of a job whose outcome was unknown (it printed, or it did not). Audited. */
export async function settleJob(tx: Tx, actor: Actor, jobId: string, input: { printed: boolean; note?: string }) {
  const job = await getJob(tx, actor.merchantId, jobId)
  if (job.state !== 'unknown') throw conflict('job_not_unknown', `job is ${job.state}; only an unknown outcome is settled by hand`)
  const [row] = await tx
    .update(deviceJobs)
    .set({
      state: input.printed ? 'done' : 'failed',
      retryable: false,
      settledBy: 'person',
      message: input.note ?? job.message,
      updatedAt: new Date(),
    })
    .where(eq(deviceJobs.id, jobId))
    .returning()
  await recordAudit(tx, actor, { action: 'device_job.settled', entityType: 'device_job', entityId: jobId, details: { printed: input.printed, note: input.note ?? null } })
  return row!
}

/**
 * Takes the next job of a hub-driven, switched-on device, dropping expired ones first: the earliest of its waiting
 * jobs when it has queued work — a waiting failure before the queued work goes again first (see the header), so a
 * later job never goes past it. Locked: it waits for a row another transaction holds (a recovery requeueing it)
 * rather than skipping to a later job; the runner's queue (device:<id>) keeps one runner per device.
 */
export async function claimNextForDevice(tx: Tx, deviceId: string, now: Date): Promise<DeviceJob | null> {
  await dropExpired(tx, { deviceId }, now)
  const [job] = await tx
    .select()
    .from(deviceJobs)
    .where(and(eq(deviceJobs.deviceId, deviceId), or(QUEUED, and(waitingFailure(now), QUEUED_AFTER)), DEVICE_ON))
    .orderBy(asc(deviceJobs.seq))
    .limit(1)
    .for('update')
  return job ?? null
}
