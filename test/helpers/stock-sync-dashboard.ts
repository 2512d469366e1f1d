// A Shopify connection in every state the stock sync dashboard shows, made with the channel-stock core: one SKU in
// sync, one whose push Shopify refused, one an audit found drifted, two variants no listing stands for, a listing
// with an unknown SKU (and HTML in its title), one ambiguous listing, and an online order flagged for lack of stock.
// api.ts first: it loads the app, whose zod (with .openapi) the schemas of the core must be made with.
import { seedMerchant, type SeededMerchant } from './api.ts'
import { sql } from 'drizzle-orm'
import { expect } from 'vitest'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { levelStates, recordPushOutcomes, recordReadings } from '../../src/core/channel-stock/levels.ts'
import { importListings, type ChannelRef } from '../../src/core/channel-stock/listings.ts'
import { applyChannelOrder } from '../../src/core/channel-stock/orders.ts'
import { setLocationMap } from '../../src/core/channel-stock/setup.ts'
import { systemActor } from '../../src/core/staff/actor.ts'
import type { TestHub } from './db.ts'
import { seedProduct, seedStore } from './pos.ts'

export const REMOTE_LOCATION = 'gid://shopify/Location/1'
export const PUSH_ERROR = 'INVENTORY_ITEM_NOT_STOCKED: The inventory item is not stocked at this location'
export const EVIL_TITLE = '<script>alert("x")</script><b>Gift card</b>'

export interface StockSyncState {
  m: SeededMerchant
  ref: ChannelRef
  connectionName: string
  /** SKUs of the seeded variants. */
  sku: { ok: string; error: string; drift: string; soldOut: string; spare: string }
  variantIds: { spare: string }
  /** Listing ids: the one with an unknown SKU, and the ambiguous one. */
  listings: { unknown: string; ambiguous: string }
  orderName: string
}

export async function seedStockSync(hub: TestHub): Promise<StockSyncState> {
  const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai', currency: 'CNY', locale: 'en' })
  const store = await seedStore(hub, m.merchantId)
  const tag = m.merchantId.slice(0, 8)
  const product = (name: string, stock: number) => seedProduct(hub, store, { sku: `${name}-${tag}`, name, price: 1000, stock })
  const ok = await product('TEA', 10)
  const error = await product('CUP', 5)
  const drift = await product('POT', 3)
  const soldOut = await product('FAN', 0)
  const spare = await product('BAG', 4)

  const db = hub.database.db
  const connectionName = 'Demo shop 演示店'
  const conn = await createConnection(
    db,
    connectorRegistry,
    hub.secrets,
    m.merchantId,
    { connectorId: 'shopify', name: connectionName, config: { shop: 'demo-shop.myshopify.com', accessToken: 'shpat_0123456789abcdef0123456789abcdef', webhookSecret: 'shopify-app-secret-demo' } },
    hub.clock(),
  )
  const ref: ChannelRef = { merchantId: m.merchantId, connectionId: conn.id }
  const at = hub.clock()
  const listing = (externalId: string, sku: string, title: string) => ({ externalId, externalIds: { inventoryItemId: externalId }, sku, barcode: null, title, tracked: true })

  const imported = await db.transaction(async (tx) => {
    await setLocationMap(tx, ref, [{ remoteLocationId: REMOTE_LOCATION, name: 'Shop warehouse', locationIds: [store.locationId] }], at)
    return importListings(
      tx,
      ref,
      [
        listing('gid://shopify/InventoryItem/101', ok.sku, 'Green tea'),
        listing('gid://shopify/InventoryItem/102', error.sku, 'Tea cup'),
        listing('gid://shopify/InventoryItem/103', drift.sku, 'Tea pot'),
        listing('gid://shopify/InventoryItem/104', `GIFT-${tag}`, EVIL_TITLE),
        // A second listing for the tea, whose variant the first already has: a person must choose.
        listing('gid://shopify/InventoryItem/105', ok.sku, 'Green tea (old listing)'),
      ],
      at,
    )
  })
  expect(imported).toMatchObject({ bound: 3, unmapped: 1, ambiguous: 1 })

  await db.transaction(async (tx) => {
    const levels = await levelStates(tx, conn.id, { variantIds: [ok.variantId, error.variantId, drift.variantId] })
    const of = (variantId: string) => levels.find((l) => l.variantId === variantId)!
    await recordPushOutcomes(
      tx,
      [
        { level: of(ok.variantId), outcome: { status: 'ok', quantity: 10 } },
        { level: of(error.variantId), outcome: { status: 'failed', code: 'INVENTORY_ITEM_NOT_STOCKED', message: 'The inventory item is not stocked at this location', retryable: false } },
        { level: of(drift.variantId), outcome: { status: 'ok', quantity: 3 } },
      ],
      at,
    )
    // The nightly audit reads 7 teapots on Shopify where 3 were pushed: drift.
    await recordReadings(tx, ref, [{ externalId: 'gid://shopify/InventoryItem/103', remoteLocationId: REMOTE_LOCATION, available: 7 }], at, 'audit')
  })

  const orderName = '#1001'
  const applied = await db.transaction((tx) =>
    applyChannelOrder(
      tx,
      systemActor(m.merchantId, 'test'),
      ref,
      { id: 'gid://shopify/Order/9001', name: orderName, status: 'open', updatedAt: at.toISOString(), locationId: REMOTE_LOCATION, pickupLocationId: null, lines: [{ id: 'gid://shopify/LineItem/1', sku: soldOut.sku, externalId: null, quantity: 2 }] },
      at,
    ),
  )
  expect(applied.order.flag).toBe('insufficient_stock')

  const ids = await db.execute<{ id: string; state: string }>(sql`select id, state from channel_listings where connection_id = ${conn.id} and state in ('unmapped', 'ambiguous')`)
  const idOf = (state: string) => ids.rows.find((r) => r.state === state)!.id
  return {
    m,
    ref,
    connectionName,
    sku: { ok: ok.sku, error: error.sku, drift: drift.sku, soldOut: soldOut.sku, spare: spare.sku },
    variantIds: { spare: spare.variantId },
    listings: { unknown: idOf('unmapped'), ambiguous: idOf('ambiguous') },
    orderName,
  }
}
