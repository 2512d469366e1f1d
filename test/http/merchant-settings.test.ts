import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('changing merchant settings', () => {
  const hub = useTestHub()

  it('a change to one field of a group keeps the group’s other fields as they were', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const patch = async (body: object) => {
      const r = await admin.patch('/api/v1/merchant/settings', body)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      return r.body
    }
    await patch({ vouchers: { exportAt: '03:30', useDefaultAccounts: false, summaries: { sale_revenue: '销售 {date}' }, correction: 'difference' } })
    const vouchers = (await patch({ vouchers: { closedThrough: '2026-10-31' } })).vouchers
    expect(vouchers).toMatchObject({ exportAt: '03:30', useDefaultAccounts: false, summaries: { sale_revenue: '销售 {date}' }, correction: 'difference', closedThrough: '2026-10-31' })
    await patch({ loyalty: { spendPerPoint: 1000, maxRedeemBp: 1000 } })
    await patch({ loyalty: { birthdayGift: { kind: 'points', points: 200 } } })
    const read = (await admin.get('/api/v1/merchant/settings')).body
    expect(read.loyalty).toMatchObject({ spendPerPoint: 1000, maxRedeemBp: 1000, birthdayGift: { kind: 'points', points: 200 } })
    expect(read.vouchers).toMatchObject({ exportAt: '03:30', correction: 'difference', closedThrough: '2026-10-31' })
    await patch({ cashRounding: { unit: 10, mode: 'down' } })
    expect((await patch({ cashRounding: { unit: 50 } })).cashRounding).toEqual({ unit: 50, mode: 'down' })
    // A bad field is refused and nothing changes.
    const bad = await admin.patch('/api/v1/merchant/settings', { loyalty: { spendPerPoint: -5 } })
    expect([bad.status, bad.body.error.code]).toEqual([400, 'validation_failed'])
    expect((await admin.get('/api/v1/merchant/settings')).body.loyalty.spendPerPoint).toBe(1000)
    // A field a group does not have (a typo) is refused, not dropped.
    for (const body of [{ vouchers: { exportat: '03:00' } }, { scaleBarcode: { bogus: 1 } }, { loyalty: { spendPerPiont: 5 } }]) {
      const typo = await admin.patch('/api/v1/merchant/settings', body)
      expect([typo.status, typo.body.error.code], JSON.stringify(body)).toEqual([400, 'validation_failed'])
    }
    // The audit names what the change was from and to, the whole group.
    const audit = (await admin.get('/api/v1/audit?action=merchant.settings_changed')).body.items
    expect(audit[0].details.cashRounding).toEqual({ from: { unit: 10, mode: 'down' }, to: { unit: 50, mode: 'down' } })
    // The approval rules too, replaced whole: a misspelt rule dropped would switch every other rule off.
    await patch({ approvals: { refundOverAmount: 1500, stockAdjustmentOverValue: 1000 } })
    const typo = await admin.patch('/api/v1/merchant/settings', { approvals: { priceChange: true, refundOverAmout: 100 } })
    expect([typo.status, typo.body.error.code]).toEqual([400, 'validation_failed'])
    expect((await admin.get('/api/v1/merchant/settings')).body.approvals).toMatchObject({ priceChange: false, refundOverAmount: 1500, stockAdjustmentOverValue: 1000 })
  })

  it("exports go only to the merchant's own accounting connections: another merchant's, a payment channel's or an unknown one is refused", async () => {
    const newFile = (api: ReturnType<typeof createApi>, name: string) =>
      api.post('/api/v1/connections', { connectorId: 'voucher-file', name, config: { smtpHost: '127.0.0.1', smtpPort: 2525, secure: false, from: 'v@shop.cn', recipients: ['finance@shop.cn'], format: 'csv' } })
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    const apiA = createApi(hub).as(a.adminToken)
    const apiB = createApi(hub).as(b.adminToken)
    const fileA = await newFile(apiA, 'Finance A')
    const fileB = await newFile(apiB, 'Finance B')
    expect([fileA.status, fileB.status]).toEqual([201, 201])
    const wechat = await apiB.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'a'.repeat(32) } })
    expect(wechat.status).toBe(201)
    for (const [id, code] of [
      [fileA.body.id, 'connection_not_found'],
      ['6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f', 'connection_not_found'],
      [wechat.body.id, 'not_an_accounting_connection'],
    ]) {
      const r = await apiB.patch('/api/v1/merchant/settings', { vouchers: { exportTo: [fileB.body.id, id] } })
      expect([r.status, r.body.error.code], JSON.stringify(r.body)).toEqual([422, code])
      expect(r.body.error.details).toMatchObject({ field: 'vouchers.exportTo', connectionId: id })
    }
    expect((await apiB.get('/api/v1/merchant/settings')).body.vouchers.exportTo).toEqual([])
    const ok = await apiB.patch('/api/v1/merchant/settings', { vouchers: { exportTo: [fileB.body.id] } })
    expect([ok.status, ok.body.vouchers.exportTo]).toEqual([200, [fileB.body.id]])
  })

  it('loyalty day counts go up to a hundred years: more is refused, and the longest still lets members buy and the report run', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
    const admin = createApi(hub).as(m.adminToken)
    for (const loyalty of [{ expiry: { days: 100_000_000 } }, { expiry: { days: 36_501 } }, { lapsedDays: 100_000_000 }, { lapsedDays: 36_501 }]) {
      const r = await admin.patch('/api/v1/merchant/settings', { loyalty })
      expect([r.status, r.body.error?.code], JSON.stringify(loyalty)).toEqual([400, 'validation_failed'])
    }
    const longest = await admin.patch('/api/v1/merchant/settings', { loyalty: { expiry: { days: 36_500 }, lapsedDays: 36_500 } })
    expect(longest.status, JSON.stringify(longest.body)).toBe(200)
    const member = await admin.post('/api/v1/members', { phone: '+8613900001111' })
    expect(member.status, JSON.stringify(member.body)).toBe(201)
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, memberId: member.body.id, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1000 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    const adjust = await admin.post(`/api/v1/members/${member.body.id}/points/adjust`, { delta: 10, reason: 'gift' })
    expect(adjust.status, JSON.stringify(adjust.body)).toBeLessThan(300)
    const report = await admin.get('/api/v1/reports/members?from=2026-01-01&to=2026-01-15')
    expect(report.status, JSON.stringify(report.body)).toBe(200)
  })
})
