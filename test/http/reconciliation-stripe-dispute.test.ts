// A USD merchant in New York reconciling Stripe through the uploaded itemized report: three card payments, a dispute
// (chargeback) of one of them with Stripe's 15.00 dispute fee, and the day's automatic payout of the net. The dispute's
// fee is part of what the payout carries and of the day's channel fees, in the run, the summary and the voucher alike.
import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings, type SeededStore } from '../helpers/pos.ts'

const TZ = 'America/New_York'
const DAY = '2026-03-20' // EDT: UTC-4
const ny = (local: string) => new Date(`${DAY}T${local}-04:00`)

describe('a Stripe day with a dispute', () => {
  const hub = useTestHub()
  let m: SeededMerchant
  let api: Api
  let store: SeededStore
  let sku: string
  let connectionId: string

  async function sell(when: Date, amount: number, paymentNo: string) {
    hub.setNow(when)
    try {
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity: amount }], tenders: [{ kind: 'card', amount, paymentNo }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body
    } finally {
      hub.setNow(undefined)
    }
  }

  beforeAll(async () => {
    m = await seedMerchant(hub, { timeZone: TZ, currency: 'USD', locale: 'en' })
    await setSettings(hub, m.merchantId, { vouchers: { grouping: 'merchant' } } as any)
    api = createApi(hub).as(m.adminToken)
    store = await seedStore(hub, m.merchantId)
    sku = (await seedProduct(hub, store, { price: 1, stock: 10_000_000 })).sku
    const conn = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe US', config: { secretKey: 'sk_test_51DisputeProbe000000000' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    connectionId = conn.body.id
    await sell(ny('10:00:00'), 5800, 'US-0001')
    await sell(ny('11:00:00'), 10000, 'US-0002')
    // 22:30 in New York is already the next day in UTC: still this business day.
    await sell(ny('22:30:00'), 2000, 'US-0003')
  })

  const head = 'balance_transaction_id,created_utc,reporting_category,currency,gross,fee,net,source_id,charge_id,payment_intent_id,automatic_payout_id,payment_metadata[payment_no]'
  // net of the paid-out rows: 56.02 + 96.80 + 19.12 - 115.00 = 56.94
  const report = [
    head,
    `txn_C1,${DAY} 14:00:03,charge,usd,58.00,1.98,56.02,ch_C1,ch_C1,pi_C1,po_D1,US-0001`,
    `txn_C2,${DAY} 15:00:03,charge,usd,100.00,3.20,96.80,ch_C2,ch_C2,pi_C2,po_D1,US-0002`,
    `txn_C3,2026-03-21 02:30:03,charge,usd,20.00,0.88,19.12,ch_C3,ch_C3,pi_C3,po_D1,US-0003`,
    `txn_D1,${DAY} 18:00:00,dispute,usd,-100.00,15.00,-115.00,dp_D1,ch_C2,pi_C2,po_D1,US-0002`,
    `txn_P1,${DAY} 20:00:00,payout,usd,-56.94,0.00,-56.94,po_D1,,,,`,
  ].join('\n')

  it('imports and runs the day; the payout equals the net of what it carries (dispute fee included)', async () => {
    const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date: DAY, format: 'stripe_itemized', fileName: 'itemized.csv' })}`, undefined, {
      raw: report,
      headers: { 'content-type': 'text/csv' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    expect(up.body.statement.lineCount).toBe(5)
    const run = await api.post('/api/v1/reconciliation/runs', { connectionId, date: DAY })
    expect(run.status, JSON.stringify(run.body)).toBe(200)
    const ex = await api.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}&state=all&outcome=matched,amount_diff,missing_in_pos,missing_in_channel,timing,fee_diff`)
    // Stripe paid out exactly the net of the balance transactions of payout po_D1: no difference.
    expect((ex.body.items as any[]).find((i) => i.posKind === 'payout'), 'the payout is not an exception').toBeUndefined()
    // The dispute itself is for finance to look at: money only the channel has.
    expect((ex.body.items as any[]).map((i) => [i.outcome, i.channelAmount, i.channelFeeMilli])).toEqual([['missing_in_pos', -10000, 1_500_000]])
  })

  it('the run, the summary and the voucher give the same channel fee', async () => {
    const run = await api.post('/api/v1/reconciliation/runs', { connectionId, date: DAY })
    const summary = await api.get(`/api/v1/reconciliation/summary?from=${DAY}&to=${DAY}&connectionId=${connectionId}`)
    expect(summary.status, JSON.stringify(summary.body)).toBe(200)
    const summaryFee = (summary.body.items as any[]).reduce((a, r) => a + r.channelFeeMilli, 0)
    const v = await api.post('/api/v1/vouchers/preview', { date: DAY })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    const feeLines = (v.body.lines as any[]).filter((l) => l.kind === 'channel_fee')
    const voucherFee = feeLines.reduce((a, l) => a + (l.debit ?? 0), 0)
    // Stripe took 1.98 + 3.20 + 0.88 in processing fees and 15.00 for the dispute.
    expect(voucherFee).toBe(2106)
    expect(run.body.totals.channel_fee_milli / 1000).toBe(voucherFee)
    expect(summaryFee / 1000).toBe(voucherFee)
  })
})
