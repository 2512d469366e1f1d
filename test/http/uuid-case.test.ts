// Ids in any case: RFC 9562 UUIDs are case-insensitive on input, and a till written for Windows sends them in upper
// case. Each request below names its ids in upper case and must behave as with the lower-case ids the hub returns.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'

describe('ids sent in upper case', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function shop() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    return { m, store, item, admin: createApi(hub).as(m.adminToken) }
  }
  const up = (id: string) => id.toUpperCase()

  it('a sale names its register and an item by variant id', async () => {
    const { store, item, admin } = await shop()
    const body = { registerId: up(store.registerId), lines: [{ variantId: up(item.variantId), quantity: 2 }], tenders: [{ kind: 'cash', amount: 2000 }] }
    const quote = await admin.post('/api/v1/sales/quote', body)
    expect(quote.status, JSON.stringify(quote.body)).toBe(200)
    expect(quote.body.amountDue).toBe(2000)
    const sale = await admin.post('/api/v1/sales', body)
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect(sale.body.registerId).toBe(store.registerId)
    const refund = await admin.post(`/api/v1/sales/${up(sale.body.id)}/refunds`, { registerId: up(store.registerId), lines: [{ saleLineId: up(sale.body.lines[0].id), quantity: 1 }] })
    expect(refund.status, JSON.stringify(refund.body)).toBe(201)
    expect(refund.body.sale.lines[0].refundedQuantity).toBe(1)
  })

  it('a promotion scoped to a product and a store applies', async () => {
    const { store, item, admin } = await shop()
    const promo = await admin.post('/api/v1/promotions', { name: '¥1 off', kind: 'amount_off', level: 'item', params: { amount: 100 }, productIds: [up(item.productId)], storeIds: [up(store.storeId)] })
    expect(promo.status).toBe(201)
    expect(promo.body).toMatchObject({ productIds: [item.productId], storeIds: [store.storeId] })
    const quote = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(quote.body.amountDue).toBe(900)
  })

  it("a bundle's components name their products and categories", async () => {
    const { store, item, admin } = await shop()
    const drinks = (await admin.post('/api/v1/categories', { name: 'Drinks' })).body
    const cola = await seedProduct(hub, store, { price: 1000, stock: 10, categoryId: drinks.id })
    const promo = await admin.post('/api/v1/promotions', {
      name: 'Meal ¥15',
      kind: 'bundle',
      level: 'item',
      params: { price: 1500, components: [{ quantity: 1, productIds: [up(item.productId)] }, { quantity: 1, categoryIds: [up(drinks.id)] }] },
    })
    expect(promo.status).toBe(201)
    expect(promo.body.params.components.map((c: any) => [...c.productIds, ...c.categoryIds])).toEqual([[item.productId], [drinks.id]])
    const quote = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }, { sku: cola.sku }] })
    expect(quote.body.amountDue).toBe(1500)
  })

  it('stock receipts name the variant; products and variants name their tax category', async () => {
    const { store, item, admin } = await shop()
    const receipt = await admin.post('/api/v1/stock/receipts', { locationId: up(store.locationId), lines: [{ variantId: up(item.variantId), quantity: 3 }] })
    expect(receipt.status, JSON.stringify(receipt.body)).toBe(201)
    const level = await admin.get(`/api/v1/stock/levels?variantId=${item.variantId}`)
    expect(level.body.items[0].onHand).toBe(13)
    const product = await admin.post('/api/v1/products', { name: 'Upper', taxCategoryId: up(store.taxIds.reduced), variants: [{ sku: 'UP-1', price: 100 }] })
    expect(product.status, JSON.stringify(product.body)).toBe(201)
    expect(product.body.taxCategoryId).toBe(store.taxIds.reduced)
    const variant = await admin.post(`/api/v1/products/${product.body.id}/variants`, { sku: 'UP-2', price: 200, taxCategoryId: up(store.taxIds.exempt) })
    expect(variant.status, JSON.stringify(variant.body)).toBe(201)
  })

  it('a category moved under its own child is a cycle, not "not found"', async () => {
    const { admin } = await shop()
    const a = (await admin.post('/api/v1/categories', { name: 'A' })).body
    const b = (await admin.post('/api/v1/categories', { name: 'B', parentId: up(a.id) })).body
    expect(b.parentId).toBe(a.id)
    const cycle = await admin.patch(`/api/v1/categories/${a.id}`, { parentId: up(b.id) })
    expect(cycle.status).toBe(422)
    expect(cycle.body.error.code).toBe('category_cycle')
  })
})
