// An order Shopify splits over two of its locations (a fulfillment order for each): every line is held, and taken
// when it ships, at the store feeding the location that ships it, and only that location's figure is believed lower.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createShopifyConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel, useStockSyncHub } from '../helpers/channels.ts'
import { shopifySandbox, type WebhookDelivery } from '../../src/sandboxes/vendors/shopify.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'

describe('Shopify orders split over two locations', () => {
  const { hub, server, settle } = useStockSyncHub()

  /**
   * Store A feeds Shopify location 1, store B location 2. X is stocked at A only; Y at both, as `y` says (Shopify
   * shows each store's figure at its location).
   */
  async function world(y: { a: number; b: number }) {
    const m = await seedMerchant(hub)
    const a = await seedStore(hub, m.merchantId, { code: 'A' })
    const b = await seedStore(hub, m.merchantId, { code: 'B' })
    const tag = `${Date.now()}-${Math.floor(Math.random() * 1e6)}`
    const x = await seedProduct(hub, a, { sku: `SPLIT-X-${tag}`, price: 1990, stock: 5 })
    const yItem = await seedProduct(hub, a, { sku: `SPLIT-Y-${tag}`, price: 1990, stock: y.a })
    const admin = createApi(hub).as(m.adminToken)
    expect((await admin.post('/api/v1/stock/receipts', { locationId: b.locationId, lines: [{ sku: yItem.sku, quantity: y.b }] })).status).toBe(201)
    let shopAhead = 0
    const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET, now: () => new Date(Date.now() + shopAhead) })
    const l1 = shop.addLocation('Store A warehouse')
    const l2 = shop.addLocation('Store B warehouse')
    shop.addProduct({ title: 'X', variants: [{ sku: x.sku, levels: { [l1.id]: 5 } }] })
    shop.addProduct({ title: 'Y', variants: [{ sku: yItem.sku, levels: { [l1.id]: y.a, [l2.id]: y.b } }] })
    server.resetHandlers(...shop.handlers)
    const connectionId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: l1.id, ours: [a.locationId] }, { remote: l2.id, ours: [b.locationId] }] })
    const ref = { merchantId: m.merchantId, connectionId }
    await syncListings(hub, ref, 'import')
    await settle()
    // Orders are placed a little after the shop's figures were read.
    shopAhead = 10_000
    const later = () => (shopAhead += 10_000)
    const deliver = (d: WebhookDelivery) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
    const levels = async () => ({
      xA: await stockLevel(hub, x.variantId, a.locationId),
      yA: await stockLevel(hub, yItem.variantId, a.locationId),
      yB: await stockLevel(hub, yItem.variantId, b.locationId),
    })
    /** What we believe Shopify shows of a variant at a location, and whether a push is owed there. */
    const belief = async (variantId: string, remoteLocationId: string) => {
      const r = await hub.database.db.execute<{ last_remote: number | null; dirty: boolean }>(sql`
        select last_remote::int, dirty_since is not null as dirty from channel_levels
         where connection_id = ${connectionId} and variant_id = ${variantId} and remote_location_id = ${remoteLocationId}`)
      return r.rows[0] ?? null
    }
    const orders = async () => (await admin.get(`/api/v1/channel-orders?connectionId=${connectionId}`)).body.items
    return { m, a, b, x, y: yItem, shop, l1, l2, connectionId, ref, admin, later, deliver, levels, belief, orders }
  }

  it('each line is held and taken at the store feeding the location that ships it, and only that location is believed lower', async () => {
    const w = await world({ a: 0, b: 5 })
    const { order } = w.shop.placeOrder({ lines: [{ item: w.x.sku, quantity: 1, locationId: w.l1.id }, { item: w.y.sku, quantity: 2, locationId: w.l2.id }] })
    expect(order.fulfillmentOrders.map((f) => f.locationId)).toEqual([w.l1.id, w.l2.id])
    await pollOrders(hub, w.ref)
    await settle()
    expect((await w.orders()).map((o: any) => o.flag)).toEqual([null])
    expect(await w.levels()).toEqual({ xA: { onHand: 5, reserved: 1 }, yA: { onHand: 0, reserved: 0 }, yB: { onHand: 5, reserved: 2 } })
    // Shopify took X off location 1 and Y off location 2 itself: each figure is believed one order lower there, and
    // nothing is written.
    expect(await w.belief(w.x.variantId, w.l1.id)).toEqual({ last_remote: 4, dirty: false })
    expect(await w.belief(w.y.variantId, w.l2.id)).toEqual({ last_remote: 3, dirty: false })
    expect(await w.belief(w.y.variantId, w.l1.id)).toEqual({ last_remote: 0, dirty: false })
    expect(w.shop.requestsFor('InventorySetQuantities')).toHaveLength(0)

    // Shipped from both locations.
    w.later()
    w.shop.fulfillOrder(order.id)
    await pollOrders(hub, w.ref)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 4, reserved: 0 }, yA: { onHand: 0, reserved: 0 }, yB: { onHand: 3, reserved: 0 } })
    expect([w.shop.level(w.x.sku, w.l1.id), w.shop.level(w.y.sku, w.l1.id), w.shop.level(w.y.sku, w.l2.id)]).toEqual([4, 0, 3])
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a line first heard of by webhook is held where most is available, and moved to the store that ships it once Shopify says', async () => {
    const w = await world({ a: 6, b: 5 })
    const placed = w.shop.placeOrder({ lines: [{ item: w.x.sku, quantity: 1, locationId: w.l1.id }, { item: w.y.sku, quantity: 2, locationId: w.l2.id }] })
    // The orders/create payload names no location: Y is held at A, which has the most.
    expect((await w.deliver(placed.delivery)).status).toBe(200)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 5, reserved: 1 }, yA: { onHand: 6, reserved: 2 }, yB: { onHand: 5, reserved: 0 } })
    // The poll reads the fulfillment orders: Y ships from location 2, so B holds it.
    await pollOrders(hub, w.ref)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 5, reserved: 1 }, yA: { onHand: 6, reserved: 0 }, yB: { onHand: 5, reserved: 2 } })
    expect((await w.orders()).map((o: any) => o.flag)).toEqual([null])
    // Shipped (the webhook again names no location): the goods leave where they are held.
    w.later()
    expect((await w.deliver(w.shop.fulfillOrder(placed.order.id))).status).toBe(200)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 4, reserved: 0 }, yA: { onHand: 6, reserved: 0 }, yB: { onHand: 3, reserved: 0 } })
    // Each location shows what its store has.
    expect([w.shop.level(w.x.sku, w.l1.id), w.shop.level(w.y.sku, w.l1.id), w.shop.level(w.y.sku, w.l2.id)]).toEqual([4, 6, 3])
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a line split over both locations holds its units at each store and takes each part from where it ships', async () => {
    const w = await world({ a: 5, b: 5 })
    const { order } = w.shop.placeOrder({ lines: [{ item: w.y.sku, quantity: 3, from: { [w.l1.id]: 1, [w.l2.id]: 2 } }] })
    await pollOrders(hub, w.ref)
    await settle()
    expect((await w.levels()).yA).toEqual({ onHand: 5, reserved: 1 })
    expect((await w.levels()).yB).toEqual({ onHand: 5, reserved: 2 })
    expect(await w.belief(w.y.variantId, w.l1.id)).toEqual({ last_remote: 4, dirty: false })
    expect(await w.belief(w.y.variantId, w.l2.id)).toEqual({ last_remote: 3, dirty: false })
    const id = (await w.orders())[0].id
    expect((await w.admin.get(`/api/v1/channel-orders/${id}`)).body.lines).toEqual([expect.objectContaining({ quantity: 3, shipped: 0, state: 'held' })])

    // Location 2 ships its two; location 1 has not shipped yet.
    w.later()
    w.shop.fulfillOrder(order.id, { locationId: w.l2.id })
    await pollOrders(hub, w.ref)
    await settle()
    expect({ yA: (await w.levels()).yA, yB: (await w.levels()).yB }).toEqual({ yA: { onHand: 5, reserved: 1 }, yB: { onHand: 3, reserved: 0 } })
    expect((await w.admin.get(`/api/v1/channel-orders/${id}`)).body.lines).toEqual([expect.objectContaining({ quantity: 3, shipped: 2, state: 'held' })])

    // Then location 1 ships the last one.
    w.later()
    w.shop.fulfillOrder(order.id)
    await pollOrders(hub, w.ref)
    await settle()
    expect({ yA: (await w.levels()).yA, yB: (await w.levels()).yB }).toEqual({ yA: { onHand: 4, reserved: 0 }, yB: { onHand: 3, reserved: 0 } })
    expect([w.shop.level(w.y.sku, w.l1.id), w.shop.level(w.y.sku, w.l2.id)]).toEqual([4, 3])
    expect(w.shop.requestsFor('InventorySetQuantities')).toHaveLength(0)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('cancelled, a split order gives back what it held at both stores', async () => {
    const w = await world({ a: 5, b: 5 })
    const { order } = w.shop.placeOrder({ lines: [{ item: w.x.sku, quantity: 1, locationId: w.l1.id }, { item: w.y.sku, quantity: 3, from: { [w.l1.id]: 1, [w.l2.id]: 2 } }] })
    await pollOrders(hub, w.ref)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 5, reserved: 1 }, yA: { onHand: 5, reserved: 1 }, yB: { onHand: 5, reserved: 2 } })
    w.later()
    expect((await w.deliver(w.shop.cancelOrder(order.id, { restock: true }))).status).toBe(200)
    await settle()
    expect(await w.levels()).toEqual({ xA: { onHand: 5, reserved: 0 }, yA: { onHand: 5, reserved: 0 }, yB: { onHand: 5, reserved: 0 } })
    // Shopify put the units back where it took them: every location shows its store's figure.
    expect([w.shop.level(w.x.sku, w.l1.id), w.shop.level(w.y.sku, w.l1.id), w.shop.level(w.y.sku, w.l2.id)]).toEqual([5, 5, 5])
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })
})
