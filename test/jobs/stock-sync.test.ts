// The stock sync end to end: a store's till and stock, a Shopify and a WooCommerce shop (msw sandboxes speaking
// their real APIs), the hub's API, webhook endpoint and jobs.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs, makeDue, queuedJobs, settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { channelLevel, createShopifyConnection, createWooConnection, mapLocations, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { taobaoSandbox, TOP_SANDBOX_GATEWAY } from '../../src/sandboxes/vendors/taobao.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'
import { commitBatch } from '../../src/connectors/framework/sync-state.ts'

describe('stock sync with Shopify, WooCommerce and Tmall', () => {
  const { hub, server } = useStockSyncHub()
  const settle = (rounds?: number) => settleAll(hub, rounds)

  async function world(opts: { skus?: { sku: string; stock: number; remote?: number; barcode?: string }[] } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const specs = opts.skus ?? [{ sku: `A-${Date.now()}`, stock: 10 }]
    const items = []
    for (const s of specs) items.push(await seedProduct(hub, store, { sku: s.sku, price: 1990, stock: s.stock, barcodes: s.barcode ? [s.barcode] : undefined }))
    // The shop's clock: a test moves it on to place orders some time after the shops were synced.
    let shopAhead = 0
    const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET, now: () => new Date(Date.now() + shopAhead) })
    const loc = shop.addLocation('Main street')
    for (const s of specs) shop.addProduct({ title: s.sku, variants: [{ sku: s.sku, levels: { [loc.id]: s.remote ?? s.stock } }] })
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const wooIds = new Map<string, number>()
    for (const s of specs) wooIds.set(s.sku, woo.addProduct({ sku: s.sku, stock: s.remote ?? s.stock }).id)
    server.resetHandlers(...shop.handlers, ...woo.handlers)
    const shopifyId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: loc.id, ours: [store.locationId] }] })
    const wooId = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    const admin = createApi(hub).as(m.adminToken)
    const till = createApi(hub).as((await m.staff('cashier')).token)
    for (const id of [shopifyId, wooId]) await syncListings(hub, { merchantId: m.merchantId, connectionId: id }, 'import')
    await settle()
    const sell = (sku: string, quantity = 1) => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity }], tenders: [{ kind: 'card', amount: 1990 * quantity }] })
    const deliver = (connectionId: string, d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
    const pushesTo = () => ({ shopify: shop.requestsFor('InventorySetQuantities').length, woo: woo.state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/batch')).length })
    const laterAtShop = (ms: number) => (shopAhead += ms)
    return { m, store, items, shop, loc, woo, wooIds, shopifyId, wooId, admin, till, sell, deliver, pushesTo, laterAtShop, ref: (connectionId: string) => ({ merchantId: m.merchantId, connectionId }) }
  }

  it('binds listings by SKU, lists the unmapped and the ambiguous without guessing, and shows every SKU’s status', async () => {
    const w = await world({ skus: [{ sku: `BIND-${Date.now()}`, stock: 4, barcode: '6901234567892' }] })
    const stray = w.woo.addProduct({ sku: 'NOT-OURS', stock: 3 }).id
    const byBarcode = w.shop.addProduct({ title: 'by barcode', variants: [{ sku: 'REMOTE-ONLY-CODE', barcode: '6901234567892', levels: { [w.loc.id]: 1 } }] })
    for (const id of [w.shopifyId, w.wooId]) await syncListings(hub, w.ref(id), 'import')
    const wooListings = (await w.admin.get(`/api/v1/stock-sync/${w.wooId}/listings?state=unmapped`)).body.items
    expect(wooListings.map((l: any) => l.externalId)).toEqual([String(stray)])
    // The Shopify listing whose barcode matches a variant already bound by SKU is ambiguous, not bound twice.
    const ambiguous = (await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/listings?state=ambiguous`)).body.items
    expect(ambiguous.map((l: any) => l.externalId)).toEqual([byBarcode.variants[0]!.inventoryItemId])
    expect(ambiguous[0].candidates).toEqual([w.items[0]!.variantId])
    const skus = (await w.admin.get(`/api/v1/stock-sync/${w.wooId}/skus`)).body.items
    expect(skus).toHaveLength(1)
    expect(skus[0]).toMatchObject({ sku: w.items[0]!.sku, status: 'ok', target: 4, lastPushed: null, lastRemote: 4 })
    const summary = (await w.admin.get(`/api/v1/stock-sync/${w.wooId}/summary`)).body
    expect(summary.listings).toMatchObject({ bound: 1, unmapped: 1 })
    // A hand binding of the stray listing to our variant is refused while another listing holds it.
    const listing = wooListings[0]
    const refused = await w.admin.put(`/api/v1/stock-sync/${w.wooId}/listings/${listing.id}/binding`, { variantId: w.items[0]!.variantId })
    expect(refused.status).toBe(409)
    expect(refused.body.error.code).toBe('variant_already_bound')
  })

  it('a Shopify product deleted and created again with its SKU is bound after one audit, and its webhook orders hold stock', async () => {
    const w = await world({ skus: [{ sku: `AGAIN-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    const old = await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/listings?state=bound`)
    const first = old.body.items.find((l: any) => l.sku === sku)
    const product = [...w.shop.state.products.values()].find((p: any) => p.title === sku)!
    // In the Shopify admin: the product is deleted and made again, with the same SKU and 3 on the shelf there.
    w.shop.removeProduct(product.id)
    const again = w.shop.addProduct({ title: sku, variants: [{ sku, levels: { [w.loc.id]: 3 } }] })
    // The audit meets the new listing while the old one still holds the variant, and finds the old one gone at the
    // end of the pass: the new one is bound then, and offered our 10.
    const audit = await syncListings(hub, w.ref(w.shopifyId), 'audit')
    expect(audit).toMatchObject({ gone: 1, bound: 1, ambiguous: 0 })
    const listings = (await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/listings`)).body.items
    expect(listings.filter((l: any) => l.sku === sku).map((l: any) => [l.externalId, l.state]).sort()).toEqual(
      [
        [first.externalId, 'gone'],
        [again.variants[0]!.inventoryItemId, 'bound'],
      ].sort(),
    )
    await settle()
    expect(w.shop.level(sku, w.loc.id)).toBe(10)
    // An order of the new listing by webhook (its lines name the SKU, not the inventory item) holds 2 of ours.
    const { delivery } = w.shop.placeOrder({ lines: [{ item: sku, quantity: 2 }], locationId: w.loc.id })
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items
    expect({ flag: orders[0].flag, level: await stockLevel(hub, w.items[0]!.variantId, w.store.locationId) }).toEqual({ flag: null, level: { onHand: 10, reserved: 2 } })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a sale at the till reaches both shops; only values that differ from the last pushed are sent', async () => {
    const w = await world({ skus: [{ sku: `SALE-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    const before = w.pushesTo()
    expect(before).toEqual({ shopify: 0, woo: 0 })
    expect((await w.sell(sku, 3)).status).toBe(201)
    const queued = await queuedJobs(hub, 'stock.push')
    expect(queued.map((j) => j.payload.connectionId).sort()).toEqual([w.shopifyId, w.wooId].sort())
    await settle()
    expect(w.shop.level(sku, w.loc.id)).toBe(7)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(7)
    expect(await channelLevel(hub, w.shopifyId, w.items[0]!.variantId)).toMatchObject({ status: 'ok', lastPushed: 7, lastRemote: 7, dirty: false })
    // Receiving and selling the same quantity leaves the channel quantity as pushed: nothing more is sent.
    await w.admin.post('/api/v1/stock/receipts', { locationId: w.store.locationId, lines: [{ sku, quantity: 1 }] })
    await w.sell(sku, 1)
    await settle()
    expect(w.pushesTo()).toEqual({ shopify: 1, woo: 1 })
  })

  it('a burst of 100 sales of one SKU becomes a few pushes and ends at the right quantity', async () => {
    const w = await world({ skus: [{ sku: `BURST-${Date.now()}`, stock: 150 }] })
    const sku = w.items[0]!.sku
    let selling = true
    const worker = (async () => {
      // A worker that honours the push's short debounce, as the real one does.
      while (selling) {
        await drainJobs(hub)
        await new Promise((r) => setTimeout(r, 20))
      }
    })()
    for (let i = 0; i < 100; i++) expect((await w.sell(sku)).status).toBe(201)
    selling = false
    await worker
    await settle()
    const pushes = w.pushesTo()
    expect(pushes.shopify).toBeGreaterThan(0)
    expect(pushes.shopify).toBeLessThan(25)
    expect(pushes.woo).toBeLessThan(25)
    expect(w.shop.level(sku, w.loc.id)).toBe(50)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(50)
  })

  it('a stale compare-and-set on Shopify is re-read, recomputed and retried', async () => {
    const w = await world({ skus: [{ sku: `CAS-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    // Someone edits Shopify's quantity and the webhook never arrives: our last known value is stale.
    w.shop.setAvailable(sku, w.loc.id, 4)
    await w.sell(sku, 2)
    await settle()
    const sets = w.shop.requestsFor('InventorySetQuantities')
    expect(sets.length).toBeGreaterThanOrEqual(2)
    expect(sets[0]!.errorCode ?? JSON.stringify(sets[0])).toMatch(/CHANGE_FROM_QUANTITY_STALE|ok/)
    const quantities = sets.map((r) => (r.variables as any).input.quantities[0])
    expect(quantities[0]).toMatchObject({ quantity: 8, changeFromQuantity: 10 })
    expect(quantities[quantities.length - 1]).toMatchObject({ quantity: 8, changeFromQuantity: 4 })
    expect(w.shop.level(sku, w.loc.id)).toBe(8)
    expect(await channelLevel(hub, w.shopifyId, w.items[0]!.variantId)).toMatchObject({ status: 'ok', lastRemote: 8 })
  })

  it('the other quantities of a Shopify call refused for one stale quantity go again at once, not as errors', async () => {
    const stamp = Date.now()
    const w = await world({ skus: [{ sku: `CAS-A-${stamp}`, stock: 10 }, { sku: `CAS-B-${stamp}`, stock: 10 }] })
    const [a, b] = [w.items[0]!, w.items[1]!]
    // A Shopify edit of A that no webhook told us about: the call writing A and B together is refused whole.
    w.shop.setAvailable(a.sku, w.loc.id, 4)
    const sale = await w.till.post('/api/v1/sales', {
      registerId: w.store.registerId,
      lines: [{ sku: a.sku, quantity: 1 }, { sku: b.sku, quantity: 1 }],
      tenders: [{ kind: 'card', amount: 2 * 1990 }],
    })
    expect(sale.status).toBe(201)
    // One pass of the due jobs, nothing waiting for later brought forward.
    await makeDue(hub)
    await drainJobs(hub)
    const sets = w.shop.requestsFor('InventorySetQuantities')
    expect(sets[0]!.variables.input).toMatchObject({ quantities: expect.arrayContaining([expect.objectContaining({ quantity: 9, changeFromQuantity: 10 })]) })
    expect(w.shop.level(a.sku, w.loc.id)).toBe(9)
    expect(w.shop.level(b.sku, w.loc.id)).toBe(9)
    for (const item of [a, b]) expect(await channelLevel(hub, w.shopifyId, item.variantId)).toMatchObject({ status: 'ok', lastRemote: 9, dirty: false, lastError: null })
    // No push deferred for later: every level went through in the same job.
    expect((await queuedJobs(hub)).filter((j) => j.payload?.connectionId === w.shopifyId)).toEqual([])
  })

  it('THROTTLED and 429 back off and the push completes', async () => {
    const w = await world({ skus: [{ sku: `THR-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    w.shop.drainBucket(0)
    w.woo.state.maxRequestsPerSecond = 0
    await w.sell(sku, 1)
    await makeDue(hub)
    await drainJobs(hub)
    w.woo.state.maxRequestsPerSecond = 1000
    await settle()
    expect(w.shop.state.requests.some((r) => r.answer === 'throttled')).toBe(true)
    expect(w.woo.state.rateLimited).toBeGreaterThan(0)
    expect(w.shop.level(sku, w.loc.id)).toBe(9)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(9)
  })

  it('a shop that refuses our credentials: each waiting SKU shows the reason, the connection is failing, the shop is not called every 30 s, and new credentials push at once', async () => {
    const w = await world({ skus: [{ sku: `AUTH-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    // The merchant reinstalls the app: the token we hold is refused from now on.
    w.shop.state.accessToken = 'shpat_reinstalled_0000000000000000000000'
    expect((await w.sell(sku, 1)).status).toBe(201)
    await makeDue(hub, 'stock.push')
    await drainJobs(hub)
    expect(w.shop.state.requests.filter((r) => r.answer === 'unauthorized').length).toBeGreaterThan(0)
    const skus = (await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/skus`)).body.items
    expect(skus[0]).toMatchObject({ sku, status: 'error', target: 9, lastError: expect.stringMatching(/^auth_failed: .*401/) })
    expect((await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/summary`)).body.levels).toMatchObject({ error: 1, pending: 0 })
    const conn = (await w.admin.get(`/api/v1/connections/${w.shopifyId}`)).body
    expect(conn).toMatchObject({ status: 'failing', lastCheck: { ok: false, message: expect.stringContaining('401') } })
    // The push waits an hour (new credentials push at once), and more sales meanwhile do not bring it forward.
    expect((await w.sell(sku, 1)).status).toBe(201)
    await hub.database.db.execute(sql`update graphile_worker._private_jobs set run_at = now() where payload->>'connectionId' = ${w.wooId}`)
    await drainJobs(hub)
    const waiting = (await queuedJobs(hub, 'stock.push')).filter((j) => j.payload.connectionId === w.shopifyId)
    expect(waiting).toHaveLength(1)
    expect(waiting[0]!.runAt.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000)
    // WooCommerce, which still takes our key, was pushed all along.
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(8)

    const patched = await w.admin.patch(`/api/v1/connections/${w.shopifyId}`, { config: { accessToken: w.shop.state.accessToken } })
    expect(patched.status).toBe(200)
    await drainJobs(hub)
    expect(w.shop.level(sku, w.loc.id)).toBe(8)
    expect(await channelLevel(hub, w.shopifyId, w.items[0]!.variantId)).toMatchObject({ status: 'ok', lastRemote: 8, dirty: false })
  })

  it('an online order delivered three times reserves once, updates the other shop, and its own shop is not decremented twice', async () => {
    const w = await world({ skus: [{ sku: `ORD-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    w.laterAtShop(10_000)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: sku, quantity: 2 }], locationId: w.loc.id })
    for (let i = 0; i < 3; i++) expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    const orders = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items
    expect(orders).toHaveLength(1)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(8)
    // Shopify already took the 2 units off: it still holds 8, and no write was needed.
    expect(w.shop.level(sku, w.loc.id)).toBe(8)
    expect(w.pushesTo().shopify).toBe(0)
    // Cancelled on Shopify: the hold is released everywhere.
    await w.deliver(w.shopifyId, w.shop.cancelOrder(delivery ? JSON.parse(delivery.body).admin_graphql_api_id : '', { restock: true }))
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 0 })
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(10)
    expect(w.shop.level(sku, w.loc.id)).toBe(10)
  })

  it('an order shipped in part: the shipped units leave on-hand when they go, a count then finds no loss, and the rest leaves at fulfilment', async () => {
    const w = await world({ skus: [{ sku: `PART-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    const variantId = w.items[0]!.variantId
    w.laterAtShop(10_000)
    const { delivery } = w.shop.placeOrder({ lines: [{ item: sku, quantity: 3 }], locationId: w.loc.id })
    const orderId = JSON.parse(delivery.body).admin_graphql_api_id as string
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 3 })
    // Two of the three ship first: they left the shelf, one is still held.
    const part = w.shop.fulfillOrder(orderId, { lines: [{ item: sku, quantity: 2 }] })
    expect((await w.deliver(w.shopifyId, part)).status).toBe(200)
    // The same shipment again (a redelivery) takes nothing more.
    expect((await w.deliver(w.shopifyId, part)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 1 })
    const order = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items[0]
    const detail = (await w.admin.get(`/api/v1/channel-orders/${order.id}`)).body
    expect(detail.lines).toEqual([expect.objectContaining({ quantity: 3, shipped: 2, state: 'held' })])
    // The shelf is counted before the rest ships: 8 are there, and the count finds nothing missing.
    const open = await w.admin.post('/api/v1/stock/counts', { locationId: w.store.locationId, variantIds: [variantId] })
    expect(open.status, JSON.stringify(open.body)).toBe(201)
    await w.admin.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku, quantity: 8 }] })
    const posted = await w.admin.post(`/api/v1/stock/counts/${open.body.id}/post`, {})
    expect([posted.status, posted.body.movementIds]).toEqual([200, []])
    // The last unit ships: the order is fulfilled and one more unit leaves, not three.
    expect((await w.deliver(w.shopifyId, w.shop.fulfillOrder(orderId))).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 7, reserved: 0 })
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(7)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a line shipped whole while its order is open, then refunded with a restock on Shopify: flagged, and Shopify is pushed our figure', async () => {
    const stamp = Date.now()
    const w = await world({ skus: [{ sku: `RA-${stamp}`, stock: 10 }, { sku: `RB-${stamp}`, stock: 10 }] })
    const [a, b] = [w.items[0]!, w.items[1]!]
    w.laterAtShop(10_000)
    const { delivery, order } = w.shop.placeOrder({ lines: [{ item: a.sku, quantity: 2 }, { item: b.sku, quantity: 1 }], locationId: w.loc.id })
    await w.deliver(w.shopifyId, delivery)
    w.laterAtShop(2_000)
    await w.deliver(w.shopifyId, w.shop.fulfillOrder(order.id, { lines: [{ item: a.sku, quantity: 2 }] }))
    await settle()
    expect(await stockLevel(hub, a.variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    w.laterAtShop(2_000)
    const lineA = order.lines.find((l: any) => l.sku === a.sku)!
    // Shopify puts the refunded unit back on its own figure; our shelf has not got it back.
    await w.deliver(w.shopifyId, w.shop.refundOrder(order.id, { lines: [{ lineItemId: lineA.id, quantity: 1 }], restock: true }))
    await settle()
    expect(await stockLevel(hub, a.variantId, w.store.locationId)).toEqual({ onHand: 8, reserved: 0 })
    const flagged = (await w.admin.get(`/api/v1/channel-orders?connectionId=${w.shopifyId}`)).body.items[0]
    expect({ flag: flagged.flag, shopify: w.shop.level(a.sku, w.loc.id) }).toEqual({ flag: 'returned', shopify: 8 })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('an order first seen by the poll already shipped in part holds only the rest', async () => {
    const w = await world({ skus: [{ sku: `PPOLL-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    w.laterAtShop(10_000)
    // Placed and shipped in part while the hub heard nothing (no webhook arrived): the order poll finds it.
    const { delivery } = w.shop.placeOrder({ lines: [{ item: sku, quantity: 4 }], locationId: w.loc.id })
    w.shop.fulfillOrder(JSON.parse(delivery.body).admin_graphql_api_id, { lines: [{ item: sku, quantity: 1 }] })
    await pollOrders(hub, w.ref(w.shopifyId))
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 9, reserved: 3 })
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(6)
    // Shopify took the four units off its own figure when the order was placed: nothing to push there.
    expect(w.shop.level(sku, w.loc.id)).toBe(6)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('an order learned after a push already overwrote the shop’s figure is pushed again, not subtracted twice', async () => {
    const w = await world({ skus: [{ sku: `LATE-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    // Shopify takes 2 off its 10 for an order whose webhook is late; half a minute later a till sale pushes our
    // figure, 9, over its 8 (the order is not known here yet).
    const { delivery } = w.shop.placeOrder({ lines: [{ item: sku, quantity: 2 }], locationId: w.loc.id })
    expect(w.shop.level(sku, w.loc.id)).toBe(8)
    hub.setNow(new Date(Date.now() + 30_000))
    expect((await w.sell(sku, 1)).status).toBe(201)
    await settle()
    expect(w.shop.level(sku, w.loc.id)).toBe(9)
    // The order arrives: 9 on hand less its 2 is 7 everywhere. Shopify's 9 does not have the order in it, so 7 is
    // written there too.
    expect((await w.deliver(w.shopifyId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 9, reserved: 2 })
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(7)
    expect(w.shop.level(sku, w.loc.id)).toBe(7)
  })

  it('goods given back on a shop after they shipped are not taken as stock: the shops are pushed back to ours and the order is flagged', async () => {
    const w = await world({ skus: [{ sku: `BACK-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    const variantId = w.items[0]!.variantId
    w.laterAtShop(10_000)
    const shopOrder = w.shop.placeOrder({ lines: [{ item: sku, quantity: 2 }], locationId: w.loc.id })
    expect((await w.deliver(w.shopifyId, shopOrder.delivery)).status).toBe(200)
    const wooOrder = w.woo.placeOrder({ lines: [{ sku, quantity: 1 }], status: 'processing' })
    expect((await w.deliver(w.wooId, wooOrder.delivery)).status).toBe(200)
    await settle()
    w.laterAtShop(10_000)
    expect((await w.deliver(w.shopifyId, w.shop.fulfillOrder(shopOrder.order.id))).status).toBe(200)
    w.woo.advance(10_000)
    expect((await w.deliver(w.wooId, w.woo.completeOrder(wooOrder.order.id as number).delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 7, reserved: 0 })
    expect([w.shop.level(sku, w.loc.id), w.woo.stockOf(w.wooIds.get(sku)!)]).toEqual([7, 7])

    // Refunds with restock: Shopify gives back 1 of its 2, WooCommerce the whole order; each puts the units back on
    // its own stock. Whether they reached a store is not known here: our 7 stands, and both shops are set back to it.
    w.laterAtShop(10_000)
    const line = shopOrder.order.lines[0]!.id
    expect((await w.deliver(w.shopifyId, w.shop.refundOrder(shopOrder.order.id, { lines: [{ lineItemId: line, quantity: 1 }], restock: true }))).status).toBe(200)
    w.woo.advance(10_000)
    expect((await w.deliver(w.wooId, w.woo.refundOrder(wooOrder.order.id as number, { restock: true }).delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 7, reserved: 0 })
    expect([w.shop.level(sku, w.loc.id), w.woo.stockOf(w.wooIds.get(sku)!)]).toEqual([7, 7])
    for (const id of [w.shopifyId, w.wooId]) {
      const [order] = (await w.admin.get(`/api/v1/channel-orders?connectionId=${id}`)).body.items
      expect(order).toMatchObject({ status: 'fulfilled', flag: 'returned' })
    }
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('an unpaid WooCommerce order holds stock; paid, the shop takes its units off its own figure and is set back to ours', async () => {
    const w = await world({ skus: [{ sku: `PEND-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    const wooProduct = w.wooIds.get(sku)!
    // WooCommerce stamps to the second: each step a second after what the hub last wrote or read.
    const later = async () => {
      await new Promise((r) => setTimeout(r, 1100))
      w.woo.setNow(new Date())
    }
    await later()
    const { order, delivery } = w.woo.placeOrder({ lines: [{ sku, quantity: 2 }], status: 'pending' })
    expect((await w.deliver(w.wooId, delivery)).status).toBe(200)
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 10, reserved: 2 })
    // Not paid: WooCommerce has not taken the 2 off yet, so it is set to our 8.
    expect(w.woo.stockOf(wooProduct)).toBe(8)
    expect((await w.sell(sku, 1)).status).toBe(201)
    await settle()
    expect(w.woo.stockOf(wooProduct)).toBe(7)
    await later()
    // Paid: WooCommerce takes its 2 off (7 → 5), and is set back to our 7.
    expect((await w.deliver(w.wooId, w.woo.payOrder(Number(order.id)).delivery)).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(wooProduct)).toBe(7)
    expect(w.shop.level(sku, w.loc.id)).toBe(7)
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 9, reserved: 2 })
  })

  it('a lost WooCommerce webhook is caught by the order poll', async () => {
    const w = await world({ skus: [{ sku: `LOST-${Date.now()}`, stock: 6 }] })
    const sku = w.items[0]!.sku
    w.woo.placeOrder({ lines: [{ sku, quantity: 2 }], status: 'processing' })
    await pollOrders(hub, w.ref(w.wooId))
    await settle()
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 6, reserved: 2 })
    expect(w.shop.level(sku, w.loc.id)).toBe(4)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(4)
    // Polling again (the lookback re-reads it) holds nothing more.
    await pollOrders(hub, w.ref(w.wooId))
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 6, reserved: 2 })
  })

  it('a hub that was down for an hour catches up exactly: sales pushed, orders of both shops held once', async () => {
    const w = await world({ skus: [{ sku: `DOWN-${Date.now()}`, stock: 20 }] })
    const sku = w.items[0]!.sku
    const variantId = w.items[0]!.variantId
    const hourAgo = new Date(Date.now() - 60 * 60_000)
    for (const id of [w.shopifyId, w.wooId]) await commitBatch(hub.database.db, { ...w.ref(id), stream: 'orders' }, { since: hourAgo.toISOString() }, async () => {})
    // While the hub's worker is down: till sales commit (their pushes wait in the queue), both shops take orders,
    // and every webhook is lost.
    await w.sell(sku, 3)
    w.shop.placeOrder({ lines: [{ item: sku, quantity: 2 }], locationId: w.loc.id })
    w.woo.placeOrder({ lines: [{ sku, quantity: 4 }], status: 'processing' })
    w.woo.placeOrder({ lines: [{ sku, quantity: 1 }], status: 'on-hold' })
    // Back up: the schedule polls every shop, the queued pushes run.
    await createApi(hub).as(w.m.adminToken).post(`/api/v1/stock-sync/${w.shopifyId}/sync`, { action: 'poll' })
    await w.admin.post(`/api/v1/stock-sync/${w.wooId}/sync`, { action: 'poll' })
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 17, reserved: 7 })
    expect(w.shop.level(sku, w.loc.id)).toBe(10)
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(10)
    // Running everything again changes nothing.
    await w.admin.post(`/api/v1/stock-sync/${w.shopifyId}/sync`, { action: 'poll' })
    await w.admin.post(`/api/v1/stock-sync/${w.wooId}/sync`, { action: 'poll' })
    await settle()
    expect(await stockLevel(hub, variantId, w.store.locationId)).toEqual({ onHand: 17, reserved: 7 })
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('the audit reports drift per SKU and repairs it', async () => {
    const w = await world({ skus: [{ sku: `AUD-A-${Date.now()}`, stock: 5 }, { sku: `AUD-B-${Date.now()}`, stock: 8 }] })
    const [a, b] = [w.items[0]!, w.items[1]!]
    w.shop.setAvailable(a.sku, w.loc.id, 50)
    w.woo.setStock(w.wooIds.get(b.sku)!, 0)
    expect((await w.admin.post(`/api/v1/stock-sync/${w.shopifyId}/sync`, { action: 'audit' })).status).toBe(202)
    await w.admin.post(`/api/v1/stock-sync/${w.wooId}/sync`, { action: 'audit' })
    await makeDue(hub, 'stock.listings')
    await drainJobs(hub, { rounds: 1 })
    const shopDrift = (await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/drift`)).body.items
    expect(shopDrift).toHaveLength(1)
    expect(shopDrift[0]).toMatchObject({ sku: a.sku, remote: 50, target: 5 })
    await settle()
    expect(w.shop.level(a.sku, w.loc.id)).toBe(5)
    expect(w.woo.stockOf(w.wooIds.get(b.sku)!)).toBe(8)
    const wooDrift = (await w.admin.get(`/api/v1/stock-sync/${w.wooId}/drift`)).body.items
    expect(wooDrift).toEqual([expect.objectContaining({ sku: b.sku, remote: 0, target: 8, repaired: true })])
    expect((await w.admin.get(`/api/v1/stock-sync/${w.shopifyId}/drift`)).body.items[0].repaired).toBe(true)
  })

  it('our own write echoing back is recognised; a change made on the shop is pushed back', async () => {
    const w = await world({ skus: [{ sku: `ECHO-${Date.now()}`, stock: 10 }] })
    const sku = w.items[0]!.sku
    await w.sell(sku, 1)
    await settle()
    const pushes = w.pushesTo()
    // Shopify's inventory_levels/update for our own write, and Woo's product.updated for it.
    const echoes = w.shop.state.pendingWebhooks.splice(0)
    expect(echoes.length).toBeGreaterThan(0)
    for (const d of echoes) expect((await w.deliver(w.shopifyId, d)).status).toBe(200)
    await w.deliver(w.wooId, w.woo.webhookDelivery('product.updated', w.woo.productPayload(w.wooIds.get(sku)!)))
    await settle()
    expect(w.pushesTo()).toEqual(pushes)
    const processed = await hub.database.db.execute<{ status: string }>(sql`select status from inbound_webhooks where connection_id in (${w.shopifyId}, ${w.wooId})`)
    expect(processed.rows.every((r) => r.status === 'processed')).toBe(true)
    // A merchant edits the quantity in Shopify: the store stays the master and the value is put back.
    await w.deliver(w.shopifyId, w.shop.setAvailable(sku, w.loc.id, 30))
    await settle()
    expect(w.shop.level(sku, w.loc.id)).toBe(9)
    expect(w.pushesTo().shopify).toBe(pushes.shopify + 1)
  })

  it('channel rules shape what each shop is offered', async () => {
    const w = await world({ skus: [{ sku: `RULE-${Date.now()}`, stock: 11 }] })
    const sku = w.items[0]!.sku
    expect((await w.admin.put(`/api/v1/stock-sync/${w.wooId}/rules/default`, { percent: 50, buffer: 1 })).status).toBe(200)
    expect((await w.admin.put(`/api/v1/stock-sync/${w.shopifyId}/rules/${w.items[0]!.variantId}`, { zeroAtOrBelow: 11 })).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(5)
    expect(w.shop.level(sku, w.loc.id)).toBe(0)
    expect((await w.admin.get(`/api/v1/stock-sync/${w.wooId}/rules`)).body.default).toEqual({ percent: 50, buffer: 1, maximum: null, zeroAtOrBelow: null, fixed: null })
    const bad = await w.admin.put(`/api/v1/stock-sync/${w.wooId}/rules/default`, { percent: 150 })
    expect(bad.status).toBe(400)
  })

  it('a new connection asserts its webhooks; one re-enabled after Woo disabled its webhook recovers it and catches up', async () => {
    const w = await world({ skus: [{ sku: `REC-${Date.now()}`, stock: 9 }] })
    const sku = w.items[0]!.sku
    // Created through the API: the recovery job subscribes the shop's topics to this hub's address.
    const created = await w.admin.post('/api/v1/connections', { connectorId: 'shopify', name: 'Shopify 2', config: { shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET } })
    expect(created.status).toBe(201)
    expect((await queuedJobs(hub, 'stock.recover')).map((j) => j.payload.connectionId)).toContain(created.body.id)
    await settle()
    const uris = [...w.shop.state.subscriptions.values()].map((x) => `${x.topic} ${x.uri}`)
    expect(uris).toContain(`ORDERS_CREATE ${hub.config.publicUrl}/webhooks/${created.body.id}`)
    expect(uris).toContain(`INVENTORY_LEVELS_UPDATE ${hub.config.publicUrl}/webhooks/${created.body.id}`)
    // Woo disabled the webhook after failed deliveries, and the connection was switched off meanwhile.
    await w.admin.post(`/api/v1/stock-sync/${w.wooId}/sync`, { action: 'recover' })
    await settle()
    const hook = [...w.woo.state.webhooks.values()].find((x) => x.topic === 'order.created')!
    w.woo.disableWebhook(hook.id)
    await w.admin.patch(`/api/v1/connections/${w.wooId}`, { enabled: false })
    await w.sell(sku, 2)
    w.woo.placeOrder({ lines: [{ sku, quantity: 1 }], status: 'processing' })
    await settle()
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(8)
    expect((await w.admin.patch(`/api/v1/connections/${w.wooId}`, { enabled: true })).status).toBe(200)
    await settle()
    expect(w.woo.state.webhooks.get(hook.id)!.status).toBe('active')
    expect(await stockLevel(hub, w.items[0]!.variantId, w.store.locationId)).toEqual({ onHand: 7, reserved: 1 })
    expect(w.woo.stockOf(w.wooIds.get(sku)!)).toBe(6)
    expect(w.shop.level(sku, w.loc.id)).toBe(6)
  })

  it('a marketplace connection deleted with its jobs queued: they end quietly, as a disabled one’s do, and queue no more', async () => {
    const w = await world()
    const created = await w.admin.post('/api/v1/connections', { connectorId: 'shopify', name: 'Shopify gone', config: { shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET } })
    expect(created.status).toBe(201)
    expect((await queuedJobs(hub, 'stock.recover')).map((j) => j.payload.connectionId)).toContain(created.body.id)
    expect((await w.admin.delete(`/api/v1/connections/${created.body.id}`)).status).toBe(204)
    await settle()
    const left = (await w.admin.get(`/api/v1/jobs?connectionId=${created.body.id}`)).body.items
    expect(left).toEqual([])
    expect([...w.shop.state.subscriptions.values()].filter((x) => x.uri.endsWith(created.body.id))).toEqual([])
  })

  it('a Tmall shop gets absolute pushes in batches of at most 20 SKUs, and its polled trades hold stock', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const stamp = Date.now()
    const skus = Array.from({ length: 25 }, (_, i) => `TM-${stamp}-${i}`)
    for (const sku of skus) await seedProduct(hub, store, { sku, price: 990, stock: 5 })
    const tmall = taobaoSandbox({ appKey: '12345678', appSecret: 'tmall-app-secret-1', sessionKey: 'tmall-session-key-1', platform: 'tmall' })
    const item = tmall.addItem({ title: 'T-shirt', skus: skus.map((outerId) => ({ outerId, quantity: 9 })) })
    server.resetHandlers(...tmall.handlers)
    const conn = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'taobao', name: 'Tmall', config: { appKey: '12345678', appSecret: 'tmall-app-secret-1', sessionKey: 'tmall-session-key-1', platform: 'tmall', gatewayUrl: TOP_SANDBOX_GATEWAY } }, new Date())
    const ref = { merchantId: m.merchantId, connectionId: conn.id }
    await mapLocations(hub, m.merchantId, conn.id, [{ remote: 'default', ours: [store.locationId] }])
    await syncListings(hub, ref, 'import')
    await settle()
    const writes = tmall.state.requests.filter((r) => r.api === 'tmall.item.quantity.update')
    expect(writes).toHaveLength(2)
    const skuOf = (outerId: string) => [...item.skus.values()].find((x) => x.outerId === outerId)!.skuId
    for (const sku of skus) expect(tmall.quantity(item.numIid, skuOf(sku))).toBe(5)
    const trade = tmall.placeTrade({ lines: [{ numIid: item.numIid, skuId: skuOf(skus[3]!), num: 2 }], status: 'WAIT_SELLER_SEND_GOODS' })
    expect(trade).toBeTruthy()
    await pollOrders(hub, ref)
    await settle()
    const variant = await hub.database.db.execute<{ id: string }>(sql`select id from variants where merchant_id = ${m.merchantId} and sku = ${skus[3]!}`)
    expect(await stockLevel(hub, variant.rows[0]!.id, store.locationId)).toEqual({ onHand: 5, reserved: 2 })
    expect(tmall.quantity(item.numIid, skuOf(skus[3]!))).toBe(3)

    // A trade of two sub-orders sent in part (SELLER_CONSIGNED_PART): the sent one leaves, the other stays held.
    const idOf = async (sku: string) => (await hub.database.db.execute<{ id: string }>(sql`select id from variants where merchant_id = ${m.merchantId} and sku = ${sku}`)).rows[0]!.id
    const [a, b] = [await idOf(skus[5]!), await idOf(skus[6]!)]
    const two = tmall.placeTrade({ lines: [{ numIid: item.numIid, skuId: skuOf(skus[5]!), num: 1 }, { numIid: item.numIid, skuId: skuOf(skus[6]!), num: 2 }], status: 'WAIT_SELLER_SEND_GOODS' })
    await pollOrders(hub, ref)
    await settle()
    expect([await stockLevel(hub, a, store.locationId), await stockLevel(hub, b, store.locationId)]).toEqual([{ onHand: 5, reserved: 1 }, { onHand: 5, reserved: 2 }])
    tmall.consignPart(two.tid, [two.orders[0]!.oid])
    await pollOrders(hub, ref)
    await settle()
    expect([await stockLevel(hub, a, store.locationId), await stockLevel(hub, b, store.locationId)]).toEqual([{ onHand: 4, reserved: 0 }, { onHand: 5, reserved: 2 }])
    tmall.consignPart(two.tid, [two.orders[1]!.oid])
    await pollOrders(hub, ref)
    await settle()
    expect([await stockLevel(hub, a, store.locationId), await stockLevel(hub, b, store.locationId)]).toEqual([{ onHand: 4, reserved: 0 }, { onHand: 3, reserved: 0 }])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
  })

  it('refuses what is not a marketplace connection, unknown locations and other merchants’ connections', async () => {
    const w = await world()
    const other = await seedMerchant(hub)
    const foreign = await createApi(hub).as(other.adminToken).get(`/api/v1/stock-sync/${w.wooId}/skus`)
    expect(foreign.status).toBe(404)
    const badLoc = await w.admin.put(`/api/v1/stock-sync/${w.wooId}/locations`, { locations: [{ remoteLocationId: 'default', locationIds: ['00000000-0000-7000-8000-000000000000'] }] })
    expect(badLoc.status).toBe(404)
    const stripe = await w.admin.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_abc123' } })
    const notMarket = await w.admin.get(`/api/v1/stock-sync/${stripe.body.id}/skus`)
    expect(notMarket.status).toBe(422)
    expect(notMarket.body.error.code).toBe('not_a_marketplace')
    const cashier = createApi(hub).as((await w.m.staff('cashier')).token)
    expect((await cashier.put(`/api/v1/stock-sync/${w.wooId}/rules/default`, { percent: 10 })).status).toBe(403)
  })
})
