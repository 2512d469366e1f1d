import { afterAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { enqueue } from '../../src/db/enqueue.ts'
import { startWorker, type WorkerHandle } from '../../src/jobs/worker.ts'
import { idempotencyKeys } from '../../src/db/infra-schema.ts'

const jobCount = async (hub: { database: { db: any } }, task: string) =>
  (await hub.database.db.execute(sql`select count(*)::int as n from graphile_worker.jobs where task_identifier = ${task}`)).rows[0].n as number

async function until(check: () => Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('jobs enqueued in the transaction that causes them', () => {
  const hub = useTestHub()
  let worker: WorkerHandle | undefined
  afterAll(async () => worker?.stop(2000))

  it('a rolled-back transaction enqueues nothing', async () => {
    const before = await jobCount(hub, 'maintenance.purge')
    await expect(
      hub.database.db.transaction(async (tx) => {
        await enqueue(tx, 'maintenance.purge', {})
        throw new Error('the sale failed')
      }),
    ).rejects.toThrow('the sale failed')
    expect(await jobCount(hub, 'maintenance.purge')).toBe(before)
  })

  it('a committed transaction enqueues its job, and the worker runs it', async () => {
    const m = await seedMerchant(hub)
    // An expired idempotency record: the purge job's effect is that it disappears.
    await hub.database.db.insert(idempotencyKeys).values({
      merchantId: m.merchantId,
      key: 'old',
      method: 'POST',
      path: '/x',
      requestHash: 'h',
      statusCode: 200,
      responseBody: '{}',
      expiresAt: new Date(Date.now() - 1000),
    })
    // Sign-in failures of an address quiet for a day go; a recent one stays.
    await hub.database.db.execute(sql`insert into sign_in_throttle (address, failures, updated_at) values ('192.0.2.200', 3, now() - interval '2 days'), ('192.0.2.201', 3, now())`)
    await hub.database.db.transaction(async (tx) => {
      await enqueue(tx, 'maintenance.purge', {}, { jobKey: 'purge-now' })
    })
    expect(await jobCount(hub, 'maintenance.purge')).toBe(1)
    worker = await startWorker(hub, { pollInterval: 100, cron: [] })
    await until(async () => (await jobCount(hub, 'maintenance.purge')) === 0)
    const left = await hub.database.db.execute(sql`select count(*)::int as n from idempotency_keys where key = 'old'`)
    expect(left.rows[0]!.n).toBe(0)
    const throttled = await hub.database.db.execute(sql`select address from sign_in_throttle where address like '192.0.2.20_'`)
    expect(throttled.rows).toEqual([{ address: '192.0.2.201' }])
  })

  it('a job key coalesces: enqueuing the same key twice leaves one job with the latest payload', async () => {
    await worker?.stop(2000)
    worker = undefined
    await hub.database.db.transaction(async (tx) => {
      await enqueue(tx, 'maintenance.purge', { n: 1 }, { jobKey: 'coalesce', runAt: new Date(Date.now() + 3600_000) })
      await enqueue(tx, 'maintenance.purge', { n: 2 }, { jobKey: 'coalesce', runAt: new Date(Date.now() + 3600_000) })
    })
    const rows = await hub.database.db.execute(sql`select payload from graphile_worker._private_jobs where key = 'coalesce'`)
    expect(rows.rows).toEqual([{ payload: { n: 2 } }])
  })

  it('a job whose payload breaks its schema fails with a clear error instead of running', async () => {
    const { allTasks } = await import('../../src/jobs/index.ts')
    const { buildTaskList } = await import('../../src/jobs/worker.ts')
    const list = buildTaskList(hub, allTasks)
    await expect((list['maintenance.purge'] as any)('not an object', { job: { id: 1, attempts: 1, max_attempts: 1 } })).rejects.toThrow(/invalid payload for maintenance.purge/)
  })
})
