// What every stock operation needs before it touches the ledger: the merchant's locations (a foreign one is not
// found), the variants a request names (by id, SKU or barcode) with their cost, and the value of a quantity at cost.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid } from '../../lib/errors.ts'
import { mulDivRound } from '../../lib/money.ts'
import { lookupSellables, type ItemRef, type Sellable } from '../catalog/lookup.ts'
import { getSettings, type MerchantSettings } from '../merchants/settings.ts'
import { getLocation, type StockLocation } from '../stores/service.ts'

export type { ItemRef }

/** A location of the merchant; another merchant's is "not found", like one that does not exist. */
export async function requireLocation(tx: Tx, merchantId: string, locationId: string, opts: { active?: boolean } = {}): Promise<StockLocation> {
  const location = await getLocation(tx, merchantId, locationId)
  if (opts.active && !location.active) throw invalid('location_inactive', `stock location ${location.name} is not active`, { locationId })
  return location
}

export type StockSettings = Pick<MerchantSettings, 'negativeStock' | 'scaleBarcode'>

export const stockSettings = (tx: Tx, merchantId: string): Promise<StockSettings> => getSettings(tx, merchantId)

/** Resolves each ref to its variant (in order), or throws `unknown_item` naming the first that matches nothing. */
export async function resolveItems(tx: Tx, merchantId: string, refs: ItemRef[], settings?: StockSettings): Promise<Sellable[]> {
  if (refs.length === 0) return []
  return lookupSellables(tx, merchantId, refs, settings ?? (await stockSettings(tx, merchantId)), { categoryChains: false })
}

/** Value of a quantity at a cost given per `costPer` base units, in minor units, rounded half up. */
export const costValue = (quantity: number, unitCost: number, costPer: number) => mulDivRound(quantity, unitCost, costPer)

/** Display name of a variant as the till shows it: the product name with the variant's option values. */
export const variantName = sql<string>`(p.name || coalesce(' (' || (select string_agg(o.value, '/') from jsonb_each_text(v.option_values) o) || ')', ''))`

/**
 * The movements that count as units sold in a window, by location: sales, orders fulfilled from a hold, and the
 * returns and voids that take them back. A return counts where the item was sold (its sale line's location), wherever
 * it was restocked: selling somewhere is what its units sold say. Rows (variant_id, location_id, quantity), quantities
 * as moved (a sale negative). `at` limits the rows to those counting at that location.
 */
export const unitsSoldMovements = (merchantId: string, start: Date, end: Date, at?: string) => sql`
  select m.variant_id, coalesce(sl.location_id, m.location_id) as location_id, m.quantity
    from stock_movements m
    left join refund_lines rl on m.kind = 'return' and m.cause_type = 'refund_line' and rl.id::text = m.cause_id
    left join sale_lines sl on sl.id = rl.sale_line_id
   where m.merchant_id = ${merchantId} and m.kind in ('sale', 'reservation_consumed', 'return', 'void')
     and m.occurred_at >= ${start.toISOString()}::timestamptz and m.occurred_at < ${end.toISOString()}::timestamptz
     ${at ? sql`and coalesce(sl.location_id, m.location_id) = ${at}` : sql``}`

