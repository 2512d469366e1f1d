// The WooCommerce order poll as the backstop for lost webhooks: a crowded second read whole while the shop changes
// orders under the paging, and orders moved to the trash (which WooCommerce's `any` status leaves out) given back.
import { describe, expect, it } from 'vitest'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { seedMerchant } from '../helpers/api.ts'
import { settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { createWooConnection, stockLevel, useStockSyncHub, WOO_HOOK_SECRET, WOO_KEY, WOO_SECRET, WOO_SITE } from '../helpers/channels.ts'
import { wooSandbox } from '../../src/sandboxes/vendors/woocommerce.ts'
import { commitBatch } from '../../src/connectors/framework/sync-state.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'

const BASE = `${WOO_SITE}/wp-json/wc/v3`

describe('WooCommerce order poll', () => {
  const { hub, server } = useStockSyncHub(20)

  /** A shop with one product we stock 1000 of, imported at `at`, the order checkpoint at `at`; `onList` sees every order list request. */
  async function shop(at: Date, onList: (url: URL) => void = () => {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const woo = wooSandbox({ siteUrl: WOO_SITE, consumerKey: WOO_KEY, consumerSecret: WOO_SECRET, webhookSecret: WOO_HOOK_SECRET, now: at })
    server.resetHandlers(
      http.get(`${BASE}/orders`, ({ request }) => {
        onList(new URL(request.url))
        return undefined
      }),
      ...woo.handlers,
    )
    const item = await seedProduct(hub, store, { sku: `WPOLL-${Date.now()}-${Math.floor(Math.random() * 1e6)}`, price: 500, stock: 1000 })
    const product = woo.addProduct({ sku: item.sku, stock: 1000 })
    const connectionId = await createWooConnection(hub, m.merchantId, { locationIds: [store.locationId] })
    const ref = { merchantId: m.merchantId, connectionId }
    hub.setNow(at)
    await syncListings(hub, ref, 'import')
    await settleAll(hub)
    await commitBatch(hub.database.db, { ...ref, stream: 'orders' }, { since: at.toISOString() }, async () => {})
    const at2 = (d: Date) => {
      hub.setNow(d)
      woo.setNow(d)
    }
    const known = async () =>
      new Map(
        (await hub.database.db.execute<{ r: string; status: string }>(sql`select remote_order_id as r, status from channel_orders where connection_id = ${connectionId}`)).rows.map((r) => [r.r, r.status]),
      )
    return { m, store, woo, item, product, ref, connectionId, at: at2, known }
  }

  it('an order of a crowded second changed on the shop while the poll reads that second’s second page: no order of the second is lost', async () => {
    const T0 = new Date('2026-06-01T09:00:00.000Z')
    let whilePage2: (() => void) | null = null
    const s = await shop(new Date(T0.getTime() - 3600_000), (url) => {
      if (url.searchParams.get('page') === '2' && whilePage2) {
        const f = whilePage2
        whilePage2 = null
        f()
      }
    })
    // A bulk import or flash sale: 160 paid orders stamped in one second, 25 minutes before the poll.
    s.woo.setNow(new Date(T0.getTime() - 25 * 60_000))
    const ids: number[] = []
    for (let i = 0; i < 160; i++) ids.push(s.woo.placeOrder({ lines: [{ id: s.product.id, quantity: 1 }], status: 'processing' }).order.id as number)
    s.at(T0)
    // The merchant cancels the second order of the second while the hub reads on: it leaves that second.
    whilePage2 = () => void s.woo.cancelOrder(ids[1]!)
    await pollOrders(hub, s.ref)
    expect(whilePage2).toBeNull()
    await settleAll(hub)
    // The next polls run well beyond the lookback of the crowded second.
    s.at(new Date(T0.getTime() + 15 * 60_000))
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    const known = await s.known()
    expect({
      lost: ids.filter((id) => !known.has(String(id))),
      cancelled: ids.filter((id) => known.get(String(id)) === 'cancelled'),
      level: await stockLevel(hub, s.item.variantId, s.store.locationId),
      ledger: await ledgerMismatches(hub, s.m.merchantId),
    }).toEqual({ lost: [], cancelled: [ids[1]], level: { onHand: 1000, reserved: 159 }, ledger: [] })
  })

  it('an order moved to the trash on the shop whose order.deleted webhook was lost: the poll gives its hold back', async () => {
    const T0 = new Date('2026-06-02T09:00:00.000Z')
    const s = await shop(new Date(T0.getTime() - 600_000))
    s.woo.setNow(new Date(T0.getTime() - 300_000))
    const kept = s.woo.placeOrder({ lines: [{ id: s.product.id, quantity: 1 }], status: 'processing' }).order.id as number
    const trashed = s.woo.placeOrder({ lines: [{ id: s.product.id, quantity: 3 }], status: 'processing' }).order.id as number
    s.at(T0)
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    expect(await stockLevel(hub, s.item.variantId, s.store.locationId)).toEqual({ onHand: 1000, reserved: 4 })
    // In wp-admin: Move to Trash. WooCommerce sends order.deleted once; the delivery is lost.
    s.at(new Date(T0.getTime() + 60_000))
    s.woo.trashOrder(trashed)
    s.at(new Date(T0.getTime() + 5 * 60_000))
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    const known = await s.known()
    expect({
      kept: known.get(String(kept)),
      trashed: known.get(String(trashed)),
      level: await stockLevel(hub, s.item.variantId, s.store.locationId),
      ledger: await ledgerMismatches(hub, s.m.merchantId),
    }).toEqual({ kept: 'open', trashed: 'cancelled', level: { onHand: 1000, reserved: 1 }, ledger: [] })
  })

  it('160 orders moved to the trash in one second by a bulk action, every webhook lost: the poll gives all their holds back', async () => {
    const T0 = new Date('2026-06-03T09:00:00.000Z')
    const s = await shop(new Date(T0.getTime() - 3600_000))
    s.woo.setNow(new Date(T0.getTime() - 50 * 60_000))
    const ids: number[] = []
    for (let i = 0; i < 160; i++) {
      ids.push(s.woo.placeOrder({ lines: [{ id: s.product.id, quantity: 1 }], status: 'processing' }).order.id as number)
      if (i % 20 === 19) s.woo.advance(1000)
    }
    const open = s.woo.placeOrder({ lines: [{ id: s.product.id, quantity: 2 }], status: 'on-hold' }).order.id as number
    s.at(new Date(T0.getTime() - 40 * 60_000))
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    expect(await stockLevel(hub, s.item.variantId, s.store.locationId)).toEqual({ onHand: 1000, reserved: 162 })
    s.at(new Date(T0.getTime() - 20 * 60_000))
    for (const id of ids) s.woo.trashOrder(id)
    s.at(T0)
    await pollOrders(hub, s.ref)
    await settleAll(hub)
    const known = await s.known()
    expect({
      stillOpen: ids.filter((id) => known.get(String(id)) !== 'cancelled'),
      open: known.get(String(open)),
      level: await stockLevel(hub, s.item.variantId, s.store.locationId),
      ledger: await ledgerMismatches(hub, s.m.merchantId),
    }).toEqual({ stillOpen: [], open: 'open', level: { onHand: 1000, reserved: 2 }, ledger: [] })
  })
})
