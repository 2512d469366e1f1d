import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import ExcelJS from 'exceljs'
import { stringify } from 'csv-stringify/sync'
import { useTestHub } from '../helpers/db.ts'
import type { Api } from '../helpers/api.ts'
import { catalogShop, productBody } from '../core/catalog/fixtures.ts'

const CSV = 'text/csv'
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'
const HEADER = ['product_key', 'product_name', 'product_name_en', 'category', 'tax_category', 'unit', 'sku', 'options', 'price', 'price_per', 'cost', 'barcodes', 'on_shelf', 'variant_tax_category', 'variant_unit']

type Row = Partial<Record<(typeof HEADER)[number], string>>
const csv = (rows: Row[], header = HEADER) => stringify([header, ...rows.map((r) => header.map((h) => r[h as keyof Row] ?? ''))])

const importFile = (api: Api, body: string | Uint8Array, opts: { dryRun?: boolean; type?: string; format?: string; headers?: Record<string, string> } = {}) => {
  const params = new URLSearchParams()
  if (opts.format) params.set('format', opts.format)
  if (opts.dryRun !== undefined) params.set('dryRun', String(opts.dryRun))
  return api.post(`/api/v1/catalog/import?${params}`, undefined, {
    raw: typeof body === 'string' ? new TextEncoder().encode(body) : body,
    headers: { 'content-type': opts.type ?? CSV, ...opts.headers },
  })
}

/** The merchant's catalog as plain values (no ids), to compare two merchants' catalogs. */
async function snapshot(api: Api) {
  const cats = new Map((await api.get('/api/v1/categories')).body.items.map((c: any) => [c.id, c.path]))
  const taxes = new Map((await api.get('/api/v1/tax-categories')).body.items.map((t: any) => [t.id, t.code]))
  const products = (await api.get('/api/v1/products?status=all&limit=200')).body.items
  return products
    .map((p: any) => ({
      name: p.name,
      nameEn: p.nameEn,
      category: p.categoryId ? cats.get(p.categoryId) : null,
      tax: taxes.get(p.taxCategoryId),
      unit: p.unit,
      options: p.options,
      status: p.status,
      variants: p.variants.map((v: any) => ({
        sku: v.sku,
        tax: v.taxCategoryId ? taxes.get(v.taxCategoryId) : null,
        unit: v.unit,
        optionValues: v.optionValues,
        price: v.price,
        pricePer: v.pricePer,
        cost: v.cost,
        onShelf: v.onShelf,
        barcodes: [...v.barcodes].sort((a: any, b: any) => a.code.localeCompare(b.code)),
      })),
    }))
    .sort((a: any, b: any) => a.variants[0].sku.localeCompare(b.variants[0].sku))
}

const count = async (hub: { database: { db: any } }, table: string, merchantId: string) =>
  (await hub.database.db.execute(sql`select count(*)::int as n from ${sql.identifier(table)} where merchant_id = ${merchantId}`)).rows[0].n as number

describe('catalog import and export', () => {
  const hub = useTestHub()

  it('names the export file after the merchant’s own day, not the UTC one', async () => {
    const a = await catalogShop(hub)
    // 01:30 on 11 March in Shanghai is still 10 March in UTC.
    hub.setNow(new Date('2026-03-10T17:30:00Z'))
    try {
      const file = await a.admin.get('/api/v1/catalog/export?format=csv')
      expect(file.headers.get('content-disposition')).toBe('attachment; filename="catalog-20260311.csv"')
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a dry run reports every bad row with its line, field, value and reason, and writes nothing', async () => {
    const { admin, m } = await catalogShop(hub)
    await admin.post('/api/v1/products', productBody({ name: 'Existing' }, { sku: 'OLD-1', barcodes: ['5901234123457'] }))
    const file = csv([
      { product_name: '苹果', category: 'Food/Fruit', tax_category: 'reduced', unit: 'g', sku: 'APPLE', price: '12.80', price_per: '1000' }, // 2 ok
      { product_name: 'Pear', tax_category: 'reduced', sku: 'PEAR', price: '12.345' }, // 3 more decimals than CNY has
      { product_name: 'Milk', tax_category: 'reduced', sku: 'MILK', price: '6.50', barcodes: '4006381333932' }, // 4 bad check digit
      { product_name: 'Wine', tax_category: 'luxury', sku: 'WINE', price: '88' }, // 5 unknown tax category
      { product_name: 'Apple again', tax_category: 'reduced', sku: 'APPLE', price: '1' }, // 6 SKU already on line 2
      { product_name: 'Soap', tax_category: 'standard', sku: 'SOAP', price: '3', barcodes: '036000291452' }, // 7 ok
      { product_name: 'Shampoo', tax_category: 'standard', sku: 'SHAMPOO', price: '30', barcodes: '036000291452' }, // 8 barcode on line 7 too
      { product_name: 'Towel', tax_category: 'standard', sku: 'TOWEL', price: '20', barcodes: '5901234123457' }, // 9 barcode of OLD-1
      { product_key: 'TEE', product_name: 'T-shirt', tax_category: 'standard', unit: 'piece', sku: 'TEE-S', options: 'Size=S', price: '99' }, // 10 ok
      { product_key: 'TEE', product_name: 'T-shirt', tax_category: 'standard', unit: 'g', sku: 'TEE-M', options: 'Size=M', price: '99' }, // 11 unit differs
      { product_name: 'Nuts', tax_category: 'reduced', sku: '', price: '5', on_shelf: 'maybe' }, // 12 no SKU, bad boolean
      { product_name: 'Salt', tax_category: 'reduced', sku: 'SALT', price: '-1', cost: 'abc' }, // 13 negative price, bad cost
    ])
    const r = await importFile(admin, file, { dryRun: true })
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ dryRun: true, applied: false, rows: 12 })
    const errors = r.body.errors.map((e: any) => [e.line, e.field, e.value, e.code])
    expect(errors).toEqual([
      [3, 'price', '12.345', 'invalid_amount'],
      [4, 'barcodes', '4006381333932', 'invalid_barcode'],
      [5, 'tax_category', 'luxury', 'unknown_tax_category'],
      [6, 'sku', 'APPLE', 'duplicate_sku'],
      [8, 'barcodes', '036000291452', 'duplicate_barcode'],
      [9, 'barcodes', '5901234123457', 'barcode_taken'],
      [11, 'unit', 'g', 'conflicting_product_field'],
      [12, 'sku', null, 'missing_value'],
      [12, 'on_shelf', 'maybe', 'invalid_boolean'],
      [13, 'price', '-1', 'invalid_amount'],
      [13, 'cost', 'abc', 'invalid_amount'],
    ])
    expect(r.body.errorCount).toBe(11)
    const byLine = (line: number) => r.body.errors.find((e: any) => e.line === line)
    expect(byLine(4).message).toContain('expected 1')
    expect(byLine(6).message).toContain('line 2')
    expect(byLine(8).message).toContain('line 7')
    expect(byLine(9).message).toContain('OLD-1')
    expect(byLine(3).sku).toBe('PEAR')
    expect(r.body.summary.categoriesCreated).toEqual(['Food', 'Food/Fruit'])
    expect(await count(hub, 'products', m.merchantId)).toBe(1)
    expect(await count(hub, 'categories', m.merchantId)).toBe(0)
  })

  it('a dry run of a good file says what the import would do and writes nothing', async () => {
    const { admin, m } = await catalogShop(hub)
    await admin.post('/api/v1/products', productBody({ name: 'Cola' }, { sku: 'COLA', price: 300 }))
    const file = csv([
      { product_name: 'Cola', tax_category: 'standard', sku: 'COLA', price: '3.50' },
      { product_key: 'TEE', product_name: 'T恤', category: '服装/上衣', tax_category: 'standard', sku: 'TEE-S', options: 'Size=S', price: '99' },
      { product_key: 'TEE', sku: 'TEE-M', options: 'Size=M', price: '99' },
    ])
    const r = await importFile(admin, file, { dryRun: true })
    expect(r.status).toBe(200)
    expect(r.body.errors).toEqual([])
    expect(r.body.summary).toEqual({
      productsCreated: 1,
      productsUpdated: 0,
      productsUnchanged: 1,
      variantsCreated: 2,
      variantsUpdated: 1,
      variantsUnchanged: 0,
      categoriesCreated: ['服装', '服装/上衣'],
    })
    expect(await count(hub, 'variants', m.merchantId)).toBe(1)
    expect((await admin.get('/api/v1/variants/lookup?code=COLA')).body.price).toBe(300)
  })

  it('an import with one bad row answers 422 with the full report and writes nothing at all', async () => {
    const { admin, m } = await catalogShop(hub)
    const rows: Row[] = Array.from({ length: 30 }, (_, i) => ({ product_name: `Good ${i}`, category: 'New/Deep', tax_category: 'standard', sku: `G-${i}`, price: '1.00' }))
    rows.push({ product_name: 'Bad', tax_category: 'standard', sku: 'BAD', price: '1.001' })
    const r = await importFile(admin, csv(rows))
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('import_invalid')
    expect(r.body.error.details).toMatchObject({ dryRun: false, applied: false, errorCount: 1, errors: [{ line: 32, sku: 'BAD', field: 'price', value: '1.001' }] })
    for (const t of ['products', 'variants', 'barcodes', 'categories']) expect(await count(hub, t, m.merchantId)).toBe(0)
  })

  it('creates products, variants and categories, then updates them by SKU on a second import', async () => {
    const { admin, m } = await catalogShop(hub)
    const first = csv([
      { product_key: 'TEE', product_name: '纯棉T恤', product_name_en: 'Cotton tee', category: '服装/上衣', tax_category: 'standard', sku: 'TEE-S', options: 'Size=S;Colour=White', price: '99.00', cost: '41.50', barcodes: '4006381333931' },
      { product_key: 'TEE', sku: 'TEE-M', options: 'Size=M;Colour=White', price: '99.00', cost: '41.50', barcodes: 'internal:TEE-M-01;036000291452' },
      { product_name: '苹果', category: '食品/水果', tax_category: 'reduced', unit: 'g', sku: 'APPLE', price: '12.80', price_per: '1000', cost: '7.2', barcodes: 'scale_plu:00023', on_shelf: '否' },
    ])
    const created = await importFile(admin, first)
    expect(created.status).toBe(200)
    expect(created.body).toMatchObject({ applied: true, errorCount: 0 })
    expect(created.body.summary).toMatchObject({ productsCreated: 2, variantsCreated: 3, categoriesCreated: ['服装', '服装/上衣', '食品', '食品/水果'] })
    const apple = (await admin.get('/api/v1/variants/lookup?code=APPLE')).body
    expect(apple).toMatchObject({ unit: 'g', price: 1280, pricePer: 1000, cost: 720, onShelf: false, taxRateBp: 900 })
    const tee = (await admin.get('/api/v1/products?q=TEE-S')).body.items[0]
    expect(tee).toMatchObject({ name: '纯棉T恤', nameEn: 'Cotton tee', options: ['Size', 'Colour'] })
    expect(tee.variants.find((v: any) => v.sku === 'TEE-M')).toMatchObject({
      price: 9900,
      cost: 4150,
      optionValues: { Size: 'M', Colour: 'White' },
      barcodes: expect.arrayContaining([{ code: 'TEE-M-01', kind: 'internal' }, { code: '036000291452', kind: 'upca' }]),
    })
    const tops = (await admin.get('/api/v1/categories')).body.items.find((c: any) => c.path === '服装/上衣')
    expect(tee.categoryId).toBe(tops.id)

    // Second file: new price for TEE-S, the UPC moves from TEE-M to a new TEE-L, blank cells keep values.
    const second = csv([
      { product_key: 'TEE', product_name: '纯棉T恤', product_name_en: 'Cotton T-shirt', sku: 'TEE-S', price: '89.90' },
      { product_key: 'TEE', sku: 'TEE-M', price: '99.00', barcodes: 'internal:TEE-M-01' },
      { product_key: 'TEE', sku: 'TEE-L', options: 'Size=L;Colour=White', price: '109.00', barcodes: '036000291452' },
      { product_name: '苹果', sku: 'APPLE', price: '12.80', price_per: '1000' },
    ])
    const updated = await importFile(admin, second)
    expect(updated.status).toBe(200)
    expect(updated.body.summary).toEqual({
      productsCreated: 0,
      productsUpdated: 1,
      productsUnchanged: 1,
      variantsCreated: 1,
      variantsUpdated: 2,
      variantsUnchanged: 1,
      categoriesCreated: [],
    })
    const after = (await admin.get(`/api/v1/products/${tee.id}`)).body
    expect(after).toMatchObject({ nameEn: 'Cotton T-shirt', categoryId: tops.id })
    const v = Object.fromEntries(after.variants.map((x: any) => [x.sku, x]))
    expect(v['TEE-S']).toMatchObject({ price: 8990, cost: 4150, optionValues: { Size: 'S', Colour: 'White' }, barcodes: [{ code: '4006381333931', kind: 'ean13' }] })
    expect(v['TEE-M'].barcodes).toEqual([{ code: 'TEE-M-01', kind: 'internal' }])
    expect(v['TEE-L']).toMatchObject({ price: 10900, barcodes: [{ code: '036000291452', kind: 'upca' }] })
    expect(await count(hub, 'products', m.merchantId)).toBe(2)
    const audit = await admin.get(`/api/v1/audit?entityId=${v['TEE-S'].id}`)
    expect(audit.body.items[0]).toMatchObject({ action: 'variant.price_changed', details: { sku: 'TEE-S', price: { from: 9900, to: 8990 } } })
    expect((await admin.get('/api/v1/audit?action=catalog.imported')).body.items).toHaveLength(2)
  })

  it('refuses to change the unit of an existing product or to join two products in one group', async () => {
    const { admin } = await catalogShop(hub)
    await admin.post('/api/v1/products', productBody({ name: 'Rice' }, { sku: 'RICE' }))
    await admin.post('/api/v1/products', productBody({ name: 'Beans' }, { sku: 'BEANS' }))
    const r = await importFile(
      admin,
      csv([
        { product_name: 'Rice', unit: 'g', sku: 'RICE', price: '1' },
        { product_key: 'MIX', product_name: 'Mix', sku: 'BEANS', price: '1' },
        { product_key: 'MIX', product_name: 'Mix', sku: 'RICE2', price: '1', tax_category: 'standard' },
        { product_key: 'BOTH', product_name: 'Both', sku: 'X1', price: '1', tax_category: 'standard' },
      ]),
      { dryRun: true },
    )
    expect(r.body.errors.map((e: any) => [e.line, e.code])).toEqual([[2, 'unit_change']])
    const join = await importFile(
      admin,
      csv([
        { product_key: 'J', product_name: 'Joined', sku: 'RICE', price: '1' },
        { product_key: 'J', product_name: 'Joined', sku: 'BEANS', price: '1' },
      ]),
      { dryRun: true },
    )
    expect(join.body.errors.map((e: any) => [e.line, e.code])).toEqual([[3, 'sku_of_other_product']])
  })

  it('imports an XLSX workbook, with numbers typed as numbers and the BOM-free header in any order', async () => {
    const { admin } = await catalogShop(hub)
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('商品')
    ws.addRow(['SKU', 'Product Name', 'Price', 'Tax Category', 'Barcodes', 'Unit', 'Price Per', 'Category'])
    ws.addRow(['MILK-1L', '鲜牛奶 1L', 12.5, 'reduced', 6901234567893, 'piece', null, '食品/乳品'])
    ws.addRow(['CHEESE', 'Cheese', '45.90', 'standard', null, 'g', 100, '食品/乳品'])
    const bytes = new Uint8Array(await wb.xlsx.writeBuffer())
    const dry = await importFile(admin, bytes, { type: XLSX, format: 'xlsx', dryRun: true })
    expect(dry.status).toBe(200)
    expect(dry.body.errors.map((e: any) => [e.line, e.field, e.value, e.code])).toEqual([[2, 'barcodes', '6901234567893', 'invalid_barcode']])
    ws.getCell('E2').value = '6901234567892'
    const r = await importFile(admin, new Uint8Array(await wb.xlsx.writeBuffer()), { type: XLSX })
    expect(r.status).toBe(200)
    expect(r.body.summary).toMatchObject({ productsCreated: 2, variantsCreated: 2, categoriesCreated: ['食品', '食品/乳品'] })
    expect((await admin.get('/api/v1/variants/lookup?code=6901234567892')).body).toMatchObject({ sku: 'MILK-1L', price: 1250, pricePer: 1 })
    expect((await admin.get('/api/v1/variants/lookup?code=CHEESE')).body).toMatchObject({ unit: 'g', price: 4590, pricePer: 100 })
  })

  it('exports the catalog and imports it into another merchant unchanged, as CSV and as XLSX', async () => {
    const a = await catalogShop(hub)
    const cat = (await a.admin.post('/api/v1/categories', { name: '生鲜' })).body
    const fruit = (await a.admin.post('/api/v1/categories', { name: '水果', parentId: cat.id })).body
    await a.admin.post('/api/v1/products', {
      name: '阳光玫瑰葡萄',
      nameEn: 'Shine Muscat grapes',
      categoryId: fruit.id,
      taxCategoryCode: 'reduced',
      unit: 'g',
      variants: [
        { sku: 'GRAPE-SM', price: 5990, pricePer: 1000, cost: 3205, barcodes: [{ code: '00231', kind: 'scale_plu' }] },
        { sku: 'GRAPE-GIFTBOX', price: 12900, unit: 'piece', taxCategoryCode: 'standard' },
      ],
    })
    await a.admin.post('/api/v1/products', {
      name: '卫衣, "经典"款',
      taxCategoryCode: 'standard',
      options: ['尺码', 'Colour'],
      variants: [
        { sku: 'HOOD-S', optionValues: { 尺码: 'S', Colour: 'Grey' }, price: 19900, cost: 8000, barcodes: ['4006381333931', 'HOOD/S'] },
        { sku: 'HOOD-M', optionValues: { 尺码: 'M', Colour: 'Grey' }, price: 19900, onShelf: false, barcodes: [{ code: '5901234123457', kind: 'internal' }] },
      ],
    })
    await a.admin.post('/api/v1/products', { name: 'Gift card', taxCategoryCode: 'exempt', variants: [{ sku: '0042', price: 0 }] })
    const archived = (await a.admin.post('/api/v1/products', productBody({ name: 'Gone' }, { sku: 'GONE' }))).body
    await a.admin.delete(`/api/v1/products/${archived.id}`)
    const before = await snapshot(a.admin)
    const expected = before.filter((p: any) => p.status === 'active')

    for (const format of ['csv', 'xlsx'] as const) {
      const file = await a.admin.app.request(`/api/v1/catalog/export?format=${format}`, { headers: { authorization: `Bearer ${a.m.adminToken}` } })
      expect(file.status).toBe(200)
      expect(file.headers.get('content-type')).toContain(format === 'csv' ? CSV : XLSX)
      expect(file.headers.get('content-disposition')).toMatch(new RegExp(`attachment; filename="catalog-\\d{8}\\.${format}"`))
      const bytes = new Uint8Array(await file.arrayBuffer())
      if (format === 'csv') {
        const text = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)
        expect(text.split('\n')[0]).toBe(`\ufeff${HEADER.join(',')}`)
        expect(text).toContain('GRAPE-SM,,59.90,1000,32.05,scale_plu:00231,true,,\n')
        expect(text).toContain('GRAPE-GIFTBOX,,129.00,1,0.00,,true,standard,piece\n')
        expect(text).not.toContain('GONE')
      }
      const b = await catalogShop(hub)
      const r = await importFile(b.admin, bytes, { type: format === 'csv' ? CSV : XLSX })
      expect(r.status).toBe(200)
      expect(r.body.summary).toMatchObject({ productsCreated: 3, variantsCreated: 5 })
      expect(await snapshot(b.admin)).toEqual(expected)
      expect(await snapshot(a.admin)).toEqual(before)
      const again = await importFile(b.admin, bytes, { type: format === 'csv' ? CSV : XLSX, dryRun: true })
      expect(again.body.summary).toMatchObject({ productsUnchanged: 3, variantsUnchanged: 5, productsUpdated: 0, variantsUpdated: 0, categoriesCreated: [] })
    }
  })

  it("imports a variant's own tax category and unit: blank inherits where the column is there, a file without it keeps them", async () => {
    const { admin, taxIds } = await catalogShop(hub)
    const file = csv([
      { product_key: 'NUTS', product_name: '坚果', tax_category: 'standard', unit: 'piece', sku: 'NUT-BOX', price: '19.90' }, // 2
      { product_key: 'NUTS', sku: 'NUT-LOOSE', price: '6.98', price_per: '1000', variant_tax_category: 'reduced', variant_unit: 'g' }, // 3
      { product_key: 'NUTS', sku: 'NUT-BAG', price: '9.90', variant_tax_category: 'luxury' }, // 4
      { product_key: 'NUTS', sku: 'NUT-JAR', price: '9.90', variant_unit: 'lb' }, // 5
    ])
    const dry = await importFile(admin, file, { dryRun: true })
    expect(dry.status).toBe(200)
    expect(dry.body.errors).toEqual([
      expect.objectContaining({ line: 4, sku: 'NUT-BAG', field: 'variant_tax_category', value: 'luxury', code: 'unknown_tax_category' }),
      expect.objectContaining({ line: 5, sku: 'NUT-JAR', field: 'variant_unit', value: 'lb', code: 'invalid_unit' }),
    ])
    const good = csv([
      { product_key: 'NUTS', product_name: '坚果', tax_category: 'standard', unit: 'piece', sku: 'NUT-BOX', price: '19.90' },
      { product_key: 'NUTS', sku: 'NUT-LOOSE', price: '6.98', price_per: '1000', variant_tax_category: 'reduced', variant_unit: 'g' },
    ])
    expect((await importFile(admin, good)).status).toBe(200)
    const variants = async () => {
      const p = (await admin.get('/api/v1/products?q=坚果')).body.items[0]
      return p.variants.map((v: any) => [v.sku, v.taxCategoryId, v.effectiveTaxCategoryId, v.unit, v.effectiveUnit])
    }
    expect(await variants()).toEqual([
      ['NUT-BOX', null, taxIds.standard, null, 'piece'],
      ['NUT-LOOSE', taxIds.reduced, taxIds.reduced, 'g', 'g'],
    ])
    expect((await admin.get('/api/v1/variants/lookup?code=NUT-LOOSE')).body).toMatchObject({ unit: 'g', taxRateBp: 900 })

    // Without the variant columns nothing of the variant's own changes; with them, a blank cell inherits again.
    const oldLayout = ['product_key', 'product_name', 'tax_category', 'sku', 'price']
    const kept = await importFile(admin, csv([{ product_key: 'NUTS', product_name: '坚果', tax_category: 'services', sku: 'NUT-LOOSE', price: '6.98' }], oldLayout))
    expect(kept.body.summary).toMatchObject({ productsUpdated: 1, variantsUnchanged: 1 })
    expect(await variants()).toEqual([
      ['NUT-BOX', null, taxIds.services, null, 'piece'],
      ['NUT-LOOSE', taxIds.reduced, taxIds.reduced, 'g', 'g'],
    ])
    const cleared = await importFile(admin, csv([{ product_key: 'NUTS', sku: 'NUT-LOOSE', price: '6.98', variant_tax_category: '', variant_unit: 'g' }]))
    expect(cleared.body.summary).toMatchObject({ variantsUpdated: 1 })
    expect(await variants()).toEqual([
      ['NUT-BOX', null, taxIds.services, null, 'piece'],
      ['NUT-LOOSE', null, taxIds.services, 'g', 'g'],
    ])
  })

  it('reads kg, 斤, L and m as the base unit with the price per that unit, and refuses a price_per that contradicts it', async () => {
    const { admin } = await catalogShop(hub)
    const bad = await importFile(admin, csv([
      { product_name: '散装大米', tax_category: 'reduced', unit: 'kg', sku: 'RICE', price: '6.40', price_per: '1' }, // 2
      { product_name: '酱油', tax_category: 'standard', unit: 'gallon', sku: 'SOY-G', price: '6.40' }, // 3
    ]), { dryRun: true })
    expect(bad.body.errors).toEqual([
      expect.objectContaining({ line: 2, sku: 'RICE', field: 'price_per', value: '1', code: 'invalid_price_per', message: expect.stringMatching(/a price per kg is a price per 1000 g/) }),
      expect.objectContaining({ line: 3, sku: 'SOY-G', field: 'unit', value: 'gallon', code: 'invalid_unit', message: expect.stringMatching(/kg, 千克, 公斤, 斤/) }),
    ])
    const file = csv([
      { product_name: '散装大米', tax_category: 'reduced', unit: 'KG', sku: 'RICE', price: '6.40' },
      { product_name: '五花肉', tax_category: 'reduced', unit: '斤', sku: 'PORK', price: '16.80' },
      { product_name: '散装酱油', tax_category: 'standard', unit: 'L', sku: 'SOY', price: '12.00' },
      { product_name: '麻绳', tax_category: 'standard', unit: '米', sku: 'ROPE', price: '3.50', price_per: '100' },
      { product_key: 'TEA', product_name: '茶叶', tax_category: 'reduced', unit: 'piece', sku: 'TEA-BOX', price: '88.00' },
      { product_key: 'TEA', sku: 'TEA-LOOSE', price: '60.00', variant_unit: '两' },
    ])
    const done = await importFile(admin, file)
    expect(done.status, JSON.stringify(done.body)).toBe(200)
    const variant = async (sku: string) => {
      const p = (await admin.get(`/api/v1/products?q=${sku}`)).body.items[0]
      const v = p.variants.find((x: any) => x.sku === sku)
      return [p.unit, v.effectiveUnit, v.price, v.pricePer]
    }
    expect(await variant('RICE')).toEqual(['g', 'g', 640, 1000])
    expect(await variant('PORK')).toEqual(['g', 'g', 1680, 500])
    expect(await variant('SOY')).toEqual(['ml', 'ml', 1200, 1000])
    expect(await variant('ROPE')).toEqual(['cm', 'cm', 350, 100])
    expect(await variant('TEA-LOOSE')).toEqual(['piece', 'g', 6000, 50])
    // The export writes base units and their price_per, which import back unchanged.
    const exported: string = (await admin.get('/api/v1/catalog/export?format=csv')).body
    const pork = exported.split('\n').find((l: string) => l.includes(',PORK,'))!
    expect(pork).toContain(',g,PORK,')
    expect(pork).toContain(',16.80,500,')
    const again = await importFile(admin, exported)
    expect(again.body.summary).toMatchObject({ variantsCreated: 0, variantsUpdated: 0 })
  })

  it("prices a row without its own unit cell per the unit its product's other rows give (kg: per 1000 g), and refuses a price_per that contradicts it", async () => {
    const { admin } = await catalogShop(hub)
    const bad = await importFile(admin, csv([
      { product_key: 'APPLE', product_name: '苹果', tax_category: 'reduced', unit: 'kg', sku: 'APPLE-RED', options: 'Colour=Red', price: '12.80' }, // 2
      { product_key: 'APPLE', sku: 'APPLE-GREEN', options: 'Colour=Green', price: '15.00', price_per: '1' }, // 3
    ]), { dryRun: true })
    expect(bad.body.errors).toEqual([
      expect.objectContaining({ line: 3, sku: 'APPLE-GREEN', field: 'price_per', value: '1', code: 'invalid_price_per', message: expect.stringMatching(/a price per kg is a price per 1000 g/) }),
    ])
    const done = await importFile(admin, csv([
      { product_key: 'APPLE', product_name: '苹果', tax_category: 'reduced', unit: 'kg', sku: 'APPLE-RED', options: 'Colour=Red', price: '12.80' },
      { product_key: 'APPLE', sku: 'APPLE-GREEN', options: 'Colour=Green', price: '15.00' },
      { product_key: 'APPLE', sku: 'APPLE-GOLD', options: 'Colour=Gold', price: '18.00', price_per: '1000' },
    ]))
    expect(done.status, JSON.stringify(done.body)).toBe(200)
    const p = (await admin.get('/api/v1/products?q=APPLE')).body.items[0]
    const bySku = Object.fromEntries(p.variants.map((v: any) => [v.sku, [v.effectiveUnit, v.price, v.pricePer]]))
    expect(bySku).toEqual({ 'APPLE-RED': ['g', 1280, 1000], 'APPLE-GREEN': ['g', 1500, 1000], 'APPLE-GOLD': ['g', 1800, 1000] })
    // The same rows again change nothing.
    const again = await importFile(admin, csv([
      { product_key: 'APPLE', product_name: '苹果', tax_category: 'reduced', unit: 'kg', sku: 'APPLE-RED', options: 'Colour=Red', price: '12.80' },
      { product_key: 'APPLE', sku: 'APPLE-GREEN', options: 'Colour=Green', price: '15.00' },
    ]), { dryRun: true })
    expect(again.body.summary).toMatchObject({ variantsUpdated: 0 })
  })

  it('exports text a spreadsheet would run as a formula after an apostrophe, and imports it back as it was', async () => {
    const { admin } = await catalogShop(hub)
    const name = '=HYPERLINK("http://evil.example","x")'
    expect((await admin.post('/api/v1/products', productBody({ name, nameEn: '+1+cmd|calc', options: ['Size'] }, { sku: 'INJ-1', optionValues: { Size: '@SUM(1)' } }))).status).toBe(201)
    const exported: string = (await admin.get('/api/v1/catalog/export?format=csv')).body
    const row = exported.split('\n').find((l) => l.includes('INJ-1'))!
    expect(row).toContain(`"'=HYPERLINK(""http://evil.example"",""x"")"`)
    expect(row).toContain("'+1+cmd|calc")
    expect(row).toContain("Size=@SUM(1)")
    expect(exported).not.toMatch(/(^|,)"?[=+@]/m)
    const again = await importFile(admin, exported, { dryRun: true })
    expect(again.body.errors).toEqual([])
    expect(again.body.summary).toMatchObject({ productsUpdated: 0, variantsUpdated: 0 })
  })

  it('a name that starts with an apostrophe before formula text survives an export and re-import', async () => {
    const { admin } = await catalogShop(hub)
    const name = "'=HYPERLINK(1)"
    expect((await admin.post('/api/v1/products', productBody({ name }, { sku: 'APOS-1' }))).status).toBe(201)
    const exported: string = (await admin.get('/api/v1/catalog/export?format=csv')).body
    expect(exported.split('\n').find((l) => l.includes('APOS-1'))).toContain("''=HYPERLINK(1)")
    const again = await importFile(admin, exported)
    expect(again.status).toBe(200)
    expect(again.body.summary).toMatchObject({ productsUpdated: 0, variantsUpdated: 0 })
    expect((await admin.get('/api/v1/variants/lookup?code=APOS-1')).body.name).toBe(name)
  })

  it('an internal code and a GTIN with the same digits are the same barcode: the dry run says so on its line', async () => {
    const { admin } = await catalogShop(hub)
    expect((await admin.post('/api/v1/products', productBody({}, { sku: 'OLD-1', barcodes: ['4006381333931'] }))).status).toBe(201)
    const header = ['product_name', 'tax_category', 'sku', 'price', 'barcodes']
    const file = csv([{ product_name: 'New', tax_category: 'standard', sku: 'NEW-1', price: '1.00', barcodes: 'internal:4006381333931' }], header)
    const dry = await importFile(admin, file, { dryRun: true })
    expect(dry.body.errors.map((e: any) => [e.line, e.field, e.code])).toEqual([[2, 'barcodes', 'barcode_taken']])
    const applied = await importFile(admin, file)
    expect(applied.status).toBe(422)
    expect(applied.body.error.code).toBe('import_invalid')
    // Within one file too.
    const twice = csv(
      [
        { product_name: 'A', tax_category: 'standard', sku: 'A-1', price: '1.00', barcodes: 'internal:9780201379624' },
        { product_name: 'B', tax_category: 'standard', sku: 'B-1', price: '1.00', barcodes: '9780201379624' },
      ],
      header,
    )
    expect((await importFile(admin, twice, { dryRun: true })).body.errors.map((e: any) => [e.line, e.code])).toEqual([[3, 'duplicate_barcode']])
  })

  it('reads an XLSX barcode typed as a number with a zero-padded format as the sheet shows it, leading zero included', async () => {
    const { admin } = await catalogShop(hub)
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('商品')
    ws.addRow(['sku', 'product_name', 'price', 'tax_category', 'barcodes'])
    ws.addRow(['UPC-1', 'Cereal', 3.5, 'standard', 36000291452])
    ws.addRow(['EAN-1', 'Tea', 4, 'standard', 12345678905])
    // Excel shows 036000291452 and 0012345678905: the format pads the number to its width with zeros.
    ws.getCell('E2').numFmt = '000000000000'
    ws.getCell('E3').numFmt = '0000000000000'
    const r = await importFile(admin, new Uint8Array(await wb.xlsx.writeBuffer()), { type: XLSX })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect((await admin.get('/api/v1/variants/lookup?code=036000291452')).body).toMatchObject({ sku: 'UPC-1' })
    expect((await admin.get('/api/v1/variants/lookup?code=0012345678905')).body).toMatchObject({ sku: 'EAN-1' })
    const codes = (await admin.get('/api/v1/products?limit=10')).body.items.flatMap((p: any) => p.variants.flatMap((v: any) => v.barcodes))
    expect(codes.sort((a: any, b: any) => a.code.localeCompare(b.code))).toEqual([
      { code: '0012345678905', kind: 'ean13' },
      { code: '036000291452', kind: 'upca' },
    ])
  })

  it('matches category names as the database does: İstanbul and istanbul are one category in the dry run and the apply', async () => {
    const { admin } = await catalogShop(hub)
    const file = csv([
      { product_name: 'A', category: 'İstanbul', tax_category: 'standard', sku: 'C-1', price: '1.00' },
      { product_name: 'B', category: 'istanbul', tax_category: 'standard', sku: 'C-2', price: '1.00' },
    ])
    const dry = await importFile(admin, file, { dryRun: true })
    expect(dry.body).toMatchObject({ errorCount: 0, summary: { categoriesCreated: ['İstanbul'] } })
    const real = await importFile(admin, file)
    expect(real.status, JSON.stringify(real.body)).toBe(200)
    expect(real.body.summary).toEqual(dry.body.summary)
    const cats = (await admin.get('/api/v1/categories')).body.items
    expect(cats.map((c: any) => c.path)).toEqual(['İstanbul'])
    const products = (await admin.get('/api/v1/products?limit=10')).body.items
    expect(products.map((p: any) => p.categoryId)).toEqual([cats[0].id, cats[0].id])
  })

  it('reads an XLSX price computed by a formula as the spreadsheet shows it', async () => {
    const { admin } = await catalogShop(hub)
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('商品')
    ws.addRow(['sku', 'product_name', 'price', 'tax_category'])
    ws.addRow(['CALC-1', 'Computed', { formula: '12.3*3', result: 12.3 * 3 }, 'standard'])
    ws.addRow(['SUM-1', 'Typed sum', 0.1 + 0.2, 'standard'])
    const r = await importFile(admin, new Uint8Array(await wb.xlsx.writeBuffer()), { type: XLSX })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect((await admin.get('/api/v1/variants/lookup?code=CALC-1')).body.price).toBe(3690)
    expect((await admin.get('/api/v1/variants/lookup?code=SUM-1')).body.price).toBe(30)
  })

  it('reads a decimal comma in a semicolon file (European Excel), and refuses a comma that is neither mark', async () => {
    const { admin } = await catalogShop(hub)
    const euro = await importFile(admin, 'product_name;tax_category;sku;price;cost\nEuro;standard;EU-1;12,50;1.234,5\nEuro2;standard;EU-2;1,5;0,05\n')
    expect(euro.status, JSON.stringify(euro.body)).toBe(200)
    expect((await admin.get('/api/v1/variants/lookup?code=EU-1')).body).toMatchObject({ price: 1250, cost: 123450 })
    expect((await admin.get('/api/v1/variants/lookup?code=EU-2')).body).toMatchObject({ price: 150, cost: 5 })
    const ambiguous = await importFile(admin, 'product_name;tax_category;sku;price\nAmb;standard;EU-3;1.250\n', { dryRun: true })
    expect(ambiguous.body.errors).toEqual([expect.objectContaining({ line: 2, field: 'price', code: 'invalid_amount' })])
    const comma = await importFile(admin, 'product_name,tax_category,sku,price\nComma,standard,CM-1,"12,50"\n', { dryRun: true })
    expect(comma.body.errors).toEqual([expect.objectContaining({ line: 2, field: 'price', code: 'invalid_amount' })])
  })

  it('refuses rows that give a product two variants with the same options, within the file or against the catalog', async () => {
    const { admin } = await catalogShop(hub)
    const head = 'product_key,product_name,tax_category,sku,price,options\n'
    const inFile = await importFile(admin, `${head}TEE,Tee,standard,TEE-S,10,Size=S\nTEE,Tee,standard,TEE-S2,10,Size=S\n`, { dryRun: true })
    expect(inFile.body.errors).toEqual([expect.objectContaining({ line: 3, sku: 'TEE-S2', field: 'options', code: 'duplicate_variant_options' })])
    // Another row of the product being bad (its price) does not hide the clash: every bad row is reported at once.
    const both = await importFile(admin, `${head}TEE,Tee,standard,TEE-X,abc,Size=L\nTEE,Tee,standard,TEE-S,10,Size=S\nTEE,Tee,standard,TEE-S2,10,Size=S\n`, { dryRun: true })
    expect(both.body.errors.map((e: any) => [e.line, e.code])).toEqual([
      [2, 'invalid_amount'],
      [4, 'duplicate_variant_options'],
    ])
    expect((await importFile(admin, `${head}TEE,Tee,standard,TEE-S,10,Size=S\nTEE,Tee,standard,TEE-M,10,Size=M\n`)).status).toBe(200)
    // TEE-M takes the options of TEE-S, which stays as it is: the same Size=S twice.
    const clash = await importFile(admin, `${head}TEE,Tee,standard,TEE-M,10,Size=S\n`, { dryRun: true })
    expect(clash.body.errors).toEqual([expect.objectContaining({ line: 2, sku: 'TEE-M', code: 'duplicate_variant_options' })])
    // Swapping the two in one file is fine.
    const swap = await importFile(admin, `${head}TEE,Tee,standard,TEE-M,10,Size=S\nTEE,Tee,standard,TEE-S,10,Size=M\n`, { dryRun: true })
    expect(swap.body.errors).toEqual([])
  })

  it('guesses a semicolon delimiter past blank lines at the top of the file', async () => {
    const { admin } = await catalogShop(hub)
    const r = await importFile(admin, '\n\nsku;product_name;price;tax_category\nSEMI-1;Semi;2.50;standard\n', { dryRun: true })
    expect(r.status).toBe(200)
    expect(r.body.errors).toEqual([])
    expect(r.body.summary).toMatchObject({ variantsCreated: 1 })
  })

  it("keeps a product's options in their order through an export, with an option no variant has a value for yet", async () => {
    const a = await catalogShop(hub)
    const created = await a.admin.post('/api/v1/products', productBody({ name: 'Tee', options: ['Size', 'Colour', 'Fit'] }, { sku: 'OPT-1', optionValues: { Colour: 'Red' } }))
    expect(created.status).toBe(201)
    const exported: string = (await a.admin.get('/api/v1/catalog/export?format=csv')).body
    expect(exported.split('\n').find((l) => l.includes('OPT-1'))).toContain('Size=;Colour=Red;Fit=')
    const b = await catalogShop(hub)
    expect((await importFile(b.admin, exported)).status).toBe(200)
    const product = (await b.admin.get('/api/v1/products?q=OPT-1')).body.items[0]
    expect(product.options).toEqual(['Size', 'Colour', 'Fit'])
    expect(product.variants[0].optionValues).toEqual({ Colour: 'Red' })
  })

  it('keeps option names and values the file can write back: ";" and "=" refused, spaces trimmed, so an export re-imports unchanged', async () => {
    const { admin } = await catalogShop(hub)
    const semicolon = await admin.post('/api/v1/products', productBody({ options: ['Size'] }, { sku: 'OPT-1', optionValues: { Size: 'S;M' } }))
    expect(semicolon.status).toBe(422)
    expect(semicolon.body.error).toMatchObject({ code: 'invalid_option', message: expect.stringContaining('";"') })
    const equals = await admin.post('/api/v1/products', productBody({ options: ['A=B'] }, { sku: 'OPT-2', optionValues: { 'A=B': 'x' } }))
    expect(equals.status).toBe(422)
    expect(equals.body.error.code).toBe('invalid_option')
    const spaced = await admin.post('/api/v1/products', productBody({ nameEn: ' Zed ', options: [' Size '] }, { sku: 'WS-1', optionValues: { Size: ' L ' } }))
    expect(spaced.status, JSON.stringify(spaced.body)).toBe(201)
    expect(spaced.body).toMatchObject({ nameEn: 'Zed', options: ['Size'], variants: [expect.objectContaining({ optionValues: { Size: 'L' } })] })
    const changed = await admin.patch(`/api/v1/variants/${spaced.body.variants[0].id}`, { optionValues: { Size: 'M;L' } })
    expect(changed.status).toBe(422)
    const exported: string = (await admin.get('/api/v1/catalog/export?format=csv')).body
    const again = await importFile(admin, exported, { dryRun: true })
    expect(again.body.errors).toEqual([])
    expect(again.body.summary).toMatchObject({ productsUpdated: 0, variantsUpdated: 0 })
  })

  it('an XLSX export keeps text XML cannot carry (control characters, a CR, a literal _xHHHH_): it imports back unchanged', async () => {
    const a = await catalogShop(hub)
    const names = ['Box_x0041_', 'Bell\u0007Item', 'Two\r\nLines', 'Pack_x000D_1']
    for (const [i, name] of names.entries()) expect((await a.admin.post('/api/v1/products', productBody({ name }, { sku: `XN-${i}` }))).status).toBe(201)
    const file = await a.admin.app.request('/api/v1/catalog/export?format=xlsx', { headers: { authorization: `Bearer ${a.m.adminToken}` } })
    const bytes = new Uint8Array(await file.arrayBuffer())
    const dry = await importFile(a.admin, bytes, { type: XLSX, dryRun: true })
    expect(dry.body).toMatchObject({ errors: [], summary: { productsCreated: 0, productsUpdated: 0, variantsCreated: 0, variantsUpdated: 0 } })
    const b = await catalogShop(hub)
    expect((await importFile(b.admin, bytes, { type: XLSX })).status).toBe(200)
    const imported = (await b.admin.get('/api/v1/products?limit=50')).body.items.map((p: any) => [p.variants[0].sku, p.name])
    expect(imported.sort()).toEqual(names.map((n, i) => [`XN-${i}`, n]))
  })

  it('a product whose variants are getting their first option, one by one, exports and imports back unchanged', async () => {
    const { admin } = await catalogShop(hub)
    const body = productBody({ name: 'Cup' }, { sku: 'PC-1' }) as any
    body.variants.push({ sku: 'PC-2', price: 1000 }, { sku: 'PC-3', price: 1000 })
    const created = (await admin.post('/api/v1/products', body)).body
    expect((await admin.patch(`/api/v1/products/${created.id}`, { options: ['Size'] })).status).toBe(200)
    expect((await admin.patch(`/api/v1/variants/${created.variants[0].id}`, { optionValues: { Size: 'L' } })).status).toBe(200)
    const exported: string = (await admin.get('/api/v1/catalog/export?format=csv')).body
    const again = await importFile(admin, exported, { dryRun: true })
    expect(again.body).toMatchObject({ errors: [], summary: { productsUpdated: 0, variantsUpdated: 0 } })
  })

  it('reads a linked cell whose text is formatted as its text', async () => {
    const { admin } = await catalogShop(hub)
    const wb = new ExcelJS.Workbook()
    const ws = wb.addWorksheet('Items')
    ws.addRow(['product_name', 'tax_category', 'sku', 'price'])
    ws.addRow(['x', 'standard', 'HL-1', '1'])
    ws.getCell('A2').value = { text: { richText: [{ text: 'Linked ' }, { font: { bold: true }, text: 'Name' }] }, hyperlink: 'https://example.com/hl-1' } as unknown as ExcelJS.CellValue
    expect((await importFile(admin, new Uint8Array(await wb.xlsx.writeBuffer()), { type: XLSX })).status).toBe(200)
    expect((await admin.get('/api/v1/products?q=HL-1')).body.items[0].name).toBe('Linked Name')
  })

  it('the POS data import reads the catalog CSV export back unchanged, formula-looking names included', async () => {
    const a = await catalogShop(hub)
    expect((await a.admin.post('/api/v1/products', productBody({ name: '=Formula name' }, { sku: 'POS-1' }))).status).toBe(201)
    const exported: string = (await a.admin.get('/api/v1/catalog/export?format=csv')).body
    expect(exported).toContain("'=Formula name")
    const again = await a.admin.post('/api/v1/imports/catalog?dryRun=true', undefined, { raw: new TextEncoder().encode(exported), headers: { 'content-type': CSV } })
    expect(again.status).toBe(200)
    expect(again.body).toMatchObject({ errors: [], summary: { productsCreated: 0, productsUpdated: 0, variantsCreated: 0, variantsUpdated: 0 } })
  })

  it('answers a wrong content type, an empty body or a malformed file with a 4xx in the error shape', async () => {
    const { admin, m } = await catalogShop(hub)
    const json = await admin.post('/api/v1/catalog/import', { sku: 'A' })
    expect(json.status).toBe(415)
    expect(json.body.error).toMatchObject({ code: 'unsupported_media_type', details: { expected: 'text/csv or application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', got: 'application/json' } })
    // The merchant reads Chinese: the sentence names the file types, not JSON.
    expect(json.body.error.message).toContain('text/csv')
    expect(json.body.error.message).not.toContain('application/json 格式')
    const mismatch = await importFile(admin, 'sku,price\n', { type: CSV, format: 'xlsx' })
    expect(mismatch.status).toBe(415)
    const badXlsx = await importFile(admin, 'this is not a zip', { type: XLSX })
    expect(badXlsx.status).toBe(400)
    expect(badXlsx.body.error.code).toBe('invalid_file')
    const empty = await importFile(admin, '')
    expect(empty.status).toBe(400)
    const broken = await importFile(admin, 'sku,product_name,price\nA,"never closed,1\n')
    expect(broken.status).toBe(400)
    expect(broken.body.error).toMatchObject({ code: 'invalid_file', details: { line: 2 } })
    const noColumns = await importFile(admin, 'name,cost\nA,1\n', { dryRun: true })
    expect(noColumns.status).toBe(200)
    expect(noColumns.body.errors.map((e: any) => [e.line, e.field, e.code])).toEqual([
      [1, 'product_name', 'missing_column'],
      [1, 'sku', 'missing_column'],
      [1, 'price', 'missing_column'],
    ])
    expect(noColumns.body.warnings).toEqual(['ignored columns: name'])
    const tooBig = await importFile(admin, new Uint8Array(20 * 1024 * 1024 + 1))
    expect(tooBig.status).toBe(413)
    expect(tooBig.body.error.code).toBe('payload_too_large')
    expect(await count(hub, 'products', m.merchantId)).toBe(0)
  })

  it('replays an XLSX import sent again with the same Idempotency-Key instead of importing twice', async () => {
    const { admin } = await catalogShop(hub)
    const wb = new ExcelJS.Workbook()
    wb.addWorksheet('Catalog').addRows([
      ['sku', 'product_name', 'tax_category', 'price'],
      ['IDEM-1', '毛巾', 'standard', '15.00'],
    ])
    const bytes = new Uint8Array(await wb.xlsx.writeBuffer())
    const headers = { 'idempotency-key': 'import-xlsx-1' }
    const first = await importFile(admin, bytes, { type: XLSX, headers })
    expect(first.status).toBe(200)
    expect(first.body.summary.variantsCreated).toBe(1)
    const replay = await importFile(admin, bytes, { type: XLSX, headers })
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body).toEqual(first.body)
    const dry = await importFile(admin, bytes, { type: XLSX, headers, dryRun: true })
    expect(dry.status).toBe(422)
    expect(dry.body.error.code).toBe('idempotency_key_reused')
  })

  it("names a new category under an existing one with the existing one's spelling, and a name too long once", async () => {
    const { admin } = await catalogShop(hub)
    await admin.post('/api/v1/categories', { name: 'Food' })
    const file = csv([{ product_name: 'Pear', category: 'food/Fruit', tax_category: 'standard', sku: 'PEAR', price: '3' }])
    const dry = await importFile(admin, file, { dryRun: true })
    expect(dry.body.summary.categoriesCreated).toEqual(['Food/Fruit'])
    const real = await importFile(admin, file)
    expect(real.body.summary).toEqual(dry.body.summary)
    expect((await admin.get('/api/v1/categories')).body.items.map((c: any) => c.path).sort()).toEqual(['Food', 'Food/Fruit'])

    const long = await importFile(admin, csv([{ product_name: 'L'.repeat(201), tax_category: 'standard', sku: 'LONG', price: '3' }]), { dryRun: true })
    expect(long.body.errors.map((e: any) => [e.line, e.field, e.code])).toEqual([[2, 'product_name', 'too_long']])
  })

  it('lets only catalog managers import and export', async () => {
    const { admin, cashier, m } = await catalogShop(hub)
    const till = await cashier()
    const r = await importFile(till, csv([{ product_name: 'X', tax_category: 'standard', sku: 'X', price: '1' }]))
    expect(r.status).toBe(403)
    expect((await till.get('/api/v1/catalog/export')).status).toBe(403)
    const manager = await m.staff('manager')
    expect((await admin.as(manager.token).get('/api/v1/catalog/export?format=xlsx')).status).toBe(200)
    expect(await count(hub, 'products', m.merchantId)).toBe(0)
  })
})
