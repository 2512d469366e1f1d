import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'

describe('audit probes', () => {
  const hub = useTestHub()

  it('P1 patching a promotion name keeps its product scope', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const tea = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const cup = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const p = await admin.post('/api/v1/promotions', { name: 'tea 1 off', kind: 'amount_off', level: 'item', params: { amount: 100 }, productIds: [tea.productId], priority: 5, exclusive: true })
    expect(p.status).toBe(201)
    const r = await admin.patch(`/api/v1/promotions/${p.body.id}`, { name: 'tea ¥1 off' })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ productIds: [tea.productId], priority: 5, exclusive: true })
  })

  it('P2 patching a deactivated promotion name keeps it inactive', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const p = await admin.post('/api/v1/promotions', { name: 'x', kind: 'amount_off', level: 'item', params: { amount: 100 }, storeIds: [store.storeId] })
    await admin.patch(`/api/v1/promotions/${p.body.id}`, { active: false })
    const r = await admin.patch(`/api/v1/promotions/${p.body.id}`, { name: 'y' })
    expect(r.body).toMatchObject({ active: false, storeIds: [store.storeId] })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(q.body.total).toBe(1000)
  })

  it('P3 exclusive bundle keeps promotions off unrelated lines?', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const b = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const c = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const r0 = await admin.post('/api/v1/promotions', { name: 'c 10%', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, productIds: [c.productId] })
    expect(r0.status).toBe(201)
    const r1 = await admin.post('/api/v1/promotions', { name: 'A+B 15', kind: 'bundle', level: 'item', exclusive: true, params: { price: 1500, components: [{ quantity: 1, productIds: [a.productId] }, { quantity: 1, productIds: [b.productId] }] } })
    expect(r1.status).toBe(201)
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: b.sku }, { sku: c.sku }] })
    expect(q.body.lines.map((l: any) => l.total)).toEqual([750, 750, 900])
  })

  it('P4 time window boundaries', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const T = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000)
    await admin.post('/api/v1/promotions', { name: 'ends at T', kind: 'amount_off', level: 'item', params: { amount: 100 }, endsAt: T.toISOString() })
    await admin.post('/api/v1/promotions', { name: 'starts at T', kind: 'amount_off', level: 'item', params: { amount: 10 }, startsAt: T.toISOString() })
    hub.setNow(T)
    try {
      const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
      expect(q.body.applied.map((a: any) => a.label)).toEqual(['starts at T'])
    } finally {
      hub.setNow(undefined)
    }
  })

  it('P5 buy 2 get 1 across lines, qty 5 and 6', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 3000, stock: 50 })
    const b = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: 'b2g1', kind: 'buy_x_get_y', level: 'item', params: { buy: 2, get: 1 } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku, quantity: 3 }, { sku: b.sku, quantity: 2 }] })
    expect(q.body.lines.map((l: any) => l.discountTotal)).toEqual([0, 1000])
    const q2 = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku, quantity: 5 }, { sku: b.sku, quantity: 1 }] })
    expect(q2.body.lines.map((l: any) => l.discountTotal)).toEqual([3000, 1000])
  })

  it('P6 bundle applies twice', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const b = await seedProduct(hub, store, { price: 600, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: 'A+B 12', kind: 'bundle', level: 'item', params: { price: 1200, components: [{ quantity: 1, productIds: [a.productId] }, { quantity: 1, productIds: [b.productId] }] } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku, quantity: 2 }, { sku: b.sku, quantity: 3 }] })
    expect(q.body.total).toBe(2400 + 600)
  })

  it('P7 fixed price on a weighed item', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const w = await seedProduct(hub, store, { price: 2990, pricePer: 500, unit: 'g', stock: 100000 })
    const admin = createApi(hub).as(m.adminToken)
    const p = await admin.post('/api/v1/promotions', { name: 'fixed', kind: 'fixed_price', level: 'item', params: { price: 1990 }, productIds: [w.productId] })
    expect(p.status).toBe(201)
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: w.sku, quantity: 750 }] })
    expect(q.body.lines[0]).toMatchObject({ gross: 4485, total: 2985 })
  })

  it('P8 tax exclusive multi-rate with order discount: sums agree', async () => {
    const m = await seedMerchant(hub)
    await setSettings(hub, m.merchantId, { taxInclusive: false })
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 333, stock: 50, tax: 'standard' })
    const b = await seedProduct(hub, store, { price: 777, stock: 50, tax: 'reduced' })
    const c = await seedProduct(hub, store, { price: 101, stock: 50, tax: 'services' })
    const admin = createApi(hub).as(m.adminToken)
    await admin.post('/api/v1/promotions', { name: 'order 1.01 off', kind: 'amount_off', level: 'order', params: { amount: 101 } })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: b.sku, quantity: 3 }, { sku: c.sku }] })
    const lines = q.body.lines
    expect(lines.reduce((s: number, l: any) => s + l.taxAmount, 0)).toBe(q.body.taxTotal)
    expect(lines.reduce((s: number, l: any) => s + l.total, 0)).toBe(q.body.total)
    expect(q.body.discountTotal).toBe(101)
    for (const l of lines) expect(l.taxAmount).toBe(Math.round((l.netExTax * l.taxRateBp) / 10000))
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: b.sku, quantity: 3 }, { sku: c.sku }], tenders: [{ kind: 'card', amount: q.body.total }] })
    expect(sale.status).toBe(201)
    expect(sale.body.taxTotal).toBe(q.body.taxTotal)
  })

  it('P9 three 1-fen lines at 13%', async () => {
    const m = await seedMerchant(hub)
    await setSettings(hub, m.merchantId, { taxInclusive: false, taxRounding: 'per_order_rate_bucket' })
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 1, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku }, { sku: a.sku }, { sku: a.sku }] })
    expect(q.body.taxTotal).toBe(0)
    expect(q.body.lines.map((l: any) => l.taxAmount)).toEqual([0, 0, 0])
  })

  it('P10 cash rounding with split tender', async () => {
    const m = await seedMerchant(hub)
    await setSettings(hub, m.merchantId, { cashRounding: { unit: 10, mode: 'down' } })
    const store = await seedStore(hub, m.merchantId)
    const a = await seedProduct(hub, store, { price: 1057, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: a.sku }], tenders: [{ kind: 'wechat', amount: 1001 }, { kind: 'cash', amount: 100 }] })
    console.log('P10', JSON.stringify({ r: q.body.roundingAdjustment, due: q.body.amountDue, paid: q.body.paid, change: q.body.change }))
  })

  it('P11 category promo applies to subcategory product', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const food = (await admin.post('/api/v1/categories', { name: 'Food', code: 'FOOD' })).body
    const fruit = (await admin.post('/api/v1/categories', { name: 'Fruit', parentId: food.id })).body
    const apple = await seedProduct(hub, store, { price: 1000, stock: 50, categoryId: fruit.id })
    await admin.post('/api/v1/promotions', { name: 'food 10%', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, categoryIds: [food.id] })
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: apple.sku }] })
    expect(q.body.total).toBe(900)
  })
})
