// Tasks that write one remote record, enqueued with enqueueForRecord (src/db/enqueue.ts). The record's named queue
// runs its jobs one at a time; this guard also keeps their order when an older job failed and waits for a retry,
// which graphile-worker alone would let a newer job of the same queue overtake.
import { sql } from 'drizzle-orm'
import type { z } from 'zod'
import type { DbJob } from 'graphile-worker'
import type { Db } from '../db/client.ts'
import { defineTask, type TaskDefinition } from './task.ts'

/** Thrown (and recorded as the job's last error) when a job gave its turn back to an older job of its record. */
export class RecordTurnError extends Error {
  readonly olderJobId: string
  constructor(olderJobId: string) {
    super(`waiting for job ${olderJobId} of the same record to finish first`)
    this.name = 'RecordTurnError'
    this.olderJobId = olderJobId
  }
}

/**
 * If an older job of the same queue is still unfinished (queued, or waiting for a retry), moves this job behind it
 * without spending an attempt and throws RecordTurnError; the worker then reschedules it after the older one.
 * A permanently failed older job does not block its record.
 */
export async function takeRecordTurn(db: Db, job: Pick<DbJob, 'id' | 'job_queue_id' | 'locked_by'>): Promise<void> {
  if (job.job_queue_id === null) return
  const older = await db.execute<{ id: string }>(sql`
    select o.id::text as id from graphile_worker._private_jobs o
    where o.job_queue_id = ${job.job_queue_id} and o.id < ${job.id}::bigint and o.attempts < o.max_attempts
    order by o.id limit 1`)
  const first = older.rows[0]
  if (!first) return
  // The worker adds exp(attempts) seconds to run_at when the error below fails this attempt.
  await db.execute(sql`
    update graphile_worker._private_jobs me
    set attempts = greatest(me.attempts - 1, 0), run_at = greatest(me.run_at, o.run_at)
    from graphile_worker._private_jobs o
    where me.id = ${job.id}::bigint and me.locked_by = ${job.locked_by} and o.id = ${first.id}::bigint`)
  throw new RecordTurnError(first.id)
}

/** A task whose jobs are enqueued per record: it runs only when every older job of its record has finished. */
export const defineRecordTask = <S extends z.ZodType>(def: TaskDefinition<S>): TaskDefinition<S> =>
  defineTask({
    ...def,
    async run(payload, ctx) {
      await takeRecordTurn(ctx.hub.database.db, ctx.helpers.job)
      return def.run(payload, ctx)
    },
  })
