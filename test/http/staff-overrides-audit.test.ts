import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'

// Staff and the audit log: a manager going beyond their own grants on an admin's PIN is on the log with the admin as
// approver; a demotion and a disable in one request are both on it; a user disabled stops at once; removed permissions
// hold on the next request; API keys expire and are revoked.
describe('staff, overrides and the audit log', () => {
  const hub = useTestHub()

  async function managerWith(extra: string[]) {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.put('/api/v1/roles/manager', { permissions: [...DEFAULT_ROLE_PERMISSIONS.manager, ...extra] })).status).toBe(200)
    expect((await admin.put(`/api/v1/users/${m.adminId}/pin`, { pin: '5917' })).status).toBe(200)
    const user = await m.staff('manager')
    return { m, admin, user, manager: createApi(hub).as(user.token) }
  }

  it('a user created as admin on an admin override names the admin as approver in the audit log', async () => {
    const { m, admin, user, manager } = await managerWith(['staff.manage'])
    const alone = await manager.post('/api/v1/users', { email: `boss-${Date.now()}@example.com`, name: 'Boss', role: 'admin', password: 'correct-horse-1' })
    expect(alone.status).toBe(403)
    const created = await manager.post('/api/v1/users', { email: `boss2-${Date.now()}@example.com`, name: 'Boss', role: 'admin', password: 'correct-horse-1' }, { headers: { 'X-Approver-Pin': '5917' } })
    expect(created.status).toBe(201)
    const audit = await admin.get(`/api/v1/audit?action=user.created&entityId=${created.body.id}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: user.id, approverId: m.adminId })])
  })

  it('an admin API key minted on an admin override names the admin as approver', async () => {
    const { m, admin, user, manager } = await managerWith(['apiKeys.manage'])
    const key = await manager.post('/api/v1/api-keys', { name: 'erp', role: 'admin' }, { headers: { 'X-Approver-Pin': '5917' } })
    expect(key.status).toBe(201)
    const audit = await admin.get(`/api/v1/audit?action=api_key.created&entityId=${key.body.apiKey.id}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: user.id, approverId: m.adminId })])
  })

  it('a role change beyond the manager’s own grants on an admin override names the admin', async () => {
    const { m, admin, user, manager } = await managerWith(['roles.manage'])
    const r = await manager.put('/api/v1/roles/cashier', { discountLimitBp: 9000 }, { headers: { 'X-Approver-Pin': '5917' } })
    expect(r.status).toBe(200)
    const audit = await admin.get('/api/v1/audit?action=role.permissions_changed&entityId=cashier')
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: user.id, approverId: m.adminId })])
  })

  it('a PATCH that demotes and disables a user at once is audited as a disable too', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const mgr = await m.staff('manager')
    const r = await admin.patch(`/api/v1/users/${mgr.id}`, { role: 'cashier', status: 'disabled' })
    expect(r.status).toBe(200)
    expect((await createApi(hub).as(mgr.token).get('/api/v1/me')).status).toBe(401)
    const disabled = await admin.get(`/api/v1/audit?action=user.disabled&entityId=${mgr.id}`)
    const all = await admin.get(`/api/v1/audit?entityType=user&entityId=${mgr.id}`)
    expect(disabled.body.items, JSON.stringify(all.body.items.map((e: any) => [e.action, e.details]))).toHaveLength(1)
  })

  it('disabling a user: sessions, PIN login, timeclock and approver PIN stop at once', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const mgr = await m.staff('manager')
    const cashier = await m.staff('cashier')
    expect((await admin.put(`/api/v1/users/${mgr.id}/pin`, { pin: '4096' })).status).toBe(200)
    const pinLogin = await createApi(hub).post('/api/v1/auth/pin', { registerId: store.registerId, pin: '4096' })
    expect(pinLogin.status).toBe(200)
    expect((await admin.delete(`/api/v1/users/${mgr.id}`)).status).toBe(200)
    expect((await createApi(hub).as(mgr.token).get('/api/v1/me')).status).toBe(401)
    expect((await createApi(hub).as(pinLogin.body.token).get('/api/v1/me')).status).toBe(401)
    expect((await createApi(hub).post('/api/v1/auth/pin', { registerId: store.registerId, pin: '4096' })).status).toBe(401)
    expect((await createApi(hub).post('/api/v1/timeclock', { registerId: store.registerId, pin: '4096', action: 'clock_in' })).status).toBe(401)
    const ov = await createApi(hub).as(cashier.token).get('/api/v1/sales', { headers: { 'X-Approver-Pin': '4096' } })
    expect(ov.status).toBe(401)
  })

  it('removing a permission holds for a signed-in user and an API key on the next request', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const mgr = await m.staff('manager')
    const key = (await admin.post('/api/v1/api-keys', { name: 'k', role: 'manager' })).body.key
    expect((await createApi(hub).as(mgr.token).get('/api/v1/reports/daily-sales?from=2024-01-01&to=2024-01-01')).status).not.toBe(403)
    const perms = DEFAULT_ROLE_PERMISSIONS.manager.filter((p) => p !== 'reports.read')
    expect((await admin.put('/api/v1/roles/manager', { permissions: perms })).status).toBe(200)
    const r1 = await createApi(hub).as(mgr.token).get('/api/v1/reports/daily-sales?from=2024-01-01&to=2024-01-01')
    const r2 = await createApi(hub).as(key).get('/api/v1/reports/daily-sales?from=2024-01-01&to=2024-01-01')
    expect([r1.status, r2.status]).toEqual([403, 403])
    // granting two at once holds both
    expect((await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'reports.read', 'audit.read'] })).status).toBe(200)
    const c = await m.staff('cashier')
    expect((await createApi(hub).as(c.token).get('/api/v1/audit')).status).toBe(200)
    expect((await createApi(hub).as(c.token).get('/api/v1/reports/daily-sales?from=2024-01-01&to=2024-01-01')).status).not.toBe(403)
  })

  it('api key expiry and revocation', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const k = (await admin.post('/api/v1/api-keys', { name: 'k', role: 'manager', expiresAt: new Date(Date.now() + 3600_000).toISOString() })).body
    expect((await createApi(hub).as(k.key).get('/api/v1/products')).status).toBe(200)
    hub.setNow(new Date(Date.now() + 2 * 3600_000))
    try {
      expect((await createApi(hub).as(k.key).get('/api/v1/products')).status).toBe(401)
    } finally {
      hub.setNow(undefined)
    }
    const k2 = (await admin.post('/api/v1/api-keys', { name: 'k2', role: 'manager' })).body
    expect((await admin.delete(`/api/v1/api-keys/${k2.apiKey.id}`)).status).toBe(200)
    expect((await createApi(hub).as(k2.key).get('/api/v1/products')).status).toBe(401)
    expect((await admin.delete(`/api/v1/api-keys/${k2.apiKey.id}`)).status).toBe(404)
    const other = await seedMerchant(hub)
    const k3 = (await admin.post('/api/v1/api-keys', { name: 'k3', role: 'manager' })).body
    expect((await createApi(hub).as(other.adminToken).delete(`/api/v1/api-keys/${k3.apiKey.id}`)).status).toBe(404)
  })
})
