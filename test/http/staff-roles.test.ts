import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS, PERMISSIONS } from '../../src/core/staff/permissions.ts'

describe('the permission matrix over the API', () => {
  const hub = useTestHub()

  it('lists every permission with its description, and per role whether it is allowed and the discount limit', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).get('/api/v1/roles')
    expect(r.status).toBe(200)
    expect(r.body.permissions.map((p: any) => p.permission)).toEqual(Object.keys(PERMISSIONS))
    const refund = r.body.permissions.find((p: any) => p.permission === 'sales.refund')
    expect(refund).toEqual({
      permission: 'sales.refund',
      description: PERMISSIONS['sales.refund'],
      roles: {
        cashier: { allowed: false, default: false },
        manager: { allowed: true, default: true },
        finance: { allowed: false, default: false },
        admin: { allowed: true, default: true },
      },
    })
    expect(r.body.roles.map((x: any) => [x.role, x.discountLimitBp, x.discountLimitPercent, x.customised])).toEqual([
      ['cashier', 1000, 10, false],
      ['manager', 5000, 50, false],
      ['finance', 0, 0, false],
      ['admin', 10_000, 100, false],
    ])
  })

  it('refuses a cashier what the matrix denies, and allows it on the next request after an admin changes the matrix', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const admin = createApi(hub).as(m.adminToken)
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })).body
    const refund = () => cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })

    const denied = await refund()
    expect(denied.status).toBe(403)
    expect(denied.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'sales.refund', role: 'cashier' } })
    expect((await cashier.get('/api/v1/me')).body.principal.permissions).not.toContain('sales.refund')

    const put = await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'sales.refund'] })
    expect(put.status).toBe(200)
    expect(put.body.roles.find((x: any) => x.role === 'cashier')).toMatchObject({ customised: true, permissions: expect.arrayContaining(['sales.refund']) })
    expect((await cashier.get('/api/v1/me')).body.principal.permissions).toContain('sales.refund')
    expect((await refund()).status).toBe(201)

    // And taken away again: the very next request is refused.
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier] })
    expect((await refund()).status).toBe(403)
  })

  it('a changed discount limit holds at the till from the next sale', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const cashier = createApi(hub).as((await m.staff('cashier')).token)
    const admin = createApi(hub).as(m.adminToken)
    const sell = () => cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 2000 } }], tenders: [{ kind: 'card', amount: 800 }] })
    expect((await sell()).body.error).toMatchObject({ code: 'discount_limit_exceeded', details: { limitBp: 1000 } })
    expect((await admin.put('/api/v1/roles/cashier', { discountLimitPercent: 25 })).status).toBe(200)
    expect((await sell()).status).toBe(201)
    expect((await admin.put('/api/v1/roles/cashier', { discountLimitBp: 1500 })).status).toBe(200)
    expect((await sell()).body.error).toMatchObject({ code: 'discount_limit_exceeded', details: { limitBp: 1500 } })
  })

  it('audits each change with the grants before and after', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    await admin.put('/api/v1/roles/finance', { permissions: ['catalog.read', 'sales.read', 'reports.read', 'audit.read', 'events.read', 'members.read', 'connections.read'], discountLimitBp: 500 })
    const audit = await admin.get('/api/v1/audit?action=role.permissions_changed')
    expect(audit.body.items).toHaveLength(1)
    expect(audit.body.items[0]).toMatchObject({
      actorId: m.adminId,
      entityType: 'role',
      entityId: 'finance',
      details: {
        granted: [],
        revoked: ['finance.export'],
        before: { permissions: expect.arrayContaining(['finance.export']), discountLimitBp: 0 },
        after: { discountLimitBp: 500 },
      },
    })
    expect(audit.body.items[0].details.after.permissions).not.toContain('finance.export')
  })

  it('will not let a merchant lock itself out, nor take odd input', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const all = Object.keys(PERMISSIONS)
    const lockout = await admin.put('/api/v1/roles/admin', { permissions: all.filter((p) => p !== 'staff.manage') })
    expect(lockout.status).toBe(422)
    expect(lockout.body.error).toMatchObject({ code: 'admin_lockout', details: { permissions: ['staff.manage'] } })
    expect((await admin.put('/api/v1/roles/admin', { permissions: all.filter((p) => p !== 'finance.export') })).status).toBe(200)
    expect((await admin.put('/api/v1/roles/cashier', { permissions: ['no.such'] })).status).toBe(400)
    expect((await admin.put('/api/v1/roles/cashier', { discountLimitBp: 100, discountLimitPercent: 1 })).status).toBe(400)
    expect((await admin.put('/api/v1/roles/cashier', { discountLimitPercent: 12.345 })).status).toBe(400)
    expect((await admin.put('/api/v1/roles/cashier', {})).status).toBe(400)
    expect((await admin.put('/api/v1/roles/owner', { discountLimitBp: 100 })).status).toBe(400)
    expect((await admin.get('/api/v1/audit?action=role.permissions_changed')).body.items).toHaveLength(1)
  })

  it('only callers with roles.manage may read or change the matrix', async () => {
    const m = await seedMerchant(hub)
    const manager = createApi(hub).as((await m.staff('manager')).token)
    expect((await manager.get('/api/v1/roles')).status).toBe(403)
    expect((await manager.put('/api/v1/roles/cashier', { discountLimitBp: 9000 })).status).toBe(403)
  })

  it('one merchant’s matrix never changes another’s', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    await createApi(hub).as(a.adminToken).put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'reports.read'] })
    const bCashier = createApi(hub).as((await b.staff('cashier')).token)
    expect((await bCashier.get('/api/v1/me')).body.principal.permissions).not.toContain('reports.read')
    const aCashier = createApi(hub).as((await a.staff('cashier')).token)
    expect((await aCashier.get('/api/v1/me')).body.principal.permissions).toContain('reports.read')
  })
})
