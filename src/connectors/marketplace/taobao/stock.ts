// Stock writes, grouped by item because every TOP stock call addresses one item:
// - absolute (type=1): Taobao taobao.skus.quantity.update (`skuid_quantities` "id:qty;id:qty", ≤20 SKUs) or
//   taobao.item.quantity.update for an item without SKUs; Tmall tmall.item.quantity.update (`sku_quantities` JSON,
//   ≤20, or `item_quantity`).
// - incremental (type=2, clamped at 0 by TOP): Taobao taobao.item.quantity.update, one SKU a call and no idempotency
//   key; Tmall tmall.item.quantity.update with `options.outer_biz_key`, which TOP applies once per key.
// A failed call fails the writes of its item only; an authorisation failure fails them all and is thrown. Absolute
// writes meeting flow control or an open circuit, which hold every call of the connection, end the batch: see setLevels.
import { createHash } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { SINGLE_LOCATION, type StockAdjustment, type StockWrite, type StockWriteResult } from '../../framework/marketplace.ts'
import type { TaobaoConfig } from './config.ts'
import { callTop } from './gateway.ts'
import { itemDetails, listingIds, skusOf, TOP_BATCH } from './listings.ts'
import type { TopItem } from './types.ts'

type Ctx = ConnectorContext<TaobaoConfig>

/** What taobao.item.quantity.update and taobao.skus.quantity.update answer: the item with the SKUs they changed. */
interface QuantityAnswer {
  item?: TopItem
}

/** `outer_biz_key` may hold hex digits only: the first 32 of the SHA-1 of our idempotency key. */
export const outerBizKey = (idempotencyKey: string): string => createHash('sha1').update(idempotencyKey, 'utf8').digest('hex').slice(0, 32)

const failedBy = (e: ConnectorError): StockWriteResult => ({ status: 'failed', code: e.vendorCode ?? e.kind, message: e.message, retryable: e.transient })

/** TOP flow control (or the client holding off after it) and an open circuit: a wait for the whole connection, not an item's failure. */
const holdsConnection = (e: unknown): e is ConnectorError => e instanceof ConnectorError && (e.kind === 'rate_limited' || e.kind === 'circuit_open')

/**
 * The result of a call for each of its writes: ok with the quantity TOP reports (or the one sent), or failed by `e`.
 * `rethrow` names the errors that are the caller's to handle rather than the writes' (auth failures always are).
 */
async function attempt<W>(writes: W[], call: () => Promise<(w: W) => number>, rethrow: (e: ConnectorError) => boolean = () => false): Promise<Map<W, StockWriteResult>> {
  const out = new Map<W, StockWriteResult>()
  try {
    const quantityOf = await call()
    for (const w of writes) out.set(w, { status: 'ok', quantity: quantityOf(w) })
  } catch (e) {
    if (!(e instanceof ConnectorError) || e.kind === 'auth_failed' || rethrow(e)) throw e
    for (const w of writes) out.set(w, failedBy(e))
  }
  return out
}

/** The quantity TOP reports for a SKU (or the item) in a quantity-update answer. */
function reported(answer: QuantityAnswer, skuId: string | null): number | undefined {
  const item = answer.item
  if (!item) return undefined
  const q = skuId === null ? item.num : skusOf(item).find((s) => String(s.sku_id) === skuId)?.quantity
  return typeof q === 'number' && Number.isFinite(q) ? q : undefined
}

interface Addressed<T> {
  input: T
  numIid: string
  skuId: string | null
}

/** Checks what TOP would refuse anyway, and groups the rest by item (SKU writes and item writes apart). */
function group<T extends { externalId: string; externalIds: Record<string, string>; locationId: string }>(inputs: T[], results: Map<T, StockWriteResult>) {
  const groups = new Map<string, Addressed<T>[]>()
  for (const input of inputs) {
    if (input.locationId !== SINGLE_LOCATION) {
      results.set(input, { status: 'failed', code: 'unknown_location', message: `Taobao keeps one stock per SKU, at location "${SINGLE_LOCATION}", not "${input.locationId}"`, retryable: false })
      continue
    }
    let ids: { numIid: string; skuId: string | null }
    try {
      ids = listingIds(input)
    } catch (e) {
      results.set(input, { status: 'failed', code: 'invalid_listing', message: (e as Error).message, retryable: false })
      continue
    }
    const key = `${ids.numIid}:${ids.skuId === null ? 'item' : 'skus'}`
    const list = groups.get(key) ?? []
    list.push({ input, ...ids })
    groups.set(key, list)
  }
  return [...groups.values()]
}

function checkBatch(n: number, what: string) {
  if (n > TOP_BATCH) throw new ConnectorError('permanent', `Taobao/Tmall take at most ${TOP_BATCH} ${what} per call; ${n} were given`)
}

/**
 * Absolute writes, one call per item. Flow control or an open circuit ends the batch where it is met, as a limit ends
 * a Shopify or WooCommerce call: thrown while no write of the batch has a result, so the sync waits the time TOP
 * named with every SKU pending; once some have one (TOP took an earlier item), those are returned as they are (never
 * written twice, never lost) and the rest `not_applied`. These go again in the sync's next round, where the client's
 * hold-off (or the open circuit) refuses them before they reach TOP, and the error is thrown then.
 */
export async function setLevels(ctx: Ctx, { writes }: { writes: StockWrite[] }): Promise<StockWriteResult[]> {
  checkBatch(writes.length, 'stock writes')
  const results = new Map<StockWrite, StockWriteResult>()
  const valid = writes.filter((w) => {
    if (Number.isInteger(w.quantity) && w.quantity >= 0) return true
    results.set(w, { status: 'failed', code: 'invalid_quantity', message: `an absolute quantity must be a whole number ≥ 0, not ${w.quantity}`, retryable: false })
    return false
  })
  const tmall = ctx.config.platform === 'tmall'
  // Absolute writes are safe to repeat: TOP may be asked again after a timeout.
  const opts = { operation: 'setLevels', idempotent: true }
  const groups = group(valid, results)
  for (const [at, g] of groups.entries()) {
    const numIid = g[0]!.numIid
    const itemLevel = g[0]!.skuId === null
    let done: Map<Addressed<StockWrite>, StockWriteResult>
    try {
      done = await attempt(
        g,
        async () => {
          if (tmall) {
            await callTop(ctx, 'tmall.item.quantity.update', {
              item_id: numIid,
              ...(itemLevel ? { item_quantity: g[g.length - 1]!.input.quantity } : { sku_quantities: JSON.stringify(g.map((w) => ({ sku_id: Number(w.skuId), quantity: w.input.quantity }))) }),
              options: JSON.stringify({ type: 1 }),
            }, opts)
            // Tmall answers only the item id; the stock is what was set.
            return (w) => w.input.quantity
          }
          const answer = itemLevel
            ? await callTop<QuantityAnswer>(ctx, 'taobao.item.quantity.update', { num_iid: numIid, quantity: g[g.length - 1]!.input.quantity, type: 1 }, opts)
            : await callTop<QuantityAnswer>(ctx, 'taobao.skus.quantity.update', { num_iid: numIid, skuid_quantities: g.map((w) => `${w.skuId}:${w.input.quantity}`).join(';'), type: 1 }, opts)
          return (w) => reported(answer, w.skuId) ?? w.input.quantity
        },
        holdsConnection,
      )
    } catch (e) {
      if (!holdsConnection(e) || results.size === 0) throw e
      // This item and the ones after it wait (an absolute write is safe to send again); the results so far stand.
      for (const rest of groups.slice(at)) for (const w of rest) results.set(w.input, { status: 'not_applied' })
      break
    }
    for (const [w, r] of done) results.set(w.input, r)
  }
  return writes.map((w) => results.get(w)!)
}

export async function adjustLevels(ctx: Ctx, { adjustments }: { adjustments: StockAdjustment[] }): Promise<StockWriteResult[]> {
  checkBatch(adjustments.length, 'stock adjustments')
  const results = new Map<StockAdjustment, StockWriteResult>()
  const valid = adjustments.filter((a) => {
    if (Number.isInteger(a.delta)) return true
    results.set(a, { status: 'failed', code: 'invalid_quantity', message: `a stock change must be a whole number, not ${a.delta}`, retryable: false })
    return false
  })
  const tmall = ctx.config.platform === 'tmall'
  const applied: Addressed<StockAdjustment>[] = []
  for (const g of group(valid, results)) {
    // One call per adjustment: each carries its own idempotency key (Tmall), and Taobao's item call takes one SKU.
    for (const a of g) {
      const done = await attempt([a], async () => {
        if (tmall) {
          await callTop(ctx, 'tmall.item.quantity.update', {
            item_id: a.numIid,
            ...(a.skuId === null ? { item_quantity: a.input.delta } : { sku_quantities: JSON.stringify([{ sku_id: Number(a.skuId), quantity: a.input.delta }]) }),
            options: JSON.stringify({ type: 2, outer_biz_key: outerBizKey(a.input.idempotencyKey) }),
          }, { operation: 'adjustLevels', idempotent: true })
          applied.push(a)
          return () => Number.NaN
        }
        // No idempotency key on Taobao: sent once, repeated only when TOP refused it unseen (flow control).
        const answer = await callTop<QuantityAnswer>(
          ctx,
          'taobao.item.quantity.update',
          { num_iid: a.numIid, ...(a.skuId === null ? {} : { sku_id: a.skuId }), quantity: a.input.delta, type: 2 },
          { operation: 'adjustLevels', idempotent: false },
        )
        const q = reported(answer, a.skuId)
        if (q === undefined) applied.push(a)
        return () => q ?? Number.NaN
      })
      for (const [w, r] of done) results.set(w.input, r)
    }
  }
  // tmall.item.quantity.update answers only the item id: the stock after the change is read back.
  if (applied.length > 0) {
    const details = await itemDetails(ctx, applied.map((a) => a.numIid), 'adjustLevels')
    for (const a of applied) {
      const item = details.get(a.numIid)
      const q = !item ? undefined : a.skuId === null ? item.num : skusOf(item).find((s) => String(s.sku_id) === a.skuId)?.quantity
      if (typeof q === 'number') results.set(a.input, { status: 'ok', quantity: q })
      else results.set(a.input, { status: 'failed', code: 'not_found', message: `listing ${a.input.externalId} was changed but could not be read back`, retryable: false })
    }
  }
  return adjustments.map((a) => results.get(a)!)
}
