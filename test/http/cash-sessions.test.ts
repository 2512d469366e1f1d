import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('cash sessions', () => {
  const hub = useTestHub()

  it('one open session per register; the X report while open and the Z report at close add up', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const manager = await m.staff('manager')
    const api = createApi(hub).as(manager.token)

    const opened = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 20_000 })
    expect(opened.status).toBe(201)
    const twice = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
    expect(twice.body.error.code).toBe('session_already_open')
    const sid = opened.body.id

    const s1 = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 5000 }] })).body
    await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'wechat', amount: 2000 }] })
    const s3 = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1, discount: { percentBp: 1000 } }], tenders: [{ kind: 'card', amount: 900 }] })).body
    await api.post(`/api/v1/sales/${s1.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: s1.lines[0].id, quantity: 1 }] })
    await api.post(`/api/v1/sales/${s3.id}/void`, { reason: 'wrong item' })
    await api.post(`/api/v1/cash-sessions/${sid}/movements`, { kind: 'paid_out', amount: 1500, reason: 'milk for the staff room' })
    await api.post(`/api/v1/cash-sessions/${sid}/movements`, { kind: 'paid_in', amount: 500, reason: 'change from the bank' })

    const x = await api.get(`/api/v1/cash-sessions/${sid}/report`)
    expect(x.body.type).toBe('X')
    expect(x.body.sales).toMatchObject({ count: 2, total: 5000, amountDue: 5000 })
    expect(x.body.voids).toEqual({ count: 1, total: 900 })
    expect(x.body.refunds).toMatchObject({ count: 1, total: 1000 })
    expect(x.body.net).toBe(4000)
    expect(x.body.tenders).toEqual([
      { kind: 'cash', sales: 3000, refunds: 1000, net: 2000 },
      { kind: 'wechat', sales: 2000, refunds: 0, net: 2000 },
    ])
    // float 200 + cash sales 30 − cash refund 10 − paid out 15 + paid in 5 = 210.00
    expect(x.body.cash).toMatchObject({ openingFloat: 20_000, sales: 3000, refunds: 1000, voids: 0, paidIn: 500, paidOut: 1500, expected: 21_000, counted: null })

    const closed = await api.post(`/api/v1/cash-sessions/${sid}/close`, { denominations: { '10000': 2, '500': 1, '100': 4 } })
    expect(closed.status).toBe(200)
    expect(closed.body.session).toMatchObject({ status: 'closed', expectedCash: 21_000, countedCash: 20_900, overShort: -100 })
    expect(closed.body.report.type).toBe('Z')
    expect(closed.body.report.cash).toMatchObject({ expected: 21_000, counted: 20_900, overShort: -100 })
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect(sale.body.error.code).toBe('no_open_session')
    expect((await api.post(`/api/v1/cash-sessions/${sid}/close`, { countedCash: 1 })).body.error.code).toBe('session_closed')
  })

  it('the X and Z reports total the discounts given, by where they came from, leaving out voided sales', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const api = createApi(hub).as((await m.staff('manager')).token)
    // 10 % off one, 2.00 off each of two more (one of them voided), 20 % off three.
    expect((await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { percentBp: 1000 } }], tenders: [{ kind: 'card', amount: 900 }] })).status).toBe(201)
    for (let i = 0; i < 2; i++) expect((await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 200 } }], tenders: [{ kind: 'card', amount: 800 }] })).status).toBe(201)
    const last = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 3, discount: { percentBp: 2000 } }], tenders: [{ kind: 'card', amount: 2400 }] })
    expect(last.status).toBe(201)
    const voided = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, discount: { amount: 200 } }], tenders: [{ kind: 'card', amount: 800 }] })
    expect((await api.post(`/api/v1/sales/${voided.body.id}/void`, { reason: 'test' })).status).toBe(200)
    const sessionId = (await api.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0].id

    const x = await api.get(`/api/v1/cash-sessions/${sessionId}/report`)
    expect(x.body.sales).toMatchObject({ count: 4, gross: 6000, discounts: 100 + 400 + 600, total: 4900 })
    expect(x.body.discounts.reduce((a: number, d: any) => a + d.amount, 0)).toBe(1100)
    expect(x.body.discounts.every((d: any) => d.source === 'manual')).toBe(true)
    const z = await api.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: x.body.cash.expected })
    expect(z.body.report).toMatchObject({ type: 'Z', sales: { discounts: 1100 } })
    expect(z.body.report.discounts).toEqual(x.body.discounts)
  })

  it('paid-out needs permission and cannot take more than the drawer holds', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 1000 })
    const cashier = await m.staff('cashier')
    const sessions = await createApi(hub).as(m.adminToken).get(`/api/v1/cash-sessions?registerId=${store.registerId}`)
    const sid = sessions.body.items[0].id
    expect((await createApi(hub).as(cashier.token).post(`/api/v1/cash-sessions/${sid}/movements`, { kind: 'paid_out', amount: 100, reason: 'x' })).status).toBe(403)
    const tooMuch = await createApi(hub).as(m.adminToken).post(`/api/v1/cash-sessions/${sid}/movements`, { kind: 'paid_out', amount: 1001, reason: 'x' })
    expect(tooMuch.body.error.code).toBe('not_enough_cash')
  })

  it('a cash top-up given back at another till pays out of that drawer never more than it holds', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 10_000 })
    const admin = createApi(hub).as(m.adminToken)
    const member = (await admin.post('/api/v1/members', { phone: '13700009902' })).body
    const topup = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 30_000, tenders: [{ kind: 'cash', amount: 30_000 }] })
    expect(topup.status).toBe(201)
    const second = (await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: 'R2', name: 'Till 2' })).body.id
    const session = (await admin.post('/api/v1/cash-sessions', { registerId: second, openingFloat: 1000 })).body
    const refused = await admin.post(`/api/v1/topups/${topup.body.id}/refund`, { registerId: second, reason: 'changed mind' })
    expect([refused.status, refused.body.error?.code]).toEqual([422, 'not_enough_cash'])
    expect((await admin.get(`/api/v1/cash-sessions/${session.id}/report`)).body.cash.expected).toBe(1000)
    expect((await admin.get(`/api/v1/members/${member.id}`)).body.storedValue.total).toBe(30_000)
    // At the till that took it, the drawer holds it.
    expect((await admin.post(`/api/v1/topups/${topup.body.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })).status).toBe(200)
  })

  it('the cash breakdown names stored-value top-ups paid in cash and given back, so its lines add up to expected', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { float: 10_000 })
    const admin = createApi(hub).as(m.adminToken)
    const sid = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}`)).body.items[0].id
    const member = (await admin.post('/api/v1/members', { phone: '13700009901' })).body
    const kept = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 5000, tenders: [{ kind: 'cash', amount: 5000 }] })
    const back = await admin.post(`/api/v1/members/${member.id}/topups`, { registerId: store.registerId, amount: 2000, tenders: [{ kind: 'cash', amount: 2000 }] })
    expect([kept.status, back.status]).toEqual([201, 201])
    expect((await admin.post(`/api/v1/topups/${back.body.id}/refund`, { registerId: store.registerId, reason: 'changed mind' })).status).toBe(200)
    const cash = (await admin.get(`/api/v1/cash-sessions/${sid}/report`)).body.cash
    expect(cash).toMatchObject({ openingFloat: 10_000, topUps: 7000, topUpRefunds: 2000, expected: 15_000 })
    const lines = cash.openingFloat + cash.sales - cash.refunds - cash.voids + cash.paidIn - cash.paidOut + cash.topUps - cash.topUpRefunds
    expect(lines).toBe(cash.expected)
    const csv: string = (await admin.get(`/api/v1/reports/sessions/${sid}?format=csv`)).body
    expect(csv).toContain('cash,topups,,70.00')
    expect(csv).toContain('cash,topup_refunds,,20.00')
  })

  it('refuses drawer amounts no till holds, so the session can always be counted and closed', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const api = createApi(hub).as((await m.staff('manager')).token)
    const huge = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 9_007_199_254_740_891 })
    expect(huge.status).toBe(400)
    expect(huge.body.error.code).toBe('validation_failed')
    const opened = await api.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 1_000_000_000_000 })
    expect(opened.status).toBe(201)
    const paidIn = await api.post(`/api/v1/cash-sessions/${opened.body.id}/movements`, { kind: 'paid_in', amount: 9_007_199_254_740_000, reason: 'typo' })
    expect(paidIn.status).toBe(400)
    const item = await seedProduct(hub, store, { price: 1000, stock: 5 })
    const sale = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 9_007_199_254_740_000 }] })
    expect(sale.status).toBe(422)
    expect(sale.body.error.code).toBe('amount_out_of_range')
    const closed = await api.post(`/api/v1/cash-sessions/${opened.body.id}/close`, { countedCash: 1_000_000_000_000 })
    expect(closed.status, JSON.stringify(closed.body)).toBe(200)
    expect(closed.body.report.cash).toMatchObject({ expected: 1_000_000_000_000, overShort: 0 })
  })

  it('a count by denominations must agree with a total given with it', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const sid = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}`)).body.items[0].id
    const r = await admin.post(`/api/v1/cash-sessions/${sid}/close`, { countedCash: 999, denominations: { '1000': 1 } })
    expect(r.body.error.code).toBe('count_mismatch')
  })

  it('a count is a drawer amount too: past what a till holds it is refused, and nothing closes', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const sid = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}`)).body.items[0].id
    const huge = await admin.post(`/api/v1/cash-sessions/${sid}/close`, { countedCash: 9_007_199_254_740_991 })
    expect(huge.status).toBe(400)
    expect(huge.body.error.code).toBe('validation_failed')
    const notes = await admin.post(`/api/v1/cash-sessions/${sid}/close`, { denominations: { '100000000000': 100_000_000 } })
    expect(notes.status).toBe(422)
    expect(notes.body.error).toMatchObject({ code: 'amount_out_of_range', details: { max: 1_000_000_000_000 } })
    expect((await admin.get(`/api/v1/cash-sessions/${sid}`)).body.status).toBe('open')
    // A till that always sends the field sends it empty when it counted a total.
    const closed = await admin.post(`/api/v1/cash-sessions/${sid}/close`, { countedCash: 10_000, denominations: {} })
    expect(closed.status, JSON.stringify(closed.body)).toBe(200)
    expect(closed.body.session).toMatchObject({ countedCash: 10_000, denominations: null })
  })
})
