// The audit against orders the hub has not seen yet (a lost webhook, a webhook still on its way): what the shop
// shows for them is not drift, and the audit never puts their units back on the shop.
import { describe, expect, it } from 'vitest'
import { http } from 'msw'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs, settleAll } from '../helpers/jobs.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { createShopifyConnection, createWooConnection, mapLocations, SHOP, SHOP_SECRET, SHOP_TOKEN, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { shopifySandbox } from '../../src/sandboxes/vendors/shopify.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { taobaoSandbox, TOP_SANDBOX_GATEWAY } from '../../src/sandboxes/vendors/taobao.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { listings, push, recover, syncListings } from '../../src/jobs/stock-sync.ts'

describe('the stock audit and orders not seen yet', () => {
  const { hub, server } = useStockSyncHub()

  async function shop(stock = 10) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { sku: `AUO-${Date.now()}`, price: 1990, stock })
    const admin = createApi(hub).as(m.adminToken)
    const drift = async (connectionId: string) => (await admin.get(`/api/v1/stock-sync/${connectionId}/drift`)).body.items.map((d: any) => [d.remote, d.target])
    const level = () => stockLevel(hub, item.variantId, store.locationId)
    return { m, store, item, admin, drift, level, ref: (connectionId: string) => ({ merchantId: m.merchantId, connectionId }) }
  }

  async function woo(stock = 10, extra: Parameters<typeof server.resetHandlers> = []) {
    const s = await shop(stock)
    const sandbox = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const product = sandbox.addProduct({ sku: s.item.sku, stock }).id
    server.resetHandlers(...extra, ...sandbox.handlers)
    const id = await createWooConnection(hub, s.m.merchantId, { locationIds: [s.store.locationId] })
    await syncListings(hub, s.ref(id), 'import')
    await settleAll(hub)
    // Orders placed on the shop come a little after the hub last read it.
    await new Promise((r) => setTimeout(r, 1100))
    sandbox.setNow(new Date())
    const writes = () => sandbox.state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/batch')).flatMap((r: any) => (r.body?.update ?? []).map((u: any) => u.stock_quantity))
    return { ...s, sandbox, product, id, writes }
  }

  it('a WooCommerce order whose webhook was lost: the audit takes it in and reports no drift, and the shop keeps showing 8', async () => {
    const w = await woo()
    w.sandbox.placeOrder({ lines: [{ sku: w.item.sku, quantity: 2 }], status: 'processing' })
    expect(w.sandbox.stockOf(w.product)).toBe(8)
    const before = w.writes().length
    expect((await w.admin.post(`/api/v1/stock-sync/${w.id}/sync`, { action: 'audit' })).status).toBe(202)
    await drainJobs(hub, { tasks: [listings] })
    await drainJobs(hub, { tasks: [push] })
    expect({ written: w.writes().slice(before), drift: await w.drift(w.id), offered: w.sandbox.stockOf(w.product), level: await w.level() }).toEqual({
      written: [],
      drift: [],
      offered: 8,
      level: { onHand: 10, reserved: 2 },
    })
    await settleAll(hub)
    expect([w.sandbox.stockOf(w.product), await w.level()]).toEqual([8, { onHand: 10, reserved: 2 }])
  })

  it('a WooCommerce order placed while the audit reads the shop (its webhook still on its way) is not undone either', async () => {
    let hook: ((url: URL) => void) | null = null
    const w = await woo(10, [
      http.get(`${WOO_SITE}/wp-json/wc/v3/products`, ({ request }) => {
        const url = new URL(request.url)
        if (hook && !url.searchParams.has('include')) hook(url)
        return undefined
      }),
    ])
    // Placed the moment the audit asks for the products: after anything the audit did before reading them.
    hook = () => {
      hook = null
      w.sandbox.placeOrder({ lines: [{ sku: w.item.sku, quantity: 3 }], status: 'processing' })
    }
    const before = w.writes().length
    expect(await syncListings(hub, w.ref(w.id), 'audit')).toMatchObject({ drift: 0 })
    expect(hook).toBeNull()
    await settleAll(hub)
    expect({ written: w.writes().slice(before), drift: await w.drift(w.id), offered: w.sandbox.stockOf(w.product), level: await w.level() }).toEqual({
      written: [],
      drift: [],
      offered: 7,
      level: { onHand: 10, reserved: 3 },
    })
  })

  it('a Shopify order whose webhook was lost: the audit does not put its units back on the location', async () => {
    const s = await shop()
    const sandbox = shopifySandbox({ shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET, now: () => new Date(Date.now() + 2_000) })
    const loc = sandbox.addLocation('Main street')
    sandbox.addProduct({ title: s.item.sku, variants: [{ sku: s.item.sku, levels: { [loc.id]: 10 } }] })
    server.resetHandlers(...sandbox.handlers)
    const id = await createShopifyConnection(hub, s.m.merchantId, { locations: [{ remote: loc.id, ours: [s.store.locationId] }] })
    await syncListings(hub, s.ref(id), 'import')
    await settleAll(hub)
    await new Promise((r) => setTimeout(r, 1100))
    sandbox.placeOrder({ lines: [{ item: s.item.sku, quantity: 2 }], locationId: loc.id })
    sandbox.state.pendingWebhooks.splice(0)
    expect(sandbox.level(s.item.sku, loc.id)).toBe(8)
    const writes = sandbox.requestsFor('InventorySetQuantities').length
    expect((await s.admin.post(`/api/v1/stock-sync/${id}/sync`, { action: 'audit' })).status).toBe(202)
    await drainJobs(hub, { tasks: [listings] })
    await drainJobs(hub, { tasks: [push] })
    expect({ writes: sandbox.requestsFor('InventorySetQuantities').length - writes, drift: await s.drift(id), offered: sandbox.level(s.item.sku, loc.id), level: await s.level() }).toEqual({
      writes: 0,
      drift: [],
      offered: 8,
      level: { onHand: 10, reserved: 2 },
    })
  })

  it('a Taobao trade not polled yet: the audit does not put its units back on the SKU', async () => {
    const s = await shop()
    const taobao = taobaoSandbox({ appKey: '12345678', appSecret: 'taobao-app-secret-1', sessionKey: 'taobao-session-key-1' })
    const tItem = taobao.addItem({ title: 'Mug', skus: [{ outerId: s.item.sku, quantity: 10 }] })
    const skuId = [...tItem.skus.values()][0]!.skuId
    server.resetHandlers(...taobao.handlers)
    const conn = await createConnection(hub.database.db, connectorRegistry, hub.secrets, s.m.merchantId, { connectorId: 'taobao', name: 'Taobao', config: { appKey: '12345678', appSecret: 'taobao-app-secret-1', sessionKey: 'taobao-session-key-1', gatewayUrl: TOP_SANDBOX_GATEWAY } }, new Date())
    await mapLocations(hub, s.m.merchantId, conn.id, [{ remote: 'default', ours: [s.store.locationId] }])
    await syncListings(hub, s.ref(conn.id), 'import')
    await settleAll(hub)
    await new Promise((r) => setTimeout(r, 1100))
    taobao.placeTrade({ lines: [{ numIid: tItem.numIid, skuId, num: 2 }], status: 'WAIT_SELLER_SEND_GOODS' })
    expect(taobao.quantity(tItem.numIid, skuId)).toBe(8)
    const writes = taobao.state.requests.filter((r) => r.api.endsWith('quantity.update')).length
    expect((await s.admin.post(`/api/v1/stock-sync/${conn.id}/sync`, { action: 'audit' })).status).toBe(202)
    await drainJobs(hub, { tasks: [listings] })
    await drainJobs(hub, { tasks: [push] })
    expect({ writes: taobao.state.requests.filter((r) => r.api.endsWith('quantity.update')).length - writes, drift: await s.drift(conn.id), offered: taobao.quantity(tItem.numIid, skuId), level: await s.level() }).toEqual({
      writes: 0,
      drift: [],
      offered: 8,
      level: { onHand: 10, reserved: 2 },
    })
  })

  it('the nightly recovery with its audit run before its poll (separate queues) does not put a lost order’s units back', async () => {
    const w = await woo()
    w.sandbox.placeOrder({ lines: [{ sku: w.item.sku, quantity: 2 }], status: 'processing' })
    expect((await w.admin.post(`/api/v1/stock-sync/${w.id}/sync`, { action: 'recover' })).status).toBe(202)
    await drainJobs(hub, { tasks: [recover] })
    await drainJobs(hub, { tasks: [listings] })
    await drainJobs(hub, { tasks: [push] })
    const offered = w.sandbox.stockOf(w.product)
    const drift = await w.drift(w.id)
    await settleAll(hub)
    expect({ offered, drift, after: w.sandbox.stockOf(w.product), level: await w.level() }).toEqual({ offered: 8, drift: [], after: 8, level: { onHand: 10, reserved: 2 } })
  })

  it('real drift is still found and repaired after the audit took the shop’s new orders in', async () => {
    const w = await woo()
    w.sandbox.placeOrder({ lines: [{ sku: w.item.sku, quantity: 2 }], status: 'processing' })
    // And someone sets the stock by hand on the shop as well.
    w.sandbox.setStock(w.product, 30)
    expect(await syncListings(hub, w.ref(w.id), 'audit')).toMatchObject({ drift: 1 })
    await settleAll(hub)
    expect({ drift: await w.drift(w.id), offered: w.sandbox.stockOf(w.product), level: await w.level() }).toEqual({ drift: [[30, 8]], offered: 8, level: { onHand: 10, reserved: 2 } })
  })
})
