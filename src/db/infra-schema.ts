// Tables of the hub's own machinery that belong to no business area.
import { sql } from 'drizzle-orm'
import { bigint, date, index, integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { createdAt, merchantId, timestamptz } from './columns.ts'

/** Stored results of mutating API calls, keyed by the caller's Idempotency-Key (DESIGN invariant 3). */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    merchantId: merchantId(),
    key: text('key').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    requestHash: text('request_hash').notNull(),
    statusCode: integer('status_code').notNull(),
    responseBody: text('response_body').notNull(),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>().notNull().default({}),
    principalId: uuid('principal_id'),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.key] })],
)

/** Each worker process says it is alive here, so an API-only process can report worker health. */
export const workerHeartbeats = pgTable('worker_heartbeats', {
  workerId: text('worker_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamptz('started_at').notNull(),
  seenAt: timestamptz('seen_at').notNull(),
})

/**
 * How far a long job (a statement import, a stock audit, a campaign send) has got, for the dashboard's jobs page:
 * one row per (merchant, task, key), written at most about once a second while it runs (src/jobs/progress.ts).
 * A run of the same key again starts the row over.
 */
export const jobProgress = pgTable(
  'job_progress',
  {
    merchantId: merchantId(),
    task: text('task').notNull(),
    key: text('key').notNull(),
    label: text('label').notNull(),
    /** The graphile-worker job that reported last, when it ran as one. */
    jobId: text('job_id'),
    done: bigint('done', { mode: 'number' }).notNull().default(0),
    /** Null while the total is not known (a streamed file). */
    total: bigint('total', { mode: 'number' }),
    unit: text('unit').notNull(),
    /** Why the run stopped, when it failed. */
    error: text('error'),
    startedAt: timestamptz('started_at').notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [
    primaryKey({ columns: [t.merchantId, t.task, t.key] }),
    index('job_progress_running_idx').on(t.merchantId, t.startedAt).where(sql`${t.finishedAt} is null`),
    index('job_progress_finished_idx').on(t.merchantId, t.finishedAt),
  ],
)

/**
 * How far a merchant's daily scheduled work has got: the last local day it has done (the day's vouchers built). A hub
 * that was down catches up from the day after it, every day once and in order, however long it was down.
 */
export const dailyMarks = pgTable(
  'daily_marks',
  {
    merchantId: merchantId(),
    task: text('task').notNull(),
    through: date('through', { mode: 'string' }).notNull(),
    updatedAt: timestamptz('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.task] })],
)
