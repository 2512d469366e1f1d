import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'

describe('the audit log of sensitive actions', () => {
  const hub = useTestHub()

  it('records every sensitive action with who did it and who approved it', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, cost: 400, stock: 20 })
    const spare = await seedProduct(hub, store, { price: 200 })
    const admin = createApi(hub).as(m.adminToken)
    const cashierUser = await m.staff('cashier')
    const managerUser = await m.staff('manager')
    await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '4096' })
    const cashier = createApi(hub).as(cashierUser.token)
    const manager = createApi(hub).as(managerUser.token)
    const withPin = { headers: { 'X-Approver-Pin': '4096' } }
    const ok = (r: { status: number; body: any }) => {
      expect(r.status, JSON.stringify(r.body)).toBeLessThan(300)
      return r.body
    }

    // Price and cost change; product deletion.
    ok(await manager.patch(`/api/v1/variants/${item.variantId}`, { price: 1100, cost: 450 }))
    ok(await manager.delete(`/api/v1/products/${spare.productId}`))
    // A discount over the cashier's limit, on a manager's PIN.
    const discounted = ok(await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 3000 } }], tenders: [{ kind: 'cash', amount: 770 }] }, withPin))
    // A refund by the cashier on the manager's PIN; a void by the manager.
    ok(await cashier.post(`/api/v1/sales/${discounted.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: discounted.lines[0].id, quantity: 1 }] }, withPin))
    const voided = ok(await manager.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1100 }] }))
    ok(await manager.post(`/api/v1/sales/${voided.id}/void`, { reason: 'rang up twice' }))
    // The drawer opened without a sale.
    ok(await cashier.post(`/api/v1/registers/${store.registerId}/drawer/open`, { reason: 'give change' }, withPin))
    // A stock adjustment and a posted count.
    ok(await manager.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ variantId: item.variantId, quantity: -1, reason: 'damaged' }] }))
    const count = ok(await manager.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [item.variantId] }))
    ok(await manager.post(`/api/v1/stock/counts/${count.id}/entries`, { lines: [{ variantId: item.variantId, quantity: 15 }] }))
    ok(await manager.post(`/api/v1/stock/counts/${count.id}/post`, {}))
    // A permission change.
    ok(await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'drawer.open'] }))

    const log = (await admin.get('/api/v1/audit?limit=500')).body.items as any[]
    const entry = (action: string) => {
      const found = log.filter((e) => e.action === action)
      expect(found, action).toHaveLength(1)
      expect(found[0].requestId, action).toEqual(expect.any(String))
      return found[0]
    }
    expect(entry('variant.price_changed')).toMatchObject({ actorId: managerUser.id, entityId: item.variantId, details: { price: { from: 1000, to: 1100 }, cost: { from: 400, to: 450 } } })
    expect(entry('product.archived')).toMatchObject({ actorId: managerUser.id, entityId: spare.productId })
    expect(entry('sale.manual_pricing')).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id, entityId: discounted.id })
    expect(entry('sale.refunded')).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id, entityId: discounted.id })
    expect(entry('sale.voided')).toMatchObject({ actorId: managerUser.id, entityId: voided.id, details: expect.objectContaining({ reason: 'rang up twice' }) })
    expect(entry('drawer.opened_without_sale')).toMatchObject({ actorId: cashierUser.id, approverId: managerUser.id, entityId: store.registerId })
    expect(entry('stock.adjusted')).toMatchObject({ actorId: managerUser.id, details: expect.objectContaining({ lossValue: -450 }) })
    expect(entry('stock.count_posted')).toMatchObject({ actorId: managerUser.id, entityId: count.id })
    expect(entry('role.permissions_changed')).toMatchObject({ actorId: m.adminId, entityId: 'cashier', details: expect.objectContaining({ granted: ['drawer.open'] }) })
  })
})
