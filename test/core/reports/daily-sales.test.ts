import { randomUUID } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { createApi, seedMerchant } from '../../helpers/api.ts'
import { seedProduct, seedStore } from '../../helpers/pos.ts'
import { dailySalesReport } from '../../../src/core/reports/daily-sales.ts'

describe('daily sales report', () => {
  const hub = useTestHub()

  async function till(timeZone?: string) {
    const m = await seedMerchant(hub, { timeZone })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1500, stock: 20 })
    const api = createApi(hub).as((await m.staff('cashier')).token)
    const offline = async (occurredAt: string, tenders: { kind: string; amount: number }[], quantity = 1) => {
      const r = await api.post('/api/v1/sales/batch', { sales: [{ id: randomUUID(), occurredAt, registerId: store.registerId, lines: [{ sku: item.sku, quantity }], tenders }] })
      expect(r.body.results[0].status).toBe('accepted')
    }
    return { m, store, offline }
  }

  it('cuts business days and hours on the clock of the merchant’s time zone, not the server’s', async () => {
    const { m, store, offline } = await till('America/New_York')
    await offline('2026-03-14T23:30:00-04:00', [{ kind: 'card', amount: 1500 }]) // Saturday evening in New York, Sunday in UTC
    await offline('2026-03-15T00:10:00-04:00', [{ kind: 'card', amount: 3000 }], 2)
    await offline('2026-03-14T00:05:00-04:00', [{ kind: 'card', amount: 1500 }])
    const r = await dailySalesReport(hub.database.db, m.merchantId, { storeId: store.storeId, from: '2026-03-14', to: '2026-03-15' })
    expect(r.timeZone).toBe('America/New_York')
    expect(r.entries.map((e) => [e.businessDate, e.transactions, e.netSales])).toEqual([
      ['2026-03-14', 2, 3000],
      ['2026-03-15', 1, 3000],
    ])
    const busy = (i: number) => r.entries[i]!.hours.filter((h) => h.count > 0).map((h) => [h.hour, h.count, h.amount])
    expect(busy(0)).toEqual([
      [0, 1, 1500],
      [23, 1, 1500],
    ])
    expect(busy(1)).toEqual([[0, 1, 3000]])
  })

  it('an offline sale the till under-collected shows as a tender difference, and the tenders still add up', async () => {
    const { m, store, offline } = await till()
    await offline('2026-03-14T10:00:00+08:00', [{ kind: 'card', amount: 2000 }], 2) // 3000 due, 2000 taken
    await offline('2026-03-14T11:00:00+08:00', [{ kind: 'wechat', amount: 1500 }])
    const [e] = (await dailySalesReport(hub.database.db, m.merchantId, { storeId: store.storeId, from: '2026-03-14', to: '2026-03-14' })).entries
    expect(e).toMatchObject({ transactions: 2, netSales: 4500, tenderDifference: -1000, netAfterRefunds: 4500 })
    expect(e!.tenders).toEqual([
      { kind: 'card', sales: 2000, refunds: 0, net: 2000 },
      { kind: 'wechat', sales: 1500, refunds: 0, net: 1500 },
    ])
    expect(e!.tenders.reduce((a, t) => a + t.net, 0)).toBe(e!.netAfterRefunds + e!.tenderDifference)
    expect(e!.basket).toEqual({ averageAmount: 2250, items: 3, averageItems: 1.5 })
  })
})
