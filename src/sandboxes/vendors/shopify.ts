// A Shopify simulator for msw: the GraphQL Admin API (2026-04) at /admin/api/{version}/graphql.json with
// X-Shopify-Access-Token auth, a real (small) GraphQL parser and executor over Map-held shop data, Shopify's
// calculated query cost and leaky bucket (THROTTLED answers with extensions.cost, MAX_COST_EXCEEDED above 1000),
// inventorySetQuantities with compare-and-set and @idempotent, orders with fulfillment orders (one per location an
// order is split over), webhook subscriptions, and signed webhook deliveries in the REST payload format.
// https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits, https://shopify.dev/docs/api/admin-graphql/2026-04
import { createHmac, randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

// =================================================================================================================
// A small GraphQL engine: enough of the language for what clients send (operations, variables, aliases, arguments,
// directives, inline fragments and named fragments), static cost analysis and execution over plain objects.
// =================================================================================================================

type ValueNode =
  | { kind: 'var'; name: string }
  | { kind: 'scalar'; value: string | number | boolean | null }
  | { kind: 'enum'; value: string }
  | { kind: 'list'; values: ValueNode[] }
  | { kind: 'object'; fields: Record<string, ValueNode> }

interface Directive {
  name: string
  args: Record<string, ValueNode>
}
interface FieldNode {
  kind: 'field'
  alias?: string
  name: string
  args: Record<string, ValueNode>
  directives: Directive[]
  selections?: Selection[]
}
type Selection = FieldNode | { kind: 'inline'; typeCondition?: string; selections: Selection[] } | { kind: 'spread'; name: string }
interface Operation {
  type: 'query' | 'mutation' | 'subscription'
  name?: string
  variables: { name: string; type: string; defaultValue?: ValueNode }[]
  selections: Selection[]
}
interface Document {
  operations: Operation[]
  fragments: Map<string, { typeCondition: string; selections: Selection[] }>
}

/** An error that ends the request with top-level `errors` and no data. */
class GraphqlFailure extends Error {
  readonly extensions: Record<string, unknown>
  constructor(message: string, extensions: Record<string, unknown> = {}) {
    super(message)
    this.extensions = extensions
  }
}

interface Token {
  kind: 'punct' | 'name' | 'number' | 'string' | 'eof'
  value: string
  pos: number
}

function lex(src: string): Token[] {
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]!
    if (c === '#') {
      while (i < src.length && src[i] !== '\n') i++
    } else if (/[\s,\uFEFF]/.test(c)) {
      i++
    } else if (src.startsWith('...', i)) {
      out.push({ kind: 'punct', value: '...', pos: i })
      i += 3
    } else if ('!$&()[]{}:=@|'.includes(c)) {
      out.push({ kind: 'punct', value: c, pos: i++ })
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!
      out.push({ kind: 'name', value: m[0], pos: i })
      i += m[0].length
    } else if (/[-0-9]/.test(c)) {
      const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i))
      if (!m) throw new GraphqlFailure(`syntax error, unexpected character "${c}" at ${i}`)
      out.push({ kind: 'number', value: m[0], pos: i })
      i += m[0].length
    } else if (src.startsWith('"""', i)) {
      const end = src.indexOf('"""', i + 3)
      if (end < 0) throw new GraphqlFailure('syntax error, unterminated block string')
      out.push({ kind: 'string', value: src.slice(i + 3, end), pos: i })
      i = end + 3
    } else if (c === '"') {
      let j = i + 1
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1
      if (j >= src.length) throw new GraphqlFailure('syntax error, unterminated string')
      out.push({ kind: 'string', value: JSON.parse(src.slice(i, j + 1)) as string, pos: i })
      i = j + 1
    } else {
      throw new GraphqlFailure(`syntax error, unexpected character "${c}" at ${i}`)
    }
  }
  out.push({ kind: 'eof', value: '', pos: src.length })
  return out
}

function parseDocument(src: string): Document {
  const toks = lex(src)
  let p = 0
  const peek = () => toks[p]!
  const next = () => toks[p++]!
  const fail = (t: Token): never => {
    throw new GraphqlFailure(`syntax error, unexpected ${t.kind === 'eof' ? 'end of file' : `"${t.value}"`} at ${t.pos}`)
  }
  const isPunct = (v: string) => peek().kind === 'punct' && peek().value === v
  const expectPunct = (v: string) => (isPunct(v) ? next() : fail(peek()))
  const expectName = () => (peek().kind === 'name' ? next().value : fail(peek()))

  function value(): ValueNode {
    const t = next()
    if (t.kind === 'punct' && t.value === '$') return { kind: 'var', name: expectName() }
    if (t.kind === 'number') return { kind: 'scalar', value: Number(t.value) }
    if (t.kind === 'string') return { kind: 'scalar', value: t.value }
    if (t.kind === 'name') {
      if (t.value === 'true' || t.value === 'false') return { kind: 'scalar', value: t.value === 'true' }
      if (t.value === 'null') return { kind: 'scalar', value: null }
      return { kind: 'enum', value: t.value }
    }
    if (t.kind === 'punct' && t.value === '[') {
      const values: ValueNode[] = []
      while (!isPunct(']')) values.push(value())
      next()
      return { kind: 'list', values }
    }
    if (t.kind === 'punct' && t.value === '{') {
      const fields: Record<string, ValueNode> = {}
      while (!isPunct('}')) {
        const name = expectName()
        expectPunct(':')
        fields[name] = value()
      }
      next()
      return { kind: 'object', fields }
    }
    return fail(t)
  }
  function args(): Record<string, ValueNode> {
    const out: Record<string, ValueNode> = {}
    if (!isPunct('(')) return out
    next()
    while (!isPunct(')')) {
      const name = expectName()
      expectPunct(':')
      out[name] = value()
    }
    next()
    return out
  }
  function directives(): Directive[] {
    const out: Directive[] = []
    while (isPunct('@')) {
      next()
      out.push({ name: expectName(), args: args() })
    }
    return out
  }
  function selectionSet(): Selection[] {
    expectPunct('{')
    const out: Selection[] = []
    while (!isPunct('}')) {
      if (isPunct('...')) {
        next()
        if (peek().kind === 'name' && peek().value === 'on') {
          next()
          const typeCondition = expectName()
          directives()
          out.push({ kind: 'inline', typeCondition, selections: selectionSet() })
        } else if (peek().kind === 'name') {
          out.push({ kind: 'spread', name: next().value })
          directives()
        } else {
          directives()
          out.push({ kind: 'inline', selections: selectionSet() })
        }
        continue
      }
      let name = expectName()
      let alias: string | undefined
      if (isPunct(':')) {
        next()
        alias = name
        name = expectName()
      }
      const field: FieldNode = { kind: 'field', alias, name, args: args(), directives: directives() }
      if (isPunct('{')) field.selections = selectionSet()
      out.push(field)
    }
    next()
    return out
  }
  function type(): string {
    let t: string
    if (isPunct('[')) {
      next()
      t = `[${type()}]`
      expectPunct(']')
    } else t = expectName()
    if (isPunct('!')) {
      next()
      t += '!'
    }
    return t
  }

  const doc: Document = { operations: [], fragments: new Map() }
  while (peek().kind !== 'eof') {
    if (isPunct('{')) {
      doc.operations.push({ type: 'query', variables: [], selections: selectionSet() })
      continue
    }
    const keyword = expectName()
    if (keyword === 'fragment') {
      const name = expectName()
      if (expectName() !== 'on') fail(toks[p - 1]!)
      const typeCondition = expectName()
      directives()
      doc.fragments.set(name, { typeCondition, selections: selectionSet() })
      continue
    }
    if (keyword !== 'query' && keyword !== 'mutation' && keyword !== 'subscription') fail(toks[p - 1]!)
    const op: Operation = { type: keyword as Operation['type'], variables: [], selections: [] }
    if (peek().kind === 'name') op.name = next().value
    if (isPunct('(')) {
      next()
      while (!isPunct(')')) {
        expectPunct('$')
        const name = expectName()
        expectPunct(':')
        const t = type()
        let defaultValue: ValueNode | undefined
        if (isPunct('=')) {
          next()
          defaultValue = value()
        }
        op.variables.push({ name, type: t, defaultValue })
      }
      next()
    }
    directives()
    op.selections = selectionSet()
    doc.operations.push(op)
  }
  return doc
}

function resolveValue(node: ValueNode, vars: Record<string, unknown>): unknown {
  switch (node.kind) {
    case 'var':
      return vars[node.name] ?? null
    case 'scalar':
      return node.value
    case 'enum':
      return node.value
    case 'list':
      return node.values.map((v) => resolveValue(v, vars))
    case 'object':
      return Object.fromEntries(Object.entries(node.fields).map(([k, v]) => [k, resolveValue(v, vars)]))
  }
}
const resolveArgs = (args: Record<string, ValueNode>, vars: Record<string, unknown>) => Object.fromEntries(Object.entries(args).map(([k, v]) => [k, resolveValue(v, vars)]))

/** Fields of a selection set for an object of `typename`, fragments expanded. */
function fieldsOf(sels: Selection[], typename: string | undefined, doc: Document, interfaces: readonly string[] = []): FieldNode[] {
  const out: FieldNode[] = []
  for (const s of sels) {
    if (s.kind === 'field') out.push(s)
    else if (s.kind === 'inline') {
      if (!s.typeCondition || s.typeCondition === typename || interfaces.includes(s.typeCondition) || typename === undefined) out.push(...fieldsOf(s.selections, typename, doc, interfaces))
    } else {
      const f = doc.fragments.get(s.name)
      if (!f) throw new GraphqlFailure(`Fragment ${s.name} was used, but not defined`, { code: 'useAndDefineFragment' })
      if (f.typeCondition === typename || interfaces.includes(f.typeCondition) || typename === undefined) out.push(...fieldsOf(f.selections, typename, doc, interfaces))
    }
  }
  return out
}

// ---- cost ---------------------------------------------------------------------------------------------------------
// Scalars and enums 0, an object 1, a connection 2 + first × (one node), `nodes(ids:)` one object per id.

const isConnectionField = (args: Record<string, unknown>) => typeof args.first === 'number' || typeof args.last === 'number'

function selectionCost(sels: Selection[], vars: Record<string, unknown>, doc: Document): number {
  let total = 0
  for (const f of fieldsOf(sels, undefined, doc)) total += fieldCost(f, vars, doc)
  return total
}

function fieldCost(f: FieldNode, vars: Record<string, unknown>, doc: Document): number {
  if (!f.selections || f.name === 'pageInfo') return 0
  const args = resolveArgs(f.args, vars)
  if (isConnectionField(args)) {
    const n = Number(args.first ?? args.last)
    let perNode = 0
    for (const c of fieldsOf(f.selections, undefined, doc)) {
      if (c.name === 'nodes' && c.selections) perNode += 1 + selectionCost(c.selections, vars, doc)
      else if (c.name === 'edges' && c.selections) perNode += selectionCost(c.selections, vars, doc)
      else perNode += fieldCost(c, vars, doc)
    }
    return 2 + n * perNode
  }
  if (f.name === 'nodes' && Array.isArray(args.ids)) return args.ids.length * (1 + selectionCost(f.selections, vars, doc))
  return 1 + selectionCost(f.selections, vars, doc)
}

// ---- execution ----------------------------------------------------------------------------------------------------

/** An object of the simulated schema: plain values, or functions of the field's arguments. */
type Obj = { __typename: string; __interfaces?: readonly string[] } & Record<string, unknown>

interface Execution {
  vars: Record<string, unknown>
  doc: Document
  /** Objects and connections actually returned, for actualQueryCost. */
  actual: number
}

function project(obj: Obj, sels: Selection[], ex: Execution): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const f of fieldsOf(sels, obj.__typename, ex.doc, obj.__interfaces)) {
    const key = f.alias ?? f.name
    if (f.name === '__typename') {
      out[key] = obj.__typename
      continue
    }
    if (!(f.name in obj)) throw new GraphqlFailure(`Field '${f.name}' doesn't exist on type '${obj.__typename}'`, { code: 'undefinedField', typeName: obj.__typename, fieldName: f.name })
    const args = resolveArgs(f.args, ex.vars)
    const raw = obj[f.name]
    const value = typeof raw === 'function' ? (raw as (a: Record<string, unknown>) => unknown)(args) : raw
    out[key] = f.selections ? shape(value, f, args, ex) : value
  }
  return out
}

function shape(value: unknown, f: FieldNode, args: Record<string, unknown>, ex: Execution): unknown {
  if (value === null || value === undefined) return null
  const counted = f.name !== 'pageInfo' && f.name !== 'edges'
  if (Array.isArray(value)) {
    return value.map((v) => {
      if (v === null || v === undefined) return null
      if (counted) ex.actual += 1
      return project(v as Obj, f.selections!, ex)
    })
  }
  if (isConnectionField(args)) ex.actual += 2
  else if (counted) ex.actual += 1
  return project(value as Obj, f.selections!, ex)
}

/** Shopify-style opaque cursors. */
const encodeCursor = (key: string) => Buffer.from(JSON.stringify({ last_id: key })).toString('base64')
function decodeCursor(cursor: string): string {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64').toString('utf8')) as { last_id?: unknown }
    if (typeof v.last_id === 'string') return v.last_id
  } catch {
    // reported below
  }
  throw new GraphqlFailure(`Invalid cursor for current pagination sort.`, { code: 'BAD_REQUEST' })
}

function connection<T>(items: readonly T[], args: Record<string, unknown>, toNode: (t: T) => Obj, keyOf: (t: T) => string): Obj {
  if (typeof args.last === 'number' || args.before) throw new GraphqlFailure('The sandbox pages forward only (first/after)', { code: 'BAD_REQUEST' })
  const first = args.first
  if (typeof first !== 'number') throw new GraphqlFailure('you must provide one of first or last', { code: 'BAD_REQUEST' })
  if (first > 250 || first < 0) throw new GraphqlFailure(`The \`first\` argument must be between 0 and 250, got ${first}`, { code: 'BAD_REQUEST' })
  let start = 0
  if (typeof args.after === 'string') {
    const key = decodeCursor(args.after)
    const at = items.findIndex((t) => keyOf(t) === key)
    if (at < 0) throw new GraphqlFailure('Invalid cursor for current pagination sort.', { code: 'BAD_REQUEST' })
    start = at + 1
  }
  const slice = items.slice(start, start + first)
  const cursors = slice.map((t) => encodeCursor(keyOf(t)))
  return {
    __typename: 'Connection',
    nodes: () => slice.map(toNode),
    edges: () => slice.map((t, i) => ({ __typename: 'Edge', cursor: cursors[i], node: toNode(t) })),
    pageInfo: {
      __typename: 'PageInfo',
      hasNextPage: start + first < items.length,
      hasPreviousPage: start > 0,
      startCursor: cursors[0] ?? null,
      endCursor: cursors.at(-1) ?? null,
    },
  }
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v ?? null)
}

// =================================================================================================================
// The shop
// =================================================================================================================

export const SHOPIFY_SANDBOX_VERSION = '2026-04'
const MAX_SINGLE_QUERY_COST = 1000
const MAX_INPUT_SIZE = 250
const SET_REASONS = new Set(['correction', 'cycle_count_available', 'damaged', 'movement_created', 'movement_updated', 'movement_received', 'movement_canceled', 'other', 'promotion', 'quality_control', 'received', 'reservation_created', 'reservation_deleted', 'reservation_updated', 'restock', 'safety_stock', 'shrinkage'])
const WEBHOOK_TOPICS = new Set(['ORDERS_CREATE', 'ORDERS_UPDATED', 'ORDERS_CANCELLED', 'ORDERS_FULFILLED', 'ORDERS_PAID', 'REFUNDS_CREATE', 'INVENTORY_LEVELS_UPDATE', 'INVENTORY_LEVELS_CONNECT', 'INVENTORY_LEVELS_DISCONNECT', 'INVENTORY_ITEMS_UPDATE', 'PRODUCTS_UPDATE', 'APP_UNINSTALLED'])
const ALL_SCOPES = ['read_products', 'read_inventory', 'write_inventory', 'read_locations', 'read_orders']

export interface ShopifySandboxOptions {
  /** The shop's myshopify domain (or its handle). */
  shop: string
  accessToken: string
  /** The app's client secret, which signs webhook deliveries. */
  webhookSecret: string
  /** Default https://{shop}. */
  baseUrl?: string
  /** Added to every request (default 0). */
  latencyMs?: number
  /** The calculated-cost bucket of this app on this shop (default 2000 points, 100 points/s: Shopify Plus). */
  bucket?: { maximumAvailable?: number; restoreRate?: number }
  /** Access scopes the token was granted (default all the stock sync needs). */
  scopes?: string[]
  /** The shop's UTC offset in minutes, used by REST timestamps in webhook payloads (default +480, Asia/Shanghai). */
  utcOffsetMinutes?: number
  /** The shop's clock, for orders and levels (default the wall clock). */
  now?: () => Date
}

export interface SimLocation {
  id: string
  legacyId: number
  name: string
  active: boolean
  pickup: boolean
}
interface SimLevel {
  available: number
  committed: number
  updatedAt: Date
}
interface SimItem {
  id: string
  legacyId: number
  variantId: string
  sku: string | null
  tracked: boolean
  levels: Map<string, SimLevel>
}
interface SimVariant {
  id: string
  legacyId: number
  productId: string
  sku: string | null
  barcode: string | null
  title: string
  price: string
  inventoryItemId: string
}
interface SimProduct {
  id: string
  legacyId: number
  title: string
  variantIds: string[]
}
interface SimLine {
  id: string
  legacyId: number
  variantId: string
  inventoryItemId: string
  sku: string | null
  title: string
  price: string
  quantity: number
  currentQuantity: number
  /** Units shipped by fulfillments so far. */
  fulfilledQuantity: number
}
interface SimFulfillment {
  id: string
  legacyId: number
  createdAt: Date
  /** The location the units left from (its fulfillment order's). */
  locationId: string
  lines: { line: SimLine; quantity: number }[]
}
/** The units of one line a fulfillment order ships: `quantity` of them, `fulfilled` gone so far. */
interface SimFulfillmentOrderLine {
  id: string
  line: SimLine
  quantity: number
  fulfilled: number
}
/** What Shopify routed to one location: an order split over locations has one of these for each. */
export interface SimFulfillmentOrder {
  id: string
  locationId: string
  lines: SimFulfillmentOrderLine[]
}
interface SimRefund {
  id: string
  legacyId: number
  createdAt: Date
  restock: boolean
  lines: { line: SimLine; quantity: number; legacyId: number }[]
}
export interface SimOrder {
  id: string
  legacyId: number
  name: string
  number: number
  createdAt: Date
  updatedAt: Date
  cancelledAt: Date | null
  fulfilled: boolean
  fulfillments: SimFulfillment[]
  /** The location of the order's first fulfillment order. */
  locationId: string
  pickup: boolean
  /** The id of the order's first fulfillment order. */
  fulfillmentOrderId: string
  /** One per location the order ships from (the first at `locationId`). */
  fulfillmentOrders: SimFulfillmentOrder[]
  lines: SimLine[]
  refunds: SimRefund[]
}
export interface SimSubscription {
  id: string
  legacyId: number
  topic: string
  uri: string
  format: string
  createdAt: Date
}
export interface SimRequest {
  at: Date
  status: number
  /** What the sandbox answered: ok, THROTTLED, a top-level error code, 429, 503 or 401. */
  answer: 'ok' | 'throttled' | 'error' | 'rate_limited' | 'down' | 'unauthorized'
  operationName: string | null
  rootFields: string[]
  variables: Record<string, unknown>
  errorCode?: string
  requestedQueryCost?: number
  actualQueryCost?: number | null
  /** The @idempotent key of a mutation, and whether the answer was the replay of an earlier one. */
  idempotencyKey?: string
  replayed?: boolean
}
export interface WebhookDelivery {
  headers: Record<string, string>
  body: string
}

interface IdempotentEntry {
  args: string
  failed: boolean
  payload: Obj | null
}

export function shopifySandbox(opts: ShopifySandboxOptions) {
  const shop = opts.shop.includes('.') ? opts.shop.toLowerCase() : `${opts.shop.toLowerCase()}.myshopify.com`
  const base = opts.baseUrl ?? `https://${shop}`
  const now = opts.now ?? (() => new Date())
  const offset = opts.utcOffsetMinutes ?? 480

  const state = {
    /** The Admin API token the app holds now: reinstalling the app issues a new one and the old is refused (401). */
    accessToken: opts.accessToken,
    requests: [] as SimRequest[],
    /** Every request answers 503 while true. */
    down: false,
    /** The next this many requests answer 429 with Retry-After. */
    rateLimitNext: 0,
    retryAfterSeconds: 1,
    latencyMs: opts.latencyMs ?? 0,
    bucket: {
      maximumAvailable: opts.bucket?.maximumAvailable ?? 2000,
      restoreRate: opts.bucket?.restoreRate ?? 100,
      currentlyAvailable: opts.bucket?.maximumAvailable ?? 2000,
      /** performance.now() of currentlyAvailable. */
      at: performance.now(),
    },
    scopes: new Set(opts.scopes ?? ALL_SCOPES),
    locations: new Map<string, SimLocation>(),
    products: new Map<string, SimProduct>(),
    /** In creation order, which is the order productVariants lists them. */
    variants: [] as SimVariant[],
    variantsById: new Map<string, SimVariant>(),
    items: new Map<string, SimItem>(),
    itemsBySku: new Map<string, SimItem>(),
    orders: new Map<string, SimOrder>(),
    subscriptions: new Map<string, SimSubscription>(),
    idempotency: new Map<string, IdempotentEntry>(),
    /** Every applied inventorySetQuantities call. */
    adjustments: [] as { id: string; reason: string; referenceDocumentUri: string | null; at: Date; changes: { inventoryItemId: string; locationId: string; delta: number; quantityAfterChange: number }[] }[],
    /** inventory_levels/update deliveries caused by API writes (Shopify sends those too: the echo of our own writes); the latest 10 000. */
    pendingWebhooks: [] as WebhookDelivery[],
  }

  let serial = 0
  const ids = { Product: 7_400_000_000, ProductVariant: 42_100_000_000, InventoryItem: 44_200_000_000, Location: 70_300_000, Order: 5_600_000_000, LineItem: 13_700_000_000, Refund: 910_000_000, RefundLineItem: 520_000_000, FulfillmentOrder: 6_800_000_000, FulfillmentOrderLineItem: 16_400_000_000, Fulfillment: 6_900_000_000, WebhookSubscription: 1_300_000_000, InventoryAdjustmentGroup: 31_000_000_000 }
  const newId = (type: keyof typeof ids) => {
    const legacyId = ids[type] + ++serial
    return { id: `gid://shopify/${type}/${legacyId}`, legacyId }
  }
  let orderNumber = 1000

  // ---- time formats ----
  /** GraphQL DateTime: UTC, whole seconds. */
  const gqlTime = (d: Date | null) => (d ? d.toISOString().replace(/\.\d{3}Z$/, 'Z') : null)
  /** REST timestamps: the shop's local time with its offset, as Shopify writes them. */
  const restTime = (d: Date | null) => {
    if (!d) return null
    const local = new Date(d.getTime() + offset * 60_000).toISOString().slice(0, 19)
    const sign = offset >= 0 ? '+' : '-'
    const abs = Math.abs(offset)
    return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
  }

  // ---- seeding ----

  function addLocation(name: string, o: { pickup?: boolean; active?: boolean } = {}): SimLocation {
    const { id, legacyId } = newId('Location')
    const loc: SimLocation = { id, legacyId, name, active: o.active ?? true, pickup: o.pickup ?? false }
    state.locations.set(id, loc)
    return loc
  }

  /** A product with its variants, each with an inventory item stocked at the locations of `levels` (available). */
  function addProduct(p: { title: string; variants: { sku: string | null; barcode?: string | null; title?: string; price?: string; tracked?: boolean; levels?: Record<string, number> }[] }) {
    const product = { ...newId('Product'), title: p.title, variantIds: [] as string[] }
    state.products.set(product.id, product)
    const variants = p.variants.map((v, i) => {
      const variant = newId('ProductVariant')
      const item = newId('InventoryItem')
      const levels = new Map<string, SimLevel>()
      for (const [locationId, available] of Object.entries(v.levels ?? {})) {
        if (!state.locations.has(locationId)) throw new Error(`no location ${locationId} in the sandbox`)
        levels.set(locationId, { available, committed: 0, updatedAt: now() })
      }
      const simVariant: SimVariant = {
        id: variant.id,
        legacyId: variant.legacyId,
        productId: product.id,
        sku: v.sku,
        barcode: v.barcode ?? null,
        title: v.title ?? (p.variants.length === 1 ? 'Default Title' : `Option ${i + 1}`),
        price: v.price ?? '99.00',
        inventoryItemId: item.id,
      }
      const simItem: SimItem = { id: item.id, legacyId: item.legacyId, variantId: variant.id, sku: v.sku, tracked: v.tracked ?? true, levels }
      state.variants.push(simVariant)
      state.variantsById.set(simVariant.id, simVariant)
      state.items.set(simItem.id, simItem)
      if (v.sku) state.itemsBySku.set(v.sku, simItem)
      product.variantIds.push(variant.id)
      return { variantId: variant.id, inventoryItemId: item.id, sku: v.sku }
    })
    return { productId: product.id, variants }
  }

  /** Deletes a product in the admin: its variants and inventory items go with it. */
  function removeProduct(productId: string): void {
    const product = state.products.get(productId)
    if (!product) throw new Error(`no product ${productId} in the sandbox`)
    for (const variantId of product.variantIds) {
      const variant = state.variantsById.get(variantId)!
      const item = state.items.get(variant.inventoryItemId)!
      state.variants.splice(state.variants.indexOf(variant), 1)
      state.variantsById.delete(variantId)
      state.items.delete(item.id)
      if (item.sku && state.itemsBySku.get(item.sku) === item) state.itemsBySku.delete(item.sku)
    }
    state.products.delete(productId)
  }

  const itemOf = (ref: string) => {
    const item = state.items.get(ref) ?? state.itemsBySku.get(ref) ?? state.items.get(state.variantsById.get(ref)?.inventoryItemId ?? '')
    if (!item) throw new Error(`no inventory item, SKU or variant ${ref} in the sandbox`)
    return item
  }

  /** The available quantity of an item (id, SKU or variant id) at a location; null when it is not stocked there. */
  function level(ref: string, locationId: string): number | null {
    return itemOf(ref).levels.get(locationId)?.available ?? null
  }

  // ---- webhooks ----

  function webhookDelivery(topic: string, payload: unknown, o: { eventId?: string; webhookId?: string; triggeredAt?: Date } = {}): WebhookDelivery {
    const body = JSON.stringify(payload)
    return {
      headers: {
        'content-type': 'application/json',
        'x-shopify-topic': topic,
        'x-shopify-hmac-sha256': createHmac('sha256', opts.webhookSecret).update(body).digest('base64'),
        'x-shopify-shop-domain': shop,
        'x-shopify-api-version': SHOPIFY_SANDBOX_VERSION,
        'x-shopify-webhook-id': o.webhookId ?? randomUUID(),
        'x-shopify-event-id': o.eventId ?? randomUUID(),
        'x-shopify-triggered-at': (o.triggeredAt ?? now()).toISOString(),
      },
      body,
    }
  }

  function levelPayload(item: SimItem, locationId: string) {
    const loc = state.locations.get(locationId)!
    const l = item.levels.get(locationId)!
    return {
      inventory_item_id: item.legacyId,
      location_id: loc.legacyId,
      available: item.tracked ? l.available : null,
      updated_at: restTime(l.updatedAt),
      admin_graphql_api_id: `gid://shopify/InventoryLevel/${loc.legacyId}?inventory_item_id=${item.legacyId}`,
    }
  }

  /** A stock change made on Shopify's side (the merchant's admin, an app): its `inventory_levels/update` delivery. */
  function setAvailable(ref: string, locationId: string, available: number, o: { at?: Date } = {}): WebhookDelivery {
    const item = itemOf(ref)
    const at = o.at ?? now()
    const l = item.levels.get(locationId)
    if (l) Object.assign(l, { available, updatedAt: at })
    else item.levels.set(locationId, { available, committed: 0, updatedAt: at })
    return webhookDelivery('inventory_levels/update', levelPayload(item, locationId), { triggeredAt: at })
  }

  function orderPayload(ref: string) {
    const o = state.orders.get(ref)
    if (!o) throw new Error(`no order ${ref} in the sandbox`)
    const loc = state.locations.get(o.locationId)!
    const refundedCash = o.refunds.flatMap((r) => r.lines).reduce((s, l) => s + Number(l.line.price) * l.quantity, 0)
    const total = o.lines.reduce((s, l) => s + Number(l.price) * l.quantity, 0)
    return {
      id: o.legacyId,
      admin_graphql_api_id: o.id,
      name: o.name,
      order_number: o.number,
      number: o.number - 1000,
      created_at: restTime(o.createdAt),
      updated_at: restTime(o.updatedAt),
      processed_at: restTime(o.createdAt),
      cancelled_at: restTime(o.cancelledAt),
      cancel_reason: o.cancelledAt ? 'customer' : null,
      closed_at: null,
      currency: 'CNY',
      total_price: total.toFixed(2),
      financial_status: o.cancelledAt || refundedCash >= total ? 'refunded' : refundedCash > 0 ? 'partially_refunded' : 'paid',
      fulfillment_status: o.fulfilled ? 'fulfilled' : o.fulfillments.length ? 'partial' : null,
      location_id: null,
      source_name: 'web',
      test: false,
      line_items: o.lines.map((l) => ({
        id: l.legacyId,
        admin_graphql_api_id: l.id,
        variant_id: state.variantsById.get(l.variantId)?.legacyId ?? null,
        product_id: state.products.get(state.variantsById.get(l.variantId)?.productId ?? '')?.legacyId ?? null,
        sku: l.sku ?? '',
        title: l.title,
        name: l.title,
        price: l.price,
        quantity: l.quantity,
        current_quantity: l.currentQuantity,
        fulfillable_quantity: o.fulfilled || o.cancelledAt ? 0 : Math.max(0, l.currentQuantity - l.fulfilledQuantity),
        fulfillment_status: l.fulfilledQuantity >= l.currentQuantity && l.currentQuantity > 0 ? 'fulfilled' : l.fulfilledQuantity > 0 ? 'partial' : null,
        requires_shipping: !o.pickup,
        gift_card: false,
      })),
      fulfillments: o.fulfillments.map((f) => ({
        id: f.legacyId,
        admin_graphql_api_id: f.id,
        order_id: o.legacyId,
        status: 'success',
        created_at: restTime(f.createdAt),
        location_id: state.locations.get(f.locationId)!.legacyId,
        line_items: f.lines.map(({ line, quantity }) => ({ id: line.legacyId, admin_graphql_api_id: line.id, sku: line.sku ?? '', quantity, fulfillment_status: 'fulfilled' })),
      })),
      refunds: o.refunds.map((r) => refundPayload(o, r)),
      shipping_lines: o.pickup ? [{ code: loc.name, title: loc.name, source: 'shopify', price: '0.00' }] : [{ code: 'Standard', title: 'Standard', source: 'shopify', price: '10.00' }],
    }
  }

  function refundPayload(o: SimOrder, r: SimRefund) {
    const restockedAt = (line: SimLine) => state.locations.get(partsOf(o, line).at(-1)?.fo.locationId ?? o.locationId)!.legacyId
    return {
      id: r.legacyId,
      admin_graphql_api_id: `gid://shopify/Refund/${r.legacyId}`,
      order_id: o.legacyId,
      created_at: restTime(r.createdAt),
      processed_at: restTime(r.createdAt),
      restock: r.restock,
      note: null,
      refund_line_items: r.lines.map((l) => ({
        id: l.legacyId,
        line_item_id: l.line.legacyId,
        quantity: l.quantity,
        restock_type: r.restock ? (o.fulfilled ? 'return' : 'cancel') : 'no_restock',
        location_id: r.restock ? restockedAt(l.line) : null,
        subtotal: (Number(l.line.price) * l.quantity).toFixed(2),
      })),
      transactions: [],
    }
  }

  // ---- orders ----

  /**
   * An online order (or a pickup at `pickupLocationId`): `available` drops and `committed` rises at the location
   * that fulfils it. Returns the order and its `orders/create` delivery (and the level deliveries it causes).
   * Shopify may route lines to other locations: a line's `locationId` ships it from there, and `from` splits it
   * (units per location, summing to its quantity); the order then has a fulfillment order per location.
   */
  function placeOrder(p: { lines: { item: string; quantity: number; locationId?: string; from?: Record<string, number> }[]; locationId?: string; pickupLocationId?: string; at?: Date }) {
    if (p.lines.length === 0) throw new Error('an order has lines')
    const at = p.at ?? now()
    const resolved = p.lines.map((l) => ({ item: itemOf(l.item), quantity: l.quantity }))
    const locationId = p.pickupLocationId ?? p.locationId ?? p.lines[0]!.locationId ?? Object.keys(p.lines[0]!.from ?? {})[0] ?? [...resolved[0]!.item.levels.keys()][0]
    if (!locationId || !state.locations.has(locationId)) throw new Error('the order needs a location that stocks its items')
    if (p.pickupLocationId && !state.locations.get(p.pickupLocationId)!.pickup) throw new Error(`${state.locations.get(p.pickupLocationId)!.name} does not offer local pickup`)
    const routes = p.lines.map((l) => {
      if (p.pickupLocationId && (l.locationId || l.from)) throw new Error('a pickup order is collected at one location')
      const from = l.from ?? { [l.locationId ?? locationId]: l.quantity }
      for (const [loc, n] of Object.entries(from)) if (!state.locations.has(loc) || !Number.isInteger(n) || n < 1) throw new Error(`cannot ship ${n} of ${l.item} from ${loc}`)
      if (Object.values(from).reduce((a, b) => a + b, 0) !== l.quantity) throw new Error(`the units of ${l.item} by location do not add up to ${l.quantity}`)
      return from
    })
    const { id, legacyId } = newId('Order')
    const number = ++orderNumber
    const lines: SimLine[] = resolved.map(({ item, quantity }) => {
      const variant = state.variantsById.get(item.variantId)!
      const product = state.products.get(variant.productId)!
      return {
        ...newId('LineItem'),
        variantId: variant.id,
        inventoryItemId: item.id,
        sku: item.sku,
        title: variant.title === 'Default Title' ? product.title : `${product.title} - ${variant.title}`,
        price: variant.price,
        quantity,
        currentQuantity: quantity,
        fulfilledQuantity: 0,
      }
    })
    // One fulfillment order per location, the order's own first.
    const fulfillmentOrders: SimFulfillmentOrder[] = []
    const foAt = (loc: string) => {
      let fo = fulfillmentOrders.find((f) => f.locationId === loc)
      if (!fo) fulfillmentOrders.push((fo = { id: newId('FulfillmentOrder').id, locationId: loc, lines: [] }))
      return fo
    }
    foAt(locationId)
    routes.forEach((from, i) => {
      for (const [loc, n] of Object.entries(from)) foAt(loc).lines.push({ id: newId('FulfillmentOrderLineItem').id, line: lines[i]!, quantity: n, fulfilled: 0 })
    })
    const order: SimOrder = { id, legacyId, name: `#${number}`, number, createdAt: at, updatedAt: at, cancelledAt: null, fulfilled: false, fulfillments: [], locationId, pickup: !!p.pickupLocationId, fulfillmentOrderId: fulfillmentOrders[0]!.id, fulfillmentOrders, lines, refunds: [] }
    state.orders.set(id, order)
    const levelDeliveries = fulfillmentOrders.flatMap((fo) => fo.lines.map((l) => moveStock(l.line.inventoryItemId, fo.locationId, -l.quantity, +l.quantity, at)))
    return { order, delivery: webhookDelivery('orders/create', orderPayload(id), { triggeredAt: at }), levelDeliveries }
  }

  /**
   * The fulfillment orders' parts of a line, each with the units of the line it still stands for: the line's current
   * quantity laid over them in order (units refunded or removed come off the last).
   */
  function partsOf(o: SimOrder, line: SimLine): { fo: SimFulfillmentOrder; part: SimFulfillmentOrderLine; quantity: number }[] {
    const parts = o.fulfillmentOrders.flatMap((fo) => fo.lines.filter((l) => l.line === line).map((part) => ({ fo, part, quantity: 0 })))
    let left = line.currentQuantity
    for (const x of parts) {
      x.quantity = Math.max(x.part.fulfilled, Math.min(x.part.quantity, left))
      left -= x.quantity
    }
    if (left > 0 && parts.length) parts[0]!.quantity += left
    return parts
  }

  function moveStock(itemId: string, locationId: string, availableDelta: number, committedDelta: number, at: Date): WebhookDelivery {
    const item = state.items.get(itemId)!
    let l = item.levels.get(locationId)
    if (!l) item.levels.set(locationId, (l = { available: 0, committed: 0, updatedAt: at }))
    if (item.tracked) {
      l.available += availableDelta
      l.committed += committedDelta
    }
    l.updatedAt = at
    return webhookDelivery('inventory_levels/update', levelPayload(item, locationId), { triggeredAt: at })
  }

  const orderOf = (ref: string) => {
    const o = state.orders.get(ref) ?? [...state.orders.values()].find((x) => x.name === ref)
    if (!o) throw new Error(`no order ${ref} in the sandbox`)
    return o
  }

  /** Cancels an order; with restock (the default) its units come back to `available`. Returns `orders/cancelled`. */
  function cancelOrder(ref: string, o: { restock?: boolean; at?: Date } = {}) {
    const order = orderOf(ref)
    const at = o.at ?? now()
    for (const l of order.lines) {
      if (!order.fulfilled && l.currentQuantity > 0) {
        for (const { fo, quantity } of partsOf(order, l)) if (quantity > 0) moveStock(l.inventoryItemId, fo.locationId, o.restock === false ? 0 : quantity, -quantity, at)
      }
      l.currentQuantity = 0
    }
    order.cancelledAt = at
    order.updatedAt = at
    return webhookDelivery('orders/cancelled', orderPayload(order.id), { triggeredAt: at })
  }

  /** Refunds units of some lines (restocked by default). Returns the `refunds/create` delivery. */
  function refundOrder(ref: string, p: { lines: { lineItemId: string; quantity: number }[]; restock?: boolean; at?: Date }) {
    const order = orderOf(ref)
    const at = p.at ?? now()
    const restock = p.restock ?? true
    const refund: SimRefund = { ...newId('Refund'), createdAt: at, restock, lines: [] }
    for (const r of p.lines) {
      const line = order.lines.find((l) => l.id === r.lineItemId || String(l.legacyId) === r.lineItemId)
      if (!line) throw new Error(`no line ${r.lineItemId} on ${order.name}`)
      const quantity = Math.min(r.quantity, line.currentQuantity)
      // Refunded units come off the line's last fulfillment order.
      const locationId = partsOf(order, line).at(-1)?.fo.locationId ?? order.locationId
      line.currentQuantity -= quantity
      refund.lines.push({ line, quantity, legacyId: newId('RefundLineItem').legacyId })
      if (restock) moveStock(line.inventoryItemId, locationId, quantity, order.fulfilled ? 0 : -quantity, at)
      else if (!order.fulfilled) moveStock(line.inventoryItemId, locationId, 0, -quantity, at)
    }
    order.refunds.push(refund)
    order.updatedAt = at
    return webhookDelivery('refunds/create', refundPayload(order, refund), { triggeredAt: at })
  }

  /**
   * Ships (or hands over) the order: all of what is left, or only `lines` (item SKU or id, units) as a fulfillment of
   * part of it, or (`locationId`) what one location ships of it: a fulfillment per fulfillment order. Committed units
   * leave; the order is fulfilled once every unit has. Returns the `orders/updated` delivery.
   */
  function fulfillOrder(ref: string, o: { at?: Date; lines?: { item: string; quantity: number }[]; locationId?: string } = {}) {
    const order = orderOf(ref)
    const at = o.at ?? now()
    const wanted = o.lines
      ? o.lines.map((x) => {
          const item = itemOf(x.item)
          const line = order.lines.find((l) => l.inventoryItemId === item.id)
          if (!line || x.quantity < 1 || line.fulfilledQuantity + x.quantity > line.currentQuantity) throw new Error(`cannot ship ${x.quantity} of ${x.item} on ${order.name}`)
          return { line, quantity: x.quantity }
        })
      : order.lines.filter((l) => l.currentQuantity > l.fulfilledQuantity).map((line) => ({ line, quantity: line.currentQuantity - line.fulfilledQuantity }))
    // Each line's units from its fulfillment orders in turn (only the one at `locationId` when given).
    const byLocation = new Map<string, { line: SimLine; quantity: number }[]>()
    for (const { line, quantity } of wanted) {
      let left = quantity
      for (const { fo, part, quantity: stands } of partsOf(order, line)) {
        if (o.locationId && fo.locationId !== o.locationId) continue
        const n = Math.min(left, stands - part.fulfilled)
        if (n <= 0) continue
        part.fulfilled += n
        left -= n
        byLocation.set(fo.locationId, [...(byLocation.get(fo.locationId) ?? []), { line, quantity: n }])
      }
      if (o.locationId) {
        // Without `lines`: all that location has of the order, and nothing else.
        if (left > 0 && o.lines) throw new Error(`cannot ship ${quantity} of ${line.sku} on ${order.name} from ${o.locationId}`)
        continue
      }
      // Units beyond what the fulfillment orders stand for (a line edited by hand) leave the order's location.
      if (left > 0) byLocation.set(order.locationId, [...(byLocation.get(order.locationId) ?? []), { line, quantity: left }])
    }
    for (const [locationId, shipped] of byLocation) {
      for (const { line, quantity } of shipped) {
        moveStock(line.inventoryItemId, locationId, 0, -quantity, at)
        line.fulfilledQuantity += quantity
      }
      order.fulfillments.push({ ...newId('Fulfillment'), createdAt: at, locationId, lines: shipped })
    }
    order.fulfilled = order.lines.every((l) => l.fulfilledQuantity >= l.currentQuantity)
    order.updatedAt = at
    return webhookDelivery('orders/updated', orderPayload(order.id), { triggeredAt: at })
  }

  // ---- the schema ----

  const locationNode = (l: SimLocation): Obj => ({ __typename: 'Location', __interfaces: ['Node'], id: l.id, legacyResourceId: String(l.legacyId), name: l.name, isActive: l.active, fulfillsOnlineOrders: l.active, hasActiveInventory: true })

  const quantitiesOf = (l: SimLevel, item: SimItem) => (a: Record<string, unknown>) => {
    const names = Array.isArray(a.names) ? (a.names as string[]) : []
    if (names.length === 0) throw new GraphqlFailure("Field 'quantities' is missing required arguments: names", { code: 'missingRequiredArguments' })
    const values: Record<string, number> = { available: l.available, committed: l.committed, on_hand: l.available + l.committed, incoming: 0, reserved: 0, damaged: 0, quality_control: 0, safety_stock: 0 }
    return names.map((name) => {
      if (!(name in values)) throw new GraphqlFailure(`Invalid quantity name '${name}'`, { code: 'BAD_REQUEST' })
      return { __typename: 'InventoryQuantity', name, quantity: item.tracked ? values[name] : 0, updatedAt: gqlTime(l.updatedAt) }
    })
  }

  const levelNode = (item: SimItem, locationId: string, l: SimLevel): Obj => {
    const loc = state.locations.get(locationId)!
    return {
      __typename: 'InventoryLevel',
      __interfaces: ['Node'],
      id: `gid://shopify/InventoryLevel/${loc.legacyId}?inventory_item_id=${item.legacyId}`,
      location: () => locationNode(loc),
      item: () => itemNode(item),
      quantities: quantitiesOf(l, item),
      updatedAt: gqlTime(l.updatedAt),
    }
  }

  const itemNode = (item: SimItem): Obj => ({
    __typename: 'InventoryItem',
    __interfaces: ['Node'],
    id: item.id,
    legacyResourceId: String(item.legacyId),
    sku: item.sku,
    tracked: item.tracked,
    variant: () => variantNode(state.variantsById.get(item.variantId)!),
    inventoryLevels: (a: Record<string, unknown>) => connection([...item.levels.entries()], a, ([loc, l]) => levelNode(item, loc, l), ([loc]) => loc),
    inventoryLevel: (a: Record<string, unknown>) => {
      const l = item.levels.get(String(a.locationId))
      return l ? levelNode(item, String(a.locationId), l) : null
    },
  })

  const productNode = (p: SimProduct): Obj => ({ __typename: 'Product', __interfaces: ['Node'], id: p.id, legacyResourceId: String(p.legacyId), title: p.title })

  const variantNode = (v: SimVariant): Obj => ({
    __typename: 'ProductVariant',
    __interfaces: ['Node'],
    id: v.id,
    legacyResourceId: String(v.legacyId),
    sku: v.sku,
    barcode: v.barcode,
    title: v.title,
    price: v.price,
    displayName: () => `${state.products.get(v.productId)!.title} - ${v.title}`,
    inventoryQuantity: () => [...state.items.get(v.inventoryItemId)!.levels.values()].reduce((s, l) => s + l.available, 0),
    product: () => productNode(state.products.get(v.productId)!),
    inventoryItem: () => itemNode(state.items.get(v.inventoryItemId)!),
  })

  const orderNode = (o: SimOrder): Obj => ({
    __typename: 'Order',
    __interfaces: ['Node'],
    id: o.id,
    legacyResourceId: String(o.legacyId),
    name: o.name,
    createdAt: gqlTime(o.createdAt),
    updatedAt: gqlTime(o.updatedAt),
    cancelledAt: gqlTime(o.cancelledAt),
    displayFulfillmentStatus: o.fulfilled ? 'FULFILLED' : o.fulfillments.length ? 'PARTIALLY_FULFILLED' : 'UNFULFILLED',
    lineItems: (a: Record<string, unknown>) => connection(o.lines, a, (l) => lineItemNode(o, l), (l) => l.id),
    fulfillmentOrders: (a: Record<string, unknown>) => connection(o.fulfillmentOrders, a, (fo) => fulfillmentOrderNode(o, fo), (fo) => fo.id),
  })

  const lineItemNode = (o: SimOrder, l: SimLine): Obj => ({
    __typename: 'LineItem',
    id: l.id,
    sku: l.sku,
    name: l.title,
    title: l.title,
    quantity: l.quantity,
    currentQuantity: l.currentQuantity,
    unfulfilledQuantity: o.cancelledAt ? 0 : Math.max(0, l.currentQuantity - l.fulfilledQuantity),
    variant: () => (state.variantsById.has(l.variantId) ? variantNode(state.variantsById.get(l.variantId)!) : null),
  })

  const fulfillmentOrderNode = (o: SimOrder, fo: SimFulfillmentOrder): Obj => {
    const parts = o.lines.flatMap((line) => partsOf(o, line).filter((x) => x.fo === fo))
    const remaining = (x: (typeof parts)[number]) => (o.cancelledAt ? 0 : Math.max(0, x.quantity - x.part.fulfilled))
    const location = state.locations.get(fo.locationId)!
    return {
      __typename: 'FulfillmentOrder',
      __interfaces: ['Node'],
      id: fo.id,
      status: o.cancelledAt ? 'CANCELLED' : parts.every((x) => remaining(x) === 0) ? 'CLOSED' : parts.some((x) => x.part.fulfilled > 0) ? 'IN_PROGRESS' : 'OPEN',
      deliveryMethod: { __typename: 'DeliveryMethod', methodType: o.pickup ? 'PICK_UP' : 'SHIPPING' },
      assignedLocation: { __typename: 'FulfillmentOrderAssignedLocation', name: location.name, location: () => locationNode(location) },
      lineItems: (a: Record<string, unknown>) =>
        connection(
          parts,
          a,
          (x): Obj => ({
            __typename: 'FulfillmentOrderLineItem',
            id: x.part.id,
            totalQuantity: x.quantity,
            remainingQuantity: remaining(x),
            sku: x.part.line.sku,
            inventoryItemId: x.part.line.inventoryItemId,
            lineItem: () => lineItemNode(o, x.part.line),
          }),
          (x) => x.part.id,
        ),
    }
  }

  const subscriptionNode = (s: SimSubscription): Obj => ({
    __typename: 'WebhookSubscription',
    __interfaces: ['Node'],
    id: s.id,
    legacyResourceId: String(s.legacyId),
    topic: s.topic,
    uri: s.uri,
    format: s.format,
    createdAt: gqlTime(s.createdAt),
    endpoint: { __typename: 'WebhookHttpEndpoint', callbackUrl: s.uri },
  })

  function nodeById(id: string): Obj | null {
    const type = /^gid:\/\/shopify\/([A-Za-z]+)\//.exec(id)?.[1]
    if (type === 'InventoryItem') return state.items.has(id) ? itemNode(state.items.get(id)!) : null
    if (type === 'ProductVariant') return state.variantsById.has(id) ? variantNode(state.variantsById.get(id)!) : null
    if (type === 'Product') return state.products.has(id) ? productNode(state.products.get(id)!) : null
    if (type === 'Location') return state.locations.has(id) ? locationNode(state.locations.get(id)!) : null
    if (type === 'Order') return state.orders.has(id) ? orderNode(state.orders.get(id)!) : null
    return null
  }

  /** `updated_at:>='…'` and `created_at:<…` terms of Shopify's search syntax. */
  function orderFilter(query: unknown): (o: SimOrder) => boolean {
    const terms = [...String(query ?? '').matchAll(/\b(updated_at|created_at):(>=|<=|>|<)?'?([^'\s]+)'?/g)]
    return (o) =>
      terms.every(([, field, op, value]) => {
        const t = (field === 'updated_at' ? o.updatedAt : o.createdAt).getTime()
        const v = new Date(value!).getTime()
        if (Number.isNaN(v)) return true
        return op === '>=' ? t >= v : op === '>' ? t > v : op === '<=' ? t <= v : op === '<' ? t < v : Math.floor(t / 86_400_000) === Math.floor(v / 86_400_000)
      })
  }

  const queryRoot: Obj = {
    __typename: 'QueryRoot',
    shop: () => ({ __typename: 'Shop', id: 'gid://shopify/Shop/1', name: shop.replace('.myshopify.com', ''), myshopifyDomain: shop, currencyCode: 'CNY', ianaTimezone: 'Asia/Shanghai' }),
    locations: (a: Record<string, unknown>) =>
      connection(
        [...state.locations.values()].filter((l) => l.active || a.includeInactive === true),
        a,
        locationNode,
        (l) => l.id,
      ),
    locationsCount: () => ({ __typename: 'Count', count: [...state.locations.values()].filter((l) => l.active).length, precision: 'EXACT' }),
    productVariants: (a: Record<string, unknown>) => connection(state.variants, a, variantNode, (v) => v.id),
    inventoryItem: (a: Record<string, unknown>) => (state.items.has(String(a.id)) ? itemNode(state.items.get(String(a.id))!) : null),
    nodes: (a: Record<string, unknown>) => {
      const list = Array.isArray(a.ids) ? (a.ids as string[]) : []
      if (list.length > MAX_INPUT_SIZE) throw new GraphqlFailure(`The input array size of ${list.length} is greater than the maximum allowed of ${MAX_INPUT_SIZE}.`, { code: 'MAX_INPUT_SIZE_EXCEEDED' })
      return list.map(nodeById)
    },
    node: (a: Record<string, unknown>) => nodeById(String(a.id)),
    order: (a: Record<string, unknown>) => (state.orders.has(String(a.id)) ? orderNode(state.orders.get(String(a.id))!) : null),
    fulfillmentOrder: (a: Record<string, unknown>) => {
      for (const o of state.orders.values()) {
        const fo = o.fulfillmentOrders.find((f) => f.id === String(a.id))
        if (fo) return fulfillmentOrderNode(o, fo)
      }
      return null
    },
    orders: (a: Record<string, unknown>) => {
      const match = orderFilter(a.query)
      const key = a.sortKey === 'UPDATED_AT' ? (o: SimOrder) => o.updatedAt.getTime() : a.sortKey === 'CREATED_AT' ? (o: SimOrder) => o.createdAt.getTime() : (o: SimOrder) => o.legacyId
      const list = [...state.orders.values()].filter(match).sort((x, y) => key(x) - key(y) || x.legacyId - y.legacyId)
      if (a.reverse === true) list.reverse()
      return connection(list, a, orderNode, (o) => o.id)
    },
    webhookSubscriptions: (a: Record<string, unknown>) => {
      const topics = Array.isArray(a.topics) ? (a.topics as string[]) : null
      return connection(
        [...state.subscriptions.values()].filter((s) => !topics || topics.includes(s.topic)),
        a,
        subscriptionNode,
        (s) => s.id,
      )
    },
  }

  const ROOT_SCOPES: Record<string, string[]> = {
    locations: ['read_locations'],
    locationsCount: ['read_locations'],
    productVariants: ['read_products'],
    inventoryItem: ['read_inventory'],
    nodes: ['read_products'],
    order: ['read_orders'],
    orders: ['read_orders'],
    inventorySetQuantities: ['write_inventory'],
  }

  // ---- mutations ----

  interface QuantityInput {
    inventoryItemId?: unknown
    locationId?: unknown
    quantity?: unknown
    changeFromQuantity?: unknown
  }
  type UserError = { __typename: string; code: string; field: string[] | null; message: string }

  function inventorySetQuantities(args: Record<string, unknown>, key: string | undefined, entry: SimRequest): Obj {
    if (!key) throw new GraphqlFailure('The @idempotent directive is required for this mutation as of API version 2026-04.', { code: 'BAD_REQUEST' })
    entry.idempotencyKey = key
    const input = (args.input ?? {}) as { name?: unknown; reason?: unknown; referenceDocumentUri?: unknown; quantities?: QuantityInput[] }
    const quantities = Array.isArray(input.quantities) ? input.quantities : []
    if (quantities.length > MAX_INPUT_SIZE) throw new GraphqlFailure(`The input array size of ${quantities.length} is greater than the maximum allowed of ${MAX_INPUT_SIZE}.`, { code: 'MAX_INPUT_SIZE_EXCEEDED' })
    const payload = (userErrors: UserError[], group: Obj | null): Obj => ({ __typename: 'InventorySetQuantitiesPayload', inventoryAdjustmentGroup: group, userErrors })
    const error = (code: string, field: string[] | null, message: string): UserError => ({ __typename: 'InventorySetQuantitiesUserError', code, field, message })

    const argsJson = stableJson(args)
    const earlier = state.idempotency.get(key)
    if (earlier) {
      if (earlier.args !== argsJson) return payload([error('IDEMPOTENCY_KEY_PARAMETER_MISMATCH', null, 'The same idempotency key cannot be used with different operation parameters.')], null)
      if (earlier.failed) return payload([error('IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED', null, 'A previous request with this idempotency key failed. Retry with a new idempotency key.')], null)
      entry.replayed = true
      return earlier.payload!
    }

    const errors: UserError[] = []
    if (input.name !== 'available' && input.name !== 'on_hand') errors.push(error('INVALID_NAME', ['input', 'name'], "The quantity name must be either 'available' or 'on_hand'."))
    if (typeof input.reason !== 'string' || !SET_REASONS.has(input.reason)) errors.push(error('INVALID_REASON', ['input', 'reason'], 'The specified reason is invalid.'))
    const ref = input.referenceDocumentUri
    if (ref !== undefined && ref !== null && (typeof ref !== 'string' || !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(ref) || ref.startsWith('gid://shopify/'))) {
      errors.push(error('INVALID_REFERENCE_DOCUMENT', ['input', 'referenceDocumentUri'], 'The specified reference document is invalid.'))
    }
    const seen = new Set<string>()
    quantities.forEach((q, i) => {
      const at = (f: string) => ['input', 'quantities', String(i), f]
      const item = state.items.get(String(q.inventoryItemId))
      const loc = state.locations.get(String(q.locationId))
      if (!item) return errors.push(error('INVALID_INVENTORY_ITEM', at('inventoryItemId'), 'The specified inventory item could not be found.'))
      if (!loc) return errors.push(error('INVALID_LOCATION', at('locationId'), 'The specified location could not be found.'))
      const pair = `${item.id}|${loc.id}`
      if (seen.has(pair)) return errors.push(error('NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR', at('inventoryItemId'), 'The combination of inventoryItemId and locationId must be unique.'))
      seen.add(pair)
      const l = item.levels.get(loc.id)
      if (!l) return errors.push(error('ITEM_NOT_STOCKED_AT_LOCATION', at('locationId'), 'The inventory item is not stocked at the location.'))
      if (!item.tracked) return errors.push(error('NON_MUTABLE_INVENTORY_ITEM', at('inventoryItemId'), 'The specified inventory item is not allowed to be adjusted via API.'))
      if (typeof q.quantity !== 'number' || !Number.isInteger(q.quantity)) return errors.push(error('INVALID_QUANTITY_TOO_LOW', at('quantity'), 'The quantity must be an integer.'))
      if (q.quantity < 0 && input.name === 'on_hand') return errors.push(error('INVALID_QUANTITY_NEGATIVE', at('quantity'), "The quantity can't be negative."))
      if (q.quantity > 1_000_000_000) return errors.push(error('INVALID_QUANTITY_TOO_HIGH', at('quantity'), "The quantity can't be higher than 1,000,000,000."))
      // 2026-04: changeFromQuantity is mandatory on every quantity (null opts that one out of the check).
      if (!('changeFromQuantity' in q)) return errors.push(error('COMPARE_QUANTITY_REQUIRED', at('changeFromQuantity'), 'The changeFromQuantity argument must be given to each quantity; pass null to opt out of the check.'))
      const current = input.name === 'on_hand' ? l.available + l.committed : l.available
      if (q.changeFromQuantity !== null && q.changeFromQuantity !== current) return errors.push(error('CHANGE_FROM_QUANTITY_STALE', at('changeFromQuantity'), 'The changeFromQuantity value does not match persisted value.'))
      return undefined
    })
    if (errors.length > 0) {
      state.idempotency.set(key, { args: argsJson, failed: true, payload: null })
      return payload(errors, null)
    }

    const at = now()
    const group = newId('InventoryAdjustmentGroup')
    const changes = quantities.map((q) => {
      const item = state.items.get(String(q.inventoryItemId))!
      const locationId = String(q.locationId)
      const l = item.levels.get(locationId)!
      const target = q.quantity as number
      const delta = input.name === 'on_hand' ? target - (l.available + l.committed) : target - l.available
      l.available += delta
      l.updatedAt = at
      state.pendingWebhooks.push(webhookDelivery('inventory_levels/update', levelPayload(item, locationId), { triggeredAt: at }))
      if (state.pendingWebhooks.length > 10_000) state.pendingWebhooks.shift()
      return { inventoryItemId: item.id, locationId, delta, quantityAfterChange: input.name === 'on_hand' ? l.available + l.committed : l.available }
    })
    state.adjustments.push({ id: group.id, reason: String(input.reason), referenceDocumentUri: (ref as string | null) ?? null, at, changes })
    const groupNode: Obj = {
      __typename: 'InventoryAdjustmentGroup',
      id: group.id,
      createdAt: gqlTime(at),
      reason: String(input.reason),
      referenceDocumentUri: ref ?? null,
      changes: () =>
        changes.map((c) => ({
          __typename: 'InventoryChange',
          name: String(input.name),
          delta: c.delta,
          quantityAfterChange: c.quantityAfterChange,
          item: () => itemNode(state.items.get(c.inventoryItemId)!),
          location: () => locationNode(state.locations.get(c.locationId)!),
        })),
    }
    const result = payload([], groupNode)
    state.idempotency.set(key, { args: argsJson, failed: false, payload: result })
    return result
  }

  function webhookSubscriptionCreate(args: Record<string, unknown>): Obj {
    const topic = String(args.topic)
    const input = (args.webhookSubscription ?? {}) as { uri?: unknown; callbackUrl?: unknown; format?: unknown }
    const uri = String(input.uri ?? input.callbackUrl ?? '')
    const fail = (field: string[], message: string): Obj => ({ __typename: 'WebhookSubscriptionCreatePayload', webhookSubscription: null, userErrors: [{ __typename: 'UserError', field, message }] })
    if (!WEBHOOK_TOPICS.has(topic)) throw new GraphqlFailure(`Variable $topic of type WebhookSubscriptionTopic! was provided invalid value`, { code: 'INVALID_VARIABLE' })
    if (!/^https:\/\/[^\s/]+/.test(uri)) return fail(['webhookSubscription', 'uri'], `Address protocol ${uri.split(':')[0] || '(none)'} is not supported`)
    if ([...state.subscriptions.values()].some((s) => s.topic === topic && s.uri === uri)) return fail(['webhookSubscription', 'uri'], 'Address for this topic has already been taken')
    const s: SimSubscription = { ...newId('WebhookSubscription'), topic, uri, format: String(input.format ?? 'JSON'), createdAt: now() }
    state.subscriptions.set(s.id, s)
    return { __typename: 'WebhookSubscriptionCreatePayload', webhookSubscription: subscriptionNode(s), userErrors: [] }
  }

  // ---- the endpoint ----

  /** The bucket after refilling since it was last looked at. */
  function bucketNow() {
    const b = state.bucket
    const t = performance.now()
    b.currentlyAvailable = Math.min(b.maximumAvailable, b.currentlyAvailable + ((t - b.at) / 1000) * b.restoreRate)
    b.at = t
    return b
  }
  const throttleStatus = () => {
    const b = bucketNow()
    return { maximumAvailable: b.maximumAvailable, currentlyAvailable: Math.floor(b.currentlyAvailable), restoreRate: b.restoreRate }
  }

  /** Empties the bucket down to `leave` points, as calls from elsewhere (another worker of the app) would. */
  function drainBucket(leave = 0) {
    const b = bucketNow()
    b.currentlyAvailable = Math.min(b.currentlyAvailable, leave)
  }

  function requestedCost(op: Operation, vars: Record<string, unknown>, doc: Document): number {
    if (op.type !== 'mutation') return selectionCost(op.selections, vars, doc)
    let total = 0
    for (const f of fieldsOf(op.selections, 'Mutation', doc)) {
      const args = resolveArgs(f.args, vars)
      const quantities = (args.input as { quantities?: unknown[] } | undefined)?.quantities
      total += 10 + (f.name === 'inventorySetQuantities' && Array.isArray(quantities) ? quantities.length : 0)
    }
    return total
  }

  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => HttpResponse.json(body as Record<string, unknown>, { status, headers: { 'x-request-id': randomUUID(), ...headers } })

  async function answer(request: Request, version: string): Promise<Response> {
    const entry: SimRequest = { at: new Date(), status: 0, answer: 'ok', operationName: null, rootFields: [], variables: {} }
    state.requests.push(entry)
    const done = (status: number, body: unknown, a: SimRequest['answer'], headers?: Record<string, string>) => {
      entry.status = status
      entry.answer = a
      return json(status, body, headers)
    }
    if (state.down) return done(503, { errors: 'Service Unavailable' }, 'down')
    if (state.rateLimitNext > 0) {
      state.rateLimitNext--
      return done(429, { errors: 'Exceeded 2 calls per second for api client. Reduce request rates to resume uninterrupted service.' }, 'rate_limited', { 'retry-after': state.retryAfterSeconds.toFixed(1) })
    }
    if (request.headers.get('x-shopify-access-token') !== state.accessToken) return done(401, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' }, 'unauthorized')
    if (version !== SHOPIFY_SANDBOX_VERSION) return done(404, { errors: 'Not Found' }, 'error')

    let body: { query?: unknown; variables?: unknown; operationName?: unknown }
    try {
      body = (await request.json()) as typeof body
    } catch {
      return done(400, { errors: { query: 'Required parameter missing or invalid' } }, 'error')
    }
    const fail = (e: GraphqlFailure) => {
      entry.errorCode = String(e.extensions.code ?? 'GRAPHQL_PARSE_FAILED')
      return done(200, { errors: [{ message: e.message, extensions: e.extensions }] }, 'error')
    }
    if (typeof body.query !== 'string') return done(400, { errors: { query: 'Required parameter missing or invalid' } }, 'error')
    let doc: Document
    try {
      doc = parseDocument(body.query)
    } catch (e) {
      if (e instanceof GraphqlFailure) return fail(e)
      throw e
    }
    const op = typeof body.operationName === 'string' ? doc.operations.find((o) => o.name === body.operationName) : doc.operations.length === 1 ? doc.operations[0] : undefined
    if (!op) return fail(new GraphqlFailure('An operation name is required when the document has several operations', { code: 'BAD_REQUEST' }))
    entry.operationName = op.name ?? null
    entry.rootFields = fieldsOf(op.selections, undefined, doc).map((f) => f.name)
    const given = (body.variables && typeof body.variables === 'object' ? body.variables : {}) as Record<string, unknown>
    entry.variables = given
    const vars: Record<string, unknown> = {}
    for (const v of op.variables) {
      const value = given[v.name] !== undefined ? given[v.name] : v.defaultValue ? resolveValue(v.defaultValue, {}) : null
      if (value === null && v.type.endsWith('!')) return fail(new GraphqlFailure(`Variable $${v.name} of type ${v.type} was provided invalid value`, { code: 'INVALID_VARIABLE' }))
      vars[v.name] = value
    }
    for (const root of entry.rootFields) {
      const missing = (ROOT_SCOPES[root] ?? []).filter((s) => !state.scopes.has(s))
      if (missing.length > 0) return fail(new GraphqlFailure(`Access denied for ${root} field. Required access: \`${missing.join('` and `')}\` access scope.`, { code: 'ACCESS_DENIED', documentation: 'https://shopify.dev/api/usage/access-scopes' }))
    }

    let requested: number
    try {
      requested = requestedCost(op, vars, doc)
    } catch (e) {
      if (e instanceof GraphqlFailure) return fail(e)
      throw e
    }
    entry.requestedQueryCost = requested
    if (requested > MAX_SINGLE_QUERY_COST) {
      entry.errorCode = 'MAX_COST_EXCEEDED'
      return done(200, {
        errors: [{ message: `Query cost is ${requested}, which exceeds the single query max cost limit (${MAX_SINGLE_QUERY_COST}).`, extensions: { code: 'MAX_COST_EXCEEDED', cost: requested, maxCost: MAX_SINGLE_QUERY_COST } }],
        extensions: { cost: { requestedQueryCost: requested, actualQueryCost: null, throttleStatus: throttleStatus() } },
      }, 'error')
    }
    const b = bucketNow()
    if (requested > b.currentlyAvailable) {
      entry.errorCode = 'THROTTLED'
      entry.actualQueryCost = null
      return done(200, {
        errors: [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }],
        extensions: { cost: { requestedQueryCost: requested, actualQueryCost: null, throttleStatus: throttleStatus() } },
      }, 'throttled')
    }
    b.currentlyAvailable -= requested

    const ex: Execution = { vars, doc, actual: 0 }
    let data: Record<string, unknown>
    try {
      if (op.type === 'mutation') {
        const mutationRoot: Obj = {
          __typename: 'Mutation',
          inventorySetQuantities: (a: Record<string, unknown>) => {
            const f = fieldsOf(op.selections, 'Mutation', doc).find((x) => x.name === 'inventorySetQuantities')!
            const directive = f.directives.find((d) => d.name === 'idempotent')
            const key = directive?.args.key ? resolveValue(directive.args.key, vars) : undefined
            return inventorySetQuantities(a, typeof key === 'string' && key ? key : undefined, entry)
          },
          webhookSubscriptionCreate,
        }
        data = project(mutationRoot, op.selections, ex)
        ex.actual = requested
      } else if (op.type === 'query') {
        data = project(queryRoot, op.selections, ex)
      } else {
        throw new GraphqlFailure('Subscriptions are not supported', { code: 'BAD_REQUEST' })
      }
    } catch (e) {
      bucketNow().currentlyAvailable += requested
      if (e instanceof GraphqlFailure) return fail(e)
      throw e
    }
    const actual = Math.min(ex.actual, requested)
    bucketNow().currentlyAvailable += requested - actual
    entry.actualQueryCost = actual
    return done(200, { data, extensions: { cost: { requestedQueryCost: requested, actualQueryCost: actual, throttleStatus: throttleStatus() } } }, 'ok')
  }

  const handlers = [
    http.post(`${base}/admin/api/:version/graphql.json`, async ({ request, params }) => {
      if (state.latencyMs > 0) await delay(state.latencyMs)
      return answer(request, String(params.version))
    }),
  ]

  return {
    handlers,
    state,
    shop,
    addLocation,
    addProduct,
    removeProduct,
    level,
    setAvailable,
    placeOrder,
    cancelOrder,
    refundOrder,
    fulfillOrder,
    orderPayload,
    webhookDelivery,
    drainBucket,
    /** The requests that asked for an operation (by GraphQL operation name). */
    requestsFor: (operationName: string) => state.requests.filter((r) => r.operationName === operationName),
  }
}

export type ShopifySandbox = ReturnType<typeof shopifySandbox>
