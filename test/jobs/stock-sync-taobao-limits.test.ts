// A TOP flow-control ban met by a stock push: it holds the whole connection, as a Shopify or WooCommerce limit does,
// so the push waits the seconds TOP named with its SKUs pending, and what TOP took before the ban is not sent again.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { setupServer } from 'msw/node'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { drainJobs, queuedJobs, settleAll } from '../helpers/jobs.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { channelLevel, mapLocations } from '../helpers/channels.ts'
import { taobaoSandbox, TOP_SANDBOX_GATEWAY } from '../../src/sandboxes/vendors/taobao.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { push, syncListings } from '../../src/jobs/stock-sync.ts'

const CFG = { appKey: '12345678', appSecret: 'taobao-limits-secret-1', sessionKey: 'taobao-limits-session-1' }
const BAN_SECONDS = 120
const isStockWrite = (api: string) => api === 'taobao.skus.quantity.update' || api === 'taobao.item.quantity.update'

describe('a Taobao stock push met by TOP flow control', () => {
  const hub = useTestHub({ poolSize: 20 })
  const server = setupServer()
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterAll(() => server.close())
  afterEach(() => {
    vi.restoreAllMocks()
    hub.setNow(undefined)
  })

  /** A store and a Taobao shop with two items of one SKU each, bound and in step. */
  async function world() {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const stamp = Date.now()
    const a = await seedProduct(hub, store, { sku: `LIM-A-${stamp}`, price: 1000, stock: 10 })
    const b = await seedProduct(hub, store, { sku: `LIM-B-${stamp}`, price: 1000, stock: 5 })
    const tb = taobaoSandbox({ ...CFG, banSeconds: BAN_SECONDS })
    const coat = tb.addItem({ title: 'Coat', skus: [{ outerId: a.sku, quantity: 10 }] })
    const hat = tb.addItem({ title: 'Hat', skus: [{ outerId: b.sku, quantity: 5 }] })
    server.resetHandlers(...tb.handlers)
    const conn = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'taobao', name: 'Taobao', config: { ...CFG, gatewayUrl: TOP_SANDBOX_GATEWAY } }, new Date())
    await mapLocations(hub, m.merchantId, conn.id, [{ remote: 'default', ours: [store.locationId] }])
    await syncListings(hub, { merchantId: m.merchantId, connectionId: conn.id }, 'import')
    await settleAll(hub)
    const admin = createApi(hub).as(m.adminToken)
    const till = createApi(hub).as((await m.staff('cashier')).token)
    const sell = (skus: string[]) => till.post('/api/v1/sales', { registerId: store.registerId, lines: skus.map((sku) => ({ sku, quantity: 1 })), tenders: [{ kind: 'card', amount: 1000 * skus.length }] })
    const shop = () => ({ a: tb.quantity(coat.numIid, [...coat.skus.keys()][0]!), b: tb.quantity(hat.numIid, [...hat.skus.keys()][0]!) })
    const stockWrites = () => tb.state.requests.filter((r) => isStockWrite(r.api))
    const sku = async (s: string) => (await admin.get(`/api/v1/stock-sync/${conn.id}/skus?sku=${s}`)).body.items[0]
    /** Seconds until the connection's next stock.push, if one is queued. */
    const nextPushIn = async () => {
      const next = (await queuedJobs(hub, 'stock.push')).filter((j) => j.payload.connectionId === conn.id)
      return next.length ? Math.round((next[0]!.runAt.getTime() - Date.now()) / 1000) : null
    }
    /** Bans the `n`-th stock write TOP receives from now on (counting from 1), and every call after it for BAN_SECONDS. */
    const banStockWrite = (n: number) => {
      let seen = 0
      server.use(
        http.post(TOP_SANDBOX_GATEWAY, async ({ request }) => {
          const method = new URLSearchParams(await request.clone().text()).get('method') ?? ''
          if (isStockWrite(method) && ++seen === n) tb.state.rateLimitNext = 1
          // Falls through to the sandbox, which answers.
        }),
      )
    }
    /** The ban is over, for TOP and for the hub's client of this connection (which measures its hold-off on performance.now). */
    const banEnds = () => {
      tb.state.banUntil = 0
      const now = performance.now.bind(performance)
      vi.spyOn(performance, 'now').mockImplementation(() => now() + (BAN_SECONDS + 1) * 1000)
    }
    /** Brings this connection's waiting push forward (only this one's: other tests' sandboxes number their items alike). */
    const pushNow = async () => {
      await hub.database.db.execute(sql`update graphile_worker._private_jobs set run_at = now() where payload->>'connectionId' = ${conn.id}`)
      await drainJobs(hub, { tasks: [push] })
    }
    const runPush = async () => {
      await new Promise((r) => setTimeout(r, 200))
      await drainJobs(hub, { tasks: [push] })
    }
    return { a, b, tb, connectionId: conn.id, sell, shop, stockWrites, sku, nextPushIn, banStockWrite, banEnds, runPush, pushNow }
  }

  it('a ban on the first write: the push waits the seconds TOP named, its SKU pending and not an error, and TOP is not called during the ban', async () => {
    const w = await world()
    const before = w.stockWrites().length
    w.tb.state.rateLimitNext = 1
    expect((await w.sell([w.a.sku])).status).toBe(201)
    await w.runPush()

    expect(w.stockWrites().slice(before).map((r) => r.outcome)).toEqual(['7 accesscontrol.limited-by-app-access-count'])
    expect(await w.nextPushIn()).toBeGreaterThanOrEqual(BAN_SECONDS - 10)
    expect(await channelLevel(hub, w.connectionId, w.a.variantId)).toMatchObject({ dirty: true, lastError: null })
    expect(await w.sku(w.a.sku)).toMatchObject({ status: 'pending', lastError: null })
    expect(w.shop().a).toBe(10)
  })

  it('a ban met halfway through a push: the item TOP took counts as done and is not sent again; the other waits, pending, and goes once the ban ends', async () => {
    const w = await world()
    const before = w.stockWrites().length
    w.banStockWrite(2)
    expect((await w.sell([w.a.sku, w.b.sku])).status).toBe(201)
    await w.runPush()

    // One item per call: the first went through, the second met the ban, and nothing more was sent during it.
    const during = w.stockWrites().slice(before)
    expect(during.map((r) => r.outcome)).toEqual(['ok', '7 accesscontrol.limited-by-app-access-count'])
    const levels = { a: await channelLevel(hub, w.connectionId, w.a.variantId), b: await channelLevel(hub, w.connectionId, w.b.variantId) }
    // Which item goes first is the push's order; exactly one of them is on the shop.
    const [written, waiting] = w.shop().a === 9 ? (['a', 'b'] as const) : (['b', 'a'] as const)
    expect([w.shop(), written]).toEqual(written === 'a' ? [{ a: 9, b: 5 }, 'a'] : [{ a: 10, b: 4 }, 'b'])
    expect(levels[written]).toMatchObject({ status: 'ok', dirty: false, lastPushed: written === 'a' ? 9 : 4, lastError: null })
    expect(levels[waiting]).toMatchObject({ dirty: true, lastError: null })
    expect(await w.sku(w[waiting].sku)).toMatchObject({ status: 'pending', lastError: null })
    expect(await w.nextPushIn()).toBeGreaterThanOrEqual(BAN_SECONDS - 10)

    w.banEnds()
    await w.pushNow()
    const after = w.stockWrites().slice(before + during.length)
    expect(after.map((r) => r.outcome)).toEqual(['ok'])
    expect(w.shop()).toEqual({ a: 9, b: 4 })
    for (const v of [w.a.variantId, w.b.variantId]) expect(await channelLevel(hub, w.connectionId, v)).toMatchObject({ status: 'ok', dirty: false, lastError: null })
    expect(await w.nextPushIn()).toBeNull()
  })
})
