import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore, setSettings } from '../helpers/pos.ts'

let phones = 0
const phone = () => `1374${String(process.pid % 1000).padStart(3, '0')}${String(++phones).padStart(4, '0')}`

describe('member sales made offline', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  const base = () => {
    const shanghai = new Date(Date.now() + 8 * 3600_000)
    return Date.now() - (shanghai.getUTCHours() === 0 ? 3600_000 : 0)
  }

  async function till() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openedAt: new Date(base() - 2 * 3600_000) })
    const item = await seedProduct(hub, store, { price: 1500, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: phone() })).body
    return { m, store, item, admin, member }
  }
  const offline = (registerId: string, sku: string, minutesAgo: number, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    occurredAt: new Date(base() - minutesAgo * 60_000).toISOString(),
    registerId,
    lines: [{ sku, quantity: 1, unitPrice: 1500 }],
    tenders: [{ kind: 'cash', amount: 1500 }],
    ...extra,
  })

  it('an offline member sale the till under-collected earns points on what was paid, not on the amount due', async () => {
    const { store, item, admin, member } = await till()
    // The till took 14.00 by card for a 15.00 sale.
    const s = offline(store.registerId, item.sku, 5, { memberId: member.id, tenders: [{ kind: 'card', amount: 1400 }] })
    const r = await admin.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const sale = (await admin.get(`/api/v1/sales/${s.id}`)).body
    expect(sale.tenderDifference).toBe(-100)
    // Points are earned on the net paid amount (1 point per ¥1): 14, not 15.
    expect(sale.pointsEarned).toBe(14)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.points.balance).toBe(14)
  })

  it('an offline cash sale for a member whose tier changed online before the upload: the till’s price stands and the drawer gets what it took', async () => {
    const { store, item, admin, member } = await till()
    await admin.post('/api/v1/tiers', { code: 'normal', name: 'Normal', rank: 0, minSpend: 0 })
    const gold = await admin.post('/api/v1/tiers', { code: 'gold', name: 'Gold', rank: 1, minSpend: 100_000, discountBp: 1000 })
    expect(gold.status).toBe(201)
    const big = await seedProduct(hub, store, { price: 100_000, stock: 10 })
    // Reviewed as normal (no discount) when the offline sale was made.
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier?.code ?? 'normal').toBe('normal')
    // Offline at 30 minutes ago: 15.00 charged, customer handed 20.00, got 5.00 change.
    const s = offline(store.registerId, item.sku, 30, { memberId: member.id, tenders: [{ kind: 'cash', amount: 2000 }] })
    // Online, meanwhile: a big card sale moves the member up to gold (10 % off).
    const online = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.id, lines: [{ sku: big.sku }], tenders: [{ kind: 'card', amount: 100_000 }] })
    expect(online.status, JSON.stringify(online.body)).toBe(201)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.tier.code).toBe('gold')
    const sessionId = online.body.sessionId
    const cashBefore = (await admin.get(`/api/v1/cash-sessions/${sessionId}/report`)).body.cash.expected
    const r = await admin.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const sale = (await admin.get(`/api/v1/sales/${s.id}`)).body
    const cashAfter = (await admin.get(`/api/v1/cash-sessions/${sessionId}/report`)).body.cash.expected
    // The till took 15.00 into the drawer and gave 5.00 change: the drawer holds 15.00 more.
    expect({ total: sale.total, changeGiven: sale.changeGiven, drawer: cashAfter - cashBefore, warnings: r.body.results[0].warnings.map((w: any) => w.code) }).toEqual({
      total: 1500,
      changeGiven: 500,
      drawer: 1500,
      warnings: [],
    })
  })

  it('offline stored value / coupon / points are refused and kept as rejections; the rest of the batch goes in', async () => {
    const { m, store, item, admin, member } = await till()
    const sv = offline(store.registerId, item.sku, 10, { memberId: member.id, tenders: [{ kind: 'stored_value', amount: 1500 }] })
    const pts = offline(store.registerId, item.sku, 9, { memberId: member.id, redeemPoints: 100 })
    const ok = offline(store.registerId, item.sku, 8, { memberId: member.id })
    const r = await admin.post('/api/v1/sales/batch', { sales: [sv, pts, ok] })
    expect(r.status).toBe(200)
    expect(r.body.results.map((x: any) => [x.status, x.code])).toEqual([
      ['rejected', 'offline_redemption'],
      ['rejected', 'offline_redemption'],
      ['accepted', undefined],
    ])
    const kept = await hub.database.db.execute(sql`select code from sale_rejections where merchant_id = ${m.merchantId}`)
    expect(kept.rows).toHaveLength(2)
  })

  it('an offline sale for a member merged online before the upload goes to the member that remains', async () => {
    const { store, item, admin, member } = await till()
    const keep = (await admin.post('/api/v1/members', { phone: phone() })).body
    const s = offline(store.registerId, item.sku, 10, { memberId: member.id })
    expect((await admin.post(`/api/v1/members/${keep.id}/merge`, { sourceId: member.id })).status).toBe(200)
    const r = await admin.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const sale = (await admin.get(`/api/v1/sales/${s.id}`)).body
    expect(sale.memberId).toBe(keep.id)
    expect((await admin.get(`/api/v1/members/${keep.id}`)).body.points.balance).toBe(15)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.points.balance).toBe(0)
  })

})
