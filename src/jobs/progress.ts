// Progress of long jobs for the dashboard's jobs page: a job says how far it has got (done of total, in a unit) and
// one row per (merchant, task, key) in job_progress holds the latest word. Writes are throttled to about one a
// second per job, so a loop may report after every batch; the first report and the last always get through.
//
// Terms:
// - key: what the run is about within its task (a connection and a day, a campaign run); a run of the same key
//   again starts the row over;
// - running: finished_at is null; a row whose updated_at stopped moving long ago belongs to a worker that died.
import { and, desc, eq, isNotNull, isNull, lt, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { jobProgress } from '../db/infra-schema.ts'

/** At most one write per job in this many milliseconds (the first and the finishing one always go through). */
export const PROGRESS_INTERVAL_MS = 1000
/** Finished rows are kept this long, then removed when a job of the merchant starts. */
export const PROGRESS_KEEP_MS = 30 * 86_400_000

export interface ProgressRef {
  merchantId: string
  task: string
  key: string
  /** What people see on the dashboard ("WeChat Pay 2026-11-10"). */
  label: string
  /** What is counted: 'rows', 'listings', 'recipients', … */
  unit: string
  jobId?: string | null
}

export interface ProgressUpdate {
  done: number
  /** Null or absent while the total is not known. */
  total?: number | null
}

export type ProgressRow = typeof jobProgress.$inferSelect

const lastWrite = new Map<string, number>()
const refKey = (r: Pick<ProgressRef, 'merchantId' | 'task' | 'key'>) => `${r.merchantId}\u0000${r.task}\u0000${r.key}`

const count = (n: number | null | undefined) => (n === null || n === undefined ? null : Math.max(0, Math.trunc(n)))

async function write(db: Tx, ref: ProgressRef, u: ProgressUpdate, at: Date, end: { finished?: boolean; error?: string | null; restart?: boolean }) {
  const done = count(u.done) ?? 0
  const total = count(u.total)
  const finishedAt = end.finished ? at : null
  const error = end.error ? end.error.slice(0, 2000) : null
  await db
    .insert(jobProgress)
    .values({ merchantId: ref.merchantId, task: ref.task, key: ref.key, label: ref.label, unit: ref.unit, jobId: ref.jobId ?? null, done, total, error, startedAt: at, updatedAt: at, finishedAt })
    .onConflictDoUpdate({
      target: [jobProgress.merchantId, jobProgress.task, jobProgress.key],
      set: {
        label: ref.label,
        unit: ref.unit,
        jobId: ref.jobId ?? null,
        done,
        total,
        error,
        updatedAt: at,
        finishedAt,
        // A run that reports again after it finished (or that says so) is a new run of the key.
        startedAt: end.restart ? at : sql`case when ${jobProgress.finishedAt} is not null then ${at.toISOString()}::timestamptz else ${jobProgress.startedAt} end`,
      },
    })
}

/**
 * Records how far a job has got, at most once per PROGRESS_INTERVAL_MS per job; returns whether it wrote. Runs on
 * its own connection (`db`, not the job's transaction), so the dashboard sees it while the job's work is uncommitted.
 */
export async function reportProgress(db: Tx, ref: ProgressRef, u: ProgressUpdate, opts: { now?: Date } = {}): Promise<boolean> {
  const at = opts.now ?? new Date()
  const k = refKey(ref)
  const last = lastWrite.get(k)
  if (last !== undefined && at.getTime() - last < PROGRESS_INTERVAL_MS) return false
  lastWrite.set(k, at.getTime())
  await write(db, ref, u, at, {})
  return true
}

/**
 * Starts a run of the key over (done 0 unless said), and clears the merchant's rows finished long ago. `resume`
 * continues a run that is not finished (a job that hands over to the next one) instead of starting it over.
 */
export async function startProgress(db: Tx, ref: ProgressRef, u: ProgressUpdate = { done: 0 }, opts: { now?: Date; resume?: boolean } = {}): Promise<void> {
  const at = opts.now ?? new Date()
  // The first report after the start goes through: people see the run move as soon as it does.
  lastWrite.delete(refKey(ref))
  await db.delete(jobProgress).where(and(eq(jobProgress.merchantId, ref.merchantId), isNotNull(jobProgress.finishedAt), lt(jobProgress.finishedAt, new Date(at.getTime() - PROGRESS_KEEP_MS))))
  await write(db, ref, u, at, { restart: !opts.resume })
}

/** The run is over: its last count is written whatever the throttle says; `error` marks it failed. */
export async function finishProgress(db: Tx, ref: ProgressRef, u: ProgressUpdate, opts: { now?: Date; error?: string | null } = {}): Promise<void> {
  const at = opts.now ?? new Date()
  lastWrite.delete(refKey(ref))
  await write(db, ref, u, at, { finished: true, error: opts.error ?? null })
}

export interface TrackOptions {
  done?: number
  total?: number | null
  /** Continue an unfinished run of the key (see startProgress). */
  resume?: boolean
  warn?: (err: unknown) => void
}

export interface ProgressTracker {
  update(done: number, total?: number | null): Promise<void>
  finish(u?: Partial<ProgressUpdate>): Promise<void>
  fail(error: unknown): Promise<void>
}

/**
 * A job's progress as one object: start, throttled updates, then finish or fail. Progress is a courtesy to the
 * people watching: a failed write is logged and the job goes on.
 */
export async function trackProgress(db: Tx, ref: ProgressRef, opts: TrackOptions = {}): Promise<ProgressTracker> {
  let last: ProgressUpdate = { done: opts.done ?? 0, total: opts.total ?? null }
  const quietly = async (f: () => Promise<unknown>) => {
    try {
      await f()
    } catch (err) {
      opts.warn?.(err)
    }
  }
  await quietly(() => startProgress(db, ref, last, { resume: opts.resume }))
  return {
    async update(done, total) {
      last = { done, total: total === undefined ? last.total : total }
      await quietly(() => reportProgress(db, ref, last))
    },
    async finish(u = {}) {
      const done = u.done ?? last.done
      // A total that was not known (or was an estimate) is what was done.
      const total = u.total === undefined ? (last.total === null || last.total === undefined || last.total < done ? done : last.total) : u.total
      last = { done, total }
      await quietly(() => finishProgress(db, ref, last))
    },
    async fail(error) {
      await quietly(() => finishProgress(db, ref, last, { error: error instanceof Error ? error.message : String(error) }))
    },
  }
}

/** Not finished yet, most recently started first. */
export const runningProgress = (db: Tx, merchantId: string, limit = 100) =>
  db.select().from(jobProgress).where(and(eq(jobProgress.merchantId, merchantId), isNull(jobProgress.finishedAt))).orderBy(desc(jobProgress.startedAt)).limit(limit)

/** Finished (failed ones included), most recent first. */
export const finishedProgress = (db: Tx, merchantId: string, limit = 20) =>
  db.select().from(jobProgress).where(and(eq(jobProgress.merchantId, merchantId), isNotNull(jobProgress.finishedAt))).orderBy(desc(jobProgress.finishedAt)).limit(limit)
