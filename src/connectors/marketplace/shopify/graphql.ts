// The one way every Shopify capability calls the GraphQL Admin API: the pinned version, the calculated-cost leaky
// bucket (a per-connection estimate refreshed from each answer's `extensions.cost.throttleStatus`, waited on before
// a call that would not fit), and a THROTTLED answer waited out or reported as rate_limited.
// https://shopify.dev/docs/apps/build/apis/graphql-admin/rate-limits
import { setTimeout as delay } from 'node:timers/promises'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type Classified, type ErrorKind } from '../../framework/http-types.ts'

/** Every request pins this version, so a change on Shopify's side never changes what we send or parse. */
export const SHOPIFY_API_VERSION = '2026-04'
export const GRAPHQL_PATH = `/admin/api/${SHOPIFY_API_VERSION}/graphql.json`
/** Shopify refuses, before running it, a single query whose requested cost is above this. */
export const MAX_QUERY_COST = 1000
/** Input arrays (ids, quantities) take at most this many items. */
export const MAX_INPUT_ITEMS = 250
/** The longest the connector waits for the bucket itself; beyond it the call fails as rate_limited for the job to reschedule. */
export const MAX_THROTTLE_WAIT_MS = 30_000
const MAX_THROTTLED_ANSWERS = 5

export interface ThrottleStatus {
  maximumAvailable: number
  currentlyAvailable: number
  restoreRate: number
}

export interface QueryCost {
  requestedQueryCost: number
  actualQueryCost: number | null
  throttleStatus: ThrottleStatus
}

export interface GraphqlError {
  message: string
  path?: (string | number)[]
  extensions?: { code?: string; [k: string]: unknown }
}

interface GraphqlBody<T> {
  data?: T | null
  errors?: GraphqlError[] | string
  extensions?: { cost?: QueryCost }
}

// ---- cost estimates ---------------------------------------------------------------------------------------------
// Shopify's static cost: scalars and enums 0, an object 1, a connection 2 plus `first` times the cost of one node.

/** The requested cost of a connection of `first` nodes, each costing `perNode`. */
export const connectionCost = (first: number, perNode: number) => 2 + first * perNode

/** The most nodes of `perNode` each a connection may ask for while the whole query stays within MAX_QUERY_COST. */
export function pageSizeFor(perNode: number, fixed = 0, cap = MAX_INPUT_ITEMS): number {
  return Math.max(1, Math.min(cap, Math.floor((MAX_QUERY_COST - fixed - 2) / perNode)))
}

// ---- the bucket estimate ----------------------------------------------------------------------------------------

interface Bucket {
  maximumAvailable: number
  available: number
  restoreRate: number
  /** performance.now() of `available`. */
  at: number
}

/** The last known bucket of each connection (one app on one shop), shared by every call in this process. */
const buckets = new Map<string, Bucket>()

const projected = (b: Bucket, now: number) => Math.min(b.maximumAvailable, b.available + ((now - b.at) / 1000) * b.restoreRate)

/** Reserves `cost` points, returning how long to wait for them; concurrent callers queue behind each other. */
function reserve(connectionId: string, cost: number): number {
  const b = buckets.get(connectionId)
  if (!b || !(b.restoreRate > 0)) return 0
  const now = performance.now()
  const have = projected(b, now)
  b.available = have - cost
  b.at = now
  return b.available >= 0 ? 0 : Math.ceil((-b.available / b.restoreRate) * 1000)
}

function release(connectionId: string, cost: number) {
  const b = buckets.get(connectionId)
  if (b) b.available += cost
}

function learn(connectionId: string, status: ThrottleStatus | undefined) {
  if (!status || !Number.isFinite(status.currentlyAvailable) || !Number.isFinite(status.restoreRate)) return
  buckets.set(connectionId, { maximumAvailable: status.maximumAvailable, available: status.currentlyAvailable, restoreRate: status.restoreRate, at: performance.now() })
}

// ---- classification -----------------------------------------------------------------------------------------------

const CODE_KINDS: Record<string, ErrorKind> = {
  ACCESS_DENIED: 'auth_failed',
  SHOP_INACTIVE: 'permanent',
  MAX_COST_EXCEEDED: 'permanent',
  INTERNAL_SERVER_ERROR: 'retryable',
  SERVICE_UNAVAILABLE: 'retryable',
  TIMEOUT: 'retryable',
}

/**
 * The HTTP policy's classifier. GraphQL answers 200 with top-level `errors` when a request fails as a whole; a
 * THROTTLED answer is passed on as 'ok' because only the body says how long to wait (shopifyGraphql waits it out).
 */
export function classifyShopify(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status !== 200) return undefined
  const body = res.data as GraphqlBody<unknown> | string | null
  if (!body || typeof body !== 'object') return { kind: 'retryable', message: 'the answer is not JSON' }
  const errors = body.errors
  if (errors === undefined) return undefined
  if (typeof errors === 'string') return { kind: 'permanent', message: errors }
  if (errors.length === 0) return undefined
  const codes = errors.map((e) => e.extensions?.code).filter((c): c is string => typeof c === 'string')
  if (codes.length > 0 && codes.every((c) => c === 'THROTTLED')) return { kind: 'ok' }
  const code = codes.find((c) => c !== 'THROTTLED')
  return { kind: (code ? CODE_KINDS[code] : undefined) ?? 'permanent', vendorCode: code, message: errors.map((e) => e.message).join('; ') }
}

// ---- the call -----------------------------------------------------------------------------------------------------

export interface GraphqlRequest {
  /** The GraphQL operation name, also the call log's operation. */
  operation: string
  query: string
  variables?: Record<string, unknown>
  /** The requested cost we expect (see connectionCost), for the bucket estimate. */
  cost: number
  /** Safe to send twice (queries, and mutations carrying @idempotent); retried by the client after a 5xx or timeout. */
  idempotent: boolean
}

export interface GraphqlResult<T> {
  data: T
  cost?: QueryCost
}

const sleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal })

export async function shopifyGraphql<T>(ctx: ConnectorContext<unknown>, req: GraphqlRequest): Promise<GraphqlResult<T>> {
  // Our estimate of the cost, raised to Shopify's own figure once an answer says it.
  let cost = req.cost
  for (let throttled = 0; ; ) {
    const wait = reserve(ctx.connectionId, cost)
    if (wait > MAX_THROTTLE_WAIT_MS) {
      release(ctx.connectionId, cost)
      throw new ConnectorError('rate_limited', `Shopify ${req.operation}: the cost bucket needs ${Math.ceil(wait / 1000)} s to hold ${cost} points`, { retryAfterMs: wait, vendorCode: 'THROTTLED' })
    }
    if (wait > 0) await sleep(wait, ctx.signal)

    const res = await ctx.http.request<GraphqlBody<T>>({
      method: 'POST',
      url: GRAPHQL_PATH,
      data: { query: req.query, variables: req.variables ?? {}, operationName: req.operation },
      operation: req.operation,
      idempotent: req.idempotent,
      signal: ctx.signal,
    })
    const body = res.data
    const answered = body.extensions?.cost
    learn(ctx.connectionId, answered?.throttleStatus)
    const errors = Array.isArray(body.errors) ? body.errors : []
    if (errors.some((e) => e.extensions?.code === 'THROTTLED')) {
      throttled++
      const status = answered?.throttleStatus
      const requested = answered?.requestedQueryCost ?? cost
      cost = Math.max(cost, requested)
      const waitMs = status && status.restoreRate > 0 ? Math.ceil((Math.max(0, requested - status.currentlyAvailable) / status.restoreRate) * 1000) : 1000
      if (waitMs > MAX_THROTTLE_WAIT_MS || throttled >= MAX_THROTTLED_ANSWERS) {
        throw new ConnectorError('rate_limited', `Shopify ${req.operation} was throttled: ${requested} points needed, ${status?.currentlyAvailable ?? '?'} available`, {
          status: res.status,
          retryAfterMs: waitMs,
          vendorCode: 'THROTTLED',
        })
      }
      // The bucket estimate now says how long to wait: the next turn of the loop reserves against it.
      if (!status) await sleep(waitMs, ctx.signal)
      continue
    }
    if (errors.length > 0 || body.data === undefined || body.data === null) {
      throw new ConnectorError('permanent', `Shopify ${req.operation}: ${errors.map((e) => e.message).join('; ') || 'the answer has no data'}`, { status: res.status, vendorCode: errors[0]?.extensions?.code })
    }
    return { data: body.data, cost: answered }
  }
}

/** A Shopify global id: `gid://shopify/<Type>/<id>`. */
export const gid = (type: string, id: string | number) => `gid://shopify/${type}/${id}`

/** Every node of a connection page by page, `fetch` being given the cursor after the last page. */
export async function allPages<N>(fetch: (after: string | null) => Promise<{ nodes: N[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>): Promise<N[]> {
  const out: N[] = []
  for (let after: string | null = null; ; ) {
    const page = await fetch(after)
    out.push(...page.nodes)
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return out
    after = page.pageInfo.endCursor
  }
}
