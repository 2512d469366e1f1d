import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { asc, eq } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { rejection } from '../helpers/connections.ts'
import { wooSandbox, type SimProduct, type SimVariation, type WooDelivery, type WooSandboxOptions } from '../../src/sandboxes/vendors/woocommerce.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { ConnectorContext, InboundRequest } from '../../src/connectors/framework/define.ts'
import type { RemoteListing, RemoteOrder, StockWrite } from '../../src/connectors/framework/marketplace.ts'
import { inboundWebhooks } from '../../src/webhooks/schema.ts'
import { woocommerce, type WooConfig } from '../../src/connectors/marketplace/woocommerce/index.ts'

const CK = 'ck_5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9'
const CS = 'cs_0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b'
const WHS = 'tb-woo-hook-secret-9XqLmP2vR7sK'

const caps = woocommerce.capabilities
const webhook = woocommerce.webhook!

const simpleRef = (p: SimProduct) => ({ externalId: String(p.id), externalIds: { productId: String(p.id) } })
const variationRef = (v: SimVariation) => ({ externalId: String(v.id), externalIds: { productId: String(v.parentId), variationId: String(v.id) } })
const write = (ref: { externalId: string; externalIds: Record<string, string> }, quantity: number, expected: number | null = null): StockWrite => ({
  ...ref,
  locationId: 'default',
  quantity,
  expected,
  idempotencyKey: `push-${ref.externalId}-${quantity}`,
  reference: 'gid://tillbridge/SyncJob/1',
})
const inbound = (d: WooDelivery, body: string = d.body): InboundRequest => ({ rawBody: Buffer.from(body), headers: d.headers, url: '/webhooks/x' })
const at = (hhmmss: string) => new Date(`2026-03-02T${hhmmss}Z`)

describe('WooCommerce connector', () => {
  const hub = useTestHub()
  const server = setupServer()
  let merchantId: string
  let shops = 0
  beforeAll(async () => {
    server.listen({ onUnhandledFrame: 'error' })
    merchantId = (await seedMerchant(hub)).merchantId
  })
  afterEach(() => server.resetHandlers())
  afterAll(() => server.close())

  /** A shop of its own (sandbox on its own address) and a connection to it, opened like a job opens it. */
  async function shop(options: Partial<WooSandboxOptions> = {}, config: Record<string, unknown> = {}) {
    const siteUrl = `https://shop-${++shops}.example.com`
    const sim = wooSandbox({ siteUrl, consumerKey: CK, consumerSecret: CS, webhookSecret: WHS, ...options })
    server.use(...sim.handlers)
    const row = await createConnection(
      hub.database.db,
      connectorRegistry,
      hub.secrets,
      merchantId,
      { connectorId: 'woocommerce', name: `Woo ${shops}`, config: { siteUrl, consumerKey: CK, consumerSecret: CS, webhookSecret: WHS, requestsPerSecond: 100, ...config } },
      new Date(),
    )
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, merchantId)
    return { sim, siteUrl, connectionId: row.id, config: loaded.config as WooConfig, ctx: connectorContext(hub, loaded) as ConnectorContext<WooConfig> }
  }

  async function allListings(ctx: ConnectorContext<WooConfig>) {
    const items: RemoteListing[] = []
    const cursors: (string | null)[] = []
    let cursor: string | null = null
    do {
      const page = await caps.listListings(ctx, { cursor })
      items.push(...page.items)
      cursor = page.nextCursor
      cursors.push(cursor)
    } while (cursor !== null)
    return { items, cursors }
  }

  const callsOf = (connectionId: string) => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))

  it('checks the shop with the consumer key and names the site; a wrong secret and a malformed config are refused', async () => {
    const { sim, siteUrl, ctx } = await shop()
    const verdict = await woocommerce.check(ctx)
    expect(verdict).toMatchObject({ ok: true, message: `Connected to WooCommerce 9.8.5 at ${siteUrl}` })
    expect(sim.state.requests.map((r) => [r.method, r.path, r.status])).toEqual([['GET', '/system_status', 200]])
    expect(await caps.listLocations(ctx, {})).toEqual([{ id: 'default', name: new URL(siteUrl).host, active: true }])

    const wrong = await shop({}, { consumerSecret: 'cs_ffffffffffffffffffffffffffffffffffffffff' })
    const refused = await woocommerce.check(wrong.ctx)
    expect(refused.ok).toBe(false)
    expect(refused.message).toMatch(/refused the consumer key and secret/)
    expect(refused.details).toEqual({ vendorCode: 'woocommerce_rest_authentication_error' })
    // An auth failure is not retried.
    expect(wrong.sim.state.requests.map((r) => r.status)).toEqual([401])

    const config = { siteUrl: 'https://shop.example.com', consumerKey: CK, consumerSecret: CS, webhookSecret: WHS }
    const create = (c: Record<string, unknown>) => createConnection(hub.database.db, connectorRegistry, hub.secrets, merchantId, { connectorId: 'woocommerce', name: `bad ${Math.random()}`, config: c }, new Date())
    for (const bad of [{ consumerKey: 'cs_5f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5f6a7b8c9' }, { consumerSecret: 'secret' }, { siteUrl: 'http://shop.example.com' }, { webhookSecret: 'short' }, { webhookSecret: 'has a space in it 1234' }]) {
      await expect(create({ ...config, ...bad })).rejects.toMatchObject({ code: 'invalid_config' })
    }
  })

  it('says the shop cannot be reached while its host answers 503, after retrying', async () => {
    const { sim, ctx } = await shop()
    sim.state.down = true
    const verdict = await woocommerce.check(ctx)
    expect(verdict).toMatchObject({ ok: false, details: { kind: 'retryable', status: 503 } })
    expect(verdict.message).toMatch(/could not be reached/)
    expect(sim.state.requests.map((r) => r.status)).toEqual([503, 503, 503, 503])
  })

  it('lists simple and variable products across pages, each variation a listing, with levels', async () => {
    const { sim, ctx } = await shop()
    const first = Array.from({ length: 60 }, (_, i) => sim.addProduct({ name: `Mug ${i}`, sku: `MUG-${i}`, barcode: i % 2 ? `69012345${String(i).padStart(5, '0')}` : undefined, stock: i % 7 }))
    const tee = sim.addVariableProduct({ name: 'Tee', variations: [{ sku: 'TEE-S', option: 'S', stock: 5, barcode: '6901234599991' }, { sku: 'TEE-M', option: 'M', stock: 0 }, { sku: 'TEE-L', option: 'L', stock: null }] })
    Array.from({ length: 70 }, (_, i) => sim.addProduct({ sku: `CUP-${i}`, stock: 3 }))
    sim.addProduct({ name: 'Gift set', type: 'grouped', groupedIds: [first[0]!.id, first[1]!.id] })
    const socks = sim.addVariableProduct({ name: 'Socks', variations: Array.from({ length: 105 }, (_, i) => ({ sku: `SOCK-${i}`, option: `Colour ${i}`, stock: i })) })
    const shared = sim.addVariableProduct({ name: 'Poster', manageStock: true, stock: 12, sku: 'POSTER', variations: [{ sku: 'POSTER-A3', option: 'A3', manageStock: 'parent' }, { sku: 'POSTER-A2', option: 'A2', manageStock: 'parent' }] })
    const untracked = sim.addProduct({ sku: 'SERVICE', manageStock: false })

    const { items, cursors } = await allListings(ctx)
    expect(cursors).toEqual(['2', null])
    // 60 + 3 + 70 mugs/tees/cups, 105 socks, the poster and its two sizes, the service; the grouped set holds no stock.
    expect(items).toHaveLength(60 + 3 + 70 + 105 + 3 + 1)
    expect(new Set(items.map((l) => l.externalId)).size).toBe(items.length)
    const byId = new Map(items.map((l) => [l.externalId, l]))

    expect(byId.get(String(first[3]!.id))).toEqual({
      externalId: String(first[3]!.id),
      externalIds: { productId: String(first[3]!.id) },
      sku: 'MUG-3',
      barcode: '6901234500003',
      title: 'Mug 3',
      tracked: true,
      levels: [{ locationId: 'default', available: 3 }],
    })
    expect(byId.get(String(first[2]!.id))).toMatchObject({ sku: 'MUG-2', barcode: null, levels: [{ locationId: 'default', available: 2 }] })
    expect(byId.has(String(tee.product.id))).toBe(false)
    expect(byId.get(String(tee.variations[0]!.id))).toEqual({
      externalId: String(tee.variations[0]!.id),
      externalIds: { productId: String(tee.product.id), variationId: String(tee.variations[0]!.id) },
      sku: 'TEE-S',
      barcode: '6901234599991',
      title: 'Tee - S',
      tracked: true,
      levels: [{ locationId: 'default', available: 5 }],
    })
    expect(byId.get(String(tee.variations[2]!.id))).toMatchObject({ sku: 'TEE-L', tracked: false, levels: [{ locationId: 'default', available: 0 }] })
    expect(socks.variations.every((v, i) => byId.get(String(v.id))?.levels?.[0]?.available === i)).toBe(true)
    // The poster's sizes sell the poster's own stock: the poster is the listing that takes writes.
    expect(byId.get(String(shared.product.id))).toMatchObject({ sku: 'POSTER', tracked: true, levels: [{ locationId: 'default', available: 12 }] })
    expect(byId.get(String(shared.variations[0]!.id))).toMatchObject({ sku: 'POSTER-A3', tracked: false, levels: [{ locationId: 'default', available: 12 }] })
    expect(byId.get(String(untracked.id))).toMatchObject({ sku: 'SERVICE', tracked: false, levels: [{ locationId: 'default', available: 0 }] })

    const calls = sim.state.requests.map((r) => `${r.path}?${r.query}`)
    expect(calls.filter((c) => c.startsWith('/products?'))).toEqual(['/products?per_page=100&page=1&orderby=id&order=asc', '/products?per_page=100&page=2&orderby=id&order=asc'])
    expect(calls.filter((c) => c.startsWith(`/products/${socks.product.id}/variations`))).toHaveLength(2)
    expect(calls.filter((c) => c.includes('/variations'))).toHaveLength(4)
  })

  it('reads the levels of some products and variations by include, leaving out unknown ids and the variations of a product in the trash', async () => {
    const { sim, ctx } = await shop()
    const mugs = Array.from({ length: 3 }, (_, i) => sim.addProduct({ sku: `MUG-${i}`, stock: 10 + i }))
    const tee = sim.addVariableProduct({ name: 'Tee', variations: [{ option: 'S', stock: 4 }, { option: 'M', stock: 6 }, { option: 'L', stock: 8 }] })
    const cap = sim.addVariableProduct({ name: 'Cap', variations: [{ option: 'One size', stock: 1 }] })
    const old = sim.addVariableProduct({ name: 'Old', variations: [{ option: 'One size', stock: 3 }] })
    sim.state.products.get(old.product.id)!.status = 'trash'
    sim.setStock(mugs[1]!.id, 0)

    const levels = await caps.readLevels(ctx, {
      listings: [...mugs.map(simpleRef), { externalId: '999999', externalIds: { productId: '999999' } }, variationRef(tee.variations[0]!), variationRef(tee.variations[2]!), variationRef(cap.variations[0]!), variationRef(old.variations[0]!)],
      locationId: null,
    })
    expect(new Map(levels.map((l) => [l.externalId, l.available]))).toEqual(
      new Map([
        [String(mugs[0]!.id), 10],
        [String(mugs[1]!.id), 0],
        [String(mugs[2]!.id), 12],
        [String(tee.variations[0]!.id), 4],
        [String(tee.variations[2]!.id), 8],
        [String(cap.variations[0]!.id), 1],
      ]),
    )
    expect(levels.every((l) => l.locationId === 'default')).toBe(true)
    expect(sim.state.requests.map((r) => `${r.path} ${r.query.get('include')}`)).toEqual([
      `/products ${mugs.map((m) => m.id).join(',')},999999`,
      // The variations' parents, to leave out those of a product no longer listed.
      `/products ${tee.product.id},${cap.product.id},${old.product.id}`,
      `/products/${tee.product.id}/variations ${tee.variations[0]!.id},${tee.variations[2]!.id}`,
      `/products/${cap.product.id}/variations ${cap.variations[0]!.id}`,
    ])
    expect(await caps.readLevels(ctx, { listings: mugs.map(simpleRef), locationId: 'warehouse-2' })).toEqual([])
  })

  it('writes absolute levels in one batch per parent; a refused item fails alone, a 5xx item is retryable', async () => {
    const { sim, ctx } = await shop()
    const mugs = Array.from({ length: 40 }, (_, i) => sim.addProduct({ sku: `MUG-${i}`, stock: 1 }))
    const untracked = sim.addProduct({ sku: 'WRAP', manageStock: false })
    const tee = sim.addVariableProduct({ name: 'Tee', variations: Array.from({ length: 30 }, (_, i) => ({ option: `T${i}`, stock: 1 })) })
    const cap = sim.addVariableProduct({ name: 'Cap', variations: Array.from({ length: 10 }, (_, i) => ({ option: `C${i}`, stock: 1 })) })
    sim.failWrite(mugs[5]!.id)
    sim.failWrite(tee.variations[3]!.id, { status: 400, code: 'woocommerce_rest_invalid_product_data', message: 'Invalid stock data.' })

    const writes = [
      ...mugs.map((m, i) => write(simpleRef(m), 100 + i, 1)),
      write({ externalId: '999999', externalIds: { productId: '999999' } }, 5),
      write(simpleRef(untracked), 7),
      ...tee.variations.map((v, i) => write(variationRef(v), 200 + i)),
      ...cap.variations.map((v, i) => write(variationRef(v), 300 + i)),
      { ...write(simpleRef(mugs[0]!), 1), locationId: 'warehouse-2' },
    ]
    expect(writes).toHaveLength(83)
    const results = await caps.setLevels(ctx, { writes })
    expect(results).toHaveLength(83)

    const batches = sim.state.requests.filter((r) => r.method === 'POST')
    expect(batches.map((r) => [r.path, (r.body as { update: unknown[] }).update.length])).toEqual([
      ['/products/batch', 42],
      [`/products/${tee.product.id}/variations/batch`, 30],
      [`/products/${cap.product.id}/variations/batch`, 10],
    ])
    // No compare-and-set: only the id, the quantity and stock management go out.
    expect((batches[0]!.body as { update: unknown[] }).update[0]).toEqual({ id: mugs[0]!.id, stock_quantity: 100, manage_stock: true })

    expect(results[0]).toEqual({ status: 'ok', quantity: 100 })
    expect(results[5]).toEqual({ status: 'failed', code: 'db_update_error', message: 'Could not update the product in the database.', retryable: true })
    expect(results[40]).toEqual({ status: 'failed', code: 'woocommerce_rest_product_invalid_id', message: 'Invalid ID.', retryable: false })
    expect(results[41]).toEqual({ status: 'ok', quantity: 7 })
    expect(results[42 + 3]).toEqual({ status: 'failed', code: 'woocommerce_rest_invalid_product_data', message: 'Invalid stock data.', retryable: false })
    expect(results[82]).toMatchObject({ status: 'failed', code: 'unknown_location', retryable: false })
    expect(results.filter((r) => r.status === 'ok')).toHaveLength(79)

    expect(sim.stockOf(mugs[0]!.id)).toBe(100)
    expect(sim.stockOf(mugs[5]!.id)).toBe(1)
    expect(sim.stockOf(mugs[39]!.id)).toBe(139)
    expect(sim.stockOf(untracked.id)).toBe(7)
    expect(sim.stockOf(tee.variations[3]!.id)).toBe(1)
    expect(sim.stockOf(tee.variations[29]!.id)).toBe(229)
    expect(sim.stockOf(cap.variations[9]!.id)).toBe(309)
    expect(sim.productPayload(mugs[0]!.id)).toMatchObject({ stock_quantity: 100, stock_status: 'instock' })

    // The failed item is written on the next try.
    const again = await caps.setLevels(ctx, { writes: [write(simpleRef(mugs[5]!), 105)] })
    expect(again).toEqual([{ status: 'ok', quantity: 105 }])
  })

  it('refuses more than 100 writes in one call, and a shop whose batch limit is lower answers 413, a permanent error', async () => {
    const { sim, ctx } = await shop({ batchLimit: 50 })
    const mugs = Array.from({ length: 101 }, (_, i) => sim.addProduct({ sku: `MUG-${i}`, stock: 2 }))
    const tooMany = await rejection(caps.setLevels(ctx, { writes: mugs.map((m) => write(simpleRef(m), 9)) }), ConnectorError)
    expect(tooMany.kind).toBe('permanent')
    expect(sim.state.requests).toHaveLength(0)

    const e = await rejection(caps.setLevels(ctx, { writes: mugs.slice(0, 60).map((m) => write(simpleRef(m), 9)) }), ConnectorError)
    expect(e).toMatchObject({ kind: 'permanent', status: 413, vendorCode: 'woocommerce_rest_request_entity_too_large' })
    expect(e.message).toMatch(/Unable to accept more than 50 items/)
    expect(sim.state.requests.map((r) => r.status)).toEqual([413])
    expect(mugs.every((m) => sim.stockOf(m.id) === 2)).toBe(true)
  })

  it('lists orders modified since a time, oldest change first, with statuses, pickup and refunded lines', async () => {
    const { sim, ctx } = await shop()
    const mug = sim.addProduct({ sku: 'MUG', stock: 50 })
    const tee = sim.addVariableProduct({ name: 'Tee', variations: [{ sku: 'TEE-S', option: 'S', stock: 20 }, { sku: 'TEE-M', option: 'M', stock: 20 }] })
    const [small, medium] = tee.variations as [SimVariation, SimVariation]

    sim.setNow(at('08:00:00'))
    const before = sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] })
    sim.setNow(at('08:10:00'))
    const edge = sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] })
    const o1 = sim.placeOrder({ lines: [{ id: mug.id, quantity: 2 }, { id: small.id, quantity: 1 }] })
    sim.advance(60_000)
    const unpaid = sim.placeOrder({ lines: [{ sku: 'TEE-M', quantity: 1 }], status: 'pending' })
    expect(sim.stockOf(medium.id)).toBe(20)
    sim.advance(60_000)
    const pickup = sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }], status: 'completed', pickup: true })
    sim.advance(60_000)
    const onHold = sim.placeOrder({ lines: [{ id: small.id, quantity: 1 }], status: 'on-hold' })
    sim.advance(60_000)
    const cancelled = sim.placeOrder({ lines: [{ id: mug.id, quantity: 3 }] })
    expect(sim.stockOf(mug.id)).toBe(50 - 1 - 1 - 2 - 1 - 3)
    sim.advance(60_000)
    sim.cancelOrder(cancelled.order.id as number)
    expect(sim.stockOf(mug.id)).toBe(50 - 1 - 1 - 2 - 1)
    sim.advance(60_000)
    const failed = sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }], status: 'failed' })
    sim.advance(60_000)
    const partly = sim.placeOrder({ lines: [{ id: mug.id, quantity: 3 }, { id: small.id, quantity: 1 }] })
    sim.advance(60_000)
    const mugLine = (partly.order.line_items as { id: number }[])[0]!.id
    sim.refundOrder(partly.order.id as number, { lines: [{ lineId: mugLine, quantity: 1 }], reason: 'Chipped' })
    sim.advance(60_000)
    const refunded = sim.placeOrder({ lines: [{ id: medium.id, quantity: 2 }] })
    sim.refundOrder(refunded.order.id as number)
    sim.advance(60_000)
    sim.completeOrder(o1.order.id as number)

    const page = await caps.listOrders(ctx, { updatedSince: new Date('2026-03-02T08:10:00.400Z'), cursor: null })
    expect(page.nextCursor).toBeNull()
    const ids = (o: { order: Record<string, unknown> }) => String(o.order.id)
    expect(page.items.map((o) => o.id)).toEqual([edge, unpaid, pickup, onHold, cancelled, failed, partly, refunded, o1].map(ids))
    expect(page.items.map((o) => o.id)).not.toContain(ids(before))
    const byId = new Map(page.items.map((o) => [o.id, o]))
    const get = (o: { order: Record<string, unknown> }) => byId.get(ids(o))!

    expect(get(o1)).toEqual({
      id: ids(o1),
      name: `#${o1.order.number}`,
      status: 'fulfilled',
      updatedAt: '2026-03-02T08:20:00.000Z',
      placedAt: '2026-03-02T08:10:00.000Z',
      locationId: 'default',
      pickupLocationId: null,
      lines: [
        { id: String((o1.order.line_items as { id: number }[])[0]!.id), sku: 'MUG', externalId: String(mug.id), quantity: 2 },
        { id: String((o1.order.line_items as { id: number }[])[1]!.id), sku: 'TEE-S', externalId: String(small.id), quantity: 1 },
      ],
    })
    expect(get(edge)).toMatchObject({ status: 'open', updatedAt: '2026-03-02T08:10:00.000Z' })
    // Placed and not paid: WooCommerce has not taken the stock yet, but the order still claims it.
    expect(get(unpaid)).toMatchObject({ status: 'open', lines: [{ sku: 'TEE-M', externalId: String(medium.id), quantity: 1 }] })
    expect(get(pickup)).toMatchObject({ status: 'fulfilled', pickupLocationId: 'default' })
    expect(get(onHold).status).toBe('open')
    expect(get(cancelled)).toMatchObject({ status: 'cancelled', lines: [{ quantity: 0 }] })
    expect(get(failed).status).toBe('cancelled')
    expect(get(partly)).toMatchObject({ status: 'open', lines: [{ sku: 'MUG', quantity: 2 }, { sku: 'TEE-S', quantity: 1 }] })
    expect(get(refunded)).toMatchObject({ status: 'cancelled', lines: [{ quantity: 0 }] })
    expect(sim.stockOf(medium.id)).toBe(20 - 2 + 2)

    const list = sim.state.requests.find((r) => r.path === '/orders')!
    expect(Object.fromEntries(list.query)).toEqual({ modified_after: '2026-03-02T08:09:59', dates_are_gmt: 'true', orderby: 'modified', order: 'asc', per_page: '100', page: '1' })
    // Refund lines are read only for the order that has refunds and still holds stock.
    expect(sim.state.requests.filter((r) => r.path.endsWith('/refunds')).map((r) => r.path)).toEqual([`/orders/${ids(partly)}/refunds`])

    expect(await caps.getOrder(ctx, { id: ids(partly) })).toEqual(get(partly))
    expect(await caps.getOrder(ctx, { id: '999999' })).toBeNull()
    sim.trashOrder(edge.order.id as number)
    expect(await caps.getOrder(ctx, { id: ids(edge) })).toMatchObject({ status: 'cancelled', lines: [{ quantity: 0 }] })
    sim.deleteOrder(edge.order.id as number)
    expect(await caps.getOrder(ctx, { id: ids(edge) })).toBeNull()
  })

  it('pages orders by modification time, so an order changed while paging is not skipped and a crowded second is read in full', async () => {
    const { sim, ctx } = await shop()
    const mug = sim.addProduct({ sku: 'MUG', stock: 10_000 })
    sim.setNow(at('09:00:00'))
    const ids: number[] = []
    for (let i = 0; i < 120; i++) {
      ids.push(sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] }).order.id as number)
      sim.advance(1000)
    }
    // 09:02:00: 110 orders in the same second (a flash sale).
    for (let i = 0; i < 110; i++) ids.push(sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] }).order.id as number)

    const seen: RemoteOrder[] = []
    const cursors: (string | null)[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page = await caps.listOrders(ctx, { updatedSince: at('09:00:00'), cursor })
      seen.push(...page.items)
      cursor = page.nextCursor
      cursors.push(cursor)
      if (++pages === 1) {
        // While the hub reads, an early order is cancelled: it moves behind every page already read.
        sim.advance(5000)
        sim.cancelOrder(ids[4]!)
      }
    } while (cursor !== null && pages < 10)

    expect(cursors).toEqual(['2026-03-02T09:01:38|1', '2026-03-02T09:01:59|1', '2026-03-02T09:01:59|2', null])
    expect(new Set(seen.map((o) => o.id))).toEqual(new Set(ids.map(String)))
    expect(seen[seen.length - 1]).toMatchObject({ id: String(ids[4]), status: 'cancelled' })
    // Orders at a page's last second may be read twice; the sync upserts them.
    expect(seen.length - ids.length).toBeLessThanOrEqual(1 + 1 + 100)
  })

  it('verifies deliveries on the raw bytes: good, tampered, wrong secret; the unsigned ping passes only in its own shape', async () => {
    const { sim, config, connectionId } = await shop()
    const mug = sim.addProduct({ name: 'Mug / 马克杯', sku: 'MUG', stock: 5 })
    const { delivery } = sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] })
    // PHP's json_encode escapes slashes and non-ASCII: the signature is over those exact bytes.
    expect(delivery.body).toContain('Mug \\/ \\u9a6c\\u514b\\u676f')
    expect(delivery.headers).toMatchObject({ 'x-wc-webhook-topic': 'order.created', 'x-wc-webhook-resource': 'order', 'x-wc-webhook-event': 'created', 'content-type': 'application/json' })
    const now = new Date()
    expect(webhook.verify(inbound(delivery), config, now)).toBe(true)
    expect(webhook.verify(inbound(delivery, delivery.body.replace('"quantity":1', '"quantity":9')), config, now)).toBe(false)
    expect(webhook.verify(inbound(delivery, JSON.stringify(JSON.parse(delivery.body))), config, now)).toBe(false)
    const otherSecret = sim.webhookDelivery('order.created', sim.orderPayload(Number(JSON.parse(delivery.body).id)), { secret: 'another-shops-secret-000' })
    expect(webhook.verify(inbound(otherSecret), config, now)).toBe(false)
    const { 'x-wc-webhook-signature': _, ...unsigned } = delivery.headers
    expect(webhook.verify({ ...inbound(delivery), headers: unsigned }, config, now)).toBe(false)

    const ping = sim.pingDelivery(7)
    expect(webhook.verify(inbound(ping), config, now)).toBe(true)
    expect(webhook.verify({ ...inbound(ping), headers: { ...ping.headers, 'x-wc-webhook-topic': 'order.created' } }, config, now)).toBe(false)
    for (const body of ['webhook_id=7&status=completed', '{"webhook_id":7}', 'webhook_id=', '{"id":1,"status":"completed"}']) {
      expect(webhook.verify(inbound(ping, body), config, now)).toBe(false)
    }

    // Through the hub's endpoint: stored once per event, the ping acknowledged, the forgery refused.
    const api = createApi(hub)
    const post = (d: WooDelivery, body = d.body) => api.request('POST', `/webhooks/${connectionId}`, undefined, { raw: body, headers: d.headers })
    expect((await post(delivery)).status).toBe(200)
    const resent = sim.webhookDelivery('order.created', JSON.parse(delivery.body))
    expect(resent.headers['x-wc-webhook-delivery-id']).not.toBe(delivery.headers['x-wc-webhook-delivery-id'])
    expect((await post(resent)).status).toBe(200)
    expect((await post(ping)).status).toBe(200)
    expect((await post(delivery, delivery.body.replace('"quantity":1', '"quantity":9'))).status).toBe(401)
    const rows = await hub.database.db.select().from(inboundWebhooks).where(eq(inboundWebhooks.connectionId, connectionId)).orderBy(asc(inboundWebhooks.receivedAt))
    const order = JSON.parse(delivery.body)
    expect(rows.map((r) => [r.vendorEventId, r.topic, r.deliveries])).toEqual([
      [`order.created:${order.id}:${order.date_modified_gmt}:${order.status}`, 'order.created', 2],
      ['ping:7', 'ping', 1],
    ])
  })

  it('interprets orders, deletions, refunds and stock changes; an event id stays the same for the same change', async () => {
    const { sim, config } = await shop()
    const mug = sim.addProduct({ sku: 'MUG', stock: 5 })
    const wrap = sim.addProduct({ sku: 'WRAP', manageStock: false })
    const poster = sim.addVariableProduct({ name: 'Poster', manageStock: true, stock: 4, variations: [{ option: 'A3', manageStock: 'parent' }] })
    sim.setNow(at('10:00:00'))
    const placed = sim.placeOrder({ lines: [{ id: mug.id, quantity: 2 }], pickup: true })
    const parse = (d: WooDelivery) => webhook.parse(inbound(d))
    const interpret = (d: WooDelivery) => caps.interpretWebhook!(parse(d), config)

    const created = parse(placed.delivery)
    expect(created).toMatchObject({ eventId: `order.created:${placed.order.id}:2026-03-02T10:00:00:${placed.order.status}`, topic: 'order.created', occurredAt: at('10:00:00') })
    expect(parse(sim.webhookDelivery('order.created', placed.order)).eventId).toBe(created.eventId)
    expect(interpret(placed.delivery)).toEqual({
      kind: 'order',
      order: {
        id: String(placed.order.id),
        name: `#${placed.order.id}`,
        status: 'open',
        updatedAt: '2026-03-02T10:00:00.000Z',
        placedAt: '2026-03-02T10:00:00.000Z',
        locationId: 'default',
        pickupLocationId: 'default',
        lines: [{ id: String((placed.order.line_items as { id: number }[])[0]!.id), sku: 'MUG', externalId: String(mug.id), quantity: 2 }],
      },
    })

    sim.advance(30_000)
    const cancelled = sim.cancelOrder(placed.order.id as number)
    expect(parse(cancelled.delivery).eventId).toBe(`order.updated:${placed.order.id}:2026-03-02T10:00:30:cancelled`)
    // Another change in the same second (WooCommerce's time has whole seconds) is another event.
    const reopened = sim.webhookDelivery('order.updated', { ...JSON.parse(cancelled.delivery.body), status: 'processing' })
    expect(parse(reopened).eventId).toBe(`order.updated:${placed.order.id}:2026-03-02T10:00:30:processing`)
    expect(interpret(cancelled.delivery)).toMatchObject({ kind: 'order', order: { status: 'cancelled', lines: [{ quantity: 0 }] } })

    // A partial refund: the payload has only the refund total, so the order is read again.
    const second = sim.placeOrder({ lines: [{ id: mug.id, quantity: 2 }] })
    const refund = sim.refundOrder(second.order.id as number, { lines: [{ lineId: (second.order.line_items as { id: number }[])[0]!.id, quantity: 1 }] })
    expect(interpret(refund.delivery)).toEqual({ kind: 'order_changed', orderId: String(second.order.id) })

    const trashed = sim.trashOrder(second.order.id as number)
    expect(JSON.parse(trashed.delivery.body)).toEqual({ id: second.order.id })
    expect(interpret(trashed.delivery)).toEqual({ kind: 'order_changed', orderId: String(second.order.id) })
    expect(parse(trashed.delivery).eventId).toBe(`order.deleted:${second.order.id}:d:${trashed.delivery.headers['x-wc-webhook-delivery-id']}`)

    sim.advance(60_000)
    expect(interpret(sim.setStock(mug.id, 9))).toEqual({ kind: 'level', level: { externalId: String(mug.id), locationId: 'default', available: 9 }, at: '2026-03-02T10:01:30.000Z' })
    expect(interpret(sim.webhookDelivery('product.updated', sim.productPayload(wrap.id)))).toMatchObject({ kind: 'ignored' })
    expect(interpret(sim.webhookDelivery('product.updated', sim.productPayload(poster.product.id)))).toMatchObject({ kind: 'level', level: { externalId: String(poster.product.id), available: 4 } })
    expect(interpret(sim.webhookDelivery('product.updated', sim.productPayload(poster.variations[0]!.id)))).toMatchObject({ kind: 'ignored' })
    expect(interpret(sim.webhookDelivery('customer.created', { id: 5, date_modified_gmt: '2026-03-02T10:00:00' }))).toMatchObject({ kind: 'ignored' })
    expect(interpret(sim.pingDelivery(3))).toMatchObject({ kind: 'ignored' })
  })

  it('ensures the webhooks: creates the missing ones and re-activates the one WooCommerce disabled; no secret is logged', async () => {
    const { sim, ctx, config, connectionId } = await shop()
    const address = `https://hub.example.com/webhooks/${connectionId}`
    const updated = sim.addWebhook({ topic: 'order.updated', deliveryUrl: address, secret: WHS })
    for (let i = 0; i < 6; i++) sim.failDelivery(updated.id)
    expect(sim.state.webhooks.get(updated.id)!.status).toBe('active')
    sim.failDelivery(updated.id)
    expect(sim.state.webhooks.get(updated.id)!.status).toBe('disabled')
    // Another app's webhook for a topic of ours does not count.
    sim.addWebhook({ topic: 'product.updated', deliveryUrl: 'https://erp.example.com/hooks/woo' })

    expect(await caps.ensureWebhooks!(ctx, { address })).toEqual({ created: ['order.created', 'order.deleted', 'product.updated'], existing: [], reactivated: ['order.updated'] })
    const ours = [...sim.state.webhooks.values()].filter((w) => w.deliveryUrl === address)
    expect(ours.map((w) => [w.topic, w.status, w.secret === WHS]).sort()).toEqual([
      ['order.created', 'active', true],
      ['order.deleted', 'active', true],
      ['order.updated', 'active', true],
      ['product.updated', 'active', true],
    ])
    expect(sim.state.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path} ${r.status}`)).toEqual([
      'POST /webhooks 201',
      `PUT /webhooks/${updated.id} 200`,
      'POST /webhooks 201',
      'POST /webhooks 201',
    ])
    expect(sim.state.requests.find((r) => r.method === 'PUT')!.body).toEqual({ status: 'active' })
    // WooCommerce pings each new URL, unsigned; the hub accepts the ping.
    expect(sim.state.pings).toHaveLength(3)
    expect(webhook.verify(inbound(sim.state.pings[0]!.delivery), config, new Date())).toBe(true)
    // Deliveries of the new subscriptions are signed with the connection's secret.
    const mug = sim.addProduct({ stock: 1 })
    expect(webhook.verify(inbound(sim.placeOrder({ lines: [{ id: mug.id, quantity: 1 }] }).delivery), config, new Date())).toBe(true)

    const before = sim.state.requests.length
    expect(await caps.ensureWebhooks!(ctx, { address: `${address}/` })).toEqual({ created: [], existing: ['order.created', 'order.updated', 'order.deleted', 'product.updated'], reactivated: [] })
    expect(sim.state.requests.slice(before).map((r) => r.method)).toEqual(['GET'])

    const calls = await callsOf(connectionId)
    expect(calls.length).toBeGreaterThan(0)
    const logged = JSON.stringify(calls) + hub.logs.text
    for (const s of [WHS, CK, CS, Buffer.from(`${CK}:${CS}`).toString('base64')]) expect(logged).not.toContain(s)
  })

  it('waits out a host 429 with its Retry-After, and gives up at once on a wait longer than the client allows', async () => {
    const { sim, ctx, connectionId } = await shop({ maxRequestsPerSecond: 3 })
    for (let i = 0; i < 450; i++) sim.addProduct({ sku: `MUG-${i}`, stock: i })
    const started = Date.now()
    const { items, cursors } = await allListings(ctx)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
    expect(items).toHaveLength(450)
    expect(cursors).toEqual(['2', '3', '4', '5', null])
    expect(sim.state.rateLimited).toBeGreaterThanOrEqual(1)
    const calls = await callsOf(connectionId)
    expect(calls.filter((c) => c.outcome === 'rate_limited').every((c) => c.statusCode === 429)).toBe(true)
    expect(calls.filter((c) => c.outcome === 'rate_limited').length).toBe(sim.state.rateLimited)
    expect(calls.filter((c) => c.outcome === 'ok')).toHaveLength(5)

    const slow = await shop({ maxRequestsPerSecond: 1, retryAfterSeconds: 120 })
    for (let i = 0; i < 150; i++) slow.sim.addProduct({ stock: 1 })
    await caps.listListings(slow.ctx, { cursor: null })
    const e = await rejection(caps.listListings(slow.ctx, { cursor: '2' }), ConnectorError)
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, retryAfterMs: 120_000 })
  })
})
