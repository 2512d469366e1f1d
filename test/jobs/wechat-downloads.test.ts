// Scheduled WeChat Pay bill downloads that go wrong halfway: a download cut short, and one of a day's two bills refused.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { generateKeyPairSync } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { queuedJobs } from '../helpers/jobs.ts'
import { wechatPaySandbox, wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { fetchSettlement, scheduleFetches, RECONCILE_TASK } from '../../src/jobs/reconciliation.ts'

const MCH = '1900000109'
const APPID = 'wx8888888888888888'
const API_KEY = 'k'.repeat(32)
const SERIAL = 'ABCDEF0123456789'
const PLATFORM_SERIAL = 'PUB_KEY_ID_0001'
const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const job = (attempts = 1, maxAttempts = 8) => ({ job: { id: '1', attempts, maxAttempts, key: null }, signal: new AbortController().signal })
const pemPair = () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  return { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, publicKey: publicKey.export({ type: 'spki', format: 'pem' }) as string }
}

describe('WeChat Pay bill downloads that go wrong halfway', () => {
  const { hub } = useTestHubWithDataDir('wechat-downloads')
  const merchantKeys = pemPair()
  const platformKeys = pemPair()
  let vendorNow = at('2026-11-11 10:31:00')
  const sandbox = wechatPaySandbox({
    mchId: MCH,
    appId: APPID,
    apiKey: API_KEY,
    feeRateBp: 60,
    merchant: { publicKey: merchantKeys.publicKey, serialNo: SERIAL },
    platform: { privateKey: platformKeys.privateKey, serial: PLATFORM_SERIAL },
    clock: () => vendorNow,
  })
  const server = setupServer(...sandbox.handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => {
    server.resetHandlers()
    hub.setNow(undefined)
    sandbox.state.failNext = 0
    vendorNow = at('2026-11-11 10:31:00')
  })
  afterAll(() => server.close())

  const v3Config = { apiVersion: 'v3', merchantSerialNo: SERIAL, privateKey: merchantKeys.privateKey, platformPublicKey: platformKeys.publicKey, platformSerial: PLATFORM_SERIAL }
  async function shop(config: Record<string, unknown> = { apiVersion: 'v2', appId: APPID, apiKey: API_KEY }) {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: MCH, feeRateBp: 60, ...config } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    return { m, admin, connectionId: conn.body.id as string, payload: (businessDate: string) => ({ merchantId: m.merchantId, connectionId: conn.body.id as string, businessDate }) }
  }
  const statements = async (connectionId: string) =>
    (await hub.database.db.execute<{ format: string; status: string; line_count: number }>(sql`select format, status, line_count from settlement_statements where connection_id = ${connectionId} order by created_at`)).rows
  const runs = async (connectionId: string) =>
    (await hub.database.db.execute<{ status: string; error: string | null }>(sql`select status, error from recon_runs where connection_id = ${connectionId} order by started_at, id`)).rows

  const rows: WechatBillRow[] = [
    { kind: 'payment', at: '2026-11-10 09:12:06', outTradeNo: 'TB261110091206AAAAAAAA', amount: 5800 },
    { kind: 'payment', at: '2026-11-10 20:00:01', outTradeNo: 'TB261110200001BBBBBBBB', amount: 1200 },
  ]

  it('v2: a bill download cut short is retried as a failed download, never recorded as a failed day', async () => {
    const s = await shop()
    const full = wechatBill({ rows, mchId: MCH, appId: APPID, feeRateBp: 60, gzip: true })
    const truncated = full.subarray(0, Math.floor(full.length * 0.6))
    server.use(http.post('https://api.mch.weixin.qq.com/pay/downloadbill', () => new HttpResponse(truncated, { status: 200, headers: { 'content-type': 'application/octet-stream' } })))
    hub.setNow(at('2026-11-11 10:35:00'))
    await expect(fetchSettlement(hub, s.payload('2026-11-10'), job(1, 8))).rejects.toMatchObject({ kind: 'retryable', vendorCode: 'DOWNLOAD_DAMAGED' })
    expect(await statements(s.connectionId)).toEqual([])
    expect(await runs(s.connectionId)).toEqual([])
    // Whole on the next try: imported and reconciled.
    server.resetHandlers()
    sandbox.state.days.set('2026-11-10', { rows })
    expect(await fetchSettlement(hub, s.payload('2026-11-10'), job(2, 8))).toMatchObject({ status: 'imported' })
    expect(await statements(s.connectionId)).toEqual([{ format: 'wechat_trade', status: 'imported', line_count: 2 }])
  })

  it('v3: a day whose fund-flow bill is refused still reconciles the trade bill imported before it, and says what was refused', async () => {
    const s = await shop(v3Config)
    const trade = wechatBill({ rows, mchId: MCH, appId: APPID, feeRateBp: 60 })
    sandbox.state.days.set('2026-11-10', { trade, fundflow: 'this,is,not,a,fund,flow\n1,2,3\n' })
    hub.setNow(at('2026-11-11 10:35:00'))
    const out = await fetchSettlement(hub, s.payload('2026-11-10'), job(1, 8))
    expect(out).toMatchObject({ status: 'fetch_failed' })
    expect((await statements(s.connectionId)).map((x) => [x.format, x.status])).toEqual([
      ['wechat_trade', 'imported'],
      ['wechat_fundflow', 'rejected'],
    ])
    expect((await runs(s.connectionId)).map((r) => r.status)).toEqual(['fetch_failed'])
    expect((await runs(s.connectionId))[0]!.error).toContain('wechat_fundflow')
    expect((await queuedJobs(hub, RECONCILE_TASK)).filter((j) => j.payload.connectionId === s.connectionId)).toHaveLength(1)
  })
})
