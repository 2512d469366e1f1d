// A yen merchant reconciling Stripe: fees, kept in thousandths of a minor unit, are written in yen on the dashboard
// and in its exports (JPY has no minor unit: 209 000 thousandths are 209 yen, not 2.09).
import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type SeededMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'

const TZ = 'Asia/Tokyo'

describe('dashboard fees of a JPY merchant', () => {
  const hub = useTestHub()
  let app: App
  let m: SeededMerchant
  let connectionId: string
  let date: string

  beforeAll(async () => {
    app = createApp(hub)
    m = await seedMerchant(hub, { timeZone: TZ, currency: 'JPY', locale: 'en' })
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
    const conn = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe JP', config: { secretKey: 'sk_test_51ItemizedReportKey0000000' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    connectionId = conn.body.id
    date = addDays(businessDate(new Date(), TZ), -1)
    hub.setNow(new Date(`${date}T10:00:00+09:00`))
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 5800 }], tenders: [{ kind: 'card', amount: 5800, paymentNo: 'JP-000001' }] })
    hub.setNow(undefined)
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,payment_intent_id,payment_metadata[payment_no]'
    // 10:00 Tokyo = 01:00 UTC. Stripe took a fee of 209 yen.
    const csv = `${head}\ntxn_J1,${date} 01:00:02,charge,jpy,5800,209,5591,pi_J1,JP-000001\n`
    const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date, format: 'stripe_itemized', fileName: 'r.csv' })}`, undefined, {
      raw: new TextEncoder().encode(csv),
      headers: { 'content-type': 'text/csv' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const ran = await api.post('/api/v1/reconciliation/runs', { connectionId, date })
    expect(ran.status, JSON.stringify(ran.body)).toBe(200)
  })

  it('shows the day’s Stripe fee of 209 yen as 209 yen on the day page', async () => {
    const c = formClient(app)
    expect((await c.login(m.adminEmail, m.password)).status).toBe(303)
    const page = await c.get(`/dashboard/reconciliation/${connectionId}/${date}`)
    expect(page.status).toBe(200)
    const totals = /<table id="day-totals">[\s\S]*?<\/table>/.exec(page.text)?.[0] ?? page.text
    const channelRow = /<tr><th>Channel<\/th>[\s\S]*?<\/tr>/.exec(totals)?.[0]
    // The run's fee total is 209 000 thousandths of a yen = 209 yen; "2.09000" would read as two yen.
    expect(channelRow).toBeDefined()
    expect(channelRow).not.toContain('2.09000')
    expect(channelRow).toMatch(/209(\.0+)?</)
  })

  it('writes the fee in the exceptions/summary CSV export in yen too', async () => {
    const c = formClient(app)
    await c.login(m.adminEmail, m.password)
    const r = await c.get(`/dashboard/reconciliation/export?what=exceptions&format=csv&from=${date}&to=${date}&connection=${connectionId}&state=all&timing=include`)
    expect(r.status).toBe(200)
    const s = await c.get(`/dashboard/reconciliation/export?what=summary&format=csv&from=${date}&to=${date}`)
    const row = s.text.replace(/^\ufeff/, '').trim().split(/\r?\n/)[1]!.split(',')
    const header = s.text.replace(/^\ufeff/, '').trim().split(/\r?\n/)[0]!.split(',')
    // channel_fee in major units: 209 yen, not 2.09.
    expect(Number(row[header.indexOf('channel_fee')])).toBe(209)
  })
})
