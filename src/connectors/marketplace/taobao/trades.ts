// Orders by poll (TOP pushes trade events only through TMC, a long-lived channel this hub does not open):
// taobao.trades.sold.increment.get lists trades modified in a window of at most one day, newest first, and TOP's
// own advice is to page from the last page back so that a trade modified while paging is seen twice rather than
// missed. That holds only while the window cannot gain trades: a trade entering it goes to the front and pushes an
// older one onto a page already read. So each window is probed for its total, closed before TOP's present if it
// reaches it, then walked from its last page to its first, each page reversed: oldest first overall. Longer ranges
// are walked window by window, never past the time the walk began; TOP keeps three months of trades.
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { Page, RemoteOrder, RemoteOrderLine } from '../../framework/marketplace.ts'
import type { TaobaoConfig } from './config.ts'
import { callTop } from './gateway.ts'
import { externalIdOf } from './listings.ts'
import { gmt8, parseGmt8 } from './sign.ts'
import { listOf, type TopOrder, type TopTrade } from './types.ts'

type Ctx = ConnectorContext<TaobaoConfig>

/** TOP allows 1–100 trades a page and suggests 40–50 for fewer timeouts. */
export const TRADE_PAGE_SIZE = 50
/** end_modified − start_modified may not exceed one day; windows are [start, start + 1 day − 1 s], times in seconds. */
const WINDOW_SECONDS = 86_400
/** TOP answers trades of the last three months only. */
const HISTORY_DAYS = 90
/** Empty windows walked in one call before handing back an empty page with a cursor. */
const EMPTY_WINDOWS_PER_CALL = 7
/**
 * TOP refuses a call whose timestamp is more than 10 minutes off its clock, so while our calls are answered TOP's
 * clock is past any time 10 minutes before ours: a window ending earlier than that can gain no trade.
 */
const CLOCK_TOLERANCE_SECONDS = 600

const TRADE_FIELDS = [
  'tid',
  'tid_str',
  'status',
  'created',
  'modified',
  'orders.oid',
  'orders.oid_str',
  'orders.outer_sku_id',
  'orders.outer_iid',
  'orders.num',
  'orders.num_iid',
  'orders.sku_id',
  'orders.refund_status',
  'orders.status',
].join(',')

const STATUS: Record<string, RemoteOrder['status']> = {
  TRADE_NO_CREATE_PAY: 'open',
  WAIT_BUYER_PAY: 'open',
  PAY_PENDING: 'open',
  WAIT_PRE_AUTH_CONFIRM: 'open',
  PAID_FORBID_CONSIGN: 'open',
  WAIT_SELLER_SEND_GOODS: 'open',
  SELLER_CONSIGNED_PART: 'open',
  WAIT_BUYER_CONFIRM_GOODS: 'fulfilled',
  TRADE_BUYER_SIGNED: 'fulfilled',
  TRADE_FINISHED: 'fulfilled',
  TRADE_CLOSED: 'cancelled',
  TRADE_CLOSED_BY_TAOBAO: 'cancelled',
}

/** A refunded sub-order gives its units back; the buyer takes none of them. */
const REFUNDED = 'SUCCESS'

/** A sub-order sent ahead of the rest of its trade (the trade SELLER_CONSIGNED_PART) is in one of these. */
const SENT = new Set(['WAIT_BUYER_CONFIRM_GOODS', 'TRADE_BUYER_SIGNED', 'TRADE_FINISHED'])

const idText = (str: unknown, num: unknown): string | null => (typeof str === 'string' && /^\d+$/.test(str) ? str : typeof num === 'number' && Number.isSafeInteger(num) ? String(num) : null)

export function toRemoteOrder(t: TopTrade): RemoteOrder {
  const id = idText(t.tid_str, t.tid)
  if (!id) throw new ConnectorError('permanent', 'a trade came without tid_str (or a tid small enough to read exactly)')
  const modified = parseGmt8(t.modified) ?? parseGmt8(t.created)
  const lines: RemoteOrderLine[] = listOf<TopOrder>(t.orders as never).map((o, i) => {
    const numIid = o.num_iid === undefined ? null : String(o.num_iid)
    const skuId = o.sku_id === undefined || o.sku_id === '' || o.sku_id === null ? null : String(o.sku_id)
    return {
      id: idText(o.oid_str, o.oid) ?? `${id}-${i + 1}`,
      sku: o.outer_sku_id || o.outer_iid || null,
      externalId: numIid ? externalIdOf(numIid, skuId) : null,
      quantity: o.refund_status === REFUNDED ? 0 : Math.max(0, Math.trunc(Number(o.num ?? 0))),
    }
  })
  // Sent in part: each sub-order already sent has left whole (a sub-order ships at once).
  if (t.status === 'SELLER_CONSIGNED_PART') {
    listOf<TopOrder>(t.orders as never).forEach((o, i) => {
      lines[i]!.shipped = SENT.has(o.status ?? '') ? lines[i]!.quantity : 0
    })
  }
  return {
    id,
    name: id,
    status: STATUS[t.status ?? ''] ?? 'open',
    updatedAt: (modified ?? new Date(0)).toISOString(),
    placedAt: parseGmt8(t.created)?.toISOString() ?? null,
    locationId: null,
    pickupLocationId: null,
    lines,
  }
}

/**
 * Where a listing of orders stands: the window [s, e] (epoch seconds), the page to read next (0: not probed yet) and
 * the end of the whole walk, z: the time of its first call. Trades modified after it are the next poll's.
 */
interface Cursor {
  s: number
  e: number
  p: number
  z: number
}

const encode = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url')
function decode(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor
    // A cursor of a walk begun before the walk's end was kept ends with its window.
    if (c && typeof c === 'object' && c.z === undefined) c.z = c.e
    if ([c.s, c.e, c.p, c.z].every((n) => Number.isInteger(n) && n >= 0) && c.e >= c.s && c.z >= c.e) return c
  } catch {
    // reported below
  }
  throw new TypeError(`"${text}" is not a Taobao order cursor`)
}

const windowFrom = (start: number, end: number): Cursor => ({ s: start, e: Math.min(start + WINDOW_SECONDS - 1, end), p: 0, z: end })

interface IncrementAnswer {
  trades?: TopTrade[] | { trade?: TopTrade[] }
  total_results?: number
  has_next?: boolean
}

function fetchPage(ctx: Ctx, c: Cursor, page: number, withTotal: boolean) {
  return callTop<IncrementAnswer>(
    ctx,
    'taobao.trades.sold.increment.get',
    {
      fields: TRADE_FIELDS,
      start_modified: gmt8(new Date(c.s * 1000)),
      end_modified: gmt8(new Date(c.e * 1000)),
      page_no: page,
      page_size: TRADE_PAGE_SIZE,
      // has_next paging is faster but leaves out total_results, which the probe needs to find the last page.
      use_has_next: !withTotal,
    },
    { operation: 'listOrders', idempotent: true },
  )
}

const newestFirst = (answer: IncrementAnswer) => listOf<TopTrade>(answer.trades as never).map(toRemoteOrder)
const oldestFirst = (answer: IncrementAnswer) => newestFirst(answer).reverse()
const secondOf = (o: RemoteOrder) => Math.floor(Date.parse(o.updatedAt) / 1000)

/**
 * A window of more than one page that reaches TOP's present, cut to end the second before its newest trade. TOP
 * stamps `modified` with its own clock, which had reached that trade when it answered the probe, so no trade placed
 * or changed from then on falls in the cut window: while it is paged back, trades only leave it (seen twice at
 * worst), none enters to push an older one onto a page already read. The newest second is the next window's. The
 * cut window holds the probe's total less the trades of that second, all on the probe's page; null when they fill
 * it (more than a page of trades in one second), and the window is walked as it is.
 */
function cutWindow(c: Cursor, total: number, probe: RemoteOrder[]): { c: Cursor; total: number } | null {
  const newest = probe.length ? secondOf(probe[0]!) : NaN
  const inNewest = probe.filter((o) => secondOf(o) >= newest).length
  if (!(newest - 1 >= c.s && newest <= c.e) || inNewest >= probe.length) return null
  return { c: { ...c, e: newest - 1 }, total: total - inNewest }
}

export async function listOrders(ctx: Ctx, input: { updatedSince: Date; cursor: string | null }): Promise<Page<RemoteOrder>> {
  const nowSec = Math.floor(ctx.now().getTime() / 1000)
  const earliest = nowSec - HISTORY_DAYS * 86_400
  let c = input.cursor ? decode(input.cursor) : windowFrom(Math.max(Math.floor(input.updatedSince.getTime() / 1000), earliest), nowSec)
  if (c.s > c.z) return { items: [], nextCursor: null }
  const next = (after: Cursor): string | null => (after.e + 1 > after.z ? null : encode(windowFrom(after.e + 1, after.z)))

  for (let walked = 0; ; walked++) {
    if (c.p > 0) {
      const items = oldestFirst(await fetchPage(ctx, c, c.p, false))
      return { items, nextCursor: c.p > 1 ? encode({ ...c, p: c.p - 1 }) : next(c) }
    }
    const probe = await fetchPage(ctx, c, 1, true)
    let total = Math.max(0, Number(probe.total_results ?? 0))
    const cut = total > TRADE_PAGE_SIZE && c.e >= nowSec - CLOCK_TOLERANCE_SECONDS ? cutWindow(c, total, newestFirst(probe)) : null
    if (cut) ({ c, total } = cut)
    if (cut || total > TRADE_PAGE_SIZE) {
      // Start from the last page, so nothing modified meanwhile slips between pages (a cut window is not all on the
      // probe's page even when it fits one).
      const last = Math.max(1, Math.ceil(total / TRADE_PAGE_SIZE))
      const items = oldestFirst(await fetchPage(ctx, c, last, false))
      return { items, nextCursor: last > 1 ? encode({ ...c, p: last - 1 }) : next(c) }
    }
    const items = oldestFirst(probe)
    const after = next(c)
    if (items.length > 0 || after === null || walked + 1 >= EMPTY_WINDOWS_PER_CALL) return { items, nextCursor: after }
    c = decode(after)
  }
}

export async function getOrder(ctx: Ctx, { id }: { id: string }): Promise<RemoteOrder | null> {
  if (!/^\d+$/.test(id)) return null
  try {
    const answer = await callTop<{ trade?: TopTrade }>(ctx, 'taobao.trade.fullinfo.get', { tid: id, fields: TRADE_FIELDS }, { operation: 'getOrder', idempotent: true })
    return answer.trade ? toRemoteOrder(answer.trade) : null
  } catch (e) {
    // Another seller's trade or none at all: TOP answers isv.trade-not-exist.
    if (e instanceof ConnectorError && e.kind === 'permanent' && /trade-not-exist|trade-is-not-exist/.test(e.vendorCode ?? '')) return null
    throw e
  }
}
