import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { catalogShop, productBody } from '../core/catalog/fixtures.ts'
import { seedStore } from '../helpers/pos.ts'
import { gtinCheckDigit } from '../../src/core/catalog/barcodes.ts'

describe('products through the API', () => {
  const hub = useTestHub()

  it('creates a product with variants and barcodes and answers 201 with all of them', async () => {
    const { admin, taxIds } = await catalogShop(hub)
    const r = await admin.post('/api/v1/products', {
      name: '纯棉T恤',
      nameEn: 'Cotton T-shirt',
      taxCategoryId: taxIds.standard,
      unit: 'piece',
      options: ['Size', 'Colour'],
      variants: [
        { sku: 'TEE-S-RED', optionValues: { Size: 'S', Colour: 'Red' }, price: 9900, cost: 4150, barcodes: ['4006381333931', { code: 'TEE001', kind: 'internal' }] },
        { sku: 'TEE-M-RED', optionValues: { Size: 'M', Colour: 'Red' }, price: 9900, onShelf: false, barcodes: ['036000291452'] },
      ],
    })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ name: '纯棉T恤', nameEn: 'Cotton T-shirt', unit: 'piece', options: ['Size', 'Colour'], status: 'active', taxCategoryId: taxIds.standard })
    const [m, s] = r.body.variants
    expect(s).toMatchObject({ sku: 'TEE-S-RED', price: 9900, pricePer: 1, cost: 4150, onShelf: true, optionValues: { Size: 'S', Colour: 'Red' } })
    expect(s.barcodes).toEqual(expect.arrayContaining([{ code: '4006381333931', kind: 'ean13' }, { code: 'TEE001', kind: 'internal' }]))
    expect(m).toMatchObject({ sku: 'TEE-M-RED', onShelf: false, cost: 0, barcodes: [{ code: '036000291452', kind: 'upca' }] })
    const again = await admin.get(`/api/v1/products/${r.body.id}`)
    expect(again.status).toBe(200)
    expect(again.body).toEqual(r.body)
  })

  it('takes a tax category by code and keeps a per-kg price of weighed goods as minor units per 1000 g', async () => {
    const { admin, taxIds } = await catalogShop(hub)
    const r = await admin.post('/api/v1/products', { name: '苹果', taxCategoryCode: 'reduced', unit: 'g', variants: [{ sku: 'APPLE-KG', price: 1280, pricePer: 1000, barcodes: [{ code: '00023', kind: 'scale_plu' }] }] })
    expect(r.status).toBe(201)
    expect(r.body).toMatchObject({ unit: 'g', taxCategoryId: taxIds.reduced })
    expect(r.body.variants[0]).toMatchObject({ price: 1280, pricePer: 1000, barcodes: [{ code: '00023', kind: 'scale_plu' }] })
    const unknown = await admin.post('/api/v1/products', productBody({ taxCategoryCode: 'luxury' }))
    expect(unknown.status).toBe(422)
    expect(unknown.body.error.code).toBe('unknown_tax_category')
  })

  it('refuses a price that is not a whole number of minor units, or is negative, and writes nothing', async () => {
    const { admin, m } = await catalogShop(hub)
    for (const price of [12.5, -1, '12.50']) {
      const r = await admin.post('/api/v1/products', productBody({}, { sku: `MONEY-${String(price)}`.replace('.', '_'), price }))
      expect(r.status).toBe(400)
      expect(r.body.error.code).toBe('validation_failed')
    }
    const cost = await admin.post('/api/v1/products', productBody({}, { cost: 0.99 }))
    expect(cost.status).toBe(400)
    const rows = await hub.database.db.execute(sql`select count(*)::int as n from variants where merchant_id = ${m.merchantId}`)
    expect(rows.rows[0]!.n).toBe(0)
  })

  it('refuses an EAN-13 or UPC-A barcode with a wrong check digit but allows an internal code', async () => {
    const { admin } = await catalogShop(hub)
    const ean = await admin.post('/api/v1/products', productBody({}, { barcodes: ['4006381333932'] }))
    expect(ean.status).toBe(422)
    expect(ean.body.error).toMatchObject({ code: 'invalid_barcode' })
    expect(ean.body.error.message).toContain('expected 1')
    const upc = await admin.post('/api/v1/products', productBody({}, { barcodes: ['036000291453'] }))
    expect(upc.status).toBe(422)
    const forced = await admin.post('/api/v1/products', productBody({}, { barcodes: [{ code: '4006381333931', kind: 'upca' }] }))
    expect(forced.status).toBe(422)
    const ok = await admin.post('/api/v1/products', productBody({}, { barcodes: ['4006381333931', '036000291452', 'BIN-7/A'] }))
    expect(ok.status).toBe(201)
    expect(ok.body.variants[0].barcodes.map((b: any) => b.kind).sort()).toEqual(['ean13', 'internal', 'upca'])
  })

  it('keeps SKUs unique within a merchant (409) while another merchant may use the same SKU', async () => {
    const a = await catalogShop(hub)
    const b = await catalogShop(hub)
    expect((await a.admin.post('/api/v1/products', productBody({}, { sku: 'SAME-1' }))).status).toBe(201)
    const dup = await a.admin.post('/api/v1/products', productBody({}, { sku: 'SAME-1' }))
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe('sku_taken')
    expect((await b.admin.post('/api/v1/products', productBody({}, { sku: 'SAME-1' }))).status).toBe(201)
    const code = await a.admin.post('/api/v1/products', productBody({}, { barcodes: ['5901234123457'] }))
    expect(code.status).toBe(201)
    const dupCode = await a.admin.post('/api/v1/products', productBody({}, { barcodes: ['5901234123457'] }))
    expect(dupCode.status).toBe(409)
    expect(dupCode.body.error.code).toBe('barcode_taken')
  })

  it('changes a product, archives it on DELETE and never removes it', async () => {
    const { admin, taxIds } = await catalogShop(hub)
    const cat = (await admin.post('/api/v1/categories', { name: 'Drinks' })).body
    const p = (await admin.post('/api/v1/products', productBody({ options: ['Size'] }, { optionValues: { Size: 'L' } }))).body
    const patched = await admin.patch(`/api/v1/products/${p.id}`, { name: 'Lemon tea', nameEn: 'Lemon tea', categoryId: cat.id, taxCategoryId: taxIds.reduced, options: ['Size', 'Sugar'] })
    expect(patched.status).toBe(200)
    expect(patched.body).toMatchObject({ name: 'Lemon tea', categoryId: cat.id, taxCategoryId: taxIds.reduced, options: ['Size', 'Sugar'] })
    const dropUsed = await admin.patch(`/api/v1/products/${p.id}`, { options: ['Sugar'] })
    expect(dropUsed.status).toBe(422)
    expect(dropUsed.body.error.code).toBe('option_in_use')
    const unit = await admin.patch(`/api/v1/products/${p.id}`, { unit: 'g' })
    expect(unit.status).toBe(400)
    const archived = await admin.delete(`/api/v1/products/${p.id}`)
    expect(archived.status).toBe(200)
    expect(archived.body.status).toBe('archived')
    expect((await admin.get(`/api/v1/products/${p.id}`)).body.status).toBe('archived')
    expect((await admin.patch(`/api/v1/products/${p.id}`, { status: 'active' })).body.status).toBe('active')
  })

  it('adds a variant, and changes its price, cost, SKU, shelf status and barcodes with the price change audited', async () => {
    const { admin } = await catalogShop(hub)
    const p = (await admin.post('/api/v1/products', productBody({ options: ['Size'] }, { sku: 'CUP-S', optionValues: { Size: 'S' }, price: 1500, cost: 600 }))).body
    const added = await admin.post(`/api/v1/products/${p.id}/variants`, { sku: 'CUP-L', optionValues: { Size: 'L' }, price: 1800, barcodes: ['5901234123457'] })
    expect(added.status).toBe(201)
    expect(added.body.variants.map((v: any) => v.sku)).toEqual(['CUP-L', 'CUP-S'])
    const unknownOption = await admin.post(`/api/v1/products/${p.id}/variants`, { sku: 'CUP-X', optionValues: { Colour: 'Red' }, price: 1 })
    expect(unknownOption.status).toBe(422)
    expect(unknownOption.body.error.code).toBe('unknown_option')

    const v = p.variants[0]
    const r = await admin.patch(`/api/v1/variants/${v.id}`, { price: 1650, cost: 640, sku: 'CUP-SMALL', onShelf: false, barcodes: ['96385074'] })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ id: v.id, sku: 'CUP-SMALL', price: 1650, cost: 640, onShelf: false, barcodes: [{ code: '96385074', kind: 'ean8' }] })
    const audit = await admin.get(`/api/v1/audit?entityId=${v.id}`)
    expect(audit.body.items[0]).toMatchObject({ action: 'variant.price_changed', details: { price: { from: 1500, to: 1650 }, cost: { from: 600, to: 640 } } })
    const fraction = await admin.patch(`/api/v1/variants/${v.id}`, { price: 16.5 })
    expect(fraction.status).toBe(400)
    expect((await admin.get(`/api/v1/products/${p.id}`)).body.variants.find((x: any) => x.id === v.id).price).toBe(1650)
  })

  it('looks up a SKU, a barcode or an in-store scale label, and answers 404 when nothing matches', async () => {
    const { admin } = await catalogShop(hub)
    await admin.post('/api/v1/products', { name: '香蕉', taxCategoryCode: 'reduced', unit: 'g', variants: [{ sku: 'BANANA', price: 698, pricePer: 1000, barcodes: [{ code: '00042', kind: 'scale_plu' }] }] })
    await admin.post('/api/v1/products', productBody({ name: 'Cola' }, { sku: 'COLA-330', price: 350, barcodes: ['5901234123457'] }))
    const bySku = await admin.get('/api/v1/variants/lookup?code=COLA-330')
    expect(bySku.status).toBe(200)
    expect(bySku.body).toMatchObject({ sku: 'COLA-330', name: 'Cola', price: 350, matchedBy: 'sku', taxRateBp: 1300 })
    const byCode = await admin.get('/api/v1/variants/lookup?code=5901234123457')
    expect(byCode.body).toMatchObject({ sku: 'COLA-330', matchedBy: 'barcode' })
    const body = '210004200750'
    const label = await admin.get(`/api/v1/variants/lookup?code=${body}${gtinCheckDigit(body)}`)
    expect(label.status).toBe(200)
    expect(label.body).toMatchObject({ sku: 'BANANA', unit: 'g', price: 698, pricePer: 1000, matchedBy: 'scale_label', label: { quantity: 750 } })
    const none = await admin.get('/api/v1/variants/lookup?code=NOPE-1')
    expect(none.status).toBe(404)
    expect(none.body.error.code).toBe('item_not_found')
    expect((await admin.get('/api/v1/variants/lookup')).status).toBe(400)
  })

  it('takes a UPC-A and the EAN-13 a scanner reads from it ("0" in front) as one barcode: found by either, held by one variant', async () => {
    const { admin, m } = await catalogShop(hub)
    const store = await seedStore(hub, m.merchantId)
    const created = await admin.post('/api/v1/products', productBody({ name: 'Soup' }, { sku: 'UPC-1', price: 500, barcodes: ['036000291452'] }))
    expect(created.status).toBe(201)
    const asEan = await admin.get('/api/v1/variants/lookup?code=0036000291452')
    expect(asEan.status).toBe(200)
    expect(asEan.body).toMatchObject({ sku: 'UPC-1', matchedBy: 'barcode' })
    expect((await admin.get('/api/v1/products?q=0036000291452')).body.items.map((p: any) => p.name)).toEqual(['Soup'])
    // Typed from the label in groups of digits.
    expect((await admin.get('/api/v1/products?q=0%2036000%2029145%202')).body.items.map((p: any) => p.name)).toEqual(['Soup'])
    expect((await admin.get('/api/v1/variants/lookup?code=0360%200029%201452')).body).toMatchObject({ sku: 'UPC-1', matchedBy: 'barcode' })
    // A till that scans the EAN-13 form sells the item.
    const sale = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ barcode: '0036000291452' }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(200)
    expect(sale.body.lines[0]).toMatchObject({ sku: 'UPC-1', gross: 500 })
    // The other form is the same GTIN: another variant cannot have it, nor can one variant list both.
    const other = await admin.post('/api/v1/products', productBody({ name: 'Soup again' }, { sku: 'EAN-1', barcodes: ['0036000291452'] }))
    expect(other.status).toBe(409)
    expect(other.body.error).toMatchObject({ code: 'barcode_taken', details: { constraint: 'barcodes_gtin_key' } })
    const both = await admin.post('/api/v1/products', productBody({ name: 'Both' }, { sku: 'BOTH-1', barcodes: ['4006381333931', '04006381333931'] }))
    expect(both.status).toBe(422)
    expect(both.body.error.code).toBe('duplicate_barcode')
    // The same digits as a GTIN and as an internal code clash in the database: in one request that is a duplicate, not
    // a barcode of another variant.
    const twice = [{ code: '6901234567892' }, { code: '6901234567892', kind: 'internal' }]
    const clash = await admin.post('/api/v1/products', productBody({ name: 'Twice' }, { sku: 'TWICE-1', barcodes: twice }))
    expect(clash.status).toBe(422)
    expect(clash.body.error.code).toBe('duplicate_barcode')
    const variantId = (await admin.get('/api/v1/variants/lookup?code=UPC-1')).body.variantId
    const patched = await admin.patch(`/api/v1/variants/${variantId}`, { barcodes: twice })
    expect(patched.status).toBe(422)
    expect(patched.body.error.code).toBe('duplicate_barcode')
  })

  it('finds a weighed item from a scale label whose item code has more digits than the catalog wrote (01234 is PLU 1234)', async () => {
    const { admin, m } = await catalogShop(hub)
    const p = await admin.post('/api/v1/products', { name: '苹果', taxCategoryCode: 'reduced', unit: 'g', variants: [{ sku: 'APL', price: 1280, pricePer: 1000, barcodes: [{ code: '1234', kind: 'scale_plu' }] }] })
    expect(p.status).toBe(201)
    // The merchant's labels carry 5 PLU digits (the default): 21 01234 00500.
    const body = '210123400500'
    const label = await admin.get(`/api/v1/variants/lookup?code=${body}${gtinCheckDigit(body)}`)
    expect(label.status).toBe(200)
    expect(label.body).toMatchObject({ sku: 'APL', matchedBy: 'scale_label', label: { quantity: 500 } })
    // The PLU typed at the till (as written, or with the label's zeros) finds the item too; the weight comes with it.
    for (const code of ['1234', '01234']) expect((await admin.get(`/api/v1/variants/lookup?code=${code}`)).body).toMatchObject({ sku: 'APL', matchedBy: 'barcode' })
    const store = await seedStore(hub, m.merchantId)
    const typed = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, lines: [{ barcode: '01234', quantity: 500 }] })
    expect(typed.status, JSON.stringify(typed.body)).toBe(200)
    expect(typed.body.lines[0]).toMatchObject({ sku: 'APL', quantity: 500, gross: 640 })
  })

  it("gives a variant its own tax category and unit, or the product's: changing the product moves only the inheriting variants", async () => {
    const { admin, taxIds } = await catalogShop(hub)
    const r = await admin.post('/api/v1/products', {
      name: '茶叶',
      taxCategoryCode: 'standard',
      unit: 'piece',
      options: ['Pack'],
      variants: [
        { sku: 'TEA-BOX', optionValues: { Pack: 'Box' }, price: 5800 },
        { sku: 'TEA-LOOSE', optionValues: { Pack: 'Loose' }, price: 32000, pricePer: 1000, unit: 'g', taxCategoryId: taxIds.reduced },
      ],
    })
    expect(r.status).toBe(201)
    const [box, loose] = r.body.variants
    expect(box).toMatchObject({ sku: 'TEA-BOX', taxCategoryId: null, effectiveTaxCategoryId: taxIds.standard, unit: null, effectiveUnit: 'piece' })
    expect(loose).toMatchObject({ sku: 'TEA-LOOSE', taxCategoryId: taxIds.reduced, effectiveTaxCategoryId: taxIds.reduced, unit: 'g', effectiveUnit: 'g', pricePer: 1000 })
    expect((await admin.get('/api/v1/variants/lookup?code=TEA-LOOSE')).body).toMatchObject({ unit: 'g', taxCategoryId: taxIds.reduced, taxRateBp: 900 })

    expect((await admin.patch(`/api/v1/products/${r.body.id}`, { taxCategoryCode: 'services' })).status).toBe(200)
    const after = (await admin.get(`/api/v1/products/${r.body.id}`)).body
    expect(after.variants.map((v: any) => [v.sku, v.taxCategoryId, v.effectiveTaxCategoryId])).toEqual([
      ['TEA-BOX', null, taxIds.services],
      ['TEA-LOOSE', taxIds.reduced, taxIds.reduced],
    ])
    expect((await admin.get('/api/v1/variants/lookup?code=TEA-BOX')).body).toMatchObject({ taxCategoryId: taxIds.services, taxRateBp: 600 })

    // null goes back to the product's; a code works like on the product; a variant without stock or sales may change unit.
    const back = await admin.patch(`/api/v1/variants/${loose.id}`, { taxCategoryId: null })
    expect(back.status).toBe(200)
    expect(back.body).toMatchObject({ taxCategoryId: null, effectiveTaxCategoryId: taxIds.services, unit: 'g', effectiveUnit: 'g' })
    const coded = await admin.patch(`/api/v1/variants/${box.id}`, { taxCategoryCode: 'exempt', unit: 'ml' })
    expect(coded.body).toMatchObject({ taxCategoryId: taxIds.exempt, effectiveTaxCategoryId: taxIds.exempt, unit: 'ml', effectiveUnit: 'ml' })
    const added = await admin.post(`/api/v1/products/${r.body.id}/variants`, { sku: 'TEA-TIN', optionValues: { Pack: 'Tin' }, price: 8800, taxCategoryCode: 'reduced' })
    expect(added.status).toBe(201)
    expect(added.body.variants.find((v: any) => v.sku === 'TEA-TIN')).toMatchObject({ taxCategoryId: taxIds.reduced, unit: null, effectiveUnit: 'piece' })

    const badUnit = await admin.post('/api/v1/products', productBody({}, { unit: 'kg' }))
    expect(badUnit.status).toBe(400)
    expect((await admin.patch(`/api/v1/variants/${box.id}`, { unit: 'pound' })).status).toBe(400)
    const unknownCode = await admin.patch(`/api/v1/variants/${box.id}`, { taxCategoryCode: 'luxury' })
    expect(unknownCode.status).toBe(422)
    expect(unknownCode.body.error.code).toBe('unknown_tax_category')
    expect((await admin.patch(`/api/v1/variants/${box.id}`, { taxCategoryId: taxIds.reduced, taxCategoryCode: 'reduced' })).status).toBe(400)
  })

  it("refuses another merchant's tax category on a variant, at creation and on change", async () => {
    const a = await catalogShop(hub)
    const b = await catalogShop(hub)
    const foreign = a.taxIds.reduced
    const created = await b.admin.post('/api/v1/products', productBody({}, { taxCategoryId: foreign }))
    expect(created.status).toBe(422)
    expect(created.body.error.code).toBe('unknown_tax_category')
    const p = (await b.admin.post('/api/v1/products', productBody())).body
    const added = await b.admin.post(`/api/v1/products/${p.id}/variants`, { sku: 'B-FOREIGN', price: 100, taxCategoryId: foreign })
    expect(added.status).toBe(422)
    expect(added.body.error.code).toBe('unknown_tax_category')
    const changed = await b.admin.patch(`/api/v1/variants/${p.variants[0].id}`, { taxCategoryId: foreign })
    expect(changed.status).toBe(422)
    expect(changed.body.error.code).toBe('unknown_tax_category')
    const still = (await b.admin.get(`/api/v1/products/${p.id}`)).body
    expect(still.variants.map((v: any) => [v.sku, v.taxCategoryId])).toEqual([[p.variants[0].sku, null]])
  })

  it("keeps merchants apart: merchant B can neither read nor change merchant A's products", async () => {
    const a = await catalogShop(hub)
    const b = await catalogShop(hub)
    const p = (await a.admin.post('/api/v1/products', productBody({ name: 'Secret sauce' }, { sku: 'SAUCE-A', barcodes: ['4006381333931'] }))).body
    const v = p.variants[0]
    expect((await b.admin.get(`/api/v1/products/${p.id}`)).status).toBe(404)
    expect((await b.admin.patch(`/api/v1/products/${p.id}`, { name: 'Mine' })).status).toBe(404)
    expect((await b.admin.delete(`/api/v1/products/${p.id}`)).status).toBe(404)
    expect((await b.admin.post(`/api/v1/products/${p.id}/variants`, { sku: 'B-1', price: 1 })).status).toBe(404)
    expect((await b.admin.patch(`/api/v1/variants/${v.id}`, { price: 1 })).status).toBe(404)
    expect((await b.admin.get('/api/v1/variants/lookup?code=SAUCE-A')).status).toBe(404)
    expect((await b.admin.get('/api/v1/variants/lookup?code=4006381333931')).status).toBe(404)
    expect((await b.admin.get('/api/v1/products?q=secret')).body.items).toEqual([])
    const foreignTax = await b.admin.post('/api/v1/products', productBody({ taxCategoryCode: undefined, taxCategoryId: p.taxCategoryId }))
    expect(foreignTax.status).toBe(422)
    const still = await a.admin.get(`/api/v1/products/${p.id}`)
    expect(still.body).toMatchObject({ name: 'Secret sauce', status: 'active' })
    expect(still.body.variants[0].price).toBe(1000)
  })

  it('lets a cashier search and look up products but not create or change them (403)', async () => {
    const { admin, cashier } = await catalogShop(hub)
    const p = (await admin.post('/api/v1/products', productBody({ name: 'Green tea' }, { sku: 'GT-1' }))).body
    const till = await cashier()
    expect((await till.get('/api/v1/products?q=green')).body.items.map((x: any) => x.id)).toEqual([p.id])
    expect((await till.get('/api/v1/variants/lookup?code=GT-1')).status).toBe(200)
    expect((await till.get('/api/v1/categories')).status).toBe(200)
    const create = await till.post('/api/v1/products', productBody())
    expect(create.status).toBe(403)
    expect(create.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'catalog.manage' } })
    expect((await till.patch(`/api/v1/variants/${p.variants[0].id}`, { price: 1 })).status).toBe(403)
    expect((await till.post('/api/v1/categories', { name: 'X' })).status).toBe(403)
    expect((await till.get('/api/v1/catalog/export')).status).toBe(403)
    expect((await createApi(hub).get('/api/v1/products')).status).toBe(401)
    expect((await admin.get(`/api/v1/products/${p.id}`)).body.variants[0].price).toBe(1000)
  })
  it('two variants of a product with options never have the same option values: the till could not tell them apart', async () => {
    const { admin } = await catalogShop(hub)
    const body = productBody({ name: 'Shirt', options: ['Size', 'Colour'] }, { sku: 'SH-L-RED', optionValues: { Size: 'L', Colour: 'Red' } }) as any
    body.variants.push({ sku: 'SH-L-RED-2', price: 1000, optionValues: { Colour: 'Red', Size: 'L' } })
    const twice = await admin.post('/api/v1/products', body)
    expect(twice.status).toBe(422)
    expect(twice.body.error).toMatchObject({ code: 'duplicate_variant_options', details: { skus: ['SH-L-RED', 'SH-L-RED-2'] } })
    body.variants[1].optionValues = { Size: 'M', Colour: 'Red' }
    const created = await admin.post('/api/v1/products', body)
    expect(created.status).toBe(201)
    const again = await admin.post(`/api/v1/products/${created.body.id}/variants`, { sku: 'SH-L-RED-3', price: 1000, optionValues: { Size: 'L', Colour: 'Red' } })
    expect(again.status).toBe(422)
    expect(again.body.error.code).toBe('duplicate_variant_options')
    const m = created.body.variants.find((v: any) => v.sku === 'SH-L-RED-2')
    const patched = await admin.patch(`/api/v1/variants/${m.id}`, { optionValues: { Size: 'L', Colour: 'Red' } })
    expect(patched.status).toBe(422)
    expect(patched.body.error.code).toBe('duplicate_variant_options')
    // A product without options may have several variants (told apart by name and SKU).
    const plain = productBody({ name: 'Plain' }) as any
    plain.variants.push({ sku: `${plain.variants[0].sku}-B`, price: 1000 })
    const plainCreated = await admin.post('/api/v1/products', plain)
    expect(plainCreated.status).toBe(201)
    // It may get its first option: its variants, blank for it, then get their values one by one, each judged against
    // the others; a variant added meanwhile is judged by its own values only.
    expect((await admin.patch(`/api/v1/products/${plainCreated.body.id}`, { options: ['Size'] })).status).toBe(200)
    const [a, b] = plainCreated.body.variants
    expect((await admin.post(`/api/v1/products/${plainCreated.body.id}/variants`, { sku: `${a.sku}-L`, price: 1000, optionValues: { Size: 'L' } })).status).toBe(201)
    expect((await admin.patch(`/api/v1/variants/${a.id}`, { optionValues: { Size: 'S' } })).status).toBe(200)
    const clash = await admin.patch(`/api/v1/variants/${b.id}`, { optionValues: { Size: 'S' } })
    expect([clash.status, clash.body.error?.code, clash.body.error?.details?.skus]).toEqual([422, 'duplicate_variant_options', [a.sku, b.sku]])
    expect((await admin.patch(`/api/v1/variants/${b.id}`, { optionValues: { Size: 'M' } })).status).toBe(200)
  })

  it('dropping an option and adding a variant with a value for it at once: one of them is refused, never both kept', async () => {
    const { admin } = await catalogShop(hub)
    for (let round = 0; round < 6; round++) {
      const created = await admin.post('/api/v1/products', productBody({ name: `Tee ${round}`, options: ['Size', 'Colour'] }, { sku: `TEE-${round}-S`, optionValues: { Size: 'S' } }))
      expect(created.status).toBe(201)
      const [drop, add] = await Promise.all([
        admin.patch(`/api/v1/products/${created.body.id}`, { options: ['Size'] }),
        admin.post(`/api/v1/products/${created.body.id}/variants`, { sku: `TEE-${round}-M-RED`, price: 1000, optionValues: { Size: 'M', Colour: 'Red' } }),
      ])
      expect([drop.status, add.status].filter((st) => st < 300)).toHaveLength(1)
      const after = (await admin.get(`/api/v1/products/${created.body.id}`)).body
      const stray = after.variants.flatMap((v: any) => Object.keys(v.optionValues).filter((o) => !after.options.includes(o)))
      expect(stray).toEqual([])
    }
  })
})
