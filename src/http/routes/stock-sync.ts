// Stock sync with marketplaces: per connection, the location map and allocation rules (connections.manage), the
// listings and their binding, the status of every SKU and the drift audits found (connections.read), actions that
// queue a sync, and the online orders holding stock, with the hand-over of pickup orders at the till.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import type { Context } from 'hono'
import { eq } from 'drizzle-orm'
import { variants } from '../../core/catalog/schema.ts'
import type { MarketplaceCapabilities } from '../../connectors/framework/marketplace.ts'
import { getConnectionRow, loadConnection } from '../../connectors/framework/connections.ts'
import { connectorContext } from '../../connectors/framework/context.ts'
import { ConnectorError } from '../../connectors/framework/http-types.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { DEFAULT_RULE } from '../../core/channel-stock/allocation.ts'
import { queueChannelPush } from '../../core/channel-stock/levels.ts'
import { bindListing, type ChannelRef } from '../../core/channel-stock/listings.ts'
import { collectChannelOrder, getChannelOrder, listChannelOrders } from '../../core/channel-stock/orders.ts'
import { listChannelListings, listDrift, listSkuStatus, syncSummary } from '../../core/channel-stock/queries.ts'
import { listLocationMap, listRules, setLocationMap, setRule } from '../../core/channel-stock/setup.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import type { Tx } from '../../db/client.ts'
import { queueAudit, queuePoll, queueRecover } from '../../jobs/stock-sync.ts'
import { badRequest, invalid, upstream } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, PageQuery } from '../route.ts'

const tags = ['Stock sync']
const ConnParam = z.object({ connectionId: uuid({ error: 'must be a UUID' }).openapi({ param: { name: 'connectionId', in: 'path' } }) })
const iso = (d: Date | null) => (d ? d.toISOString() : null)
const units = (description: string) => z.number().int().min(0).max(1_000_000_000).openapi({ description })

/** The connection, when it is the caller's and a marketplace one. */
async function channel(tx: Tx, merchantId: string, connectionId: string): Promise<ChannelRef> {
  const row = await getConnectionRow(tx, merchantId, connectionId)
  if (connectorRegistry.get(row.connectorId)?.family !== 'marketplace') throw invalid('not_a_marketplace', `connection ${row.name} is not a marketplace connection`)
  return { merchantId, connectionId }
}

const LocationMapSchema = z
  .object({
    remoteLocationId: z.string().min(1).max(255),
    name: z.string().max(200).optional(),
    locationIds: z.array(uuid()).min(1).max(50).openapi({ description: 'Our stock locations whose available stock is summed for this remote location' }),
    pickupLocationId: uuid().nullable().optional().openapi({ description: 'Where pickup orders of this remote location are held (default: the first of locationIds)' }),
  })
  .openapi('ChannelLocationMap')

const RuleSchema = z
  .object({
    percent: z.number().int().min(0).max(100).default(100).openapi({ description: 'Percentage of available offered, rounded down' }),
    buffer: units('Units kept back from the channel').default(0),
    maximum: units('Never more than this').nullable().default(null),
    zeroAtOrBelow: units('Send 0 when available is at or below this').nullable().default(null),
    fixed: units('A fixed allocation (never more than available); the other rules do not apply').nullable().default(null),
  })
  .openapi('ChannelRule')

const ListingSchema = z
  .object({
    id: uuid(),
    externalId: z.string(),
    externalIds: z.record(z.string(), z.string()),
    sku: z.string().nullable(),
    barcode: z.string().nullable(),
    title: z.string(),
    tracked: z.boolean(),
    variantId: uuid().nullable(),
    variantSku: z.string().nullable(),
    matchedBy: z.string().nullable(),
    state: z.enum(['bound', 'unmapped', 'ambiguous', 'untracked', 'gone']),
    candidates: z.array(uuid()).openapi({ description: 'For ambiguous listings: the variants that match' }),
    seenAt: z.string(),
  })
  .openapi('ChannelListing')

const SKU_STATUSES = ['ok', 'pending', 'error', 'drift', 'unmapped'] as const
const SkuStatusSchema = z
  .object({
    levelId: uuid().nullable(),
    variantId: uuid(),
    sku: z.string(),
    listingId: uuid().nullable(),
    externalId: z.string().nullable(),
    remoteLocationId: z.string().nullable(),
    status: z.enum(SKU_STATUSES),
    target: z.number().int().nullable().openapi({ description: 'The channel quantity last computed' }),
    lastPushed: z.number().int().nullable(),
    lastPushedAt: z.string().nullable(),
    lastRemote: z.number().int().nullable().openapi({ description: 'What the marketplace holds, as last read or written' }),
    lastRemoteAt: z.string().nullable(),
    lastError: z.string().nullable(),
    pendingSince: z.string().nullable(),
  })
  .openapi('SkuSyncStatus')

const OrderSchema = z
  .object({
    id: uuid(),
    connectionId: uuid(),
    remoteOrderId: z.string(),
    name: z.string(),
    status: z.enum(['open', 'fulfilled', 'cancelled', 'collected']),
    pickup: z.boolean(),
    locationId: uuid().nullable(),
    flag: z.string().nullable().openapi({
      description:
        'insufficient_stock, unmapped_lines, unmapped_location, quantity_increased, or returned: units were given back (refunded or cancelled) on the marketplace after the goods left; our stock is unchanged and the shops are pushed our figure again, so a store books the goods in if they come back',
    }),
    remoteUpdatedAt: z.string(),
    collectedAt: z.string().nullable(),
    createdAt: z.string(),
    lines: z
      .array(z.object({ lineId: z.string(), sku: z.string().nullable(), variantId: uuid().nullable(), quantity: z.number().int(), shipped: z.number().int().openapi({ description: 'Units that left while the order was open (shipped in part).' }), state: z.enum(['held', 'short', 'unmapped', 'released', 'consumed']), reservationId: uuid().nullable() }))
      .optional(),
  })
  .openapi('ChannelOrder')

type OrderRow = Awaited<ReturnType<typeof getChannelOrder>>
const orderOut = (o: Omit<OrderRow, 'lines'> & { lines?: OrderRow['lines'] }): z.infer<typeof OrderSchema> => ({
  id: o.id,
  connectionId: o.connectionId,
  remoteOrderId: o.remoteOrderId,
  name: o.name,
  status: o.status,
  pickup: o.pickup,
  locationId: o.locationId,
  flag: o.flag,
  remoteUpdatedAt: o.remoteUpdatedAt.toISOString(),
  collectedAt: iso(o.collectedAt),
  createdAt: o.createdAt.toISOString(),
  ...(o.lines ? { lines: o.lines.map((l) => ({ lineId: l.lineId, sku: l.sku, variantId: l.variantId, quantity: l.quantity, shipped: l.shippedQuantity, state: l.state, reservationId: l.reservationId })) } : {}),
})

const base = '/api/v1/stock-sync/{connectionId}'

const remoteLocations = defineRoute({
  method: 'get',
  path: `${base}/remote-locations`,
  tags,
  summary: 'The marketplace’s own locations, read live',
  access: 'connections.read',
  transaction: false,
  upstream: 'The marketplace',
  request: { params: ConnParam },
  responses: { 200: json(z.object({ items: z.array(z.object({ id: z.string(), name: z.string(), active: z.boolean() })) })) },
})
const getLocations = defineRoute({ method: 'get', path: `${base}/locations`, tags, summary: 'The location map', access: 'connections.read', request: { params: ConnParam }, responses: { 200: json(z.object({ items: z.array(LocationMapSchema) })) } })
const putLocations = defineRoute({
  method: 'put',
  path: `${base}/locations`,
  tags,
  summary: 'Replace the location map',
  description: 'Which of our stock locations feed each remote location (their available stock is summed). Single-location marketplaces (WooCommerce, Taobao/Tmall) have the one remote location `default`. Every level is pushed again.',
  access: 'connections.manage',
  request: { params: ConnParam, body: jsonBody(z.object({ locations: z.array(LocationMapSchema).max(200) })) },
  responses: { 200: json(z.object({ items: z.array(LocationMapSchema) })) },
})
const getRules = defineRoute({
  method: 'get',
  path: `${base}/rules`,
  tags,
  summary: 'Allocation rules: the connection’s default and per-variant overrides',
  access: 'connections.read',
  request: { params: ConnParam },
  responses: { 200: json(z.object({ default: RuleSchema, overrides: z.array(RuleSchema.extend({ variantId: uuid() })) })) },
})
const putDefaultRule = defineRoute({
  method: 'put',
  path: `${base}/rules/default`,
  tags,
  summary: 'Set the connection’s default rule',
  description: 'Channel quantity = 0 when available ≤ zeroAtOrBelow; else min(fixed, available) when fixed is set; else ⌊(available − buffer) × percent / 100⌋, capped at maximum. Available is on-hand − reservations of every channel, summed over the fed locations.',
  access: 'connections.manage',
  request: { params: ConnParam, body: jsonBody(RuleSchema) },
  responses: { 200: json(RuleSchema) },
})
const VariantParam = ConnParam.extend({ variantId: uuid({ error: 'must be a UUID' }).openapi({ param: { name: 'variantId', in: 'path' } }) })
const putVariantRule = defineRoute({
  method: 'put',
  path: `${base}/rules/{variantId}`,
  tags,
  summary: 'Override the rule for one variant',
  access: 'connections.manage',
  request: { params: VariantParam, body: jsonBody(RuleSchema) },
  responses: { 200: json(RuleSchema.extend({ variantId: uuid() })) },
})
const deleteVariantRule = defineRoute({
  method: 'delete',
  path: `${base}/rules/{variantId}`,
  tags,
  summary: 'Remove a variant’s override (the default applies again)',
  access: 'connections.manage',
  request: { params: VariantParam },
  responses: { 204: { description: 'Removed' } },
})
const listListingsRoute = defineRoute({
  method: 'get',
  path: `${base}/listings`,
  tags,
  summary: 'The marketplace’s listings and their binding',
  description: 'Filter by state to see what needs a person: `unmapped` (no variant matches its SKU or barcode) and `ambiguous` (several match, or the variant is bound to another listing). Nothing is guessed.',
  access: 'connections.read',
  request: { params: ConnParam, query: PageQuery.extend({ state: z.enum(['bound', 'unmapped', 'ambiguous', 'untracked', 'gone']).optional() }) },
  responses: { 200: json(z.object({ items: z.array(ListingSchema), nextCursor: z.string().nullable() })) },
})
const bindRoute = defineRoute({
  method: 'put',
  path: `${base}/listings/{listingId}/binding`,
  tags,
  summary: 'Bind a listing to a variant by hand, or unbind it (variantId null)',
  description: 'A hand binding is kept by later imports. The listing’s levels are pushed.',
  access: 'connections.manage',
  request: { params: ConnParam.extend({ listingId: uuid().openapi({ param: { name: 'listingId', in: 'path' } }) }), body: jsonBody(z.object({ variantId: uuid().nullable() })) },
  responses: { 200: json(ListingSchema) },
})
const statusRoute = defineRoute({
  method: 'get',
  path: `${base}/skus`,
  tags,
  summary: 'Sync status per SKU and remote location',
  description: 'ok, pending (a change not pushed yet), error (with the vendor’s reason), drift (the audit found the marketplace off), unmapped (our variant has no listing there); last pushed, last seen remotely, last error.',
  access: 'connections.read',
  request: { params: ConnParam, query: PageQuery.extend({ status: z.enum(SKU_STATUSES).optional(), sku: z.string().max(100).optional() }) },
  responses: { 200: json(z.object({ items: z.array(SkuStatusSchema), nextCursor: z.string().nullable() })) },
})
const SummarySchema = z
  .object({
    levels: z.record(z.string(), z.number().int()),
    listings: z.record(z.string(), z.number().int()),
    oldestPendingSeconds: z.number().int(),
    lastPushedAt: z.string().nullable(),
    openDrift: z.number().int(),
  })
  .openapi('StockSyncSummary')
const summaryRoute = defineRoute({ method: 'get', path: `${base}/summary`, tags, summary: 'Counts per status for one connection', access: 'connections.read', request: { params: ConnParam }, responses: { 200: json(SummarySchema) } })
const driftRoute = defineRoute({
  method: 'get',
  path: `${base}/drift`,
  tags,
  summary: 'What audits found different on the marketplace, per SKU, and whether it was repaired',
  access: 'connections.read',
  request: { params: ConnParam, query: PageQuery },
  responses: {
    200: json(
      z.object({
        items: z.array(z.object({ id: z.number().int(), levelId: uuid(), sku: z.string().nullable(), remoteLocationId: z.string(), lastPushed: z.number().int().nullable(), remote: z.number().int(), target: z.number().int(), repaired: z.boolean(), foundAt: z.string() })),
        nextCursor: z.string().nullable(),
      }),
    ),
  },
})
const SYNC_ACTIONS = ['import', 'audit', 'poll', 'push', 'recover'] as const
const syncRoute = defineRoute({
  method: 'post',
  path: `${base}/sync`,
  tags,
  summary: 'Queue a sync',
  description: '`import`: read every listing, bind and record quantities; `audit`: the same, reporting and repairing drift (orders are polled after each page is read and before it is compared, so an order not seen yet is no drift); `poll`: orders since the last poll (with a lookback); `push`: every pending level; `recover`: re-assert webhook subscriptions, poll and audit (what a reconnect does).',
  access: 'connections.manage',
  request: { params: ConnParam, body: jsonBody(z.object({ action: z.enum(SYNC_ACTIONS) })) },
  responses: { 202: json(z.object({ queued: z.enum(SYNC_ACTIONS) }), 'Queued') },
})

const listOrdersRoute = defineRoute({
  method: 'get',
  path: '/api/v1/channel-orders',
  tags,
  summary: 'Online orders holding our stock, newest first',
  access: 'sales.read',
  request: { query: PageQuery.extend({ connectionId: uuid().optional(), status: z.enum(['open', 'fulfilled', 'cancelled', 'collected']).optional(), flagged: z.enum(['true', 'false']).optional() }) },
  responses: { 200: json(z.object({ items: z.array(OrderSchema), nextCursor: z.string().nullable() })) },
})
const getOrderRoute = defineRoute({ method: 'get', path: '/api/v1/channel-orders/{id}', tags, summary: 'One online order with its lines', access: 'sales.read', request: { params: IdParam }, responses: { 200: json(OrderSchema) } })
const collectRoute = defineRoute({
  method: 'post',
  path: '/api/v1/channel-orders/{id}/collect',
  tags,
  summary: 'Hand a pickup order over at the till',
  description: 'Each line’s hold at the pickup store becomes the stock movement of the goods leaving — once; nothing is decremented twice. Collecting again answers the collected order.',
  access: 'sales.create',
  request: { params: IdParam },
  responses: { 200: json(OrderSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  const ref = async (c: Context<AppEnv>, connectionId: string) => channel(c.var.db, c.var.principal.merchantId, connectionId)

  app.openapi(remoteLocations, async (c) => {
    const { connectionId } = c.req.valid('param')
    const hub = c.var.hub
    await ref(c, connectionId)
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, connectionId, c.var.principal.merchantId)
    try {
      const items = await (loaded.connector.capabilities as MarketplaceCapabilities<any>).listLocations(connectorContext(hub, loaded), {})
      return c.json({ items }, 200)
    } catch (e) {
      if (e instanceof ConnectorError) throw upstream('marketplace_unavailable', `${loaded.connector.title} did not answer: ${e.message}`)
      throw e
    }
  })
  app.openapi(getLocations, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const rows = await listLocationMap(c.var.db, r)
    return c.json({ items: rows.map((m) => ({ remoteLocationId: m.remoteLocationId, name: m.name, locationIds: m.locationIds, pickupLocationId: m.pickupLocationId })) }, 200)
  })
  app.openapi(putLocations, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const rows = await setLocationMap(c.var.db, r, c.req.valid('json').locations, c.var.hub.clock())
    await queueChannelPush(c.var.db, r)
    await recordAudit(c.var.db, c.var.principal, { action: 'stock_sync.locations_set', entityType: 'connection', entityId: r.connectionId, details: { locations: rows.length } })
    return c.json({ items: rows.map((m) => ({ remoteLocationId: m.remoteLocationId, name: m.name, locationIds: m.locationIds, pickupLocationId: m.pickupLocationId })) }, 200)
  })
  app.openapi(getRules, async (c) => c.json(await listRules(c.var.db, await ref(c, c.req.valid('param').connectionId)), 200))
  app.openapi(putDefaultRule, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const rule = { ...DEFAULT_RULE, ...c.req.valid('json') }
    await setRule(c.var.db, r, null, rule, c.var.hub.clock())
    await queueChannelPush(c.var.db, r)
    await recordAudit(c.var.db, c.var.principal, { action: 'stock_sync.rule_set', entityType: 'connection', entityId: r.connectionId, details: { rule } })
    return c.json(rule, 200)
  })
  app.openapi(putVariantRule, async (c) => {
    const { connectionId, variantId } = c.req.valid('param')
    const r = await ref(c, connectionId)
    const rule = { ...DEFAULT_RULE, ...c.req.valid('json') }
    await setRule(c.var.db, r, variantId, rule, c.var.hub.clock())
    await queueChannelPush(c.var.db, r)
    await recordAudit(c.var.db, c.var.principal, { action: 'stock_sync.rule_set', entityType: 'connection', entityId: r.connectionId, details: { variantId, rule } })
    return c.json({ ...rule, variantId }, 200)
  })
  app.openapi(deleteVariantRule, async (c) => {
    const { connectionId, variantId } = c.req.valid('param')
    const r = await ref(c, connectionId)
    await setRule(c.var.db, r, variantId, null, c.var.hub.clock())
    await queueChannelPush(c.var.db, r)
    return c.body(null, 204)
  })
  app.openapi(listListingsRoute, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const q = c.req.valid('query')
    const page = await listChannelListings(c.var.db, r, { state: q.state, after: q.cursor, limit: q.limit })
    return c.json({ items: page.items.map((l) => ({ ...l, seenAt: l.seenAt.toISOString() })), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(bindRoute, async (c) => {
    const { connectionId, listingId } = c.req.valid('param')
    const r = await ref(c, connectionId)
    const { variantId } = c.req.valid('json')
    const l = await bindListing(c.var.db, r, listingId, variantId, c.var.hub.clock())
    await queueChannelPush(c.var.db, r)
    await recordAudit(c.var.db, c.var.principal, { action: variantId ? 'stock_sync.listing_bound' : 'stock_sync.listing_unbound', entityType: 'channel_listing', entityId: listingId, details: { connectionId, variantId } })
    const [v] = l.variantId ? await c.var.db.select({ sku: variants.sku }).from(variants).where(eq(variants.id, l.variantId)) : []
    return c.json({ ...l, variantSku: v?.sku ?? null, seenAt: l.seenAt.toISOString() }, 200)
  })
  app.openapi(statusRoute, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const q = c.req.valid('query')
    const page = await listSkuStatus(c.var.db, r, { status: q.status, sku: q.sku, after: q.cursor, limit: q.limit })
    return c.json(
      { items: page.items.map((s) => ({ ...s, lastPushedAt: iso(s.lastPushedAt), lastRemoteAt: iso(s.lastRemoteAt), pendingSince: iso(s.pendingSince) })), nextCursor: page.nextCursor },
      200,
    )
  })
  app.openapi(summaryRoute, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const s = await syncSummary(c.var.db, r, c.var.hub.clock())
    return c.json({ ...s, lastPushedAt: iso(s.lastPushedAt) }, 200)
  })
  app.openapi(driftRoute, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const q = c.req.valid('query')
    if (q.cursor !== undefined && !/^\d{1,18}$/.test(q.cursor)) throw badRequest('invalid_cursor', 'cursor must be the nextCursor of a previous page')
    const page = await listDrift(c.var.db, r, { before: q.cursor ? Number(q.cursor) : undefined, limit: q.limit })
    return c.json({ items: page.items.map((d) => ({ ...d, foundAt: d.foundAt.toISOString() })), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(syncRoute, async (c) => {
    const r = await ref(c, c.req.valid('param').connectionId)
    const { action } = c.req.valid('json')
    const tx = c.var.db
    if (action === 'import') await queueAudit(tx, r, false)
    else if (action === 'audit') await queueAudit(tx, r, true)
    else if (action === 'poll') await queuePoll(tx, r)
    else if (action === 'push') await queueChannelPush(tx, r)
    else await queueRecover(tx, r)
    return c.json({ queued: action }, 202)
  })

  app.openapi(listOrdersRoute, async (c) => {
    const q = c.req.valid('query')
    const page = await listChannelOrders(c.var.db, c.var.principal.merchantId, { connectionId: q.connectionId, status: q.status, flagged: q.flagged === undefined ? undefined : q.flagged === 'true', before: q.cursor, limit: q.limit })
    return c.json({ items: page.items.map((o) => orderOut(o)), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(getOrderRoute, async (c) => c.json(orderOut(await getChannelOrder(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(collectRoute, async (c) => {
    const { id } = c.req.valid('param')
    await collectChannelOrder(c.var.db, c.var.principal, id, c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: 'channel_order.collected', entityType: 'channel_order', entityId: id, details: {} })
    return c.json(orderOut(await getChannelOrder(c.var.db, c.var.principal.merchantId, id)), 200)
  })
}
