// Two stores feeding one WooCommerce location: an online order's goods leave a store that has them, and the shop is
// pushed our figure whatever the map became while the order was held.
import { describe, expect, it } from 'vitest'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createWooConnection, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'

describe('two stores feeding one WooCommerce shop', () => {
  const { hub, server, settle } = useStockSyncHub()

  async function world(stockA: number, stockB: number) {
    const m = await seedMerchant(hub)
    const a = await seedStore(hub, m.merchantId, { code: 'A' })
    const b = await seedStore(hub, m.merchantId, { code: 'B' })
    const sku = `TWO-${Date.now()}`
    const item = await seedProduct(hub, a, { sku, price: 1990, stock: stockA })
    const admin = createApi(hub).as(m.adminToken)
    if (stockB) expect((await admin.post('/api/v1/stock/receipts', { locationId: b.locationId, lines: [{ sku, quantity: stockB }] })).status).toBe(201)
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const product = woo.addProduct({ sku, stock: stockA + stockB }).id
    server.resetHandlers(...woo.handlers)
    const wooId = await createWooConnection(hub, m.merchantId, { locationIds: [a.locationId, b.locationId] })
    await syncListings(hub, { merchantId: m.merchantId, connectionId: wooId }, 'import')
    await settle()
    const deliver = (d: { headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${wooId}`, undefined, { raw: d.body, headers: d.headers })
    const levels = async () => ({ a: await stockLevel(hub, item.variantId, a.locationId), b: await stockLevel(hub, item.variantId, b.locationId) })
    // WooCommerce stamps to the second: each step a second after what the hub last wrote or read.
    const later = async () => {
      await new Promise((r) => setTimeout(r, 1100))
      woo.setNow(new Date())
    }
    return { m, a, b, sku, item, woo, product, wooId, admin, deliver, levels, later, ref: { merchantId: m.merchantId, connectionId: wooId } }
  }

  it('an order first seen completed takes its goods from a store that has them, not the first store into negative', async () => {
    const w = await world(0, 10)
    await w.later()
    w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'completed' })
    await pollOrders(hub, w.ref)
    await settle()
    expect(await w.levels()).toEqual({ a: { onHand: 0, reserved: 0 }, b: { onHand: 8, reserved: 0 } })
    expect((await w.admin.post('/api/v1/stock/receipts', { locationId: w.b.locationId, lines: [{ sku: w.sku, quantity: 1 }] })).status).toBe(201)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(9)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
  })

  it('an order held at a store that then leaves the map, cancelled: the hold is given back and the shop set to our figure', async () => {
    const w = await world(5, 4)
    await w.later()
    const { order, delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 2 }], status: 'processing' })
    expect((await w.deliver(delivery)).status).toBe(200)
    await settle()
    expect(await w.levels()).toEqual({ a: { onHand: 5, reserved: 2 }, b: { onHand: 4, reserved: 0 } })
    // Only store B feeds the shop now: 4.
    expect((await w.admin.put(`/api/v1/stock-sync/${w.wooId}/locations`, { locations: [{ remoteLocationId: 'default', locationIds: [w.b.locationId] }] })).status).toBe(200)
    await settle()
    expect(w.woo.stockOf(w.product)).toBe(4)
    await w.later()
    // Cancelled there: WooCommerce puts its 2 back on its own figure (6); ours is still 4.
    expect((await w.deliver(w.woo.cancelOrder(Number(order.id)).delivery)).status).toBe(200)
    await settle()
    expect((await w.levels()).a).toEqual({ onHand: 5, reserved: 0 })
    expect(w.woo.stockOf(w.product)).toBe(4)
  })

  it('a count at the store holding an order that leaves it fewer units than it holds: the shop is offered the pool less every reservation', async () => {
    const w = await world(5, 4)
    await w.later()
    const { delivery } = w.woo.placeOrder({ lines: [{ sku: w.sku, quantity: 3 }], status: 'processing' })
    expect((await w.deliver(delivery)).status).toBe(200)
    await settle()
    expect(await w.levels()).toEqual({ a: { onHand: 5, reserved: 3 }, b: { onHand: 4, reserved: 0 } })
    const open = await w.admin.post('/api/v1/stock/counts', { locationId: w.a.locationId, variantIds: [w.item.variantId] })
    expect(open.status, JSON.stringify(open.body)).toBe(201)
    await w.admin.post(`/api/v1/stock/counts/${open.body.id}/entries`, { lines: [{ sku: w.sku, quantity: 1 }] })
    expect((await w.admin.post(`/api/v1/stock/counts/${open.body.id}/post`, {})).status).toBe(200)
    await settle()
    const l = await w.levels()
    expect(l).toEqual({ a: { onHand: 1, reserved: 3 }, b: { onHand: 4, reserved: 0 } })
    expect(l.a.onHand + l.b.onHand - l.a.reserved - l.b.reserved).toBe(2)
    expect(await ledgerMismatches(hub, w.m.merchantId)).toEqual([])
    // README: available = on-hand − reservations of every channel = 5 − 3 = 2.
    expect(w.woo.stockOf(w.product)).toBe(2)
  })
})
