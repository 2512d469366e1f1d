// The fee of each channel payment is rounded as the channel deducts it, per transaction (vouchers.md §3.6): a bill's
// five-decimal fees of ¥0.07500 are ¥0.08 each, not summed first. The voucher line and its drill-down agree.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { uploadWechatDay } from '../../helpers/channels.ts'
import { wechatBill, type WechatBillRow } from '../../../src/sandboxes/vendors/wechatpay.ts'

const TZ = 'Asia/Shanghai'
const date = '2026-11-10'
const at = (time: string) => new Date(`${date}T${time}+08:00`)

describe('channel fees on the daily voucher', () => {
  const hub = useTestHub()

  /** A store selling a ¥0.01 item, with a WeChat Pay connection at the contracted 0.6 %. */
  async function wechatShop(code: string) {
    const m = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY' })
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId, { code: `${code}${Date.now() % 100000}`, openedAt: at('08:00:00') })
    const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
    const created = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    return { api, store, item, created }
  }

  it("the WeChat fee line of a day's voucher and its drill-down agree, fen for fen", async () => {
    const { api, store, item, created } = await wechatShop('F')
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

  it('a fee is on the voucher of the day the channel dated its line, as in the run and the summary, also when the till dated the sale a day later', async () => {
    const { api, store, item, created } = await wechatShop('G')
    const connectionId = created.body.id as string
    const next = '2026-11-11'
    const sale = async (when: Date, amount: number) => {
      hub.setNow(when)
      try {
        const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.tenders[0].paymentNo as string
      } finally {
        hub.setNow(undefined)
      }
    }
    // A sale of the 10th, and one the till (its clock slow) dated 00:00:30 on the 11th, which WeChat booked at 23:59:50
    // on the 10th: both in the 10th's bill, fees of 0.06 and 0.25.
    const a = await sale(at('10:00:00'), 1000)
    const e = await sale(new Date(`${next}T00:00:30+08:00`), 4200)
    const upload = (day: string, rows: WechatBillRow[]) => uploadWechatDay(api, connectionId, day, rows)
    await upload(date, [
      { kind: 'payment', at: at('10:00:02'), outTradeNo: a, amount: 1000 },
      { kind: 'payment', at: at('23:59:50'), outTradeNo: e, amount: 4200 },
    ])
    await upload(next, [])
    const summary = (await api.get(`/api/v1/reconciliation/summary?from=${date}&to=${next}&connectionId=${connectionId}`)).body.items as any[]
    const summaryFee = (day: string) => summary.filter((r) => r.businessDate === day).reduce((n, r) => n + Math.round(r.channelFeeMilli / 1000), 0)
    const voucherFee = async (day: string) => {
      const v = (await api.post('/api/v1/vouchers/preview', { storeId: store.storeId, date: day })).body
      return (v.lines as any[]).filter((l) => l.kind === 'channel_fee' && l.debit > 0).reduce((n, l) => n + l.debit, 0)
    }
    expect([summaryFee(date), summaryFee(next)]).toEqual([31, 0])
    expect([await voucherFee(date), await voucherFee(next)]).toEqual([31, 0])
  })
})
