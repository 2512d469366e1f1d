// Online orders through the marketplaces' webhooks: holds that follow the order's life (cancelled with or without a
// restock, trashed, deleted, lines removed, grown, states stamped in the same second) and what each shop is shown; one
// order delivered many times at once holds once; refunds before the order; shipped then returned; two WooCommerce
// changes in one second are two events; malformed signed payloads write nothing; signatures.
import { createHmac } from 'node:crypto'
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
import { applyChannelOrder, type ChannelOrderInput } from '../../src/core/channel-stock/orders.ts'
import { systemActor } from '../../src/core/staff/actor.ts'

describe('online orders from webhook to held stock and pushed quantities', () => {
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
    const till = createApi(hub).as((await m.staff('cashier')).token)
    for (const id of [shopifyId, wooId]) await syncListings(hub, { merchantId: m.merchantId, connectionId: id }, 'import')
    await settle()
    const deliver = (connectionId: string, d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
    const sell = (quantity = 1) => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity }], tenders: [{ kind: 'card', amount: 1990 * quantity }] })
    const activeHolds = async () =>
      Number((await hub.database.db.execute<{ n: string }>(sql`select coalesce(sum(quantity),0)::text as n from stock_reservations where merchant_id = ${m.merchantId} and status = 'active'`)).rows[0]!.n)
    const inbound = async (connectionId: string) =>
      (await hub.database.db.execute<any>(sql`select vendor_event_id, topic, status, deliveries, last_error from inbound_webhooks where connection_id = ${connectionId} order by received_at`)).rows
    /** Our level, what each shop shows, and any level off its ledger. */
    const standing = async () => ({
      level: await stockLevel(hub, item.variantId, store.locationId),
      shopify: shop.level(sku, loc.id),
      woo: woo.stockOf(wooPid),
      ledger: await ledgerMismatches(hub, m.merchantId),
    })
    return { m, store, item, sku, shop, loc, woo, wooPid, shopifyId, wooId, admin, till, deliver, sell, activeHolds, inbound, standing }
  }

  it('a WooCommerce order trashed (which WooCommerce does not restock) gives its hold back and WooCommerce is pushed back up', async () => {
    const w = await world(10)
    const { order, delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'processing' })
    expect((await w.deliver(w.wooId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    expect(w.woo.stockOf(w.wooPid)).toBe(8)
    const t = w.woo.trashOrder(order.id as number)
    expect((await w.deliver(w.wooId, t.delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(10)
    // available is 10 again; Woo (which kept 8 on trash) must show 10
    expect(w.woo.stockOf(w.wooPid)).toBe(10)
  })

  it('a WooCommerce order deleted for good is cancelled here: its hold does not stay for ever', async () => {
    const w = await world(10)
    const { order, delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'processing' })
    await w.deliver(w.wooId, delivery)
    await settle()
    expect(await w.activeHolds()).toBe(2)
    const d = w.woo.deleteOrder(order.id as number)
    expect((await w.deliver(w.wooId, d.delivery)).status).toBe(200)
    await settle()
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.wooId}`)).body.items
    // reservations must match open online orders
    const open = orders.filter((o: any) => o.status === 'open').length
    expect({ open, holds: await w.activeHolds() }).toEqual({ open: 0, holds: 0 })
  })

  it('a Shopify order cancelled without a restock gives its hold back and Shopify is pushed back up', async () => {
    const w = await world(10)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    await w.deliver(w.shopifyId, delivery)
    await settle()
    expect(w.shop.level(w.sku, w.loc.id)).toBe(8)
    const gid = JSON.parse(delivery.body).admin_graphql_api_id
    w.shop.state.pendingWebhooks.splice(0)
    await w.deliver(w.shopifyId, w.shop.cancelOrder(gid, { restock: false }))
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(w.woo.stockOf(w.wooPid)).toBe(10)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(10)
  })

  it('an order line that grew while open takes off all it shipped when fulfilled, not only what was held', async () => {
    const w = await world(10)
    const ref = { merchantId: w.m.merchantId, connectionId: w.wooId }
    const o = (q: number, status: ChannelOrderInput['status'], at: string): ChannelOrderInput => ({ id: 'Q1', name: '#Q1', status, updatedAt: at, locationId: null, pickupLocationId: null, lines: [{ id: 'l1', sku: w.sku, externalId: null, quantity: q }] })
    const apply = (i: ChannelOrderInput) => hub.database.db.transaction((tx) => applyChannelOrder(tx, systemActor(w.m.merchantId, 't'), ref, i, new Date()))
    await apply(o(2, 'open', '2026-12-01T10:00:00Z'))
    const up = await apply(o(3, 'open', '2026-12-01T10:01:00Z'))
    expect(up.order.flag).toBe('quantity_increased')
    const held = await stockLevel(hub, w.item.variantId, w.store.locationId)
    await apply(o(3, 'fulfilled', '2026-12-01T10:02:00Z'))
    // The hold stays at what was first covered (the order is flagged); all 3 shipped leave the shelf.
    expect({ held, after: await stockLevel(hub, w.item.variantId, w.store.locationId) }).toEqual({ held: { onHand: 10, reserved: 2 }, after: { onHand: 7, reserved: 0 } })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a line removed from an open order gives its hold back; cancelling the order then leaves nothing held', async () => {
    const w = await world(10)
    const ref = { merchantId: w.m.merchantId, connectionId: w.wooId }
    const apply = (i: ChannelOrderInput) => hub.database.db.transaction((tx) => applyChannelOrder(tx, systemActor(w.m.merchantId, 't'), ref, i, new Date()))
    const other = await seedProduct(hub, w.store, { price: 500, stock: 5 })
    await apply({ id: 'R1', name: '#R1', status: 'open', updatedAt: '2026-12-01T10:00:00Z', locationId: null, pickupLocationId: null, lines: [{ id: 'a', sku: w.sku, externalId: null, quantity: 1 }, { id: 'b', sku: other.sku, externalId: null, quantity: 2 }] })
    expect(await w.activeHolds()).toBe(3)
    await apply({ id: 'R1', name: '#R1', status: 'open', updatedAt: '2026-12-01T10:01:00Z', locationId: null, pickupLocationId: null, lines: [{ id: 'a', sku: w.sku, externalId: null, quantity: 1 }] })
    const afterEdit = await w.activeHolds()
    await apply({ id: 'R1', name: '#R1', status: 'cancelled', updatedAt: '2026-12-01T10:02:00Z', locationId: null, pickupLocationId: null, lines: [{ id: 'a', sku: w.sku, externalId: null, quantity: 1 }] })
    expect({ afterEdit, afterCancel: await w.activeHolds() }).toEqual({ afterEdit: 1, afterCancel: 0 })
  })

  it('a bad signature holds nothing; a cancel or a fulfilment delivered before the create takes effect once; an unknown SKU flags the order', async () => {
    const w = await world(10)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    const bad = await w.deliver(w.shopifyId, { ...delivery, headers: { ...delivery.headers, 'x-shopify-hmac-sha256': 'AAAA' + delivery.headers['x-shopify-hmac-sha256']!.slice(4) } })
    expect([401, 403]).toContain(bad.status)
    await settle()
    expect(await w.activeHolds()).toBe(0)
    // cancel delivered before create
    const gid = JSON.parse(delivery.body).admin_graphql_api_id
    const cancel = w.shop.cancelOrder(gid, { restock: true, at: new Date(Date.now() + 5000) })
    expect((await w.deliver(w.shopifyId, cancel)).status).toBe(200)
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    expect(await w.activeHolds()).toBe(0)
    // fulfil before create
    const second = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 1 }], locationId: w.loc.id })
    const gid2 = JSON.parse(second.delivery.body).admin_graphql_api_id
    const ful = w.shop.fulfillOrder(gid2)
    await w.deliver(w.shopifyId, ful)
    await w.deliver(w.shopifyId, second.delivery)
    await w.deliver(w.shopifyId, ful)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 9, reserved: 0 })
    expect(w.shop.level(w.sku, w.loc.id)).toBe(9)
    expect(w.woo.stockOf(w.wooPid)).toBe(9)
    // unknown SKU on woo
    w.woo.addProduct({ sku: 'NOT-OURS-X', stock: 3 })
    const u = w.woo.placeOrder({ lines: [{ sku: 'NOT-OURS-X', quantity: 1 }], status: 'processing' })
    expect((await w.deliver(w.wooId, u.delivery)).status).toBe(200)
    await settle()
    const flagged = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.wooId}&flagged=true`)).body.items
    expect(flagged.map((o: any) => o.flag)).toEqual(['unmapped_lines'])
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a create and a cancel stamped in the same second (Shopify REST times are whole seconds), the cancel delivered first: nothing held', async () => {
    const w = await world(10)
    const at = new Date(Math.floor(Date.now() / 1000) * 1000 + 100)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id, at })
    const gid = JSON.parse(delivery.body).admin_graphql_api_id
    const cancel = w.shop.cancelOrder(gid, { restock: true, at: new Date(at.getTime() + 500) })
    expect(JSON.parse(cancel.body).updated_at).toBe(JSON.parse(delivery.body).updated_at)
    expect((await w.deliver(w.shopifyId, cancel)).status).toBe(200)
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items
    expect({ status: orders[0].status, holds: await w.activeHolds() }).toEqual({ status: 'cancelled', holds: 0 })
  })

  it('with a buffer, each shop shows available less its buffer after a sale, an order and a cancellation', async () => {
    const w = await world(10)
    expect((await w.admin.put(`/api/v1/stock-sync/${w.wooId}/rules/default`, { buffer: 3 })).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.wooPid)).toBe(7)
    expect((await w.sell(1)).status).toBe(201)
    await settle()
    expect(w.woo.stockOf(w.wooPid)).toBe(6)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(9)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 2 }], locationId: w.loc.id })
    await w.deliver(w.shopifyId, delivery)
    await settle()
    expect(w.woo.stockOf(w.wooPid)).toBe(4)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(7)
    const o = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 1 }], status: 'processing' })
    await w.deliver(w.wooId, o.delivery)
    await settle()
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 9, reserved: 3 })
    expect(w.woo.stockOf(w.wooPid)).toBe(3)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(6)
    const c = w.woo.cancelOrder(o.order.id as number)
    await w.deliver(w.wooId, c.delivery)
    await settle()
    expect(w.woo.stockOf(w.wooPid)).toBe(4)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(7)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

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
    expect(await w.standing()).toEqual({ level: { onHand: 10, reserved: 2 }, shopify: 8, woo: 8, ledger: [] })
  })

  it('a partial refund with restock of an open Shopify order gives back that many units; both shops agree', async () => {
    const w = await world(10)
    const { order, delivery } = w.shop.placeOrder({ lines: [{ item: w.sku, quantity: 3 }], locationId: w.loc.id })
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    const r = w.shop.refundOrder(order.id, { lines: [{ lineItemId: order.lines[0]!.id, quantity: 1 }], restock: true })
    expect((await w.deliver(w.shopifyId, r)).status).toBe(200)
    await settle()
    expect(await w.standing()).toEqual({ level: { onHand: 10, reserved: 2 }, shopify: 8, woo: 8, ledger: [] })
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
    expect(await w.standing()).toEqual({ level: { onHand: 8, reserved: 0 }, shopify: 8, woo: 8, ledger: [] })
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
