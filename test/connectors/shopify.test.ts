import { beforeAll, describe, expect, it } from 'vitest'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { shopifySandbox, type WebhookDelivery } from '../../src/sandboxes/vendors/shopify.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { InboundRequest } from '../../src/connectors/framework/define.ts'
import type { RemoteListing, RemoteOrder, StockWrite } from '../../src/connectors/framework/marketplace.ts'
import { shopify } from '../../src/connectors/marketplace/shopify/index.ts'
import { callIdempotencyKey } from '../../src/connectors/marketplace/shopify/inventory.ts'

const SHOP = 'tillbridge-test.myshopify.com'
const TOKEN = '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'
const CLIENT_SECRET = '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'
const caps = shopify.capabilities

/** A delivery as the hub's endpoint receives it. */
const inbound = (d: WebhookDelivery, body: string = d.body, headers: Record<string, string> = d.headers): InboundRequest => ({ rawBody: Buffer.from(body), headers, url: '/webhooks/x' })

describe('Shopify marketplace connector', () => {
  const hub = useTestHub()
  // A Shopify Plus shop: 10 000 points, 1 000 points a second.
  const sim = shopifySandbox({ shop: SHOP, accessToken: TOKEN, webhookSecret: CLIENT_SECRET, bucket: { maximumAvailable: 10_000, restoreRate: 1_000 } })
  const vendor = useVendorServer(hub, ...sim.handlers)
  let seq = 0

  const connect = connectWith(hub, vendor, 'shopify', { name: () => `Shopify ${++seq}`, config: { shop: SHOP, accessToken: TOKEN, webhookSecret: CLIENT_SECRET } })

  const flagship = sim.addLocation('Shanghai Flagship', { pickup: true })
  const warehouse = sim.addLocation('Pudong Warehouse')
  sim.addLocation('Old Nanjing Road', { active: false })

  // 200 variants of 100 products: even ones stocked at both locations, odd ones at the flagship only.
  const catalogue = Array.from({ length: 100 }, (_, p) =>
    sim.addProduct({
      title: `Tea ${String(p).padStart(3, '0')}`,
      variants: [0, 1].map((v) => {
        const n = p * 2 + v
        return { sku: `TEA-${String(n).padStart(4, '0')}`, barcode: `69${String(n).padStart(11, '0')}`, title: v ? '250 g' : '100 g', levels: n % 2 === 0 ? { [flagship.id]: n, [warehouse.id]: 100 + n } : { [flagship.id]: n } }
      }),
    }),
  )
  const gift = sim.addProduct({ title: 'Gift card', variants: [{ sku: 'GIFT', tracked: false, levels: { [flagship.id]: 0 } }] })
  const mug = sim.addProduct({ title: 'Tea mug', variants: [{ sku: 'MUG-1', levels: { [flagship.id]: 10, [warehouse.id]: 40 } }] })
  const pot = sim.addProduct({ title: 'Clay pot', variants: [{ sku: 'POT-1', levels: { [flagship.id]: 5, [warehouse.id]: 7 } }] })
  const cup = sim.addProduct({ title: 'Cup', variants: [{ sku: 'CUP-1', levels: { [flagship.id]: 30 } }] })
  const item = (p: { variants: { inventoryItemId: string }[] }) => p.variants[0]!.inventoryItemId

  let writeSeq = 0
  /** A write of `quantity` at a location, expecting what the sandbox holds now unless told otherwise. */
  function write(itemId: string, locationId: string, quantity: number, expected: number | null = sim.level(itemId, locationId)): StockWrite {
    return { externalId: itemId, externalIds: { inventoryItemId: itemId }, locationId, quantity, expected, idempotencyKey: `push-${++writeSeq}`, reference: `gid://tillbridge/StockPush/${writeSeq}` }
  }

  describe('connection', () => {
    it('checks the token against the shop and refuses a wrong one', async () => {
      const { loaded } = await connect()
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: expect.stringContaining('tillbridge-test.myshopify.com') })
      const wrong = await connect({ accessToken: 'shpat_ffffffffffffffffffffffffffffffff' })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('refused the access token') })
    })

    it('takes the shop handle as its myshopify domain and refuses a custom domain', async () => {
      const { loaded } = await connect({ shop: ' Tillbridge-Test ' })
      expect(loaded.config.shop).toBe(SHOP)
      await expect(connect({ shop: 'shop.example.com' })).rejects.toMatchObject({ code: 'invalid_config' })
    })

    it('answers ACCESS_DENIED for a missing scope as auth_failed', async () => {
      const { ctx } = await connect()
      sim.state.scopes.delete('read_orders')
      try {
        const e = await rejection(caps.listOrders(ctx, { updatedSince: new Date('2026-01-01T00:00:00Z'), cursor: null }), ConnectorError)
        expect(e).toMatchObject({ kind: 'auth_failed', vendorCode: 'ACCESS_DENIED' })
      } finally {
        sim.state.scopes.add('read_orders')
      }
    })
  })

  describe('stock', () => {
    it('lists locations with whether they are active', async () => {
      const { ctx } = await connect()
      const locations = await caps.listLocations(ctx, {})
      expect(locations).toEqual([
        { id: flagship.id, name: 'Shanghai Flagship', active: true },
        { id: warehouse.id, name: 'Pudong Warehouse', active: true },
        { id: expect.stringMatching(/^gid:\/\/shopify\/Location\/\d+$/), name: 'Old Nanjing Road', active: false },
      ])
    })

    it('lists every variant page by page, each with its inventory item and its available level per location', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      const all: RemoteListing[] = []
      let pages = 0
      for (let cursor: string | null = null; ; ) {
        const page = await caps.listListings(ctx, { cursor })
        all.push(...page.items)
        pages++
        if (!page.nextCursor) break
        cursor = page.nextCursor
      }
      expect(all).toHaveLength(204)
      expect(new Set(all.map((l) => l.externalId)).size).toBe(204)
      // Two active locations: a variant with its levels costs 11 points, so 90 fit under the 1 000-point query limit.
      const calls = sim.state.requests.slice(before)
      expect(calls.map((c) => c.operationName)).toEqual(['LocationsCount', 'ListListings', 'ListListings', 'ListListings'])
      expect(pages).toBe(3)
      for (const c of calls.slice(1)) {
        expect(c.answer).toBe('ok')
        expect(c.variables).toMatchObject({ first: 90, levels: 2 })
        expect(c.requestedQueryCost).toBeLessThanOrEqual(1000)
      }

      const bySku = new Map(all.map((l) => [l.sku, l]))
      const first = catalogue[0]!.variants[0]!
      expect(bySku.get('TEA-0000')).toEqual({
        externalId: first.inventoryItemId,
        externalIds: { productId: catalogue[0]!.productId, variantId: first.variantId, inventoryItemId: first.inventoryItemId },
        sku: 'TEA-0000',
        barcode: '6900000000000',
        title: 'Tea 000 - 100 g',
        tracked: true,
        levels: [
          { locationId: flagship.id, available: 0 },
          { locationId: warehouse.id, available: 100 },
        ],
      })
      expect(bySku.get('TEA-0157')!.levels).toEqual([{ locationId: flagship.id, available: 157 }])
      expect(bySku.get('TEA-0198')!.levels).toEqual([
        { locationId: flagship.id, available: 198 },
        { locationId: warehouse.id, available: 298 },
      ])
      expect(bySku.get('GIFT')).toMatchObject({ title: 'Gift card', tracked: false, barcode: null })
      expect(bySku.get('MUG-1')).toMatchObject({ externalId: item(mug), title: 'Tea mug' })
    })

    it('reads the levels of chosen items at one location, or at every location', async () => {
      const { ctx } = await connect()
      const listings = [mug, pot, cup].map((p) => ({ externalId: item(p), externalIds: {} }))
      expect(await caps.readLevels(ctx, { listings, locationId: warehouse.id })).toEqual([
        { externalId: item(mug), locationId: warehouse.id, available: sim.level(item(mug), warehouse.id) },
        { externalId: item(pot), locationId: warehouse.id, available: sim.level(item(pot), warehouse.id) },
      ])
      const everywhere = await caps.readLevels(ctx, { listings, locationId: null })
      expect(everywhere).toHaveLength(5)
      expect(everywhere).toContainEqual({ externalId: item(cup), locationId: flagship.id, available: sim.level(item(cup), flagship.id) })
    })

    it('writes absolute quantities with compare-and-set on each and one idempotency key for the call', async () => {
      const { ctx } = await connect()
      const writes = [write(item(mug), flagship.id, 8), write(item(mug), warehouse.id, 35), write(item(pot), flagship.id, 4, null)]
      const results = await caps.setLevels(ctx, { writes })
      expect(results).toEqual([
        { status: 'ok', quantity: 8 },
        { status: 'ok', quantity: 35 },
        { status: 'ok', quantity: 4 },
      ])
      expect([sim.level(item(mug), flagship.id), sim.level(item(mug), warehouse.id), sim.level(item(pot), flagship.id)]).toEqual([8, 35, 4])

      const call = sim.requestsFor('InventorySetQuantities').at(-1)!
      expect(call.idempotencyKey).toBe(callIdempotencyKey(writes))
      const input = call.variables.input as { name: string; reason: string; referenceDocumentUri: string; quantities: Record<string, unknown>[] }
      expect(input).toMatchObject({ name: 'available', reason: 'correction', referenceDocumentUri: expect.stringMatching(/^gid:\/\/tillbridge\/StockPush\/\d+$/) })
      expect(input.quantities).toHaveLength(3)
      // Every quantity carries changeFromQuantity, null where we opted out (mandatory since 2026-04).
      for (const q of input.quantities) expect(q).toHaveProperty('changeFromQuantity')
      expect(input.quantities).toContainEqual({ inventoryItemId: item(pot), locationId: flagship.id, quantity: 4, changeFromQuantity: null })
      expect(input.quantities).toContainEqual({ inventoryItemId: item(mug), locationId: flagship.id, quantity: 8, changeFromQuantity: 10 })
    })

    it('reports a stale compare-and-set for that write, and the other writes of the atomic call as not applied', async () => {
      const { ctx } = await connect()
      // A web sale took one mug at the warehouse since we last looked.
      sim.setAvailable(item(mug), warehouse.id, 34)
      const writes = [write(item(pot), warehouse.id, 6), write(item(mug), warehouse.id, 30, 35), write(item(cup), flagship.id, 25)]
      const results = await caps.setLevels(ctx, { writes })
      expect(results).toEqual([
        { status: 'not_applied' },
        { status: 'stale', actual: null },
        { status: 'not_applied' },
      ])
      expect([sim.level(item(pot), warehouse.id), sim.level(item(mug), warehouse.id), sim.level(item(cup), flagship.id)]).toEqual([7, 34, 30])
    })

    it('maps a per-quantity refusal to a failed write that is not retried', async () => {
      const { ctx } = await connect()
      // The cup is not stocked at the warehouse.
      const results = await caps.setLevels(ctx, { writes: [write(item(cup), flagship.id, 29), write(item(cup), warehouse.id, 3, null)] })
      expect(results).toEqual([
        { status: 'not_applied' },
        { status: 'failed', code: 'ITEM_NOT_STOCKED_AT_LOCATION', message: expect.any(String), retryable: false },
      ])
      expect(sim.level(item(cup), flagship.id)).toBe(30)
    })

    it('sends the same writes again under the same key: Shopify replays its answer and applies nothing twice', async () => {
      const { ctx } = await connect()
      const writes = [write(item(cup), flagship.id, 28)]
      expect(await caps.setLevels(ctx, { writes })).toEqual([{ status: 'ok', quantity: 28 }])
      const applied = sim.state.adjustments.length
      // A web order takes 3 cups; then the job retries the same writes (its answer was lost, say).
      sim.placeOrder({ lines: [{ item: item(cup), quantity: 3 }], locationId: flagship.id })
      expect(sim.level(item(cup), flagship.id)).toBe(25)
      expect(await caps.setLevels(ctx, { writes })).toEqual([{ status: 'ok', quantity: 28 }])
      expect(sim.level(item(cup), flagship.id)).toBe(25)
      expect(sim.state.adjustments.length).toBe(applied)
      const calls = sim.requestsFor('InventorySetQuantities').slice(-2)
      expect(calls[0]!.idempotencyKey).toBe(calls[1]!.idempotencyKey)
      expect(calls.map((c) => c.replayed ?? false)).toEqual([false, true])
    })

    it('after a stale attempt, sends the same writes under a fresh key once Shopify says the earlier attempt failed', async () => {
      const { ctx } = await connect()
      const writes = [write(item(pot), flagship.id, 2, 3)]
      expect(await caps.setLevels(ctx, { writes })).toEqual([{ status: 'stale', actual: null }])
      // The level comes back to what the write expects; the job sends the same write again.
      sim.setAvailable(item(pot), flagship.id, 3)
      expect(await caps.setLevels(ctx, { writes })).toEqual([{ status: 'ok', quantity: 2 }])
      expect(sim.level(item(pot), flagship.id)).toBe(2)
      const keys = sim.requestsFor('InventorySetQuantities').slice(-3).map((c) => c.idempotencyKey)
      expect(keys).toEqual([callIdempotencyKey(writes), callIdempotencyKey(writes), callIdempotencyKey(writes, 1)])
    })

    it('fails the writes without retry when Shopify holds their key for other quantities', async () => {
      const { ctx } = await connect()
      const writes = [write(item(pot), warehouse.id, 1)]
      sim.state.idempotency.set(callIdempotencyKey(writes), { args: '{"input":"something else"}', failed: false, payload: null })
      expect(await caps.setLevels(ctx, { writes })).toEqual([{ status: 'failed', code: 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH', message: expect.any(String), retryable: false }])
      expect(sim.level(item(pot), warehouse.id)).toBe(7)
    })

    it('refuses more than 250 writes in one call before sending anything', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      const writes = Array.from({ length: 251 }, () => write(item(mug), flagship.id, 1, null))
      const e = await rejection(caps.setLevels(ctx, { writes }), ConnectorError)
      expect(e.kind).toBe('permanent')
      expect(sim.state.requests.length).toBe(before)
    })
  })

  describe('rate limits', () => {
    it('waits out a THROTTLED answer for the time the bucket needs, then completes the write', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      // Other workers of the app emptied the bucket.
      sim.drainBucket(0)
      const results = await caps.setLevels(ctx, { writes: [write(item(mug), flagship.id, 9), write(item(pot), warehouse.id, 6)] })
      expect(results).toEqual([
        { status: 'ok', quantity: 9 },
        { status: 'ok', quantity: 6 },
      ])
      expect([sim.level(item(mug), flagship.id), sim.level(item(pot), warehouse.id)]).toEqual([9, 6])
      const calls = sim.state.requests.slice(before)
      expect(calls.map((c) => c.answer)).toEqual(['throttled', 'ok'])
      expect(calls[0]).toMatchObject({ errorCode: 'THROTTLED', requestedQueryCost: 12 })

      // The connector now knows the bucket is nearly empty: it waits for 252 points before asking for the
      // locations, where a call sent at once would have been throttled.
      const started = performance.now()
      await caps.listLocations(ctx, {})
      expect(performance.now() - started).toBeGreaterThanOrEqual(150)
      expect(sim.state.requests.slice(before + 2).map((c) => c.answer)).toEqual(['ok'])
    })

    it('fails as rate_limited, with the wait, when the bucket would take longer than 30 s', async () => {
      const { ctx } = await connect()
      const rate = sim.state.bucket.restoreRate
      sim.state.bucket.restoreRate = 0.2
      sim.drainBucket(0)
      try {
        const e = await rejection(caps.listLocations(ctx, {}), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', vendorCode: 'THROTTLED' })
        // 252 points at 0.2 a second.
        expect(e.retryAfterMs).toBeGreaterThan(1_000_000)
      } finally {
        sim.state.bucket.restoreRate = rate
        sim.state.bucket.currentlyAvailable = sim.state.bucket.maximumAvailable
      }
    })

    it('honours Retry-After on a 429', async () => {
      const { ctx, connectionId } = await connect()
      sim.state.rateLimitNext = 1
      sim.state.retryAfterSeconds = 1
      const started = Date.now()
      const locations = await caps.listLocations(ctx, {})
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      expect(locations).toHaveLength(3)
      const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
      expect(log.map((r) => [r.operation, r.statusCode, r.outcome])).toEqual([
        ['Locations', 429, 'rate_limited'],
        ['Locations', 200, 'ok'],
      ])
      expect(JSON.stringify(log)).not.toContain(TOKEN)
    })
    it('retries an outage (the queries are safe to repeat) and then reports it as retryable', async () => {
      const { ctx } = await connect()
      const before = sim.state.requests.length
      sim.state.down = true
      try {
        const e = await rejection(caps.listLocations(ctx, {}), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 503 })
      } finally {
        sim.state.down = false
      }
      expect(sim.state.requests.slice(before).map((r) => r.answer)).toEqual(['down', 'down', 'down', 'down'])
      expect(hub.logs.text).not.toContain(TOKEN)
      expect(hub.logs.text).not.toContain(CLIENT_SECRET)
    })
  })

  describe('orders', () => {
    const T0 = Date.UTC(2030, 4, 1, 8, 0, 0)
    const at = (minutes: number) => new Date(T0 + minutes * 60_000)
    const tea = (n: number) => catalogue[Math.floor(n / 2)]!.variants[n % 2]!.inventoryItemId
    type Placed = ReturnType<typeof sim.placeOrder>
    let placed: Placed[] = []
    let pickup: Placed
    beforeAll(() => {
      // 26 orders a minute apart from T0 - 2 min (the first two before the poll's start), and a pickup.
      placed = Array.from({ length: 26 }, (_, i) => sim.placeOrder({ lines: [{ item: tea(2 * i), quantity: 1 }, { item: item(mug), quantity: 2 }], locationId: warehouse.id, at: at(i - 2) }))
      pickup = sim.placeOrder({ lines: [{ item: item(cup), quantity: 1 }], pickupLocationId: flagship.id, at: at(30) })
      // Later changes move orders to the end of the updated_at order.
      sim.cancelOrder(placed[3]!.order.id, { at: at(40) })
      sim.refundOrder(placed[4]!.order.id, { lines: [{ lineItemId: placed[4]!.order.lines[1]!.id, quantity: 1 }], at: at(41) })
      sim.fulfillOrder(placed[5]!.order.id, { at: at(42) })
    })
    const byId = (orders: RemoteOrder[], id: string) => orders.find((o) => o.id === id)!

    it('lists orders updated since a time, oldest change first, page by page', async () => {
      const { ctx } = await connect()
      const all: RemoteOrder[] = []
      let pages = 0
      for (let cursor: string | null = null; ; ) {
        const page = await caps.listOrders(ctx, { updatedSince: at(0), cursor })
        all.push(...page.items)
        pages++
        if (!page.nextCursor) break
        cursor = page.nextCursor
      }
      expect(pages).toBe(2)
      expect(all).toHaveLength(25)
      const times = all.map((o) => o.updatedAt)
      expect([...times].sort()).toEqual(times)
      expect(all.slice(-3).map((o) => o.name)).toEqual([placed[3]!.order.name, placed[4]!.order.name, placed[5]!.order.name])
      const call = sim.requestsFor('ListOrders').at(-1)!
      expect(call.variables.query).toBe(`updated_at:>='${at(0).toISOString()}'`)

      const shipped = byId(all, placed[2]!.order.id)
      expect(shipped).toEqual({
        id: placed[2]!.order.id,
        name: placed[2]!.order.name,
        status: 'open',
        updatedAt: at(0).toISOString(),
        placedAt: at(0).toISOString(),
        locationId: warehouse.id,
        pickupLocationId: null,
        lines: [
          { id: placed[2]!.order.lines[0]!.id, sku: 'TEA-0004', externalId: tea(4), quantity: 1, shipped: 0 },
          { id: placed[2]!.order.lines[1]!.id, sku: 'MUG-1', externalId: item(mug), quantity: 2, shipped: 0 },
        ],
      })
      expect(byId(all, pickup.order.id)).toMatchObject({ status: 'open', locationId: null, pickupLocationId: flagship.id })
      expect(byId(all, placed[3]!.order.id)).toMatchObject({ status: 'cancelled', lines: [{ quantity: 0 }, { quantity: 0 }] })
      expect(byId(all, placed[4]!.order.id).lines.map((l) => l.quantity)).toEqual([1, 1])
      expect(byId(all, placed[5]!.order.id).status).toBe('fulfilled')
    })

    it('pages when more orders changed than one page holds', async () => {
      const { ctx } = await connect()
      const first = await caps.listOrders(ctx, { updatedSince: at(-10), cursor: null })
      // An order with its lines and fulfillment orders costs 47 points: 21 fit in one query.
      expect(first.items).toHaveLength(21)
      expect(first.nextCursor).not.toBeNull()
      const second = await caps.listOrders(ctx, { updatedSince: at(-10), cursor: first.nextCursor })
      expect(second.items).toHaveLength(6)
      expect(second.nextCursor).toBeNull()
      expect(new Set([...first.items, ...second.items].map((o) => o.id)).size).toBe(27)
      expect(first.items[0]!.id).toBe(placed[0]!.order.id)
    })

    it('reads one order by its global id or number, and null for an unknown one', async () => {
      const { ctx } = await connect()
      expect(await caps.getOrder(ctx, { id: pickup.order.id })).toMatchObject({ id: pickup.order.id, pickupLocationId: flagship.id, lines: [{ sku: 'CUP-1', externalId: item(cup), quantity: 1 }] })
      expect((await caps.getOrder(ctx, { id: String(pickup.order.legacyId) }))?.id).toBe(pickup.order.id)
      expect(await caps.getOrder(ctx, { id: 'gid://shopify/Order/1' })).toBeNull()
    })
  })

  describe('webhooks', () => {
    const config = { shop: SHOP, accessToken: TOKEN, webhookSecret: CLIENT_SECRET }
    const webhook = shopify.webhook!
    const interpret = (d: WebhookDelivery) => caps.interpretWebhook!(webhook.parse(inbound(d)), config)
    const pickupOrder = () => sim.placeOrder({ lines: [{ item: item(mug), quantity: 1 }], pickupLocationId: flagship.id }).order

    it('verifies the HMAC of the raw body with the client secret, and nothing else', () => {
      const d = sim.webhookDelivery('inventory_levels/update', { inventory_item_id: 1, location_id: 2, available: 3, updated_at: '2026-03-14T10:00:00+08:00' })
      const now = new Date()
      expect(webhook.verify(inbound(d), config, now)).toBe(true)
      expect(webhook.verify(inbound(d, d.body.replace('"available":3', '"available":30')), config, now)).toBe(false)
      expect(webhook.verify(inbound(d), { ...config, webhookSecret: 'shpss_another_apps_secret_000000' }, now)).toBe(false)
      expect(webhook.verify(inbound(d, d.body, { ...d.headers, 'x-shopify-shop-domain': 'someone-else.myshopify.com' }), config, now)).toBe(false)
      const { ['x-shopify-hmac-sha256']: _, ...unsigned } = d.headers
      expect(webhook.verify(inbound(d, d.body, unsigned), config, now)).toBe(false)
    })

    it('takes the event id (the same on every delivery of the event), the topic and the trigger time', () => {
      const triggeredAt = new Date('2026-03-14T02:00:00.000Z')
      const d = sim.webhookDelivery('orders/updated', sim.orderPayload(pickupOrder().id), { eventId: 'evt-1', webhookId: 'delivery-1', triggeredAt })
      expect(webhook.parse(inbound(d))).toMatchObject({ eventId: 'evt-1', topic: 'orders/updated', occurredAt: triggeredAt })
      const { ['x-shopify-event-id']: _, ...withoutEvent } = d.headers
      expect(webhook.parse(inbound(d, d.body, withoutEvent)).eventId).toBe('delivery-1')
    })

    it('reads order webhooks as orders with the global ids the polls return', async () => {
      const { ctx } = await connect()
      const placed = sim.placeOrder({ lines: [{ item: item(mug), quantity: 1 }, { item: item(pot), quantity: 2 }], locationId: warehouse.id, at: new Date('2030-06-01T10:00:00Z') })
      const created = interpret(placed.delivery)
      const polled = await caps.getOrder(ctx, { id: placed.order.id })
      expect(created).toEqual({
        kind: 'order',
        order: {
          id: polled!.id,
          name: polled!.name,
          status: 'open',
          updatedAt: '2030-06-01T10:00:00.000Z',
          placedAt: '2030-06-01T10:00:00.000Z',
          locationId: null,
          pickupLocationId: null,
          lines: polled!.lines.map((l) => ({ ...l, externalId: null })),
        },
      })
      // REST timestamps carry the shop's offset; the order's time is the same instant.
      expect(JSON.parse(placed.delivery.body).updated_at).toBe('2030-06-01T18:00:00+08:00')

      const refund = sim.refundOrder(placed.order.id, { lines: [{ lineItemId: placed.order.lines[1]!.id, quantity: 1 }], at: new Date('2030-06-01T11:00:00Z') })
      expect(interpret(refund)).toEqual({ kind: 'order_changed', orderId: placed.order.id })
      const updated = interpret(sim.webhookDelivery('orders/updated', sim.orderPayload(placed.order.id)))
      expect(updated).toMatchObject({ kind: 'order', order: { status: 'open', lines: [{ quantity: 1 }, { quantity: 1 }] } })
      expect(interpret(sim.fulfillOrder(placed.order.id))).toMatchObject({ kind: 'order', order: { status: 'fulfilled' } })

      const other = sim.placeOrder({ lines: [{ item: item(mug), quantity: 1 }], locationId: warehouse.id })
      expect(interpret(sim.cancelOrder(other.order.id))).toMatchObject({ kind: 'order', order: { id: other.order.id, status: 'cancelled', lines: [{ quantity: 0 }] } })
    })

    it('reads inventory_levels/update as a level with global ids, and ignores other topics', () => {
      const d = sim.setAvailable(item(mug), warehouse.id, 17, { at: new Date('2030-06-02T03:04:05Z') })
      expect(interpret(d)).toEqual({ kind: 'level', level: { externalId: item(mug), locationId: warehouse.id, available: 17 }, at: '2030-06-02T03:04:05.000Z' })
      expect(interpret(sim.webhookDelivery('products/update', { id: 1, title: 'Tea' }))).toMatchObject({ kind: 'ignored' })
    })

    it('is received by the hub once per event, and a tampered delivery is refused', async () => {
      const { connectionId } = await connect()
      const api = createApi(hub)
      const d = sim.placeOrder({ lines: [{ item: item(cup), quantity: 1 }], locationId: flagship.id }).delivery
      const post = (body: string) => api.request('POST', `/webhooks/${connectionId}`, undefined, { raw: body, headers: d.headers })
      expect((await post(d.body)).status).toBe(200)
      expect((await post(d.body)).status).toBe(200)
      expect((await post(d.body.replace('"quantity":1', '"quantity":9'))).status).toBe(401)
      const rows = (await hub.database.db.execute<{ topic: string; vendor_event_id: string; deliveries: number }>(sql`select topic, vendor_event_id, deliveries from inbound_webhooks where connection_id = ${connectionId}`)).rows
      expect(rows).toEqual([{ topic: 'orders/create', vendor_event_id: d.headers['x-shopify-event-id'], deliveries: 2 }])
    })

    it('subscribes the missing topics for our address, and only those', async () => {
      const { ctx } = await connect()
      const address = `https://hub.example.com/webhooks/${seq}`
      // A subscription of another app install (another address) does not count.
      sim.state.subscriptions.set('gid://shopify/WebhookSubscription/1', { id: 'gid://shopify/WebhookSubscription/1', legacyId: 1, topic: 'ORDERS_CREATE', uri: 'https://elsewhere.example.com/hooks', format: 'JSON', createdAt: new Date() })
      const first = await caps.ensureWebhooks!(ctx, { address })
      expect(first).toEqual({ created: ['orders/create', 'orders/updated', 'orders/cancelled', 'refunds/create', 'inventory_levels/update'], existing: [], reactivated: [] })
      const ours = [...sim.state.subscriptions.values()].filter((s) => s.uri === address)
      expect(ours.map((s) => [s.topic, s.format])).toEqual([
        ['ORDERS_CREATE', 'JSON'],
        ['ORDERS_UPDATED', 'JSON'],
        ['ORDERS_CANCELLED', 'JSON'],
        ['REFUNDS_CREATE', 'JSON'],
        ['INVENTORY_LEVELS_UPDATE', 'JSON'],
      ])
      const creates = sim.requestsFor('WebhookSubscriptionCreate').length
      expect(await caps.ensureWebhooks!(ctx, { address })).toEqual({ created: [], existing: ['orders/create', 'orders/updated', 'orders/cancelled', 'refunds/create', 'inventory_levels/update'], reactivated: [] })
      expect(sim.requestsFor('WebhookSubscriptionCreate').length).toBe(creates)

      // Shopify deleted one after failed deliveries: it comes back.
      sim.state.subscriptions.delete(ours[3]!.id)
      expect(await caps.ensureWebhooks!(ctx, { address })).toMatchObject({ created: ['refunds/create'] })
    })
  })
})
