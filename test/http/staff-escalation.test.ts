// Nobody hands out more than they hold: a manager given the right to manage staff, keys or roles cannot make
// anyone (themselves included) an admin, mint an admin key, or grant a role permissions they lack; and a store's
// bridge key, which opens the bridge link only, is nobody's second person.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'

describe('handing out rights', () => {
  const hub = useTestHub()

  /** A merchant whose managers were given `extra` by its admin, and one such manager. */
  async function managerWith(extra: string[]) {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const matrix = (await admin.get('/api/v1/roles')).body
    const managerPermissions: string[] = matrix.roles.find((r: any) => r.role === 'manager').permissions
    expect((await admin.put('/api/v1/roles/manager', { permissions: [...managerPermissions, ...extra] })).status).toBe(200)
    const user = await m.staff('manager')
    return { m, admin, managerPermissions, user, manager: createApi(hub).as(user.token) }
  }
  const refused = (r: { status: number; body: any }) => [r.status, r.body.error?.code]

  it('a manager who manages staff cannot create an admin, promote themselves, or change an admin', async () => {
    const { m, user, manager } = await managerWith(['staff.manage'])
    expect(refused(await manager.post('/api/v1/users', { email: `boss-${Date.now()}@example.com`, name: 'Boss', role: 'admin', password: 'correct-horse-1' }))).toEqual([403, 'grants_exceeded'])
    expect(refused(await manager.patch(`/api/v1/users/${user.id}`, { role: 'admin' }))).toEqual([403, 'grants_exceeded'])
    expect(refused(await manager.patch(`/api/v1/users/${m.adminId}`, { password: 'taken-over-1234' }))).toEqual([403, 'grants_exceeded'])
    expect((await manager.get('/api/v1/api-keys')).status).toBe(403)
    // An admin's PIN would sign in at the till as the admin.
    expect(refused(await manager.put(`/api/v1/users/${m.adminId}/pin`, { pin: '4827' }))).toEqual([403, 'grants_exceeded'])
    expect(refused(await manager.delete(`/api/v1/users/${m.adminId}/pin`))).toEqual([403, 'grants_exceeded'])
    // Within their own rights it works.
    const cashier = await manager.post('/api/v1/users', { email: `till-${Date.now()}@example.com`, name: 'Till', role: 'cashier', password: 'correct-horse-1' })
    expect(cashier.status, JSON.stringify(cashier.body)).toBe(201)
  })

  it('a second person’s PIN lifts the check for the user’s role as it is and the role it becomes, each; the user changed approves nothing of it', async () => {
    const { m, manager } = await managerWith(['staff.manage'])
    const finance = await m.staff('finance')
    const target = await m.staff('finance')
    const admin = createApi(hub).as(m.adminToken)
    for (const [who, pin] of [[finance.id, '58291'], [target.id, '73914']] as const) expect((await admin.put(`/api/v1/users/${who}/pin`, { pin })).status).toBe(200)
    // A finance user's grants lift the check on the finance user as they are; admin's are beyond manager and finance
    // together, so the role it becomes is refused all the same.
    const promoted = await manager.patch(`/api/v1/users/${target.id}`, { role: 'admin' }, { headers: { 'X-Approver-Pin': '58291' } })
    expect(refused(promoted)).toEqual([403, 'grants_exceeded'])
    // Nor is the user changed a second person to their own change.
    const own = await manager.patch(`/api/v1/users/${target.id}`, { role: 'manager' }, { headers: { 'X-Approver-Pin': '73914' } })
    expect(refused(own)).toEqual([403, 'approver_is_subject'])
    const user = (await admin.get(`/api/v1/users/${target.id}`)).body
    expect(user.role).toBe('finance')
    // The existing session is still finance's.
    expect((await createApi(hub).as(target.token).post('/api/v1/api-keys', { name: 'mine', role: 'admin' })).status).toBe(403)
    // With another person's PIN, a change within both their grants goes through.
    const ok = await manager.patch(`/api/v1/users/${target.id}`, { role: 'cashier' }, { headers: { 'X-Approver-Pin': '58291' } })
    expect([ok.status, ok.body.role]).toEqual([200, 'cashier'])
  })

  it('a manager who manages keys cannot mint or revoke a key of a role above their own', async () => {
    const { admin, manager } = await managerWith(['apiKeys.manage'])
    expect(refused(await manager.post('/api/v1/api-keys', { name: 'x', role: 'admin' }))).toEqual([403, 'grants_exceeded'])
    const till = await manager.post('/api/v1/api-keys', { name: 'till', role: 'cashier' })
    expect(till.status).toBe(201)
    // The admin's integration key stays as it is.
    const integration = (await admin.post('/api/v1/api-keys', { name: 'erp', role: 'admin' })).body
    expect(refused(await manager.delete(`/api/v1/api-keys/${integration.apiKey.id}`))).toEqual([403, 'grants_exceeded'])
    expect((await createApi(hub).as(integration.key).get('/api/v1/api-keys')).status).toBe(200)
    expect((await manager.delete(`/api/v1/api-keys/${till.body.apiKey.id}`)).status).toBe(200)
  })

  it('a manager who manages roles cannot grant permissions they lack, nor change the admin role', async () => {
    const { admin, managerPermissions, manager } = await managerWith(['roles.manage'])
    const more = await manager.put('/api/v1/roles/manager', { permissions: [...managerPermissions, 'roles.manage', 'merchant.manage', 'apiKeys.manage', 'staff.manage'] })
    expect(refused(more)).toEqual([403, 'grants_exceeded'])
    expect(more.body.error.details.permissions).toEqual(expect.arrayContaining(['merchant.manage', 'apiKeys.manage', 'staff.manage']))
    expect(refused(await manager.put('/api/v1/roles/admin', { permissions: ['roles.manage', 'staff.manage'] }))).toEqual([403, 'grants_exceeded'])
    expect(refused(await manager.put('/api/v1/roles/cashier', { discountLimitBp: 10_000 }))).toEqual([403, 'grants_exceeded'])
    // Taking a permission away from a lower role is theirs to do; the admin may still grant anything.
    expect((await manager.put('/api/v1/roles/cashier', { permissions: [] })).status).toBe(200)
    expect((await admin.put('/api/v1/roles/manager', { permissions: [...managerPermissions, 'merchant.manage'] })).status).toBe(200)
  })

  it('a store’s bridge key is not a second person: refused as X-Approver-Token', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const bridge = await createApi(hub).as(m.adminToken).post(`/api/v1/stores/${store.storeId}/bridge-keys`, { name: 'bridge' })
    expect(bridge.status).toBe(201)
    const finance = createApi(hub).as((await m.staff('finance')).token)
    expect((await finance.get('/api/v1/devices')).status).toBe(403)
    expect(refused(await finance.get('/api/v1/devices', { headers: { 'X-Approver-Token': bridge.body.key } }))).toEqual([401, 'invalid_approver'])
  })
})
