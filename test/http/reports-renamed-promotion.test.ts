// A promotion renamed during the period is one entry of the daily sales report (and one CSV column), under its
// current name; till discounts, which have no source, stay apart by what they were.
import { parse } from 'csv-parse/sync'
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { checkLedgerAfterEach, seedProduct, seedStore } from '../helpers/pos.ts'

describe('daily sales report: discounts of a renamed promotion', () => {
  const hub = useTestHub()
  checkLedgerAfterEach(hub)

  it('a promotion renamed between two sales of the day is one entry and one column, under its current name', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const a = await seedProduct(hub, store, { price: 1000, stock: 50 })
    const p = (await admin.post('/api/v1/promotions', { name: '春季9折', kind: 'percent_off', level: 'item', params: { percentBp: 1000 } })).body
    const sell = async (line: Record<string, unknown>) => {
      const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: a.sku, ...line }], tenders: [{ kind: 'cash', amount: 1000 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      return r.body
    }
    const first = await sell({})
    expect((await admin.patch(`/api/v1/promotions/${p.id}`, { name: '春季 9 折（延长）' })).status).toBe(200)
    await sell({})
    // Two till discounts of different sizes: no source to group them by, so they stay apart by their label.
    await sell({ discount: { percentBp: 500 } })
    await sell({ discount: { amount: 50 } })

    const day = first.businessDate
    const q = `from=${day}&to=${day}&storeId=${store.storeId}`
    const e = (await admin.get(`/api/v1/reports/daily-sales?${q}`)).body.entries[0]
    const promo = e.discounts.bySource.filter((d: any) => d.source === 'promotion')
    expect(promo).toEqual([{ source: 'promotion', sourceId: p.id, label: '春季 9 折（延长）', amount: 400 }])
    const manual = e.discounts.bySource.filter((d: any) => d.source === 'manual')
    expect(manual).toHaveLength(2)
    expect(e.discounts.bySource.reduce((s: number, d: any) => s + d.amount, 0)).toBe(e.discounts.total)

    const csv = await admin.get(`/api/v1/reports/daily-sales?${q}&format=csv`)
    expect(csv.status).toBe(200)
    const [header, row] = parse(String(csv.body), { bom: true }) as string[][]
    const promoColumns = header!.map((h, i) => [h, row![i]]).filter(([h]) => h!.startsWith('discount promotion'))
    expect(promoColumns).toEqual([['discount promotion: 春季 9 折（延长）', '4.00']])
    expect(header!.filter((h) => h.startsWith('discount manual'))).toHaveLength(2)

    // The till's own report of the shift counts it the same way.
    const session = (await admin.get(`/api/v1/cash-sessions?registerId=${store.registerId}&status=open`)).body.items[0]
    const x = (await admin.get(`/api/v1/cash-sessions/${session.id}/report`)).body
    expect(x.discounts.filter((d: any) => d.source === 'promotion')).toEqual([{ source: 'promotion', label: '春季 9 折（延长）', amount: 400 }])
    expect(x.discounts.filter((d: any) => d.source === 'manual')).toHaveLength(2)
  })
})
