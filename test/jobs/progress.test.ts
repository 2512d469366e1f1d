import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { and, eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { wechatPaySandbox, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { jobProgress } from '../../src/db/infra-schema.ts'
import { enqueue } from '../../src/db/enqueue.ts'
import { FETCH_TASK } from '../../src/jobs/reconciliation.ts'
import { finishProgress, PROGRESS_INTERVAL_MS, reportProgress, startProgress, trackProgress, type ProgressRef } from '../../src/jobs/progress.ts'

const MCH = '1900000109'
const APPID = 'wx8888888888888888'
const API_KEY = 'k'.repeat(32)
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

describe('job progress', () => {
  const hub = useTestHub()

  const rowOf = async (ref: Pick<ProgressRef, 'merchantId' | 'task' | 'key'>) =>
    (await hub.database.db.select().from(jobProgress).where(and(eq(jobProgress.merchantId, ref.merchantId), eq(jobProgress.task, ref.task), eq(jobProgress.key, ref.key))))[0]

  it('writes at most once a second per job, always the first report after the start and the finish, and a new run starts the row over', async () => {
    const m = await seedMerchant(hub)
    const ref: ProgressRef = { merchantId: m.merchantId, task: 'test.task', key: 'k1', label: 'Test run', unit: 'rows' }
    const other: ProgressRef = { ...ref, key: 'k2' }
    const t0 = new Date('2026-05-01T00:00:00Z')
    const plus = (ms: number) => new Date(t0.getTime() + ms)

    await startProgress(hub.database.db, ref, { done: 0, total: 500 }, { now: t0 })
    expect(await rowOf(ref)).toMatchObject({ done: 0, total: 500, unit: 'rows', label: 'Test run', finishedAt: null, startedAt: t0 })
    expect(await reportProgress(hub.database.db, ref, { done: 10, total: 500 }, { now: plus(50) })).toBe(true)
    expect(await reportProgress(hub.database.db, ref, { done: 20, total: 500 }, { now: plus(300) })).toBe(false)
    // Another job has its own budget.
    expect(await reportProgress(hub.database.db, other, { done: 1 }, { now: plus(300) })).toBe(true)
    expect(await rowOf(ref)).toMatchObject({ done: 10, updatedAt: plus(50) })
    expect(await reportProgress(hub.database.db, ref, { done: 300, total: 500 }, { now: plus(50 + PROGRESS_INTERVAL_MS) })).toBe(true)
    expect(await rowOf(ref)).toMatchObject({ done: 300, total: 500, finishedAt: null })

    await finishProgress(hub.database.db, ref, { done: 500, total: 500 }, { now: plus(1200) })
    expect(await rowOf(ref)).toMatchObject({ done: 500, total: 500, finishedAt: plus(1200), error: null, startedAt: t0 })

    // The same key reporting again is a new run: started anew, not finished.
    await reportProgress(hub.database.db, ref, { done: 5, total: 9 }, { now: plus(60_000) })
    expect(await rowOf(ref)).toMatchObject({ done: 5, total: 9, finishedAt: null, startedAt: plus(60_000) })
    await finishProgress(hub.database.db, ref, { done: 5, total: 9 }, { now: plus(61_000), error: 'vendor said no' })
    expect(await rowOf(ref)).toMatchObject({ finishedAt: plus(61_000), error: 'vendor said no' })
  })

  it('a tracker finishes with the total it learnt, and marks a failure', async () => {
    const m = await seedMerchant(hub)
    const ref: ProgressRef = { merchantId: m.merchantId, task: 'test.task', key: 'stream', label: 'Streamed', unit: 'rows' }
    const p = await trackProgress(hub.database.db, ref)
    await p.update(1000)
    expect(await rowOf(ref)).toMatchObject({ done: 1000, total: null, finishedAt: null })
    await p.finish({ done: 1234 })
    expect(await rowOf(ref)).toMatchObject({ done: 1234, total: 1234 })
    const failing = await trackProgress(hub.database.db, { ...ref, key: 'fails' }, { total: 10 })
    await failing.update(3)
    await failing.fail(new Error('disk full'))
    expect(await rowOf({ ...ref, key: 'fails' })).toMatchObject({ done: 3, total: 10, error: 'disk full', finishedAt: expect.any(Date) })
  })

  describe('of a statement import job', () => {
    const sandbox = wechatPaySandbox({ mchId: MCH, appId: APPID, apiKey: API_KEY, feeRateBp: 60, clock: () => at('2026-11-11 10:31:00') })
    const server = setupServer(...sandbox.handlers)
    beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
    afterAll(() => server.close())

    it('reports the rows read while the bill streams in, and finishes with done equal to the total', async () => {
      const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
      const admin = createApi(hub).as(m.adminToken)
      const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat 门店', config: { mchId: MCH, apiVersion: 'v2', appId: APPID, apiKey: API_KEY, feeRateBp: 60 } })
      expect(conn.status).toBe(201)
      const N = 5_000
      const rows: WechatBillRow[] = Array.from({ length: N }, (_, i) => ({ kind: 'payment', at: '2026-11-10 12:00:00', outTradeNo: `P${String(i).padStart(12, '0')}`, amount: 100 + (i % 50) }))
      sandbox.state.days.set('2026-11-10', { rows })
      const ref = { merchantId: m.merchantId, task: FETCH_TASK, key: `${conn.body.id}:2026-11-10` }
      await enqueue(hub.database.db, FETCH_TASK, { merchantId: m.merchantId, connectionId: conn.body.id, businessDate: '2026-11-10' })

      // Watch the table while the worker runs the job.
      const seen: { done: number; total: number | null; finished: boolean }[] = []
      let running = true
      const watcher = (async () => {
        while (running) {
          const r = await rowOf(ref)
          if (r) seen.push({ done: r.done, total: r.total, finished: r.finishedAt !== null })
          await new Promise((res) => setTimeout(res, 5))
        }
      })()
      hub.setNow(at('2026-11-11 10:35:00'))
      try {
        await drainJobs(hub)
      } finally {
        running = false
        hub.setNow(undefined)
        await watcher
      }
      const during = seen.filter((s) => !s.finished && s.done > 0)
      expect(during.length).toBeGreaterThan(0)
      expect(during.every((s) => s.done < N && s.total === null)).toBe(true)
      const final = await rowOf(ref)
      expect(final).toMatchObject({ done: N, total: N, unit: 'rows', label: 'WeChat 门店 2026-11-10', error: null, finishedAt: expect.any(Date) })
      expect(final!.jobId).toMatch(/^\d+$/)
    }, 120_000)
  })
})
