// A category deleted while a product is filed into it: the delete is 200 (the product is refused as naming an unknown
// category) or 409 category_has_products, never a broken reference answered as 422.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { catalogShop, productBody } from '../core/catalog/fixtures.ts'

describe('a product filed into a category being deleted', () => {
  const hub = useTestHub({ poolSize: 20 })

  it('deleting an empty category while a product is filed into it: the delete is 200, or 409 category_has_products as documented', async () => {
    const { admin } = await catalogShop(hub)
    const p = await admin.post('/api/v1/products', productBody({}, { sku: 'CAT-RACE' }))
    const outcomes: string[] = []
    for (let i = 0; i < 15; i++) {
      const c = await admin.post('/api/v1/categories', { name: `Tmp ${i}` })
      const [del, mv, mk] = await Promise.all([
        admin.delete(`/api/v1/categories/${c.body.id}`),
        admin.patch(`/api/v1/products/${p.body.id}`, { categoryId: c.body.id }),
        admin.post('/api/v1/products', productBody({ categoryId: c.body.id })),
      ])
      outcomes.push(`${del.status}/${mv.status}/${mk.status}`)
      if (del.status === 200) expect([mv.status, mk.status].filter((st) => st !== 422)).toEqual([])
      else expect(del.body.error.code).toBe('category_has_products')
      await admin.patch(`/api/v1/products/${p.body.id}`, { categoryId: null })
    }
    expect(outcomes.filter((o) => o.includes('500'))).toEqual([])
    // OpenAPI: "Refused with 409 category_has_children or category_has_products unless the category is empty."
    expect(outcomes.filter((o) => !/^(200|409)\//.test(o))).toEqual([])
  })
})
