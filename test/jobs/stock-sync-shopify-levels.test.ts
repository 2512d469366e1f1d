// Shopify's inventory_levels/update deliveries come in any order and late (retries over hours, the original payload
// each time): a delivery older than what the hub already knows of a level does not undo it.
import { describe, expect, it } from 'vitest'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { channelLevel, createShopifyConnection, SHOP, SHOP_SECRET, SHOP_TOKEN, useStockSyncHub } from '../helpers/channels.ts'
import { shopifySandbox, type WebhookDelivery } from '../../src/sandboxes/vendors/shopify.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'

describe('Shopify level events delivered late', () => {
  const { hub, server, settle } = useStockSyncHub()

  async function world(stock = 10) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const sku = `LATE-${Date.now()}-${Math.floor(Math.random() * 1e6)}`
    const item = await seedProduct(hub, store, { sku, price: 1990, stock })
    // The shop's clock: moved on to make a change there some time after our own write.
    let shopAhead = 0
    const shop = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET, now: () => new Date(Date.now() + shopAhead) })
    const loc = shop.addLocation('Main street')
    shop.addProduct({ title: sku, variants: [{ sku, levels: { [loc.id]: stock } }] })
    server.resetHandlers(...shop.handlers)
    const connectionId = await createShopifyConnection(hub, m.merchantId, { locations: [{ remote: loc.id, ours: [store.locationId] }] })
    await syncListings(hub, { merchantId: m.merchantId, connectionId }, 'import')
    await settle()
    const till = createApi(hub).as((await m.staff('cashier')).token)
    const sell = (quantity = 1) => till.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku, quantity }], tenders: [{ kind: 'card', amount: 1990 * quantity }] })
    const deliver = (d: WebhookDelivery) => createApi(hub).request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers })
    const laterAtShop = (ms: number) => (shopAhead += ms)
    const writes = () => shop.requestsFor('InventorySetQuantities').map((r) => ({ answer: r.errorCode ?? r.answer, ...(r.variables as any).input.quantities[0] }))
    return { m, store, item, sku, shop, loc, connectionId, sell, deliver, laterAtShop, writes }
  }

  /** A till sale pushed to Shopify: the echo of that write, which Shopify queued, is held back (delivered later). */
  async function saleWithHeldEcho(w: Awaited<ReturnType<typeof world>>) {
    expect((await w.sell(1)).status).toBe(201)
    await settle()
    expect(w.shop.level(w.sku, w.loc.id)).toBe(9)
    const echoes = w.shop.state.pendingWebhooks.splice(0)
    expect(echoes).toHaveLength(1)
    return echoes[0]!
  }

  it('the echo of our write delivered after a newer change made on Shopify does not hide that change: it is put back', async () => {
    const w = await world(10)
    const echo = await saleWithHeldEcho(w)
    // A minute later the merchant sets 30 in Shopify's admin; that webhook arrives first, the older echo (9) after it.
    w.laterAtShop(60_000)
    expect((await w.deliver(w.shop.setAvailable(w.sku, w.loc.id, 30))).status).toBe(200)
    expect((await w.deliver(echo)).status).toBe(200)
    await settle()
    // The store is the master: Shopify is put back to 9, written over the 30 it holds.
    expect(w.shop.level(w.sku, w.loc.id)).toBe(9)
    expect(w.writes().at(-1)).toMatchObject({ answer: 'ok', quantity: 9, changeFromQuantity: 30 })
    expect(await channelLevel(hub, w.connectionId, w.item.variantId)).toMatchObject({ status: 'ok', lastPushed: 9, lastRemote: 9, dirty: false })
  })

  it('of two changes made on Shopify delivered the wrong way round, the newer stands and our figure is written over it', async () => {
    const w = await world(10)
    w.laterAtShop(60_000)
    const first = w.shop.setAvailable(w.sku, w.loc.id, 30)
    w.laterAtShop(10_000)
    const second = w.shop.setAvailable(w.sku, w.loc.id, 25)
    expect((await w.deliver(second)).status).toBe(200)
    expect((await w.deliver(first)).status).toBe(200)
    await settle()
    // One write, compared against the 25 Shopify holds: the late 30 was not taken for its figure.
    expect(w.writes()).toEqual([expect.objectContaining({ answer: 'ok', quantity: 10, changeFromQuantity: 25 })])
    expect(w.shop.level(w.sku, w.loc.id)).toBe(10)
    expect(await channelLevel(hub, w.connectionId, w.item.variantId)).toMatchObject({ status: 'ok', lastRemote: 10, dirty: false })
  })

  it('an echo a moment older than a change made on Shopify right after our write is not trusted either way: our figure is written', async () => {
    const w = await world(10)
    const echo = await saleWithHeldEcho(w)
    // Two seconds after our write (Shopify's clock) the merchant sets 30: too close to tell which came last by the
    // clocks alone, so what Shopify holds is not assumed, and 9 is written unconditionally.
    const echoAt = new Date(echo.headers['x-shopify-triggered-at']!)
    expect((await w.deliver(w.shop.setAvailable(w.sku, w.loc.id, 30, { at: new Date(echoAt.getTime() + 2_000) }))).status).toBe(200)
    expect((await w.deliver(echo)).status).toBe(200)
    await settle()
    expect(w.shop.level(w.sku, w.loc.id)).toBe(9)
    expect(w.writes().at(-1)).toMatchObject({ answer: 'ok', quantity: 9, changeFromQuantity: null })
    expect(await channelLevel(hub, w.connectionId, w.item.variantId)).toMatchObject({ status: 'ok', lastRemote: 9, dirty: false })
  })

  it('the echo of an earlier write delivered after a later write of ours and its echo changes nothing and writes nothing', async () => {
    const w = await world(10)
    const echo = await saleWithHeldEcho(w)
    w.laterAtShop(60_000)
    expect((await w.sell(2)).status).toBe(201)
    await settle()
    expect(w.shop.level(w.sku, w.loc.id)).toBe(7)
    for (const d of w.shop.state.pendingWebhooks.splice(0)) expect((await w.deliver(d)).status).toBe(200)
    await settle()
    const before = w.writes().length
    // The first echo (9) arrives only now.
    expect((await w.deliver(echo)).status).toBe(200)
    await settle()
    expect(w.writes()).toHaveLength(before)
    expect(w.shop.level(w.sku, w.loc.id)).toBe(7)
    expect(await channelLevel(hub, w.connectionId, w.item.variantId)).toMatchObject({ status: 'ok', lastRemote: 7, dirty: false })
  })
})
