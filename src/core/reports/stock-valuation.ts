// Stock valuation at cost per variant and location, with how many days the stock lasts at the recent pace of sales.
//
// Definitions (amounts in minor units, quantities in the product's base unit):
//   date          a business date, today (in the merchant's time zone) by default; never in the future.
//   onHand        today: stock_levels.on_hand (the ledger's running sum). An earlier date: Σ stock_movements.quantity
//                 of the level with occurred_at before the end of that day — the ledger replayed by when things
//                 happened, so a movement recorded later but dated earlier (an offline sale) counts on its own day.
//                 Rows with on-hand 0 are left out; negative on-hand (oversold) is kept and lowers the value.
//   unitCost      the variant's current cost (variants.cost, per costPer = price_per base units), also for past
//                 dates: the hub keeps no cost history beyond each movement's own cost, so this is "what the stock
//                 would cost to buy today", the same figure the stock counts value variances at.
//   value         round(onHand × unitCost ÷ costPer), half up (away from zero when negative), per row; location and
//                 overall totals are the sums of the rows.
//   unitsSold     over the window — the windowDays business days ending with `date` (default 30) — at that location:
//                 −Σ quantity of its 'sale', 'reservation_consumed' (an order fulfilled from a hold), 'return' and
//                 'void' movements, so returns and voids take back what they undo; a return counts at the location
//                 its item was sold from, wherever it was restocked (unitsSoldMovements, the reorder suggestions' rule).
//   averageDailyUnits unitsSold ÷ windowDays, three decimals, half up (text, for people).
//   inTransit     what was on its way between two locations at the end of `date`: the lines of every transfer sent
//                 before then and neither received nor cancelled by then, at the quantity sent (a shortage found on
//                 receipt leaves the books when the transfer is received). Valued at the variant's current cost like
//                 on-hand, and listed under its destination: a store's or location's valuation holds what is on its way
//                 to it, so the stores' valuations add up to the merchant's.
//   totals        value (at the locations), inTransitValue, and totalValue = value + inTransitValue: sending stock
//                 moves value from `value` to `inTransitValue` and leaves totalValue as it was.
//   turnoverDays  onHand ÷ (unitsSold ÷ windowDays) = onHand × windowDays ÷ unitsSold, one decimal, half up: the days
//                 the stock lasts at that pace. Null when nothing (net) sold in the window; 0 when nothing is on hand.
//
// Performance: the current valuation reads stock_levels by merchant; the window reads stock_movements through
// stock_movements_merchant_idx (merchant, occurred_at). Valuing a past date sums the whole ledger up to that day: for
// long histories an index on stock_movements (merchant_id, location_id, variant_id, occurred_at) including quantity,
// or monthly level snapshots, would keep it fast (the schema is left as it is).
import { sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest, invalid } from '../../lib/errors.ts'
import { mulDivRound, sum } from '../../lib/money.ts'
import { addDays, businessDate, businessDayRange, isDate, startOfBusinessDay } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import { requireLocation, unitsSoldMovements, variantName } from '../stock/items.ts'
import { csvFile, moneyCell, type CsvFile } from './csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { decimalRatio, decimalText, num, scopeStore } from './period.ts'

export const DEFAULT_TURNOVER_WINDOW_DAYS = 30

export interface StockValuationQuery {
  locationId?: string
  storeId?: string
  /** Business date; today by default. */
  date?: string
  windowDays?: number
  /** Now, from the hub's clock: decides what "today" is. */
  at: Date
}

export interface StockValuationItem {
  locationId: string
  variantId: string
  sku: string
  name: string
  onHand: number
  unitCost: number
  costPer: number
  value: number
  unitsSold: number
  averageDailyUnits: string
  turnoverDays: number | null
}

export interface InTransitItem {
  transferId: string
  fromLocationId: string
  fromLocationName: string
  fromStoreCode: string
  toLocationId: string
  toLocationName: string
  toStoreId: string
  toStoreCode: string
  sentAt: Date
  variantId: string
  sku: string
  name: string
  quantity: number
  unitCost: number
  costPer: number
  value: number
}

export interface StockValuationReport {
  date: string
  /** Where on-hand came from: the current levels (today) or the ledger up to the end of `date`. */
  onHandSource: 'levels' | 'ledger'
  windowDays: number
  windowFrom: string
  windowTo: string
  currency: string
  locations: { locationId: string; locationName: string; storeId: string; storeCode: string; items: number; onHand: number; value: number }[]
  totals: { items: number; value: number; inTransitValue: number; totalValue: number }
  items: StockValuationItem[]
  inTransit: InTransitItem[]
}

/** A row's variant at its current cost (cost, price_per), and what `quantity` of it is worth. */
function costed(r: Record<string, unknown>, quantity: number) {
  const unitCost = num(r.cost)
  const costPer = num(r.price_per)
  return { variantId: String(r.variant_id), sku: String(r.sku), name: String(r.name), unitCost, costPer, value: mulDivRound(quantity, unitCost, costPer) }
}

export function turnoverDays(onHand: number, unitsSold: number, windowDays: number): number | null {
  if (unitsSold <= 0) return null
  if (onHand <= 0) return 0
  return decimalRatio(onHand * windowDays, unitsSold, 1)
}

export async function stockValuationReport(tx: Tx, merchantId: string, q: StockValuationQuery): Promise<StockValuationReport> {
  const windowDays = q.windowDays ?? DEFAULT_TURNOVER_WINDOW_DAYS
  if (!Number.isSafeInteger(windowDays) || windowDays < 1 || windowDays > 366) throw invalid('invalid_window', 'windowDays must be a whole number from 1 to 366')
  if (q.date !== undefined && !isDate(q.date)) throw badRequest('invalid_date', `date must be a date as YYYY-MM-DD, got "${q.date}"`)
  await scopeStore(tx, merchantId, q.storeId)
  if (q.locationId) await requireLocation(tx, merchantId, q.locationId)
  const { currency, timeZone } = await getSettings(tx, merchantId)
  const today = businessDate(q.at, timeZone)
  const date = q.date ?? today
  if (date > today) throw invalid('future_date', `stock cannot be valued on ${date}, after today (${today})`, { date, today })
  const windowFrom = addDays(date, -(windowDays - 1))
  const start = startOfBusinessDay(windowFrom, timeZone)
  const end = businessDayRange(date, timeZone).end
  const onHandSource = date === today ? 'levels' : 'ledger'

  const scope = (location: SQL): SQL =>
    sql`${q.locationId ? sql` and ${location} = ${q.locationId}` : sql``}${
      q.storeId ? sql` and ${location} in (select id from stock_locations where merchant_id = ${merchantId} and store_id = ${q.storeId})` : sql``
    }`
  const onHandRows =
    onHandSource === 'levels'
      ? sql`select location_id, variant_id, on_hand from stock_levels where merchant_id = ${merchantId} and on_hand <> 0${scope(sql`location_id`)}`
      : sql`select location_id, variant_id, sum(quantity)::bigint as on_hand
              from stock_movements
             where merchant_id = ${merchantId} and occurred_at < ${end.toISOString()}::timestamptz${scope(sql`location_id`)}
             group by 1, 2
            having sum(quantity) <> 0`
  const { rows } = await tx.execute<Record<string, unknown>>(sql`
    with on_hand as (${onHandRows}),
    sold as (
      select location_id, variant_id, (-sum(quantity))::bigint as units
        from (${unitsSoldMovements(merchantId, start, end)}) m
       where true${scope(sql`location_id`)}
       group by 1, 2
    )
    select oh.location_id, loc.name as location_name, loc.store_id, st.code as store_code, oh.variant_id, v.sku, ${variantName} as name,
           oh.on_hand, v.cost, v.price_per, coalesce(sd.units, 0) as units_sold
      from on_hand oh
      join stock_locations loc on loc.id = oh.location_id
      join stores st on st.id = loc.store_id
      join variants v on v.id = oh.variant_id
      join products p on p.id = v.product_id
      left join sold sd on sd.location_id = oh.location_id and sd.variant_id = oh.variant_id
     order by st.code, loc.name, loc.id, v.sku`)

  const inTransit = await inTransitAt(tx, merchantId, end, scope(sql`t.to_location_id`))
  const items: StockValuationItem[] = rows.map((r) => {
    const onHand = num(r.on_hand)
    const unitsSold = num(r.units_sold)
    const { value, ...variant } = costed(r, onHand)
    return {
      locationId: String(r.location_id),
      ...variant,
      onHand,
      value,
      unitsSold,
      averageDailyUnits: decimalText(unitsSold, windowDays, 3)!,
      turnoverDays: turnoverDays(onHand, unitsSold, windowDays),
    }
  })
  const total = sum(items.map((i) => i.value))
  const inTransitValue = sum(inTransit.map((i) => i.value))
  const locations = new Map<string, StockValuationReport['locations'][number]>()
  rows.forEach((r, i) => {
    const id = String(r.location_id)
    const loc = locations.get(id) ?? { locationId: id, locationName: String(r.location_name), storeId: String(r.store_id), storeCode: String(r.store_code), items: 0, onHand: 0, value: 0 }
    loc.items += 1
    loc.onHand += items[i]!.onHand
    loc.value = sum([loc.value, items[i]!.value])
    locations.set(id, loc)
  })
  return {
    date,
    onHandSource,
    windowDays,
    windowFrom,
    windowTo: date,
    currency,
    locations: [...locations.values()],
    totals: { items: items.length, value: total, inTransitValue, totalValue: sum([total, inTransitValue]) },
    items,
    inTransit,
  }
}

/** The transfer lines on their way at `end` (see inTransit above), oldest transfer first. */
async function inTransitAt(tx: Tx, merchantId: string, end: Date, scope: SQL): Promise<InTransitItem[]> {
  const { rows } = await tx.execute<Record<string, unknown>>(sql`
    select t.id as transfer_id, t.from_location_id, src.name as from_location_name, src_store.code as from_store_code,
           t.to_location_id, dest.name as to_location_name, dest.store_id as to_store_id, dest_store.code as to_store_code,
           t.sent_at, tl.variant_id, v.sku, ${variantName} as name, tl.quantity_sent, v.cost, v.price_per
      from stock_transfers t
      join stock_transfer_lines tl on tl.transfer_id = t.id
      join stock_locations src on src.id = t.from_location_id
      join stores src_store on src_store.id = src.store_id
      join stock_locations dest on dest.id = t.to_location_id
      join stores dest_store on dest_store.id = dest.store_id
      join variants v on v.id = tl.variant_id
      join products p on p.id = v.product_id
     where t.merchant_id = ${merchantId} and t.sent_at < ${end.toISOString()}::timestamptz${scope}
       and (t.status = 'in_transit'
            or (t.status = 'received' and t.received_at >= ${end.toISOString()}::timestamptz)
            or (t.status = 'cancelled' and not exists (
                  select 1 from stock_movements sm
                   where sm.cause_type = 'transfer' and sm.cause_id = t.id::text and sm.kind = 'transfer_in'
                     and sm.occurred_at < ${end.toISOString()}::timestamptz)))
     order by t.sent_at, t.id, v.sku`)
  return rows.map((r) => {
    const quantity = num(r.quantity_sent)
    return {
      transferId: String(r.transfer_id),
      fromLocationId: String(r.from_location_id),
      fromLocationName: String(r.from_location_name),
      fromStoreCode: String(r.from_store_code),
      toLocationId: String(r.to_location_id),
      toLocationName: String(r.to_location_name),
      toStoreId: String(r.to_store_id),
      toStoreCode: String(r.to_store_code),
      sentAt: new Date(String(r.sent_at)),
      quantity,
      ...costed(r, quantity),
    }
  })
}

export function stockValuationCsv(r: StockValuationReport, locale?: Locale): CsvFile {
  const money = moneyCell(r.currency)
  const where = new Map(r.locations.map((l) => [l.locationId, l]))
  const header = ['store_code', 'location', 'sku', 'name', 'on_hand', 'unit_cost', 'cost_per', 'value', 'units_sold', 'average_daily_units', 'turnover_days', 'in_transit_from']
  const rows = r.items.map((i) => [
    where.get(i.locationId)!.storeCode,
    where.get(i.locationId)!.locationName,
    i.sku,
    i.name,
    i.onHand,
    money(i.unitCost),
    i.costPer,
    money(i.value),
    i.unitsSold,
    i.averageDailyUnits,
    i.turnoverDays === null ? null : i.turnoverDays.toFixed(1),
    null,
  ])
  // Stock on its way: a row under its destination, its quantity in on_hand, naming where it was sent from.
  const road = r.inTransit.map((i) => [
    i.toStoreCode,
    i.toLocationName,
    i.sku,
    i.name,
    i.quantity,
    money(i.unitCost),
    i.costPer,
    money(i.value),
    null,
    null,
    null,
    `${i.fromStoreCode} ${i.fromLocationName}`,
  ])
  return csvFile(`stock-valuation_${r.date}.csv`, { header, rows: [...rows, ...road] }, locale)
}
