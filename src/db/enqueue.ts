// The one way side effects leave the hub: a job added inside the transaction that causes it (DESIGN invariant 5).
// If the transaction rolls back, the job was never queued; once it commits, the worker will run it.
//
// Payload convention (job operations in src/jobs/operations.ts list, retry and cancel by it): a job that concerns
// a merchant carries `merchantId`; one that concerns a connection carries `connectionId`; one that concerns a
// business record carries `record: { type, id }` (e.g. { type: 'sale', id }). A job without `merchantId` is a
// system job and no merchant sees it.
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Tx } from './client.ts'

export interface EnqueueOptions {
  /** A job with the same key replaces a queued one instead of adding another (coalescing, debouncing). */
  jobKey?: string
  /** 'replace' (default) updates payload and run time; 'preserve_run_at' keeps the earlier time; 'unsafe_dedupe' keeps the first. */
  jobKeyMode?: 'replace' | 'preserve_run_at' | 'unsafe_dedupe'
  /** Jobs sharing a queue name run one at a time, in order. */
  queueName?: string
  runAt?: Date
  maxAttempts?: number
  priority?: number
}

/** Task names are `area.verb` (DESIGN section 6). */
export type TaskName = `${string}.${string}`

export async function enqueue(tx: Tx, task: TaskName, payload: object, opts: EnqueueOptions = {}): Promise<string> {
  const rows = await tx.execute<{ id: string }>(sql`
    select (graphile_worker.add_job(
      identifier => ${task},
      payload => ${JSON.stringify(payload)}::json,
      queue_name => ${opts.queueName ?? null},
      run_at => ${opts.runAt?.toISOString() ?? null}::timestamptz,
      max_attempts => ${opts.maxAttempts ?? null}::int,
      job_key => ${opts.jobKey ?? null},
      priority => ${opts.priority ?? null}::int,
      job_key_mode => ${opts.jobKeyMode ?? 'replace'}
    )).id::text as id`)
  return rows.rows[0]!.id
}

export interface RecordJobOptions extends Omit<EnqueueOptions, 'queueName'> {
  connectionId: string
  /** Names the remote record within the connection, e.g. `sku:ABC-1` or `order:1001`. */
  recordKey: string
}

const QUEUE_NAME_MAX = 128

/** The named queue of one remote record; keys too long for graphile-worker's 128 characters are hashed (a collision only serialises two records together). */
export function recordQueueName(connectionId: string, recordKey: string): string {
  const name = `rec:${connectionId}:${recordKey}`
  if (name.length <= QUEUE_NAME_MAX) return name
  return `rec:${connectionId}:sha256:${createHash('sha256').update(recordKey).digest('base64url')}`
}

/**
 * Enqueues a job that touches one remote record: jobs of the same record run one at a time, in enqueue order, so an
 * older write never lands after a newer one; jobs of other records run in parallel. The job runs no earlier than
 * the latest unfinished job of its record (also one waiting for a retry). Its task should be declared with
 * `defineRecordTask` (src/jobs/record-queue.ts), which keeps the order when an older job fails after this one
 * was queued. The payload gets `connectionId` if it lacks it.
 */
export async function enqueueForRecord(tx: Tx, task: TaskName, payload: object, opts: RecordJobOptions): Promise<string> {
  const { connectionId, recordKey, ...rest } = opts
  const given = (payload as { connectionId?: unknown }).connectionId
  if (given !== undefined && given !== connectionId) throw new Error(`${task}: payload.connectionId ${String(given)} differs from the record's connection ${connectionId}`)
  const queueName = recordQueueName(connectionId, recordKey)
  const rows = await tx.execute<{ id: string }>(sql`
    select (graphile_worker.add_job(
      identifier => ${task},
      payload => ${JSON.stringify({ ...payload, connectionId })}::json,
      queue_name => ${queueName},
      run_at => greatest(
        coalesce(${rest.runAt?.toISOString() ?? null}::timestamptz, clock_timestamp()),
        (select max(j.run_at) + interval '1 microsecond'
           from graphile_worker._private_jobs j
           join graphile_worker._private_job_queues q on q.id = j.job_queue_id
          where q.queue_name = ${queueName} and j.attempts < j.max_attempts)
      ),
      max_attempts => ${rest.maxAttempts ?? null}::int,
      job_key => ${rest.jobKey ?? null},
      priority => ${rest.priority ?? null}::int,
      job_key_mode => ${rest.jobKeyMode ?? 'replace'}
    )).id::text as id`)
  return rows.rows[0]!.id
}
