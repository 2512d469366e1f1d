// Runs queued jobs in the test process with the hub's real task list, so a test sees the side effects a worker
// would produce. Retries that graphile-worker scheduled for later can be brought forward with `makeDue`.
import { runOnce } from 'graphile-worker'
import { sql } from 'drizzle-orm'
import type { Hub } from '../../src/runtime.ts'
import { allTasks } from '../../src/jobs/index.ts'
import { buildTaskList } from '../../src/jobs/worker.ts'
import { workerLogger } from '../../src/db/graphile-logger.ts'
import type { TaskDefinition } from '../../src/jobs/task.ts'

export interface QueuedJob {
  id: string
  task: string
  payload: any
  attempts: number
  maxAttempts: number
  lastError: string | null
  runAt: Date
  locked: boolean
}

/** The jobs still in the queue (graphile-worker deletes a job once it succeeds). */
export async function queuedJobs(hub: Hub, task?: string): Promise<QueuedJob[]> {
  const res = await hub.database.db.execute<any>(sql`
    select j.id::text, t.identifier as task, j.payload, j.attempts, j.max_attempts, j.last_error, j.run_at, j.locked_at is not null as locked
    from graphile_worker._private_jobs j join graphile_worker._private_tasks t on t.id = j.task_id
    where ${task ?? null}::text is null or t.identifier = ${task ?? null}
    order by j.id`)
  return res.rows.map((r) => ({ id: r.id, task: r.task, payload: r.payload, attempts: r.attempts, maxAttempts: r.max_attempts, lastError: r.last_error, runAt: new Date(r.run_at), locked: r.locked }))
}

/** Brings every waiting job (also retries scheduled for later) forward to now. */
export async function makeDue(hub: Hub, task?: string): Promise<void> {
  await hub.database.db.execute(sql`
    update graphile_worker._private_jobs j set run_at = now()
    from graphile_worker._private_tasks t
    where t.id = j.task_id and j.locked_at is null and j.attempts < j.max_attempts
      and (${task ?? null}::text is null or t.identifier = ${task ?? null})`)
}

/** Runs every job that is due now, once each, until the queue holds no due job (jobs added meanwhile run too). */
export async function drainJobs(hub: Hub, opts: { tasks?: TaskDefinition<any>[]; rounds?: number } = {}): Promise<void> {
  const taskList = buildTaskList(hub, opts.tasks ?? allTasks)
  for (let i = 0; i < (opts.rounds ?? 10); i++) {
    const due = await hub.database.db.execute<{ n: number }>(sql`
      select count(*)::int as n from graphile_worker._private_jobs
      where run_at <= now() and locked_at is null and attempts < max_attempts`)
    if (due.rows[0]!.n === 0) return
    await runOnce({ pgPool: hub.database.pool, taskList, logger: workerLogger(hub.logger) })
    await settled(hub, 2_000)
  }
}

/**
 * Waits until no job is locked any more: runOnce can return before the last completion is written, and on a loaded
 * machine that write (or a job another runner still holds) can take seconds. A job locked past the timeout is left
 * for the caller's own checks to find.
 */
export async function settled(hub: Hub, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    const locked = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from graphile_worker._private_jobs where locked_at is not null`)
    if (locked.rows[0]!.n === 0) return
    await new Promise((r) => setTimeout(r, 10))
  }
}

/** Runs every queued job, also the ones waiting for a later time (debounced pushes, deferred retries), until none is left. */
export async function settleAll(hub: Hub, rounds = 12): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    // A push still running elsewhere (another runner's, or its completion not yet written) holds its connection's
    // queue: a round spent while it runs would run nothing, so wait for it first.
    await settled(hub, 60_000)
    await makeDue(hub)
    await drainJobs(hub)
    const left = (await queuedJobs(hub)).filter((j) => j.attempts < j.maxAttempts)
    if (left.length === 0) return
  }
}
