// WooCommerce orders for the stock sync: polled by modification time (WooCommerce does not retry a failed webhook,
// so polling is what guarantees an order is seen), read one by one after a webhook, with refunded lines from the
// order's refunds.
//
// Paging. The poll reads two lists side by side: the orders of `status=any` (the default, which leaves the trash
// out) and the trashed ones (`status=trash`; trashing stamps `date_modified`), so an order trashed whose
// order.deleted delivery was lost still gives its stock back. Both by `modified_after` (strict, to the second),
// oldest first. An order modified while we page moves to the end of its list, and WooCommerce breaks no ties in
// `orderby=modified`, so a page number is never trusted from one call to the next. The cursor is `<after>|<n>`:
// - `|1`: page 1 of both lists after `after`. Each list is read up to its page's last second (wholly when it has no
//   more pages); the orders before the earlier of the two are handed on and the next call starts one second before
//   it. Nothing is handed on beyond an order of either list not read yet, so the checkpoint never passes one.
// - `|2`: a full page shared one second, the one after `after`. That second is read whole in both lists, by id,
//   between `modified_after` and `modified_before`. An order changed meanwhile leaves the second and lowers
//   X-WP-Total, which shifts the pages after it: the second is then read again from page 1. Both lists then go on
//   after that second.
// An order may come more than once in a call (its newest reading is handed on) and across calls (the sync upserts).
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type HttpResponse } from '../../framework/http-types.ts'
import type { Page, RemoteOrder } from '../../framework/marketplace.ts'
import { gmtToIso, isoSeconds, needsRefundLines, nextPage, refundedUnits, toRemoteOrder, WOO_PAGE_SIZE, type WooOrder, type WooRefund } from './api.ts'

type Ctx = ConnectorContext<unknown>

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\|([12])$/

/** `any` is WooCommerce's default (and wins over anything listed with it); `trash` must be asked for alone. */
const LISTS = ['any', 'trash'] as const
type List = (typeof LISTS)[number]

/** Readings of one crowded second that found orders had left it, before the poll gives up until its next run. */
const MAX_REREADS = 20

const secondOf = (o: WooOrder): number => Math.floor(new Date(gmtToIso(o.date_modified_gmt)).getTime() / 1000)
const atSecond = (second: number): string => isoSeconds(new Date(second * 1000))

async function withRefunds(ctx: Ctx, o: WooOrder): Promise<RemoteOrder> {
  if (!needsRefundLines(o)) return toRemoteOrder(o)
  const res = await ctx.http.request<WooRefund[]>({ method: 'GET', url: `/orders/${o.id}/refunds`, params: { per_page: WOO_PAGE_SIZE }, operation: 'listRefunds', signal: ctx.signal })
  return toRemoteOrder(o, refundedUnits(res.data))
}

function readList(ctx: Ctx, list: List, params: Record<string, string | number | boolean>): Promise<HttpResponse<WooOrder[]>> {
  return ctx.http.request<WooOrder[]>({
    method: 'GET',
    url: '/orders',
    params: { ...(list === 'any' ? {} : { status: list }), ...params, dates_are_gmt: true, order: 'asc', per_page: WOO_PAGE_SIZE },
    operation: 'listOrders',
    signal: ctx.signal,
  })
}

/** Page 1 of both lists after `after`: the orders read up to where both are complete, and the cursor on from there. */
async function readOn(ctx: Ctx, after: number): Promise<{ orders: WooOrder[]; next: string | null }> {
  const pages: { orders: WooOrder[]; upTo: number }[] = []
  for (const list of LISTS) {
    const res = await readList(ctx, list, { modified_after: atSecond(after), orderby: 'modified', page: 1 })
    const last = res.data[res.data.length - 1]
    // With more pages, the orders of the last second may go on on page 2: the list is complete below that second.
    pages.push({ orders: res.data, upTo: last && nextPage(res, 1) !== null ? secondOf(last) : Infinity })
  }
  const upTo = Math.min(...pages.map((p) => p.upTo))
  const orders = pages.flatMap((p) => p.orders).filter((o) => secondOf(o) < upTo)
  if (upTo === Infinity) return { orders, next: null }
  const crowded = pages.some((p) => p.upTo === upTo && secondOf(p.orders[0]!) === upTo)
  return { orders, next: `${atSecond(upTo - 1)}|${crowded ? 2 : 1}` }
}

/** Every order of both lists modified in `second`, read by id; read again from page 1 whenever X-WP-Total moved. */
async function readSecond(ctx: Ctx, second: number): Promise<WooOrder[]> {
  const out: WooOrder[] = []
  for (const list of LISTS) {
    let rereads = 0
    let total: number | null = null
    for (let page: number | null = 1; page !== null; ) {
      const res: HttpResponse<WooOrder[]> = await readList(ctx, list, { modified_after: atSecond(second - 1), modified_before: atSecond(second + 1), orderby: 'id', page })
      out.push(...res.data)
      const seen = Number(res.headers['x-wp-total'] ?? NaN)
      const now = Number.isInteger(seen) ? seen : null
      if (page > 1 && now !== total) {
        if (++rereads > MAX_REREADS) throw new ConnectorError('retryable', `the orders modified at ${atSecond(second)} kept changing while they were read`)
        page = 1
        total = null
        continue
      }
      if (page === 1) total = now
      page = nextPage(res, page)
    }
  }
  return out
}

/** Orders modified at or after `updatedSince` (from one second before it: the filter is strict), oldest first. */
export async function listOrders(ctx: Ctx, input: { updatedSince: Date; cursor: string | null }): Promise<Page<RemoteOrder>> {
  let after = Math.floor(input.updatedSince.getTime() / 1000) - 1
  const read: WooOrder[] = []
  if (input.cursor !== null) {
    const m = CURSOR.exec(input.cursor)
    if (!m) throw new ConnectorError('permanent', `"${input.cursor}" is not a WooCommerce order cursor`)
    after = Math.floor(new Date(`${m[1]}Z`).getTime() / 1000)
    if (m[2] === '2') {
      after += 1
      read.push(...(await readSecond(ctx, after)))
    }
  }
  const { orders, next } = await readOn(ctx, after)
  read.push(...orders)
  // The newest reading of each order (a later read wins a tie), oldest first.
  const newest = new Map<number, WooOrder>()
  for (const o of read) {
    const had = newest.get(o.id)
    if (!had || secondOf(o) >= secondOf(had)) newest.set(o.id, o)
  }
  const items: RemoteOrder[] = []
  for (const o of [...newest.values()].sort((a, b) => secondOf(a) - secondOf(b) || a.id - b.id)) items.push(await withRefunds(ctx, o))
  return { items, nextCursor: next }
}

export async function getOrder(ctx: Ctx, input: { id: string }): Promise<RemoteOrder | null> {
  if (!/^\d+$/.test(input.id)) return null
  let order: WooOrder
  try {
    order = (await ctx.http.request<WooOrder>({ method: 'GET', url: `/orders/${input.id}`, operation: 'getOrder', signal: ctx.signal })).data
  } catch (e) {
    // A deleted order: `woocommerce_rest_shop_order_invalid_id` (404).
    if (e instanceof ConnectorError && e.status === 404) return null
    throw e
  }
  return withRefunds(ctx, order)
}
