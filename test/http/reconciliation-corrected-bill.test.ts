// A statement corrected after finance resolved one of its lines by hand: the new file's lines are the day's channel
// money, on the run and on the summary alike; the line the resolution holds no longer counts.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const yuan = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`
const fee5 = (milli: number) => `${milli < 0 ? '-' : ''}${Math.floor(Math.abs(milli) / 100000)}.${String(Math.abs(milli) % 100000).padStart(5, '0')}`

const HEADER = '交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注'
type Row = { kind: 'pay'; time: string; ref: string; txn: string; amount: number; fee: number; status?: string } | { kind: 'refund'; time: string; ref: string; txn: string; refundNo: string; refundId: string; amount: number; fee: number; status?: string }
function bill(rows: Row[], override: Partial<{ count: number; pay: number; refund: number; fee: number }> = {}) {
  const out = [HEADER]
  let pay = 0, refund = 0, fee = 0
  for (const r of rows) {
    const f = ['`' + r.time, 'wx8888888888888888', '1900000109', '0', 'T01', r.txn, r.ref, 'openid', 'MICROPAY']
    if (r.kind === 'pay') {
      f.push(r.status ?? 'SUCCESS', 'CMB_DEBIT', 'CNY', yuan(r.amount), '0.00', '0', '0', '0.00', '0.00', '', '', '门店消费', '', fee5(r.fee), '0.60%', yuan(r.amount), '0.00', '')
      pay += r.amount
    } else {
      f.push('REFUND', 'CMB_DEBIT', 'CNY', '0.00', '0.00', r.refundId, r.refundNo, yuan(r.amount), '0.00', 'ORIGINAL', r.status ?? 'SUCCESS', '门店消费', '', fee5(r.fee), '0.60%', '0.00', yuan(r.amount), '')
      refund += r.amount
    }
    fee += r.fee
    out.push(f.join(',`'))
  }
  out.push('总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额')
  const c = override.count ?? rows.length
  out.push(['`' + c, yuan(override.pay ?? pay), yuan(override.refund ?? refund), '0.00', fee5(override.fee ?? fee), yuan(override.pay ?? pay), yuan(override.refund ?? refund)].join(',`'))
  return Buffer.from(out.join('\r\n') + '\r\n')
}

describe('a corrected WeChat Pay bill after a hand resolution', () => {
  const { hub } = useTestHubWithDataDir('recon-corrected-bill')
  /** A WeChat Pay connection and one 58.00 WeChat sale of 2026-03-14; `up` uploads that day's bill. */
  async function day() {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId, { code: `C${Math.floor(Math.random() * 1e6)}` })
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'a'.repeat(32) } })
    const finance = createApi(hub).as((await m.staff('finance')).token)
    hub.setNow(at('2026-03-14 10:00:00'))
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 5800 }], tenders: [{ kind: 'wechat', amount: 5800 }] })).body
    hub.setNow(undefined)
    const up = (b: Buffer) => finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${conn.body.id}&date=2026-03-14`, undefined, { raw: b, headers: { 'content-type': 'text/csv' } })
    return { conn, finance, p: sale.tenders[0].paymentNo as string, up }
  }

  it('the summary counts only the current file’s lines and their fees, as the run does', async () => {
    const { conn, finance, p, up } = await day()
    expect((await up(bill([{ kind: 'pay', time: '2026-03-14 10:00:03', ref: p, txn: '4200000020', amount: 5700, fee: 34200 }]))).status).toBe(201)
    const r1 = await finance.post('/api/v1/reconciliation/runs', { connectionId: conn.body.id, date: '2026-03-14' })
    expect(r1.body.counts).toMatchObject({ amount_diff: 1 })
    const [ex] = (await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${conn.body.id}`)).body.items
    const res = await finance.post(`/api/v1/reconciliation/items/${ex.id}/resolve`, { action: 'accept_pos', note: 'bank will fix' })
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    expect((await up(bill([{ kind: 'pay', time: '2026-03-14 10:00:03', ref: p, txn: '4200000020', amount: 5800, fee: 34800 }]))).status).toBe(201)
    const r2 = await finance.post('/api/v1/reconciliation/runs', { connectionId: conn.body.id, date: '2026-03-14' })
    const sum = await finance.get(`/api/v1/reconciliation/summary?from=2026-03-14&to=2026-03-14&connectionId=${conn.body.id}`)
    // The day's channel money and fees are the corrected file's: 58.00 once, its fee and the fee expected of it — on
    // the run and on the summary alike (the superseded 57.00 line, still held by the hand resolution, counts nowhere).
    const t = r2.body.totals
    expect(t).toMatchObject({ channel_payments: 5800, channel_fee_milli: 34800 })
    const total = (k: string) => sum.body.items.reduce((a: number, r: any) => a + r[k], 0)
    expect({ channel: total('channelAmount'), fee: total('channelFeeMilli'), expected: total('expectedFeeMilli') }).toEqual({ channel: t.channel_payments, fee: t.channel_fee_milli, expected: t.expected_fee_milli })
    // The hand resolution was about the 57.00 that no longer stands: it is reopened by the run and the payment pairs
    // with the corrected line, which agrees: matched, nothing left open (no duplicate line for finance).
    expect(r2.body.counts).toMatchObject({ matched: 1, duplicate: 0, open_exceptions: 0 })
    expect((await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${conn.body.id}`)).body.items).toEqual([])
    const after = (await finance.get(`/api/v1/reconciliation/items/${ex.id}`)).body
    expect(after).toMatchObject({ outcome: 'matched', state: 'auto', channelAmount: 5800, difference: 0 })
    expect(after.history.map((h: any) => h.action)).toEqual(expect.arrayContaining(['resolved', 'reopened']))
    expect(after.history.find((h: any) => h.action === 'reopened').details.note).toBe('the line it was resolved on was replaced by a corrected file')
  })

  it('a channel figure accepted by hand and then corrected by a new file: the correcting record is reversed, and a line still off is an exception again', async () => {
    const { conn, finance, p, up } = await day()
    const run = () => finance.post('/api/v1/reconciliation/runs', { connectionId: conn.body.id, date: '2026-03-14' })
    expect((await up(bill([{ kind: 'pay', time: '2026-03-14 10:00:03', ref: p, txn: '4200000030', amount: 5700, fee: 34200 }]))).status).toBe(201)
    await run()
    const [ex] = (await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${conn.body.id}`)).body.items
    expect((await finance.post(`/api/v1/reconciliation/items/${ex.id}/resolve`, { action: 'accept_channel', note: 'short paid' })).status).toBe(200)
    const adjustments = async () => (await hub.database.db.execute<{ amount: string; reversal: boolean }>(sql`select amount, reversal from settlement_adjustments where item_id = ${ex.id} order by created_at, id`)).rows.map((r) => [Number(r.amount), r.reversal])
    expect(await adjustments()).toEqual([[-100, false]])
    // The corrected file says 57.50: still off, but not what was accepted.
    expect((await up(bill([{ kind: 'pay', time: '2026-03-14 10:00:03', ref: p, txn: '4200000030', amount: 5750, fee: 34500 }]))).status).toBe(201)
    const r2 = await run()
    expect(r2.body.counts).toMatchObject({ amount_diff: 1, duplicate: 0, open_exceptions: 1 })
    expect(await adjustments()).toEqual([[-100, false], [100, true]])
    const again = (await finance.get(`/api/v1/reconciliation/exceptions?connectionId=${conn.body.id}`)).body.items
    expect(again.map((i: any) => [i.id, i.outcome, i.channelAmount, i.difference])).toEqual([[ex.id, 'amount_diff', 5750, -50]])
  })
})
