// Refund tenders: an on-account or coupon-voucher refund named by kind goes back to the sale's own tender of that
// kind (and counts against what it can still give back); under cash rounding, once rounded refunds have given back
// all the cash, the rest of the goods come back for nothing more.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'

describe('refunds to a tender named by its kind', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  for (const kind of ['on_account', 'coupon_voucher'] as const) {
    it(`a ${kind} tender named by kind is the sale's own: all refunds never give it back more than it paid`, async () => {
      const m = await seedMerchant(hub)
      const store = await seedStore(hub, m.merchantId)
      const a = await seedProduct(hub, store, { price: 500, stock: 10 })
      const b = await seedProduct(hub, store, { price: 500, stock: 10 })
      const manager = await m.staff('manager')
      const api = createApi(hub).as(manager.token)
      const sale = (
        await api.post('/api/v1/sales', {
          registerId: store.registerId,
          customerName: 'ACME Ltd',
          lines: [{ sku: a.sku }, { sku: b.sku }],
          tenders: [{ kind, amount: 600, accountRef: 'ACME' }, { kind: 'cash', amount: 400 }],
        })
      ).body
      expect(sale.total).toBe(1000)
      // Line A back to the customer's account / voucher (the original tender, named by its kind).
      const r1 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind, amount: 500 }] })
      expect(r1.status).toBe(201)
      // The rest the default way.
      const r2 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[1].id, quantity: 1 }] })
      expect(r2.status).toBe(201)
      const after = r2.body.sale
      const refundedOf = (k: string) => after.refunds.flatMap((r: any) => r.tenders).filter((t: any) => t.kind === k).reduce((s: number, t: any) => s + t.amount, 0)
      // Each tender gets back at most what it paid: 600 and 400, not 800 and 200.
      expect({ [kind]: refundedOf(kind), cash: refundedOf('cash') }).toEqual({ [kind]: 600, cash: 400 })
      // The sale's own tender records the first refund too.
      const t = after.tenders.find((x: any) => x.kind === kind)
      expect(t.refundedAmount).toBe(600)
    })
  }
})

describe('cash rounding (抹零): refunds after the cash is all given back', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function roundedUpCashSale() {
    const m = await seedMerchant(hub)
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const store = await seedStore(hub, m.merchantId)
    const big = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const small = await seedProduct(hub, store, { price: 5, stock: 10 })
    const manager = await m.staff('manager')
    const api = createApi(hub).as(manager.token)
    const sale = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: big.sku }, { sku: small.sku }], tenders: [{ kind: 'cash', amount: 2000 }] })).body
    // 10.05 in cash rounds half up to 10.10.
    expect([sale.total, sale.roundingAdjustment, sale.tenders[0].amount]).toEqual([1005, 5, 1010])
    return { store, api, sale }
  }

  it('after a rounded refund has given back all the cash, the last unit can still be refunded (for nothing more)', async () => {
    const { store, api, sale } = await roundedUpCashSale()
    const r1 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(r1.status).toBe(201)
    const first = r1.body.sale.refunds[0].total
    // The last line: the refunds together give back exactly what was paid (1010), never more, and the goods come back.
    const r2 = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[1].id, quantity: 1 }] })
    expect(r2.status, JSON.stringify(r2.body)).toBe(201)
    expect(first + r2.body.sale.refunds[1].total).toBe(1010)
    expect(r2.body.sale.lines[1].refundedQuantity).toBe(1)
  })

  it('the last unit comes back for nothing with cash named too, never paying out more than the sale took', async () => {
    const { store, api, sale } = await roundedUpCashSale()
    await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    const more = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[1].id, quantity: 1 }], tenders: [{ kind: 'cash', amount: 5 }] })
    expect([more.status, more.body.error?.code, more.body.error?.details?.refundTotal]).toEqual([422, 'refund_tender_mismatch', 0])
    const r = await api.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[1].id, quantity: 1 }], tenders: [] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.sale.refunds.reduce((n: number, x: any) => n + x.total, 0)).toBe(1010)
  })

  describe('cash instead of a card, under cash rounding', () => {
    async function cardShop() {
      const m = await seedMerchant(hub)
      const store = await seedStore(hub, m.merchantId)
      return { m, store, admin: createApi(hub).as(m.adminToken) }
    }

  it('with cash rounding, a card sale refunded unit by unit in cash never gives back more than was paid', async () => {
      const { m, store, admin } = await cardShop()
      await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
      const item = await seedProduct(hub, store, { price: 617, stock: 10 })
      const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 1234 }] })).body
      expect(sale.total).toBe(1234)
      const line = { saleLineId: sale.lines[0].id, quantity: 1 }
      const first = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [line], tenders: [{ kind: 'cash', amount: 620 }] })
      expect(first.status, JSON.stringify(first.body)).toBe(201)
      const second = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [line] })
      expect(second.status, JSON.stringify(second.body)).toBe(201)
      const refunds = second.body.sale.refunds.map((r: any) => r.total)
      // The refunds of a sale add up to what was paid (12.34): the first, rounded up to 6.20, leaves 6.14.
      expect(refunds.reduce((a: number, b: number) => a + b, 0)).toBe(1234)
    })

    it('with cash rounding, both units of a card sale refunded in cash give back at most what was paid', async () => {
      const { m, store, admin } = await cardShop()
      await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
      const item = await seedProduct(hub, store, { price: 617, stock: 10 })
      const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 1234 }] })).body
      const line = { saleLineId: sale.lines[0].id, quantity: 1 }
      const totals: number[] = []
      for (let i = 0; i < 2; i++) {
        const probe = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [line], tenders: [{ kind: 'cash', amount: 1 }] })
        const want = probe.body.error?.details?.refundTotal
        const r = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [line], tenders: [{ kind: 'cash', amount: want }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        totals.push(want)
      }
      // The drawer pays whole units: 6.20, then the 6.14 left rounded down to 6.10; never beyond the 12.34 paid.
      expect(totals).toEqual([620, 610])
    })
  })
})
