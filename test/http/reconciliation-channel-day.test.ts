// The carry of a payment counted in bills of the channel's days: an America/Los_Angeles merchant with Shanghai-dated
// WeChat bills. A payment made at 12:00 PDT on 9 March is in the channel's day of
// 10 March (03:00 in Shanghai); the bill of 10 March is the payment's own bill, not one after it.
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import type { WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { uploadWechatDay } from '../helpers/channels.ts'

const Z = (iso: string) => new Date(iso)

describe('a payment carried through the bills after its day in the channel\'s time', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))

  async function shop(timeZone: string) {
    const m = await seedMerchant(hub, { timeZone, currency: 'CNY' })
    const api = createApi(hub).as(m.adminToken)
    expect((await api.patch('/api/v1/merchant/settings', { reconciliation: { carryDays: 1 } })).status).toBe(200)
    const store = await seedStore(hub, m.merchantId, { code: `C${Date.now() % 100000}`, openedAt: Z('2026-03-08T00:00:00Z') })
    const item = await seedProduct(hub, store, { price: 1, stock: 10_000_000 })
    const created = await api.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { apiVersion: 'v2', mchId: '1900000109', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    expect(created.status, JSON.stringify(created.body)).toBe(201)
    const connectionId = created.body.id as string
    const sale = async (when: Date, amount: number) => {
      hub.setNow(when)
      try {
        const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: amount }], tenders: [{ kind: 'wechat', amount }] })
        expect(r.status, JSON.stringify(r.body)).toBe(201)
        return { paymentNo: r.body.tenders[0].paymentNo as string, businessDate: r.body.businessDate as string }
      } finally {
        hub.setNow(undefined)
      }
    }
    const upload = (day: string, rows: WechatBillRow[]) => uploadWechatDay(api, connectionId, day, rows)
    const itemOf = async (paymentNo: string) => {
      const r = await api.get(`/api/v1/reconciliation/exceptions?connectionId=${connectionId}&from=2026-03-01&to=2026-03-20&outcome=timing,missing_in_channel&state=all`)
      expect(r.status, JSON.stringify(r.body)).toBe(200)
      const it = (r.body.items as any[]).find((i) => i.posRef === paymentNo)
      return it ? { outcome: it.outcome, businessDate: it.businessDate, carriedDays: it.carriedDays } : null
    }
    return { sale, upload, itemOf, api }
  }

  it('Shanghai merchant: a payment missing from its own day\'s bill is still timing after that bill (carryDays 1)', async () => {
    const s = await shop('Asia/Shanghai')
    const p = await s.sale(Z('2026-03-09T19:00:00Z'), 30000) // 03:00 on 10 March in Shanghai
    expect(p.businessDate).toBe('2026-03-10')
    await s.upload('2026-03-09', [])
    await s.upload('2026-03-10', [])
    expect(await s.itemOf(p.paymentNo)).toMatchObject({ outcome: 'timing' })
    await s.upload('2026-03-11', [])
    expect(await s.itemOf(p.paymentNo)).toMatchObject({ outcome: 'missing_in_channel' })
  })

  it('LA merchant: the same payment (same instant, same bills) is also still timing after its own channel day\'s bill', async () => {
    const s = await shop('America/Los_Angeles')
    const p = await s.sale(Z('2026-03-09T19:00:00Z'), 30000) // 12:00 PDT on 9 March; 03:00 on 10 March in Shanghai
    expect(p.businessDate).toBe('2026-03-09')
    await s.upload('2026-03-09', [])
    await s.upload('2026-03-10', [])
    // The bill of 10 March is the bill the channel would list this payment on: no bill after it has come in yet.
    expect(await s.itemOf(p.paymentNo)).toMatchObject({ outcome: 'timing' })
    await s.upload('2026-03-11', [])
    expect(await s.itemOf(p.paymentNo)).toMatchObject({ outcome: 'missing_in_channel' })
  })
})
