// Shopify stock: locations, variants with their inventory items and `available` levels, reads of chosen items, and
// absolute writes through `inventorySetQuantities` with compare-and-set (`changeFromQuantity`, mandatory since
// 2026-04) under one `@idempotent` key per call. The mutation is atomic: one bad quantity and nothing is applied.
// https://shopify.dev/docs/api/admin-graphql/2026-04/mutations/inventorySetQuantities
import { createHash } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { v5 as uuidv5 } from 'uuid'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { Page, RemoteLevel, RemoteListing, RemoteLocation, StockWrite, StockWriteResult } from '../../framework/marketplace.ts'
import { allPages, connectionCost, MAX_INPUT_ITEMS, pageSizeFor, shopifyGraphql } from './graphql.ts'

type Ctx = ConnectorContext<unknown>

interface PageInfo {
  hasNextPage: boolean
  endCursor: string | null
}
interface LevelNode {
  location: { id: string }
  quantities: { name: string; quantity: number }[]
}
interface LevelsConnection {
  nodes: LevelNode[]
  pageInfo: PageInfo
}

const LEVEL_FIELDS = 'location { id } quantities(names: ["available"]) { name quantity }'
/** One level node: the node, its location and its quantities list. */
const LEVEL_NODE_COST = 3
/** Levels of one item asked for at most per query. */
const MAX_LEVELS_PER_ITEM = 50

const availableOf = (l: LevelNode) => l.quantities.find((q) => q.name === 'available')?.quantity ?? 0

// ---- locations --------------------------------------------------------------------------------------------------

const LOCATIONS = `query Locations($after: String) {
  locations(first: 250, after: $after, includeInactive: true) { nodes { id name isActive } pageInfo { hasNextPage endCursor } }
}`

export async function listLocations(ctx: Ctx): Promise<RemoteLocation[]> {
  const nodes = await allPages(async (after) => {
    const { data } = await shopifyGraphql<{ locations: { nodes: { id: string; name: string; isActive: boolean }[]; pageInfo: PageInfo } }>(ctx, {
      operation: 'Locations',
      query: LOCATIONS,
      variables: { after },
      cost: connectionCost(250, 1),
      idempotent: true,
    })
    return data.locations
  })
  return nodes.map((l) => ({ id: l.id, name: l.name, active: l.isActive }))
}

/** How many levels one item can have: the shop's active locations (at least 1, at most MAX_LEVELS_PER_ITEM). */
async function levelsPerItem(ctx: Ctx): Promise<number> {
  const { data } = await shopifyGraphql<{ locationsCount: { count: number } }>(ctx, {
    operation: 'LocationsCount',
    query: 'query LocationsCount { locationsCount { count } }',
    cost: 1,
    idempotent: true,
  })
  return Math.max(1, Math.min(MAX_LEVELS_PER_ITEM, data.locationsCount.count))
}

/** The levels of an item beyond the first page its listing query returned. */
const ITEM_LEVELS = `query InventoryItemLevels($id: ID!, $after: String) {
  inventoryItem(id: $id) { inventoryLevels(first: 250, after: $after) { nodes { ${LEVEL_FIELDS} } pageInfo { hasNextPage endCursor } } }
}`

async function remainingLevels(ctx: Ctx, itemId: string, after: string): Promise<LevelNode[]> {
  const more: LevelNode[] = []
  for (let cursor: string | null = after; cursor; ) {
    const { data }: { data: { inventoryItem: { inventoryLevels: LevelsConnection } | null } } = await shopifyGraphql(ctx, {
      operation: 'InventoryItemLevels',
      query: ITEM_LEVELS,
      variables: { id: itemId, after: cursor },
      cost: 1 + connectionCost(250, LEVEL_NODE_COST),
      idempotent: true,
    })
    const levels: LevelsConnection | undefined = data.inventoryItem?.inventoryLevels
    if (!levels) break
    more.push(...levels.nodes)
    cursor = levels.pageInfo.hasNextPage ? levels.pageInfo.endCursor : null
  }
  return more
}

async function completeLevels(ctx: Ctx, itemId: string, levels: LevelsConnection): Promise<LevelNode[]> {
  if (!levels.pageInfo.hasNextPage || !levels.pageInfo.endCursor) return levels.nodes
  return [...levels.nodes, ...(await remainingLevels(ctx, itemId, levels.pageInfo.endCursor))]
}

// ---- listings -----------------------------------------------------------------------------------------------------

const LISTINGS = `query ListListings($first: Int!, $after: String, $levels: Int!) {
  productVariants(first: $first, after: $after) {
    nodes {
      id sku barcode title
      product { id title }
      inventoryItem { id tracked inventoryLevels(first: $levels) { nodes { ${LEVEL_FIELDS} } pageInfo { hasNextPage endCursor } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}`

interface VariantNode {
  id: string
  sku: string | null
  barcode: string | null
  title: string
  product: { id: string; title: string }
  inventoryItem: { id: string; tracked: boolean; inventoryLevels: LevelsConnection }
}

/** Our cursor: Shopify's cursor plus the levels per item chosen on the first page, so every page asks the same. */
interface ListingCursor {
  after: string
  levels: number
}
const encodeCursor = (c: ListingCursor) => Buffer.from(JSON.stringify(c)).toString('base64url')
function decodeCursor(s: string): ListingCursor {
  try {
    const c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) as ListingCursor
    if (typeof c.after === 'string' && Number.isInteger(c.levels) && c.levels > 0) return c
  } catch {
    // reported below
  }
  throw new ConnectorError('permanent', 'this is not a cursor the Shopify connector gave')
}

/** A variant node: itself, its product, its inventory item and the item's levels connection. */
const variantCost = (levels: number) => 1 + 1 + 1 + connectionCost(levels, LEVEL_NODE_COST)

export async function listListings(ctx: Ctx, input: { cursor: string | null }): Promise<Page<RemoteListing>> {
  const cursor = input.cursor ? decodeCursor(input.cursor) : { after: null, levels: await levelsPerItem(ctx) }
  const first = pageSizeFor(variantCost(cursor.levels))
  const { data } = await shopifyGraphql<{ productVariants: { nodes: VariantNode[]; pageInfo: PageInfo } }>(ctx, {
    operation: 'ListListings',
    query: LISTINGS,
    variables: { first, after: cursor.after, levels: cursor.levels },
    cost: connectionCost(first, variantCost(cursor.levels)),
    idempotent: true,
  })
  const items: RemoteListing[] = []
  for (const v of data.productVariants.nodes) {
    const item = v.inventoryItem
    const levels = await completeLevels(ctx, item.id, item.inventoryLevels)
    items.push({
      externalId: item.id,
      externalIds: { productId: v.product.id, variantId: v.id, inventoryItemId: item.id },
      sku: v.sku || null,
      barcode: v.barcode || null,
      // A product without options has one variant titled "Default Title", which names nothing.
      title: v.title && v.title !== 'Default Title' ? `${v.product.title} - ${v.title}` : v.product.title,
      tracked: item.tracked,
      levels: levels.map((l) => ({ locationId: l.location.id, available: availableOf(l) })),
    })
  }
  const page = data.productVariants.pageInfo
  return { items, nextCursor: page.hasNextPage && page.endCursor ? encodeCursor({ after: page.endCursor, levels: cursor.levels }) : null }
}

// ---- reads --------------------------------------------------------------------------------------------------------

const LEVELS_AT = `query ReadLevelsAt($ids: [ID!]!, $locationId: ID!) {
  nodes(ids: $ids) { ... on InventoryItem { id inventoryLevel(locationId: $locationId) { quantities(names: ["available"]) { name quantity } } } }
}`
const LEVELS_ALL = `query ReadLevels($ids: [ID!]!, $levels: Int!) {
  nodes(ids: $ids) { ... on InventoryItem { id inventoryLevels(first: $levels) { nodes { ${LEVEL_FIELDS} } pageInfo { hasNextPage endCursor } } } }
}`

type ItemAt = { id: string; inventoryLevel: { quantities: { name: string; quantity: number }[] } | null } | null
type ItemAll = { id: string; inventoryLevels: LevelsConnection } | null

const chunks = <T>(list: T[], size: number): T[][] => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size))

/** The `available` levels of some inventory items, at one location or at all; items not stocked there have none. */
export async function readLevels(ctx: Ctx, input: { listings: { externalId: string }[]; locationId: string | null }): Promise<RemoteLevel[]> {
  const ids = [...new Set(input.listings.map((l) => l.externalId))]
  const out: RemoteLevel[] = []
  if (ids.length === 0) return out
  if (input.locationId) {
    // An item, its level at the location, the level's quantities.
    const perItem = 3
    for (const batch of chunks(ids, pageSizeFor(perItem))) {
      const { data } = await shopifyGraphql<{ nodes: ItemAt[] }>(ctx, {
        operation: 'ReadLevelsAt',
        query: LEVELS_AT,
        variables: { ids: batch, locationId: input.locationId },
        cost: batch.length * perItem,
        idempotent: true,
      })
      for (const item of data.nodes) {
        if (!item?.id || !item.inventoryLevel) continue
        out.push({ externalId: item.id, locationId: input.locationId, available: item.inventoryLevel.quantities.find((q) => q.name === 'available')?.quantity ?? 0 })
      }
    }
    return out
  }
  const levels = await levelsPerItem(ctx)
  const perItem = 1 + connectionCost(levels, LEVEL_NODE_COST)
  for (const batch of chunks(ids, pageSizeFor(perItem))) {
    const { data } = await shopifyGraphql<{ nodes: ItemAll[] }>(ctx, {
      operation: 'ReadLevels',
      query: LEVELS_ALL,
      variables: { ids: batch, levels },
      cost: batch.length * perItem,
      idempotent: true,
    })
    for (const item of data.nodes) {
      if (!item?.id || !item.inventoryLevels) continue
      for (const l of await completeLevels(ctx, item.id, item.inventoryLevels)) out.push({ externalId: item.id, locationId: l.location.id, available: availableOf(l) })
    }
  }
  return out
}

// ---- writes -------------------------------------------------------------------------------------------------------

const SET_QUANTITIES = `mutation InventorySetQuantities($input: InventorySetQuantitiesInput!, $idempotencyKey: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $idempotencyKey) {
    inventoryAdjustmentGroup { id }
    userErrors { code field message }
  }
}`

interface UserError {
  code: string | null
  field: string[] | null
  message: string
}

/** Our namespace for the call keys derived from the writes (uuid v5). */
const KEY_NAMESPACE = '6f1c1c44-58a4-4d77-9a3e-0f2f3c1b7a52'
const STALE = new Set(['CHANGE_FROM_QUANTITY_STALE', 'COMPARE_QUANTITY_STALE'])
/** Attempts with a fresh key after Shopify says the key's earlier attempt failed. */
const MAX_KEYS = 3
const MAX_CONCURRENT_WAITS = 3

/** The writes in the order we send them: by their own keys, so a retry of the same batch sends the same variables. */
const sendingOrder = (writes: StockWrite[]) => writes.map((w, i) => ({ w, i })).sort((a, b) => (a.w.idempotencyKey < b.w.idempotencyKey ? -1 : a.w.idempotencyKey > b.w.idempotencyKey ? 1 : a.i - b.i))

/**
 * One @idempotent key for the call: the same whenever the same writes are sent again (a job retry), so Shopify
 * replays the first answer instead of applying twice, and a different one for each fresh attempt Shopify asks for
 * after IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED. The writes' content is part of it, so a write sent again with a new
 * expected quantity (after a stale answer) is a new operation rather than a parameter mismatch.
 */
export function callIdempotencyKey(writes: StockWrite[], attempt = 0): string {
  const hash = createHash('sha256')
  for (const { w } of sendingOrder(writes)) hash.update([w.idempotencyKey, w.externalId, w.locationId, w.quantity, w.expected ?? 'null', w.reference].join('\u0000') + '\n')
  const digest = hash.digest('hex')
  return uuidv5(attempt === 0 ? digest : `${digest}#${attempt}`, KEY_NAMESPACE)
}

/** The index of the quantity a userError names (`["input","quantities","3","changeFromQuantity"]` → 3). */
function quantityIndex(field: string[] | null, count: number): number | null {
  if (!field || field[0] !== 'input' || field[1] !== 'quantities') return null
  const i = Number(field[2])
  return Number.isInteger(i) && i >= 0 && i < count ? i : null
}

export async function setLevels(ctx: Ctx, input: { writes: StockWrite[] }): Promise<StockWriteResult[]> {
  const { writes } = input
  if (writes.length === 0) return []
  if (writes.length > MAX_INPUT_ITEMS) throw new ConnectorError('permanent', `Shopify takes at most ${MAX_INPUT_ITEMS} quantities per call, not ${writes.length}: batch by traits.maxBatch`)
  const order = sendingOrder(writes)
  const sent = order.map((o) => o.w)
  const variables = {
    input: {
      name: 'available',
      reason: 'correction',
      // Shopify keeps one reference document per call (per adjustment group).
      referenceDocumentUri: sent[0]!.reference,
      // changeFromQuantity goes on every quantity; null opts that one out of the compare-and-set.
      quantities: sent.map((w) => ({ inventoryItemId: w.externalId, locationId: w.locationId, quantity: w.quantity, changeFromQuantity: w.expected })),
    },
  }

  let userErrors: UserError[] = []
  for (let attempt = 0, concurrent = 0; ; ) {
    const idempotencyKey = callIdempotencyKey(writes, attempt)
    const { data } = await shopifyGraphql<{ inventorySetQuantities: { inventoryAdjustmentGroup: { id: string } | null; userErrors: UserError[] } }>(ctx, {
      operation: 'InventorySetQuantities',
      query: SET_QUANTITIES,
      variables: { ...variables, idempotencyKey },
      cost: 10 + writes.length,
      idempotent: true,
    })
    userErrors = data.inventorySetQuantities.userErrors
    const codes = new Set(userErrors.map((e) => e.code))
    if (codes.has('IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED') && attempt + 1 < MAX_KEYS) {
      attempt++
      continue
    }
    if (codes.has('IDEMPOTENCY_CONCURRENT_REQUEST')) {
      if (++concurrent > MAX_CONCURRENT_WAITS) throw new ConnectorError('retryable', 'Shopify is still processing an earlier attempt of these writes', { vendorCode: 'IDEMPOTENCY_CONCURRENT_REQUEST', retryAfterMs: 1000 })
      await delay(500 * concurrent, undefined, { signal: ctx.signal })
      continue
    }
    break
  }
  if (userErrors.length === 0) return writes.map((w) => ({ status: 'ok', quantity: w.quantity }))

  // Results by position in the call, then put back in the caller's order.
  const bySent: (StockWriteResult | undefined)[] = new Array(sent.length)
  const callWide: UserError[] = []
  for (const e of userErrors) {
    const i = quantityIndex(e.field, sent.length)
    if (i === null) {
      callWide.push(e)
      continue
    }
    if (bySent[i]?.status === 'stale') continue
    // Shopify does not say what it holds: the sync reads the level again (readLevels) before it retries.
    bySent[i] = e.code && STALE.has(e.code) ? { status: 'stale', actual: null } : { status: 'failed', code: e.code ?? 'USER_ERROR', message: e.message, retryable: false }
  }
  const idempotency = callWide.find((e) => e.code === 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH' || e.code === 'IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED')
  if (idempotency) {
    // Shopify ran nothing; it holds the key for other quantities, or for failed attempts we already retried.
    return writes.map(() => ({ status: 'failed', code: idempotency.code!, message: idempotency.message, retryable: false }))
  }
  if (callWide.length > 0) {
    throw new ConnectorError('permanent', `Shopify refused the stock update: ${callWide.map((x) => `${x.code ?? 'error'}: ${x.message}`).join('; ')}`, { vendorCode: callWide[0]!.code ?? undefined })
  }
  const results: StockWriteResult[] = new Array(writes.length)
  order.forEach(({ i }, at) => {
    // The call is atomic: a write no error named was not applied either, and goes again as it is.
    results[i] = bySent[at] ?? { status: 'not_applied' }
  })
  return results
}
