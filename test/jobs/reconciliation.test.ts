import fs from 'node:fs'
import path from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, queuedJobs } from '../helpers/jobs.ts'
import { wechatBill, wechatPaySandbox, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { fetchSettlement, notReadyDeadline, scheduleFetches, FETCH_TASK, RECONCILE_TASK } from '../../src/jobs/reconciliation.ts'

const MCH = '1900000109'
const APPID = 'wx8888888888888888'
const API_KEY = 'k'.repeat(32)
const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const job = (attempts = 1, maxAttempts = 8) => ({ job: { id: '1', attempts, maxAttempts, key: null }, signal: new AbortController().signal })

describe('settlement jobs against the WeChat Pay simulator', () => {
  // A data dir of its own, where the bills are downloaded to until they are imported.
  const { hub, dataDir, files } = useTestHubWithDataDir('fetch')
  const downloads = () => files('downloads')
  let vendorNow = at('2026-11-11 10:31:00')
  const sandbox = wechatPaySandbox({ mchId: MCH, appId: APPID, apiKey: API_KEY, feeRateBp: 60, clock: () => vendorNow })
  const server = setupServer(...sandbox.handlers)

  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => {
    hub.setNow(undefined)
    sandbox.state.failNext = 0
    vendorNow = at('2026-11-11 10:31:00')
  })
  afterAll(() => server.close())

  async function shop(config: Record<string, unknown> = {}) {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: MCH, apiVersion: 'v2', appId: APPID, apiKey: API_KEY, feeRateBp: 60, ...config } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const sell = async (when: Date, amount: number) => {
      hub.setNow(when)
      try {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })
        expect(r.status).toBe(201)
        return r.body as { id: string; lines: { id: string }[]; tenders: { paymentNo: string; amount: number }[] }
      } finally {
        hub.setNow(undefined)
      }
    }
    return { m, admin, connectionId: conn.body.id as string, sell, payload: (businessDate: string) => ({ merchantId: m.merchantId, connectionId: conn.body.id as string, businessDate }) }
  }

  const statements = async (connectionId: string) =>
    (await hub.database.db.execute<{ format: string; status: string; line_count: number; business_date: string }>(sql`select format, status, line_count, business_date::text from settlement_statements where connection_id = ${connectionId} order by created_at`)).rows
  const runs = async (connectionId: string) =>
    (await hub.database.db.execute<{ status: string; error: string | null; counts: any; business_date: string }>(sql`select status, error, counts, business_date::text from recon_runs where connection_id = ${connectionId} order by started_at, id`)).rows
  const clearQueue = () => hub.database.db.execute(sql`delete from graphile_worker._private_jobs`)

  it('queues yesterday’s fetch at 10:30 local time, once; the fetch imports the bill and the reconcile runs the day', async () => {
    await clearQueue()
    const s = await shop()
    const sale = await s.sell(at('2026-11-10 09:12:05'), 5800)
    const other = await s.sell(at('2026-11-10 20:00:00'), 1200)
    const rows: WechatBillRow[] = [
      { kind: 'payment', at: '2026-11-10 09:12:06', outTradeNo: sale.tenders[0]!.paymentNo, amount: 5800 },
      { kind: 'payment', at: '2026-11-10 20:00:01', outTradeNo: other.tenders[0]!.paymentNo, amount: 1200, feeMilli: 9000 },
    ]
    sandbox.state.days.set('2026-11-10', { rows })

    expect((await scheduleFetches(hub, { now: at('2026-11-11 10:29:00') })).queued.filter((q) => q.connectionId === s.connectionId)).toEqual([])
    const queued = await scheduleFetches(hub, { now: at('2026-11-11 10:35:00') })
    expect(queued.queued.filter((q) => q.connectionId === s.connectionId)).toEqual([s.payload('2026-11-10')])
    await scheduleFetches(hub, { now: at('2026-11-11 11:35:00') })
    expect((await queuedJobs(hub, FETCH_TASK)).filter((j) => j.payload.connectionId === s.connectionId)).toHaveLength(1)

    hub.setNow(at('2026-11-11 10:35:00'))
    await drainJobs(hub)
    expect(await statements(s.connectionId)).toEqual([{ format: 'wechat_trade', status: 'imported', line_count: 2, business_date: '2026-11-10' }])
    // The bill was downloaded to a file, imported from it, and the file removed (the statement keeps the original).
    expect(fs.existsSync(path.join(dataDir, 'downloads'))).toBe(true)
    expect(downloads()).toEqual([])
    const [run] = await runs(s.connectionId)
    // The second payment's fee (0.09000 on 12.00) is off the contract's 0.6 % (0.07200) by more than a fen.
    expect(run).toMatchObject({ status: 'exceptions', business_date: '2026-11-10', counts: { matched: 1, fee_diff: 1 } })
    const ev = await hub.database.db.execute(sql`select data from events where merchant_id = ${s.m.merchantId} and type = 'settlement.exception'`)
    expect(ev.rows).toHaveLength(1)
    // The day has its statement: the next hourly check leaves it alone.
    expect((await scheduleFetches(hub, { now: at('2026-11-11 12:35:00') })).queued.filter((q) => q.connectionId === s.connectionId)).toEqual([])
  })

  it('a hub that was down fetches every day it missed when it comes back, not the days before the connection was made', async () => {
    await clearQueue()
    // The connection is made on the 18th.
    hub.setNow(at('2026-11-18 09:00:00'))
    const s = await shop().finally(() => hub.setNow(undefined))
    const ours = (r: { queued: { connectionId: string; businessDate: string }[] }) => r.queued.filter((q) => q.connectionId === s.connectionId).map((q) => q.businessDate)
    expect(ours(await scheduleFetches(hub, { now: at('2026-11-19 10:35:00') }))).toEqual(['2026-11-17', '2026-11-18'])
    await clearQueue()
    // The 17th and 18th fetched; then down from the 19th until the 22nd.
    for (const day of ['2026-11-17', '2026-11-18']) await hub.database.db.execute(sql`insert into recon_runs (id, merchant_id, connection_id, business_date, status, statement_ids, started_at) values (gen_random_uuid(), ${s.m.merchantId}, ${s.connectionId}, ${day}, 'not_ready', '{}', now())`)
    expect(ours(await scheduleFetches(hub, { now: at('2026-11-22 10:35:00') }))).toEqual(['2026-11-19', '2026-11-20', '2026-11-21'])
    // Down for a month: a week back is fetched, the rest is left to be fetched by hand.
    await clearQueue()
    expect(ours(await scheduleFetches(hub, { now: at('2026-12-30 10:35:00') }))).toEqual(['2026-12-23', '2026-12-24', '2026-12-25', '2026-12-26', '2026-12-27', '2026-12-28', '2026-12-29'])
  })

  it('waits for a bill that is still being generated, and records the day as not ready after the deadline', async () => {
    await clearQueue()
    const s = await shop()
    vendorNow = at('2026-11-12 08:00:00')
    hub.setNow(at('2026-11-12 08:00:00'))
    const waiting = await fetchSettlement(hub, s.payload('2026-11-11'), job())
    expect(waiting).toEqual({ status: 'waiting', until: at('2026-11-12 08:30:00') })
    const again = (await queuedJobs(hub, FETCH_TASK)).filter((j) => j.payload.connectionId === s.connectionId)
    expect(again).toHaveLength(1)
    expect(again[0]!.runAt.getTime()).toBe(at('2026-11-12 08:30:00').getTime())
    expect(notReadyDeadline('2026-11-11', TZ)).toEqual(at('2026-11-12 18:00:00'))
    // Past the deadline (WeChat still says "Bill Creating"): the day is recorded as not ready, and nothing more is queued.
    await clearQueue()
    hub.setNow(at('2026-11-12 18:00:00'))
    const late = await fetchSettlement(hub, s.payload('2026-11-11'), job())
    expect(late.status).toBe('not_ready')
    expect(await runs(s.connectionId)).toMatchObject([{ status: 'not_ready', business_date: '2026-11-11', error: expect.stringContaining('Bill Creating') }])
    expect(await queuedJobs(hub, FETCH_TASK)).toEqual([])
    expect(await statements(s.connectionId)).toEqual([])
  })

  it('a bill uploaded by hand while the day’s fetch waits stays the day’s statement: the waiting fetch leaves the day alone', async () => {
    await clearQueue()
    const s = await shop()
    const sale = await s.sell(at('2026-11-11 12:00:00'), 900)
    const rows: WechatBillRow[] = [{ kind: 'payment', at: '2026-11-11 12:00:02', outTradeNo: sale.tenders[0]!.paymentNo, amount: 900 }]
    vendorNow = at('2026-11-12 08:00:00')
    hub.setNow(at('2026-11-12 08:00:00'))
    expect(await fetchSettlement(hub, s.payload('2026-11-11'), job())).toMatchObject({ status: 'waiting' })
    // Finance downloads the bill from the merchant platform and uploads it before the hub asks again.
    const upload = await s.admin.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId: s.connectionId, date: '2026-11-11', format: 'wechat_trade', fileName: 'wx-2026-11-11.csv' })}`, undefined, {
      raw: new Uint8Array(wechatBill({ rows, mchId: MCH, feeRateBp: 60 })),
      headers: { 'content-type': 'text/csv' },
    })
    expect(upload.status, JSON.stringify(upload.body)).toBe(201)
    sandbox.state.days.set('2026-11-11', { rows })
    vendorNow = at('2026-11-12 08:30:00')
    hub.setNow(at('2026-11-12 08:30:00'))
    expect(await fetchSettlement(hub, s.payload('2026-11-11'), job())).toMatchObject({ status: 'skipped' })
    expect(await statements(s.connectionId)).toEqual([{ format: 'wechat_trade', status: 'imported', line_count: 1, business_date: '2026-11-11' }])
  })

  it('a day without transactions becomes an empty statement, and the till’s payments turn timing', async () => {
    await clearQueue()
    const s = await shop()
    const sale = await s.sell(at('2026-11-13 12:00:00'), 700)
    vendorNow = at('2026-11-14 10:40:00')
    hub.setNow(at('2026-11-14 10:40:00'))
    const r = await fetchSettlement(hub, s.payload('2026-11-13'), job())
    expect(r.status).toBe('empty')
    expect(await statements(s.connectionId)).toMatchObject([{ format: 'empty', status: 'empty', line_count: 0 }])
    expect((await queuedJobs(hub, RECONCILE_TASK)).map((j) => j.payload)).toEqual([s.payload('2026-11-13')])
    await drainJobs(hub)
    expect(await runs(s.connectionId)).toMatchObject([{ status: 'balanced', counts: { timing: 1 } }])
    const item = await hub.database.db.execute(sql`select outcome from recon_items where pos_ref = ${sale.tenders[0]!.paymentNo}`)
    expect(item.rows).toEqual([{ outcome: 'timing' }])
  })

  it('retries what WeChat may mend, asks again through an outage until the deadline, and records a fetch that failed for good without leaking the key', async () => {
    await clearQueue()
    const s = await shop()
    sandbox.state.days.set('2026-11-15', { rows: [{ kind: 'payment', at: '2026-11-15 10:00:00', outTradeNo: 'TB261115100000AAAAAAAA', amount: 100 }] })
    vendorNow = at('2026-11-16 11:00:00')
    hub.setNow(at('2026-11-16 11:00:00'))
    sandbox.state.failNext = 100
    await expect(fetchSettlement(hub, s.payload('2026-11-15'), job(1, 8))).rejects.toMatchObject({ kind: 'retryable' })
    expect(await runs(s.connectionId)).toEqual([])
    // The job's own retries spent (about half an hour of outage): asked again in 30 minutes, not given up on.
    const outage = await fetchSettlement(hub, s.payload('2026-11-15'), job(8, 8))
    expect(outage).toEqual({ status: 'waiting', until: at('2026-11-16 11:30:00') })
    expect(await runs(s.connectionId)).toEqual([])
    const again = (await queuedJobs(hub, FETCH_TASK)).filter((j) => j.payload.connectionId === s.connectionId)
    expect(again.map((j) => [j.payload.businessDate, j.runAt.getTime(), j.attempts])).toEqual([['2026-11-15', at('2026-11-16 11:30:00').getTime(), 0]])
    // Still down at the deadline: the day is recorded as failed, and nothing more is queued.
    await clearQueue()
    vendorNow = at('2026-11-16 18:00:00')
    hub.setNow(at('2026-11-16 18:00:00'))
    const last = await fetchSettlement(hub, s.payload('2026-11-15'), job(8, 8))
    expect(last.status).toBe('fetch_failed')
    expect(await queuedJobs(hub, FETCH_TASK)).toEqual([])
    sandbox.state.failNext = 0
    const wrongKey = await shop({ apiKey: 'w'.repeat(32) })
    const refused = await fetchSettlement(hub, wrongKey.payload('2026-11-15'), job(1, 8))
    expect(refused.status).toBe('fetch_failed')
    const [run] = await runs(wrongKey.connectionId)
    expect(run!.status).toBe('fetch_failed')
    expect(run!.error).not.toContain('w'.repeat(32))
    expect(hub.logs.text).not.toContain('w'.repeat(32))
    // The day's fetch that now succeeds imports the bill.
    const ok = await fetchSettlement(hub, s.payload('2026-11-15'), job())
    expect(ok.status).toBe('imported')
    // Neither the failed fetches nor the good one left a download behind.
    expect(downloads()).toEqual([])
  })
})
