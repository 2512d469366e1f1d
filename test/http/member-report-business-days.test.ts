// The member report dates what a sale or refund did by the business day the sale or refund is reported on (its stored
// business_date), as the daily sales report and the vouchers do: a merchant that moves to another time zone keeps the
// members report of a closed day as it was, and the two reports agree on which day a member bought.
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { addDays } from '../../src/lib/time.ts'

const D = '2026-03-14'
const D1 = addDays(D, 1)
// Shanghai is 15 hours ahead of Los Angeles in March 2026 (PDT from the 8th): 07:xx in Shanghai is the day before in
// Los Angeles, 20:00 in Shanghai is 05:00 of the same day there.
const sh = (day: string, time: string) => new Date(`${day}T${time}+08:00`)

const ok = (r: { status: number; body: any }, status = 200) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status)
  return r.body
}

describe('member report by business day', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  it('counts buyers and the points of sales and refunds on the days they are reported on, before and after a change of time zone', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openedAt: sh(D, '07:00:00') })
    const item = await seedProduct(hub, store, { price: 5000, stock: 20 })
    const at = async (day: string, time: string) => {
      hub.setNow(sh(day, time))
      return createApi(hub).as(await m.adminTokenNow())
    }
    const sell = async (api: ReturnType<typeof createApi>, memberId: string, quantity: number, redeemPoints?: number) => {
      const due = 5000 * quantity - (redeemPoints ?? 0)
      return ok(await api.post('/api/v1/sales', { registerId: store.registerId, memberId, redeemPoints, lines: [{ sku: item.sku, quantity }], tenders: [{ kind: 'cash', amount: due }] }), 201)
    }

    // Members registered the evening before (the same calendar day in both zones).
    let api = await at(addDays(D, -1), '20:00:00')
    ok(await api.patch('/api/v1/merchant/settings', { loyalty: { lapsedDays: 30 } }))
    const ann = ok(await api.post('/api/v1/members', { phone: '13800138301', storeId: store.storeId }), 201)
    const bo = ok(await api.post('/api/v1/members', { phone: '13800138302', storeId: store.storeId }), 201)

    // D, early morning: Ann buys four (200 points). D, evening: Bo is given 500 points by hand.
    api = await at(D, '07:30:00')
    const first = await sell(api, ann.id, 4)
    expect(first.pointsEarned).toBe(200)
    api = await at(D, '20:00:00')
    ok(await api.post(`/api/v1/members/${bo.id}/points/adjust`, { delta: 500, reason: 'welcome' }))

    // D+1, early morning: one of Ann's four comes back (50 points taken back), Ann buys again spending 100 points, Bo buys.
    api = await at(D1, '07:10:00')
    ok(await api.post(`/api/v1/sales/${first.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: first.lines[0].id, quantity: 1 }] }), 201)
    api = await at(D1, '07:20:00')
    const second = await sell(api, ann.id, 1, 100)
    api = await at(D1, '07:30:00')
    const third = await sell(api, bo.id, 1)
    expect([second.businessDate, third.businessDate]).toEqual([D1, D1])

    // Two days on, the drawer is counted and closed.
    const admin = await at(addDays(D, 3), '12:00:00')
    const session = ok(await admin.get('/api/v1/cash-sessions')).items[0]
    const x = ok(await admin.get(`/api/v1/cash-sessions/${session.id}/report`))
    ok(await admin.post(`/api/v1/cash-sessions/${session.id}/close`, { countedCash: x.cash.expected }))

    const report = async (day: string, date = day) => ok(await admin.get(`/api/v1/reports/members?from=${day}&to=${day}&date=${date}`))
    const dailyTransactions = async (day: string) => ok(await admin.get(`/api/v1/reports/daily-sales?storeId=${store.storeId}&from=${day}&to=${day}`)).entries[0]?.transactions ?? 0
    const expected = {
      [D]: { members: { new: 0, active: 1 }, points: { issued: 200 + 500, redeemed: 0, expired: 0, takenBack: 0 } },
      [D1]: { members: { new: 0, active: 2 }, points: { issued: second.pointsEarned + third.pointsEarned, redeemed: 100, expired: 0, takenBack: 50 } },
    }
    // Thirty days after D, nobody is lapsed yet: both last bought on D+1.
    const lapsedDate = addDays(D, 30)
    const snapshot = async () => ({
      [D]: await report(D),
      [D1]: await report(D1),
      lapsed: (await report(D, lapsedDate)).members.lapsed,
      csv: ok(await admin.get(`/api/v1/reports/members?from=${D1}&to=${D1}&format=csv`)),
      daily: [await dailyTransactions(D), await dailyTransactions(D1)],
    })

    const before = await snapshot()
    expect(before[D]).toMatchObject(expected[D]!)
    expect(before[D1]).toMatchObject(expected[D1]!)
    expect(before.lapsed).toBe(0)
    expect(before.csv).toContain('members_active,2')
    // The daily sales report counts Ann's first sale on D, and her second and Bo's on D+1: the buyers the report counts.
    expect(before.daily).toEqual([1, 2])

    ok(await admin.patch('/api/v1/merchant', { timeZone: 'America/Los_Angeles' }))
    const after = await snapshot()
    expect(after).toEqual(before)
  })
})
