import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'
import { loadGrants, loadMatrix, setRoleGrants } from '../../../src/core/staff/matrix.ts'
import { DEFAULT_DISCOUNT_LIMIT_BP, DEFAULT_ROLE_PERMISSIONS, PERMISSIONS } from '../../../src/core/staff/permissions.ts'
import { roleLimits, rolePermissions } from '../../../src/core/staff/schema.ts'

describe('the permission matrix', () => {
  const hub = useTestHub()
  const db = () => hub.database.db

  it('is the defaults for a merchant that changed nothing', async () => {
    const m = await seedMerchant(hub)
    for (const role of ['cashier', 'manager', 'finance', 'admin'] as const) {
      const g = await loadGrants(db(), m.merchantId, role)
      expect([...g.permissions].sort()).toEqual([...DEFAULT_ROLE_PERMISSIONS[role]].sort())
      expect(g.discountLimitBp).toBe(DEFAULT_DISCOUNT_LIMIT_BP[role])
    }
    expect((await loadMatrix(db(), m.merchantId)).every((r) => !r.customised)).toBe(true)
  })

  it('stores only the differences from the defaults and overlays them for that merchant alone', async () => {
    const m = await seedMerchant(hub)
    const other = await seedMerchant(hub)
    const wanted = [...DEFAULT_ROLE_PERMISSIONS.cashier.filter((p) => p !== 'sales.discount'), 'sales.refund' as const]
    await db().transaction((tx) => setRoleGrants(tx, systemActor(m.merchantId), 'cashier', { permissions: wanted, discountLimitBp: 2500 }))
    const rows = await db().select().from(rolePermissions).where(eq(rolePermissions.merchantId, m.merchantId))
    expect(rows.map((r) => [r.permission, r.allowed]).sort()).toEqual([
      ['sales.discount', false],
      ['sales.refund', true],
    ])
    const g = await loadGrants(db(), m.merchantId, 'cashier')
    expect(g.permissions.has('sales.refund')).toBe(true)
    expect(g.permissions.has('sales.discount')).toBe(false)
    expect(g.discountLimitBp).toBe(2500)
    const untouched = await loadGrants(db(), other.merchantId, 'cashier')
    expect(untouched.permissions.has('sales.refund')).toBe(false)
    expect(untouched.discountLimitBp).toBe(DEFAULT_DISCOUNT_LIMIT_BP.cashier)

    // Back to the defaults: nothing stored any more.
    await db().transaction((tx) => setRoleGrants(tx, systemActor(m.merchantId), 'cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier], discountLimitBp: DEFAULT_DISCOUNT_LIMIT_BP.cashier }))
    expect(await db().select().from(rolePermissions).where(eq(rolePermissions.merchantId, m.merchantId))).toEqual([])
    expect(await db().select().from(roleLimits).where(eq(roleLimits.merchantId, m.merchantId))).toEqual([])
  })

  it('never takes roles.manage or staff.manage from admins, even if a row says so', async () => {
    const m = await seedMerchant(hub)
    const all = Object.keys(PERMISSIONS) as (keyof typeof PERMISSIONS)[]
    await expect(
      db().transaction((tx) => setRoleGrants(tx, systemActor(m.merchantId), 'admin', { permissions: all.filter((p) => p !== 'roles.manage') })),
    ).rejects.toMatchObject({ kind: 'invalid', code: 'admin_lockout' })
    await db().insert(rolePermissions).values({ merchantId: m.merchantId, role: 'admin', permission: 'staff.manage', allowed: false })
    expect((await loadGrants(db(), m.merchantId, 'admin')).permissions.has('staff.manage')).toBe(true)
  })

  it('ignores stored permissions the code no longer knows', async () => {
    const m = await seedMerchant(hub)
    await db().insert(rolePermissions).values({ merchantId: m.merchantId, role: 'cashier', permission: 'retired.permission', allowed: true })
    const g = await loadGrants(db(), m.merchantId, 'cashier')
    expect([...g.permissions].sort()).toEqual([...DEFAULT_ROLE_PERMISSIONS.cashier].sort())
  })
})
