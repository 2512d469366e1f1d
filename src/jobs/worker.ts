// Runs graphile-worker in this process over the hub's pool, with our task list and crontab, and keeps a heartbeat
// row so any process (an API-only one too) can tell whether a worker is alive.
//
// Every run goes through the wrapper of buildTaskList, whichever runner calls it (this worker, or runOnce): it
// validates the payload, gives the task a hub whose logger names the job (jobId, task) on every line, and counts the
// run's outcome and duration for /metrics (tillbridge_jobs_total, tillbridge_job_duration_seconds).
import os from 'node:os'
import { randomUUID } from 'node:crypto'
import { parseCronItems, run, type Runner, type TaskList } from 'graphile-worker'
import { sql } from 'drizzle-orm'
import type { Hub } from '../runtime.ts'
import type { Logger } from '../lib/logger.ts'
import { metricsFor, observeJob } from '../lib/metrics.ts'
import { workerLogger } from '../db/graphile-logger.ts'
import { allCron, allTasks } from './index.ts'
import type { CronDefinition, TaskDefinition } from './task.ts'

export interface WorkerHandle {
  readonly id: string
  isRunning(): boolean
  /** Stops taking jobs and waits (at most `timeoutMs`) for running ones to finish. */
  stop(timeoutMs?: number): Promise<void>
}

export interface StartWorkerOptions {
  concurrency?: number
  pollInterval?: number
  tasks?: TaskDefinition<any>[]
  cron?: CronDefinition[]
  heartbeatMs?: number
}

/** The hub as one job sees it: the same in every way but its logger. */
const hubForJob = (hub: Hub, logger: Logger): Hub => Object.create(hub, { logger: { value: logger, enumerable: true } }) as Hub

export function buildTaskList(hub: Hub, tasks: TaskDefinition<any>[]): TaskList {
  const metrics = metricsFor(hub.database)
  const list: TaskList = {}
  for (const def of tasks) {
    list[def.name] = async (raw, helpers) => {
      const { job } = helpers
      const log = hub.logger.child({ jobId: String(job.id), task: def.name, attempt: job.attempts })
      const started = performance.now()
      let ok = false
      try {
        const parsed = def.payload.safeParse(raw)
        if (!parsed.success) {
          throw new Error(`invalid payload for ${def.name}: ${parsed.error.issues.map((i: { path: PropertyKey[]; message: string }) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ')}`)
        }
        await def.run(parsed.data, {
          hub: hubForJob(hub, log),
          helpers,
          signal: helpers.abortSignal,
          job: { id: String(job.id), attempts: job.attempts, maxAttempts: job.max_attempts, key: job.key ?? null },
        })
        ok = true
      } finally {
        const seconds = (performance.now() - started) / 1000
        observeJob(metrics, { task: def.name, ok, seconds })
        log.debug({ ok, ms: Math.round(seconds * 10_000) / 10 }, ok ? 'job done' : 'job failed')
      }
    }
  }
  return list
}

export async function startWorker(hub: Hub, opts: StartWorkerOptions = {}): Promise<WorkerHandle> {
  const id = `${os.hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`
  const db = hub.database.db
  const beat = () =>
    db.execute(sql`
      insert into worker_heartbeats (worker_id, hostname, pid, started_at, seen_at)
      values (${id}, ${os.hostname()}, ${process.pid}, now(), now())
      on conflict (worker_id) do update set seen_at = now()`)
  await beat()

  const runner: Runner = await run({
    pgPool: hub.database.pool,
    taskList: buildTaskList(hub, opts.tasks ?? allTasks),
    parsedCronItems: parseCronItems(
      (opts.cron ?? allCron).map((c) => ({
        task: c.task,
        match: c.match,
        identifier: c.task,
        payload: c.payload,
        options: { backfillPeriod: c.backfillMs ?? 0, maxAttempts: 5 },
      })),
    ),
    concurrency: opts.concurrency ?? hub.config.workerConcurrency,
    // Jobs are fetched in batches and completions written together: one round trip serves many short jobs
    // (inbound webhook processing, deliveries). A job waiting in the local queue shows as locked; the batch is small
    // so another worker process is never starved for long.
    preset: { worker: { localQueue: { size: Math.max(8, (opts.concurrency ?? hub.config.workerConcurrency) * 4) }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    pollInterval: opts.pollInterval ?? hub.config.workerPollIntervalMs,
    noHandleSignals: true,
    logger: workerLogger(hub.logger.child({ component: 'worker' })),
  })

  let running = true
  const timer = setInterval(() => {
    beat().catch((err) => hub.logger.warn({ err }, 'worker heartbeat failed'))
  }, opts.heartbeatMs ?? 5000)
  timer.unref()
  runner.promise.catch((err) => {
    running = false
    hub.logger.error({ err }, 'worker stopped unexpectedly')
  })

  return {
    id,
    isRunning: () => running,
    async stop(timeoutMs = hub.config.shutdownTimeoutMs) {
      if (!running) return
      running = false
      clearInterval(timer)
      let timeout: NodeJS.Timeout | undefined
      const graceful = runner.stop('shutdown').catch(() => {})
      const forced = new Promise<'timeout'>((r) => (timeout = setTimeout(() => r('timeout'), timeoutMs)))
      if ((await Promise.race([graceful, forced])) === 'timeout') {
        hub.logger.warn({ timeoutMs }, 'jobs did not finish in time; they will be retried by the next worker')
        await runner.kill('shutdown timeout').catch(() => {})
      }
      clearTimeout(timeout)
      await db.execute(sql`delete from worker_heartbeats where worker_id = ${id}`).catch(() => {})
    },
  }
}

/** True when some worker process has beaten its heart within `withinMs`. */
export async function anyWorkerAlive(hub: Pick<Hub, 'database'>, withinMs = 30_000): Promise<boolean> {
  const r = await hub.database.db.execute<{ alive: boolean }>(
    sql`select exists(select 1 from worker_heartbeats where seen_at > now() - make_interval(secs => ${withinMs / 1000})) as alive`,
  )
  return r.rows[0]?.alive === true
}
