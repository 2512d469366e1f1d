// A free-item coupon frees the units it names at what they cost by then (after promotions and tier discounts), never
// more than those units.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { checkLedgerAfterEach, seedProduct } from '../helpers/pos.ts'
import { memberShop, uniquePhone } from '../helpers/member-shop.ts'

describe('a free-item coupon with promotions', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function setup() {
    const { m, store, admin, member } = await memberShop(hub, '1386')
    const coffee = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const tpl = await admin.post('/api/v1/coupon-templates', { validDays: 30, name: 'one coffee free', kind: 'free_item', freeVariantId: coffee.variantId, freeQuantity: 1 })
    expect(tpl.status, JSON.stringify(tpl.body)).toBe(201)
    const code = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.body.id, memberIds: [member.id] })).body.issued[0].code as string
    return { m, store, admin, member, coffee, code }
  }

  it('without promotions: two coffees, one free → pays one coffee (control)', async () => {
    const { store, admin, member, coffee, code } = await setup()
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: coffee.sku, quantity: 2 }] })
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    expect(q.body.total).toBe(1000)
  })

  it('coffee 50% off by promotion, two coffees, one free by coupon: the other coffee is still paid (500), not free too', async () => {
    const { store, admin, member, coffee, code } = await setup()
    expect((await admin.post('/api/v1/promotions', { name: 'coffee half price', kind: 'percent_off', level: 'item', params: { percentBp: 5000 }, productIds: [coffee.productId] })).status).toBe(201)
    const body = { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: coffee.sku, quantity: 2 }] }
    const q = await admin.post('/api/v1/sales/quote', body)
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    // Each coffee costs 500 after the promotion; the coupon makes ONE of them free: 500 to pay.
    expect(q.body.applied.find((a: any) => a.source === 'coupon')?.amount).toBe(500)
    expect(q.body.total).toBe(500)
  })

  it('gold member 5% tier discount, two coffees, one free: the other coffee costs 950', async () => {
    const { m, store, admin, coffee } = await setup()
    expect((await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 0, minSpend: 0, discountBp: 500 })).status).toBe(201)
    const member = (await admin.post('/api/v1/members', { phone: uniquePhone('1386') })).body
    const tpl = await admin.post('/api/v1/coupon-templates', { validDays: 30, name: 'one coffee free 2', kind: 'free_item', freeVariantId: coffee.variantId, freeQuantity: 1 })
    const code = (await admin.post('/api/v1/coupons/issue', { templateId: tpl.body.id, memberIds: [member.id] })).body.issued[0].code as string
    const q = await admin.post('/api/v1/sales/quote', { registerId: store.registerId, memberId: member.id, couponCodes: [code], lines: [{ sku: coffee.sku, quantity: 2 }] })
    expect(q.status, JSON.stringify(q.body)).toBe(200)
    expect(q.body.total).toBe(950)
    void m
  })
})
