import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'

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
})
