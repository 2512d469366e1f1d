import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { closeSession } from '../../src/core/sales/cash-sessions.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

describe('offline sales batch', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  async function till() {
    const m = await seedMerchant(hub)
    // Opened before the sales of the tests were made (see base), on their business day or the one before.
    const store = await seedStore(hub, m.merchantId, { openedAt: new Date(base() - 2 * 3600_000) })
    const item = await seedProduct(hub, store, { price: 1500, stock: 2 })
    const cashier = await m.staff('cashier')
    return { m, store, item, api: createApi(hub).as(cashier.token), admin: createApi(hub).as(m.adminToken) }
  }

  /**
   * Now, or an hour ago in the first hour of the merchant's day (Asia/Shanghai): the sales of a batch, up to half an
   * hour apart, then fall on one business day and share its receipt numbers whatever the time the tests run.
   */
  const base = () => {
    const shanghai = new Date(Date.now() + 8 * 3600_000)
    return Date.now() - (shanghai.getUTCHours() === 0 ? 3600_000 : 0)
  }
  const offlineSale = (registerId: string, sku: string, minutesAgo: number, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(),
    occurredAt: new Date(base() - minutesAgo * 60_000).toISOString(),
    registerId,
    lines: [{ sku, quantity: 1, unitPrice: 1500 }],
    tenders: [{ kind: 'cash', amount: 1500 }],
    clientReceiptNo: `OFF-${minutesAgo}`,
    ...extra,
  })

  it('a sale dated ahead of the hub clock (a till whose clock runs fast) is recorded at the time it arrives, with a warning; its replay is still a duplicate', async () => {
    const { store, item, api } = await till()
    const ahead = offlineSale(store.registerId, item.sku, -24 * 60)
    const sent = Date.now()
    const r = await api.post('/api/v1/sales/batch', { sales: [ahead] })
    expect(r.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'clock_ahead', details: expect.objectContaining({ occurredAt: ahead.occurredAt }) })] })
    const sale = (await api.get(`/api/v1/sales/${ahead.id}`)).body
    expect(Math.abs(new Date(sale.occurredAt).getTime() - sent)).toBeLessThan(60_000)
    expect((await api.post('/api/v1/sales/batch', { sales: [ahead] })).body.results[0].status).toBe('duplicate')
    // A few minutes fast is within what the hub takes as given.
    const close = offlineSale(store.registerId, item.sku, -2)
    expect((await api.post('/api/v1/sales/batch', { sales: [close] })).body.results[0].warnings).toEqual([])
    expect((await api.get(`/api/v1/sales/${close.id}`)).body.occurredAt).toBe(close.occurredAt)
  })

  it('a voided offline sale that took more than its total: the staff, daily and Z reports count the void as what it gave back', async () => {
    const m = await seedMerchant(hub)
    const at = new Date('2026-06-10T02:00:00Z') // 10:00 Shanghai
    hub.setNow(new Date(at.getTime() - 3600_000))
    try {
    const store = await seedStore(hub, m.merchantId, { openedAt: new Date(at.getTime() - 3600_000) })
    const item = await seedProduct(hub, store, { price: 1500, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    hub.setNow(new Date(at.getTime() + 60_000))
    const id = randomUUID()
    const r = await admin.post('/api/v1/sales/batch', {
      sales: [{ id, occurredAt: at.toISOString(), registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1, unitPrice: 1500 }], tenders: [{ kind: 'card', amount: 1600 }] }],
    })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.results[0].status, JSON.stringify(r.body)).toBe('accepted')
    const sale = (await admin.get(`/api/v1/sales/${id}`)).body
    expect(sale.tenderDifference).toBe(100)
    hub.setNow(new Date(at.getTime() + 120_000))
    const v = await admin.post(`/api/v1/sales/${id}/void`, { reason: 'wrong' })
    expect(v.status, JSON.stringify(v.body)).toBe(200)
    const voidRefund = v.body.refunds.find((x: any) => x.kind === 'void')
    // The till took 16.00 for a 15.00 sale: the void gives the 16.00 back.
    expect(voidRefund.total).toBe(1600)
    const day = sale.businessDate
    const daily = (await admin.get(`/api/v1/reports/daily-sales?date=${day}`)).body
    const staff = (await admin.get(`/api/v1/reports/staff?from=${day}&to=${day}`)).body
    const x = (await admin.get(`/api/v1/reports/sessions/${sale.sessionId}`)).body
    const e = daily.entries.find((en: any) => en.storeId === store.storeId)
    const me = staff.staff.find((p: any) => p.userId === m.adminId)
    expect(e.voids).toEqual({ count: 1, amount: voidRefund.total })
    expect(x.voids).toEqual({ count: 1, total: voidRefund.total })
    expect(me.voids).toEqual({ count: 1, amount: voidRefund.total })
    } finally {
      hub.setNow(undefined)
    }
  })

  it('two tills uploading at once, with sales of the same registers and items in opposite order, both get through', async () => {
    const { m, store, item, api, admin } = await till()
    const other = await seedProduct(hub, store, { price: 1500, stock: 100 })
    const second = (await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: 'R2', name: 'Till 2' })).body.id
    expect((await admin.post('/api/v1/cash-sessions', { registerId: second, openingFloat: 0 })).status).toBe(201)
    // Each batch rings register 1 with one item and register 2 with the other; the second batch the other way round.
    // Recorded in one transaction, the first sale of each held what the second sale of the other needed.
    for (let round = 0; round < 5; round++) {
      const one = { sales: [offlineSale(store.registerId, item.sku, 20 - round), offlineSale(second, other.sku, 10 - round)] }
      const two = { sales: [offlineSale(second, other.sku, 20 - round), offlineSale(store.registerId, item.sku, 10 - round)] }
      const [a, b] = await Promise.all([api.post('/api/v1/sales/batch', one), api.post('/api/v1/sales/batch', two)])
      expect([a.status, b.status], JSON.stringify([a.body, b.body])).toEqual([200, 200])
      expect([...a.body.results, ...b.body.results].map((r: { status: string }) => r.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted'])
    }
    const count = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(count.rows[0]!.n).toBe(20)
  })

  it('a sale the database cannot store as text (a NUL, a lone surrogate) is rejected and kept alone; the rest of the batch goes in', async () => {
    const { m, store, item, api } = await till()
    const other = await seedProduct(hub, store, { price: 1500, stock: 10 })
    const a = offlineSale(store.registerId, other.sku, 30)
    const bad = offlineSale(store.registerId, other.sku, 20, { note: 'a\u0000b' })
    const lone = offlineSale(store.registerId, 'NO-SUCH-SKU', 15, { note: 'x\ud800' })
    const c = offlineSale(store.registerId, item.sku, 10)
    for (let send = 0; send < 2; send++) {
      const r = await api.post('/api/v1/sales/batch', { sales: [a, bad, lone, c] })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      expect(r.body.results.map((x: { status: string }) => x.status)).toEqual([send ? 'duplicate' : 'accepted', 'rejected', 'rejected', send ? 'duplicate' : 'accepted'])
    }
    const kept = await hub.database.db.execute(sql`select client_sale_id, payload->>'note' as note from sale_rejections where merchant_id = ${m.merchantId} order by client_sale_id`)
    expect(kept.rows.map((r: any) => r.client_sale_id).sort()).toEqual([bad.id, lone.id].sort())
    expect(kept.rows.map((r: any) => r.note).sort()).toEqual(['a\ufffdb', 'x\ufffd'])
  })

  it('refuses sale dates outside the years a business day can be counted in, and tenders no till takes', async () => {
    const { store, item, api, admin } = await till()
    const ancient = { ...offlineSale(store.registerId, item.sku, 0), occurredAt: '0001-06-01T00:00:00Z' }
    const r = await api.post('/api/v1/sales/batch', { sales: [ancient] })
    expect(r.status).toBe(400)
    expect(r.body.error.code).toBe('validation_failed')
    const huge = offlineSale(store.registerId, item.sku, 5, { tenders: [{ kind: 'card', amount: 5_000_000_000_000_000 }] })
    const h = await api.post('/api/v1/sales/batch', { sales: [huge] })
    expect(h.body.results[0]).toMatchObject({ status: 'rejected', code: 'amount_out_of_range' })
    const report = await admin.get(`/api/v1/reports/daily-sales?date=${new Date(base() + 8 * 3600_000).toISOString().slice(0, 10)}`)
    expect(report.status).toBe(200)
  })

  it('records each sale once, in the order they happened; a replay of the batch changes nothing', async () => {
    const { store, item, api, m } = await till()
    const batch = { sales: [offlineSale(store.registerId, item.sku, 5), offlineSale(store.registerId, item.sku, 30), offlineSale(store.registerId, item.sku, 10)] }
    const first = await api.post('/api/v1/sales/batch', batch)
    expect(first.status).toBe(200)
    expect(first.body.results.map((r: any) => r.status)).toEqual(['accepted', 'accepted', 'accepted'])
    // Numbered in the order they happened (30, 10, 5 minutes ago), not the order sent.
    const seq = (r: any) => Number(r.receiptNo.split('-').pop())
    expect(first.body.results.map(seq)).toEqual([3, 1, 2])
    // Three sold of two on hand: stock went to −1 and that is reported.
    const warnings = first.body.results.flatMap((r: any) => r.warnings.map((w: any) => w.code))
    expect(warnings).toContain('negative_stock')
    const again = await api.post('/api/v1/sales/batch', batch)
    expect(again.body.results.map((r: any) => r.status)).toEqual(['duplicate', 'duplicate', 'duplicate'])
    expect(again.body.results.map((r: any) => r.receiptNo)).toEqual(first.body.results.map((r: any) => r.receiptNo))
    const count = await hub.database.db.execute(sql`select count(*)::int as n, bool_and(offline) as offline from sales where merchant_id = ${m.merchantId}`)
    expect(count.rows[0]).toEqual({ n: 3, offline: true })
    const level = await hub.database.db.execute(sql`select on_hand from stock_levels where variant_id = ${item.variantId}`)
    expect(Number(level.rows[0]!.on_hand)).toBe(-1)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('keeps a sale it cannot record and reports it, while the rest of the batch goes in', async () => {
    const { store, item, api, m } = await till()
    const bad = offlineSale(store.registerId, 'NO-SUCH-SKU', 3)
    const good = offlineSale(store.registerId, item.sku, 2)
    const r = await api.post('/api/v1/sales/batch', { sales: [bad, good] })
    expect(r.body.results).toEqual([
      expect.objectContaining({ id: bad.id, status: 'rejected', code: 'unknown_item' }),
      expect.objectContaining({ id: good.id, status: 'accepted' }),
    ])
    const kept = await hub.database.db.execute(sql`select code, resolved, payload->>'clientReceiptNo' as receipt from sale_rejections where merchant_id = ${m.merchantId}`)
    expect(kept.rows).toEqual([{ code: 'unknown_item', resolved: false, receipt: 'OFF-3' }])
  })

  it('rejects alone a sale the database refuses (a payment number already used) or whose amounts overflow, and records the rest', async () => {
    const { store, item, api, m } = await till()
    const online = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1500, paymentNo: 'TERM-000001' }] })
    expect(online.status).toBe(201)
    const good = offlineSale(store.registerId, item.sku, 3, { tenders: [{ kind: 'card', amount: 1500 }] })
    const reused = offlineSale(store.registerId, item.sku, 2, { tenders: [{ kind: 'card', amount: 1500, paymentNo: 'TERM-000001' }] })
    const huge = offlineSale(store.registerId, item.sku, 1, { lines: [{ sku: item.sku, quantity: 100_000_000, unitPrice: 100_000_000_000 }] })
    const r = await api.post('/api/v1/sales/batch', { sales: [good, reused, huge] })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body.results).toEqual([
      expect.objectContaining({ id: good.id, status: 'accepted' }),
      expect.objectContaining({ id: reused.id, status: 'rejected', code: 'duplicate', details: { constraint: 'sale_tenders_payment_no_key' } }),
      expect.objectContaining({ id: huge.id, status: 'rejected', code: 'amount_out_of_range' }),
    ])
    const kept = await hub.database.db.execute(sql`select code from sale_rejections where merchant_id = ${m.merchantId} order by code`)
    expect(kept.rows).toEqual([{ code: 'amount_out_of_range' }, { code: 'duplicate' }])
    const n = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(n.rows[0]!.n).toBe(2)
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('records tenders above the total the till charged, as a positive tender difference', async () => {
    const { store, item, api } = await till()
    // The hub's price was cut while the till was offline; the till charged its own, higher total by card.
    const s = offlineSale(store.registerId, item.sku, 1, { lines: [{ sku: item.sku }], tenders: [{ kind: 'card', amount: 1800 }] })
    const r = await api.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'tender_difference', details: { amountDue: 1500, tenderDifference: 300 } })] })
    const sale = await api.get(`/api/v1/sales/${s.id}`)
    expect(sale.body).toMatchObject({ total: 1500, tenderDifference: 300, changeGiven: 0 })
    expect(sale.body.tenders).toEqual([expect.objectContaining({ kind: 'card', amount: 1800 })])
  })

  it('sends a sale whose session closes while it is being recorded to the rescue session', async () => {
    const { m, store, item, api, admin } = await till()
    const sessionId = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0].id
    let commit!: () => void
    const held = new Promise<void>((r) => (commit = r))
    let closedUncommitted!: () => void
    const closing = new Promise<void>((r) => (closedUncommitted = r))
    const close = hub.database.db.transaction(async (tx) => {
      await closeSession(tx, systemActor(m.merchantId, 'test'), sessionId, { countedCash: 10_000 })
      closedUncommitted()
      await held
    })
    await closing
    const s = offlineSale(store.registerId, item.sku, 1, { sessionId })
    const batch = api.post('/api/v1/sales/batch', { sales: [s] })
    // The batch waits for the close, which commits only now.
    await new Promise((r) => setTimeout(r, 300))
    commit()
    await close
    const r = await batch
    expect(r.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'rescue_session' })] })
    const sale = await api.get(`/api/v1/sales/${s.id}`)
    expect(sale.body.sessionId).not.toBe(sessionId)
    expect((await admin.get(`/api/v1/cash-sessions/${sessionId}`)).body).toMatchObject({ status: 'closed', overShort: 0 })
  })

  it('refuses to record a different sale under an id already used', async () => {
    const { store, item, api } = await till()
    const s = offlineSale(store.registerId, item.sku, 1)
    await api.post('/api/v1/sales/batch', { sales: [s] })
    const changed = { ...s, tenders: [{ kind: 'card', amount: 1500 }] }
    const r = await api.post('/api/v1/sales/batch', { sales: [changed] })
    expect(r.body.results[0]).toMatchObject({ status: 'conflict', code: 'id_reused' })
  })

  it("keeps the till's prices and records a difference between tenders and total", async () => {
    const { store, item, api } = await till()
    const s = offlineSale(store.registerId, item.sku, 1, { lines: [{ sku: item.sku, unitPrice: 1200, discount: { amount: 100 } }], tenders: [{ kind: 'card', amount: 1050 }] })
    const r = await api.post('/api/v1/sales/batch', { sales: [s] })
    // The cashier's price override (a cashier may not give one online) is flagged, not refused.
    expect(r.body.results[0].warnings).toEqual([
      expect.objectContaining({ code: 'over_role_limit', details: expect.objectContaining({ code: 'price_override_forbidden' }) }),
      expect.objectContaining({ code: 'tender_difference', details: { amountDue: 1100, tenderDifference: -50 } }),
    ])
    const sale = await api.get(`/api/v1/sales/${s.id}`)
    expect(sale.body).toMatchObject({ total: 1100, tenderDifference: -50, offline: true, clientReceiptNo: 'OFF-1' })
  })

  it("a sale naming another register's session is recorded in its own register's open session, with a warning", async () => {
    const { store, item, api, admin } = await till()
    const second = (await admin.post(`/api/v1/stores/${store.storeId}/registers`, { code: 'R2', name: 'Till 2' })).body.id
    const other = (await admin.post('/api/v1/cash-sessions', { registerId: second, openingFloat: 0 })).body.id
    const own = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0].id
    const s = offlineSale(store.registerId, item.sku, 1, { sessionId: other })
    const r = await api.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0]).toMatchObject({ status: 'accepted', warnings: [expect.objectContaining({ code: 'session_mismatch', details: { sessionId: other, recordedIn: own } })] })
    expect((await api.get(`/api/v1/sales/${s.id}`)).body.sessionId).toBe(own)
    const rescues = await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}`)
    expect(rescues.body.items.filter((x: any) => x.rescue)).toEqual([])
  })

  it("the session's X report shows what offline tills took beyond the amount due, so its tenders add up from its own figures", async () => {
    const { store, item, api, admin } = await till()
    const short = offlineSale(store.registerId, item.sku, 2, { tenders: [{ kind: 'card', amount: 1400 }] })
    const over = offlineSale(store.registerId, item.sku, 1, { tenders: [{ kind: 'wechat', amount: 1530 }] })
    await api.post('/api/v1/sales/batch', { sales: [short, over] })
    const sale = (await api.get(`/api/v1/sales/${short.id}`)).body
    expect((await admin.post(`/api/v1/sales/${short.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.lines[0].id, quantity: 1 }] })).status).toBe(201)
    const sid = sale.sessionId
    const report = (await admin.get(`/api/v1/cash-sessions/${sid}/report`)).body
    expect(report.sales).toMatchObject({ count: 2, amountDue: 3000, tenderDifference: -70 })
    expect(report.refunds.total).toBe(1400)
    const tendersNet = report.tenders.reduce((a: number, t: any) => a + t.net, 0)
    expect(tendersNet).toBe(1530)
    expect(tendersNet).toBe(report.net + report.sales.tenderDifference)
    const byFinance = await admin.get(`/api/v1/reports/sessions/${sid}`)
    expect(byFinance.body.sales.tenderDifference).toBe(-70)
    const csv = await admin.get(`/api/v1/reports/sessions/${sid}?format=csv`)
    expect(csv.status).toBe(200)
    expect(csv.body).toMatch(/tender_difference/)
  })

  it('sends sales whose session has closed to a rescue session, leaving the closed count alone', async () => {
    const { store, item, api, admin } = await till()
    const sessions = await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)
    const sessionId = sessions.body.items[0].id
    const closed = await admin.post(`/api/v1/cash-sessions/${sessionId}/close`, { countedCash: 10_000 })
    expect(closed.body.session.overShort).toBe(0)
    const s = offlineSale(store.registerId, item.sku, 1, { sessionId })
    const r = await api.post('/api/v1/sales/batch', { sales: [s] })
    expect(r.body.results[0].warnings.map((w: any) => w.code)).toContain('rescue_session')
    const sale = await api.get(`/api/v1/sales/${s.id}`)
    expect(sale.body.sessionId).not.toBe(sessionId)
    const rescue = await admin.get(`/api/v1/cash-sessions/${sale.body.sessionId}`)
    expect(rescue.body).toMatchObject({ rescue: true, status: 'open' })
    expect((await admin.get(`/api/v1/cash-sessions/${sessionId}`)).body.overShort).toBe(0)
    // Its cash was in the drawer counted at that close, not in any drawer now: no void, a refund (from today's drawer).
    expect((await admin.patch('/api/v1/me', { locale: 'en' })).status).toBe(200)
    hub.setNow(new Date(Date.parse(s.occurredAt) + 60_000)) // still the sale's business day
    const voided = await admin.post(`/api/v1/sales/${s.id}/void`, { reason: 'rang twice' })
    expect(voided.status).toBe(409)
    expect(voided.body.error).toMatchObject({ code: 'void_window_closed', message: expect.stringContaining('after its cash session closed'), details: { rescueSessionId: sale.body.sessionId } })
    const newSession = (await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 })).body
    const refund = await admin.post(`/api/v1/sales/${s.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: sale.body.lines[0].id, quantity: 1 }] })
    expect(refund.status).toBe(201)
    expect((await admin.get(`/api/v1/cash-sessions/${newSession.id}/report`)).body.cash.refunds).toBe(1500)
  })
  it('a sale naming no session, made on a day before the open session’s, goes to the rescue session, not today’s drawer', async () => {
    const { store, item, api, admin } = await till()
    const today = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
    // Made last night, after that day's session closed; uploaded today while today's session is open.
    const lastNight = new Date(Date.parse(`${today.businessDate}T00:00:00+08:00`) - 90 * 60_000).toISOString()
    const late = offlineSale(store.registerId, item.sku, 0, { occurredAt: lastNight })
    const sameDay = offlineSale(store.registerId, item.sku, 1)
    const r = await api.post('/api/v1/sales/batch', { sales: [late, sameDay] })
    expect(r.body.results.map((x: any) => x.status)).toEqual(['accepted', 'accepted'])
    expect(r.body.results[0].warnings.map((w: any) => w.code)).toContain('rescue_session')
    const [a, b] = [(await api.get(`/api/v1/sales/${late.id}`)).body, (await api.get(`/api/v1/sales/${sameDay.id}`)).body]
    expect(a.sessionId).not.toBe(today.id)
    expect((await admin.get(`/api/v1/cash-sessions/${a.sessionId}`)).body.rescue).toBe(true)
    // A sale made since the session opened still goes to it.
    expect(b.sessionId).toBe(today.id)
    expect((await admin.get(`/api/v1/cash-sessions/${today.id}/report`)).body.sales.count).toBe(1)
  })
  it('a sale naming no session, made the same day in a session since closed, goes to the rescue session; one made after that close goes to the open session', async () => {
    const { store, item, api, admin } = await till()
    const first = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
    // The first shift closes (its drawer counted) and, ten minutes later, the second opens on the same register.
    const closedAt = base()
    hub.setNow(new Date(closedAt))
    try {
      expect((await admin.post(`/api/v1/cash-sessions/${first.id}/close`, { countedCash: 10_000 })).status).toBe(200)
      hub.setNow(new Date(closedAt + 10 * 60_000))
      const second = (await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 })).body
      // Made offline in the first shift, half an hour before its close; and one between the close and the second's
      // opening (a till whose clock is a little slow, say): no drawer was counted since, so its cash is in the open one.
      const inFirst = offlineSale(store.registerId, item.sku, 30)
      const afterClose = offlineSale(store.registerId, item.sku, -5)
      const r = await api.post('/api/v1/sales/batch', { sales: [inFirst, afterClose] })
      expect(r.body.results.map((x: any) => x.status)).toEqual(['accepted', 'accepted'])
      expect(r.body.results[0].warnings.map((w: any) => w.code)).toContain('rescue_session')
      expect(r.body.results[1].warnings).toEqual([])
      const [a, b] = [(await api.get(`/api/v1/sales/${inFirst.id}`)).body, (await api.get(`/api/v1/sales/${afterClose.id}`)).body]
      expect((await admin.get(`/api/v1/cash-sessions/${a.sessionId}`)).body.rescue).toBe(true)
      expect(b.sessionId).toBe(second.id)
      // The second drawer expects its float and the one sale made into it, not the first shift's cash.
      expect((await admin.get(`/api/v1/cash-sessions/${second.id}/report`)).body.sales.count).toBe(1)
      expect((await admin.get(`/api/v1/cash-sessions/${first.id}`)).body.overShort).toBe(0)
    } finally {
      hub.setNow(undefined)
    }
  })
  it('an offline sale priced beyond the cashier’s role is recorded as it happened, flagged in its result and on the audit log', async () => {
    const { store, item, api, admin } = await till()
    const override = offlineSale(store.registerId, item.sku, 3, { lines: [{ sku: item.sku, quantity: 1, unitPrice: 100 }], tenders: [{ kind: 'cash', amount: 100 }] })
    const halfOff = offlineSale(store.registerId, item.sku, 2, { lines: [{ sku: item.sku, quantity: 1, unitPrice: 1500, discount: { percentBp: 5000 } }], tenders: [{ kind: 'cash', amount: 750 }] })
    const plain = offlineSale(store.registerId, item.sku, 1)
    const r = await api.post('/api/v1/sales/batch', { sales: [override, halfOff, plain] })
    expect(r.body.results.map((x: any) => x.status)).toEqual(['accepted', 'accepted', 'accepted'])
    const flagged = r.body.results.map((x: any) => x.warnings.find((w: any) => w.code === 'over_role_limit'))
    expect(flagged[0]).toMatchObject({ details: { code: 'price_override_forbidden', sku: item.sku } })
    expect(flagged[1]).toMatchObject({ details: { code: 'discount_limit_exceeded', requestedBp: 5000 } })
    expect(flagged[2]).toBeUndefined()
    // What the till took stands.
    expect((await api.get(`/api/v1/sales/${override.id}`)).body.total).toBe(100)
    const audit = (await admin.get('/api/v1/audit?action=sale.offline_over_limit')).body.items
    expect(audit.map((a: any) => a.entityId).sort()).toEqual([override.id, halfOff.id].sort())
    // Replayed, nothing is flagged or audited twice.
    expect((await api.post('/api/v1/sales/batch', { sales: [override] })).body.results[0].status).toBe('duplicate')
    expect((await admin.get('/api/v1/audit?action=sale.offline_over_limit')).body.items).toHaveLength(2)
  })
  it('lists sales newest first by when they were made, offline sales (with the till\'s own ids) among the others, page by page', async () => {
    const { store, item, api } = await till()
    await seedProduct(hub, store, { sku: 'MORE', price: 1500, stock: 100 })
    // Till ids in the opposite order of time: the smallest id is the newest sale.
    const ids = Array.from({ length: 4 }, () => randomUUID()).sort()
    const offline = ids.map((id, i) => offlineSale(store.registerId, 'MORE', 10 + 5 * i, { id, clientReceiptNo: `OFF-${i}` }))
    expect((await api.post('/api/v1/sales/batch', { sales: [...offline].reverse() })).body.results.map((r: any) => r.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted'])
    const online = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1500 }] })).body
    const seen: any[] = []
    let cursor: string | null = null
    do {
      const page: any = await api.get(`/api/v1/sales?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
      expect(page.status).toBe(200)
      seen.push(...page.body.items)
      cursor = page.body.nextCursor
    } while (cursor)
    expect(seen.map((s) => s.id)).toEqual([online.id, ...ids])
    const times = seen.map((s) => new Date(s.occurredAt).getTime())
    expect(times).toEqual([...times].sort((a, b) => b - a))
    const unknown = await api.get(`/api/v1/sales?cursor=${randomUUID()}`)
    expect(unknown.status).toBe(400)
    expect(unknown.body.error.code).toBe('invalid_cursor')
  })
})
