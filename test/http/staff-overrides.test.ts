import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('manager override', () => {
  const hub = useTestHub()

  /** A shop with a cashier, a manager with PIN 4096 and a sold item. */
  async function shop() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const cashierUser = await m.staff('cashier')
    const managerUser = await m.staff('manager')
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '4096' })).status).toBe(200)
    return { m, store, item, admin, cashierUser, managerUser, cashier: createApi(hub).as(cashierUser.token) }
  }

  const salesCount = async (merchantId: string) => Number((await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${merchantId}`)).rows[0]!.n)

  it('a cashier gives a 30 % discount with a manager’s PIN; the sale and its audit entry name the manager', async () => {
    const { m, store, item, admin, cashier, cashierUser, managerUser } = await shop()
    const body = { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 3000 } }], tenders: [{ kind: 'card', amount: 700 }] }
    const alone = await cashier.post('/api/v1/sales', body)
    expect(alone.status).toBe(403)
    expect(alone.body.error.code).toBe('discount_limit_exceeded')

    const sale = await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '4096' } })
    expect(sale.status).toBe(201)
    expect(sale.body).toMatchObject({ total: 700, cashierId: cashierUser.id, approverId: managerUser.id })
    const audit = await admin.get(`/api/v1/audit?action=sale.manual_pricing&entityId=${sale.body.id}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])
    expect(await salesCount(m.merchantId)).toBe(1)
  })

  it('a discount within the cashier’s own limit does not name the manager even when a PIN was sent', async () => {
    const { store, item, cashier } = await shop()
    const sale = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 500 } }], tenders: [{ kind: 'card', amount: 950 }] }, { headers: { 'X-Approver-Pin': '4096' } })
    expect(sale.status).toBe(201)
    expect(sale.body.approverId).toBeNull()
  })

  it('a cashier refunds with a manager’s token; the refund and the audit log name both people', async () => {
    const { store, item, admin, cashier, cashierUser, managerUser } = await shop()
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] })).body
    const body = { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], reason: 'broken' }
    expect((await cashier.post(`/api/v1/sales/${sale.id}/refunds`, body)).status).toBe(403)

    const r = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, body, { headers: { 'X-Approver-Token': managerUser.token } })
    expect(r.status).toBe(201)
    const refund = r.body.sale.refunds[0]
    expect(refund).toMatchObject({ total: 1000, createdBy: cashierUser.id, approvedBy: managerUser.id })
    const audit = await admin.get(`/api/v1/audit?action=sale.refunded&entityId=${sale.id}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])
  })

  it('a wrong PIN is 401 and nothing is written; repeated wrong PINs lock the caller out of approver PINs', async () => {
    const { m, store, item, admin, cashier, cashierUser } = await shop()
    const body = { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 3000 } }], tenders: [{ kind: 'card', amount: 700 }] }
    for (let i = 0; i < 4; i++) {
      const r = await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '9999' } })
      expect(r.status).toBe(401)
      expect(r.body.error.code).toBe('invalid_approver')
    }
    const fifth = await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '9998' } })
    expect(fifth.status).toBe(429)
    expect(Number(fifth.headers.get('retry-after'))).toBeGreaterThan(0)
    // Locked: even the right PIN is refused for now.
    expect((await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '4096' } })).status).toBe(429)
    expect(await salesCount(m.merchantId)).toBe(0)
    const failures = await admin.get(`/api/v1/audit?action=auth.approver_pin_failed&actorId=${cashierUser.id}`)
    expect(failures.body.items).toHaveLength(5)

    // Once the lock has run out, the right PIN works again.
    hub.setNow(new Date(Date.now() + 6 * 60_000))
    try {
      expect((await cashier.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '4096' } })).status).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
  })

  it('an approver who lacks the permission does not help (403)', async () => {
    const { m, store, item, admin, cashier } = await shop()
    const other = await m.staff('cashier')
    await admin.put(`/api/v1/users/${other.id}/pin`, { pin: '5173' })
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })).body
    const r = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }, { headers: { 'X-Approver-Pin': '5173' } })
    expect(r.status).toBe(403)
    expect(r.body.error).toMatchObject({ code: 'permission_denied', details: { permission: 'sales.refund', role: 'cashier', approverRole: 'cashier' } })
    const discount = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 3000 } }], tenders: [{ kind: 'card', amount: 700 }] }, { headers: { 'X-Approver-Pin': '5173' } })
    expect(discount.status).toBe(403)
    expect((await admin.get(`/api/v1/sales/${sale.id}`)).body.refunds).toEqual([])
  })

  it('an override takes two people, of the same merchant', async () => {
    const { store, item, managerUser } = await shop()
    const elsewhere = await seedMerchant(hub)
    const manager = createApi(hub).as(managerUser.token)
    const body = { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] }
    const self = await manager.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '4096' } })
    expect(self.status).toBe(403)
    expect(self.body.error.code).toBe('self_approval')
    const foreign = await manager.post('/api/v1/sales', body, { headers: { 'X-Approver-Token': elsewhere.adminToken } })
    expect(foreign.status).toBe(401)
    expect((await manager.post('/api/v1/sales', body, { headers: { 'X-Approver-Pin': '4096', 'X-Approver-Token': elsewhere.adminToken } })).status).toBe(400)
  })

  it('opening the drawer without a sale needs drawer.open or a manager’s override, and is audited with both people', async () => {
    const { store, admin, cashier, cashierUser, managerUser } = await shop()
    const denied = await cashier.post(`/api/v1/registers/${store.registerId}/drawer/open`, { reason: 'change for the float' })
    expect(denied.status).toBe(403)
    const opened = await cashier.post(`/api/v1/registers/${store.registerId}/drawer/open`, { reason: 'change for the float' }, { headers: { 'X-Approver-Pin': '4096' } })
    expect(opened.status).toBe(201)
    expect(opened.body).toMatchObject({ registerId: store.registerId, approverId: managerUser.id })
    const audit = await admin.get('/api/v1/audit?action=drawer.opened_without_sale')
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id, entityId: store.registerId, details: expect.objectContaining({ reason: 'change for the float' }) })])
    const events = await admin.get('/api/v1/events?type=drawer.open_requested')
    expect(events.body.items).toEqual([expect.objectContaining({ entityId: store.registerId, data: expect.objectContaining({ requestedBy: cashierUser.id, approverId: managerUser.id }) })])
    expect((await cashier.post(`/api/v1/registers/01890a5d-ac96-774b-bcce-b302099a8057/drawer/open`, { reason: 'x' }, { headers: { 'X-Approver-Pin': '4096' } })).status).toBe(404)
  })

  it('cash paid out on a manager’s override names the manager on the drawer’s ledger and in the audit log', async () => {
    const { m, store, admin, cashier, managerUser } = await shop()
    const sessionId = (await hub.database.db.execute(sql`select id from cash_sessions where register_id = ${store.registerId} and status = 'open'`)).rows[0]!.id
    expect((await cashier.post(`/api/v1/cash-sessions/${sessionId}/movements`, { kind: 'paid_out', amount: 500, reason: 'milk' })).status).toBe(403)
    const r = await cashier.post(`/api/v1/cash-sessions/${sessionId}/movements`, { kind: 'paid_out', amount: 500, reason: 'milk' }, { headers: { 'X-Approver-Token': managerUser.token } })
    expect(r.status).toBe(201)
    const row = (await hub.database.db.execute(sql`select approver_id from cash_movements where merchant_id = ${m.merchantId} and kind = 'paid_out'`)).rows[0]
    expect(row).toEqual({ approver_id: managerUser.id })
    expect((await admin.get('/api/v1/audit?action=cash.paid_out')).body.items[0].approverId).toBe(managerUser.id)
  })
})
