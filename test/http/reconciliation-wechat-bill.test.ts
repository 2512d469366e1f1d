// A WeChat Pay bill as finance staff work it: an accepted channel figure of a refund moves the channel's account the
// way the money went, and a bill of another merchant number never replaces the day's.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'

const TZ = 'Asia/Shanghai'
const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const D = '2026-03-10'
const MCH = '1900000109'

describe('a WeChat Pay bill as finance works it', () => {
  const hub = useTestHub()

  async function shop() {
    const m = await seedMerchant(hub, { timeZone: TZ })
    const store = await seedStore(hub, m.merchantId, { openedAt: at('2026-03-09 08:00:00') })
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: MCH, apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'a'.repeat(32) } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const finance = createApi(hub).as((await m.staff('finance')).token)
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
        const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return { saleId: r.body.id as string, lineId: r.body.lines[0].id as string, paymentNo: r.body.tenders[0].paymentNo as string }
      })
    const refund = (local: string, sale: { saleId: string; lineId: string }, quantity: number) =>
      when(local, async () => {
        const r = await admin.post(`/api/v1/sales/${sale.saleId}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lineId, quantity }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return r.body.sale.refunds.at(-1).tenders[0].refundNo as string
      })
    const upload = (date: string, rows: WechatBillRow[], mchId = MCH) =>
      finance.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId: conn.body.id, date, format: 'wechat_trade', fileName: `wx-${date}.csv` })}`, undefined, {
        raw: new Uint8Array(wechatBill({ rows, mchId, feeRateBp: 60 })),
        headers: { 'content-type': 'text/csv' },
      })
    return { m, store, admin, finance, connectionId: conn.body.id as string, sell, refund, upload, when }
  }

  it("accepting the channel's figure of a refund moves the channel's account the way the money went, and a reopen takes it back", async () => {
    const s = await shop()
    const sale = await s.sell(`${D} 10:00:00`, 1000)
    const refundNo = await s.refund(`${D} 11:00:00`, sale, 400)
    // The channel gave back 3.99 of the till's 4.00, and 3.00 more was refunded at the channel's own console.
    const rows: WechatBillRow[] = [
      { kind: 'payment', at: at(`${D} 10:00:02`), outTradeNo: sale.paymentNo, amount: 1000 },
      { kind: 'refund', at: at(`${D} 11:00:02`), outTradeNo: sale.paymentNo, outRefundNo: refundNo, amount: 399 },
      { kind: 'refund', at: at(`${D} 12:00:02`), outTradeNo: sale.paymentNo, outRefundNo: 'CONSOLE0001', amount: 300 },
    ]
    expect((await s.upload(D, rows)).status).toBe(201)
    await s.when(`${D} 20:00:00`, async () => {
      const run = await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: D })
      expect(run.body.totals).toMatchObject({ pos_net: 600, channel_net: 301, difference: -299 })
      const items = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)).body.items
      const short = items.find((i: any) => i.outcome === 'amount_diff')
      const console_ = items.find((i: any) => i.outcome !== 'amount_diff')
      // The console's refund is of the store whose payment it gives back: that store's voucher books it.
      expect(console_).toMatchObject({ storeId: s.store.storeId, channelAmount: 300 })
      for (const [item, note] of [[short, 'the channel gave back a fen less'], [console_, 'refunded at the console']]) {
        expect((await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_channel', note })).status).toBe(200)
      }
      const adjustments = async () =>
        (await hub.database.db.execute<{ item_id: string; amount: number }>(sql`select item_id, amount::int from settlement_adjustments where merchant_id = ${s.m.merchantId} order by created_at, id`)).rows
      // A fen less given back leaves the account a fen up; a refund at the console took 3.00 out: −2.99, the day's difference.
      expect(await adjustments()).toEqual([
        { item_id: short.id, amount: 1 },
        { item_id: console_.id, amount: -300 },
      ])
      const events = (await hub.database.db.execute<{ adjustment: number }>(sql`select (data->>'adjustment')::int as adjustment from events where merchant_id = ${s.m.merchantId} and type = 'settlement.adjusted' order by id`)).rows
      expect(events.map((e) => e.adjustment)).toEqual([1, -300])
      const voucher = (await s.admin.post('/api/v1/vouchers/preview', { date: D, storeId: s.store.storeId })).body
      const booked = voucher.lines.filter((l: any) => l.kind === 'settlement_adjustment').map((l: any) => [l.accountCode, l.debit, l.credit])
      expect(booked).toContainEqual(['1012.01', 0, 299])
      expect(voucher.totalDebit).toBe(voucher.totalCredit)
      // Reopening the fen's resolution takes its fen back out.
      expect((await s.finance.post(`/api/v1/reconciliation/items/${short.id}/reopen`, { note: 'looked again' })).status).toBe(200)
      expect((await adjustments()).map((a) => a.amount)).toEqual([1, -300, -1])
    })
  })

  it("a bill of another merchant number is refused and leaves the day's bill as it was", async () => {
    const s = await shop()
    const sale = await s.sell(`${D} 10:00:00`, 1000)
    const mine = await s.upload(D, [{ kind: 'payment', at: at(`${D} 10:00:02`), outTradeNo: sale.paymentNo, amount: 1000 }])
    expect(mine.status, JSON.stringify(mine.body)).toBe(201)
    const theirs = await s.upload(D, [{ kind: 'payment', at: at(`${D} 09:00:00`), outTradeNo: 'OTHER-SHOP-0001', amount: 99_900 }], '1900000999')
    expect([theirs.status, theirs.body.error?.code]).toEqual([422, 'statement_rejected'])
    expect(theirs.body.error.message).toContain('1900000999')
    const list = (await s.finance.get(`/api/v1/reconciliation/statements?connectionId=${s.connectionId}`)).body.items
    expect(list.find((x: any) => x.id === mine.body.statement.id).status).toBe('imported')
    const lines = await hub.database.db.execute(sql`select our_ref from settlement_lines where connection_id = ${s.connectionId}`)
    expect(lines.rows.map((r: any) => r.our_ref)).toEqual([sale.paymentNo])
  })

  it("a payment only the channel has, of no store: accepting it names the store whose books take it, and that store's voucher books it and its fee", async () => {
    const s = await shop()
    const other = await seedStore(hub, s.m.merchantId, { openedAt: at('2026-03-09 08:00:00') })
    // A payment to the merchant's WeChat account the till never rang (a QR code on the counter), ¥50.00 less a 0.30 fee.
    expect((await s.upload(D, [{ kind: 'payment', at: at(`${D} 15:00:02`), outTradeNo: 'QR-COUNTER-0001', amount: 5000 }])).status).toBe(201)
    await s.when(`${D} 20:00:00`, async () => {
      await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: D })
      const [item] = (await s.finance.get(`/api/v1/reconciliation/exceptions?connectionId=${s.connectionId}`)).body.items
      expect(item).toMatchObject({ storeId: null, channelAmount: 5000 })
      // Vouchers are per store: the line names none, so accepting it must say which.
      const bare = await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_channel' })
      expect([bare.status, bare.body.error?.code]).toEqual([422, 'store_required'])
      const foreign = await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_channel', storeId: (await seedStore(hub, (await seedMerchant(hub)).merchantId)).storeId })
      expect([foreign.status, foreign.body.error?.code]).toEqual([404, 'store_not_found'])
      const ok = await s.finance.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'accept_channel', storeId: other.storeId, note: 'QR on the counter of store 2' })
      expect(ok.status, JSON.stringify(ok.body)).toBe(200)
      expect(ok.body).toMatchObject({ storeId: other.storeId, state: 'resolved' })
      // A run of the day again keeps the resolution and its store.
      expect((await s.finance.post('/api/v1/reconciliation/runs', { connectionId: s.connectionId, date: D })).status).toBe(200)
      expect((await s.finance.get(`/api/v1/reconciliation/items/${item.id}`)).body).toMatchObject({ storeId: other.storeId, state: 'resolved' })
      const voucher = (await s.admin.post('/api/v1/vouchers/preview', { date: D, storeId: other.storeId })).body
      const lines = voucher.lines.map((l: any) => [l.kind, l.accountCode, l.debit, l.credit])
      expect(lines).toContainEqual(['settlement_adjustment', '1012.01', 5000, 0])
      expect(lines).toContainEqual(['channel_fee', '6603.01', 30, 0])
      expect(voucher.totalDebit).toBe(voucher.totalCredit)
      // Reopened, it names no store again, and its reversal is booked where it was accepted; the first store's
      // voucher never had it.
      expect((await s.finance.post(`/api/v1/reconciliation/items/${item.id}/reopen`, { note: 'again' })).body.storeId).toBe(null)
      const booked = await hub.database.db.execute<{ store_id: string; amount: number }>(sql`select store_id, amount::int from settlement_adjustments where item_id = ${item.id} order by created_at, id`)
      expect(booked.rows).toEqual([
        { store_id: other.storeId, amount: 5000 },
        { store_id: other.storeId, amount: -5000 },
      ])
      const first = (await s.admin.post('/api/v1/vouchers/preview', { date: D, storeId: s.store.storeId })).body
      expect(first.lines.filter((l: any) => l.kind === 'settlement_adjustment')).toEqual([])
    })
  })
})
