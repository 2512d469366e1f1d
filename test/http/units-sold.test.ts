// Units sold, one rule in every report: a return counts at the location its item was sold from, wherever it was put
// back on a shelf. The stock valuation, the reorder suggestions and the products report agree.
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { startOfBusinessDay } from '../../src/lib/time.ts'

describe('units sold across reports', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  it('a return restocked at another store counts at the store that sold it, in the valuation as in reorder suggestions', async () => {
    const tz = 'Pacific/Auckland'
    const day = '2026-10-20'
    const at = (h: number) => new Date(startOfBusinessDay(day, tz).getTime() + h * 3600_000)
    const m = await seedMerchant(hub, { timeZone: tz })
    const s1 = await seedStore(hub, m.merchantId, { code: `X${randomUUID().slice(0, 4)}`, openSession: false })
    const s2 = await seedStore(hub, m.merchantId, { code: `Y${randomUUID().slice(0, 4)}`, openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    const item = await seedProduct(hub, s1, { sku: `R-${randomUUID().slice(0, 6)}`, price: 1000, cost: 400 })
    hub.setNow(at(8))
    for (const s of [s1, s2]) ok(await admin.post('/api/v1/stock/receipts', { locationId: s.locationId, lines: [{ sku: item.sku, quantity: 10 }] }))
    ok(await admin.post('/api/v1/cash-sessions', { registerId: s1.registerId, openingFloat: 0 }))
    hub.setNow(at(10))
    const sale = ok(await admin.post('/api/v1/sales', { registerId: s1.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] }))
    hub.setNow(at(11))
    // One unit comes back and is put on the other store's shelf.
    ok(await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: s1.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1, locationId: s2.locationId }] }))
    hub.setNow(at(20))
    const reorder = async (locationId: string) =>
      ok(await admin.get(`/api/v1/stock/reorder-suggestions?locationId=${locationId}&windowDays=1`), 200).items.find((x: any) => x.variantId === item.variantId)?.unitsSold ?? 0
    const valuation = ok(await admin.get('/api/v1/reports/stock-valuation?windowDays=1'), 200).items.filter((x: any) => x.variantId === item.variantId)
    const valued = (locationId: string) => valuation.find((x: any) => x.locationId === locationId)
    const products = ok(await admin.get(`/api/v1/reports/products?storeId=${s1.storeId}&from=${day}&to=${day}`), 200).bestSellers.find((x: any) => x.variantId === item.variantId)
    // The first store sold 2 and took 1 back: 1 sold in every report; the second sold none (it only got one back).
    expect([await reorder(s1.locationId), valued(s1.locationId).unitsSold, products.quantity]).toEqual([1, 1, 1])
    expect([await reorder(s2.locationId), valued(s2.locationId).unitsSold]).toEqual([0, 0])
    // On hand: 10 − 2 at the first store, 10 + 1 at the second, as the ledger has it.
    expect([valued(s1.locationId).onHand, valued(s2.locationId).onHand]).toEqual([8, 11])
    expect(valued(s2.locationId).turnoverDays).toBeNull()
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })
})
