// Listings and their stock: the on-sale items page by page (taobao.items.onsale.get), their SKUs and quantities
// 20 items at a time (taobao.items.seller.list.get). One listing per SKU (`num_iid:sku_id`), or per item for an
// item without SKUs (`num_iid`); Taobao and Tmall keep one stock per SKU, so every level is at SINGLE_LOCATION.
import type { ConnectorContext } from '../../framework/define.ts'
import { SINGLE_LOCATION, type Page, type RemoteLevel, type RemoteListing } from '../../framework/marketplace.ts'
import type { TaobaoConfig } from './config.ts'
import { callTop } from './gateway.ts'
import { listOf, type TopItem, type TopSku } from './types.ts'

/** taobao.items.onsale.get allows up to 200 items a page. */
export const ONSALE_PAGE_SIZE = 200
/** taobao.items.seller.list.get takes up to 20 num_iids; taobao.skus.quantity.update and tmall.item.quantity.update up to 20 SKUs. */
export const TOP_BATCH = 20
const DETAIL_FIELDS = 'num_iid,title,num,outer_id,barcode,sku'
/** readLevels also asks whether the item is on sale: one in the warehouse (instock) is no listing of the shop's. */
const LEVEL_FIELDS = 'num_iid,num,sku,approve_status'
/** `onsale`, or `instock`: in the warehouse (sold out, or taken off sale by the seller or by Taobao). */
type ItemState = { approve_status?: string }
const DETAIL_CONCURRENCY = 4

type Ctx = ConnectorContext<TaobaoConfig>

/** The item and SKU a listing addresses, from its externalIds or its externalId (`num_iid[:sku_id]`). */
export function listingIds(l: { externalId: string; externalIds: Record<string, string> }): { numIid: string; skuId: string | null } {
  const [idPart, skuPart] = l.externalId.split(':')
  const numIid = l.externalIds.numIid ?? idPart ?? ''
  const skuId = l.externalIds.skuId ?? skuPart ?? null
  if (!/^\d+$/.test(numIid) || (skuId !== null && !/^\d+$/.test(skuId))) throw new TypeError(`"${l.externalId}" is not a Taobao listing id (num_iid or num_iid:sku_id)`)
  return { numIid, skuId }
}

export const externalIdOf = (numIid: string, skuId: string | null) => (skuId ? `${numIid}:${skuId}` : numIid)

const text = (v: unknown): string | null => (typeof v === 'string' && v.trim() !== '' ? v.trim() : null)
const count = (v: unknown): number => {
  const n = typeof v === 'string' ? Number(v) : v
  return typeof n === 'number' && Number.isFinite(n) ? Math.max(0, Math.trunc(n)) : 0
}

/** "黑色 / S" from `1627207:28341:颜色分类:黑色;20509:28314:尺码:S`. */
function variantName(propertiesName: string | undefined): string | null {
  if (!propertiesName) return null
  const values = propertiesName
    .split(';')
    .map((p) => p.split(':').slice(3).join(':'))
    .filter(Boolean)
  return values.length ? values.join(' / ') : null
}

export const skusOf = (item: TopItem): TopSku[] => listOf<TopSku>(item.skus as never)

/** The listings of one item: one per SKU, or the item itself when it has none. */
export function itemListings(item: TopItem): RemoteListing[] {
  const numIid = String(item.num_iid)
  const title = item.title ?? numIid
  const skus = skusOf(item)
  if (skus.length === 0) {
    return [
      {
        externalId: numIid,
        externalIds: { numIid },
        sku: text(item.outer_id),
        barcode: text(item.barcode),
        title,
        tracked: true,
        levels: [{ locationId: SINGLE_LOCATION, available: count(item.num) }],
      },
    ]
  }
  return skus.map((s) => {
    const skuId = String(s.sku_id)
    const variant = variantName(s.properties_name)
    return {
      externalId: externalIdOf(numIid, skuId),
      externalIds: { numIid, skuId },
      sku: text(s.outer_id),
      barcode: text(s.barcode),
      title: variant ? `${title} (${variant})` : title,
      tracked: true,
      levels: [{ locationId: SINGLE_LOCATION, available: count(s.quantity) }],
    }
  })
}

/** Runs `fn` over `items` with at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

const chunks = <T>(list: T[], size: number): T[][] => Array.from({ length: Math.ceil(list.length / size) }, (_, i) => list.slice(i * size, (i + 1) * size))

/** Items with their SKUs and quantities, by num_iid (items that are gone or not the seller's are absent, as TOP leaves them out). */
export async function itemDetails(ctx: Ctx, numIids: string[], operation: string, fields = DETAIL_FIELDS): Promise<Map<string, TopItem>> {
  const unique = [...new Set(numIids)]
  const pages = await mapLimit(chunks(unique, TOP_BATCH), DETAIL_CONCURRENCY, (batch) =>
    callTop<{ items?: TopItem[] | { item?: TopItem[] } }>(ctx, 'taobao.items.seller.list.get', { num_iids: batch.join(','), fields }, { operation, idempotent: true }),
  )
  const byId = new Map<string, TopItem>()
  for (const page of pages) for (const item of listOf<TopItem>(page.items as never)) byId.set(String(item.num_iid), item)
  return byId
}

export async function listListings(ctx: Ctx, { cursor }: { cursor: string | null }): Promise<Page<RemoteListing>> {
  const page = cursor === null ? 1 : Number(cursor)
  if (!Number.isInteger(page) || page < 1) throw new TypeError(`"${cursor}" is not a Taobao listing cursor (a page number)`)
  // Oldest listing first, so items put on sale while we page land on later pages instead of shifting earlier ones.
  const onsale = await callTop<{ items?: TopItem[] | { item?: TopItem[] }; total_results?: number }>(
    ctx,
    'taobao.items.onsale.get',
    { fields: 'num_iid,title,outer_id,num', page_no: page, page_size: ONSALE_PAGE_SIZE, order_by: 'list_time:asc' },
    { operation: 'listListings', idempotent: true },
  )
  const items = listOf<TopItem>(onsale.items as never)
  const details = await itemDetails(ctx, items.map((i) => String(i.num_iid)), 'listListings')
  const listings = items.flatMap((i) => {
    const detail = details.get(String(i.num_iid))
    return detail ? itemListings({ ...i, ...detail }) : []
  })
  const total = count(onsale.total_results)
  return { items: listings, nextCursor: items.length > 0 && page * ONSALE_PAGE_SIZE < total ? String(page + 1) : null }
}

/**
 * The levels of some listings, read item by item. A listing whose item is gone, not the seller's or off sale has none,
 * as listListings leaves it out: the listing pass asks here about a listing it did not see before taking it for gone.
 */
export async function readLevels(ctx: Ctx, input: { listings: { externalId: string; externalIds: Record<string, string> }[]; locationId: string | null }): Promise<RemoteLevel[]> {
  if (input.locationId !== null && input.locationId !== SINGLE_LOCATION) return []
  const wanted = input.listings.map((l) => ({ externalId: l.externalId, ...listingIds(l) }))
  const details = await itemDetails(ctx, wanted.map((w) => w.numIid), 'readLevels', LEVEL_FIELDS)
  const levels: RemoteLevel[] = []
  for (const w of wanted) {
    const item = details.get(w.numIid) as (TopItem & ItemState) | undefined
    if (!item || (item.approve_status !== undefined && item.approve_status !== 'onsale')) continue
    const skus = skusOf(item)
    if (w.skuId === null) {
      if (skus.length === 0) levels.push({ externalId: w.externalId, locationId: SINGLE_LOCATION, available: count(item.num) })
      continue
    }
    const sku = skus.find((s) => String(s.sku_id) === w.skuId)
    if (sku) levels.push({ externalId: w.externalId, locationId: SINGLE_LOCATION, available: count(sku.quantity) })
  }
  return levels
}
