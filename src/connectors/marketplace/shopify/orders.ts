// Shopify orders as the stock sync needs them: polled by `updated_at` (GraphQL, with each line's inventory item and
// the fulfillment orders that say which location ships it or where the buyer collects it; of an order Shopify split
// over several locations, which lines each of them ships), and read from the REST Order JSON that order webhooks
// carry. Both give the same global ids, so a webhook and a poll name one order.
import type { ConnectorContext } from '../../framework/define.ts'
import type { Page, RemoteOrder, RemoteOrderLine } from '../../framework/marketplace.ts'
import { connectionCost, gid, pageSizeFor, shopifyGraphql } from './graphql.ts'

type Ctx = ConnectorContext<unknown>

interface PageInfo {
  hasNextPage: boolean
  endCursor: string | null
}
interface LineNode {
  id: string
  sku: string | null
  currentQuantity: number
  unfulfilledQuantity: number
  variant: { inventoryItem: { id: string } | null } | null
}
interface FulfillmentOrderNode {
  status: string
  deliveryMethod: { methodType: string } | null
  assignedLocation: { location: { id: string } | null } | null
}
/** The units of one order line a fulfillment order ships (`remainingQuantity` of them still to go). */
interface FulfillmentOrderLineNode {
  lineItem: { id: string }
  totalQuantity: number
  remainingQuantity: number
}
type FulfillmentOrderLines = { nodes: FulfillmentOrderLineNode[]; pageInfo: PageInfo }
/** A fulfillment order of an order split over locations, with the order lines it ships. */
interface SplitFulfillmentOrderNode {
  id: string
  status: string
  assignedLocation: { location: { id: string } | null } | null
  lineItems: FulfillmentOrderLines
}
interface OrderNode {
  id: string
  name: string
  createdAt: string
  updatedAt: string
  cancelledAt: string | null
  displayFulfillmentStatus: string
  lineItems: { nodes: LineNode[]; pageInfo: PageInfo }
  fulfillmentOrders: { nodes: FulfillmentOrderNode[] }
}

const LINES_FIRST = 10
const FULFILLMENT_ORDERS_FIRST = 3
const LINE_FIELDS = 'id sku currentQuantity unfulfilledQuantity variant { inventoryItem { id } }'
/** A line, its variant and the variant's inventory item. */
const LINE_COST = 3
const ORDER_FIELDS = `fragment OrderFields on Order {
  id name createdAt updatedAt cancelledAt displayFulfillmentStatus
  lineItems(first: ${LINES_FIRST}) { nodes { ${LINE_FIELDS} } pageInfo { hasNextPage endCursor } }
  fulfillmentOrders(first: ${FULFILLMENT_ORDERS_FIRST}) { nodes { status deliveryMethod { methodType } assignedLocation { location { id } } } }
}`
/** An order, its lines and its fulfillment orders (each with its delivery method, assignment and location). */
const ORDER_COST = 1 + connectionCost(LINES_FIRST, LINE_COST) + connectionCost(FULFILLMENT_ORDERS_FIRST, 4)
const ORDERS_FIRST = pageSizeFor(ORDER_COST, 0, 50)

const LIST_ORDERS = `query ListOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, sortKey: UPDATED_AT, query: $query) { nodes { ...OrderFields } pageInfo { hasNextPage endCursor } }
}
${ORDER_FIELDS}`

const GET_ORDER = `query GetOrder($id: ID!) { order(id: $id) { ...OrderFields } }
${ORDER_FIELDS}`

const ORDER_LINES = `query OrderLines($id: ID!, $after: String) {
  order(id: $id) { lineItems(first: 250, after: $after) { nodes { ${LINE_FIELDS} } pageInfo { hasNextPage endCursor } } }
}`

// Which lines each fulfillment order ships is asked only of an order split over several locations (few are), so the
// order pages keep their size.
const FULFILLMENT_ORDER_LINES_FIRST = 50
const FULFILLMENT_ORDER_LINE_FIELDS = 'nodes { lineItem { id } totalQuantity remainingQuantity } pageInfo { hasNextPage endCursor }'
/** A fulfillment order line: the node and the order line it names. */
const FULFILLMENT_ORDER_LINE_COST = 2
const SPLIT_FULFILLMENT_ORDERS = `query SplitFulfillmentOrders($id: ID!) {
  order(id: $id) {
    fulfillmentOrders(first: ${FULFILLMENT_ORDERS_FIRST}) {
      nodes { id status assignedLocation { location { id } } lineItems(first: ${FULFILLMENT_ORDER_LINES_FIRST}) { ${FULFILLMENT_ORDER_LINE_FIELDS} } }
    }
  }
}`
/** The order, its fulfillment orders (each with its assignment and location) and their lines. */
const SPLIT_FULFILLMENT_ORDERS_COST = 1 + connectionCost(FULFILLMENT_ORDERS_FIRST, 3 + connectionCost(FULFILLMENT_ORDER_LINES_FIRST, FULFILLMENT_ORDER_LINE_COST))
const FULFILLMENT_ORDER_LINES = `query FulfillmentOrderLines($id: ID!, $after: String) {
  fulfillmentOrder(id: $id) { lineItems(first: 250, after: $after) { ${FULFILLMENT_ORDER_LINE_FIELDS} } }
}`

const iso = (t: string) => new Date(t).toISOString()

async function allLines(ctx: Ctx, order: OrderNode): Promise<LineNode[]> {
  const lines = [...order.lineItems.nodes]
  for (let after = order.lineItems.pageInfo.hasNextPage ? order.lineItems.pageInfo.endCursor : null; after; ) {
    const { data } = await shopifyGraphql<{ order: { lineItems: { nodes: LineNode[]; pageInfo: PageInfo } } | null }>(ctx, {
      operation: 'OrderLines',
      query: ORDER_LINES,
      variables: { id: order.id, after },
      cost: 1 + connectionCost(250, LINE_COST),
      idempotent: true,
    })
    if (!data.order) break
    lines.push(...data.order.lineItems.nodes)
    after = data.order.lineItems.pageInfo.hasNextPage ? data.order.lineItems.pageInfo.endCursor : null
  }
  return lines
}

function statusOf(cancelledAt: string | null, fulfilled: boolean): RemoteOrder['status'] {
  if (cancelledAt) return 'cancelled'
  return fulfilled ? 'fulfilled' : 'open'
}

/** The fulfillment orders of an order split over locations, each with every line it ships; null when it is gone. */
async function splitFulfillmentOrders(ctx: Ctx, orderId: string): Promise<{ status: string; locationId: string | null; lines: FulfillmentOrderLineNode[] }[] | null> {
  const { data } = await shopifyGraphql<{ order: { fulfillmentOrders: { nodes: SplitFulfillmentOrderNode[] } } | null }>(ctx, {
    operation: 'SplitFulfillmentOrders',
    query: SPLIT_FULFILLMENT_ORDERS,
    variables: { id: orderId },
    cost: SPLIT_FULFILLMENT_ORDERS_COST,
    idempotent: true,
  })
  if (!data.order) return null
  const out = []
  for (const fo of data.order.fulfillmentOrders.nodes) {
    const lines = [...fo.lineItems.nodes]
    for (let after = fo.lineItems.pageInfo.hasNextPage ? fo.lineItems.pageInfo.endCursor : null; after; ) {
      const more = await shopifyGraphql<{ fulfillmentOrder: { lineItems: FulfillmentOrderLines } | null }>(ctx, {
        operation: 'FulfillmentOrderLines',
        query: FULFILLMENT_ORDER_LINES,
        variables: { id: fo.id, after },
        cost: 1 + connectionCost(250, FULFILLMENT_ORDER_LINE_COST),
        idempotent: true,
      })
      const page = more.data.fulfillmentOrder?.lineItems
      if (!page) break
      lines.push(...page.nodes)
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null
    }
    out.push({ status: fo.status, locationId: fo.assignedLocation?.location?.id ?? null, lines })
  }
  return out
}

/** Units of each order line per remote location, from the fulfillment orders that name it (shipped ones too). */
function unitsByLocation(fulfillmentOrders: { status: string; locationId: string | null; lines: FulfillmentOrderLineNode[] }[]): Map<string, Map<string, { total: number; remaining: number }>> {
  const out = new Map<string, Map<string, { total: number; remaining: number }>>()
  for (const fo of fulfillmentOrders) {
    const locationId = fo.locationId
    if (!locationId || fo.status === 'CANCELLED') continue
    for (const l of fo.lines) {
      if (l.totalQuantity <= 0) continue
      const byLocation = out.get(l.lineItem.id) ?? new Map<string, { total: number; remaining: number }>()
      const at = byLocation.get(locationId) ?? { total: 0, remaining: 0 }
      byLocation.set(locationId, { total: at.total + l.totalQuantity, remaining: at.remaining + Math.max(0, l.remainingQuantity) })
      out.set(l.lineItem.id, byLocation)
    }
  }
  return out
}

/**
 * Where a line of an order split over several locations ships from: one location, or its units per location (at
 * most the line's quantity, the rest at the first). Nothing when its fulfillment orders do not name it (beyond the
 * lines asked for): the order's location, unknown here, stands for it.
 */
function linePlace(quantity: number, units: Map<string, { total: number; remaining: number }> | undefined): Pick<RemoteOrderLine, 'locationId' | 'split'> {
  if (!units || units.size === 0) return {}
  const parts: { locationId: string; quantity: number; shipped: number }[] = []
  let left = quantity
  for (const [locationId, u] of units) {
    const n = Math.min(u.total, left)
    left -= n
    parts.push({ locationId, quantity: n, shipped: Math.min(n, u.total - u.remaining) })
  }
  parts[0]!.quantity += left
  const live = parts.filter((p) => p.quantity > 0)
  if (live.length <= 1) return { locationId: (live[0] ?? parts[0]!).locationId }
  return { split: live }
}

async function toRemoteOrder(ctx: Ctx, o: OrderNode): Promise<RemoteOrder> {
  // A cancelled fulfillment order no longer says where the goods come from.
  const live = o.fulfillmentOrders.nodes.filter((f) => f.status !== 'CANCELLED')
  const fo = live[0] ?? o.fulfillmentOrders.nodes[0]
  const pickup = fo?.deliveryMethod?.methodType === 'PICK_UP'
  // Shopify splits an order over several locations with a fulfillment order for each: then each line says where it
  // ships from, and the order names no one location.
  const locations = new Set(live.map((f) => f.assignedLocation?.location?.id).filter((x): x is string => !!x))
  const split = !pickup && locations.size > 1
  const assigned = split ? null : (fo?.assignedLocation?.location?.id ?? null)
  const fulfillmentOrders = split ? await splitFulfillmentOrders(ctx, o.id) : null
  const units = fulfillmentOrders ? unitsByLocation(fulfillmentOrders) : null
  // Units of a line still taken and not fulfilled yet: the rest of it has shipped (an order fulfilled in part).
  const lines: RemoteOrderLine[] = (await allLines(ctx, o)).map((l) => ({
    id: l.id,
    sku: l.sku || null,
    externalId: l.variant?.inventoryItem?.id ?? null,
    quantity: l.currentQuantity,
    shipped: Math.max(0, l.currentQuantity - l.unfulfilledQuantity),
    ...(units ? linePlace(l.currentQuantity, units.get(l.id)) : {}),
  }))
  return {
    id: o.id,
    name: o.name,
    status: statusOf(o.cancelledAt, o.displayFulfillmentStatus === 'FULFILLED'),
    updatedAt: iso(o.updatedAt),
    placedAt: iso(o.createdAt),
    locationId: pickup ? null : assigned,
    pickupLocationId: pickup ? assigned : null,
    lines,
  }
}

export async function listOrders(ctx: Ctx, input: { updatedSince: Date; cursor: string | null }): Promise<Page<RemoteOrder>> {
  const { data } = await shopifyGraphql<{ orders: { nodes: OrderNode[]; pageInfo: PageInfo } }>(ctx, {
    operation: 'ListOrders',
    query: LIST_ORDERS,
    variables: { first: ORDERS_FIRST, after: input.cursor, query: `updated_at:>='${input.updatedSince.toISOString()}'` },
    cost: connectionCost(ORDERS_FIRST, ORDER_COST),
    idempotent: true,
  })
  const items: RemoteOrder[] = []
  for (const o of data.orders.nodes) items.push(await toRemoteOrder(ctx, o))
  const page = data.orders.pageInfo
  return { items, nextCursor: page.hasNextPage ? page.endCursor : null }
}

export async function getOrder(ctx: Ctx, input: { id: string }): Promise<RemoteOrder | null> {
  const id = /^\d+$/.test(input.id) ? gid('Order', input.id) : input.id
  const { data } = await shopifyGraphql<{ order: OrderNode | null }>(ctx, { operation: 'GetOrder', query: GET_ORDER, variables: { id }, cost: ORDER_COST, idempotent: true })
  return data.order ? toRemoteOrder(ctx, data.order) : null
}

// ---- REST Order JSON (webhooks) ---------------------------------------------------------------------------------

interface RestLine {
  id: number
  admin_graphql_api_id?: string
  sku?: string | null
  quantity: number
  current_quantity?: number
  variant_id?: number | null
}
export interface RestOrder {
  id: number
  admin_graphql_api_id?: string
  name: string
  created_at?: string
  updated_at: string
  cancelled_at: string | null
  fulfillment_status: string | null
  location_id?: number | null
  line_items: RestLine[]
  /** Shipments: a successful one's lines left (an order fulfilled in part lists only some). */
  fulfillments?: { status?: string; line_items?: { id: number; quantity: number }[] }[]
  refunds?: { refund_line_items?: { line_item_id: number; quantity: number; restock_type?: string }[] }[]
}

/** Units refunded per line, for payloads of versions without `current_quantity`. */
function refundedUnits(o: RestOrder): Map<number, number> {
  const out = new Map<number, number>()
  for (const r of o.refunds ?? []) for (const l of r.refund_line_items ?? []) out.set(l.line_item_id, (out.get(l.line_item_id) ?? 0) + l.quantity)
  return out
}

/** Units shipped per line by the order's successful fulfillments; null when the payload lists none. */
function shippedUnits(o: RestOrder): Map<number, number> | null {
  if (!o.fulfillments) return null
  const out = new Map<number, number>()
  for (const f of o.fulfillments) {
    if (f.status !== undefined && f.status !== 'success') continue
    for (const l of f.line_items ?? []) out.set(l.id, (out.get(l.id) ?? 0) + l.quantity)
  }
  return out
}

/**
 * The order a webhook carries. The REST payload names neither the line's inventory item nor the fulfillment orders,
 * so lines have no externalId and a pickup is not recognised here (getOrder tells both).
 */
export function orderFromRest(o: RestOrder): RemoteOrder {
  const refunded = refundedUnits(o)
  const shipped = shippedUnits(o)
  return {
    id: o.admin_graphql_api_id ?? gid('Order', o.id),
    name: o.name,
    status: statusOf(o.cancelled_at, o.fulfillment_status === 'fulfilled'),
    updatedAt: iso(o.updated_at),
    placedAt: o.created_at ? iso(o.created_at) : null,
    // Set on orders taken at a Shopify POS location; online orders have none.
    locationId: o.location_id ? gid('Location', o.location_id) : null,
    pickupLocationId: null,
    lines: (o.line_items ?? []).map((l) => ({
      id: l.admin_graphql_api_id ?? gid('LineItem', l.id),
      sku: l.sku || null,
      externalId: null,
      quantity: l.current_quantity ?? Math.max(0, l.quantity - (refunded.get(l.id) ?? 0)),
      ...(shipped ? { shipped: shipped.get(l.id) ?? 0 } : {}),
    })),
  }
}
