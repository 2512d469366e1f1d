// The one way side effects leave the hub: a job added inside the transaction that causes it (DESIGN invariant 5).
// If the transaction rolls back, the job was never queued; once it commits, the worker will run it.
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
