// WooCommerce orders for the stock sync: polled by modification time (WooCommerce does not retry a failed webhook,
// so polling is what guarantees an order is seen), read one by one after a webhook, with refunded lines from the
// order's refunds.
//
// Paging: `modified_after` is strict and has second precision, and an order modified while we page moves to the
// end of the list, which would shift page numbers under us. So the cursor is `<modified_after>|<page>`: after each
// page the window restarts one second before the last order's modification time (page 1 again); only when a whole
// page shares one second does the page number advance. Orders of that last second may come twice; the sync upserts.
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { Page, RemoteOrder } from '../../framework/marketplace.ts'
import { gmtToIso, isoSeconds, needsRefundLines, nextPage, refundedUnits, toRemoteOrder, WOO_PAGE_SIZE, type WooOrder, type WooRefund } from './api.ts'

type Ctx = ConnectorContext<unknown>

const CURSOR = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\|([1-9]\d{0,6})$/

async function withRefunds(ctx: Ctx, o: WooOrder): Promise<RemoteOrder> {
  if (!needsRefundLines(o)) return toRemoteOrder(o)
  const res = await ctx.http.request<WooRefund[]>({ method: 'GET', url: `/orders/${o.id}/refunds`, params: { per_page: WOO_PAGE_SIZE }, operation: 'listRefunds', signal: ctx.signal })
  return toRemoteOrder(o, refundedUnits(res.data))
}

/** Orders modified at or after `updatedSince` (from one second before it: the filter is strict), oldest first. */
export async function listOrders(ctx: Ctx, input: { updatedSince: Date; cursor: string | null }): Promise<Page<RemoteOrder>> {
  let after: string
  let page: number
  if (input.cursor === null) {
    after = isoSeconds(new Date(Math.floor(input.updatedSince.getTime() / 1000) * 1000 - 1000))
    page = 1
  } else {
    const m = CURSOR.exec(input.cursor)
    if (!m) throw new ConnectorError('permanent', `"${input.cursor}" is not a WooCommerce order cursor`)
    after = m[1]!
    page = Number(m[2])
  }
  const res = await ctx.http.request<WooOrder[]>({
    method: 'GET',
    url: '/orders',
    params: { modified_after: after, dates_are_gmt: true, orderby: 'modified', order: 'asc', per_page: WOO_PAGE_SIZE, page },
    operation: 'listOrders',
    signal: ctx.signal,
  })
  const items: RemoteOrder[] = []
  for (const o of res.data) items.push(await withRefunds(ctx, o))
  const last = res.data[res.data.length - 1]
  if (!last || nextPage(res, page) === null) return { items, nextCursor: null }
  const restart = isoSeconds(new Date(new Date(gmtToIso(last.date_modified_gmt)).getTime() - 1000))
  return { items, nextCursor: restart > after ? `${restart}|1` : `${after}|${page + 1}` }
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
