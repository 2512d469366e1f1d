import { describe, expect, it, afterEach } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import type { LoginPolicy } from '../../src/core/staff/auth.ts'

const policy: LoginPolicy = { slowAfter: 2, lockAfter: 5, lockMs: 60_000, delayMs: 10, maxDelayMs: 20, sessionMs: 3600_000 }

describe('sign-in and approver PIN throttles', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  it('approver PIN guessing: the caller sending their own PIN must not reset the approver-PIN failure count', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const cashierUser = await m.staff('cashier')
    const managerUser = await m.staff('manager')
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '4096' })).status).toBe(200)
    expect((await admin.put(`/api/v1/users/${cashierUser.id}/pin`, { pin: '3852' })).status).toBe(200)
    const cashier = createApi(hub).as(cashierUser.token)
    const body = { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 3000 } }], tenders: [{ kind: 'card', amount: 700 }] }
    const statuses: number[] = []
    let guess = 5000
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) statuses.push((await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': String(guess++) } })).status)
      // The caller's own PIN: refused as a self approval, and no reset of the count of wrong ones.
      const self = await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '3852' } })
      statuses.push(self.status)
    }
    // The 5th wrong guess within the window locks the caller out, and the lock holds.
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 403, 429])
    expect(statuses.slice(6).every((s) => s === 429)).toBe(true)
  })

  it('register PIN guessing: a colleague signing in with their own PIN must not reset the register failure count', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const cashier = await m.staff('cashier')
    await createApi(hub).as(m.adminToken).put(`/api/v1/users/${cashier.id}/pin`, { pin: '3852' })
    const api = createApi(hub)
    const statuses: number[] = []
    let guess = 5000
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 4; i++) statuses.push((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: String(guess++) })).status)
      statuses.push((await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '3852' })).status)
    }
    // After 5 wrong PINs within 15 minutes the register refuses PINs for 5 minutes, a colleague's right one too.
    expect(statuses.slice(0, 6)).toEqual([401, 401, 401, 401, 200, 429])
    expect(statuses.slice(6).every((s) => s === 429)).toBe(true)
  })

  it('register PIN: 5 wrong PINs each within 15 minutes of the one before lock it, however they straddle any window; 16 minutes apart they do not', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const api = createApi(hub)
    const start = new Date('2025-06-01T08:00:00Z').getTime()
    const at = async (minutes: number) => {
      hub.setNow(new Date(start + minutes * 60_000))
      return (await api.post('/api/v1/auth/pin', { registerId: store.registerId, pin: '5555' })).status
    }
    const apart = []
    for (let i = 0; i < 5; i++) apart.push(await at(i * 16))
    expect(apart).toEqual([401, 401, 401, 401, 401])
    // Four near the end of a quarter of an hour and four just after it: the fifth locks.
    const straddling = []
    for (const minute of [200, 214, 214.3, 214.6, 215.1, 215.3, 215.5]) straddling.push(await at(minute))
    expect(straddling).toEqual([401, 401, 401, 401, 429, 429, 429])
  })

  it('password lockout: after the lock has run out, one wrong password is not a fresh 15-minute lock', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub, { loginPolicy: policy })
    const t0 = new Date('2025-06-01T08:00:00Z').getTime()
    hub.setNow(new Date(t0))
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: `wrong-${i}` })).status)
    expect(statuses).toEqual([401, 401, 401, 401, 429])
    hub.setNow(new Date(t0 + 61_000))
    const typo = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'typo-after-lock' })
    // The lock has expired; the counter should start again (a single typo answers 401, not another lock)
    expect(typo.status).toBe(401)
  })

  it('password lockout: a lock after the first ran out is audited as auth.locked too', async () => {
    const m = await seedMerchant(hub)
    const api = createApi(hub, { loginPolicy: policy })
    const t0 = new Date('2025-06-01T08:00:00Z').getTime()
    hub.setNow(new Date(t0))
    for (let i = 0; i < 5; i++) await api.post('/api/v1/auth/login', { email: m.adminEmail, password: `wrong-${i}` })
    hub.setNow(new Date(t0 + 61_000))
    const again = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'typo-after-lock' })
    expect(again.status).toBe(401)
    // Four more wrong ones lock it again, and that lock is on the audit log too.
    for (let i = 0; i < 3; i++) expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: `again-${i}` })).status).toBe(401)
    expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'again-3' })).status).toBe(429)
    hub.setNow(undefined)
    const audit = await createApi(hub).as(await m.adminTokenNow()).get(`/api/v1/audit?entityId=${m.adminId}&action=auth.locked`)
    expect(audit.body.items).toHaveLength(2)
  })

  it('the password a user gives to set their own PIN counts toward the same lock as sign-in', async () => {
    const m = await seedMerchant(hub)
    const cashier = await m.staff('cashier')
    const api = createApi(hub, { loginPolicy: policy }).as(cashier.token)
    const guess = (password: string) => api.put(`/api/v1/users/${cashier.id}/pin`, { pin: '4096', password })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await guess(`guess-${i}`)).status)
    expect(statuses).toEqual([403, 403, 403, 403, 429])
    // Locked: the right password is refused too, and so is signing in.
    const locked = await guess(m.password)
    expect([locked.status, locked.body.error.code, locked.headers.get('retry-after')]).toEqual([429, 'login_locked', expect.any(String)])
    expect((await createApi(hub, { loginPolicy: policy }).post('/api/v1/auth/login', { email: cashier.email, password: m.password })).status).toBe(429)
    const audit = await createApi(hub).as(m.adminToken).get(`/api/v1/audit?entityId=${cashier.id}&action=auth.login_failed`)
    expect(audit.body.items).toHaveLength(5)
  })

  it('password failures counted per account, reset after success, Retry-After given', async () => {
    const m = await seedMerchant(hub)
    const other = await m.staff('cashier')
    const api = createApi(hub, { loginPolicy: policy })
    for (let i = 0; i < 4; i++) expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: `x-${i}` })).status).toBe(401)
    // another account not affected
    expect((await api.post('/api/v1/auth/login', { email: other.email, password: m.password })).status).toBe(200)
    expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })).status).toBe(200)
    for (let i = 0; i < 4; i++) expect((await api.post('/api/v1/auth/login', { email: m.adminEmail, password: `y-${i}` })).status).toBe(401)
    const locked = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'y-5' })
    expect(locked.status).toBe(429)
    expect(locked.headers.get('retry-after')).toBe('60')
    const whileLocked = await api.post('/api/v1/auth/login', { email: m.adminEmail, password: 'y-6' })
    expect(whileLocked.status).toBe(429)
    expect(Number(whileLocked.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})
