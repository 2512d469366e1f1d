// The fee of each channel payment is rounded as the channel deducts it, per transaction (vouchers.md §3.6): a bill's
// five-decimal fees of ¥0.07500 are ¥0.08 each, not summed first. The voucher line and its drill-down agree.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { wechatBill, type WechatBillRow } from '../../../src/sandboxes/vendors/wechatpay.ts'

const TZ = 'Asia/Shanghai'
const date = '2026-11-10'
const at = (time: string) => new Date(`${date}T${time}+08:00`)

describe('channel fees on the daily voucher', () => {
  const hub = useTestHub()

  it("the WeChat fee line of a day's voucher and its drill-down agree, fen for fen", async () => {
    const m = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY' })
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId, { code: `F${Date.now() % 100000}`, openedAt: at('08:00:00') })
    const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
    const created = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const rows: WechatBillRow[] = []
    for (const [i, time] of ['10:00:00', '11:00:00', '12:00:00'].entries()) {
      hub.setNow(at(time))
      try {
        const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1250 }], tenders: [{ kind: 'wechat', amount: 1250 }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        rows.push({ kind: 'payment', at: at(time.replace(':00:00', ':00:0' + (i + 1))), outTradeNo: r.body.tenders[0].paymentNo, amount: 1250 })
      } finally {
        hub.setNow(undefined)
      }
    }
    const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId: created.body.id, date, format: 'wechat_trade', fileName: `wechat-${date}-ALL.csv.gz` })}`, undefined, {
      raw: new Uint8Array(wechatBill({ rows, gzip: true, feeRateBp: 60 })),
      headers: { 'content-type': 'application/gzip' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const ran = await api.post('/api/v1/reconciliation/runs', { connectionId: created.body.id, date })
    expect(ran.status, JSON.stringify(ran.body)).toBe(200)
    const built = await api.post('/api/v1/vouchers/build', { storeId: store.storeId, date })
    expect(built.status, JSON.stringify(built.body)).toBe(200)
    const v = (await api.get(`/api/v1/vouchers/${built.body.voucher.id}`)).body
    const fees = v.lines.filter((l: any) => l.kind === 'channel_fee')
    // Three fees of 0.075 yuan: 0.08 each, 0.24 in all (summed first, 0.225 would book 0.23).
    expect(fees.map((l: any) => [l.accountCode, l.debit, l.credit])).toEqual([
      ['6603.01', 24, 0],
      ['1012.01', 0, 24],
    ])
    for (const l of fees) {
      const d = (await api.get(`/api/v1/vouchers/${v.id}/lines/${l.lineNo}/sources`)).body
      expect(d.records.map((r: any) => [r.amount, r.detail.feeMilli])).toEqual([[8, 7500], [8, 7500], [8, 7500]])
      expect(d.records.reduce((n: number, r: any) => n + r.amount, 0), `${l.accountCode}`).toBe(l.debit + l.credit)
    }
  })
})
