// Where a day's cash lands, so each day's Z reports, daily report and voucher agree: a rescue session keeps one
// business day's late offline sales, and a cash top-up is given back at the store whose books took it.
import { afterEach, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const D = '2026-11-21'
const D1 = '2026-11-22'

describe('closing the day', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))
  const step = async (local: string, f: () => Promise<any>) => {
    hub.setNow(at(local))
    const r = await f()
    expect(r.status, `${local} ${JSON.stringify(r.body)}`).toBeLessThan(300)
    return r
  }

  it('a rescue session keeps one business day: a later day’s late offline sale gets its own, so each day’s Z reports add up to its daily report', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const S = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, S, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const off = (sessionId: string, local: string) => ({ id: randomUUID(), occurredAt: at(local).toISOString(), registerId: S.registerId, sessionId, lines: [{ sku: item.sku, quantity: 1, unitPrice: 1000 }], tenders: [{ kind: 'cash', amount: 1000 }] })
    const s1 = (await step(`${D} 09:00:00`, () => admin.post('/api/v1/cash-sessions', { registerId: S.registerId, openingFloat: 0 }))).body
    await step(`${D} 21:00:00`, () => admin.post(`/api/v1/cash-sessions/${s1.id}/close`, { countedCash: 1000 }))
    // Made on D after the close, uploaded the next morning: D's rescue session, left open.
    await step(`${D1} 08:00:00`, () => admin.post('/api/v1/sales/batch', { sales: [off(s1.id, `${D} 20:00:00`)] }))
    const s2 = (await step(`${D1} 09:00:00`, () => admin.post('/api/v1/cash-sessions', { registerId: S.registerId, openingFloat: 0 }))).body
    await step(`${D1} 21:00:00`, () => admin.post(`/api/v1/cash-sessions/${s2.id}/close`, { countedCash: 1000 }))
    await step('2026-11-23 08:00:00', () => admin.post('/api/v1/sales/batch', { sales: [off(s2.id, `${D1} 20:30:00`)] }))
    for (const day of [D, D1]) {
      const daily = (await admin.get(`/api/v1/reports/daily-sales?date=${day}&storeId=${S.storeId}`)).body.entries[0]
      const sessions = (await admin.get(`/api/v1/reports/sessions?date=${day}&storeId=${S.storeId}`)).body.sessions
      const zs = await Promise.all(sessions.map(async (s: any) => (await admin.get(`/api/v1/reports/sessions/${s.id}`)).body))
      expect({ day, daily: daily.netSales, z: zs.reduce((a: number, z: any) => a + z.sales.amountDue, 0), rescues: sessions.filter((s: any) => s.rescue).length }).toEqual({ day, daily: 1000, z: 1000, rescues: 1 })
    }
  })

  it('a card refund made after the register closed goes to its rescue session, so the day’s Z reports still add up to its daily report', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const S = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, S, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    const s1 = (await step(`${D} 09:00:00`, () => admin.post('/api/v1/cash-sessions', { registerId: S.registerId, openingFloat: 0 }))).body
    const sale = (await step(`${D} 10:00:00`, () => admin.post('/api/v1/sales', { registerId: S.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 2000 }] }))).body
    await step(`${D} 18:00:00`, () => admin.post(`/api/v1/cash-sessions/${s1.id}/close`, { countedCash: 0 }))
    const refund = (await step(`${D} 18:30:00`, () => admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: S.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] }))).body
    const sessions = (await admin.get(`/api/v1/reports/sessions?date=${D}&storeId=${S.storeId}`)).body.sessions
    const rescue = sessions.find((s: any) => s.rescue)
    expect(rescue).toBeDefined()
    expect(refund.sale.refunds[0].sessionId).toBe(rescue.id)
    const daily = (await admin.get(`/api/v1/reports/daily-sales?date=${D}&storeId=${S.storeId}`)).body.entries[0]
    const zs = await Promise.all(sessions.map(async (s: any) => (await admin.get(`/api/v1/reports/sessions/${s.id}`)).body))
    expect({ count: zs.reduce((a: number, z: any) => a + z.refunds.count, 0), total: zs.reduce((a: number, z: any) => a + z.refunds.total, 0) }).toEqual({ count: daily.refunds.count, total: daily.refunds.amount })
    expect(daily.refunds).toMatchObject({ count: 1, amount: 1000 })
    // Cash still needs a drawer: a cash refund with no open session is refused.
    hub.setNow(at(`${D} 18:40:00`))
    const cash = await admin.post(`/api/v1/sales/${sale.id}/refunds`, { registerId: S.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect([cash.status, cash.body.error?.code]).toEqual([409, 'no_open_session'])
  })

  it('the cash of a top-up is given back at a till of the store that took it, not at another store’s', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const A = await seedStore(hub, m.merchantId, { openSession: false })
    const B = await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    await step(`${D} 09:00:00`, () => admin.post('/api/v1/cash-sessions', { registerId: A.registerId, openingFloat: 10_000 }))
    const sb = (await step(`${D} 09:00:00`, () => admin.post('/api/v1/cash-sessions', { registerId: B.registerId, openingFloat: 50_000 }))).body
    const member = (await step(`${D} 09:10:00`, () => admin.post('/api/v1/members', { phone: '13700005679' }))).body
    const topup = (await step(`${D} 09:20:00`, () => admin.post(`/api/v1/members/${member.id}/topups`, { registerId: A.registerId, amount: 20_000, tenders: [{ kind: 'cash', amount: 20_000 }] }))).body
    hub.setNow(at(`${D} 15:00:00`))
    const elsewhere = await admin.post(`/api/v1/topups/${topup.id}/refund`, { registerId: B.registerId, reason: 'moved away' })
    expect([elsewhere.status, elsewhere.body.error?.code]).toEqual([409, 'topup_other_store'])
    expect((await admin.get(`/api/v1/cash-sessions/${sb.id}/report`)).body.cash.expected).toBe(50_000)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue.total).toBe(20_000)
    expect((await admin.post(`/api/v1/topups/${topup.id}/refund`, { registerId: A.registerId, reason: 'moved away' })).status).toBe(200)
  })
})
