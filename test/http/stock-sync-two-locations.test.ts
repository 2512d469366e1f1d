// Stock sync with a Shopify shop of two locations, each fed by one of our stores. Shopify's orders/create names no
// location for an online order, so the hub cannot tell which location's stock it took: every Shopify location must
// still end up showing what the store feeding it has available (online, no more offered in total than we have).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createShopifyConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'

describe('stock sync: Shopify with two locations, an online order', () => {
  const hub = useTestHub({ poolSize: 30, config: { publicUrl: 'https://hub.tillbridge.test' } })
  const server = setupServer()
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())

  /**
   * Store A feeds Shopify location 1, store B location 2; Shopify stocks the SKU at both (or at location 1 only).
   * All of it is set up, read and pushed a minute ago by the hub's clock, so an order placed now comes well after our
   * last write or reading of each level.
   */
  async function world(stockA: number, stockB: number, o: { onlyAtLocation1?: boolean } = {}) {
    hub.setNow(new Date(Date.now() - 60_000))
    try {
      const m = await seedMerchant(hub)
      const a = await seedStore(hub, m.merchantId, { code: 'A' })
      const b = await seedStore(hub, m.merchantId, { code: 'B' })
      const sku = `TWO-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
      const item = await seedProduct(hub, a, { sku, price: 1990, stock: stockA })
      const admin = createApi(hub).as(m.adminToken)
      expect((await admin.post('/api/v1/stock/receipts', { locationId: b.locationId, lines: [{ sku, quantity: stockB }] })).status).toBe(201)
      const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET })
      const l1 = shop.addLocation('Store A warehouse')
      const l2 = shop.addLocation('Store B warehouse')
      shop.addProduct({ title: sku, variants: [{ sku, levels: o.onlyAtLocation1 ? { [l1.id]: stockA } : { [l1.id]: stockA, [l2.id]: stockB } }] })
      server.resetHandlers(...shop.handlers)
      const connectionId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: l1.id, ours: [a.locationId] }, { remote: l2.id, ours: [b.locationId] }] })
      await syncListings(hub, { merchantId: m.merchantId, connectionId }, 'import')
      await settleAll(hub)

      const deliver = (d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
      /** What each of our stores has available. */
      const ours = async () => {
        const la = await stockLevel(hub, item.variantId, a.locationId)
        const lb = await stockLevel(hub, item.variantId, b.locationId)
        return { a: la.onHand - la.reserved, b: lb.onHand - lb.reserved }
      }
      /** What each Shopify location shows. */
      const shown = () => ({ a: shop.level(sku, l1.id), b: shop.level(sku, l2.id) })
      /** The hub's sync state of the SKU's levels, by the store feeding them. */
      const levels = async () => {
        const { rows } = await hub.database.db.execute<{ remote_location_id: string; target: number | null; last_pushed: number | null; last_remote: number | null; dirty: boolean }>(sql`
          select remote_location_id, target::int, last_pushed::int, last_remote::int, dirty_since is not null as dirty
            from channel_levels where connection_id = ${connectionId} and variant_id = ${item.variantId}`)
        const of = (remote: string) => rows.filter((r) => r.remote_location_id === remote).map(({ remote_location_id: _, ...r }) => r)
        return { a: of(l1.id), b: of(l2.id) }
      }
      return { m, sku, shop, l1, deliver, ours, shown, levels }
    } finally {
      hub.setNow(undefined)
    }
  }

  it('shipped from location 1 while store B has more: each location shows its store’s available', async () => {
    const w = await world(2, 5)
    expect(w.shown()).toEqual({ a: 2, b: 5 })
    const { delivery, levelDeliveries } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.l1.id })
    expect((await w.deliver(delivery)).status).toBe(200)
    // Shopify also reports its own level change at location 1.
    for (const d of levelDeliveries) expect((await w.deliver(d)).status).toBe(200)
    await settleAll(hub)

    // The hold is made at store B, which has most.
    expect(await w.ours()).toEqual({ a: 2, b: 3 })
    expect(w.shown()).toEqual({ a: 2, b: 3 })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('without Shopify’s level report: both locations are pushed and the hub believes what they show', async () => {
    const w = await world(2, 5)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.l1.id })
    expect((await w.deliver(delivery)).status).toBe(200)
    await settleAll(hub)

    expect(await w.ours()).toEqual({ a: 2, b: 3 })
    expect(w.shown()).toEqual({ a: 2, b: 3 })
    expect(await w.levels()).toEqual({
      a: [{ target: 2, last_pushed: 2, last_remote: 2, dirty: false }],
      b: [{ target: 3, last_pushed: 3, last_remote: 3, dirty: false }],
    })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a SKU stocked at one location only: the order comes off what the hub believes there, and nothing is pushed', async () => {
    const w = await world(5, 1, { onlyAtLocation1: true })
    expect(w.shown()).toEqual({ a: 5, b: null })
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.l1.id })
    expect((await w.deliver(delivery)).status).toBe(200)
    await settleAll(hub)

    expect(await w.ours()).toEqual({ a: 3, b: 1 })
    expect(w.shown().a).toBe(3)
    // Shopify already shows our figure: no write was needed.
    expect(await w.levels()).toEqual({ a: [{ target: 3, last_pushed: null, last_remote: 3, dirty: false }], b: [] })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })
})
