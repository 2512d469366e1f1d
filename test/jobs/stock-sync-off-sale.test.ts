// A product archived, or a variant taken off the shelf, is not for sale at the till: the shops it is listed in are
// pushed 0 for it (the listing stays bound, so an order placed before the push still holds its units), and the stock
// figure comes back when it is on sale again.
import { describe, expect, it } from 'vitest'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createWooConnection, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { syncListings } from '../../src/jobs/stock-sync.ts'

describe('stock sync of what is not for sale', () => {
  const { hub, server, settle } = useStockSyncHub()

  async function world() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId, { code: 'A' })
    const sku = `OFF-${Date.now()}`
    const item = await seedProduct(hub, store, { sku, price: 1990, stock: 7 })
    const admin = createApi(hub).as(m.adminToken)
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const product = woo.addProduct({ sku, stock: 7 }).id
    server.resetHandlers(...woo.handlers)
    const wooId = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    await syncListings(hub, { merchantId: m.merchantId, connectionId: wooId }, 'import')
    await settle()
    const deliver = (d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${wooId}`, undefined, { raw: d.body, headers: d.headers })
    const later = async () => {
      await new Promise((r) => setTimeout(r, 1100))
      woo.setNow(new Date())
    }
    return { m, store, sku, item, admin, woo, product, wooId, deliver, later }
  }

  it('an archived product is pushed 0; an order placed before the push still holds its units; restored, the shop gets our figure', async () => {
    const w = await world()
    expect(w.woo.stockOf(w.product)).toBe(7)
    await w.later()
    // An order comes in while the product is being archived: it took 2 there before our 0 lands.
    const { delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'processing' })
    const archived = await w.admin.delete(`/api/v1/products/${w.item.productId}`)
    expect(archived.status, JSON.stringify(archived.body)).toBe(200)
    expect((await w.deliver(delivery)).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(0)
    expect(await stockLevel(hub, w.item.variantId, w.store.locationId)).toEqual({ onHand: 7, reserved: 2 })
    // The listing stays bound: the shop's SKU list shows it, at 0.
    const skus = await w.admin.get(`/api/v1/stock-sync/${w.wooId}/skus`)
    expect(skus.status, JSON.stringify(skus.body)).toBe(200)
    expect(skus.body.items.find((i: any) => i.sku === w.sku)).toMatchObject({ target: 0 })

    await w.later()
    const back = await w.admin.patch(`/api/v1/products/${w.item.productId}`, { status: 'active' })
    expect(back.status, JSON.stringify(back.body)).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(5)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('a variant taken off the shelf is pushed 0, and its stock again when it is back on the shelf', async () => {
    const w = await world()
    await w.later()
    const off = await w.admin.patch(`/api/v1/variants/${w.item.variantId}`, { onShelf: false })
    expect(off.status, JSON.stringify(off.body)).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(0)
    // A receipt while it is off the shelf changes nothing there.
    expect((await w.admin.post('/api/v1/stock/receipts', { locationId: w.store.locationId, lines: [{ sku: w.sku, quantity: 3 }] })).status).toBe(201)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(0)
    await w.later()
    expect((await w.admin.patch(`/api/v1/variants/${w.item.variantId}`, { onShelf: true })).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(10)
  })
})
