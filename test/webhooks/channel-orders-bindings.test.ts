// Online orders against the listings' bindings: a line is the variant its listing is bound to (by hand or by SKU),
// also when the order names only the SKU; a listing left unbound holds nothing. The last unit raced by two shops,
// and a part refund of an open order.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createShopifyConnection, createWooConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'

describe('online orders and listing bindings', () => {
  const hub = useTestHub({ poolSize: 30, config: { publicUrl: 'https://hub.tillbridge.test' } })
  const server = setupServer()
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  const settle = (rounds?: number) => settleAll(hub, rounds)

  async function world(stock = 10, opts: { shopSku?: (sku: string) => string } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const sku = `P-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
    const item = await seedProduct(hub, store, { sku, price: 1990, stock })
    const shopSku = opts.shopSku ? opts.shopSku(sku) : sku
    const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET })
    const loc = shop.addLocation('Main street')
    shop.addProduct({ title: shopSku, variants: [{ sku: shopSku, levels: { [loc.id]: stock } }] })
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const wooPid = woo.addProduct({ sku, stock }).id
    server.resetHandlers(...shop.handlers, ...woo.handlers)
    const shopifyId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: loc.id, ours: [store.locationId] }] })
    const wooId = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    const admin = createApi(hub).as(m.adminToken)
    for (const id of [shopifyId, wooId]) await syncListings(hub, { merchantId: m.merchantId, connectionId: id }, 'import')
    await settle()
    const deliver = (connectionId: string, d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
    const activeHolds = async () =>
      Number((await hub.database.db.execute<{ n: string }>(sql`select coalesce(sum(quantity),0)::text as n from stock_reservations where merchant_id = ${m.merchantId} and status = 'active'`)).rows[0]!.n)
    return { m, store, item, sku, shopSku, shop, loc, woo, wooPid, shopifyId, wooId, admin, deliver, activeHolds }
  }

  it('a Shopify listing bound by hand (its SKU differs from ours): an order for it through the webhook holds our stock', async () => {
    const w = await world(10, { shopSku: (s) => `SHOP-${s}` })
    const unmapped = (await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/listings?state=unmapped`)).body.items
    expect(unmapped).toHaveLength(1)
    const bound = await w.admin.put(`/api/v1/stock-sync/${w.shopifyId}/listings/${unmapped[0].id}/binding`, { variantId: w.item.variantId })
    expect(bound.status).toBe(200)
    await settle()
    expect(w.shop.level(w.shopSku, w.loc.id)).toBe(10)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.shopSku, quantity: 2 }], locationId: w.loc.id })
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items
    expect({ flag: orders[0].flag, level: await stockLevel(hub, w.item.variantId, w.store.locationId), woo: w.woo.stockOf(w.wooPid) }).toEqual({
      flag: null,
      level: { onHand: 10, reserved: 2 },
      woo: 8,
    })
  })

  it('a WooCommerce listing unbound by hand: an order for it does not hold the variant a person said it is not', async () => {
    const w = await world(10)
    const listings = (await w.admin.get(`/api/v1/stock-sync/${w.wooId}/listings?state=bound`)).body.items
    expect(listings).toHaveLength(1)
    const un = await w.admin.put(`/api/v1/stock-sync/${w.wooId}/listings/${listings[0].id}/binding`, { variantId: null })
    expect(un.status).toBe(200)
    expect(un.body.state).toBe('unmapped')
    await settle()
    const o = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'processing' })
    expect((await w.deliver(w.wooId, o.delivery)).status).toBe(200)
    await settle()
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.wooId}`)).body.items
    expect({ flag: orders[0].flag, holds: await w.activeHolds() }).toEqual({ flag: 'unmapped_lines', holds: 0 })
  })

  it('two shops selling the last unit at once: one hold, the other flagged, every shop shows 0, ledger intact', async () => {
    const w = await world(1)
    const s = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 1 }], locationId: w.loc.id })
    const o = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 1 }], status: 'processing' })
    const [a, b] = await Promise.all([w.deliver(w.shopifyId, s.delivery), w.deliver(w.wooId, o.delivery)])
    expect([a.status, b.status]).toEqual([200, 200])
    await settle()
    const level = await stockLevel(hub, w.item.variantId, w.store.locationId)
    expect(level).toEqual({ onHand: 1, reserved: 1 })
    const all = (await w.admin.get(`/api/v1/channel-orders`)).body.items
    expect(all.map((x: any) => x.flag).sort()).toEqual(['insufficient_stock', null].sort())
    expect(w.shop.level(w.sku, w.loc.id)).toBe(0)
    expect(w.woo.stockOf(w.wooPid)).toBe(0)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a WooCommerce refund of one unit of an open order (restocked) shrinks the hold; both shops show the right figure', async () => {
    const w = await world(10)
    const o = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 3 }], status: 'processing' })
    await w.deliver(w.wooId, o.delivery)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 3 })
    const lineId = (o.order as any).line_items[0].id
    w.woo.advance(5_000)
    const r = w.woo.refundOrder(o.order.id as number, { lines: [{ lineId, quantity: 1 }], restock: true })
    expect((await w.deliver(w.wooId, r.delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    // Then the rest ships: 2 leave the shelf.
    w.woo.advance(5_000)
    await w.deliver(w.wooId, w.woo.completeOrder(o.order.id as number).delivery)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    expect([w.woo.stockOf(w.wooPid), w.shop.level(w.sku, w.loc.id)]).toEqual([8, 8])
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })
})
