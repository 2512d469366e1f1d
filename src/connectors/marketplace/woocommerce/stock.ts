// WooCommerce listings and stock: products page by page (variable products expanded into their variations), levels
// read by `include=` ids, and absolute writes through the batch endpoints, 100 items per request by default.
// WooCommerce has no compare-and-set: `expected` is not sent, and a web sale between our read and our write is
// overwritten (the sync keeps a buffer for such channels).
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type HttpResponse } from '../../framework/http-types.ts'
import { SINGLE_LOCATION, type Page, type RemoteLevel, type RemoteListing, type StockWrite, type StockWriteResult } from '../../framework/marketplace.ts'
import {
  nextPage,
  productListing,
  STOCKLESS_TYPES,
  variationListing,
  WOO_PAGE_SIZE,
  type WooError,
  type WooProduct,
  type WooVariation,
} from './api.ts'

type Ctx = ConnectorContext<unknown>

const pageOf = (cursor: string | null): number => {
  if (cursor === null) return 1
  if (!/^[1-9]\d{0,6}$/.test(cursor)) throw new ConnectorError('permanent', `"${cursor}" is not a WooCommerce page cursor`)
  return Number(cursor)
}

async function allVariations(ctx: Ctx, parent: WooProduct): Promise<WooVariation[]> {
  const out: WooVariation[] = []
  for (let page: number | null = 1; page !== null; ) {
    const res: HttpResponse<WooVariation[]> = await ctx.http.request<WooVariation[]>({
      method: 'GET',
      url: `/products/${parent.id}/variations`,
      params: { per_page: WOO_PAGE_SIZE, page, orderby: 'id', order: 'asc' },
      operation: 'listVariations',
      signal: ctx.signal,
    })
    out.push(...res.data)
    page = res.data.length ? nextPage(res, page) : null
  }
  return out
}

/**
 * One page of products (by id, so a product added meanwhile lands on a later page), each simple product a listing,
 * each variable product replaced by its variations (and listed itself too when it holds the stock for them).
 */
export async function listListings(ctx: Ctx, input: { cursor: string | null }): Promise<Page<RemoteListing>> {
  const page = pageOf(input.cursor)
  const res = await ctx.http.request<WooProduct[]>({
    method: 'GET',
    url: '/products',
    params: { per_page: WOO_PAGE_SIZE, page, orderby: 'id', order: 'asc' },
    operation: 'listListings',
    signal: ctx.signal,
  })
  const items: RemoteListing[] = []
  for (const p of res.data) {
    if (STOCKLESS_TYPES.has(p.type)) continue
    if (p.type === 'variable' || p.type === 'variable-subscription') {
      if (p.manage_stock === true) items.push(productListing(p))
      if (p.variations?.length === 0) continue
      for (const v of await allVariations(ctx, p)) items.push(variationListing(p, v))
    } else items.push(productListing(p))
  }
  const next = res.data.length ? nextPage(res, page) : null
  return { items, nextCursor: next === null ? null : String(next) }
}

type ListingRef = { externalId: string; externalIds: Record<string, string> }

const isVariation = (l: ListingRef) => l.externalIds.variationId !== undefined && l.externalIds.productId !== undefined && l.externalIds.productId !== l.externalIds.variationId

const chunks = <T>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n))

const groupByParent = <T extends { externalIds: Record<string, string> }>(xs: T[]): Map<string, T[]> => {
  const out = new Map<string, T[]>()
  for (const x of xs) {
    const parent = x.externalIds.productId!
    out.set(parent, [...(out.get(parent) ?? []), x])
  }
  return out
}

/**
 * Current levels: products by `GET /products?include=…`, variations by `GET /products/{parent}/variations?include=…`.
 * What the shop no longer lists (unknown ids, a product in the trash, the variations of one) is left out, as
 * listListings leaves it out: the listing pass asks here about a listing it did not see before taking it for gone.
 */
export async function readLevels(ctx: Ctx, input: { listings: ListingRef[]; locationId: string | null }): Promise<RemoteLevel[]> {
  if (input.locationId !== null && input.locationId !== SINGLE_LOCATION) return []
  const out: RemoteLevel[] = []
  const push = (rows: { id: number; stock_quantity: number | null }[]) => {
    for (const r of rows) out.push({ externalId: String(r.id), locationId: SINGLE_LOCATION, available: r.stock_quantity ?? 0 })
  }
  const products = async (ids: string[]) => {
    const found: WooProduct[] = []
    for (const batch of chunks([...new Set(ids)], WOO_PAGE_SIZE)) {
      const res = await ctx.http.request<WooProduct[]>({ method: 'GET', url: '/products', params: { include: batch.join(','), per_page: WOO_PAGE_SIZE }, operation: 'readLevels', signal: ctx.signal })
      found.push(...res.data)
    }
    return found
  }
  push(await products(input.listings.filter((l) => !isVariation(l)).map((l) => l.externalId)))
  const byParent = groupByParent(input.listings.filter(isVariation))
  // A variation's parent must still be listed (not trashed or deleted) for the variation to be.
  const parents = byParent.size ? new Set((await products([...byParent.keys()])).map((p) => String(p.id))) : new Set<string>()
  for (const [parent, listings] of byParent) {
    if (!parents.has(parent)) continue
    for (const ids of chunks([...new Set(listings.map((l) => l.externalId))], WOO_PAGE_SIZE)) {
      const res = await ctx.http.request<WooVariation[]>({
        method: 'GET',
        url: `/products/${parent}/variations`,
        params: { include: ids.join(','), per_page: WOO_PAGE_SIZE },
        operation: 'readLevels',
        signal: ctx.signal,
      })
      push(res.data)
    }
  }
  return out
}

type BatchItem = { id: number; stock_quantity?: number | null; error?: WooError }

const failed = (code: string, message: string, retryable = false): StockWriteResult => ({ status: 'failed', code, message, retryable })

/**
 * Absolute writes, at most WOO_PAGE_SIZE per call: simple products in one `POST /products/batch`, variations in one
 * `POST /products/{parent}/variations/batch` per parent. An item WooCommerce refuses comes back inside `update[]`
 * as `{ id, error }` and fails alone (retryable when its status is 5xx). A refused request (413 over the shop's
 * batch limit, auth) throws. An absolute set is safe to repeat, so the batch POSTs are retried like reads.
 */
export async function setLevels(ctx: Ctx, input: { writes: StockWrite[] }): Promise<StockWriteResult[]> {
  const { writes } = input
  if (writes.length > WOO_PAGE_SIZE) throw new ConnectorError('permanent', `WooCommerce takes at most ${WOO_PAGE_SIZE} stock writes per call, not ${writes.length}`)
  const results: (StockWriteResult | undefined)[] = new Array(writes.length)
  const groups = new Map<string, { url: string; at: number[] }>()
  for (const [i, w] of writes.entries()) {
    if (w.locationId !== SINGLE_LOCATION) results[i] = failed('unknown_location', `WooCommerce keeps one stock per listing (location "${SINGLE_LOCATION}"), not "${w.locationId}"`)
    else if (!Number.isSafeInteger(w.quantity)) results[i] = failed('invalid_quantity', `${w.quantity} is not a whole number of units`)
    else if (!/^\d+$/.test(w.externalId) || (isVariation(w) && !/^\d+$/.test(w.externalIds.productId!))) results[i] = failed('invalid_id', `"${w.externalId}" is not a WooCommerce product or variation id`)
    else {
      const url = isVariation(w) ? `/products/${w.externalIds.productId}/variations/batch` : '/products/batch'
      const g = groups.get(url) ?? { url, at: [] }
      g.at.push(i)
      groups.set(url, g)
    }
  }
  for (const { url, at } of groups.values()) {
    const update = at.map((i) => ({ id: Number(writes[i]!.externalId), stock_quantity: writes[i]!.quantity, manage_stock: true }))
    const res = await ctx.http.request<{ update?: BatchItem[] }>({ method: 'POST', url, data: { update }, operation: 'setLevels', idempotent: true, signal: ctx.signal })
    const answered = res.data?.update ?? []
    at.forEach((i, k) => {
      const id = update[k]!.id
      // WooCommerce answers in the order of the request; the id is checked all the same.
      const item = answered[k]?.id === id ? answered[k] : answered.find((a) => a?.id === id)
      if (!item) results[i] = failed('missing_result', `WooCommerce did not answer for item ${id}`, true)
      else if (item.error) {
        const status = Number(item.error.data?.status ?? 0)
        results[i] = failed(item.error.code || 'woocommerce_error', item.error.message || 'refused', status >= 500)
      } else results[i] = { status: 'ok', quantity: typeof item.stock_quantity === 'number' ? item.stock_quantity : writes[i]!.quantity }
    })
  }
  return results as StockWriteResult[]
}
