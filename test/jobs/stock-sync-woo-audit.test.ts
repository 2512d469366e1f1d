// WooCommerce lists products by page number: a product trashed or deleted on a page the audit already read pulls the
// next one onto that page, and the pass never sees it. Such a listing is read by itself before it is taken for gone,
// so it keeps its binding (and a web order for it holds our stock); one really gone from the shop is still gone.
import { describe, expect, it } from 'vitest'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { seedMerchant } from '../helpers/api.ts'
import { settleAll } from '../helpers/jobs.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { createWooConnection, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'

const BASE = `${WOO_SITE}/wp-json/wc/v3`

describe('WooCommerce audit while the product list shifts', () => {
  const { hub, server } = useStockSyncHub(20)

  /** A shop whose product list runs `beforePage2` once, as page 2 of a listing pass is asked for. */
  async function shop() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: new Date() })
    const hooks: { beforePage2: (() => void) | null } = { beforePage2: null }
    server.resetHandlers(
      http.get(`${BASE}/products`, ({ request }) => {
        const url = new URL(request.url)
        if (!url.searchParams.has('include') && url.searchParams.get('page') === '2' && hooks.beforePage2) {
          const f = hooks.beforePage2
          hooks.beforePage2 = null
          f()
        }
        return undefined
      }),
      ...woo.handlers,
    )
    const connectionId = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    const ref = { merchantId: m.merchantId, connectionId }
    const listing = async (externalId: number) =>
      (
        await hub.database.db.execute<{ state: string; variant_id: string | null }>(sql`
          select state, variant_id from channel_listings where connection_id = ${connectionId} and external_id = ${String(externalId)}`)
      ).rows[0]
    const fillers = (tag: string) => Array.from({ length: 100 }, (_, i) => woo.addProduct({ sku: `${tag}-FILL-${i}`, stock: 1 }))
    return { m, store, woo, ref, hooks, listing, fillers }
  }

  it('a product trashed on page 1 while page 2 is read: the product pulled onto page 1 stays bound, and a web order for it holds our stock', async () => {
    const s = await shop()
    const item = await seedProduct(hub, s.store, { sku: `WA-${Date.now()}`, price: 500, stock: 9 })
    const fillers = s.fillers('WA')
    const ours = s.woo.addProduct({ sku: item.sku, stock: 9 })
    await syncListings(hub, s.ref, 'import')
    await settleAll(hub)
    expect(await s.listing(ours.id)).toMatchObject({ variant_id: item.variantId })

    s.hooks.beforePage2 = () => {
      fillers[3]!.status = 'trash'
    }
    const audit = await syncListings(hub, s.ref, 'audit')
    expect(s.hooks.beforePage2).toBeNull()
    // Nothing is gone: the trashed filler was read on page 1 before it went, ours was read by itself.
    expect(audit?.gone).toBe(0)
    expect(await s.listing(ours.id)).toMatchObject({ variant_id: item.variantId, state: expect.not.stringMatching(/^gone$/) })
    // The next pass finds the filler gone, and ours still there.
    expect((await syncListings(hub, s.ref, 'audit'))?.gone).toBe(1)
    expect((await s.listing(fillers[3]!.id))?.state).toBe('gone')
    expect(await s.listing(ours.id)).toMatchObject({ variant_id: item.variantId, state: expect.not.stringMatching(/^gone$/) })

    s.woo.setNow(new Date(Date.now() + 2000))
    s.woo.placeOrder({ lines: [{ id: ours.id, quantity: 2 }], status: 'processing' })
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    expect(await stockLevel(hub, item.variantId, s.store.locationId)).toEqual({ onHand: 9, reserved: 2 })
    expect(s.woo.stockOf(ours.id)).toBe(7)
  })

  it('a product deleted on page 1 while page 2 is read: the variations pulled onto page 1 stay bound', async () => {
    const s = await shop()
    const a = await seedProduct(hub, s.store, { sku: `WV-${Date.now()}`, price: 500, stock: 4 })
    const fillers = s.fillers('WV')
    const { variations } = s.woo.addVariableProduct({ name: 'Tee', variations: [{ sku: a.sku, stock: 4 }] })
    await syncListings(hub, s.ref, 'import')
    s.hooks.beforePage2 = () => {
      s.woo.state.products.delete(fillers[0]!.id)
    }
    const audit = await syncListings(hub, s.ref, 'audit')
    expect(audit?.gone).toBe(0)
    expect(await s.listing(variations[0]!.id)).toMatchObject({ variant_id: a.variantId, state: expect.not.stringMatching(/^gone$/) })
  })

  it('a variable product trashed on the shop: its variations are gone after the pass, as a simple product trashed is', async () => {
    const s = await shop()
    const a = await seedProduct(hub, s.store, { sku: `WT-${Date.now()}`, price: 500, stock: 4 })
    const b = await seedProduct(hub, s.store, { sku: `WS-${Date.now()}`, price: 500, stock: 4 })
    const { product, variations } = s.woo.addVariableProduct({ name: 'Tee', variations: [{ sku: a.sku, stock: 4 }] })
    const simple = s.woo.addProduct({ sku: b.sku, stock: 4 })
    await syncListings(hub, s.ref, 'import')
    s.woo.state.products.get(product.id)!.status = 'trash'
    s.woo.state.products.get(simple.id)!.status = 'trash'
    const audit = await syncListings(hub, s.ref, 'audit')
    expect(audit?.gone).toBe(2)
    expect(await s.listing(variations[0]!.id)).toMatchObject({ state: 'gone', variant_id: null })
    expect(await s.listing(simple.id)).toMatchObject({ state: 'gone', variant_id: null })
  })
})
