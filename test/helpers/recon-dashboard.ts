// A reconciled business day for the dashboard's tests: a shop with a WeChat Pay connection (made through the API),
// sales rung up through the API, WeChat's ALL trade bill for the day (the real text layout) uploaded and the day run
// through the reconciliation API. The day is yesterday in Shanghai, so it is in the dashboard's default range.
import { expect } from 'vitest'
import type { TestHub } from './db.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from './api.ts'
import { seedProduct, seedStore } from './pos.ts'
import { wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'

export const TZ = 'Asia/Shanghai'
const at = (date: string, time: string) => new Date(`${date}T${time}+08:00`)

export interface ReconDay {
  m: SeededMerchant
  api: Api
  connectionId: string
  connectionName: string
  date: string
  run: { id: string; status: string }
  /** payment_no of each sale's WeChat tender. */
  refs: { exact: string; short: string; unbilled: string }
  /** The channel's reference of a line the till does not know (the terminal used its own number). */
  foreignRef: string
}

/**
 * Three WeChat sales of yesterday: one the bill matches exactly (12.00), one the bill settled 1.00 short (34.00 rung
 * up, 33.00 billed: an amount difference), one the bill lacks (5.60: timing) and that the bill carries under the
 * terminal's own number instead (an unknown merchant reference). Two open exceptions, one carried-over item.
 */
export async function seedReconDay(hub: TestHub): Promise<ReconDay> {
  const m = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY', locale: 'en' })
  const api = createApi(hub).as(m.adminToken)
  const store = await seedStore(hub, m.merchantId)
  const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
  const connectionName = 'WeChat Pay 微信支付'
  // The contract says 0.55 %, the bill charges 0.60 %: each fee is a fraction of a fen over (a Δ fee, never a fee_diff).
  const config = { apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 55 }
  const created = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: connectionName, config })
  expect(created.status, JSON.stringify(created.body)).toBe(201)
  const connectionId = created.body.id as string

  const date = addDays(businessDate(new Date(), TZ), -1)
  const sell = async (amount: number, time: string) => {
    hub.setNow(at(date, time))
    try {
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      expect(r.body.businessDate).toBe(date)
      return r.body.tenders[0].paymentNo as string
    } finally {
      hub.setNow(undefined)
    }
  }
  const refs = { exact: await sell(1200, '10:00:00'), short: await sell(3400, '11:30:00'), unbilled: await sell(560, '15:45:10') }
  const foreignRef = 'POS9001-000017'

  const rows: WechatBillRow[] = [
    { kind: 'payment', at: at(date, '10:00:02'), outTradeNo: refs.exact, amount: 1200 },
    { kind: 'payment', at: at(date, '11:30:01'), outTradeNo: refs.short, amount: 3300 },
    { kind: 'payment', at: at(date, '15:45:12'), outTradeNo: foreignRef, amount: 560 },
  ]
  // Finance uploads WeChat's bill and runs the day through the API, as they would by hand.
  const bytes = wechatBill({ rows, gzip: true, feeRateBp: 60 })
  const fileName = `wechat-${date}-ALL.csv.gz`
  const uploaded = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date, format: 'wechat_trade', fileName })}`, undefined, {
    raw: new Uint8Array(bytes),
    headers: { 'content-type': 'application/gzip' },
  })
  expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(201)
  const ran = await api.post('/api/v1/reconciliation/runs', { connectionId, date })
  expect(ran.status, JSON.stringify(ran.body)).toBe(200)
  expect(ran.body.status).toBe('exceptions')
  const run = ran.body as { id: string; status: string }
  return { m, api, connectionId, connectionName, date, run, refs, foreignRef }
}
