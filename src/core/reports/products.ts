// Best sellers and slow movers: per variant (or rolled up per category) what sold in a period, net of what came back,
// at what cost and margin; slow movers include the variants in stock that did not sell at all.
//
// Definitions (amounts in minor units, quantities in the product's base unit — pieces, grams, millilitres):
//   period      business dates from..to. Sales: the completed sales of those days (voided ones are cancelled and
//               count nowhere). Refunds: refunds of kind 'refund' made on those days, whatever the day of the sale
//               they return (a refund belongs to the day it happens). With storeId, the sales and refunds of that
//               store and the stock of its locations.
//   quantity    Σ sale_lines.quantity − Σ refund_lines.quantity.
//   netSales    after discounts and without tax: Σ sale_lines.net_ex_tax − Σ (refund_lines.amount −
//               refund_lines.tax_amount). Cash rounding is not part of any product's sales.
//   cost        Σ round(sale_lines.unit_cost × quantity ÷ price_per) − the same for each refund line's quantity at its
//               sale line's cost: the cost recorded on the sale line (the variant's cost when it was sold), rounded
//               half up per line, the rule the stock ledger values movements by. A returned item takes its cost back
//               whether it was restocked or written off (a write-off is a stock loss, not a cost of sales).
//   margin      netSales − cost; marginBp = margin ÷ netSales in basis points, half up (null when netSales is 0);
//               marginPercent the same as text with two decimals.
//   onHand      Σ stock_levels.on_hand now, over the store's locations (all locations without storeId).
//   category    the product's current category (so a variant is in one place however it was filed when sold);
//               categoryId limits the report to that category and everything below it. Rolled up per category, the
//               figures are the sums over its variants ('variants' counts them).
//   bestSellers the top `limit` of those that sold (quantity > 0), by quantity or by margin, highest first.
//   slowMovers  the bottom `limit` by the same measure, lowest first, among every variant that sold, was refunded
//               or has stock on hand — so the variants in stock that did not sell at all (quantity and margin 0) are
//               there, below only those that lost more than they sold.
//   Ties go to the higher (best) or lower (slow) net sales, then SKU or category name.
//   totals      sums over every variant in the report (not only the listed ones).
//
// Performance: one statement. Sales and refunds of the period come through sales_merchant_day_idx and
// refunds_merchant_day_idx with their lines by sale_id / refund_id; levels through stock_levels_variant_idx.
import { sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { notFound } from '../../lib/errors.ts'
import { mulDivRound } from '../../lib/money.ts'
import { categoryWithDescendants } from '../catalog/products.ts'
import { getSettings } from '../merchants/settings.ts'
import { variantName } from '../stock/items.ts'
import { bpCell, csvFile, moneyCell, type CsvFile } from './csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { num, periodDays, scopeStore, storeFilter, type Period } from './period.ts'

export interface ProductsQuery extends Period {
  storeId?: string
  by: 'quantity' | 'margin'
  groupBy: 'variant' | 'category'
  limit: number
  categoryId?: string
}

export interface ProductFigures {
  /** Null in a roll-up per category. */
  variantId: string | null
  sku: string | null
  /** The variant's display name, or the category's name (null for products without a category). */
  name: string | null
  categoryId: string | null
  categoryName: string | null
  /** How many variants the row sums (1 per variant). */
  variants: number
  quantity: number
  netSales: number
  cost: number
  margin: number
  marginBp: number | null
  marginPercent: string | null
  onHand: number
}

export interface ProductsReport {
  from: string
  to: string
  storeId: string | null
  categoryId: string | null
  by: 'quantity' | 'margin'
  groupBy: 'variant' | 'category'
  limit: number
  currency: string
  totals: { variants: number; quantity: number; netSales: number; cost: number; margin: number; marginBp: number | null }
  bestSellers: ProductFigures[]
  slowMovers: ProductFigures[]
}

const marginBp = (margin: number, netSales: number) => (netSales === 0 ? null : mulDivRound(margin, 10_000, netSales))

export async function productsReport(tx: Tx, merchantId: string, q: ProductsQuery): Promise<ProductsReport> {
  periodDays(q)
  await scopeStore(tx, merchantId, q.storeId)
  const { currency } = await getSettings(tx, merchantId)
  let inCategory: SQL = sql``
  if (q.categoryId) {
    const tree = await categoryWithDescendants(tx, merchantId, q.categoryId)
    if (tree.length === 0) throw notFound('category', q.categoryId)
    inCategory = sql` and p.category_id = any(${sql.param(tree)}::uuid[])`
  }
  const units =
    q.groupBy === 'variant'
      ? sql`select variant_id::text as key, variant_id, sku, name, category_id, category_name, 1 as variants,
                   quantity, net_sales, cost, on_hand, sold, sku as sort_key
              from per_variant`
      : sql`select coalesce(category_id::text, '') as key, null::uuid as variant_id, null::text as sku, category_name as name,
                   category_id, category_name, count(*) as variants, sum(quantity)::bigint as quantity,
                   sum(net_sales)::bigint as net_sales, sum(cost)::bigint as cost, sum(on_hand)::bigint as on_hand,
                   bool_or(sold) as sold, coalesce(category_name, '') as sort_key
              from per_variant group by category_id, category_name`
  const measure = q.by === 'quantity' ? sql`quantity` : sql`(net_sales - cost)`
  const columns = sql`key, variant_id, sku, name, category_id, category_name, variants, quantity, net_sales, cost, on_hand`

  const { rows } = await tx.execute<Record<string, unknown>>(sql`
    with sold as (
      select l.variant_id, sum(l.quantity)::bigint as qty, sum(l.net_ex_tax)::bigint as net,
             sum(round(l.quantity::numeric * l.unit_cost / l.price_per))::bigint as cost
        from sale_lines l join sales s on s.id = l.sale_id
       where s.merchant_id = ${merchantId} and s.status = 'completed' and s.business_date between ${q.from} and ${q.to}${storeFilter(sql`s.store_id`, q.storeId)}
       group by 1
    ), returned as (
      select l.variant_id, sum(rl.quantity)::bigint as qty, sum(rl.amount - rl.tax_amount)::bigint as net,
             sum(round(rl.quantity::numeric * l.unit_cost / l.price_per))::bigint as cost
        from refund_lines rl
        join refunds r on r.id = rl.refund_id
        join sale_lines l on l.id = rl.sale_line_id
       where r.merchant_id = ${merchantId} and r.kind = 'refund' and r.business_date between ${q.from} and ${q.to}${storeFilter(sql`r.store_id`, q.storeId)}
       group by 1
    ), stocked as (
      select lv.variant_id, sum(lv.on_hand)::bigint as on_hand
        from stock_levels lv join stock_locations loc on loc.id = lv.location_id
       where lv.merchant_id = ${merchantId}${storeFilter(sql`loc.store_id`, q.storeId)}
       group by 1
    ), per_variant as (
      select v.id as variant_id, v.sku, ${variantName} as name, p.category_id, c.name as category_name,
             coalesce(sd.qty, 0) - coalesce(rt.qty, 0) as quantity,
             coalesce(sd.net, 0) - coalesce(rt.net, 0) as net_sales,
             coalesce(sd.cost, 0) - coalesce(rt.cost, 0) as cost,
             coalesce(st.on_hand, 0) as on_hand,
             (sd.variant_id is not null or rt.variant_id is not null) as sold
        from variants v
        join products p on p.id = v.product_id
        left join categories c on c.id = p.category_id
        left join sold sd on sd.variant_id = v.id
        left join returned rt on rt.variant_id = v.id
        left join stocked st on st.variant_id = v.id
       where v.merchant_id = ${merchantId}
         and (sd.variant_id is not null or rt.variant_id is not null or st.on_hand > 0)${inCategory}
    ), units as (${units})
    select 'best' as list, * from (
      select row_number() over (order by ${measure} desc, net_sales desc, sort_key, key) as rank, ${columns}
        from units where quantity > 0 order by rank limit ${q.limit}
    ) b
    union all
    select 'slow', * from (
      select row_number() over (order by ${measure}, net_sales, sort_key, key) as rank, ${columns}
        from units order by rank limit ${q.limit}
    ) s
    union all
    select 'total', 0, null, null, null, null, null, null, count(*), coalesce(sum(quantity), 0)::bigint, coalesce(sum(net_sales), 0)::bigint,
           coalesce(sum(cost), 0)::bigint, coalesce(sum(on_hand), 0)::bigint
      from per_variant`)

  const figures = (r: Record<string, unknown>): ProductFigures => {
    const netSales = num(r.net_sales)
    const margin = netSales - num(r.cost)
    const bp = marginBp(margin, netSales)
    return {
      variantId: r.variant_id === null ? null : String(r.variant_id),
      sku: r.sku === null ? null : String(r.sku),
      name: r.name === null ? null : String(r.name),
      categoryId: r.category_id === null ? null : String(r.category_id),
      categoryName: r.category_name === null ? null : String(r.category_name),
      variants: num(r.variants),
      quantity: num(r.quantity),
      netSales,
      cost: num(r.cost),
      margin,
      marginBp: bp,
      marginPercent: bpCell(bp),
      onHand: num(r.on_hand),
    }
  }
  const list = (name: string) =>
    rows
      .filter((r) => r.list === name)
      .sort((a, b) => num(a.rank) - num(b.rank))
      .map(figures)
  const total = rows.find((r) => r.list === 'total')!
  const netSales = num(total.net_sales)
  const cost = num(total.cost)
  return {
    from: q.from,
    to: q.to,
    storeId: q.storeId ?? null,
    categoryId: q.categoryId ?? null,
    by: q.by,
    groupBy: q.groupBy,
    limit: q.limit,
    currency,
    totals: { variants: num(total.variants), quantity: num(total.quantity), netSales, cost, margin: netSales - cost, marginBp: marginBp(netSales - cost, netSales) },
    bestSellers: list('best'),
    slowMovers: list('slow'),
  }
}

/** Both lists, best sellers first: one row per variant (or category) with its list and rank. */
export function productsCsv(r: ProductsReport, locale?: Locale): CsvFile {
  const money = moneyCell(r.currency)
  const header = ['list', 'rank', 'sku', 'name', 'category', 'variants', 'quantity', 'net_sales', 'cost', 'margin', 'margin_percent', 'on_hand']
  const rows = (['best', 'slow'] as const).flatMap((list) =>
    (list === 'best' ? r.bestSellers : r.slowMovers).map((f, i) => [
      list,
      i + 1,
      f.sku,
      f.name,
      f.categoryName,
      f.variants,
      f.quantity,
      money(f.netSales),
      money(f.cost),
      money(f.margin),
      f.marginPercent,
      f.onHand,
    ]),
  )
  return csvFile(`products_${r.groupBy}_${r.by}_${r.from}_${r.to}.csv`, { header, rows }, locale)
}
