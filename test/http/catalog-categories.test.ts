import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { catalogShop, productBody } from '../core/catalog/fixtures.ts'

describe('categories and tax categories through the API', () => {
  const hub = useTestHub()

  it('builds a tree and lists it nested and flat, each category with its path', async () => {
    const { admin } = await catalogShop(hub)
    const food = (await admin.post('/api/v1/categories', { name: '食品', code: 'FOOD' })).body
    const fruit = (await admin.post('/api/v1/categories', { name: 'Fruit', parentId: food.id })).body
    const citrus = (await admin.post('/api/v1/categories', { name: 'Citrus', parentId: fruit.id })).body
    const drinks = (await admin.post('/api/v1/categories', { name: 'Drinks', sortOrder: -1 })).body
    expect(citrus).toMatchObject({ path: '食品/Fruit/Citrus', depth: 2, parentId: fruit.id, childCount: 0, productCount: 0 })

    const flat = await admin.get('/api/v1/categories')
    expect(flat.status).toBe(200)
    expect(flat.body.items.map((c: any) => c.path)).toEqual(['Drinks', '食品', '食品/Fruit', '食品/Fruit/Citrus'])
    expect(flat.body.items.find((c: any) => c.id === food.id)).toMatchObject({ code: 'FOOD', childCount: 1 })

    const tree = await admin.get('/api/v1/categories/tree')
    expect(tree.status).toBe(200)
    expect(tree.body.items.map((c: any) => c.id)).toEqual([drinks.id, food.id])
    expect(tree.body.items[1].children[0]).toMatchObject({ id: fruit.id, children: [{ id: citrus.id, children: [] }] })
    expect((await admin.get(`/api/v1/categories/${fruit.id}`)).body).toMatchObject({ path: '食品/Fruit', childCount: 1 })
  })

  it('refuses a sibling with the same name, a name with a slash, a taken code and an unknown parent', async () => {
    const { admin } = await catalogShop(hub)
    const root = (await admin.post('/api/v1/categories', { name: 'Snacks', code: 'SN' })).body
    const same = await admin.post('/api/v1/categories', { name: 'snacks' })
    expect(same.status).toBe(409)
    expect(same.body.error.code).toBe('category_name_taken')
    expect((await admin.post('/api/v1/categories', { name: 'Snacks', parentId: root.id })).status).toBe(201)
    expect((await admin.post('/api/v1/categories', { name: 'Beer/Wine' })).body.error.code).toBe('invalid_name')
    expect((await admin.post('/api/v1/categories', { name: 'Other', code: 'SN' })).body.error.code).toBe('category_code_taken')
    const orphan = await admin.post('/api/v1/categories', { name: 'Orphan', parentId: '01890a5d-ac96-774b-bcce-b302099a8057' })
    expect(orphan.status).toBe(422)
    expect(orphan.body.error.code).toBe('unknown_category')
  })

  it('renames and moves a category, and refuses a move that would make a cycle', async () => {
    const { admin } = await catalogShop(hub)
    const a = (await admin.post('/api/v1/categories', { name: 'A' })).body
    const b = (await admin.post('/api/v1/categories', { name: 'B', parentId: a.id })).body
    const c = (await admin.post('/api/v1/categories', { name: 'C', parentId: b.id })).body
    const other = (await admin.post('/api/v1/categories', { name: 'Other' })).body

    const underGrandchild = await admin.patch(`/api/v1/categories/${a.id}`, { parentId: c.id })
    expect(underGrandchild.status).toBe(422)
    expect(underGrandchild.body.error.code).toBe('category_cycle')
    const underItself = await admin.patch(`/api/v1/categories/${b.id}`, { parentId: b.id })
    expect(underItself.body.error.code).toBe('category_cycle')
    expect((await admin.get(`/api/v1/categories/${a.id}`)).body.parentId).toBeNull()

    const moved = await admin.patch(`/api/v1/categories/${b.id}`, { parentId: other.id, name: 'Bee' })
    expect(moved.status).toBe(200)
    expect(moved.body).toMatchObject({ path: 'Other/Bee', parentId: other.id })
    expect((await admin.get(`/api/v1/categories/${c.id}`)).body.path).toBe('Other/Bee/C')
    expect((await admin.patch(`/api/v1/categories/${c.id}`, { parentId: null })).body).toMatchObject({ path: 'C', depth: 0 })
    const audit = await admin.get(`/api/v1/audit?entityId=${b.id}`)
    expect(audit.body.items[0]).toMatchObject({ action: 'category.moved', details: { parentId: { from: a.id, to: other.id } } })
  })

  it('deletes only an empty category: one with subcategories or products is refused with 409', async () => {
    const { admin } = await catalogShop(hub)
    const parent = (await admin.post('/api/v1/categories', { name: 'Household' })).body
    const child = (await admin.post('/api/v1/categories', { name: 'Cleaning', parentId: parent.id })).body
    const p = (await admin.post('/api/v1/products', productBody({ categoryId: child.id }))).body

    const withChild = await admin.delete(`/api/v1/categories/${parent.id}`)
    expect(withChild.status).toBe(409)
    expect(withChild.body.error).toMatchObject({ code: 'category_has_children', details: { childCount: 1 } })
    const withProduct = await admin.delete(`/api/v1/categories/${child.id}`)
    expect(withProduct.status).toBe(409)
    expect(withProduct.body.error).toMatchObject({ code: 'category_has_products', details: { productCount: 1 } })

    // An archived product still holds its category: its history names it.
    await admin.delete(`/api/v1/products/${p.id}`)
    expect((await admin.delete(`/api/v1/categories/${child.id}`)).status).toBe(409)
    await admin.patch(`/api/v1/products/${p.id}`, { categoryId: null })
    expect((await admin.delete(`/api/v1/categories/${child.id}`)).status).toBe(200)
    expect((await admin.delete(`/api/v1/categories/${parent.id}`)).status).toBe(200)
    expect((await admin.get(`/api/v1/categories/${parent.id}`)).status).toBe(404)
  })

  it("keeps categories apart between merchants: B cannot see, move under or delete A's categories", async () => {
    const a = await catalogShop(hub)
    const b = await catalogShop(hub)
    const cat = (await a.admin.post('/api/v1/categories', { name: 'A only' })).body
    expect((await b.admin.get(`/api/v1/categories/${cat.id}`)).status).toBe(404)
    expect((await b.admin.patch(`/api/v1/categories/${cat.id}`, { name: 'Mine' })).status).toBe(404)
    expect((await b.admin.delete(`/api/v1/categories/${cat.id}`)).status).toBe(404)
    expect((await b.admin.post('/api/v1/categories', { name: 'Under A', parentId: cat.id })).status).toBe(422)
    expect((await b.admin.post('/api/v1/products', productBody({ categoryId: cat.id }))).status).toBe(422)
    expect((await b.admin.get('/api/v1/categories')).body.items).toEqual([])
    expect((await a.admin.get(`/api/v1/categories/${cat.id}`)).body.name).toBe('A only')
  })

  it('lists, creates and changes tax categories; a rate is 0–10000 basis points', async () => {
    const { admin, cashier } = await catalogShop(hub)
    const list = await admin.get('/api/v1/tax-categories')
    expect(list.body.items.map((t: any) => [t.code, t.rateBp])).toEqual([
      ['exempt', 0],
      ['reduced', 900],
      ['services', 600],
      ['standard', 1300],
    ])
    const created = await admin.post('/api/v1/tax-categories', { code: 'small', name: '3% 小规模', rateBp: 300 })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ code: 'small', rateBp: 300 })
    expect((await admin.post('/api/v1/tax-categories', { code: 'small', name: 'again', rateBp: 300 })).status).toBe(409)
    expect((await admin.post('/api/v1/tax-categories', { code: 'big', name: 'x', rateBp: 10_001 })).status).toBe(400)
    expect((await admin.post('/api/v1/tax-categories', { code: 'frac', name: 'x', rateBp: 2.5 })).status).toBe(400)
    const patched = await admin.patch(`/api/v1/tax-categories/${created.body.id}`, { rateBp: 100, name: '1% 小规模' })
    expect(patched.body).toMatchObject({ rateBp: 100, name: '1% 小规模', code: 'small' })
    const till = await cashier()
    expect((await till.get('/api/v1/tax-categories')).status).toBe(200)
    expect((await till.patch(`/api/v1/tax-categories/${created.body.id}`, { rateBp: 0 })).status).toBe(403)
  })
})
