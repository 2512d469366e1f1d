import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { businessDate } from '../../src/lib/time.ts'

describe('member report', () => {
  const hub = useTestHub()

  it('counts members and sums points and stored value exactly as the inputs say', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    await admin.patch('/api/v1/merchant/settings', { loyalty: { lapsedDays: 30 } })
    const item = await seedProduct(hub, store, { price: 4321, stock: 100 })
    const past = new Date(Date.now() - 60 * 86_400_000)

    // Two members from two months ago, one of whom bought then (lapsed now); three new today.
    hub.setNow(past)
    const old1 = (await admin.post('/api/v1/members', { phone: '13600000001' })).body
    const old2 = (await admin.post('/api/v1/members', { phone: '13600000002' })).body
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: old1.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 4321 }] })
    hub.setNow(undefined)
    const today = businessDate(new Date(), 'Asia/Shanghai')
    const fresh = []
    for (let i = 3; i <= 5; i++) fresh.push((await admin.post('/api/v1/members', { phone: `1360000000${i}` })).body)

    // Today: two members buy (one twice), points adjusted both ways, stored value topped up and spent.
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: fresh[0].id, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 8642 }] })
    await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: fresh[0].id, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 5000 }] })
    await admin.post('/api/v1/topup-bonus-rules', { threshold: 10000, bonus: 1500 })
    await admin.post(`/api/v1/members/${old2.id}/topups`, { registerId: store.registerId, amount: 20000, tenders: [{ kind: 'wechat', amount: 20000 }] })
    const svSale = (await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: old2.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'stored_value', amount: 4321 }] })).body
    await admin.post(`/api/v1/members/${fresh[1].id}/points/adjust`, { delta: 500, reason: 'welcome' })
    await admin.post(`/api/v1/members/${fresh[1].id}/points/adjust`, { delta: -200, reason: 'gift' })

    // Independent figures from the inputs above.
    const pointsEarnedToday = Math.floor(8642 / 100) + Math.floor(4321 / 100) // the stored-value sale earns nothing
    const svPrincipalSpent = Math.round((4321 * 20000) / 21500)
    const expected = {
      members: { total: 5, new: 3, active: 2, lapsed: 1, lapsedDays: 30 },
      points: { issued: pointsEarnedToday + 500, redeemed: 200, expired: 0, takenBack: 0 },
      storedValue: { principal: 20000 - svPrincipalSpent, bonus: 1500 - (4321 - svPrincipalSpent), total: 21500 - 4321 },
    }
    const r = await admin.get(`/api/v1/reports/members?from=${today}&to=${today}`)
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject(expected)
    expect(svSale.tenders[0].storedPrincipal).toBe(svPrincipalSpent)

    const csv = await admin.get(`/api/v1/reports/members?from=${today}&to=${today}&format=csv`)
    expect(csv.headers.get('content-type')).toContain('text/csv')
    expect(csv.body).toContain(`stored_value_total,${((21500 - 4321) / 100).toFixed(2)}`)
    expect(csv.body.replace(/^\ufeff/, '').split('\r\n')[0]).toBe('figure,value')
    // A reader asking for Chinese gets its columns named in Chinese, as every report's.
    const zh = await admin.get(`/api/v1/reports/members?from=${today}&to=${today}&format=csv`, { headers: { 'accept-language': 'zh-CN' } })
    expect(zh.body.replace(/^\ufeff/, '').split('\r\n')[0]).toBe('指标,数值')
    const cashier = await m.staff('cashier')
    expect((await createApi(hub).as(cashier.token).get(`/api/v1/reports/members?from=${today}&to=${today}`)).status).toBe(403)
    // The period is held to what every report covers.
    const long = await admin.get('/api/v1/reports/members?from=2000-01-01&to=2026-11-01')
    expect([long.status, long.body.error?.code]).toEqual([422, 'period_too_long'])
    const backwards = await admin.get('/api/v1/reports/members?from=2026-11-02&to=2026-11-01')
    expect([backwards.status, backwards.body.error?.code]).toEqual([422, 'invalid_period'])
  })

  it('counts lapsed members by the merchant\'s local days, across a change of clocks', async () => {
    const m = await seedMerchant(hub, { timeZone: 'America/Los_Angeles', currency: 'USD' })
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    await admin.patch('/api/v1/merchant/settings', { loyalty: { lapsedDays: 30 } })
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const buyAt = async (phone: string, at: string) => {
      hub.setNow(new Date(at))
      const member = await admin.post('/api/v1/members', { phone })
      expect(member.status).toBe(201)
      const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.body.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1000 }] })
      expect(sale.status).toBe(201)
    }
    try {
      // 2026-11-20 less 30 days is 2026-10-21: a last purchase on 21 October (local) is lapsed on 20 November, one on
      // 22 October is not, though clocks went back an hour on 1 November in between.
      await buyAt('+14155550101', '2026-10-22T06:30:00Z') // 21 Oct, 23:30 PDT
      await buyAt('+14155550102', '2026-10-22T07:30:00Z') // 22 Oct, 00:30 PDT
    } finally {
      hub.setNow(undefined)
    }
    const r = await admin.get('/api/v1/reports/members?from=2026-11-20&to=2026-11-20')
    expect(r.status).toBe(200)
    expect(r.body.members).toMatchObject({ total: 2, lapsed: 1, lapsedDays: 30 })
  })
})
