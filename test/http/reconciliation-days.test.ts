// Reconciliation across days (hand matches, later refunds, re-runs): the runs, the summary, the items and the vouchers
// count each side's money on its own day.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'

const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const MAPPING = { columns: { ourRef: '商户订单号', channelTxnId: '流水号', amount: '交易金额', fee: '手续费', time: '交易时间', store: '门店' } }
const csv = (rows: [string, string, string, string, string, string?][]) =>
  Buffer.from(['交易时间,商户订单号,流水号,交易金额,手续费,门店', ...rows.map((r) => r.map((c) => c ?? '').join(','))].join('\n') + '\n')
const yuan = (fen: number) => `${fen < 0 ? '-' : ''}${Math.floor(Math.abs(fen) / 100)}.${String(Math.abs(fen) % 100).padStart(2, '0')}`

describe('reconciliation across days', () => {
  const { hub } = useTestHubWithDataDir('reconciliation-days')

  async function shop(connectorId: 'mapped' | 'wechatpay' = 'mapped', extra: Record<string, unknown> = {}) {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId, { code: `Z${Math.floor(Math.random() * 1e6)}`, openedAt: at('2026-11-01 08:00:00') })
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const config = connectorId === 'mapped' ? { ...MAPPING, ...extra } : { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'a'.repeat(32), ...extra }
    const conn = await admin.post('/api/v1/connections', { connectorId, name: `c-${connectorId}`, config })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const finance = createApi(hub).as((await m.staff('finance')).token)
    const kind = connectorId === 'mapped' ? 'card' : 'wechat'
    const when = async <T>(local: string, f: () => Promise<T>) => {
      hub.setNow(at(local))
      try {
        return await f()
      } finally {
        hub.setNow(undefined)
      }
    }
    const sell = (local: string, amount: number) =>
      when(local, async () => {
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind, amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return { saleId: r.body.id as string, lineId: r.body.lines[0].id as string, paymentNo: r.body.tenders[0].paymentNo as string }
      })
    const refund = (local: string, sale: { saleId: string; lineId: string }, quantity: number) =>
      when(local, async () => {
        const r = await admin.post(`/api/v1/sales/${sale.saleId}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lineId, quantity }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.sale.refunds.at(-1).tenders[0].refundNo as string
      })
    const connectionId = conn.body.id as string
    const uploadCsv = (date: string, bytes: Buffer) =>
      finance.request('POST', `/api/v1/reconciliation/statements?connectionId=${connectionId}&date=${date}&fileName=bank-${date}.csv`, undefined, { raw: bytes, headers: { 'content-type': 'text/csv' } })
    const uploadWx = (date: string, rows: WechatBillRow[]) =>
      finance.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date, format: 'wechat_trade', fileName: `wx-${date}.csv` })}`, undefined, {
        raw: new Uint8Array(wechatBill({ rows, feeRateBp: 60 })),
        headers: { 'content-type': 'text/csv' },
      })
    const run = async (date: string) => {
      const r = await finance.post('/api/v1/reconciliation/runs', { connectionId, date })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    }
    const summary = async (from: string, to: string) => {
      const r = await finance.get(`/api/v1/reconciliation/summary?from=${from}&to=${to}&connectionId=${connectionId}`)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      const byDay: Record<string, { pos: number; channel: number; fee: number }> = {}
      for (const row of r.body.items) {
        const d = (byDay[row.businessDate] ??= { pos: 0, channel: 0, fee: 0 })
        d.pos += row.posAmount
        d.channel += row.channelAmount
        d.fee += row.channelFeeMilli
      }
      return byDay
    }
    return { m, store, admin, finance, connectionId, sell, refund, uploadCsv, uploadWx, run, summary, when }
  }

  it('a payment matched by hand to a later day’s line stays on the till’s day in the summary, as the runs count it', async () => {
    const s = await shop()
    const a = await s.sell('2026-11-10 10:00:00', 1000)
    const p = await s.sell('2026-11-10 11:00:00', 5800)
    const b = await s.sell('2026-11-11 10:00:00', 2000)
    const c = await s.sell('2026-11-12 10:00:00', 3000)
    expect((await s.uploadCsv('2026-11-10', csv([['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01']])))).toMatchObject({ status: 201 })
    // The channel settles p the next day under the terminal's own number.
    expect(
      await s.uploadCsv('2026-11-11', csv([
        ['2026-11-11 10:00:01', b.paymentNo, 'B2', yuan(2000), '0.01'],
        ['2026-11-11 09:00:00', 'TERM-0001', 'B3', yuan(5800), '0.03'],
      ])),
    ).toMatchObject({ status: 201 })
    expect(await s.uploadCsv('2026-11-12', csv([['2026-11-12 10:00:01', c.paymentNo, 'B4', yuan(3000), '0.02']]))).toMatchObject({ status: 201 })
    const r10 = await s.run('2026-11-10')
    await s.run('2026-11-11')
    await s.run('2026-11-12')
    expect(r10.totals.pos_payments).toBe(6800)
    const items = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}&state=open&outcome=timing`)).body.items
    const posItem = items.find((i: any) => i.posRef === p.paymentNo)
    expect(posItem).toBeDefined()
    const lineItem = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)).body.items.find((i: any) => i.posRef === 'TERM-0001')
    expect(lineItem).toBeDefined()
    const res = await s.finance.post(`/api/v1/reconciliation/items/${posItem.id}/resolve`, { action: 'match', counterpartId: lineItem.id, note: 'terminal number' })
    expect(res.status, JSON.stringify(res.body)).toBe(200)

    // The runs (re-run) count p on the 10th (the till) and its line on the 11th (the channel).
    const again10 = await s.run('2026-11-10')
    const again11 = await s.run('2026-11-11')
    expect([again10.totals.pos_payments, again11.totals.channel_payments]).toEqual([6800, 7800])
    const sum = await s.summary('2026-11-08', '2026-11-12')
    expect(Object.fromEntries(Object.entries(sum).map(([d, v]) => [d, v.pos]))).toEqual({ '2026-11-10': 6800, '2026-11-11': 2000, '2026-11-12': 3000 })
  })

  it('a partial refund on a later day: run, summary and voucher agree on money and the fee given back', async () => {
    const s = await shop('wechatpay', { feeRateBp: 60 })
    const sale = await s.sell('2026-11-10 10:00:00', 10_000)
    const other = await s.sell('2026-11-11 09:00:00', 2000)
    const refundNo = await s.refund('2026-11-11 10:00:00', sale, 4000)
    expect((await s.uploadWx('2026-11-10', [{ kind: 'payment', at: at('2026-11-10 10:00:02'), outTradeNo: sale.paymentNo, amount: 10_000 }])).status).toBe(201)
    expect(
      (await s.uploadWx('2026-11-11', [
        { kind: 'payment', at: at('2026-11-11 09:00:02'), outTradeNo: other.paymentNo, amount: 2000 },
        { kind: 'refund', at: at('2026-11-11 10:00:02'), outTradeNo: sale.paymentNo, outRefundNo: refundNo, amount: 4000 },
      ])).status,
    ).toBe(201)
    const r10 = await s.run('2026-11-10')
    const r11 = await s.run('2026-11-11')
    expect(r10.counts).toMatchObject({ matched: 1, open_exceptions: 0 })
    // 0.60 %: 20.00 costs 0.12; a 40.00 refund gives back 0.24.
    expect(r11.counts).toMatchObject({ matched: 2, fee_diff: 0, open_exceptions: 0 })
    expect(r11.totals).toMatchObject({ pos_payments: 2000, pos_refunds: 4000, channel_payments: 2000, channel_refunds: 4000, channel_fee_milli: 12_000 - 24_000 })
    const sum = await s.summary('2026-11-10', '2026-11-11')
    expect(sum['2026-11-11']).toEqual({ pos: 2000 - 4000, channel: 2000 - 4000, fee: -12_000 })
    expect(sum['2026-11-10']).toEqual({ pos: 10_000, channel: 10_000, fee: 60_000 })
    const v11 = (await s.admin.post('/api/v1/vouchers/preview', { date: '2026-11-11', storeId: s.store.storeId })).body
    const fees = v11.lines.filter((l: any) => l.kind === 'channel_fee').map((l: any) => [l.accountCode, l.debit, l.credit])
    // Net fee of the day: 0.12 charged, 0.24 given back → −0.12: the fee account is credited 0.12.
    expect(fees).toEqual(expect.arrayContaining([['6603.01', 0, 12], ['1012.01', 12, 0]]))
    expect(v11.totalDebit).toBe(v11.totalCredit)
  })

  it('a refund the till made on one day that the channel lists the next: timing, then matched, the money on each side’s day', async () => {
    const s = await shop('wechatpay', { feeRateBp: 60 })
    const sale = await s.sell('2026-11-10 10:00:00', 10_000)
    const refundNo = await s.refund('2026-11-10 23:59:00', sale, 3000)
    const next = await s.sell('2026-11-11 09:00:00', 1000)
    expect((await s.uploadWx('2026-11-10', [{ kind: 'payment', at: at('2026-11-10 10:00:02'), outTradeNo: sale.paymentNo, amount: 10_000 }])).status).toBe(201)
    const r10 = await s.run('2026-11-10')
    expect(r10.counts).toMatchObject({ matched: 1, timing: 1, open_exceptions: 0 })
    expect(
      (await s.uploadWx('2026-11-11', [
        { kind: 'refund', at: at('2026-11-11 00:00:05'), outTradeNo: sale.paymentNo, outRefundNo: refundNo, amount: 3000 },
        { kind: 'payment', at: at('2026-11-11 09:00:02'), outTradeNo: next.paymentNo, amount: 1000 },
      ])).status,
    ).toBe(201)
    const r11 = await s.run('2026-11-11')
    expect(r11.counts).toMatchObject({ matched: 2, timing: 0, open_exceptions: 0 })
    const r10b = await s.run('2026-11-10')
    expect(r10b.totals).toMatchObject({ pos_payments: 10_000, pos_refunds: 3000, channel_payments: 10_000, channel_refunds: 0 })
    expect(r11.totals).toMatchObject({ pos_payments: 1000, pos_refunds: 0, channel_payments: 1000, channel_refunds: 3000 })
    const sum = await s.summary('2026-11-10', '2026-11-11')
    expect(sum['2026-11-10']).toMatchObject({ pos: 7000, channel: 10_000 })
    expect(sum['2026-11-11']).toMatchObject({ pos: 1000, channel: 1000 - 3000 })
  })

  it('re-running a day after the next day paired its late sale keeps that sale in the day’s totals', async () => {
    const s = await shop()
    const a = await s.sell('2026-11-16 10:00:00', 1000)
    const late = await s.sell('2026-11-16 23:59:59', 5800)
    const b = await s.sell('2026-11-17 10:00:00', 2000)
    expect((await s.uploadCsv('2026-11-16', csv([['2026-11-16 10:00:05', a.paymentNo, 'B1', yuan(1000), '0.06']]))).status).toBe(201)
    const first16 = await s.run('2026-11-16')
    expect(first16.totals).toMatchObject({ pos_payments: 6800, channel_payments: 1000 })
    expect((await s.uploadCsv('2026-11-17', csv([
      ['2026-11-17 00:00:02', late.paymentNo, 'B2', yuan(5800), '0.35'],
      ['2026-11-17 10:00:05', b.paymentNo, 'B3', yuan(2000), '0.12'],
    ]))).status).toBe(201)
    await s.run('2026-11-17')
    // The 16th is run again (say, after a corrected file): the till still took 68.00 that day.
    const again16 = await s.run('2026-11-16')
    // The summary (as asked alone for the 16th) says 68.00; the run of the same day should agree.
    const sum16 = await s.summary('2026-11-16', '2026-11-16')
    expect(sum16['2026-11-16']!.pos).toBe(6800)
    expect(again16.totals).toMatchObject({ pos_payments: 6800, channel_payments: 1000 })
    const runs = (await s.finance.get(`/api/v1/reconciliation/runs?connectionId=${s.connectionId}&date=2026-11-16`)).body.items
    expect(runs.map((r: any) => r.totals?.pos_payments)).toEqual(runs.map(() => 6800))
  })

  it('a line the channel dates a day before the till’s sale stays in that day’s channel totals when the day is run again', async () => {
    const s = await shop()
    const a = await s.sell('2026-11-20 10:00:00', 1000)
    // The channel's day ends a minute early: it lists a sale of 00:00:30 on the 21st in the 20th's file.
    const early = await s.sell('2026-11-21 00:00:30', 4200)
    expect((await s.uploadCsv('2026-11-20', csv([['2026-11-20 10:00:05', a.paymentNo, 'B1', yuan(1000), '0.06'], ['2026-11-20 23:59:50', early.paymentNo, 'B2', yuan(4200), '0.25']]))).status).toBe(201)
    expect((await s.uploadCsv('2026-11-21', csv([]))).status).toBe(201)
    const first20 = await s.run('2026-11-20')
    expect(first20.totals).toMatchObject({ pos_payments: 1000, channel_payments: 5200 })
    const r21 = await s.run('2026-11-21')
    expect(r21.totals).toMatchObject({ pos_payments: 4200, channel_payments: 0 })
    const again20 = await s.run('2026-11-20')
    expect(again20.totals).toMatchObject({ pos_payments: 1000, channel_payments: 5200, channel_count: 2 })
  })

  it('a day re-run after a late sale arrives: the new sale is timing, totals grow, not the old run reused', async () => {
    const s = await shop()
    const a = await s.sell('2026-11-10 10:00:00', 1000)
    expect((await s.uploadCsv('2026-11-10', csv([['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01']])))).toMatchObject({ status: 201 })
    const r1 = await s.run('2026-11-10')
    expect(r1).toMatchObject({ status: 'balanced', counts: { matched: 1 } })
    await s.sell('2026-11-10 18:00:00', 700)
    const r2 = await s.run('2026-11-10')
    expect(r2).toMatchObject({ reused: false, counts: { matched: 1, timing: 1 }, totals: { pos_payments: 1700, channel_payments: 1000 } })
    expect(r2.id).not.toBe(r1.id)
    const sum = await s.summary('2026-11-10', '2026-11-10')
    expect(sum['2026-11-10']).toMatchObject({ pos: 1700, channel: 1000 })
  })

  it('a duplicate line and a fen short: summary counts equal the item list and the run', async () => {
    const s = await shop()
    const a = await s.sell('2026-11-10 10:00:00', 1000)
    const b = await s.sell('2026-11-10 11:00:00', 2000)
    const file = csv([
      ['2026-11-10 10:00:01', a.paymentNo, 'B1', yuan(1000), '0.01'],
      ['2026-11-10 10:00:01', a.paymentNo, 'B1X', yuan(1000), '0.01'],
      ['2026-11-10 11:00:01', b.paymentNo, 'B2', yuan(1999), '0.01'],
    ])
    expect((await s.uploadCsv('2026-11-10', file)).status).toBe(201)
    const r = await s.run('2026-11-10')
    expect(r.counts).toMatchObject({ matched: 1, duplicate: 1, amount_diff: 1, open_exceptions: 2 })
    const items = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)).body.items
    expect(items.map((i: any) => i.outcome).sort()).toEqual(['amount_diff', 'duplicate'])
    const sumRows = (await s.finance.get(`/api/v1/reconciliation/summary?from=2026-11-10&to=2026-11-10&connectionId=${s.connectionId}`)).body.items
    const tot = sumRows.reduce((acc: any, x: any) => ({ pos: acc.pos + x.posAmount, ch: acc.ch + x.channelAmount, open: acc.open + x.openExceptions, matched: acc.matched + x.matched, fee: acc.fee + x.channelFeeMilli }), { pos: 0, ch: 0, open: 0, matched: 0, fee: 0 })
    expect(tot).toEqual({ pos: r.totals.pos_net, ch: r.totals.channel_net, open: 2, matched: 1, fee: r.totals.channel_fee_milli })
    // Resolve the fen: accept the channel's figure. The voucher books −0.01 against settlement differences.
    const diff = items.find((i: any) => i.outcome === 'amount_diff')
    expect((await s.finance.post(`/api/v1/reconciliation/items/${diff.id}/resolve`, { action: 'accept_channel', note: 'a fen' })).status).toBe(200)
    const dup = items.find((i: any) => i.outcome === 'duplicate')
    expect((await s.finance.post(`/api/v1/reconciliation/items/${dup.id}/resolve`, { action: 'accept_channel', note: 'charged twice' })).status).toBe(200)
    const v = (await s.admin.post('/api/v1/vouchers/preview', { date: hubToday(), storeId: s.store.storeId })).body
    const adj = v.lines.filter((l: any) => l.kind === 'settlement_adjustment').map((l: any) => [l.accountCode, l.debit, l.credit])
    // −1 fen for the short one, +10.00 for the second charge: +9.99 to card clearing.
    expect(adj).toEqual(expect.arrayContaining([['1122.01', 999, 0], ['6603.03', 0, 999]]))
    const rows = await hub.database.db.execute<{ amount: string }>(sql`select amount from settlement_adjustments where merchant_id = ${s.m.merchantId} order by created_at, id`)
    expect(rows.rows.map((x) => Number(x.amount))).toEqual([-1, 1000])
  })
})

function hubToday() {
  return new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10)
}
