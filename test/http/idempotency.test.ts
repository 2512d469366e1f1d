import { describe, expect, it } from 'vitest'
import { and, count, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { auditLog, users } from '../../src/core/staff/schema.ts'

describe('Idempotency-Key', () => {
  const hub = useTestHub()

  const countUsers = async (merchantId: string, email: string) =>
    (await hub.database.db.select({ n: count() }).from(users).where(and(eq(users.merchantId, merchantId), eq(users.email, email))))[0]!.n

  it('the same key and body replay the stored response; there is one effect', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const body = { email: 'once@example.com', role: 'cashier', password: 'long-enough', name: 'Once' }
    const first = await api.post('/api/v1/users', body, { headers: { 'idempotency-key': 'create-once' } })
    // Same body with keys in another order is the same request.
    const reordered = { name: 'Once', password: 'long-enough', role: 'cashier', email: 'once@example.com' }
    const second = await api.post('/api/v1/users', reordered, { headers: { 'idempotency-key': 'create-once' } })
    expect(first.status).toBe(201)
    expect(second.status).toBe(201)
    expect(second.body).toEqual(first.body)
    expect(second.headers.get('idempotent-replayed')).toBe('true')
    expect(await countUsers(m.merchantId, 'once@example.com')).toBe(1)
    const audits = await hub.database.db.select({ n: count() }).from(auditLog).where(and(eq(auditLog.action, 'user.created'), eq(auditLog.entityId, first.body.id)))
    expect(audits[0]!.n).toBe(1)
  })

  it('a response that shows a secret once is stored sealed and replayed only to its caller', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const other = createApi(hub).as((await m.staff('admin')).token)
    const store = { id: (await seedStore(hub, m.merchantId)).storeId }
    const calls: [string, unknown, (body: any) => string][] = [
      ['/api/v1/api-keys', { name: 'pos', role: 'cashier' }, (b) => b.key],
      ['/api/v1/webhook-subscriptions', { url: 'https://receiver.example/hooks', eventTypes: ['sale.completed'], enabled: false }, (b) => b.secret],
      [`/api/v1/stores/${store.id}/bridge-keys`, { name: 'bridge' }, (b) => b.key],
    ]
    for (const [path, body, secretOf] of calls) {
      const key = `once-${path}`
      const first = await api.post(path, body, { headers: { 'idempotency-key': key } })
      expect(first.status, JSON.stringify(first.body)).toBe(201)
      const secret = secretOf(first.body)
      expect(secret).toMatch(/.{20,}/)
      // Its caller retrying gets the same answer (the secret it has not seen yet, say, after a dropped connection).
      const again = await api.post(path, body, { headers: { 'idempotency-key': key } })
      expect([again.status, again.headers.get('idempotent-replayed'), secretOf(again.body)]).toEqual([201, 'true', secret])
      // Another caller with the same key and body does not get the secret.
      const theirs = await other.post(path, body, { headers: { 'idempotency-key': key } })
      expect([theirs.status, theirs.body.error?.code, JSON.stringify(theirs.body).includes(secret)]).toEqual([409, 'idempotency_key_not_yours', false])
    }
    const stored = await hub.database.db.execute(sql`select response_body from idempotency_keys where merchant_id = ${m.merchantId} and key like 'once-%'`)
    expect(stored.rows).toHaveLength(3)
    for (const r of stored.rows as { response_body: string }[]) expect(r.response_body).toMatch(/^v1:[^:]+:[^:]+:[^:]+:[^:]+$/)
  })

  it('a 204 answer is replayed as a 204 (a connection deleted, sent again with its key)', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const conn = await api.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_replay204' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const first = await api.delete(`/api/v1/connections/${conn.body.id}`, { headers: { 'idempotency-key': 'del-1' } })
    const again = await api.delete(`/api/v1/connections/${conn.body.id}`, { headers: { 'idempotency-key': 'del-1' } })
    expect([first.status, again.status, again.headers.get('idempotent-replayed')]).toEqual([204, 204, 'true'])
  })

  it("a key of another caller is not replayed on a route whose answer is the caller's own (their profile, their PIN), and sign-out keeps no key", async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const cashierUser = await m.staff('cashier')
    const cashier = createApi(hub).as(cashierUser.token)
    expect((await admin.patch('/api/v1/me', { locale: 'en' }, { headers: { 'idempotency-key': 'me-en' } })).status).toBe(200)
    const theirs = await cashier.patch('/api/v1/me', { locale: 'en' }, { headers: { 'idempotency-key': 'me-en' } })
    expect([theirs.status, theirs.body.error?.code]).toEqual([409, 'idempotency_key_not_yours'])
    // Its own key: its own change.
    const own = await cashier.patch('/api/v1/me', { locale: 'en' }, { headers: { 'idempotency-key': 'me-en-cashier' } })
    expect([own.status, own.body.user?.id ?? own.body.id]).toEqual([200, expect.any(String)])
    expect(JSON.stringify(own.body)).toContain(cashierUser.id)
    // Two sessions of one user signing out with one key: each ends its own session.
    const login = async () => (await createApi(hub).post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })).body.token as string
    const [t1, t2] = [await login(), await login()]
    for (const t of [t1, t2]) expect((await createApi(hub).as(t).post('/api/v1/auth/logout', undefined, { headers: { 'idempotency-key': 'bye' } })).status).toBe(204)
    for (const t of [t1, t2]) expect((await createApi(hub).as(t).get('/api/v1/me')).status).toBe(401)
  })

  it('the same key with a different body is refused with 422', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    await api.post('/api/v1/users', { email: 'k1@example.com', role: 'cashier', password: 'long-enough' }, { headers: { 'idempotency-key': 'k-1' } })
    const r = await api.post('/api/v1/users', { email: 'k2@example.com', role: 'cashier', password: 'long-enough' }, { headers: { 'idempotency-key': 'k-1' } })
    expect(r.status).toBe(422)
    expect(r.body.error.code).toBe('idempotency_key_reused')
    expect(await countUsers(m.merchantId, 'k2@example.com')).toBe(0)
  })

  it('concurrent duplicates produce one effect and the same answer', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const body = { email: 'race@example.com', role: 'manager', password: 'long-enough' }
    const results = await Promise.all(Array.from({ length: 6 }, () => api.post('/api/v1/users', body, { headers: { 'idempotency-key': 'race-1' } })))
    // The duplicates wait for the first to commit, then replay its response.
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201])
    expect(new Set(results.map((r) => r.body.id)).size).toBe(1)
    expect(results.filter((r) => r.headers.get('idempotent-replayed') === 'true')).toHaveLength(5)
    expect(await countUsers(m.merchantId, 'race@example.com')).toBe(1)
  })

  it('a failed request stores nothing, so the key can be retried once the cause is fixed', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const weak = await api.post('/api/v1/users', { email: 'retry@example.com', role: 'cashier', password: 'short' }, { headers: { 'idempotency-key': 'retry-1' } })
    expect(weak.status).toBe(422)
    expect(weak.body.error.code).toBe('weak_password')
    const again = await api.post('/api/v1/users', { email: 'retry@example.com', role: 'cashier', password: 'short' }, { headers: { 'idempotency-key': 'retry-1' } })
    expect(again.headers.get('idempotent-replayed')).toBeNull()
    expect(again.status).toBe(422)
  })

  it('an error part-way through a request leaves no partial write', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    // Demoting the only admin fails after the row was locked and read: nothing of it may remain.
    const r = await api.patch(`/api/v1/users/${m.adminId}`, { role: 'cashier', name: 'Renamed' })
    expect(r.status).toBe(409)
    expect(r.body.error.code).toBe('last_admin')
    const me = await api.get(`/api/v1/users/${m.adminId}`)
    expect(me.body).toMatchObject({ role: 'admin', name: m.adminEmail })
  })

  it('rejects a malformed key with 400', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).post('/api/v1/api-keys', { name: 'x', role: 'cashier' }, { headers: { 'idempotency-key': 'has space' } })
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe('invalid_idempotency_key')
  })
  it('a key lives 24 hours: after that it is free again, for another body or the same one', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const body = (email: string) => ({ email, role: 'cashier', password: 'long-enough' })
    const first = await api.post('/api/v1/users', body('day1@example.com'), { headers: { 'idempotency-key': 'daily' } })
    expect(first.status).toBe(201)
    const held = await api.post('/api/v1/users', body('day2@example.com'), { headers: { 'idempotency-key': 'daily' } })
    expect(held.status).toBe(422)
    // Not yet purged by the nightly job, but past its lifetime.
    await hub.database.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 minute' where merchant_id = ${m.merchantId} and key = 'daily'`)
    const fresh = await api.post('/api/v1/users', body('day2@example.com'), { headers: { 'idempotency-key': 'daily' } })
    expect(fresh.status).toBe(201)
    expect(fresh.headers.get('idempotent-replayed')).toBeNull()
    expect(await countUsers(m.merchantId, 'day2@example.com')).toBe(1)
    const replay = await api.post('/api/v1/users', body('day2@example.com'), { headers: { 'idempotency-key': 'daily' } })
    expect(replay.headers.get('idempotent-replayed')).toBe('true')
    expect(replay.body.id).toBe(fresh.body.id)
  })
})
