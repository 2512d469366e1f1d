import { describe, expect, it, afterEach } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'

const sh = (local: string) => new Date(`${local}+08:00`)

// Approvals, voids on a manager's PIN, the time clock under a clock set back, and the audit log's filters and pages
// (`to` names the entry of its own millisecond).
describe('approvals, the time clock and audit filters', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  async function shop() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, cost: 500, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    await admin.put('/api/v1/roles/cashier', { permissions: [...DEFAULT_ROLE_PERMISSIONS.cashier, 'catalog.manage', 'stock.adjust', 'sales.refund'] })
    expect((await admin.patch('/api/v1/merchant/settings', { approvals: { priceChange: true, refundOverAmount: 1500 } })).status).toBe(200)
    const cashierUser = await m.staff('cashier')
    const cashier2User = await m.staff('cashier')
    const managerUser = await m.staff('manager')
    await admin.put(`/api/v1/users/${managerUser.id}/pin`, { pin: '4096' })
    await admin.put(`/api/v1/users/${cashierUser.id}/pin`, { pin: '3852' })
    return { m, store, item, admin, cashierUser, cashier2User, managerUser, cashier: createApi(hub).as(cashierUser.token), cashier2: createApi(hub).as(cashier2User.token), manager: createApi(hub).as(managerUser.token) }
  }

  it('users list with a malformed cursor is a 400, not a 500', async () => {
    const m = await seedMerchant(hub)
    const r = await createApi(hub).as(m.adminToken).get('/api/v1/users?cursor=abc')
    expect(r.status, JSON.stringify(r.body)).toBe(400)
  })

  it('a second cashier approves with a manager PIN; the requester cannot, even with the PIN', async () => {
    const { item, admin, cashier, cashier2, cashierUser, cashier2User, managerUser } = await shop()
    const held = (await cashier.patch(`/api/v1/variants/${item.variantId}`, { price: 1200 })).body.approval
    expect(held.status).toBe('pending')
    const own = await cashier.post(`/api/v1/approvals/${held.id}/approve`, {}, { headers: { 'X-Approver-Pin': '4096' } })
    expect(own.status).toBe(403)
    const ok = await cashier2.post(`/api/v1/approvals/${held.id}/approve`, {}, { headers: { 'X-Approver-Pin': '4096' } })
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(ok.body).toMatchObject({ status: 'approved', decidedBy: managerUser.id })
    const a = await admin.get(`/api/v1/audit?action=approval.approved&entityId=${held.id}`)
    expect(a.body.items).toEqual([expect.objectContaining({ actorId: cashier2User.id, approverId: managerUser.id })])
    const c = await admin.get(`/api/v1/audit?action=variant.price_changed&entityId=${item.variantId}`)
    expect(c.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])
    const req = await admin.get(`/api/v1/audit?action=approval.requested&entityId=${held.id}`)
    expect(req.body.items).toHaveLength(1)
  })

  it('a held refund: audit entries once each; approving twice is 409', async () => {
    const { item, store, admin, cashier, manager, cashierUser, managerUser } = await shop()
    const sale = (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 4 }], tenders: [{ kind: 'cash', amount: 4000 }] })).body
    const held = await cashier.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 2 }] })
    expect(held.status).toBe(202)
    const refundedBefore = await admin.get(`/api/v1/audit?action=sale.refunded&entityId=${sale.id}`)
    expect(refundedBefore.body.items).toHaveLength(0)
    const ok = await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(ok.body.status).toBe('approved')
    expect((await manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})).status).toBe(409)
    const refunded = await admin.get(`/api/v1/audit?action=sale.refunded&entityId=${sale.id}`)
    expect(refunded.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])
    const s = (await admin.get(`/api/v1/sales/${sale.id}`)).body
    expect(s.refunds).toHaveLength(1)
    expect(s.refunds[0].total).toBe(2000)
  })

  it('the audit `to` filter includes the entry whose own `at` it names', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const key = (await admin.post('/api/v1/api-keys', { name: 'edge', role: 'cashier' })).body
    const entry = (await admin.get(`/api/v1/audit?action=api_key.created&entityId=${key.apiKey.id}`)).body.items[0]
    const upTo = (await admin.get(`/api/v1/audit?entityId=${key.apiKey.id}&to=${encodeURIComponent(entry.at)}`)).body.items
    const from = (await admin.get(`/api/v1/audit?entityId=${key.apiKey.id}&from=${encodeURIComponent(entry.at)}`)).body.items
    expect(from.map((e: any) => e.id)).toEqual([entry.id])
    expect(upTo.map((e: any) => e.id)).toEqual([entry.id])
  })

  it('a void with a manager override names the manager', async () => {
    const { item, store, admin, cashier, cashierUser, managerUser } = await shop()
    const sale = (await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1000 }] })).body
    expect((await cashier.post(`/api/v1/sales/${sale.id}/void`, { reason: 'mistake' })).status).toBe(403)
    const v = await cashier.post(`/api/v1/sales/${sale.id}/void`, { reason: 'mistake' }, { headers: { 'X-Approver-Pin': '4096' } })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    const a = await admin.get(`/api/v1/audit?action=sale.voided&entityId=${sale.id}`)
    expect(a.body.items).toEqual([expect.objectContaining({ actorId: cashierUser.id, approverId: managerUser.id })])
  })

  it('clock set back cannot make overlapping or negative shifts; hours add up', async () => {
    const { store, admin, cashierUser } = await shop()
    const api = createApi(hub)
    const at = async (local: string, action: string) => {
      hub.setNow(sh(local))
      return api.post('/api/v1/timeclock', { registerId: store.registerId, pin: '3852', action })
    }
    expect((await at('2025-03-10T22:00:00', 'clock_in')).status).toBe(201)
    expect((await at('2025-03-10T23:30:00', 'break_start')).status).toBe(201)
    expect((await at('2025-03-11T00:30:00', 'break_end')).status).toBe(201)
    expect((await at('2025-03-11T02:00:00', 'clock_out')).status).toBe(201)
    // clock set back: a new shift "before" the last one
    expect((await at('2025-03-11T01:00:00', 'clock_in')).status).toBe(201)
    expect((await at('2025-03-11T01:30:00', 'clock_out')).status).toBe(201)
    hub.setNow(undefined)
    const h = await admin.get(`/api/v1/timeclock/hours?from=2025-03-10&to=2025-03-11&userId=${cashierUser.id}`)
    expect(h.status).toBe(200)
    const p = h.body.people[0]
    // first shift 4h less 1h break = 180 worked; second shift clamped to 02:00..02:00 = 0
    expect(p).toMatchObject({ workedMinutes: 180, breakMinutes: 60 })
    expect(p.days).toEqual([
      { date: '2025-03-10', workedMinutes: 90, breakMinutes: 30 },
      { date: '2025-03-11', workedMinutes: 90, breakMinutes: 30 },
    ])
    const d1 = await admin.get(`/api/v1/timeclock/hours?from=2025-03-11&to=2025-03-11&userId=${cashierUser.id}`)
    expect(d1.body.people[0]).toMatchObject({ workedMinutes: 90, breakMinutes: 30 })
  })

  it('audit log pages without loss or repeats, and filters by time', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    for (let i = 0; i < 7; i++) await admin.post('/api/v1/api-keys', { name: `k${i}`, role: 'cashier' })
    const all = (await admin.get('/api/v1/audit?action=api_key.created&limit=500')).body.items
    expect(all).toHaveLength(7)
    const seen: number[] = []
    let cursor: string | null = null
    do {
      const r: any = await admin.get(`/api/v1/audit?action=api_key.created&limit=3${cursor ? `&cursor=${cursor}` : ''}`)
      seen.push(...r.body.items.map((e: any) => e.id))
      cursor = r.body.nextCursor
    } while (cursor)
    expect(seen).toEqual(all.map((e: any) => e.id))
    const other = await seedMerchant(hub)
    expect((await createApi(hub).as(other.adminToken).get('/api/v1/audit?action=api_key.created')).body.items).toHaveLength(0)
  })
})
