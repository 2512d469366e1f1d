import { randomUUID } from 'node:crypto'
import { beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api } from '../helpers/api.ts'
import { seedProduct, seedStore, type SeededStore } from '../helpers/pos.ts'
import { businessDate } from '../../src/lib/time.ts'

describe('who may read reports, and of which merchant', () => {
  const hub = useTestHub()
  /** The business day of the one sale, so a run across midnight cannot split it. */
  let today: string
  let a: { admin: Api; cashier: Api; finance: Api; store: SeededStore; sessionId: string; sku: string; cashierId: string }
  let b: { admin: Api; store: SeededStore }

  beforeAll(async () => {
    const ma = await seedMerchant(hub, { name: 'A' })
    const store = await seedStore(hub, ma.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 10, name: '甲商品' })
    const cashierUser = await ma.staff('cashier')
    const cashier = createApi(hub).as(cashierUser.token)
    const sale = await cashier.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 2000 }] })
    expect(sale.status).toBe(201)
    today = sale.body.businessDate
    expect(today).toBe(businessDate(new Date(sale.body.occurredAt), 'Asia/Shanghai'))
    a = {
      admin: createApi(hub).as(ma.adminToken),
      cashier,
      finance: createApi(hub).as((await ma.staff('finance')).token),
      store,
      sessionId: sale.body.sessionId,
      sku: item.sku,
      cashierId: cashierUser.id,
    }
    const mb = await seedMerchant(hub, { name: 'B' })
    b = { admin: createApi(hub).as(mb.adminToken), store: await seedStore(hub, mb.merchantId) }
  })

  const paths = () => [
    `/api/v1/reports/daily-sales?date=${today}`,
    `/api/v1/reports/products?from=${today}&to=${today}`,
    `/api/v1/reports/stock-valuation`,
    `/api/v1/reports/staff?from=${today}&to=${today}`,
    `/api/v1/reports/sessions?date=${today}`,
    `/api/v1/reports/sessions/${a.sessionId}`,
  ]

  it('a cashier may read no report, as JSON or CSV; finance staff may read them all', async () => {
    for (const path of paths()) {
      for (const p of [path, `${path}${path.includes('?') ? '&' : '?'}format=csv`]) {
        const r = await a.cashier.get(p)
        expect({ p, status: r.status, code: r.body?.error?.code }).toEqual({ p, status: 403, code: 'permission_denied' })
      }
      expect({ path, status: (await a.finance.get(path)).status }).toEqual({ path, status: 200 })
    }
  })

  it('a cashier may not read vouchers or reconciliation either: the same 403 permission_denied; finance staff may', async () => {
    for (const path of [`/api/v1/vouchers?date=${today}`, `/api/v1/reconciliation/runs`, `/api/v1/reconciliation/summary?from=${today}&to=${today}`]) {
      const r = await a.cashier.get(path)
      expect({ path, status: r.status, code: r.body?.error?.code, permission: r.body?.error?.details?.permission }).toEqual({ path, status: 403, code: 'permission_denied', permission: 'finance.export|reports.read' })
      expect({ path, status: (await a.finance.get(path)).status }).toEqual({ path, status: 200 })
    }
  })

  it("another merchant's store, location, category and session are not found", async () => {
    const cases = [
      `/api/v1/reports/daily-sales?storeId=${a.store.storeId}&date=${today}`,
      `/api/v1/reports/products?storeId=${a.store.storeId}&from=${today}&to=${today}`,
      `/api/v1/reports/stock-valuation?locationId=${a.store.locationId}`,
      `/api/v1/reports/stock-valuation?storeId=${a.store.storeId}`,
      `/api/v1/reports/staff?storeId=${a.store.storeId}&from=${today}&to=${today}`,
      `/api/v1/reports/sessions?storeId=${a.store.storeId}&date=${today}`,
      `/api/v1/reports/sessions/${a.sessionId}`,
      `/api/v1/reports/sessions/${a.sessionId}?format=csv`,
    ]
    for (const path of cases) expect({ path, status: (await b.admin.get(path)).status }).toEqual({ path, status: 404 })
    expect((await a.admin.get(`/api/v1/reports/daily-sales?storeId=${randomUUID()}&date=${today}`)).status).toBe(404)
  })

  it("a merchant's reports over all stores hold nothing of another merchant", async () => {
    const daily = await b.admin.get(`/api/v1/reports/daily-sales?date=${today}`)
    expect(daily.body.entries.map((e: any) => [e.storeId, e.transactions, e.netSales])).toEqual([[b.store.storeId, 0, 0]])
    const products = await b.admin.get(`/api/v1/reports/products?from=${today}&to=${today}`)
    expect(products.body).toMatchObject({ totals: { variants: 0, quantity: 0, netSales: 0 }, bestSellers: [], slowMovers: [] })
    const stock = await b.admin.get('/api/v1/reports/stock-valuation')
    expect(stock.body).toMatchObject({ totals: { items: 0, value: 0 }, items: [], locations: [] })
    expect((await b.admin.get(`/api/v1/reports/staff?from=${today}&to=${today}`)).body.staff).toEqual([])
    const sessions = await b.admin.get(`/api/v1/reports/sessions?date=${today}`)
    expect(sessions.body.sessions.map((s: any) => s.storeId)).toEqual([b.store.storeId])
    const csv = await b.admin.get(`/api/v1/reports/products?from=${today}&to=${today}&format=csv`)
    expect(csv.body).not.toContain('甲商品')

    // The same reports of A do hold A's sale.
    const mine = await a.admin.get(`/api/v1/reports/daily-sales?date=${today}`)
    expect(mine.body.entries.map((e: any) => [e.storeId, e.transactions, e.netSales])).toEqual([[a.store.storeId, 1, 2000]])
    expect((await a.admin.get(`/api/v1/reports/staff?from=${today}&to=${today}`)).body.staff.map((p: any) => p.userId)).toEqual([a.cashierId])
    expect((await a.admin.get(`/api/v1/reports/products?from=${today}&to=${today}`)).body.bestSellers.map((x: any) => x.sku)).toEqual([a.sku])
  })

  it('a date that does not exist or a malformed one is 400; a period that runs backwards or is too long is 422', async () => {
    const expectError = async (path: string, status: number, code: string) => {
      const r = await a.admin.get(path)
      expect({ path, status: r.status, code: r.body?.error?.code }).toEqual({ path, status, code })
    }
    await expectError('/api/v1/reports/daily-sales?date=2026-02-30', 400, 'validation_failed')
    await expectError('/api/v1/reports/daily-sales?date=14.03.2026', 400, 'validation_failed')
    await expectError('/api/v1/reports/daily-sales', 400, 'period_required')
    await expectError('/api/v1/reports/daily-sales?from=2026-03-01', 400, 'period_required')
    await expectError('/api/v1/reports/daily-sales?date=2026-03-01&from=2026-03-01&to=2026-03-02', 400, 'invalid_period')
    await expectError('/api/v1/reports/daily-sales?from=2026-03-14&to=2026-03-01', 422, 'invalid_period')
    await expectError('/api/v1/reports/daily-sales?from=2025-01-01&to=2026-03-01', 422, 'period_too_long')
    await expectError('/api/v1/reports/products?from=2026-03-14&to=2026-03-13', 422, 'invalid_period')
    await expectError('/api/v1/reports/products?from=2026-03-14', 400, 'validation_failed')
    await expectError('/api/v1/reports/products?from=2026-03-14&to=2026-03-14&by=price', 400, 'validation_failed')
    await expectError('/api/v1/reports/products?from=2026-03-14&to=2026-03-14&limit=0', 400, 'validation_failed')
    await expectError('/api/v1/reports/staff?from=2026-13-01&to=2026-13-02', 400, 'validation_failed')
    await expectError('/api/v1/reports/staff?from=2026-03-02&to=2026-03-01', 422, 'invalid_period')
    await expectError('/api/v1/reports/sessions?date=today', 400, 'validation_failed')
    await expectError('/api/v1/reports/sessions?date=2026-03-14&format=pdf', 400, 'validation_failed')
    await expectError('/api/v1/reports/stock-valuation?date=2026-02-29', 400, 'validation_failed')
    await expectError('/api/v1/reports/stock-valuation?windowDays=0', 400, 'validation_failed')
    await expectError('/api/v1/reports/stock-valuation?date=2999-01-01', 422, 'future_date')
    await expectError(`/api/v1/reports/stock-valuation?storeId=${a.store.storeId}&locationId=${a.store.locationId}`, 400, 'invalid_scope')
  })

  it('the reports are in the OpenAPI document under reports.read, with a CSV response beside the JSON one', async () => {
    const doc = (await createApi(hub).get('/openapi.json')).body
    for (const path of ['/api/v1/reports/daily-sales', '/api/v1/reports/products', '/api/v1/reports/stock-valuation', '/api/v1/reports/staff', '/api/v1/reports/sessions', '/api/v1/reports/sessions/{id}']) {
      const op = doc.paths[path].get
      expect({ path, permission: op['x-permission'], types: Object.keys(op.responses['200'].content).sort() }).toEqual({ path, permission: 'reports.read', types: ['application/json', 'text/csv'] })
    }
  })
})
