import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'

describe('refunds and voids', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function soldSale(opts: { quantity?: number; price?: number; tenders?: any[] } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: opts.price ?? 1000, stock: 100 })
    const manager = await m.staff('manager')
    const cashier = await m.staff('cashier')
    const api = createApi(hub).as(manager.token)
    const qty = opts.quantity ?? 3
    const sale = await api.post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: item.sku, quantity: qty }],
      tenders: opts.tenders ?? [{ kind: 'wechat', amount: (opts.price ?? 1000) * qty }],
    })
    expect(sale.status).toBe(201)
    return { m, store, item, api, cashierApi: createApi(hub).as(cashier.token), sale: sale.body }
  }

  const onHand = async (variantId: string) => Number((await hub.database.db.execute(sql`select on_hand from stock_levels where variant_id = ${variantId}`)).rows[0]!.on_hand)

  it('refunds part of a line, then the rest, adding up exactly to what was paid', async () => {
    const { store, item, api, sale, m } = await soldSale({ quantity: 3, price: 1000, tenders: [{ kind: 'cash', amount: 3000 }] })
    // An odd split: 3 units of a 3000 line with a 1-fen-ish remainder case via a third of 1000 is exact; use 1 + 2.
    const line = sale.lines[0]
    const r1 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line.id, quantity: 1 }], reason: 'changed mind' })
    expect(r1.status).toBe(201)
    const refund1 = r1.body.sale.refunds[0]
    expect(refund1).toMatchObject({ total: 1000, kind: 'refund' })
    expect(refund1.refundNo).toMatch(/-R0001$/)
    expect(refund1.tenders).toEqual([expect.objectContaining({ kind: 'cash', amount: 1000, refundNo: null })])
    const r2 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line.id, quantity: 2 }] })
    expect(r2.body.sale.refunds.map((r: any) => r.total)).toEqual([1000, 2000])
    expect(r2.body.sale.lines[0].refundedQuantity).toBe(3)
    expect(await onHand(item.variantId)).toBe(100)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('a line that does not divide evenly refunds in parts that sum to its total and its tax', async () => {
    // ¥10.00 over 3 units (¥30 less a ¥20 discount): thirds do not divide evenly.
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, s, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const odd = (await admin.post('/api/v1/sales', { registerId: s.registerId, lines: [{ sku: item.sku, quantity: 3, discount: { amount: 2000 } }], tenders: [{ kind: 'card', amount: 1000 }] })).body
    expect(odd.lines[0]).toMatchObject({ total: 1000, taxAmount: 115 })
    const parts = []
    for (let i = 0; i < 3; i++) {
      const r = await admin.post(`/api/v1/sales/${odd.id}/refunds`, { registerId: s.registerId, lines: [{ saleLineId: odd.lines[0].id, quantity: 1 }] })
      parts.push(r.body.sale.refunds[i])
    }
    expect(parts.map((p) => p.total)).toEqual([333, 334, 333])
    expect(parts.reduce((a, p) => a + p.total, 0)).toBe(1000)
    expect(parts.reduce((a, p) => a + p.taxTotal, 0)).toBe(115)
  })

  it('refuses a refund beyond what was sold, also when two refunds race', async () => {
    const { store, api, sale } = await soldSale({ quantity: 2 })
    const line = sale.lines[0]
    const tooMany = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line.id, quantity: 3 }] })
    expect(tooMany.status).toBe(422)
    expect(tooMany.body.error).toMatchObject({ code: 'refund_exceeds_sale', details: { refundable: 2, requested: 3 } })
    const race = await Promise.all([1, 2, 3].map(() => api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: line.id, quantity: 1 }] })))
    expect(race.filter((r) => r.status === 201)).toHaveLength(2)
    expect(race.filter((r) => r.status === 422)).toHaveLength(1)
    const after = await api.get(`/api/v1/sales/${sale.id}`)
    expect(after.body.lines[0].refundedQuantity).toBe(2)
    expect(after.body.refunds).toHaveLength(2)
  })

  it('goes back to the original tenders in proportion, with refund numbers for the channels', async () => {
    const { store, api, sale } = await soldSale({ quantity: 4, price: 1000, tenders: [{ kind: 'alipay', amount: 3000 }, { kind: 'cash', amount: 1000 }] })
    const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 2 }] })
    const tenders = r.body.sale.refunds[0].tenders
    expect(tenders.map((t: any) => [t.kind, t.amount])).toEqual([
      ['alipay', 1500],
      ['cash', 500],
    ])
    expect(tenders.find((t: any) => t.kind === 'alipay').refundNo).toMatch(/^TR\d{12}[0-9A-Z]{8}$/)
    expect(r.body.sale.tenders.find((t: any) => t.kind === 'alipay').refundedAmount).toBe(1500)
  })

  it('names each original tender once: parts of one tender would each round their own split (stored value: principal and bonus)', async () => {
    const { store, api, sale, item } = await soldSale({ quantity: 4, price: 1000 })
    const wechat = sale.tenders[0].id
    const parts = await api.post(`/api/v1/sales/${sale.id}/refunds`, {
      registerId: store.registerId,
      lines: [{ saleLineId: sale.lines[0].id, quantity: 2 }],
      tenders: [{ kind: 'wechat', amount: 1000, saleTenderId: wechat }, { kind: 'wechat', amount: 1000, saleTenderId: wechat.toUpperCase() }],
    })
    expect(parts.status).toBe(422)
    expect(parts.body.error).toMatchObject({ code: 'duplicate_sale_tender', details: { saleTenderId: wechat } })
    expect(await onHand(item.variantId)).toBe(96)
    const whole = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 2 }], tenders: [{ kind: 'wechat', amount: 2000, saleTenderId: wechat }] })
    expect(whole.status).toBe(201)
  })

  it('with cash rounding, the cash part of a partial refund of a split sale is whole jiao; the card takes the fen', async () => {
    const { m, store, api } = await soldSale({ quantity: 1, price: 100 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const other = await seedProduct(hub, store, { price: 1234, stock: 10 })
    // 2 × ¥12.34 = ¥24.68: ¥10.00 by card leaves ¥14.68 in cash, rounded to ¥14.70 (+2).
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: other.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 1000 }, { kind: 'cash', amount: 2000 }] })).body
    expect(sale).toMatchObject({ total: 2468, roundingAdjustment: 2 })
    const first = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(first.status).toBe(201)
    const parts = (r: any) => r.body.sale.refunds.at(-1).tenders.map((t: { kind: string; amount: number }) => [t.kind, t.amount])
    // ¥12.35 back (half the sale with its share of the rounding): spread by value it would be card 500 + cash 735.
    expect(parts(first)).toEqual([
      ['card', 505],
      ['cash', 730],
    ])
    const second = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(parts(second)).toEqual([
      ['card', 495],
      ['cash', 740],
    ])
    expect(second.body.sale.tenders.map((t: { refundedAmount: number; amount: number }) => t.refundedAmount === t.amount)).toEqual([true, true])
  })

  it('with cash rounding, each partial refund of an all-cash sale is whole jiao, and together they give back what was paid', async () => {
    const { m, store, api } = await soldSale({ quantity: 1, price: 100 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const other = await seedProduct(hub, store, { price: 333, stock: 10 })
    // 3 × ¥3.33 = ¥9.99, paid in cash as ¥10.00 (+1).
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: other.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 1000 }] })).body
    expect(sale).toMatchObject({ total: 999, roundingAdjustment: 1 })
    const refund = async (quantity: number) => {
      const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      const last = r.body.sale.refunds.at(-1)
      return { total: last.total, lines: last.lines.map((l: { amount: number }) => l.amount), cash: last.tenders.map((t: { kind: string; amount: number }) => [t.kind, t.amount]) }
    }
    // Value refunded so far with its share of the sale's rounding, rounded to the jiao as the drawer pays it out:
    // 333 → ¥3.30; 667 → ¥6.70 (¥3.40 more); all of it → the ¥10.00 paid (¥3.30 more).
    expect(await refund(1)).toEqual({ total: 330, lines: [333], cash: [['cash', 330]] })
    expect(await refund(1)).toEqual({ total: 340, lines: [333], cash: [['cash', 340]] })
    expect(await refund(1)).toEqual({ total: 330, lines: [333], cash: [['cash', 330]] })
    const after = (await api.get(`/api/v1/sales/${sale.id}`)).body
    expect(after.tenders[0]).toMatchObject({ kind: 'cash', amount: 1000, refundedAmount: 1000 })
    const report = (await api.get(`/api/v1/cash-sessions/${after.sessionId}/report`)).body
    expect(report.cash.refunds).toBe(1000)
    expect(report.refunds.total).toBe(1000)
  })

  it('with cash rounding, the cash left after the card was refunded by name comes back in whole jiao, adding up to what was paid', async () => {
    const { m, store, api } = await soldSale({ quantity: 1 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const a = await seedProduct(hub, store, { price: 1005, stock: 10 })
    const b = await seedProduct(hub, store, { price: 333, stock: 10 })
    // ¥33.36 due: ¥10.05 by card, the rest in cash rounded to ¥23.30 (−1).
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: b.sku, quantity: 7 }], tenders: [{ kind: 'card', amount: 1005 }, { kind: 'cash', amount: 2400 }] })).body
    expect(sale.tenders.map((t: any) => [t.kind, t.amount])).toEqual([['card', 1005], ['cash', 2330]])
    const card = sale.tenders[0]
    const first = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind: 'card', amount: 1005, saleTenderId: card.id }] })
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    const cash: number[] = []
    for (let i = 0; i < 7; i++) {
      const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[1].id, quantity: 1 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      const last = r.body.sale.refunds.at(-1)
      expect(last.tenders.map((t: any) => t.kind)).toEqual(['cash'])
      cash.push(last.total)
    }
    expect(cash.filter((c) => c % 10 !== 0)).toEqual([])
    expect(cash.reduce((n, c) => n + c, 0)).toBe(2330)
  })

  it('with cash rounding, a card sale refunded in cash pays whole jiao out of the drawer, the fen to rounding, and the day still balances', async () => {
    const { m, store, api } = await soldSale({ quantity: 1, price: 100 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const item = await seedProduct(hub, store, { price: 1234, stock: 10 })
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1234 }] })).body
    const exact = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1234 }] })
    expect([exact.status, exact.body.error?.code, exact.body.error?.details?.refundTotal]).toEqual([422, 'refund_tender_mismatch', 1230])
    const cash = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1230 }] })
    expect(cash.status, JSON.stringify(cash.body)).toBe(201)
    expect(cash.body.sale.refunds[0]).toMatchObject({ total: 1230, tenders: [{ kind: 'cash', amount: 1230 }] })
    const drawer = await hub.database.db.execute(sql`select amount from cash_movements where kind = 'refund' and merchant_id = ${m.merchantId}`)
    expect(drawer.rows.map((r: any) => Number(r.amount))).toEqual([-1230])
    const admin = createApi(hub).as(m.adminToken)
    const voucher = (await admin.post('/api/v1/vouchers/preview', { storeId: store.storeId, date: sale.businessDate })).body
    expect(voucher.problems).toEqual([])
    expect(voucher.totalDebit).toBe(voucher.totalCredit)
    const daily = (await admin.get(`/api/v1/reports/daily-sales?storeId=${store.storeId}&date=${sale.businessDate}`)).body.entries[0]
    expect(daily.refunds).toMatchObject({ count: 1, amount: 1230 })
    expect(daily.tenders.find((t: any) => t.kind === 'cash')).toMatchObject({ sales: 0, refunds: 1230 })
  })

  it('with cash rounding, a refund paid to another tender or named by kind counts: the later refunds give back only the rest', async () => {
    const { m, store, api } = await soldSale({ quantity: 1, price: 100 })
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const item = await seedProduct(hub, store, { price: 1000, stock: 20 })
    const sell = async (tenders: { kind: string; amount: number }[], quantity: number) =>
      (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity }], tenders })).body
    const refund = async (sale: any, quantity: number, tenders?: unknown[]) => {
      const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity }], tenders })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body.sale
    }
    // An all-cash sale whose first unit went back to a card at the terminal (not one of the sale's payments).
    const a = await sell([{ kind: 'cash', amount: 3000 }], 3)
    await refund(a, 1, [{ kind: 'card', amount: 1000 }])
    await refund(a, 1)
    const aDone = await refund(a, 1)
    expect(aDone.refunds.map((r: any) => r.total)).toEqual([1000, 1000, 1000])
    // Cash named by kind goes back through the sale's own cash payment.
    const b = await sell([{ kind: 'cash', amount: 3000 }], 3)
    const bFirst = await refund(b, 1, [{ kind: 'cash', amount: 1000 }])
    expect(bFirst.refunds[0].tenders[0]).toMatchObject({ kind: 'cash', amount: 1000, saleTenderId: b.tenders[0].id })
    await refund(b, 1)
    const bDone = await refund(b, 1)
    expect(bDone.refunds.map((r: any) => r.total)).toEqual([1000, 1000, 1000])
    expect(bDone.tenders[0]).toMatchObject({ amount: 3000, refundedAmount: 3000 })
    // A split sale: the card's unit back to the card, one unit in cash named by kind, the rest by default.
    const c = await sell([{ kind: 'card', amount: 1000 }, { kind: 'cash', amount: 3000 }], 4)
    await refund(c, 1, [{ kind: 'card', amount: 1000, saleTenderId: c.tenders[0].id }])
    await refund(c, 1, [{ kind: 'cash', amount: 1000 }])
    const cDone = await refund(c, 2)
    expect(cDone.refunds.map((r: any) => r.total)).toEqual([1000, 1000, 2000])
    // The drawer paid out the cash refunds only: a's two, b's three, c's three units.
    const report = (await api.get(`/api/v1/cash-sessions/${a.sessionId}/report`)).body
    expect(report.cash.refunds).toBe(2000 + 3000 + 3000)
  })

  it('a cash refund of a card sale needs permission', async () => {
    const { m, store, sale, cashierApi, api } = await soldSale({ quantity: 2, price: 1000, tenders: [{ kind: 'card', amount: 2000 }] })
    const one = { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }
    const inCash = { ...one, tenders: [{ kind: 'cash', amount: 1000 }] }
    const denied = await cashierApi.post(`/api/v1/sales/${sale.id}/refunds`, inCash)
    expect(denied.status).toBe(403) // cashiers may not refund at all
    expect(denied.body.error.code).toBe('permission_denied')
    // Allowed to refund, but not in cash: to the card only.
    const roles = await createApi(hub).as(m.adminToken).put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'sales.refund'] })
    expect(roles.status).toBe(200)
    const notCash = await cashierApi.post(`/api/v1/sales/${sale.id}/refunds`, inCash)
    expect(notCash.status).toBe(403)
    expect(notCash.body.error).toMatchObject({ code: 'refund_tender_forbidden', details: { permission: 'sales.refund_cash' } })
    const toCard = await cashierApi.post(`/api/v1/sales/${sale.id}/refunds`, one)
    expect(toCard.status, JSON.stringify(toCard.body)).toBe(201)
    expect(toCard.body.sale.refunds[0].tenders[0]).toMatchObject({ kind: 'card', amount: 1000 })
    const byManager = await api.post(`/api/v1/sales/${sale.id}/refunds`, inCash)
    expect(byManager.status).toBe(201)
    expect(byManager.body.sale.refunds[1].tenders[0]).toMatchObject({ kind: 'cash', amount: 1000, saleTenderId: null })
  })

  it("an electronic refund goes back through the sale's own payment of that kind; a wallet refund with none is refused", async () => {
    const { store, sale, api } = await soldSale({ quantity: 3, price: 1000, tenders: [{ kind: 'card', amount: 3000 }] })
    const one = { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }
    // Named by kind only: the sale's one card payment is the one refunded, and its refunded amount says so.
    const byKind = await api.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'card', amount: 1000 }] })
    expect(byKind.status, JSON.stringify(byKind.body)).toBe(201)
    const card = sale.tenders[0]
    expect(byKind.body.sale.refunds[0].tenders[0]).toMatchObject({ kind: 'card', amount: 1000, saleTenderId: card.id, refundNo: expect.stringMatching(/^TR/) })
    expect(byKind.body.sale.tenders[0].refundedAmount).toBe(1000)
    // WeChat Pay refunds only a WeChat payment (its out_trade_no): this sale has none.
    const wechat = await api.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'wechat', amount: 1000 }] })
    expect(wechat.status).toBe(422)
    expect(wechat.body.error).toMatchObject({ code: 'refund_tender_kind', details: { kind: 'wechat' } })
    // Two entries that both fall on the one card payment are one tender named twice.
    const twice = await api.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'card', amount: 500 }, { kind: 'card', amount: 500 }] })
    expect(twice.status).toBe(422)
    expect(twice.body.error.code).toBe('duplicate_sale_tender')
  })

  it('a cashier may not move a split refund onto the cash tender without the cash-refund permission', async () => {
    const { m, store, sale, cashierApi, api } = await soldSale({ quantity: 2, price: 1000, tenders: [{ kind: 'card', amount: 1000 }, { kind: 'cash', amount: 1000 }] })
    await createApi(hub).as(m.adminToken).put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'sales.refund'] })
    const cashTender = sale.tenders.find((t: { kind: string }) => t.kind === 'cash').id
    const cardTender = sale.tenders.find((t: { kind: string }) => t.kind === 'card').id
    const one = { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }
    // The default split is card 500 + cash 500: all 1000 out of the drawer is a cash refund instead of a card one.
    const allCash = await cashierApi.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'cash', amount: 1000, saleTenderId: cashTender }] })
    expect(allCash.status).toBe(403)
    expect(allCash.body.error).toMatchObject({ code: 'refund_tender_forbidden', details: { permission: 'sales.refund_cash' } })
    // Less cash than the default (more to the card) takes nothing extra from the drawer.
    const toCard = await cashierApi.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'card', amount: 1000, saleTenderId: cardTender }] })
    expect(toCard.status, JSON.stringify(toCard.body)).toBe(201)
    const byManager = await api.post(`/api/v1/sales/${sale.id}/refunds`, { ...one, tenders: [{ kind: 'cash', amount: 1000, saleTenderId: cashTender }] })
    expect(byManager.status).toBe(201)
  })

  it('a cash refund or void cannot pay out more than the drawer holds', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 0 })
    const item = await seedProduct(hub, store, { price: 5000, stock: 10 })
    const api = createApi(hub).as((await m.staff('manager')).token)
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 5000 }] })).body
    const inCash = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind: 'cash', amount: 5000 }] })
    expect(inCash.status).toBe(422)
    expect(inCash.body.error.code).toBe('not_enough_cash')
    // A cash sale, its cash paid out of the drawer, cannot then be voided in cash.
    const cash = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 5000 }] })).body
    const session = cash.sessionId
    expect((await api.post(`/api/v1/cash-sessions/${session}/movements`, { kind: 'paid_out', amount: 3000, reason: 'bank run' })).status).toBe(201)
    const voided = await api.post(`/api/v1/sales/${cash.id}/void`, { reason: 'rang up twice' })
    expect(voided.status).toBe(422)
    expect(voided.body.error.code).toBe('not_enough_cash')
    expect((await api.get(`/api/v1/cash-sessions/${session}/report`)).body.cash.expected).toBe(2000)
  })

  it('refunds and voids of an offline sale whose tenders differ from its total give back what was paid', async () => {
    const { m, store, api } = await soldSale({ quantity: 1 })
    const item = await seedProduct(hub, store, { price: 550, stock: 10 })
    const offline = async (tenders: { kind: string; amount: number }[]) => {
      const id = randomUUID()
      const r = await api.post('/api/v1/sales/batch', { sales: [{ id, occurredAt: new Date().toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2, unitPrice: 550 }], tenders }] })
      expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
      return (await api.get(`/api/v1/sales/${id}`)).body
    }
    // The till charged ¥10.50 by card for ¥11.00 of goods: the customer gets back ¥10.50, half each time.
    const card = await offline([{ kind: 'card', amount: 1050 }])
    expect(card).toMatchObject({ total: 1100, tenderDifference: -50 })
    const refund = () => api.post(`/api/v1/sales/${card.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: card.lines[0].id, quantity: 1 }] })
    const first = await refund()
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    expect(first.body.sale.refunds[0]).toMatchObject({ total: 525, tenders: [expect.objectContaining({ kind: 'card', amount: 525 })] })
    const second = await refund()
    expect(second.status, JSON.stringify(second.body)).toBe(201)
    expect(second.body.sale.refunds[1]).toMatchObject({ total: 525 })
    expect(second.body.sale.tenders[0]).toMatchObject({ amount: 1050, refundedAmount: 1050 })
    // Overpaid by card: all of it comes back.
    const over = await offline([{ kind: 'card', amount: 1150 }])
    const whole = await api.post(`/api/v1/sales/${over.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: over.lines[0].id, quantity: 2 }] })
    expect(whole.body.sale.refunds[0].total).toBe(1150)
    // A void reverses what was taken, and the Z report's voids agree with the drawer.
    const cash = await offline([{ kind: 'cash', amount: 1000 }])
    const voided = await api.post(`/api/v1/sales/${cash.id}/void`, { reason: 'wrong till' })
    expect(voided.status, JSON.stringify(voided.body)).toBe(200)
    expect(voided.body.refunds[0].total).toBe(1000)
    const report = (await api.get(`/api/v1/cash-sessions/${cash.sessionId}/report`)).body
    expect(report.voids.total).toBe(report.cash.voids)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('an offline sale of nothing to pay that the till charged anyway gives the charge back with its last unit', async () => {
    const { store, api } = await soldSale({ quantity: 1 })
    const item = await seedProduct(hub, store, { price: 550, stock: 10 })
    const id = randomUUID()
    const r = await api.post('/api/v1/sales/batch', { sales: [{ id, occurredAt: new Date().toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2, unitPrice: 0 }], tenders: [{ kind: 'card', amount: 100 }] }] })
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const sale = (await api.get(`/api/v1/sales/${id}`)).body
    expect(sale).toMatchObject({ total: 0, tenderDifference: 100 })
    const refund = () => api.post(`/api/v1/sales/${id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    const first = await refund()
    expect(first.status, JSON.stringify(first.body)).toBe(201)
    expect(first.body.sale.refunds[0].total).toBe(0)
    const last = await refund()
    expect(last.status, JSON.stringify(last.body)).toBe(201)
    expect(last.body.sale.refunds[1]).toMatchObject({ total: 100, tenders: [expect.objectContaining({ kind: 'card', amount: 100 })] })
    expect(last.body.sale.tenders[0]).toMatchObject({ amount: 100, refundedAmount: 100 })
  })

  it('voids only with the permission to void', async () => {
    const { item, sale, cashierApi, api, m } = await soldSale({ quantity: 2 })
    const denied = await cashierApi.post(`/api/v1/sales/${sale.id}/void`, { reason: 'not mine to void' })
    expect(denied.status).toBe(403)
    expect(denied.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'sales.void' } })
    expect(await onHand(item.variantId)).toBe(98)
    expect((await api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'rang up twice' })).status).toBe(200)
    expect(await onHand(item.variantId)).toBe(100)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('writes off a returned item instead of restocking it when told', async () => {
    const { store, item, api, sale, m } = await soldSale({ quantity: 2 })
    await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1, restock: false }] })
    expect(await onHand(item.variantId)).toBe(98)
    await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(await onHand(item.variantId)).toBe(99)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('one refund may restock some units of a line and write off others, each part priced in turn', async () => {
    const { store, item, api, sale, m } = await soldSale({ quantity: 3, price: 1000, tenders: [{ kind: 'card', amount: 3000 }] })
    const line = sale.lines[0]
    const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, {
      registerId: store.registerId,
      lines: [
        { saleLineId: line.id, quantity: 1, restock: true },
        { saleLineId: line.id, quantity: 1, restock: false },
      ],
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(await onHand(item.variantId)).toBe(98)
    const refund = r.body.sale.refunds[0]
    expect(refund.total).toBe(2000)
    const parts = (await hub.database.db.execute<{ quantity: number; amount: number; restock: boolean }>(sql`
      select quantity::int, amount::int, restock from refund_lines where refund_id = ${refund.id} order by restock desc`)).rows
    expect(parts).toEqual([{ quantity: 1, amount: 1000, restock: true }, { quantity: 1, amount: 1000, restock: false }])
    expect(r.body.sale.lines[0].refundedQuantity).toBe(2)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('refunds a line that was given away (a refund of 0) without paying anything back', async () => {
    const { m, store, item, api } = await soldSale()
    const sale = await createApi(hub).as(m.adminToken).post('/api/v1/sales', {
      registerId: store.registerId,
      lines: [{ sku: item.sku }, { sku: item.sku, discount: { percentBp: 10000 } }],
      tenders: [{ kind: 'card', amount: 1000 }],
    })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect(sale.body.lines[1].total).toBe(0)
    const before = await onHand(item.variantId)
    const r = await api.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[1].id, quantity: 1 }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    const refund = r.body.sale.refunds.at(-1)
    expect(refund).toMatchObject({ total: 0, tenders: [] })
    expect(await onHand(item.variantId)).toBe(before + 1)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('voids a sale on its day while the session is open, reversing stock, cash and tenders', async () => {
    const { store, item, api, sale, m } = await soldSale({ quantity: 2, price: 1000, tenders: [{ kind: 'cash', amount: 500 }, { kind: 'wechat', amount: 1500 }] })
    const r = await api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'rang up the wrong customer' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ status: 'voided', voidReason: 'rang up the wrong customer' })
    expect(r.body.refunds[0]).toMatchObject({ kind: 'void', total: 2000 })
    expect(r.body.refunds[0].tenders.find((t: any) => t.kind === 'wechat').refundNo).toMatch(/^TR/)
    expect(await onHand(item.variantId)).toBe(100)
    const again = await api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'again' })
    expect(again.body.error.code).toBe('sale_voided')
    const refund = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(refund.body.error.code).toBe('sale_voided')
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('refuses to void after the session closed or after a refund', async () => {
    const { store, api, sale } = await soldSale({ quantity: 2 })
    await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect((await api.post(`/api/v1/sales/${sale.id}/void`, { reason: 'x' })).body.error.code).toBe('sale_has_refunds')
    const other = await soldSale({ quantity: 1 })
    await other.api.post(`/api/v1/cash-sessions/${other.sale.sessionId}/close`, { countedCash: 10_000 })
    expect((await other.api.post(`/api/v1/sales/${other.sale.id}/void`, { reason: 'x' })).body.error.code).toBe('void_window_closed')
  })

  it('refuses to void a sale of an earlier business day', async () => {
    const { api, sale, m } = await soldSale({ quantity: 1 })
    // An API key does not expire with the clock jump, unlike the session token.
    const key = (await createApi(hub).as(m.adminToken).post('/api/v1/api-keys', { name: 'till', role: 'manager' })).body.key
    hub.setNow(new Date(Date.now() + 86_400_000))
    try {
      expect((await createApi(hub).as(key).post(`/api/v1/sales/${sale.id}/void`, { reason: 'late' })).body.error.code).toBe('void_window_closed')
    } finally {
      hub.setNow(undefined)
    }
    expect((await api.get(`/api/v1/sales/${sale.id}`)).body.status).toBe('completed')
  })
})
