// A coupon keeps the terms it was issued with — its value, minimum spend, scope, the item it gives — whatever its
// template is changed to later: a change of the template is for the coupons issued after it.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { checkLedgerAfterEach, seedProduct } from '../helpers/pos.ts'
import { memberShop, uniquePhone } from '../helpers/member-shop.ts'

describe('coupon terms after their template changes', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function setup() {
    const { m, store, admin, member } = await memberShop(hub, '1357')
    const issue = async (templateId: string) => (await admin.post('/api/v1/coupons/issue', { templateId, memberIds: [member.id] })).body.issued[0].code as string
    const quote = (code: string, lines: { sku: string; quantity?: number }[]) => admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines })
    return { m, store, admin, member, issue, quote }
  }

  it('a ¥20-off-on-¥50 coupon stays so when the template becomes ¥5 off on ¥100; coupons issued after take the new terms', async () => {
    const { store, admin, member, issue, quote } = await setup()
    const a = await seedProduct(hub, store, { price: 6000, stock: 50 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, name: '满50减20', kind: 'amount_off', amount: 2000, minSpend: 5000 })).body
    const before = await issue(tpl.id)
    const edit = await admin.patch(`/api/v1/coupon-templates/${tpl.id}`, { amount: 500, minSpend: 10000 })
    expect([edit.status, edit.body.amount, edit.body.minSpend]).toEqual([200, 500, 10000])

    const q = await quote(before, [{ sku: a.sku }])
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    expect(q.body.total).toBe(4000)

    const after = await issue(tpl.id)
    const short = await quote(after, [{ sku: a.sku }])
    expect([short.status, short.body.error?.code]).toEqual([422, 'coupon_min_spend'])
    expect((await quote(after, [{ sku: a.sku, quantity: 2 }])).body.total).toBe(11500)

    // The coupon says what it is worth; the template what it gives now.
    const view = (await admin.get(`/api/v1/coupons/${before}`)).body
    expect({ kind: view.kind, amount: view.amount, minSpend: view.minSpend }).toEqual({ kind: 'amount_off', amount: 2000, minSpend: 5000 })
    expect(view.template.amount).toBe(500)
    const wallet = (await admin.get(`/api/v1/members/${member.id}/coupons`)).body.items
    expect(wallet.map((c: any) => [c.code, c.amount, c.minSpend]).sort()).toEqual([[before, 2000, 5000], [after, 500, 10000]].sort())
  })

  it('a coupon keeps its value through a refund that gives it back after the template was changed', async () => {
    const { store, admin, member, issue, quote } = await setup()
    const a = await seedProduct(hub, store, { price: 6000, stock: 50 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, name: '¥20 off', kind: 'amount_off', amount: 2000 })).body
    const code = await issue(tpl.id)
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: a.sku }], tenders: [{ kind: 'cash', amount: 4000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect((await admin.patch(`/api/v1/coupon-templates/${tpl.id}`, { amount: 100 })).status).toBe(200)
    const refund = await admin.post(`/api/v1/sales/${sale.body.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })
    expect(refund.status, JSON.stringify(refund.body)).toBe(201)
    expect((await admin.get(`/api/v1/coupons/${code}`)).body.status).toBe('issued')
    expect((await quote(code, [{ sku: a.sku }])).body.total).toBe(4000)
  })

  it('a percent-off coupon keeps its rate and the category it applies to when the template changes kind and scope', async () => {
    const { store, admin, issue, quote } = await setup()
    const tea = (await admin.post('/api/v1/categories', { name: `Tea ${uniquePhone('1357')}` })).body
    const a = await seedProduct(hub, store, { price: 6000, stock: 50, categoryId: tea.id })
    const b = await seedProduct(hub, store, { price: 3000, stock: 50 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, name: 'tea 10% off', kind: 'percent_off', percentBp: 1000, categoryIds: [tea.id] })).body
    const code = await issue(tpl.id)
    const edit = await admin.patch(`/api/v1/coupon-templates/${tpl.id}`, { kind: 'amount_off', amount: 100, percentBp: null, categoryIds: [], productIds: [b.productId] })
    expect(edit.status, JSON.stringify(edit.body)).toBe(200)
    const q = await quote(code, [{ sku: a.sku }, { sku: b.sku }])
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    // 10 % off the tea only: 600 off 6000, nothing off the other item.
    expect(q.body.total).toBe(8400)
    const view = (await admin.get(`/api/v1/coupons/${code}`)).body
    expect({ kind: view.kind, percentBp: view.percentBp, categoryIds: view.categoryIds, productIds: view.productIds }).toEqual({ kind: 'percent_off', percentBp: 1000, categoryIds: [tea.id], productIds: [] })
  })

  it('a free-item coupon still gives the item it was issued for when the template names another', async () => {
    const { store, admin, issue, quote } = await setup()
    const coffee = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const tea = await seedProduct(hub, store, { price: 800, stock: 50 })
    const tpl = (await admin.post('/api/v1/coupon-templates', { validDays: 30, name: 'one coffee free', kind: 'free_item', freeVariantId: coffee.variantId, freeQuantity: 1 })).body
    const code = await issue(tpl.id)
    expect((await admin.patch(`/api/v1/coupon-templates/${tpl.id}`, { freeVariantId: tea.variantId, freeQuantity: 2 })).status).toBe(200)
    const q = await quote(code, [{ sku: coffee.sku, quantity: 2 }, { sku: tea.sku, quantity: 2 }])
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    expect(q.body.total).toBe(1000 + 1600)
  })
})
