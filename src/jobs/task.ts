// A task is declared with its name, the zod schema of its payload and what it does; the worker validates every
// payload before running it, so a malformed job fails with a clear error instead of half-running.
//
// Payloads say what a job concerns, so job operations (src/jobs/operations.ts) can scope, filter and link it:
// `merchantId` for a merchant's job (without it, a system job no merchant sees), `connectionId` for a
// connection's, and `record: { type, id }` for a business record's (e.g. { type: 'sale', id }). Tasks whose payload
// names its record another way are listed in RECORD_OF_TASK there.
import type { z } from 'zod'
import type { JobHelpers } from 'graphile-worker'
import type { TaskName } from '../db/enqueue.ts'
import type { Hub } from '../runtime.ts'

export interface JobContext {
  hub: Hub
  job: { id: string; attempts: number; maxAttempts: number; key: string | null }
  helpers: JobHelpers
  signal: AbortSignal
}

export interface TaskDefinition<S extends z.ZodType = z.ZodType> {
  name: TaskName
  payload: S
  run(payload: z.infer<S>, ctx: JobContext): Promise<void>
}

export const defineTask = <S extends z.ZodType>(def: TaskDefinition<S>): TaskDefinition<S> => def

/** A recurring job: `match` is a cron expression in UTC; daily merchant work checks the merchant's own time zone. */
export interface CronDefinition {
  task: TaskName
  match: string
  /** Catch up a missed run within this many milliseconds after a restart. */
  backfillMs?: number
  payload?: Record<string, unknown>
}
