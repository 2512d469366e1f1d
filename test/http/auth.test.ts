import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { apiKeys, sessions } from '../../src/core/staff/schema.ts'
import { sha256Hex } from '../../src/lib/secrets.ts'
import type { LoginPolicy } from '../../src/core/staff/auth.ts'

const policy: LoginPolicy = { slowAfter: 2, lockAfter: 5, lockMs: 60_000, delayMs: 150, maxDelayMs: 1000, sessionMs: 3600_000 }

describe('staff sign-in', () => {
  const hub = useTestHub()
  const api = () => createApi(hub, { loginPolicy: policy })

  it('signs in with email and password and answers /me as that user', async () => {
    const m = await seedMerchant(hub)
    const r = await api().post('/api/v1/auth/login', { email: m.adminEmail.toUpperCase(), password: m.password })
    expect(r.status).toBe(200)
    expect(r.body.token).toMatch(/^tbs_/)
    expect(r.body.user).toMatchObject({ id: m.adminId, role: 'admin' })
    expect(r.body.user).not.toHaveProperty('passwordHash')
    const me = await api().as(r.body.token).get('/api/v1/me')
    expect(me.status).toBe(200)
    expect(me.body.principal).toMatchObject({ type: 'user', id: m.adminId, role: 'admin' })
    expect(me.body.merchant.id).toBe(m.merchantId)
  })

  it('stores only a hash of the session token', async () => {
    const m = await seedMerchant(hub)
    const r = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    const [row] = await hub.database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256Hex(r.body.token)))
    expect(row).toBeDefined()
    expect(JSON.stringify(row)).not.toContain(r.body.token)
  })

  it('answers a wrong password and an unknown email the same way', async () => {
    const m = await seedMerchant(hub)
    const wrong = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: 'nope-nope' })
    const unknown = await api().post('/api/v1/auth/login', { email: 'ghost@example.com', password: 'nope-nope' })
    expect(wrong.status).toBe(401)
    expect(unknown.status).toBe(401)
    expect(wrong.body).toEqual(unknown.body)
  })

  it('slows down repeated failures, then locks the account for a while', async () => {
    const m = await seedMerchant(hub)
    const timings: number[] = []
    for (let i = 1; i <= 4; i++) {
      const t = performance.now()
      const r = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: `wrong-${i}` })
      timings.push(performance.now() - t)
      expect(r.status).toBe(401)
    }
    // Failures 3 and 4 are past slowAfter=2: they wait 150 ms, then 300 ms.
    expect(timings[2]!).toBeGreaterThanOrEqual(150)
    expect(timings[3]!).toBeGreaterThanOrEqual(300)
    const fifth = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: 'wrong-5' })
    expect(fifth.status).toBe(429)
    expect(fifth.body.error.code).toBe('login_locked')
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0)
    // Even the right password is refused while locked.
    const right = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    expect(right.status).toBe(429)
    const audit = await api().as(m.adminToken).get(`/api/v1/audit?entityId=${m.adminId}&action=auth.locked`)
    expect(audit.body.items).toHaveLength(1)
    // After the lock expires the right password works and the counter starts again.
    hub.setNow(new Date(Date.now() + 61_000))
    try {
      const later = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
      expect(later.status).toBe(200)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('counts parallel wrong guesses, so they cannot outrun the lock', async () => {
    const m = await seedMerchant(hub)
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => api().post('/api/v1/auth/login', { email: m.adminEmail, password: `guess-${i}` })))
    expect(results.filter((r) => r.status === 429).length).toBeGreaterThanOrEqual(4)
    const right = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    expect(right.status).toBe(429)
  })

  it('signing out ends the session', async () => {
    const m = await seedMerchant(hub)
    const { body } = await api().post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    expect((await api().as(body.token).post('/api/v1/auth/logout')).status).toBe(204)
    const after = await api().as(body.token).get('/api/v1/me')
    expect(after.status).toBe(401)
    expect(after.body.error.code).toBe('invalid_token')
  })

  it('a disabled user can no longer sign in, and their sessions end at once', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    expect((await api().as(m.adminToken).delete(`/api/v1/users/${cashier.id}`)).status).toBe(200)
    expect((await api().as(cashier.token).get('/api/v1/me')).status).toBe(401)
    expect((await api().post('/api/v1/auth/login', { email: cashier.email, password: m.password })).status).toBe(401)
  })
})

describe('API keys', () => {
  const hub = useTestHub()

  it('shows a key once, keeps only its hash, and authenticates with it until revoked', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const created = await api.post('/api/v1/api-keys', { name: 'till sync', role: 'manager' })
    expect(created.status).toBe(201)
    const key: string = created.body.key
    expect(key).toMatch(/^tbk_/)
    expect(created.body.apiKey.prefix).toBe(key.slice(0, 12))
    const [row] = await hub.database.db.select().from(apiKeys).where(eq(apiKeys.id, created.body.apiKey.id))
    expect(row!.tokenHash).toBe(sha256Hex(key))
    expect(JSON.stringify(row)).not.toContain(key)

    const list = await api.get('/api/v1/api-keys')
    expect(JSON.stringify(list.body)).not.toContain(key)
    expect(list.body.items.map((k: any) => k.id)).toContain(created.body.apiKey.id)

    const me = await createApi(hub).as(key).get('/api/v1/me')
    expect(me.status).toBe(200)
    expect(me.body.principal).toMatchObject({ type: 'api_key', role: 'manager', name: 'till sync' })
    expect(me.body.user).toBeNull()

    expect((await api.delete(`/api/v1/api-keys/${created.body.apiKey.id}`)).status).toBe(200)
    expect((await createApi(hub).as(key).get('/api/v1/me')).status).toBe(401)
  })

  it('an expired key no longer works', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const created = await api.post('/api/v1/api-keys', { name: 'short', role: 'cashier', expiresAt: new Date(Date.now() + 60_000).toISOString() })
    expect((await createApi(hub).as(created.body.key).get('/api/v1/me')).status).toBe(200)
    hub.setNow(new Date(Date.now() + 120_000))
    try {
      expect((await createApi(hub).as(created.body.key).get('/api/v1/me')).status).toBe(401)
    } finally {
      hub.setNow(undefined)
    }
    // A key that would be expired when made, or dated before 1900, is refused: it could never be used.
    const past = await api.post('/api/v1/api-keys', { name: 'late', role: 'cashier', expiresAt: new Date(Date.now() - 60_000).toISOString() })
    expect([past.status, past.body.error?.code]).toEqual([422, 'invalid_expiry'])
    const ancient = await api.post('/api/v1/api-keys', { name: 'old', role: 'cashier', expiresAt: '1899-01-01T00:00:00Z' })
    expect([ancient.status, ancient.body.error?.code]).toEqual([400, 'validation_failed'])
  })
})
