// Marketplace connections for stock-sync tests: a Shopify and a WooCommerce connection of a merchant (pointed at the
// vendor sandboxes in src/sandboxes/vendors), their location maps, and reading a level's sync state.
import { afterEach } from 'vitest'
import { sql } from 'drizzle-orm'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { setLocationMap } from '../../src/core/channel-stock/setup.ts'
import type { Hub } from '../../src/runtime.ts'
import { wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import type { Api } from './api.ts'
import { useTestHub } from './db.ts'
import { settleAll } from './jobs.ts'
import { useMockServer } from './connections.ts'

export const SHOP = 'tillbridge-test.myshopify.com'
export const SHOP_TOKEN = 'shpat_0123456789abcdef0123456789abcdef'
export const SHOP_SECRET = 'shopify-app-client-secret-0001'
export const SHOP_LOCATION = 'gid://shopify/Location/1'
export const WOO_SITE = 'https://woo.tillbridge.test'
export const WOO_KEY = 'ck_0123456789abcdef0123456789abcdef01234567'
export const WOO_SECRET = 'cs_0123456789abcdef0123456789abcdef01234567'
export const WOO_HOOK_SECRET = 'woo-webhook-secret-0001'

export async function createShopifyConnection(hub: Hub, merchantId: string, opts: { name?: string; locations?: { remote: string; ours: string[] }[] } = {}) {
  const row = await createConnection(
    hub.database.db,
    connectorRegistry,
    hub.secrets,
    merchantId,
    { connectorId: 'shopify', name: opts.name ?? 'Shopify', config: { shop: SHOP, accessToken: SHOP_TOKEN, webhookSecret: SHOP_SECRET } },
    hub.clock(),
  )
  if (opts.locations) await mapLocations(hub, merchantId, row.id, opts.locations)
  return row.id
}

export async function createWooConnection(hub: Hub, merchantId: string, opts: { name?: string; locationIds?: string[] } = {}) {
  const row = await createConnection(
    hub.database.db,
    connectorRegistry,
    hub.secrets,
    merchantId,
    { connectorId: 'woocommerce', name: opts.name ?? 'WooCommerce', config: { siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET } },
    hub.clock(),
  )
  if (opts.locationIds) await mapLocations(hub, merchantId, row.id, [{ remote: 'default', ours: opts.locationIds }])
  return row.id
}

export const mapLocations = (hub: Hub, merchantId: string, connectionId: string, maps: { remote: string; ours: string[]; pickup?: string }[]) =>
  hub.database.db.transaction((tx) =>
    setLocationMap(tx, { merchantId, connectionId }, maps.map((m) => ({ remoteLocationId: m.remote, locationIds: m.ours, pickupLocationId: m.pickup })), hub.clock()),
  )

export async function stockLevel(hub: Hub, variantId: string, locationId: string) {
  const r = await hub.database.db.execute<{ on_hand: string; reserved: string }>(sql`select on_hand::text, reserved::text from stock_levels where variant_id = ${variantId} and location_id = ${locationId}`)
  const row = r.rows[0]
  return row ? { onHand: Number(row.on_hand), reserved: Number(row.reserved) } : { onHand: 0, reserved: 0 }
}

export async function channelLevel(hub: Hub, connectionId: string, variantId: string) {
  const r = await hub.database.db.execute<{ status: string; target: string | null; last_pushed: string | null; last_remote: string | null; dirty: boolean; last_error: string | null }>(sql`
    select status, target::text, last_pushed::text, last_remote::text, dirty_since is not null as dirty, last_error
      from channel_levels where connection_id = ${connectionId} and variant_id = ${variantId}`)
  const row = r.rows[0]
  if (!row) return null
  const n = (v: string | null) => (v === null ? null : Number(v))
  return { status: row.status, target: n(row.target), lastPushed: n(row.last_pushed), lastRemote: n(row.last_remote), dirty: row.dirty, lastError: row.last_error }
}

/** Uploads a day's WeChat Pay trade bill (contracted fee 0.6 %) through the API as finance would, and runs the day. */
export async function uploadWechatDay(api: Api, connectionId: string, day: string, rows: WechatBillRow[]) {
  const up = await api.post(`/api/v1/reconciliation/statements?${new URLSearchParams({ connectionId, date: day, format: 'wechat_trade', fileName: `wechat-${day}-ALL.csv` })}`, undefined, {
    raw: new Uint8Array(wechatBill({ rows, feeRateBp: 60 })),
    headers: { 'content-type': 'text/csv' },
  })
  if (up.status !== 201) throw new Error(`upload of ${day}: ${up.status} ${JSON.stringify(up.body)}`)
  const ran = await api.post('/api/v1/reconciliation/runs', { connectionId, date: day })
  if (ran.status !== 200) throw new Error(`run of ${day}: ${ran.status} ${JSON.stringify(ran.body)}`)
  return ran.body
}

/**
 * A hub for the stock-sync tests (its public URL the one the shops' webhooks name) and an msw server for the shops'
 * sandboxes, up for the file; the hub's clock is put back after each test. `settle` runs every job due.
 */
export function useStockSyncHub(poolSize = 30) {
  const hub = useTestHub({ poolSize, config: { publicUrl: 'https://hub.tillbridge.test' } })
  const server = useMockServer()
  afterEach(() => hub.setNow(undefined))
  return { hub, server, settle: () => settleAll(hub) }
}
