// Background jobs of the merchant: what is queued, running, retrying or failed (with the redacted last error and
// links to its connection and record), and retry or cancel of one, or retry of a connection's failed jobs.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { RowCursor, uuid } from '../schemas.ts'
import { cancelJob, getJob, JOB_STATES, listJobs, retryFailedJobs, retryJob, type JobView } from '../../jobs/operations.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json, jsonBody, page } from '../route.ts'

const tags = ['Jobs']

export const JobSchema = z
  .object({
    id: z.string().openapi({ example: '1042' }),
    task: z.string().openapi({ example: 'webhooks.deliver' }),
    state: z.enum(JOB_STATES).openapi({
      description: 'queued: waiting for its first attempt; retrying: failed before and runs again at runAt; running: a worker has it now; failed: every attempt failed (kept until retried or cancelled)',
    }),
    attempts: z.number().int(),
    maxAttempts: z.number().int(),
    lastError: z.string().nullable().openapi({ description: 'The error of the last failed attempt, credentials masked' }),
    runAt: z.string(),
    createdAt: z.string(),
    updatedAt: z.string(),
    queueName: z.string().nullable().openapi({ description: 'Jobs sharing a queue run one at a time, in order (e.g. one remote record)' }),
    key: z.string().nullable(),
    connectionId: z.string().nullable(),
    record: z.object({ type: z.string(), id: z.string() }).nullable().openapi({ description: 'The business record the job concerns' }),
    links: z.object({ connection: z.string().nullable(), record: z.string().nullable().openapi({ description: 'API path of the record, when it has one' }) }),
  })
  .openapi('Job')

const toJob = (j: JobView): z.infer<typeof JobSchema> => ({
  ...j,
  runAt: j.runAt.toISOString(),
  createdAt: j.createdAt.toISOString(),
  updatedAt: j.updatedAt.toISOString(),
})

const JobIdParam = z.object({
  id: z
    .string()
    .regex(/^[1-9]\d{0,17}$/, { error: 'must be a job id (a positive integer)' })
    .openapi({ param: { name: 'id', in: 'path' }, example: '1042' }),
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/jobs',
  tags,
  summary: 'The merchant’s background jobs, newest first',
  description: 'Jobs that succeeded are removed by the worker and no longer listed.',
  access: 'jobs.manage',
  request: {
    query: z.object({
      state: z.enum(JOB_STATES).optional(),
      task: z.string().min(1).max(128).optional().openapi({ example: 'webhooks.deliver' }),
      connectionId: uuid({ error: 'must be a UUID' }).optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
      cursor: RowCursor(),
    }),
  },
  responses: { 200: json(page(JobSchema)) },
})

const get = defineRoute({ method: 'get', path: '/api/v1/jobs/{id}', tags, summary: 'One job', access: 'jobs.manage', request: { params: JobIdParam }, responses: { 200: json(JobSchema) } })

const retry = defineRoute({
  method: 'post',
  path: '/api/v1/jobs/{id}/retry',
  tags,
  summary: 'Run a job again now, with a full new round of attempts',
  description: 'A failed job goes back to the queue; a queued or retrying one is brought forward. A running job cannot be retried (409 job_running).',
  access: 'jobs.manage',
  request: { params: JobIdParam },
  responses: { 200: json(JobSchema) },
})

const cancel = defineRoute({
  method: 'post',
  path: '/api/v1/jobs/{id}/cancel',
  tags,
  summary: 'Remove a job that is not running',
  description: 'A queued, retrying or failed job is removed and will not run. A running job cannot be cancelled (409 job_running). A webhook delivery waiting on a cancelled webhooks.deliver job is parked (failed, lastError \'job cancelled\'), so it can be replayed.',
  access: 'jobs.manage',
  request: { params: JobIdParam },
  responses: { 200: json(z.object({ cancelled: z.literal(true), job: JobSchema }), 'Removed; the job as it was') },
})

const retryFailed = defineRoute({
  method: 'post',
  path: '/api/v1/jobs/retry-failed',
  tags,
  summary: 'Retry every failed job of a connection',
  access: 'jobs.manage',
  request: { body: jsonBody(z.object({ connectionId: uuid({ error: 'must be a UUID' }) }).strict()) },
  responses: { 200: json(z.object({ retried: z.number().int(), ids: z.array(z.string()) })) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const r = await listJobs(c.var.db, c.var.principal.merchantId, c.req.valid('query'))
    return c.json({ items: r.items.map(toJob), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(retryFailed, async (c) => c.json(await retryFailedJobs(c.var.db, c.var.principal, c.req.valid('json').connectionId), 200))
  app.openapi(get, async (c) => c.json(toJob(await getJob(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(retry, async (c) => c.json(toJob(await retryJob(c.var.db, c.var.principal, c.req.valid('param').id)), 200))
  app.openapi(cancel, async (c) => c.json({ cancelled: true as const, job: toJob(await cancelJob(c.var.db, c.var.principal, c.req.valid('param').id)) }, 200))
}
