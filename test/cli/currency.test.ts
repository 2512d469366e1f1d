// What the command line prints for people about a yen merchant's voucher and reconciliation day: amounts in yen,
// which have no decimals.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { runCli } from '../helpers/processes.ts'

const TZ = 'Asia/Tokyo'
const DATE = '2026-04-14'

describe('tillbridge CLI for a JPY merchant', { timeout: 120_000 }, () => {
  const hub = useTestHub()
  let dir: string
  let env: Record<string, string>
  let storeId: string
  let connectionId: string

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-cli-jpy-'))
    env = { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }
    const m = await seedMerchant(hub, { timeZone: TZ, currency: 'JPY', locale: 'en' })
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId, { openSession: false, code: 'JP1' })
    storeId = store.storeId
    const item = await seedProduct(hub, store, { price: 5800, cost: 3000, stock: 100 })
    const conn = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe JP', config: { secretKey: 'sk_test_51ItemizedReportKey0000000' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    connectionId = conn.body.id
    hub.setNow(new Date(`${DATE}T10:00:00+09:00`))
    try {
      await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      const s = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 5800, paymentNo: 'JP-000001' }] })
      expect(s.status, JSON.stringify(s.body)).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
    const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,payment_intent_id,payment_metadata[payment_no]'
    // The channel settled 5,700 yen for a 5,800 yen sale: a difference of 100 yen.
    const csv = `${head}\ntxn_J1,${DATE} 01:00:02,charge,jpy,5700,209,5491,pi_J1,JP-000001\n`
    const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date: DATE, format: 'stripe_itemized', fileName: 'r.csv' })}`, undefined, {
      raw: new TextEncoder().encode(csv),
      headers: { 'content-type': 'text/csv' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('vouchers build prints the totals in yen (8800 = 5800 card + 3000 COGS), not as 88.00', async () => {
    const r = await runCli(['vouchers', 'build', '--store', storeId, '--date', DATE], env)
    expect(r.code, r.stderr).toBe(0)
    const line = r.stdout.split('\n').find((l) => l.includes('debit'))!
    expect(line).toBeDefined()
    expect(line).toMatch(/debit 8800 = credit 8800/)
  })

  it('reconcile run prints the till, channel and difference in yen', async () => {
    const r = await runCli(['reconcile', 'run', '--connection', connectionId, '--date', DATE], env)
    expect(r.code, r.stderr).toBe(0)
    const line = r.stdout.split('\n').find((l) => l.includes('till'))!
    expect(line, r.stdout).toMatch(/till 5800, channel 5700, difference -?100\b/)
  })
})
