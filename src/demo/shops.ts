// The demo's online shops: the Shopify store (two locations, one offering pickup), the WooCommerce site and the
// Taobao shop list part of the catalog under the same SKUs; the hub binds the listings by SKU, feeds each shop from
// the stores' stock, and takes the shops' orders (Shopify and WooCommerce by webhook, Taobao by polling).
import type { DemoApi } from './client.ts'
import type { DemoSellable, DemoStore } from './seed.ts'
import type { Sandboxes } from '../sandboxes/index.ts'
import { rng } from './random.ts'
import { startOfBusinessDay } from '../lib/time.ts'
import { DEMO_TIME_ZONE } from './seed.ts'

export interface ShopListings {
  shopify: DemoSellable[]
  woocommerce: DemoSellable[]
  taobao: DemoSellable[]
}

export interface ShopWorld {
  listings: ShopListings
  shopifyLocations: { id: string; storeCode: string }[]
  wooIds: Map<string, number>
  taobaoItems: Map<string, { numIid: string; skuId: string | null }>
}

/** Which SKUs each shop lists: clothes and packaged goods online, never goods weighed at the counter or services. */
export function listingsOf(sellables: DemoSellable[]): ShopListings {
  const packaged = sellables.filter((s) => s.product.kind === 'packaged')
  const apparel = sellables.filter((s) => s.product.kind === 'apparel')
  const every = (n: number, offset: number) => packaged.filter((_, i) => i % n === offset)
  return {
    shopify: [...apparel, ...every(4, 0)],
    woocommerce: every(5, 1),
    taobao: [...every(8, 2), ...apparel.filter((s) => s.product.key === apparel[0]?.product.key)],
  }
}

/**
 * Puts the listings into the shops' sandboxes with the quantities each shop shows now (`remote(sku)`). Listings are
 * added in the same order on every run, so the shops hand out the same ids and the hub's bindings stay valid.
 */
export type Shop = 'shopify' | 'woocommerce' | 'taobao'
/** What a shop shows of a SKU (at one store's location, for Shopify). */
export type RemoteQuantity = (shop: Shop, sku: string, storeCode?: string) => number

export function stockShops(sandboxes: Sandboxes, stores: DemoStore[], listings: ShopListings, remote: RemoteQuantity): ShopWorld {
  const { shopify, woocommerce, taobao } = sandboxes.vendors
  const shopifyLocations = stores.map((s, i) => ({ id: shopify.addLocation(`${s.name} ${s.code}`, { pickup: i === 0 }).id, storeCode: s.code }))
  const byProduct = <T>(items: DemoSellable[], f: (group: DemoSellable[]) => T) => {
    const groups = new Map<string, DemoSellable[]>()
    for (const s of items) groups.set(s.product.key, [...(groups.get(s.product.key) ?? []), s])
    return [...groups.values()].map(f)
  }
  const title = (s: DemoSellable) => `${s.product.name} ${s.product.nameEn}`
  const optionsText = (s: DemoSellable) => Object.values(s.product.variants.find((v) => v.sku === s.sku)?.options ?? {}).join(' / ')
  const barcodeOf = (s: DemoSellable) => s.product.variants.find((v) => v.sku === s.sku)?.barcodes[0] ?? null
  const yuan = (fen: number) => (fen / 100).toFixed(2)

  byProduct(listings.shopify, (group) =>
    shopify.addProduct({
      title: title(group[0]!),
      variants: group.map((s) => ({
        sku: s.sku,
        barcode: barcodeOf(s),
        title: group.length > 1 ? optionsText(s) : undefined,
        price: yuan(s.price),
        levels: Object.fromEntries(shopifyLocations.map((l) => [l.id, remote('shopify', s.sku, l.storeCode)])),
      })),
    }),
  )
  const wooIds = new Map<string, number>()
  for (const s of listings.woocommerce) wooIds.set(s.sku, woocommerce.addProduct({ name: title(s), sku: s.sku, stock: remote('woocommerce', s.sku), price: s.price / 100 }).id)
  const taobaoItems = new Map<string, { numIid: string; skuId: string | null }>()
  byProduct(listings.taobao, (group) => {
    if (group.length === 1 && group[0]!.product.kind !== 'apparel') {
      const item = taobao.addItem({ title: group[0]!.product.name, outerId: group[0]!.sku, quantity: remote('taobao', group[0]!.sku) })
      taobaoItems.set(group[0]!.sku, { numIid: item.numIid, skuId: null })
      return
    }
    const item = taobao.addItem({ title: group[0]!.product.name, skus: group.map((s) => ({ outerId: s.sku, quantity: remote('taobao', s.sku) })) })
    for (const sku of item.skus.values()) if (sku.outerId) taobaoItems.set(sku.outerId, { numIid: item.numIid, skuId: sku.skuId })
  })
  return { listings, shopifyLocations, wooIds, taobaoItems }
}

/** Maps each shop's locations to the stores' stock and sets how much of it each shop is offered. */
export async function configureStockSync(api: DemoApi, ids: { shopify: string; woocommerce: string; taobao: string }, stores: DemoStore[], world: ShopWorld): Promise<void> {
  await api.put(`/api/v1/stock-sync/${ids.shopify}/locations`, {
    locations: world.shopifyLocations.map((l) => {
      const store = stores.find((s) => s.code === l.storeCode)!
      return { remoteLocationId: l.id, name: store.name, locationIds: [store.locationId], pickupLocationId: store.locationId }
    }),
  })
  const both = stores.map((s) => s.locationId)
  await api.put(`/api/v1/stock-sync/${ids.woocommerce}/locations`, { locations: [{ remoteLocationId: 'default', name: '全部门店 All stores', locationIds: both }] })
  await api.put(`/api/v1/stock-sync/${ids.taobao}/locations`, { locations: [{ remoteLocationId: 'default', name: '全部门店 All stores', locationIds: both }] })
  // The website gets most of the stock with a small buffer; Taobao, a marketplace that punishes overselling, half.
  await api.put(`/api/v1/stock-sync/${ids.woocommerce}/rules/default`, { percent: 90, buffer: 2 })
  await api.put(`/api/v1/stock-sync/${ids.taobao}/rules/default`, { percent: 50, buffer: 5, zeroAtOrBelow: 3 })
}

type Delivery = { headers: Record<string, string>; body: string }

/** Hands a shop's webhook to the hub the way the shop would: raw body and signature headers, no credentials. */
async function deliver(api: DemoApi, connectionId: string, d: Delivery): Promise<void> {
  const r = await api.request('POST', `/webhooks/${connectionId}`, undefined, { raw: d.body, headers: d.headers, token: null })
  if (r.status >= 300) throw new Error(`the hub refused a webhook of connection ${connectionId}: ${r.status} ${JSON.stringify(r.body)}`)
}

/**
 * The week's online orders: on Shopify two a day (shipped the next day; the last day's still open, one of them to
 * be collected at the Shanghai store), on WooCommerce one a day, on Taobao three today, found by polling.
 */
export async function placeOnlineOrders(api: DemoApi, sandboxes: Sandboxes, ids: { shopify: string; woocommerce: string; taobao: string }, world: ShopWorld, dates: string[]): Promise<number> {
  const r = rng(4242)
  const { shopify, woocommerce, taobao } = sandboxes.vendors
  const pick = (from: DemoSellable[], n: number) => Array.from({ length: n }, () => r.pick(from)).filter((s, i, a) => a.indexOf(s) === i)
  let placed = 0
  const toFulfil: string[] = []
  for (const [i, day] of dates.entries()) {
    const start = startOfBusinessDay(day, DEMO_TIME_ZONE).getTime()
    const last = i === dates.length - 1
    for (const hour of [10, 20]) {
      const at = new Date(start + (hour * 60 + r.int(0, 59)) * 60_000)
      const pickup = last && hour === 20
      const lines = pick(world.listings.shopify, r.int(1, 3)).map((s) => ({ item: s.sku, quantity: 1 }))
      const o = shopify.placeOrder({ lines, at, ...(pickup ? { pickupLocationId: world.shopifyLocations[0]!.id } : { locationId: world.shopifyLocations[r.int(0, world.shopifyLocations.length - 1)]!.id }) })
      await deliver(api, ids.shopify, o.delivery)
      if (!last) toFulfil.push(o.order.id)
      placed++
    }
    const at = new Date(start + (15 * 60 + r.int(0, 59)) * 60_000)
    woocommerce.setNow(at)
    const w = woocommerce.placeOrder({ lines: pick(world.listings.woocommerce, r.int(1, 3)).map((s) => ({ sku: s.sku, quantity: r.int(1, 2) })) })
    await deliver(api, ids.woocommerce, w.delivery)
    if (!last) {
      woocommerce.setNow(new Date(at.getTime() + 20 * 3600_000))
      await deliver(api, ids.woocommerce, woocommerce.completeOrder(w.order.id as number).delivery)
    }
    woocommerce.setNow(new Date())
    placed++
  }
  for (const id of toFulfil) await deliver(api, ids.shopify, shopify.fulfillOrder(id))
  for (let i = 0; i < 3; i++) {
    const lines = pick([...world.taobaoItems.keys()].map((sku) => world.listings.taobao.find((s) => s.sku === sku)!), r.int(1, 2))
    taobao.placeTrade({ lines: lines.map((s) => ({ numIid: world.taobaoItems.get(s.sku)!.numIid, skuId: world.taobaoItems.get(s.sku)!.skuId, num: 1 })), status: 'WAIT_SELLER_SEND_GOODS' })
    placed++
  }
  await api.post(`/api/v1/stock-sync/${ids.taobao}/sync`, { action: 'poll' })
  return placed
}
