// What segments read of a member's purchases: the last purchase is their last sale still standing (a voided sale is
// no purchase), and the spend in a window is what they paid, net of refunds, as a tier's rolling spend is.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1398${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('segments over last purchase and spend', () => {
  const hub = useTestHub()

  async function setup() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    expect(member.id, JSON.stringify(member)).toBeDefined()
    const item = await seedProduct(hub, store, { price: 5000, stock: 20 })
    const sell = async (quantity = 1) => {
      const r = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: item.sku, quantity }], tenders: [{ kind: 'card', amount: 5000 * quantity }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body
    }
    const count = async (rule: unknown) => {
      const r = await admin.post('/api/v1/segments/preview', { rule })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body.count as number
    }
    return { m, store, admin, member, sell, count }
  }

  it('a member whose only sale was voided has never purchased', async () => {
    const s = await setup()
    const sale = await s.sell()
    expect(await s.count({ lastPurchase: { after: 30 } })).toBe(1)
    const v = await s.admin.post(`/api/v1/sales/${sale.id}/void`, { reason: 'mistake' })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    expect((await s.admin.get(`/api/v1/members/${s.member.id}`)).body.lastPurchaseAt).toBeNull()
    expect(await s.count({ lastPurchase: { never: true } })).toBe(1)
    expect(await s.count({ lastPurchase: { after: 30 } })).toBe(0)
  })

  it('voiding the latest sale makes the sale before it the last purchase', async () => {
    const s = await setup()
    const first = await s.sell()
    const second = await s.sell()
    expect((await s.admin.post(`/api/v1/sales/${second.id}/void`, { reason: 'mistake' })).status).toBe(200)
    const got = (await s.admin.get(`/api/v1/members/${s.member.id}`)).body
    expect(got.lastPurchaseAt).toBe(first.occurredAt)
    expect(await s.count({ lastPurchase: { after: 30 } })).toBe(1)
  })

  it('spend over a window is net of refunds', async () => {
    const s = await setup()
    const sale = await s.sell(2)
    const refund = await s.admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: s.store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(refund.status, JSON.stringify(refund.body)).toBe(201)
    expect(await s.count({ spend: { days: 30, min: 5000, max: 5000 } })).toBe(1)
    const rest = await s.admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: s.store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })
    expect(rest.status, JSON.stringify(rest.body)).toBe(201)
    expect(await s.count({ spend: { days: 30, min: 1 } })).toBe(0)
    // The sale still counts as a visit.
    expect(await s.count({ frequency: { days: 30, min: 1 } })).toBe(1)
  })

  it('spend over a window is what was paid, with the cash rounding', async () => {
    const s = await setup()
    await setSettings(hub, s.m.merchantId, { cashRounding: { unit: 10, mode: 'half_up' } })
    const item = await seedProduct(hub, s.store, { price: 333, stock: 10 })
    // 3 × 3.33 = 9.99, paid in cash as 10.00 (+1).
    const sale = (await s.admin.post('/api/v1/sales', { registerId: s.store.registerId, memberId: s.member.id, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 1000 }] })).body
    expect(sale).toMatchObject({ total: 999, roundingAdjustment: 1 })
    expect(await s.count({ spend: { days: 30, min: 1000, max: 1000 } })).toBe(1)
  })
})
