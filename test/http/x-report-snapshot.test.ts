// An X report read while the till sells: every figure of one report counts the same sales (its sales, its tenders and
// its drawer), on the cash session's own route and on finance's.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

describe('the X report read while sales go on', () => {
  const hub = useTestHub({ poolSize: 20 })

  for (const route of ['/api/v1/cash-sessions/:id/report', '/api/v1/reports/sessions/:id']) {
    it(`every X report (${route}) agrees with itself: its sales, its tenders and its drawer count the same sales`, async () => {
      const m = await seedMerchant(hub)
      const store = await seedStore(hub, m.merchantId, { float: 0 })
      const item = await seedProduct(hub, store, { price: 1000, stock: 10_000 })
      const api = createApi(hub).as(m.adminToken)
      const sid = (await api.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0].id
      let selling = true
      const seller = async () => {
        for (let i = 0; i < 40; i++) {
          const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1000 }] })
          expect(r.status).toBe(201)
        }
      }
      const bad: unknown[] = []
      let reads = 0
      const reader = async () => {
        while (selling) {
          const x = (await api.get(route.replace(':id', sid))).body
          reads++
          const cashTender = x.tenders.find((t: any) => t.kind === 'cash')?.sales ?? 0
          const seen = { count: x.sales.count * 1000, amountDue: x.sales.amountDue, tenderCash: cashTender, drawerSales: x.cash.sales, expected: x.cash.expected }
          if (new Set(Object.values(seen)).size !== 1) bad.push(seen)
        }
      }
      const readers = [reader(), reader(), reader()]
      await Promise.all([seller(), seller(), seller()])
      selling = false
      await Promise.all(readers)
      expect(reads).toBeGreaterThan(10)
      expect(bad.slice(0, 3)).toEqual([])
    })
  }
})
