import { describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { z } from 'zod'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs, makeDue, queuedJobs } from '../helpers/jobs.ts'
import { enqueue, type EnqueueOptions, type TaskName } from '../../src/db/enqueue.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { defineTask } from '../../src/jobs/task.ts'
import { startWorker } from '../../src/jobs/worker.ts'

// Job bodies standing in for a vendor push: one the vendor refuses (its error quotes the credential it was sent),
// one that goes through, and one that holds on until the test lets it finish.
const LEAKED = 'sk_live_51HqLeakedSecretValue0001'
const Loose = z.object({}).loose()
const refusedPush = defineTask({
  name: 'test.push',
  payload: Loose,
  async run() {
    throw new Error(`vendor refused the call (Authorization: Bearer ${LEAKED})`)
  },
})
const pushed: string[] = []
const goodPush = defineTask({
  name: 'test.push',
  payload: Loose,
  async run(_p, { job }) {
    pushed.push(job.id)
  },
})

describe('job operations', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const [c1, c2] = await hub.database.db.transaction(async (tx) => [
      await createConnection(tx, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Stripe HK', config: { secretKey: 'sk_test_abc123' } }, new Date()),
      await createConnection(tx, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Stripe SG', config: { secretKey: 'sk_test_def456' } }, new Date()),
    ])
    const add = (task: TaskName, payload: object, opts: EnqueueOptions = {}) => hub.database.db.transaction((tx) => enqueue(tx, task, { merchantId: m.merchantId, ...payload }, opts))
    return { m, api, c1: c1!.id, c2: c2!.id, add }
  }
  const later = () => new Date(Date.now() + 3600_000)

  it('lists queued and failed jobs with the redacted last error and links to their connection and record', async () => {
    const { api, c1, add } = await setup()
    const saleId = randomUUID()
    const inboundId = randomUUID()
    const deliveryId = randomUUID()
    const failing = await add('test.push', { connectionId: c1, record: { type: 'sale', id: saleId } }, { maxAttempts: 2 })
    const inbound = await add('webhooks.process', { connectionId: c1, inboundId }, { runAt: later() })
    const delivery = await add('webhooks.deliver', { deliveryId }, { runAt: later() })

    await drainJobs(hub, { tasks: [refusedPush] })
    const retrying = await api.get(`/api/v1/jobs/${failing}`)
    expect(retrying.body).toMatchObject({ state: 'retrying', attempts: 1, maxAttempts: 2 })
    await makeDue(hub, 'test.push')
    await drainJobs(hub, { tasks: [refusedPush] })

    const all = await api.get('/api/v1/jobs')
    expect(all.status).toBe(200)
    expect(all.body.items.map((j: any) => j.id)).toEqual([delivery, inbound, failing])
    expect(JSON.stringify(all.body)).not.toContain(LEAKED)
    const [d, i, f] = all.body.items
    expect(f).toMatchObject({
      task: 'test.push',
      state: 'failed',
      attempts: 2,
      maxAttempts: 2,
      connectionId: c1,
      record: { type: 'sale', id: saleId },
      links: { connection: `/api/v1/connections/${c1}`, record: `/api/v1/sales/${saleId}` },
    })
    expect(f.lastError).toBe('vendor refused the call (Authorization: Bearer [REDACTED])')
    expect(i).toMatchObject({
      task: 'webhooks.process',
      state: 'queued',
      attempts: 0,
      lastError: null,
      record: { type: 'inbound_webhook', id: inboundId },
      links: { connection: `/api/v1/connections/${c1}`, record: `/api/v1/inbound-webhooks/${inboundId}` },
    })
    expect(d).toMatchObject({ state: 'queued', connectionId: null, record: { type: 'webhook_delivery', id: deliveryId }, links: { connection: null, record: `/api/v1/webhook-deliveries/${deliveryId}` } })
    expect(new Date(d.runAt).getTime()).toBeGreaterThan(Date.now())

    const ids = async (query: string) => (await api.get(`/api/v1/jobs?${query}`)).body.items.map((j: any) => j.id)
    expect(await ids('state=failed')).toEqual([failing])
    expect(await ids('state=queued')).toEqual([delivery, inbound])
    expect(await ids('state=running')).toEqual([])
    expect(await ids('task=webhooks.process')).toEqual([inbound])
    expect(await ids(`connectionId=${c1}`)).toEqual([inbound, failing])

    const paged: string[] = []
    let cursor: string | null = null
    do {
      const p: any = await api.get(`/api/v1/jobs?limit=1${cursor ? `&cursor=${cursor}` : ''}`)
      expect(p.body.items.length).toBeLessThanOrEqual(1)
      paged.push(...p.body.items.map((j: any) => j.id))
      cursor = p.body.nextCursor
    } while (cursor)
    expect(paged).toEqual([delivery, inbound, failing])
  })

  it('refuses a bad filter, cursor or id with a 400, and an unknown job with a 404', async () => {
    const { api } = await setup()
    const badState = await api.get('/api/v1/jobs?state=stuck')
    expect(badState.status).toBe(400)
    expect(badState.body.error.code).toBe('validation_failed')
    expect(badState.body.error.message).toContain('query.state')
    expect((await api.get('/api/v1/jobs?cursor=abc')).status).toBe(400)
    expect((await api.get('/api/v1/jobs?connectionId=nope')).status).toBe(400)
    expect((await api.get('/api/v1/jobs/not-a-job')).status).toBe(400)
    expect((await api.post('/api/v1/jobs/retry-failed', {})).status).toBe(400)
    expect((await api.post('/api/v1/jobs/retry-failed', { connectionId: 'x' })).status).toBe(400)
    const missing = await api.get('/api/v1/jobs/999999999')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('job_not_found')
    expect((await api.post('/api/v1/jobs/retry-failed', { connectionId: randomUUID() })).body.error.code).toBe('connection_not_found')
  })

  it('retry puts a failed job back in the queue with a full round of attempts, and it then runs', async () => {
    const { api, c1, add } = await setup()
    const job = await add('test.push', { connectionId: c1 }, { maxAttempts: 1 })
    await drainJobs(hub, { tasks: [refusedPush] })
    expect((await api.get(`/api/v1/jobs/${job}`)).body.state).toBe('failed')

    const r = await api.post(`/api/v1/jobs/${job}/retry`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: job, state: 'queued', attempts: 0, maxAttempts: 1 })
    expect(new Date(r.body.runAt).getTime()).toBeLessThanOrEqual(Date.now())
    await drainJobs(hub, { tasks: [goodPush] })
    expect(pushed).toContain(job)
    // A job that succeeded is gone from the queue.
    expect((await api.get(`/api/v1/jobs/${job}`)).status).toBe(404)
    const audit = await hub.database.db.execute(sql`select action, details->>'task' as task from audit_log where entity_type = 'job' and entity_id = ${job}`)
    expect(audit.rows).toEqual([{ action: 'job.retried', task: 'test.push' }])
  })

  it('retry-failed of a connection retries only that connection’s failed jobs', async () => {
    const { api, c1, c2, add } = await setup()
    const a = await add('test.push', { connectionId: c1 }, { maxAttempts: 1 })
    const b = await add('test.push', { connectionId: c1 }, { maxAttempts: 1 })
    const other = await add('test.push', { connectionId: c2 }, { maxAttempts: 1 })
    const waiting = await add('test.later', { connectionId: c1 }, { runAt: later() })
    await drainJobs(hub, { tasks: [refusedPush] })

    const r = await api.post('/api/v1/jobs/retry-failed', { connectionId: c1 })
    expect(r.status).toBe(200)
    expect(r.body).toEqual({ retried: 2, ids: [a, b] })
    expect((await api.get(`/api/v1/jobs/${other}`)).body.state).toBe('failed')
    expect((await api.get(`/api/v1/jobs/${waiting}`)).body).toMatchObject({ state: 'queued' })
    expect(new Date((await api.get(`/api/v1/jobs/${waiting}`)).body.runAt).getTime()).toBeGreaterThan(Date.now())

    await drainJobs(hub, { tasks: [goodPush] })
    expect(pushed).toEqual(expect.arrayContaining([a, b]))
    expect(pushed).not.toContain(other)
    expect((await api.post('/api/v1/jobs/retry-failed', { connectionId: c1 })).body).toEqual({ retried: 0, ids: [] })
  })

  it('cancel removes a queued job, and a running job can be neither cancelled nor retried', async () => {
    const { api, c1, add } = await setup()
    const queued = await add('test.later', { connectionId: c1 }, { runAt: later() })
    const c = await api.post(`/api/v1/jobs/${queued}/cancel`)
    expect(c.status).toBe(200)
    expect(c.body).toMatchObject({ cancelled: true, job: { id: queued, task: 'test.later', state: 'queued' } })
    expect((await api.get(`/api/v1/jobs/${queued}`)).status).toBe(404)
    expect((await queuedJobs(hub)).map((j) => j.id)).not.toContain(queued)
    expect((await api.post(`/api/v1/jobs/${queued}/cancel`)).status).toBe(404)

    let started!: () => void
    let release!: () => void
    const isStarted = new Promise<void>((r) => (started = r))
    const released = new Promise<void>((r) => (release = r))
    let runs = 0
    const slowPush = defineTask({
      name: 'test.slow-push',
      payload: Loose,
      async run() {
        runs++
        started()
        await released
      },
    })
    const running = await add('test.slow-push', { connectionId: c1 })
    const worker = await startWorker(hub, { concurrency: 1, tasks: [slowPush], cron: [], pollInterval: 50 })
    try {
      await isStarted
      expect((await api.get(`/api/v1/jobs/${running}`)).body.state).toBe('running')
      expect((await api.get('/api/v1/jobs?state=running')).body.items.map((j: any) => j.id)).toEqual([running])
      for (const action of ['retry', 'cancel']) {
        const r = await api.post(`/api/v1/jobs/${running}/${action}`)
        expect(r.status).toBe(409)
        expect(r.body.error.code).toBe('job_running')
      }
      release()
      const deadline = Date.now() + 10_000
      while ((await queuedJobs(hub, 'test.slow-push')).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
      expect(await queuedJobs(hub, 'test.slow-push')).toEqual([])
      expect(runs).toBe(1)
    } finally {
      release()
      await worker.stop(5000)
    }
  })

  it('jobs of one merchant are invisible to another, and need the jobs.manage permission', async () => {
    const a = await setup()
    const b = await setup()
    const queued = await a.add('test.later', { connectionId: a.c1 }, { runAt: later() })
    const failed = await a.add('test.push', { connectionId: a.c1 }, { maxAttempts: 1 })
    await drainJobs(hub, { tasks: [refusedPush] })

    const seenByB = await b.api.get('/api/v1/jobs')
    expect(seenByB.status).toBe(200)
    expect(seenByB.body.items).toEqual([])
    expect((await b.api.get(`/api/v1/jobs?connectionId=${a.c1}`)).body.items).toEqual([])
    expect((await b.api.get(`/api/v1/jobs/${queued}`)).status).toBe(404)
    expect((await b.api.post(`/api/v1/jobs/${failed}/retry`)).status).toBe(404)
    expect((await b.api.post(`/api/v1/jobs/${queued}/cancel`)).status).toBe(404)
    expect((await b.api.post('/api/v1/jobs/retry-failed', { connectionId: a.c1 })).status).toBe(404)
    expect((await a.api.get(`/api/v1/jobs/${queued}`)).body.state).toBe('queued')
    expect((await a.api.get(`/api/v1/jobs/${failed}`)).body.state).toBe('failed')

    const cashier = createApi(hub).as((await a.m.staff('cashier')).token)
    const denied = await cashier.get('/api/v1/jobs')
    expect(denied.status).toBe(403)
    expect((await cashier.post(`/api/v1/jobs/${failed}/retry`)).status).toBe(403)
  })
})
