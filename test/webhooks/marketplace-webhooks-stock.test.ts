// Marketplace webhooks changing shared stock: one order delivered many times at once holds once; partial refunds,
// refunds before the order, shipped then returned; two WooCommerce changes in one second are two events; malformed
// signed payloads write nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs, settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createShopifyConnection, createWooConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'
import { createHmac } from 'node:crypto'

describe('marketplace webhooks and shared stock', () => {
  const hub = useTestHub({ poolSize: 30, config: { publicUrl: 'https://hub.tillbridge.test' } })
  const server = setupServer()
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  const settle = (rounds?: number) => settleAll(hub, rounds)

  async function world(stock = 10) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const sku = `P-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
    const item = await seedProduct(hub, store, { sku, price: 1990, stock })
    const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET })
    const loc = shop.addLocation('Main street')
    shop.addProduct({ title: sku, variants: [{ sku, levels: { [loc.id]: stock } }] })
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
    const inbound = async (connectionId: string) =>
      (await hub.database.db.execute<any>(sql`select vendor_event_id, topic, status, deliveries, last_error from inbound_webhooks where connection_id = ${connectionId} order by received_at`)).rows
    return { m, store, item, sku, shop, loc, woo, wooPid, shopifyId, wooId, admin, deliver, activeHolds, inbound }
  }

  it('the same Shopify order delivered 10 times at once (same event) and 6 times under other event ids holds its units once', async () => {
    const w = await world(10)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    const same = await Promise.all(Array.from({ length: 10 }, () => w.deliver(w.shopifyId, delivery)))
    expect(same.map((r) => r.status)).toEqual(Array(10).fill(200))
    const others = await Promise.all(
      Array.from({ length: 6 }, (_, i) => {
        const headers = { ...delivery.headers, 'x-shopify-event-id': `other-${i}`, 'x-shopify-topic': i % 2 ? 'orders/updated' : 'orders/create' }
        return w.deliver(w.shopifyId, { headers, body: delivery.body })
      }),
    )
    expect(others.map((r) => r.status)).toEqual(Array(6).fill(200))
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a partial refund with restock of an open Shopify order gives back that many units; both shops agree', async () => {
    const w = await world(10)
    const { order, delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 3 }], locationId: w.loc.id })
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    const r = w.shop.refundOrder(order.id, { lines: [{ lineItemId: order.lines[0]!.id, quantity: 1 }], restock: true })
    expect((await w.deliver(w.shopifyId, r)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a refund delivered before the order (and the create arriving late) holds the order once at its refunded size', async () => {
    const w = await world(10)
    const { order, delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 3 }], locationId: w.loc.id, at: new Date(Date.now() - 60_000) })
    const r = w.shop.refundOrder(order.id, { lines: [{ lineItemId: order.lines[0]!.id, quantity: 1 }], restock: true })
    expect((await w.deliver(w.shopifyId, r)).status).toBe(200)
    await settle()
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
  })

  it('a Shopify order shipped, then refunded with restock: our stock stays, the order is flagged, both shops show our figure', async () => {
    const w = await world(10)
    const { order, delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    await w.deliver(w.shopifyId, delivery)
    await settle()
    await w.deliver(w.shopifyId, w.shop.fulfillOrder(order.id))
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    const r = w.shop.refundOrder(order.id, { lines: [{ lineItemId: order.lines[0]!.id, quantity: 2 }], restock: true })
    await w.deliver(w.shopifyId, r)
    await settle()
    const list = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items
    expect(list[0].flag).toBe('returned')
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('WooCommerce: an order paid and then cancelled within the same second: the cancellation is not lost', async () => {
    const w = await world(10)
    const { order, delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'pending' })
    expect((await w.deliver(w.wooId, delivery)).status).toBe(200)
    await settle()
    const paid = w.woo.payOrder(order.id as number)
    expect((await w.deliver(w.wooId, paid.delivery)).status).toBe(200)
    await settle()
    expect(await w.activeHolds()).toBe(2)
    const c = w.woo.cancelOrder(order.id as number)
    const ans = await w.deliver(w.wooId, c.delivery)
    expect(ans.status).toBe(200)
    await settle()
    const rows = await w.inbound(w.wooId)
    const state = { holds: await w.activeHolds(), events: rows.map((r: any) => [r.topic, r.status, r.deliveries]), woo: w.woo.stockOf(w.wooPid), shop: w.shop.level(w.sku, w.loc.id) }
    expect(state).toEqual({ holds: 0, events: [['order.created', 'processed', 1], ['order.updated', 'processed', 1], ['order.updated', 'processed', 1]], woo: 10, shop: 10 })
  })

  it('signed but malformed Shopify order payloads are refused or settled without writing anything', async () => {
    const w = await world(10)
    const sign = (topic: string, body: string, id: string) => ({ headers: { 'content-type': 'application/json', 'x-shopify-topic': topic, 'x-shopify-hmac-sha256': createHmac('sha256', SHOP_SECRET).update(body).digest('base64'), 'x-shopify-shop-domain': SHOP, 'x-shopify-event-id': id }, body })
    const bodies = [
      '[]',
      'null',
      '"x"',
      JSON.stringify({ id: 1, name: '#1', updated_at: 'garbage', cancelled_at: null, fulfillment_status: null, line_items: [{ id: 1, sku: w.sku, quantity: 1 }] }),
      JSON.stringify({ id: 2, name: '#2', updated_at: new Date().toISOString(), cancelled_at: null, fulfillment_status: null, line_items: 'nope' }),
      JSON.stringify({ id: 3, name: '#3', updated_at: new Date().toISOString(), cancelled_at: null, fulfillment_status: null, line_items: [{ id: 1, sku: w.sku, quantity: -5 }] }),
      JSON.stringify({ id: 4, name: '#4', updated_at: new Date().toISOString(), cancelled_at: null, fulfillment_status: null, line_items: [{ id: 1, sku: w.sku, quantity: 1e20 }] }),
      JSON.stringify({ id: 5, name: null, updated_at: new Date().toISOString(), cancelled_at: null, fulfillment_status: null, line_items: [null] }),
      JSON.stringify({ id: 6, name: '#6', updated_at: new Date().toISOString(), cancelled_at: null, fulfillment_status: null, line_items: [{ id: 1, sku: 12345, quantity: 1 }] }),
    ]
    const statuses: number[] = []
    for (const [i, b] of bodies.entries()) statuses.push((await w.deliver(w.shopifyId, sign('orders/create', b, `bad-${i}`))).status)
    expect(statuses.every((s) => s < 500)).toBe(true)
    await settle()
    expect(await w.activeHolds()).toBe(0)
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
    const rows = await w.inbound(w.shopifyId)
    // Each is settled: ignored, processed without effect, or waiting for its retry with why (none stuck processing).
    expect(rows.filter((r: any) => r.status === 'processing')).toEqual([])
    expect(rows.filter((r: any) => (r.status === 'failed' || r.status === 'received') && !r.last_error)).toEqual([])
  }, 120_000)

  it('signatures: wrong, missing, body modified, another shop domain, another merchant connection', async () => {
    const w = await world(10)
    const other = await world(10)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    const h = delivery.headers
    const results = {
      wrong: (await w.deliver(w.shopifyId, { headers: { ...h, 'x-shopify-hmac-sha256': createHmac('sha256', 'nope').update(delivery.body).digest('base64') }, body: delivery.body })).status,
      missing: (await w.deliver(w.shopifyId, { headers: Object.fromEntries(Object.entries(h).filter(([k]) => k !== 'x-shopify-hmac-sha256')), body: delivery.body })).status,
      modified: (await w.deliver(w.shopifyId, { headers: h, body: delivery.body.replace('"quantity":2', '"quantity":9') })).status,
      otherShop: (await w.deliver(w.shopifyId, { headers: { ...h, 'x-shopify-shop-domain': 'evil.myshopify.com' }, body: delivery.body })).status,
      wooWithShopifySig: (await w.deliver(w.wooId, delivery)).status,
    }
    expect(results).toEqual({ wrong: 401, missing: 401, modified: 401, otherShop: 401, wooWithShopifySig: 401 })
    await settle()
    expect(await w.activeHolds()).toBe(0)
    // another merchant's connection with the same app secret: the event is that merchant's own (signature is the credential)
    expect(await other.activeHolds()).toBe(0)
  }, 120_000)
})
