// A SKU in sync whose stock then changes reads "pending" until the push lands (the summary counts it there): the "ok"
// filter leaves it out, so the filter's count and the rows it shows agree, on the dashboard and in the API.
import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { seedStockSync, type StockSyncState } from '../helpers/stock-sync-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'
import { absorbChanges } from '../../src/core/channel-stock/levels.ts'

describe('stock sync: the ok filter after a change', () => {
  const hub = useTestHub()
  let app: App
  let s: StockSyncState

  beforeAll(async () => {
    app = createApp(hub)
    s = await seedStockSync(hub)
    const api = createApi(hub, {}, app).as(s.m.adminToken)
    const v = (await hub.database.db.execute<{ variant_id: string; location_id: string }>(sql`
      select v.id as variant_id, sl.location_id from variants v join stock_levels sl on sl.variant_id = v.id where v.sku = ${s.sku.ok} and v.merchant_id = ${s.m.merchantId}`)).rows[0]!
    const r = await api.post('/api/v1/stock/adjustments', { locationId: v.location_id, lines: [{ variantId: v.variant_id, quantity: -1, reason: 'damaged' }] })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    // What the push job does first: the noted change marks the level (pending until the push lands; it stays so
    // while Shopify answers a stale compare-and-set or throttles the push).
    await hub.database.db.transaction((tx) => absorbChanges(tx, s.ref.connectionId))
  })

  it('lists under "ok" only SKUs that read ok, as many as the ok count says', async () => {
    const api = createApi(hub, {}, app).as(s.m.adminToken)
    const base = `/api/v1/stock-sync/${s.ref.connectionId}`
    const summary = await api.get(`${base}/summary`)
    const okRows = await api.get(`${base}/skus?status=ok`)
    const pendingRows = await api.get(`${base}/skus?status=pending`)
    // The changed tea is pending now.
    expect(pendingRows.body.items.map((i: any) => i.sku)).toContain(s.sku.ok)
    // API: the ok filter returns rows whose status is ok only.
    expect(okRows.body.items.map((i: any) => i.status).filter((x: string) => x !== 'ok')).toEqual([])
    expect(okRows.body.items.length).toBe(summary.body.levels.ok)
  })

  it('dashboard: the "ok (n)" filter shows n rows, all ok', async () => {
    const c = formClient(app)
    await c.login(s.m.adminEmail, s.m.password)
    const page = await c.get(`/dashboard/stock-sync/${s.ref.connectionId}?status=ok`)
    expect(page.status).toBe(200)
    const n = Number(/data-filter="ok">[^<]*\((\d+)\)/.exec(page.text)?.[1])
    const rows = [...page.text.matchAll(/<tr data-sku="[^"]*" data-status="([a-z]+)"/g)].map((m) => m[1])
    expect(rows.filter((x) => x !== 'ok')).toEqual([])
    expect(rows.length).toBe(n)
  })
})
