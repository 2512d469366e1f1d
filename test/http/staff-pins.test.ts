import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'

describe('till PINs over the API', () => {
  const hub = useTestHub()

  it('an admin sets and removes a PIN; responses say whether a user has one and never show it', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    const set = await admin.put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852' })
    expect(set.status).toBe(200)
    expect(set.body.hasPin).toBe(true)
    expect(JSON.stringify(set.body)).not.toMatch(/pinHmac|3852/)
    const list = await admin.get('/api/v1/users')
    expect(JSON.stringify(list.body)).not.toMatch(/pinHmac/)
    const cleared = await admin.delete(`/api/v1/users/${cashier.id}/pin`)
    expect(cleared.body.hasPin).toBe(false)
    const audit = await admin.get(`/api/v1/audit?entityId=${cashier.id}`)
    expect(audit.body.items.map((e: any) => e.action)).toEqual(expect.arrayContaining(['user.pin_set', 'user.pin_cleared']))
    expect(JSON.stringify(audit.body)).not.toContain('3852')
  })

  it('a user sets their own PIN only with their password, and nobody else’s', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    const colleague = await m.staff('cashier')
    const api = createApi(hub).as(cashier.token)
    expect((await api.put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852' })).body.error.code).toBe('password_required')
    expect((await api.put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852', password: 'wrong-password' })).status).toBe(403)
    const own = await api.put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852', password: m.password })
    expect(own.status).toBe(200)
    expect(own.body.hasPin).toBe(true)
    expect((await api.put(`/api/v1/users/${colleague.id}/pin`, { pin: '7391', password: m.password })).status).toBe(403)
    expect((await api.delete(`/api/v1/users/${colleague.id}/pin`)).status).toBe(403)
    expect((await api.delete(`/api/v1/users/${cashier.id}/pin`)).status).toBe(200)
  })

  it('refuses trivial, malformed and taken PINs', async () => {
    const m = await seedMerchant(hub)
    const a = await m.staff('cashier')
    const b = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    for (const pin of ['1111', '1234', '9876', '1212']) {
      const r = await admin.put(`/api/v1/users/${a.id}/pin`, { pin })
      expect({ pin, status: r.status, code: r.body.error?.code }).toEqual({ pin, status: 422, code: 'weak_pin' })
    }
    for (const pin of ['123', '123456789', 'abcd']) expect((await admin.put(`/api/v1/users/${a.id}/pin`, { pin })).status).toBe(400)
    expect((await admin.put(`/api/v1/users/${a.id}/pin`, { pin: '40718' })).status).toBe(200)
    const taken = await admin.put(`/api/v1/users/${b.id}/pin`, { pin: '40718' })
    expect(taken.status).toBe(409)
    expect(taken.body.error.code).toBe('pin_unavailable')
    // The same PIN in another merchant is fine.
    const other = await seedMerchant(hub)
    expect((await createApi(hub).as(other.adminToken).put(`/api/v1/users/${other.adminId}/pin`, { pin: '40718' })).status).toBe(200)
  })

  it('signs in at a register with a PIN, for a shorter session than a password gives', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const cashier = await m.staff('cashier')
    await createApi(hub).as(m.adminToken).put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852' })
    const now = new Date('2025-06-01T08:00:00Z')
    hub.setNow(now)
    try {
      const r = await createApi(hub).post('/api/v1/auth/pin', { registerId: store.registerId, pin: '3852' })
      expect(r.status).toBe(200)
      expect(r.body).toMatchObject({ registerId: store.registerId, user: { id: cashier.id, role: 'cashier' } })
      expect(new Date(r.body.expiresAt).getTime() - now.getTime()).toBe(8 * 3600_000)
      const me = await createApi(hub).as(r.body.token).get('/api/v1/me')
      expect(me.body.principal).toMatchObject({ id: cashier.id, role: 'cashier' })
      hub.setNow(new Date(now.getTime() + 8 * 3600_000 + 1000))
      expect((await createApi(hub).as(r.body.token).get('/api/v1/me')).status).toBe(401)
    } finally {
      hub.setNow(undefined)
    }
    const audit = await createApi(hub).as(m.adminToken).get('/api/v1/audit?action=auth.pin_login')
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: cashier.id, details: expect.objectContaining({ registerId: store.registerId }) })])
  })

  it('a PIN from another merchant, of a disabled user, or at an unknown register does not sign in', async () => {
    const m = await seedMerchant(hub)
    const other = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const gone = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    await createApi(hub).as(other.adminToken).put(`/api/v1/users/${other.adminId}/pin`, { pin: '6180' })
    await admin.put(`/api/v1/users/${gone.id}/pin`, { pin: '2718' })
    await admin.delete(`/api/v1/users/${gone.id}`)
    const api = createApi(hub)
    expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '6180' })).status).toBe(401)
    expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '2718' })).status).toBe(401)
    expect((await api.post('/api/v1/auth/pin', { registerId: '01890a5d-ac96-774b-bcce-b302099a8057', pin: '2718' })).body.error.code).toBe('invalid_pin')
  })

  it('locks a register after five wrong PINs for a few minutes (429 with Retry-After), auditing every attempt', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const other = await seedStore(hub, m.merchantId)
    const cashier = await m.staff('cashier')
    await createApi(hub).as(m.adminToken).put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852' })
    const api = createApi(hub)
    const now = new Date('2025-06-01T08:00:00Z')
    hub.setNow(now)
    try {
      for (let i = 0; i < 4; i++) expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: String(5000 + i) })).status).toBe(401)
      const fifth = await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '5004' })
      expect(fifth.status).toBe(429)
      expect(fifth.headers.get('retry-after')).toBe('300')
      const right = await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '3852' })
      expect(right.status).toBe(429)
      // Another register is not locked.
      expect((await api.post('/api/v1/auth/pin', { registerId: other.registerId, pin: '3852' })).status).toBe(200)
      hub.setNow(new Date(now.getTime() + 2 * 60_000))
      expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '3852' })).headers.get('retry-after')).toBe('180')
      hub.setNow(new Date(now.getTime() + 5 * 60_000 + 1000))
      expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '3852' })).status).toBe(200)
    } finally {
      hub.setNow(undefined)
    }
    const audit = await createApi(hub).as(m.adminToken).get(`/api/v1/audit?action=auth.pin_failed&entityId=${store.registerId}`)
    expect(audit.body.items).toHaveLength(7)
    expect(audit.body.items.filter((e: any) => e.details.reason === 'locked')).toHaveLength(2)
  })

  it('failures spread out beyond the window do not add up to a lock', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub)
    const start = new Date('2025-06-01T08:00:00Z').getTime()
    try {
      for (let i = 0; i < 8; i++) {
        hub.setNow(new Date(start + i * 16 * 60_000))
        expect((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '5555' })).status).toBe(401)
      }
    } finally {
      hub.setNow(undefined)
    }
  })

  it('counts parallel wrong guesses, so they cannot outrun the lock', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub)
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: String(6000 + i) })))
    expect(results.filter((r) => r.status === 401).length).toBeLessThanOrEqual(4)
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(8)
  })
})
