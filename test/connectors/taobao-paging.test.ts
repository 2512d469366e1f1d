// Taobao lists trades and on-sale items by page number, and its lists move while we page them: a trade placed or
// changed pushes older ones back a place, an item taken off sale pulls later ones forward. Neither may lose a trade
// (its units would be offered again) nor unbind a listing that is still on sale.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { settleAll } from '../helpers/jobs.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { mapLocations, stockLevel } from '../helpers/channels.ts'
import { taobaoSandbox, TOP_SANDBOX_GATEWAY } from '../../src/sandboxes/vendors/taobao.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { pollOrders, syncListings } from '../../src/jobs/stock-sync.ts'

const CFG = { appKey: '12345678', appSecret: 'taobao-paging-app-secret', sessionKey: 'taobao-paging-session-key' }

describe('Taobao lists that move while they are paged', () => {
  const hub = useTestHub({ poolSize: 20 })
  const server = setupServer()
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  afterEach(() => hub.setNow(undefined))

  /** A merchant with a Taobao shop whose clock is `skewMs` off ours; `during` runs a change as TOP is asked for one page. */
  async function shop(opts: { skewMs?: number } = {}) {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const tb = taobaoSandbox({ ...CFG, clock: () => new Date(hub.clock().getTime() + (opts.skewMs ?? 0)) })
    let pending: { api: string; page: string; change: () => void } | null = null
    server.resetHandlers(
      http.post(TOP_SANDBOX_GATEWAY, async ({ request }) => {
        const p = new URLSearchParams(await request.clone().text())
        if (pending && p.get('method') === pending.api && p.get('page_no') === pending.page) {
          const { change } = pending
          pending = null
          change()
        }
        return undefined
      }),
      ...tb.handlers,
    )
    const conn = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'taobao', name: 'Taobao', config: { ...CFG, gatewayUrl: TOP_SANDBOX_GATEWAY } }, hub.clock())
    await mapLocations(hub, m.merchantId, conn.id, [{ remote: 'default', ours: [store.locationId] }])
    const ref = { merchantId: m.merchantId, connectionId: conn.id }
    const during = (api: string, page: number, change: () => void) => {
      pending = { api, page: String(page), change }
    }
    const changed = () => pending === null
    const knownTrades = async () =>
      new Set((await hub.database.db.execute<{ r: string }>(sql`select remote_order_id as r from channel_orders where connection_id = ${conn.id}`)).rows.map((r) => r.r))
    const listing = async (externalId: string) =>
      (await hub.database.db.execute<{ state: string; variant_id: string | null }>(sql`
        select state, variant_id from channel_listings where connection_id = ${conn.id} and external_id = ${externalId}`)).rows[0]
    return { m, store, tb, ref, during, changed, knownTrades, listing }
  }

  describe('order polling', () => {
    const T0 = new Date('2026-06-01T04:00:00.000Z')

    /** A shop whose rice had 120 trades in the last 100 minutes, none of them polled yet; the hub's clock at T0. */
    async function busyShop(skewMs: number) {
      const s = await shop({ skewMs })
      const item = await seedProduct(hub, s.store, { sku: `RICE-${Date.now()}`, price: 800, stock: 300 })
      const rice = s.tb.addItem({ title: 'Rice', outerId: item.sku, quantity: 300 })
      hub.setNow(new Date(T0.getTime() - 3 * 3600_000))
      await syncListings(hub, s.ref, 'import')
      await settleAll(hub)
      await pollOrders(hub, s.ref)
      // Three pages of 50 in the window the next poll reads.
      const placed = Array.from({ length: 120 }, (_, i) => s.tb.placeTrade({ lines: [{ numIid: rice.numIid, num: 1 }], at: new Date(T0.getTime() - 100 * 60_000 + i * 30_000) }))
      hub.setNow(T0)
      return { ...s, item, rice, placed }
    }

    /** The next scheduled poll, then the nightly audit comparing the shop with our figure. */
    async function laterPollAndAudit(s: Awaited<ReturnType<typeof busyShop>>) {
      hub.setNow(new Date(T0.getTime() + 5 * 60_000))
      await pollOrders(hub, s.ref)
      const known = await s.knownTrades()
      const shopShows = s.tb.quantity(s.rice.numIid)
      await syncListings(hub, s.ref, 'audit')
      await settleAll(hub)
      return { lost: [...s.tb.state.trades.keys()].filter((tid) => !known.has(tid)), shopShows, shopAfterAudit: s.tb.quantity(s.rice.numIid) }
    }

    it('a trade placed while the poll pages back through a busy window is taken in, and no older trade is lost', async () => {
      // TOP's clock 20 s behind ours: the new trade's modified time is before the hub's "now".
      const s = await busyShop(-20_000)
      s.during('taobao.trades.sold.increment.get', 2, () => s.tb.placeTrade({ lines: [{ numIid: s.rice.numIid, num: 1 }] }))
      const before = s.tb.state.requests.length
      const first = await pollOrders(hub, s.ref)
      expect(s.changed()).toBe(true)
      // The busy window reaches the present (12:00 in Beijing): it is paged back ending the second before its newest
      // trade (11:19:30), which no trade placed or changed from the probe on can fall in; that second and the rest up
      // to the poll's start come after. Nothing is asked for past the poll's start.
      const calls = s.tb.state.requests.slice(before).filter((r) => r.api === 'taobao.trades.sold.increment.get')
      expect(calls.map((r) => [r.params.page_no, r.params.use_has_next, r.params.start_modified, r.params.end_modified])).toEqual([
        ['1', 'false', '2026-05-31 08:50:00', '2026-06-01 08:49:59'],
        ['1', 'false', '2026-06-01 08:50:00', '2026-06-01 12:00:00'],
        ['3', 'true', '2026-06-01 08:50:00', '2026-06-01 11:19:29'],
        ['2', 'true', '2026-06-01 08:50:00', '2026-06-01 11:19:29'],
        ['1', 'true', '2026-06-01 08:50:00', '2026-06-01 11:19:29'],
        ['1', 'false', '2026-06-01 11:19:30', '2026-06-01 12:00:00'],
      ])
      // Every trade of the busy window in the poll that paged it.
      const afterFirst = await s.knownTrades()
      expect(s.placed.filter((t) => !afterFirst.has(t.tid))).toEqual([])
      expect(first?.orders).toBeGreaterThanOrEqual(120)

      expect(await laterPollAndAudit(s)).toEqual({ lost: [], shopShows: 179, shopAfterAudit: 179 })
      expect(await stockLevel(hub, s.item.variantId, s.store.locationId)).toEqual({ onHand: 300, reserved: 121 })
      expect(await ledgerMismatches(hub, s.m.merchantId)).toEqual([])
    })

    it('a trade closed and another placed while the poll pages back, TOP’s clock minutes behind ours: both read in their new state, none lost', async () => {
      const s = await busyShop(-3 * 60_000)
      // The closed trade is one of the oldest, on the last page, which the poll has read already.
      const closed = s.placed[5]!
      s.during('taobao.trades.sold.increment.get', 2, () => {
        s.tb.closeTrade(closed.tid)
        s.tb.placeTrade({ lines: [{ numIid: s.rice.numIid, num: 1 }] })
      })
      await pollOrders(hub, s.ref)
      expect(s.changed()).toBe(true)
      const afterFirst = await s.knownTrades()
      expect(s.placed.filter((t) => !afterFirst.has(t.tid))).toEqual([])

      // 121 trades, one closed (its unit back on the shop and released here).
      expect(await laterPollAndAudit(s)).toEqual({ lost: [], shopShows: 180, shopAfterAudit: 180 })
      expect(await stockLevel(hub, s.item.variantId, s.store.locationId)).toEqual({ onHand: 300, reserved: 120 })
      expect(await ledgerMismatches(hub, s.m.merchantId)).toEqual([])
    })
  })

  describe('listing passes', () => {
    /** 200 items of others listed first, then ours: the first item of page 2 (200 a page). */
    async function shopWithSecondPage() {
      const s = await shop()
      const stamp = Date.now()
      const item = await seedProduct(hub, s.store, { sku: `LAMP-${stamp}`, price: 4500, stock: 9 })
      const base = Date.now() - 3600_000
      const others = Array.from({ length: 200 }, (_, i) => s.tb.addItem({ title: `Other ${i}`, outerId: `OTHER-${stamp}-${i}`, quantity: 2, listTime: new Date(base + i * 1000) }))
      const lamp = s.tb.addItem({ title: 'Lamp', outerId: item.sku, quantity: 9, listTime: new Date(base + 300_000) })
      await syncListings(hub, s.ref, 'import')
      await settleAll(hub)
      expect(await s.listing(lamp.numIid)).toEqual({ state: 'bound', variant_id: item.variantId })
      return { ...s, item, others, lamp }
    }

    it('an item taken off sale while the audit reads page 1: the listing pulled onto page 1 stays bound and is audited', async () => {
      const s = await shopWithSecondPage()
      // Someone sets the lamp's stock by hand on Taobao: drift for the audit to find and repair.
      s.tb.setQuantity(s.lamp.numIid, null, 4)
      // One of the others sells out and goes off sale after page 1 was read: the lamp moves to the end of page 1.
      s.during('taobao.items.onsale.get', 2, () => s.tb.setOnsale(s.others[10]!.numIid, false))
      const details = s.tb.state.requests.length
      const audit = await syncListings(hub, s.ref, 'audit')
      expect(s.changed()).toBe(true)
      const detailCalls = s.tb.state.requests.slice(details).filter((r) => r.api === 'taobao.items.seller.list.get')
      await settleAll(hub)

      expect({ gone: audit?.gone, drift: audit?.drift, listing: await s.listing(s.lamp.numIid), shop: s.tb.quantity(s.lamp.numIid) }).toEqual({
        gone: 0,
        drift: 1,
        listing: { state: 'bound', variant_id: s.item.variantId },
        shop: 9,
      })
      // Page 1's items in 10 calls of 20, then the one listing the pass did not see, read by itself.
      expect(detailCalls.map((r) => r.params.num_iids!.split(',').length)).toEqual([...Array(10).fill(20), 1])
      expect(detailCalls.at(-1)!.params.num_iids).toBe(s.lamp.numIid)
    })

    it('an item the seller took off sale is gone at the end of the next pass, and gives its variant up', async () => {
      const s = await shopWithSecondPage()
      s.tb.setOnsale(s.lamp.numIid, false)
      const audit = await syncListings(hub, s.ref, 'audit')
      expect({ gone: audit?.gone, listing: await s.listing(s.lamp.numIid) }).toEqual({ gone: 1, listing: { state: 'gone', variant_id: null } })
    })
  })
})
