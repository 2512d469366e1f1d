// Low stock and reordering. A level's safety stock is its low-stock threshold: the ledger records 'stock.low' when
// on-hand falls to or below it. Reorder suggestions turn recent sales into a daily velocity and propose enough to
// cover the coming days on top of the safety stock.
//
// Terms: units sold = −Σ quantity of the window's 'sale', 'reservation_consumed' (orders fulfilled from a hold),
// 'return' and 'void' movements (so returns and voids take back what they undo); velocity = units sold ÷ window
// days, kept as that fraction; cover days = available ÷ velocity; suggested = max(0, ⌈velocity × coverDays⌉ +
// safety stock − available). Only integers are computed on; the decimal velocity is for people.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { requireLocation, resolveItems, unitsSoldMovements, variantName } from './items.ts'

export async function setSafetyStock(tx: Tx, actor: Actor, input: { locationId: string; variantId: string; safetyStock: number | null }) {
  if (input.safetyStock !== null && (!Number.isSafeInteger(input.safetyStock) || input.safetyStock < 0)) {
    throw invalid('invalid_quantity', 'safetyStock must be a whole, non-negative number of base units, or null')
  }
  await requireLocation(tx, actor.merchantId, input.locationId)
  const [item] = await resolveItems(tx, actor.merchantId, [{ variantId: input.variantId }])
  // A level without movements is on-hand 0, so creating one keeps the ledger invariant.
  const { rows } = await tx.execute<{ before: number | null; on_hand: number; reserved: number }>(sql`
    with old as (select safety_stock from stock_levels where location_id = ${input.locationId} and variant_id = ${input.variantId} and merchant_id = ${actor.merchantId})
    insert into stock_levels (merchant_id, variant_id, location_id, safety_stock)
    values (${actor.merchantId}, ${input.variantId}, ${input.locationId}, ${input.safetyStock})
    on conflict (location_id, variant_id) do update set safety_stock = excluded.safety_stock, updated_at = now()
    returning (select safety_stock from old) as before, on_hand, reserved`)
  const r = rows[0]!
  const before = r.before === null ? null : Number(r.before)
  if (before !== input.safetyStock) {
    await recordAudit(tx, actor, {
      action: 'stock.threshold_set',
      entityType: 'stock_level',
      entityId: `${input.locationId}/${input.variantId}`,
      details: { locationId: input.locationId, variantId: input.variantId, sku: item!.sku, from: before, to: input.safetyStock },
    })
  }
  const onHand = Number(r.on_hand)
  return {
    locationId: input.locationId,
    variantId: input.variantId,
    sku: item!.sku,
    safetyStock: input.safetyStock,
    onHand,
    reserved: Number(r.reserved),
    available: onHand - Number(r.reserved),
    low: input.safetyStock !== null && onHand <= input.safetyStock,
  }
}

export interface ReorderInput {
  unitsSold: number
  windowDays: number
  coverDays: number
  available: number
  safetyStock: number
  /** Units sent to the location by transfers not yet received: they count as stock that is coming. */
  inTransit?: number
}

export interface ReorderFigures {
  /** Units sold per day, as a decimal with three places (rounded half up), for display. */
  dailyVelocity: string
  /** Whole days the available stock lasts at that velocity; null when nothing sold. */
  daysOfCover: number | null
  suggestedQuantity: number
}

const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b

/** The arithmetic of one suggestion, exact: velocity stays the fraction unitsSold / windowDays. */
export function reorderFigures(i: ReorderInput): ReorderFigures {
  for (const [k, v] of Object.entries(i)) if (!Number.isSafeInteger(v)) throw new RangeError(`${k} must be a whole number, got ${v}`)
  if (i.windowDays <= 0 || i.coverDays < 0) throw new RangeError('windowDays must be positive and coverDays not negative')
  const sold = BigInt(Math.max(0, i.unitsSold))
  const days = BigInt(i.windowDays)
  const thousandths = (sold * 1000n * 2n + days) / (days * 2n) // half up
  const dailyVelocity = `${thousandths / 1000n}.${(thousandths % 1000n).toString().padStart(3, '0')}`
  const daysOfCover = sold === 0n ? null : i.available <= 0 ? 0 : Number((BigInt(i.available) * days) / sold)
  const need = ceilDiv(sold * BigInt(i.coverDays), days) + BigInt(Math.max(0, i.safetyStock)) - BigInt(i.available) - BigInt(i.inTransit ?? 0)
  return { dailyVelocity, daysOfCover, suggestedQuantity: need > 0n ? Number(need) : 0 }
}

export interface ReorderSuggestion extends ReorderFigures {
  variantId: string
  sku: string
  name: string
  unitsSold: number
  onHand: number
  reserved: number
  available: number
  safetyStock: number | null
  inTransit: number
}

/**
 * Most urgent first: fewest days of cover (compared exactly as fractions), then the larger suggestion; variants
 * that did not sell come last.
 */
export function compareUrgency(a: ReorderSuggestion, b: ReorderSuggestion): number {
  const soldA = Math.max(0, a.unitsSold)
  const soldB = Math.max(0, b.unitsSold)
  if (soldA === 0 || soldB === 0) {
    if (soldA !== soldB) return soldA === 0 ? 1 : -1
  } else {
    // available_a / sold_a vs available_b / sold_b, both denominators positive
    const left = BigInt(a.available) * BigInt(soldB)
    const right = BigInt(b.available) * BigInt(soldA)
    if (left !== right) return left < right ? -1 : 1
  }
  if (a.suggestedQuantity !== b.suggestedQuantity) return b.suggestedQuantity - a.suggestedQuantity
  return a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0
}

export interface ReorderQuery {
  locationId: string
  windowDays: number
  coverDays: number
  /** The end of the sales window (now). */
  at?: Date
}

/**
 * One suggestion per variant of an active product stocked at the location or sold from it in the window. Units on
 * their way to it (transfers sent, not yet received) are subtracted from what it needs.
 */
export async function reorderSuggestions(tx: Tx, merchantId: string, q: ReorderQuery): Promise<ReorderSuggestion[]> {
  await requireLocation(tx, merchantId, q.locationId)
  if (!Number.isSafeInteger(q.windowDays) || q.windowDays < 1) throw invalid('invalid_window', 'windowDays must be a positive whole number')
  if (!Number.isSafeInteger(q.coverDays) || q.coverDays < 0) throw invalid('invalid_window', 'coverDays must be a whole number, 0 or more')
  const end = q.at ?? new Date()
  const start = new Date(end.getTime() - q.windowDays * 86_400_000)
  const { rows } = await tx.execute<{ variant_id: string; sku: string; name: string; sold: number; on_hand: number | null; reserved: number | null; safety_stock: number | null; in_transit: number }>(sql`
    with sold as (
      select variant_id, -sum(quantity) as sold from (${unitsSoldMovements(merchantId, start, end, q.locationId)}) m group by variant_id
    ), lv as (
      select variant_id, on_hand, reserved, safety_stock from stock_levels where merchant_id = ${merchantId} and location_id = ${q.locationId}
    ), coming as (
      select tl.variant_id, sum(tl.quantity_sent) as in_transit
        from stock_transfers t join stock_transfer_lines tl on tl.transfer_id = t.id
       where t.merchant_id = ${merchantId} and t.to_location_id = ${q.locationId} and t.status = 'in_transit'
       group by tl.variant_id
    )
    select v.id as variant_id, v.sku, ${variantName} as name, coalesce(s.sold, 0)::bigint as sold, lv.on_hand, lv.reserved, lv.safety_stock,
           coalesce(c.in_transit, 0)::bigint as in_transit
      from lv full join sold s using (variant_id)
      join variants v on v.id = coalesce(lv.variant_id, s.variant_id)
      join products p on p.id = v.product_id
      left join coming c on c.variant_id = v.id
     where p.status <> 'archived'`)
  const list = rows.map((r): ReorderSuggestion => {
    const onHand = Number(r.on_hand ?? 0)
    const reserved = Number(r.reserved ?? 0)
    const safetyStock = r.safety_stock === null ? null : Number(r.safety_stock)
    // Returns of sales made before the window may outnumber the window's sales: none sold, not fewer than none.
    const unitsSold = Math.max(0, Number(r.sold))
    const available = onHand - reserved
    const inTransit = Number(r.in_transit)
    return {
      variantId: r.variant_id,
      sku: r.sku,
      name: r.name,
      unitsSold,
      onHand,
      reserved,
      available,
      safetyStock,
      inTransit,
      ...reorderFigures({ unitsSold, windowDays: q.windowDays, coverDays: q.coverDays, available, safetyStock: safetyStock ?? 0, inTransit }),
    }
  })
  return list.sort(compareUrgency)
}
