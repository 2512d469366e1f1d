// The 应收账款-挂账 (on account) lines of a voucher drill down to records that say who owes: the sale's customer and
// the tender's account reference, for what was charged and for what refunds gave back.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('drill-down of on-account voucher lines', () => {
  const hub = useTestHub()

  it('each on-account record names the customer who owes it, for sales and refunds, and the records add up to the line', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 3333, stock: 100 })
    const api = createApi(hub).as((await m.staff('manager')).token)
    const admin = createApi(hub).as(m.adminToken)
    const a = (await api.post('/api/v1/sales', { registerId: store.registerId, customerName: 'ACME Ltd', lines: [{ sku: item.sku, quantity: 3 }], tenders: [{ kind: 'on_account', amount: 9999 }] })).body
    const b = (await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'on_account', amount: 2000, accountRef: 'CUST-42' }, { kind: 'cash', amount: 2000 }] })).body
    expect([a.status, b.status]).toEqual(['completed', 'completed'])
    expect((await api.post(`/api/v1/sales/${a.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: a.lines[0].id, quantity: 1 }] })).status).toBe(201)
    const built = (await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: a.businessDate })).body
    expect(built.outcome, JSON.stringify(built)).toBe('created')
    const v = (await admin.get(`/api/v1/vouchers/${built.voucher.id}`)).body
    const charged = v.lines.find((l: any) => l.accountKey === 'tender:on_account' && l.debit > 0)
    const given = v.lines.find((l: any) => l.accountKey === 'tender:on_account' && l.credit > 0)
    expect([charged?.debit, given?.credit]).toEqual([11_999, 3333])

    const sales = (await admin.get(`/api/v1/vouchers/${v.id}/lines/${charged.lineNo}/sources`)).body.records
    expect(sales.map((x: any) => [x.amount, x.detail.saleId, x.detail.customerName, x.detail.accountRef]).sort()).toEqual(
      [
        [9999, a.id, 'ACME Ltd', null],
        [2000, b.id, null, 'CUST-42'],
      ].sort(),
    )
    const refunds = (await admin.get(`/api/v1/vouchers/${v.id}/lines/${given.lineNo}/sources`)).body.records
    expect(refunds.map((x: any) => [x.amount, x.detail.saleId, x.detail.customerName, x.detail.accountRef])).toEqual([[3333, a.id, 'ACME Ltd', null]])
  })
})
