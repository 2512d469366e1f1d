// Job operations: a merchant's view of its background jobs and the levers on them (retry, cancel), read from
// graphile-worker's own tables and changed only through its SQL functions (reschedule_jobs, complete_jobs).
//
// Terms:
// - a merchant's job: one whose payload carries `merchantId` (the convention of src/jobs/task.ts); others are
//   system jobs and are invisible here;
// - state: 'running' (locked by a worker), 'failed' (attempts used up; kept until retried or cancelled),
//   'retrying' (failed at least once, will run again at runAt), 'queued' (waiting for its first attempt);
// - a job's record: payload.record, or what RECORD_OF_TASK finds in the payload of tasks that name it otherwise.
// A job that succeeded is deleted by the worker, so it is no longer listed.
import { and, eq, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import type { Actor } from '../core/staff/actor.ts'
import { recordAudit } from '../core/staff/audit.ts'
import { getConnectionRow } from '../connectors/framework/connections.ts'
import { badRequest, conflict, notFound } from '../lib/errors.ts'
import { isUuid } from '../lib/ids.ts'
import { redactText } from '../lib/redact.ts'
import { DELIVER_TASK } from '../webhooks/outbound.ts'
import { webhookDeliveries } from '../webhooks/schema.ts'
import { parkDeliveries } from '../webhooks/subscriptions.ts'

export const JOB_STATES = ['queued', 'retrying', 'running', 'failed'] as const
export type JobState = (typeof JOB_STATES)[number]

export interface RecordRef {
  type: string
  id: string
}

export interface JobView {
  id: string
  task: string
  state: JobState
  attempts: number
  maxAttempts: number
  lastError: string | null
  runAt: Date
  createdAt: Date
  updatedAt: Date
  queueName: string | null
  key: string | null
  connectionId: string | null
  record: RecordRef | null
  links: { connection: string | null; record: string | null }
}

type Payload = Record<string, unknown>
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined)

/** Tasks whose payload names its record without `record`. */
export const RECORD_OF_TASK: Record<string, (p: Payload) => RecordRef | undefined> = {
  'webhooks.process': (p) => (str(p.inboundId) ? { type: 'inbound_webhook', id: str(p.inboundId)! } : undefined),
  'webhooks.deliver': (p) => (str(p.deliveryId) ? { type: 'webhook_delivery', id: str(p.deliveryId)! } : undefined),
}

/** Where the API shows a record of each type. */
export const RECORD_PATHS: Record<string, (id: string) => string> = {
  sale: (id) => `/api/v1/sales/${id}`,
  member: (id) => `/api/v1/members/${id}`,
  product: (id) => `/api/v1/products/${id}`,
  promotion: (id) => `/api/v1/promotions/${id}`,
  cash_session: (id) => `/api/v1/cash-sessions/${id}`,
  stock_count: (id) => `/api/v1/stock/counts/${id}`,
  stock_transfer: (id) => `/api/v1/stock/transfers/${id}`,
  stock_reservation: (id) => `/api/v1/stock/reservations/${id}`,
  inbound_webhook: (id) => `/api/v1/inbound-webhooks/${id}`,
  webhook_delivery: (id) => `/api/v1/webhook-deliveries/${id}`,
}

export function recordOf(task: string, payload: Payload): RecordRef | null {
  const r = payload.record as { type?: unknown; id?: unknown } | undefined
  if (r && typeof r === 'object' && str(r.type) && (str(r.id) || typeof r.id === 'number')) return { type: r.type as string, id: String(r.id) }
  return RECORD_OF_TASK[task]?.(payload) ?? null
}

/** A path built from payload values only when the id is a plain identifier (a UUID or digits). */
const plainId = (id: string) => isUuid(id) || /^\d{1,19}$/.test(id)

function links(connectionId: string | null, record: RecordRef | null) {
  const path = record && plainId(record.id) ? RECORD_PATHS[record.type]?.(record.id) : undefined
  return { connection: connectionId && isUuid(connectionId) ? `/api/v1/connections/${connectionId}` : null, record: path ?? null }
}

type JobRow = {
  id: string
  task: string
  state: JobState
  payload: Payload | null
  attempts: number
  max_attempts: number
  last_error: string | null
  run_at: string | Date
  created_at: string | Date
  updated_at: string | Date
  queue_name: string | null
  key: string | null
}

const LAST_ERROR_MAX = 4000

function view(r: JobRow): JobView {
  const payload = r.payload && typeof r.payload === 'object' ? r.payload : {}
  const connectionId = str(payload.connectionId) ?? null
  const record = recordOf(r.task, payload)
  const lastError = r.last_error === null ? null : redactText(r.last_error).slice(0, LAST_ERROR_MAX)
  return {
    id: r.id,
    task: r.task,
    state: r.state,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    lastError,
    runAt: new Date(r.run_at),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    queueName: r.queue_name,
    key: r.key,
    connectionId,
    record,
    links: links(connectionId, record),
  }
}

// graphile-worker treats a lock older than four hours as abandoned and runs the job again.
const STATE = sql`case
  when j.locked_at is not null and j.locked_at > now() - interval '4 hours' then 'running'
  when j.attempts >= j.max_attempts then 'failed'
  when j.attempts > 0 then 'retrying'
  else 'queued' end`

const selectJobs = (where: SQL, tail: SQL = sql``) => sql`
  select * from (
    select j.id::text as id, t.identifier as task, ${STATE} as state, j.payload, j.attempts, j.max_attempts, j.last_error,
           j.run_at, j.created_at, j.updated_at, q.queue_name, j.key
    from graphile_worker._private_jobs j
    join graphile_worker._private_tasks t on t.id = j.task_id
    left join graphile_worker._private_job_queues q on q.id = j.job_queue_id
    where ${where}
  ) jobs ${tail}`

const JOB_ID = /^[1-9]\d{0,17}$/
export const isJobId = (id: string) => JOB_ID.test(id)

export interface JobFilter {
  state?: JobState
  task?: string
  connectionId?: string
  /** The `nextCursor` of the previous page. */
  cursor?: string
  limit: number
}

/** The merchant's jobs, newest first. */
export async function listJobs(tx: Tx, merchantId: string, f: JobFilter): Promise<{ items: JobView[]; nextCursor: string | null }> {
  if (f.state !== undefined && !JOB_STATES.includes(f.state)) throw badRequest('invalid_state', `state must be one of ${JOB_STATES.join(', ')}`)
  if (f.cursor !== undefined && !isJobId(f.cursor)) throw badRequest('invalid_cursor', 'cursor must be the nextCursor of a previous page')
  const where = sql.join(
    [
      sql`j.payload->>'merchantId' = ${merchantId}`,
      f.task !== undefined ? sql`t.identifier = ${f.task}` : undefined,
      f.connectionId !== undefined ? sql`j.payload->>'connectionId' = ${f.connectionId}` : undefined,
      f.cursor !== undefined ? sql`j.id < ${f.cursor}::bigint` : undefined,
    ].filter((c): c is SQL => c !== undefined),
    sql` and `,
  )
  const tail = sql`${f.state !== undefined ? sql`where state = ${f.state}` : sql``} order by id::bigint desc limit ${f.limit + 1}`
  const rows = (await tx.execute<JobRow>(selectJobs(where, tail))).rows
  const items = rows.slice(0, f.limit).map(view)
  return { items, nextCursor: rows.length > f.limit ? items[items.length - 1]!.id : null }
}

async function findJob(tx: Tx, merchantId: string, id: string, opts: { lock?: boolean } = {}): Promise<JobView> {
  if (!isJobId(id)) throw notFound('job', id)
  // Locking the row keeps a worker from taking the job (it skips locked rows) while we change it.
  if (opts.lock) await tx.execute(sql`select 1 from graphile_worker._private_jobs where id = ${id}::bigint for update`)
  const [row] = (await tx.execute<JobRow>(selectJobs(sql`j.id = ${id}::bigint and j.payload->>'merchantId' = ${merchantId}`))).rows
  if (!row) throw notFound('job', id)
  return view(row)
}

export const getJob = (tx: Tx, merchantId: string, id: string) => findJob(tx, merchantId, id)

const running = (job: JobView) =>
  conflict('job_running', `Job ${job.id} (${job.task}) is running now; wait for its attempt to end`, { id: job.id, task: job.task })

/** Runs the job again now with a full new round of attempts. A queued or retrying job is brought forward. */
export async function retryJob(tx: Tx, actor: Actor, id: string): Promise<JobView> {
  const job = await findJob(tx, actor.merchantId, id, { lock: true })
  if (job.state === 'running') throw running(job)
  const done = await tx.execute(sql`select id from graphile_worker.reschedule_jobs(array[${id}::bigint], run_at => now(), attempts => 0)`)
  if (done.rows.length === 0) throw running(job)
  await recordAudit(tx, actor, { action: 'job.retried', entityType: 'job', entityId: id, details: { task: job.task, state: job.state } })
  return findJob(tx, actor.merchantId, id)
}

/** Retries every failed job of one of the merchant's connections; returns the ids retried. */
export async function retryFailedJobs(tx: Tx, actor: Actor, connectionId: string): Promise<{ retried: number; ids: string[] }> {
  await getConnectionRow(tx, actor.merchantId, connectionId)
  const done = await tx.execute<{ id: string }>(sql`
    select id::text as id from graphile_worker.reschedule_jobs(
      array(
        select j.id from graphile_worker._private_jobs j
        where j.payload->>'merchantId' = ${actor.merchantId} and j.payload->>'connectionId' = ${connectionId}
          and j.attempts >= j.max_attempts and j.locked_at is null
        order by j.id
        for update skip locked),
      run_at => now(), attempts => 0)
    order by id`)
  const ids = done.rows.map((r) => r.id)
  if (ids.length > 0) await recordAudit(tx, actor, { action: 'job.retried_failed', entityType: 'connection', entityId: connectionId, details: { jobIds: ids } })
  return { retried: ids.length, ids }
}

/** Removes a job that is not running (queued, waiting for a retry, or failed). */
export async function cancelJob(tx: Tx, actor: Actor, id: string): Promise<JobView> {
  const job = await findJob(tx, actor.merchantId, id, { lock: true })
  if (job.state === 'running') throw running(job)
  const done = await tx.execute(sql`select id from graphile_worker.complete_jobs(array[${id}::bigint])`)
  if (done.rows.length === 0) throw running(job)
  // A record waiting on the job says it waits no more, so it can be sent again by hand.
  if (job.task === DELIVER_TASK && job.record) {
    await parkDeliveries(tx, and(eq(webhookDeliveries.merchantId, actor.merchantId), eq(webhookDeliveries.id, job.record.id), eq(webhookDeliveries.status, 'pending'))!, 'job cancelled')
  }
  await recordAudit(tx, actor, { action: 'job.cancelled', entityType: 'job', entityId: id, details: { task: job.task, state: job.state } })
  return job
}
