import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { pgError } from '../../src/db/errors.ts'

describe('staff users', () => {
  const hub = useTestHub()

  it('admins create, list, change and disable users, each step audited', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const created = await api.post('/api/v1/users', { email: ' Li.Na@Example.com ', name: '李娜', role: 'cashier', password: 'long-enough' })
    expect(created.status).toBe(201)
    expect(created.body).toMatchObject({ email: 'li.na@example.com', name: '李娜', role: 'cashier', status: 'active', locked: false })
    const id = created.body.id

    const dup = await api.post('/api/v1/users', { email: 'LI.NA@example.com', role: 'manager', password: 'long-enough' })
    expect(dup.status).toBe(409)
    expect(dup.body.error.code).toBe('email_taken')

    const promoted = await api.patch(`/api/v1/users/${id}`, { role: 'manager' })
    expect(promoted.body.role).toBe('manager')
    const disabled = await api.delete(`/api/v1/users/${id}`)
    expect(disabled.body.status).toBe('disabled')

    const active = await api.get('/api/v1/users?status=active')
    expect(active.body.items.map((u: any) => u.id)).not.toContain(id)

    const audit = await api.get(`/api/v1/audit?entityType=user&entityId=${id}`)
    expect(audit.body.items.map((e: any) => e.action)).toEqual(['user.disabled', 'user.role_changed', 'user.created'])
    expect(audit.body.items[1].details).toEqual({ role: { from: 'cashier', to: 'manager' } })
    expect(audit.body.items[1]).toMatchObject({ actorType: 'user', actorId: m.adminId })
  })

  it('pages through users with a cursor', async () => {
    const m = await seedMerchant(hub)
    for (let i = 0; i < 5; i++) await m.staff('cashier')
    const api = createApi(hub).as(m.adminToken)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const r: any = await api.get(`/api/v1/users?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(r.body.items.length).toBeLessThanOrEqual(2)
      seen.push(...r.body.items.map((u: any) => u.id))
      cursor = r.body.nextCursor
    } while (cursor)
    expect(seen).toHaveLength(6)
    expect(new Set(seen).size).toBe(6)
  })

  it('never leaves a merchant without an active admin', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    expect((await api.delete(`/api/v1/users/${m.adminId}`)).body.error.code).toBe('last_admin')
    const second = await m.staff('admin')
    // Two admins demoting each other at once: one must fail.
    const results = await Promise.all([
      api.patch(`/api/v1/users/${second.id}`, { role: 'cashier' }),
      createApi(hub).as(second.token).patch(`/api/v1/users/${m.adminId}`, { role: 'cashier' }),
    ])
    // One wins; the other is refused, as the last admin (409) or, if it came second, as a cashier already (403).
    expect(results.filter((r) => r.status === 200)).toHaveLength(1)
    expect(results.filter((r) => r.status === 409 || r.status === 403)).toHaveLength(1)
    const admins = await hub.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from users where merchant_id = ${m.merchantId} and role = 'admin' and status = 'active'`,
    )
    expect(admins.rows[0]!.n).toBe(1)
  })

  it('an admin can lift a login lockout', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    const api = createApi(hub, { loginPolicy: { slowAfter: 10, lockAfter: 2, lockMs: 600_000, delayMs: 0, maxDelayMs: 0, sessionMs: 60_000 } })
    await api.post('/api/v1/auth/login', { email: cashier.email, password: 'bad-1' })
    await api.post('/api/v1/auth/login', { email: cashier.email, password: 'bad-2' })
    const locked = await api.as(m.adminToken).get(`/api/v1/users/${cashier.id}`)
    expect(locked.body.locked).toBe(true)
    expect((await api.as(m.adminToken).patch(`/api/v1/users/${cashier.id}`, { unlock: true })).body.locked).toBe(false)
    expect((await api.post('/api/v1/auth/login', { email: cashier.email, password: m.password })).status).toBe(200)
  })
})

describe('audit log', () => {
  const hub = useTestHub()

  it('is append-only in the database itself', async () => {
    const m = await seedMerchant(hub)
    const refused = async (q: Promise<unknown>) => pgError(await q.then(() => undefined, (e: unknown) => e))
    expect(await refused(hub.database.db.execute(sql`update audit_log set action = 'forged' where merchant_id = ${m.merchantId}`))).toMatchObject({ message: 'audit_log is append-only' })
    expect(await refused(hub.database.db.execute(sql`delete from audit_log where merchant_id = ${m.merchantId}`))).toMatchObject({ message: 'audit_log is append-only' })
  })

  it('filters by action, actor and time, newest first, with a cursor', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const before = new Date().toISOString()
    for (let i = 0; i < 3; i++) await api.post('/api/v1/api-keys', { name: `k${i}`, role: 'cashier' })
    const r = await api.get(`/api/v1/audit?action=api_key.created&actorId=${m.adminId}&from=${encodeURIComponent(before)}&limit=2`)
    expect(r.body.items).toHaveLength(2)
    expect(r.body.items[0].details.name).toBe('k2')
    expect(r.body.items[0].requestId).toEqual(expect.any(String))
    const rest = await api.get(`/api/v1/audit?action=api_key.created&limit=2&cursor=${r.body.nextCursor}`)
    expect(rest.body.items.map((e: any) => e.details.name)).toEqual(['k0'])
    expect(rest.body.nextCursor).toBeNull()
    const future = await api.get(`/api/v1/audit?from=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`)
    expect(future.body.items).toEqual([])
  })
})

describe('merchant settings', () => {
  const hub = useTestHub()

  it('admins change currency, time zone and locale; bad values are refused', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const ok = await api.patch('/api/v1/merchant', { currency: 'hkd', timeZone: 'Asia/Hong_Kong', locale: 'zh-TW' })
    expect(ok.body).toMatchObject({ currency: 'HKD', timeZone: 'Asia/Hong_Kong', locale: 'zh-TW' })
    expect((await api.patch('/api/v1/merchant', { currency: 'XXY' })).body.error.code).toBe('invalid_currency')
    expect((await api.patch('/api/v1/merchant', { timeZone: 'Mars/Olympus' })).body.error.code).toBe('invalid_time_zone')
    // Current IANA names the runtime's own list may lack (it has their old aliases), and UTC by any of its names.
    for (const zone of ['Asia/Kolkata', 'Europe/Kyiv', 'Etc/UTC', 'UTC', 'Asia/Calcutta']) expect((await api.patch('/api/v1/merchant', { timeZone: zone })).body.timeZone, zone).toBe(zone)
    // A bare offset is no zone (and SQL would read it with the opposite sign).
    expect((await api.patch('/api/v1/merchant', { timeZone: '+08:00' })).body.error.code).toBe('invalid_time_zone')
    const cashier = await m.staff('cashier')
    expect((await createApi(hub).as(cashier.token).patch('/api/v1/merchant', { name: 'x' })).status).toBe(403)
    expect((await createApi(hub).as(cashier.token).get('/api/v1/merchant')).body.currency).toBe('HKD')
  })

  it('the currency cannot change once money was recorded in it: past sales would be read in the new one', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1200, stock: 5 })
    // Before any sale the currency may change (prices keep their numbers), and back.
    expect((await api.patch('/api/v1/merchant', { currency: 'JPY' })).body.currency).toBe('JPY')
    expect((await api.patch('/api/v1/merchant', { currency: 'CNY' })).body.currency).toBe('CNY')
    expect((await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1200 }] })).status).toBe(201)
    const refused = await api.patch('/api/v1/merchant', { currency: 'JPY', name: 'Renamed' })
    expect([refused.status, refused.body.error?.code]).toEqual([409, 'currency_in_use'])
    const now = (await api.get('/api/v1/merchant')).body
    expect([now.currency, now.name === 'Renamed']).toEqual(['CNY', false])
    // The same currency named again is no change.
    expect((await api.patch('/api/v1/merchant', { currency: 'cny', name: 'Renamed' })).body).toMatchObject({ currency: 'CNY', name: 'Renamed' })
  })

  it('the time zone cannot change while a cash session is open: the sales and refunds of the day it opened on would be dated another day', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const api = createApi(hub).as(m.adminToken)
    const store = await seedStore(hub, m.merchantId, { float: 0 })
    const refused = await api.patch('/api/v1/merchant', { timeZone: 'America/Los_Angeles', name: 'Renamed' })
    expect([refused.status, refused.body.error?.code, refused.body.error?.details]).toEqual([409, 'cash_sessions_open', { openSessions: 1 }])
    expect((await api.get('/api/v1/merchant')).body).toMatchObject({ timeZone: 'Asia/Shanghai', name: expect.not.stringMatching('Renamed') })
    // The zone named again is no change; anything else may change with a session open.
    expect((await api.patch('/api/v1/merchant', { timeZone: 'Asia/Shanghai', name: 'Renamed' })).status).toBe(200)
    const session = (await api.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
    expect((await api.post(`/api/v1/cash-sessions/${session.id}/close`, { countedCash: 0 })).status).toBe(200)
    expect((await api.patch('/api/v1/merchant', { timeZone: 'America/Los_Angeles' })).body.timeZone).toBe('America/Los_Angeles')
  })
})
