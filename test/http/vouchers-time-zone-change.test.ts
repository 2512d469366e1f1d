// A record's business day is fixed when it happens: a merchant that changes its time zone afterwards does not move a
// paid-in, a top-up given back or a stored-value correction by hand to another day, so an exported day stays as it
// was exported and the day next to it gains nothing.
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { at, DAY, useVendors } from '../helpers/voucher-vendors.ts'

const ok = (r: { status: number; body: any }, status = 201) => {
  expect(r.status, JSON.stringify(r.body)).toBe(status)
  return r.body
}

describe('vouchers after a change of the merchant’s time zone', () => {
  const hub = useTestHub()
  const v = useVendors(hub)
  afterEach(() => hub.setNow(undefined))

  it('a paid-in, a top-up refund and a stored-value correction of an exported day stay on it when the merchant moves to another time zone', async () => {
    const d = await v.day({})
    const session = ok(await d.admin.get('/api/v1/cash-sessions'), 200).items[0]
    // 10:00–10:30 in Shanghai on the 21st: 18:00–18:30 of the 20th in Los Angeles.
    const clock = async (local: string) => {
      hub.setNow(at(`${DAY} ${local}`))
      return createApi(hub).as(await d.m.adminTokenNow())
    }
    let api = await clock('10:00:00')
    ok(await api.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_in', amount: 500, reason: 'float from the safe' }))
    const member = ok(await api.post('/api/v1/members', { phone: '13800138123', storeId: d.store.storeId }))
    const topup = ok(await api.post(`/api/v1/members/${member.id}/topups`, { registerId: d.store.registerId, amount: 3000, tenders: [{ kind: 'wechat', amount: 3000 }] }))
    api = await clock('10:10:00')
    ok(await api.post(`/api/v1/topups/${topup.id}/refund`, { registerId: d.store.registerId, reason: 'changed mind' }), 200)
    api = await clock('10:20:00')
    ok(await api.post(`/api/v1/members/${member.id}/stored-value/adjust`, { principal: 200, bonus: 50, reason: 'card balance from the old till', storeId: d.store.storeId }), 200)
    hub.setNow(undefined)

    const built = await d.build()
    const kinds = ok(await d.admin.get(`/api/v1/vouchers/${built.voucher.id}`), 200).lines.map((l: any) => l.kind)
    expect(kinds).toEqual(expect.arrayContaining(['cash_paid_in', 'topup_refund_tender', 'topup_refund_principal', 'stored_value_adjust']))
    const kd = await d.connect('kingdee')
    expect(JSON.stringify(ok(await d.exportTo(built.voucher.id, kd), 200))).toContain('exported')

    // The till closed (to the fen: no over or short to book), the merchant moves.
    const x = ok(await d.admin.get(`/api/v1/cash-sessions/${session.id}/report`), 200)
    ok(await d.admin.post(`/api/v1/cash-sessions/${session.id}/close`, { countedCash: x.cash.expected }), 200)
    ok(await d.admin.patch('/api/v1/merchant', { timeZone: 'America/Los_Angeles' }), 200)

    const again = ok(await d.admin.post('/api/v1/vouchers/build', { storeId: d.store.storeId, date: DAY }), 200)
    const dayBefore = ok(await d.admin.post('/api/v1/vouchers/preview', { storeId: d.store.storeId, date: '2026-11-20' }), 200)
    expect({ outcome: again.outcome, corrections: again.corrections, dayBefore: dayBefore.lines }).toEqual({ outcome: 'unchanged', corrections: [], dayBefore: [] })
    // Each line of the exported voucher still drills down to records adding up to it.
    const voucher = ok(await d.admin.get(`/api/v1/vouchers/${built.voucher.id}`), 200)
    for (const l of voucher.lines) {
      const s = ok(await d.admin.get(`/api/v1/vouchers/${voucher.id}/lines/${l.lineNo}/sources`), 200)
      expect([l.kind, s.records.reduce((n: number, r: any) => n + r.amount, 0)]).toEqual([l.kind, l.debit + l.credit])
    }
    // The members report's stored value at the end of a day counts the correction on the day it was made.
    const report = (date: string) => d.admin.get(`/api/v1/reports/members?from=${date}&to=${date}`)
    expect(ok(await report('2026-11-20'), 200).storedValue.total).toBe(0)
    expect(ok(await report(DAY), 200).storedValue.total).toBe(250)
  })
})
