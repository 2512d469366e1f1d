// Editing a catalog in use: one scale item code per item however it is written, barcodes moved between variants, SKU
// reuse, other merchants' ids, category cycles, units of variants with stock, prices changed between quote and sale,
// off-shelf items, search pages while products are added.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'
import { catalogShop, productBody } from '../core/catalog/fixtures.ts'
import { gtinCheckDigit } from '../../src/core/catalog/barcodes.ts'

describe('editing the catalog in use', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  it('one scale item code is held by one variant: 1234 and 01234 are the same PLU', async () => {
    const { admin } = await catalogShop(hub)
    const a = await admin.post('/api/v1/products', productBody({ unit: 'g' }, { sku: 'APPLE', price: 1000, pricePer: 1000, barcodes: [{ code: '1234', kind: 'scale_plu' }] }))
    expect(a.status).toBe(201)
    const b = await admin.post('/api/v1/products', productBody({ unit: 'g' }, { sku: 'PEAR', price: 2000, pricePer: 1000, barcodes: [{ code: '01234', kind: 'scale_plu' }] }))
    // The same PLU typed two ways, and the label 21 01234 00500 (5 PLU digits, the default), all name one item code.
    const body = '210123400500'
    const found = []
    for (const code of ['1234', '01234', `${body}${gtinCheckDigit(body)}`]) found.push((await admin.get(`/api/v1/variants/lookup?code=${code}`)).body.sku)
    expect(new Set(found).size).toBe(1)
    expect([b.status, b.body.error?.code]).toEqual([409, 'barcode_taken'])
    // Nor can a variant be given it by a change.
    const pear = await admin.post('/api/v1/products', productBody({ unit: 'g' }, { sku: 'PEAR', price: 2000, pricePer: 1000 }))
    const moved = await admin.patch(`/api/v1/variants/${pear.body.variants[0].id}`, { barcodes: [{ code: '001234', kind: 'scale_plu' }] })
    expect([moved.status, moved.body.error?.code]).toEqual([409, 'barcode_taken'])
  })

  it('moves a barcode from one variant to another, and a clash leaves nothing half-written', async () => {
    const { admin } = await catalogShop(hub)
    const a = await admin.post('/api/v1/products', productBody({}, { sku: 'MV-A', barcodes: ['4006381333931'] }))
    const b = await admin.post('/api/v1/products', productBody({}, { sku: 'MV-B' }))
    const va = a.body.variants[0].id
    const vb = b.body.variants[0].id
    const clash = await admin.patch(`/api/v1/variants/${vb}`, { sku: 'MV-B2', price: 5, barcodes: ['4006381333931'] })
    expect(clash.status).toBe(409)
    const bAfter = await admin.get(`/api/v1/products/${b.body.id}`)
    expect(bAfter.body.variants[0]).toMatchObject({ sku: 'MV-B', price: 1000, barcodes: [] })
    expect((await admin.patch(`/api/v1/variants/${va}`, { barcodes: [] })).status).toBe(200)
    const mv = await admin.patch(`/api/v1/variants/${vb}`, { barcodes: ['4006381333931'] })
    expect(mv.status).toBe(200)
    const l = await admin.get('/api/v1/variants/lookup?code=4006381333931')
    expect(l.body.sku).toBe('MV-B')
    // UPC-A and its EAN-13 form held once across variants on PATCH
    const up = await admin.patch(`/api/v1/variants/${va}`, { barcodes: ['036000291452'] })
    expect(up.status).toBe(200)
    const ean = await admin.patch(`/api/v1/variants/${vb}`, { barcodes: ['0036000291452'] })
    expect(ean.status).toBe(409)
    const bad = await admin.patch(`/api/v1/variants/${vb}`, { barcodes: ['0036000291453'] })
    expect(bad.status).toBe(422)
  })

  it('SKU change frees the old SKU; an archived product keeps its SKU', async () => {
    const { admin } = await catalogShop(hub)
    const a = await admin.post('/api/v1/products', productBody({}, { sku: 'OLD-1' }))
    const va = a.body.variants[0].id
    expect((await admin.patch(`/api/v1/variants/${va}`, { sku: 'NEW-1' })).status).toBe(200)
    const reuse = await admin.post('/api/v1/products', productBody({}, { sku: 'OLD-1' }))
    expect(reuse.status).toBe(201)
    expect((await admin.delete(`/api/v1/products/${reuse.body.id}`)).status).toBe(200)
    const again = await admin.post('/api/v1/products', productBody({}, { sku: 'OLD-1' }))
    expect(again.status).toBe(409)
    const sw = await admin.patch(`/api/v1/variants/${va}`, { sku: 'OLD-1' })
    expect(sw.status).toBe(409)
  })

  it("refuses another merchant's ids in catalog bodies", async () => {
    const A = await catalogShop(hub)
    const B = await catalogShop(hub)
    const catB = await B.admin.post('/api/v1/categories', { name: 'B-cat' })
    const catA = await A.admin.post('/api/v1/categories', { name: 'A-cat' })
    const pB = await B.admin.post('/api/v1/products', productBody({}, { sku: 'B-1' }))
    const pA = await A.admin.post('/api/v1/products', productBody({}, { sku: 'A-1' }))
    expect((await A.admin.post('/api/v1/products', productBody({ categoryId: catB.body.id }))).status).toBe(422)
    expect((await A.admin.patch(`/api/v1/products/${pA.body.id}`, { categoryId: catB.body.id })).status).toBe(422)
    expect((await A.admin.patch(`/api/v1/products/${pA.body.id}`, { taxCategoryId: B.taxIds.reduced })).status).toBe(422)
    expect((await A.admin.patch(`/api/v1/categories/${catA.body.id}`, { parentId: catB.body.id })).status).toBe(422)
    expect((await A.admin.post('/api/v1/categories', { name: 'x', parentId: catB.body.id })).status).toBe(422)
    expect((await A.admin.post(`/api/v1/products/${pB.body.id}/variants`, { sku: 'A-2', price: 1 })).status).toBe(404)
    expect((await A.admin.patch(`/api/v1/variants/${pB.body.variants[0].id}`, { price: 1 })).status).toBe(404)
    expect((await A.admin.patch(`/api/v1/tax-categories/${B.taxIds.reduced}`, { rateBp: 1 })).status).toBe(404)
    const s = await A.admin.get(`/api/v1/products?categoryId=${catB.body.id}`)
    expect(s.body.items).toEqual([])
    const l = await A.admin.get(`/api/v1/variants/lookup?code=B-1`)
    expect(l.status).toBe(404)
  })

  it('category move under its own grandchild is refused; tree unchanged', async () => {
    const { admin } = await catalogShop(hub)
    const a = await admin.post('/api/v1/categories', { name: 'A' })
    const b = await admin.post('/api/v1/categories', { name: 'B', parentId: a.body.id })
    const c = await admin.post('/api/v1/categories', { name: 'C', parentId: b.body.id })
    const r = await admin.patch(`/api/v1/categories/${a.body.id}`, { parentId: c.body.id, name: 'A2' })
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('category_cycle')
    const self = await admin.patch(`/api/v1/categories/${a.body.id}`, { parentId: a.body.id })
    expect(self.status).toBe(422)
    const got = await admin.get(`/api/v1/categories/${a.body.id}`)
    expect(got.body).toMatchObject({ name: 'A', parentId: null })
  })

  it('unit of a variant with stock cannot change; inherit/own same unit is fine', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, pricePer: 1000, unit: 'g', stock: 5000 })
    const admin = createApi(hub).as(m.adminToken)
    const r = await admin.patch(`/api/v1/variants/${item.variantId}`, { unit: 'piece' })
    expect(r.status).toBe(409)
    const same = await admin.patch(`/api/v1/variants/${item.variantId}`, { unit: 'g' })
    expect(same.status).toBe(200)
    const back = await admin.patch(`/api/v1/variants/${item.variantId}`, { unit: null })
    expect(back.status).toBe(200)
  })

  it('price and cost changed between quote and sale: the sale charges the new price and costs at the new cost', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, cost: 400, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const q = await cashier.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }] })
    expect(q.body.total).toBe(2000)
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { price: 1200, cost: 500 })).status).toBe(200)
    const under = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })
    expect(under.status).toBe(422)
    const s = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2400 }] })
    expect(s.status).toBe(201)
    expect(s.body.total).toBe(2400)
    const mv = await hub.database.db.execute(sql`select unit_cost, cost_per from stock_movements where variant_id = ${item.variantId} and kind = 'sale'`)
    expect(Number(mv.rows[0]!.unit_cost)).toBe(500)
    expect((await admin.patch(`/api/v1/variants/${item.variantId}`, { cost: 700 })).status).toBe(200)
    const d = s.body.businessDate
    const rep = await admin.get(`/api/v1/reports/products?from=${d}&to=${d}&limit=5`)
    expect(rep.body.totals.cost).toBe(1000)
    const val = await admin.get(`/api/v1/reports/stock-valuation`)
    expect(val.body.totals.value).toBe(8 * 700)
  })

  it('off-shelf and archived products are refused at the till and in quotes', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    await admin.patch(`/api/v1/variants/${item.variantId}`, { onShelf: false })
    const q = await cashier.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ sku: item.sku }] })
    expect(q.status).toBe(422)
    await admin.patch(`/api/v1/variants/${item.variantId}`, { onShelf: true })
    await admin.delete(`/api/v1/products/${item.productId}`)
    const q2 = await cashier.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ variantId: item.variantId }] })
    expect(q2.status).toBe(422)
    const s = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
    expect(s.status).toBe(422)
  })

  it('search pages while products are added: no duplicates or gaps', async () => {
    const { admin } = await catalogShop(hub)
    const made: string[] = []
    for (let i = 0; i < 7; i++) made.push((await admin.post('/api/v1/products', productBody({ name: `Pager ${i}` }))).body.id)
    const seen: string[] = []
    let cursor: string | null = null
    let k = 0
    do {
      const r: any = await admin.get(`/api/v1/products?q=pager&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      seen.push(...r.body.items.map((p: any) => p.id))
      cursor = r.body.nextCursor
      if (k++ === 0) made.push((await admin.post('/api/v1/products', productBody({ name: `Pager new` }))).body.id)
    } while (cursor)
    expect(new Set(seen).size).toBe(seen.length)
    expect(seen.sort()).toEqual([...made].sort())
  })
})
