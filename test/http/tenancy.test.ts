import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { sql } from 'drizzle-orm'

describe('tenant isolation', () => {
  const hub = useTestHub()

  it('staff of merchant B can neither read nor change the users of merchant A', async () => {
    const a = await seedMerchant(hub, { name: 'A' })
    const b = await seedMerchant(hub, { name: 'B' })
    const apiA = createApi(hub).as(a.adminToken)
    const apiB = createApi(hub).as(b.adminToken)
    const cashierA = await a.staff('cashier')

    expect((await apiB.get(`/api/v1/users/${cashierA.id}`)).status).toBe(404)
    expect((await apiB.patch(`/api/v1/users/${cashierA.id}`, { role: 'admin' })).status).toBe(404)
    expect((await apiB.delete(`/api/v1/users/${cashierA.id}`)).status).toBe(404)
    const listB = await apiB.get('/api/v1/users?limit=200')
    expect(listB.body.items.every((u: any) => u.merchantId === b.merchantId)).toBe(true)
    expect(listB.body.items.map((u: any) => u.id)).not.toContain(cashierA.id)

    const stillA = await apiA.get(`/api/v1/users/${cashierA.id}`)
    expect(stillA.body).toMatchObject({ role: 'cashier', status: 'active' })
  })

  it("an API key of merchant B cannot revoke merchant A's keys or read A's audit log", async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const keyA = (await createApi(hub).as(a.adminToken).post('/api/v1/api-keys', { name: 'a', role: 'admin' })).body
    const keyB = (await createApi(hub).as(b.adminToken).post('/api/v1/api-keys', { name: 'b', role: 'admin' })).body
    const apiB = createApi(hub).as(keyB.key)
    expect((await apiB.delete(`/api/v1/api-keys/${keyA.apiKey.id}`)).status).toBe(404)
    expect((await createApi(hub).as(keyA.key).get('/api/v1/me')).status).toBe(200)
    const audit = await apiB.get('/api/v1/audit?limit=500')
    expect(audit.body.items.length).toBeGreaterThan(0)
    expect(audit.body.items.map((e: any) => e.entityId)).not.toContain(keyA.apiKey.id)
    expect(audit.body.items.map((e: any) => e.entityId)).not.toContain(a.adminId)
  })

  it('the same Idempotency-Key used by two merchants are two separate requests', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const headers = { 'idempotency-key': 'shared-key-1' }
    const ra = await createApi(hub).as(a.adminToken).post('/api/v1/users', { email: `x-${a.merchantId}@example.com`, role: 'cashier', password: 'long-enough' }, { headers })
    const rb = await createApi(hub).as(b.adminToken).post('/api/v1/users', { email: `x-${b.merchantId}@example.com`, role: 'cashier', password: 'long-enough' }, { headers })
    expect(ra.status).toBe(201)
    expect(rb.status).toBe(201)
    expect(rb.headers.get('idempotent-replayed')).toBeNull()
    expect(rb.body.merchantId).toBe(b.merchantId)
  })
  let phones = 0
  const phone = () => `1370098${String(process.pid % 100).padStart(2, '0')}${String(++phones).padStart(2, '0')}`

  it("merchant B cannot issue a coupon to merchant A's member, nor list that member's coupons", async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const apiA = createApi(hub).as(a.adminToken)
    const apiB = createApi(hub).as(b.adminToken)
    const memberA = (await apiA.post('/api/v1/members', { phone: phone() })).body
    const template = (await apiB.post('/api/v1/coupon-templates', { name: '¥1 off', kind: 'amount_off', amount: 100, validDays: 30 })).body
    const issued = await apiB.post('/api/v1/coupons/issue', { templateId: template.id, memberIds: [memberA.id] })
    expect(issued.status).toBe(404)
    expect(issued.body.error.code).toBe('member_not_found')
    const rows = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from coupons where member_id = ${memberA.id}`)
    expect(rows.rows[0]!.n).toBe(0)
    expect((await apiB.get(`/api/v1/members/${memberA.id}/coupons`)).status).toBe(404)
    expect((await apiA.get(`/api/v1/members/${memberA.id}/coupons`)).status).toBe(200)
  })

  it("merchant B cannot register a member at merchant A's store, nor move one there", async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const storeA = await seedStore(hub, a.merchantId)
    const apiB = createApi(hub).as(b.adminToken)
    const created = await apiB.post('/api/v1/members', { phone: phone(), storeId: storeA.storeId })
    expect(created.status).toBe(404)
    const member = (await apiB.post('/api/v1/members', { phone: phone() })).body
    const moved = await apiB.patch(`/api/v1/members/${member.id}`, { storeId: storeA.storeId })
    expect(moved.status).toBe(404)
    expect(moved.body.error.code).toBe('store_not_found')
    expect((await apiB.get(`/api/v1/members/${member.id}`)).body.storeId ?? null).toBeNull()
  })
  it("promotions and coupon templates refuse another merchant's products, variants, categories and stores in their scope", async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const storeA = await seedStore(hub, a.merchantId)
    const itemA = await seedProduct(hub, storeA, { price: 1000 })
    const storeB = await seedStore(hub, b.merchantId)
    const itemB = await seedProduct(hub, storeB, { price: 1000 })
    const apiB = createApi(hub).as(b.adminToken)
    const promo = (extra: Record<string, unknown>) => apiB.post('/api/v1/promotions', { name: 'P', kind: 'percent_off', level: 'item', params: { percentBp: 1000 }, ...extra })
    for (const scope of [{ storeIds: [storeA.storeId] }, { productIds: [itemA.productId] }, { variantIds: [itemA.variantId] }]) {
      const r = await promo(scope)
      expect(r.status, JSON.stringify(scope)).toBe(422)
      expect(r.body.error.code).toBe('unknown_scope')
    }
    const bundle = await apiB.post('/api/v1/promotions', {
      name: 'Bundle',
      kind: 'bundle',
      level: 'item',
      params: { price: 1500, components: [{ quantity: 1, productIds: [itemB.productId] }, { quantity: 1, productIds: [itemA.productId] }] },
    })
    expect(bundle.body.error.code).toBe('unknown_scope')
    const own = await promo({ storeIds: [storeB.storeId], productIds: [itemB.productId] })
    expect(own.status).toBe(201)
    expect((await apiB.patch(`/api/v1/promotions/${own.body.id}`, { storeIds: [storeA.storeId] })).body.error.code).toBe('unknown_scope')
    const template = await apiB.post('/api/v1/coupon-templates', { name: 'T', kind: 'free_item', freeVariantId: itemA.variantId, freeQuantity: 1, validDays: 3 })
    expect(template.status).toBe(422)
    expect(template.body.error.code).toBe('unknown_scope')
    expect((await apiB.post('/api/v1/coupon-templates', { name: 'T', kind: 'free_item', freeVariantId: itemB.variantId, freeQuantity: 1, validDays: 3 })).status).toBe(201)
  })
})
