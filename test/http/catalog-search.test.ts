import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { catalogShop, type CatalogShop } from '../core/catalog/fixtures.ts'

describe('product search', () => {
  const hub = useTestHub()
  let shop: CatalogShop
  const ids: Record<string, string> = {}

  beforeAll(async () => {
    shop = await catalogShop(hub)
    const { admin } = shop
    const food = (await admin.post('/api/v1/categories', { name: 'Food' })).body
    const fruit = (await admin.post('/api/v1/categories', { name: 'Fruit', parentId: food.id })).body
    const citrus = (await admin.post('/api/v1/categories', { name: 'Citrus', parentId: fruit.id })).body
    const drinks = (await admin.post('/api/v1/categories', { name: 'Drinks' })).body
    ids.food = food.id
    ids.fruit = fruit.id
    ids.citrus = citrus.id
    const add = async (key: string, body: Record<string, unknown>) => {
      const r = await admin.post('/api/v1/products', { taxCategoryCode: 'reduced', ...body })
      expect(r.status).toBe(201)
      ids[key] = r.body.id
    }
    await add('apple', { name: '红富士苹果', nameEn: 'Fuji Apple', unit: 'g', categoryId: fruit.id, variants: [{ sku: 'FR-APPLE', price: 1280, pricePer: 1000 }] })
    await add('orange', { name: '赣南脐橙', nameEn: 'Navel Orange', unit: 'g', categoryId: citrus.id, variants: [{ sku: 'FR-ORANGE', price: 990, pricePer: 1000, barcodes: ['4006381333931'] }] })
    await add('bread', { name: '全麦面包', nameEn: 'Wholemeal Bread', categoryId: food.id, variants: [{ sku: 'BK-BREAD', price: 1500, onShelf: false }] })
    await add('juice', { name: '橙汁', nameEn: 'Orange Juice 100%', categoryId: drinks.id, variants: [{ sku: 'DR-OJ_1L', price: 1890 }] })
    await add('old', { name: '旧款苹果醋', nameEn: 'Apple Vinegar', categoryId: food.id, variants: [{ sku: 'OLD-VIN', price: 990 }] })
    await admin.delete(`/api/v1/products/${ids.old}`)
  })

  const find = async (query: string) => {
    const r = await shop.admin.get(`/api/v1/products?${query}`)
    expect(r.status).toBe(200)
    return r.body.items.map((p: any) => p.id)
  }

  it('finds products by part of the Chinese name', async () => {
    expect(await find(`q=${encodeURIComponent('苹果')}`)).toEqual([ids.apple])
    expect(await find(`q=${encodeURIComponent('橙')}`)).toEqual([ids.orange, ids.juice])
  })

  it('finds products by part of the English name, ignoring case', async () => {
    expect(await find('q=ORANGE')).toEqual([ids.orange, ids.juice])
    expect(await find('q=wholemeal')).toEqual([ids.bread])
  })

  it('finds products by part of a SKU, taking % and _ literally', async () => {
    expect(await find('q=fr-')).toEqual([ids.apple, ids.orange])
    expect(await find('q=OJ_1')).toEqual([ids.juice])
    expect(await find('q=OJ%251')).toEqual([])
    expect(await find('q=%25')).toEqual([ids.juice])
  })

  it('finds a product by its whole barcode but not by a part of it', async () => {
    expect(await find('q=4006381333931')).toEqual([ids.orange])
    expect(await find('q=400638133')).toEqual([])
  })

  it('filters by a category together with everything below it', async () => {
    expect(await find(`categoryId=${ids.food}`)).toEqual([ids.apple, ids.orange, ids.bread])
    expect(await find(`categoryId=${ids.fruit}`)).toEqual([ids.apple, ids.orange])
    expect(await find(`categoryId=${ids.citrus}`)).toEqual([ids.orange])
    expect(await find(`categoryId=${ids.fruit}&q=orange`)).toEqual([ids.orange])
  })

  it('shows active products unless asked for archived ones, and filters by shelf status', async () => {
    expect(await find(`q=${encodeURIComponent('苹果')}&status=archived`)).toEqual([ids.old])
    expect(await find(`q=apple&status=all`)).toEqual([ids.apple, ids.old])
    expect(await find('onShelf=false')).toEqual([ids.bread])
    expect((await find('onShelf=true')).includes(ids.bread)).toBe(false)
  })

  it('returns each product with its variants and barcodes', async () => {
    const r = await shop.admin.get('/api/v1/products?q=4006381333931')
    expect(r.body.items[0]).toMatchObject({ name: '赣南脐橙', unit: 'g', variants: [{ sku: 'FR-ORANGE', price: 990, pricePer: 1000, barcodes: [{ code: '4006381333931', kind: 'ean13' }] }] })
  })

  it('pages through many products in a stable order without duplicates or gaps', async () => {
    const { admin } = await catalogShop(hub)
    const created: string[] = []
    for (let i = 0; i < 23; i++) {
      const r = await admin.post('/api/v1/products', { name: `Paged ${i}`, taxCategoryCode: 'standard', variants: [{ sku: `PG-${i}`, price: 100 + i }] })
      created.push(r.body.id)
    }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const r: any = await admin.get(`/api/v1/products?q=paged&limit=5${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.status).toBe(200)
      expect(r.body.items.length).toBeLessThanOrEqual(5)
      seen.push(...r.body.items.map((p: any) => p.id))
      cursor = r.body.nextCursor
      pages++
    } while (cursor)
    expect(pages).toBe(5)
    expect(seen).toEqual(created)
    expect(new Set(seen).size).toBe(23)
    const bad = await admin.get('/api/v1/products?cursor=not-a-cursor')
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('invalid_cursor')
  })
})
