// Daily sales per store and business day, summed straight from the sales ledger (sales with their lines, discounts
// and tenders; refunds with theirs), so every figure can be selected again row by row.
//
// Definitions (amounts in minor units):
//   day             a business date: the calendar day of the instant in the merchant's time zone, as stored on the
//                   row (sales.business_date, refunds.business_date). A sale at 23:59:59 Shanghai time belongs to
//                   that day, one at 00:00:00 to the next.
//   sales           the completed sales of the store and day (status 'completed'). A voided sale is in no sales
//                   figure: a void cancels the sale on its own day (only then is it allowed) and shows under voids.
//   transactions    the number of those sales.
//   gross           Σ gross_total: line amounts before discounts (tax included when prices include tax).
//   discounts       Σ discount_total; bySource: Σ sale_adjustments.amount grouped by (source, source_id): one
//                   entry per promotion under its current name (a promotion renamed in the period is one entry), one
//                   per tier and coupon under the latest label of the period; till discounts ('manual', no source
//                   id) and points redemptions grouped by their label. The entries add up to the total.
//   total           Σ total: what customers owed before cash rounding (gross − discounts, + tax when prices exclude it).
//   rounding        Σ rounding_adjustment: cash rounding (抹零), negative when rounded down.
//   netSales        Σ (total + rounding_adjustment): the amount due of the day's sales.
//   tax             total = Σ tax_total; byRate: the sales' lines grouped by tax_rate_bp with Σ net_ex_tax,
//                   Σ tax_amount and Σ total (line totals, before cash rounding). The rates add up to the total.
//   refunds         refunds of kind 'refund' made at the store on the day, whatever the day of the sale they return:
//                   a refund belongs to the day it happens. count, amount = Σ total (the money returned, with its
//                   share of cash rounding), tax = Σ tax_total.
//   voids           refunds of kind 'void' of the store and day: count, amount = Σ total (what the voided sales took).
//   netAfterRefunds netSales − refunds.amount.
//   tenders         per tender kind, every kind alike (cash, cards, wallets, coupon vouchers, on account, stored value,
//                   points): sales = Σ sale_tenders.amount of the day's sales (cash net of change), refunds =
//                   Σ refund_tenders.amount of the day's refunds, net = sales − refunds. Σ net = netAfterRefunds +
//                   tenderDifference.
//   tenderDifference Σ tender_difference: what offline tills took beyond the amount due (negative: short); 0 online.
//   hours           24 buckets, by the hour of sales.occurred_at on the clock of the merchant's time zone: count and
//                   Σ amount due of the day's sales.
//   basket          averageAmount = netSales ÷ transactions rounded half up to whole minor units; items = Σ over the
//                   lines of the quantity for goods sold by the piece, and 1 per weighed or measured line (grams are
//                   not items); averageItems = items ÷ transactions to two decimals, half up. Null without sales.
// Stores: the one asked for, or every store of the merchant that is open or has any figure in the period.
//
// Performance: the stores, then six grouped queries (run by the route in one snapshot), each driven by
// sales_merchant_day_idx or refunds_merchant_day_idx (merchant, business_date, store) and the sale_id / refund_id
// indexes of the child tables. No index is missing for them.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { labelledDiscounts } from '../sales/discount-labels.ts'
import { getSettings } from '../merchants/settings.ts'
import { bpCell, csvFile, moneyCell, type Cell, type CsvFile } from './csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { averageOf, decimalRatio, num, periodDays, scopeStore, storeFilter, type Period } from './period.ts'

export interface DailySalesQuery extends Period {
  storeId?: string
}

export interface DailySalesEntry {
  storeId: string
  storeCode: string
  storeName: string
  businessDate: string
  transactions: number
  gross: number
  discounts: { total: number; bySource: { source: string; sourceId: string | null; label: string; amount: number }[] }
  total: number
  rounding: number
  netSales: number
  tax: { total: number; byRate: { rateBp: number; netExTax: number; tax: number; total: number }[] }
  refunds: { count: number; amount: number; tax: number }
  voids: { count: number; amount: number }
  netAfterRefunds: number
  tenders: { kind: string; sales: number; refunds: number; net: number }[]
  tenderDifference: number
  hours: { hour: number; count: number; amount: number }[]
  basket: { averageAmount: number | null; items: number; averageItems: number | null }
}

export interface DailySalesReport {
  from: string
  to: string
  currency: string
  timeZone: string
  entries: DailySalesEntry[]
}

type Row = Record<string, unknown>

const key = (storeId: unknown, day: unknown) => `${String(storeId)}|${String(day)}`

function groupRows(rows: Row[]): Map<string, Row[]> {
  const out = new Map<string, Row[]>()
  for (const r of rows) {
    const k = key(r.store_id, r.day)
    const list = out.get(k)
    if (list) list.push(r)
    else out.set(k, [r])
  }
  return out
}

export async function dailySalesReport(tx: Tx, merchantId: string, q: DailySalesQuery): Promise<DailySalesReport> {
  const days = periodDays(q)
  await scopeStore(tx, merchantId, q.storeId)
  const { currency, timeZone } = await getSettings(tx, merchantId)
  const salesIn = sql`s.merchant_id = ${merchantId} and s.business_date between ${q.from} and ${q.to}${storeFilter(sql`s.store_id`, q.storeId)}`
  const refundsIn = sql`r.merchant_id = ${merchantId} and r.business_date between ${q.from} and ${q.to}${storeFilter(sql`r.store_id`, q.storeId)}`

  const stores = (
    await tx.execute<Row>(sql`
      select id, code, name, status from stores where merchant_id = ${merchantId}${storeFilter(sql`id`, q.storeId)} order by code`)
  ).rows
  const summary = (
    await tx.execute<Row>(sql`
      select s.store_id, s.business_date::text as day, count(*) as count,
             sum(s.gross_total)::bigint as gross, sum(s.discount_total)::bigint as discounts, sum(s.tax_total)::bigint as tax,
             sum(s.total)::bigint as total, sum(s.rounding_adjustment)::bigint as rounding,
             sum(s.tender_difference)::bigint as tender_difference, sum(li.items)::bigint as items
        from sales s
        cross join lateral (
          select coalesce(sum(case when l.unit = 'piece' then l.quantity else 1 end), 0) as items from sale_lines l where l.sale_id = s.id
        ) li
       where ${salesIn} and s.status = 'completed'
       group by 1, 2`)
  ).rows
  const taxRows = (
    await tx.execute<Row>(sql`
      select s.store_id, s.business_date::text as day, l.tax_rate_bp,
             sum(l.net_ex_tax)::bigint as net_ex_tax, sum(l.tax_amount)::bigint as tax, sum(l.total)::bigint as total
        from sale_lines l join sales s on s.id = l.sale_id
       where ${salesIn} and s.status = 'completed'
       group by 1, 2, 3
       order by 3 desc`)
  ).rows
  const discountRows = (
    await tx.execute<Row>(sql`
      select store_id, day, source, source_id, label, sum(amount)::bigint as amount
        from (${labelledDiscounts(merchantId, salesIn)}) x
       group by 1, 2, 3, 4, 5
       order by 6 desc, 3, 5, 4`)
  ).rows
  const refundRows = (
    await tx.execute<Row>(sql`
      select r.store_id, r.business_date::text as day, r.kind, count(*) as count, sum(r.total)::bigint as total, sum(r.tax_total)::bigint as tax
        from refunds r
       where ${refundsIn}
       group by 1, 2, 3`)
  ).rows
  const tenderRows = (
    await tx.execute<Row>(sql`
      select store_id, day, kind, sum(sales)::bigint as sales, sum(refunds)::bigint as refunds
        from (
          select s.store_id, s.business_date::text as day, t.kind, t.amount as sales, 0 as refunds
            from sale_tenders t join sales s on s.id = t.sale_id
           where ${salesIn} and s.status = 'completed'
          union all
          select r.store_id, r.business_date::text, t.kind, 0, t.amount
            from refund_tenders t join refunds r on r.id = t.refund_id
           where ${refundsIn} and r.kind = 'refund'
        ) x
       group by 1, 2, 3
       order by 3`)
  ).rows
  const hourRows = (
    await tx.execute<Row>(sql`
      select s.store_id, s.business_date::text as day, extract(hour from s.occurred_at at time zone ${timeZone})::int as hour,
             count(*) as count, sum(s.total + s.rounding_adjustment)::bigint as amount
        from sales s
       where ${salesIn} and s.status = 'completed'
       group by 1, 2, 3`)
  ).rows

  const summaryBy = new Map(summary.map((r) => [key(r.store_id, r.day), r]))
  const taxBy = groupRows(taxRows)
  const discountBy = groupRows(discountRows)
  const refundBy = groupRows(refundRows)
  const tenderBy = groupRows(tenderRows)
  const hourBy = groupRows(hourRows)
  const active = new Set([...summaryBy.keys(), ...refundBy.keys()].map((k) => k.split('|')[0]))

  const entries: DailySalesEntry[] = []
  for (const day of days) {
    for (const store of stores) {
      if (!q.storeId && store.status !== 'active' && !active.has(String(store.id))) continue
      const k = key(store.id, day)
      const s = summaryBy.get(k)
      const transactions = num(s?.count)
      const total = num(s?.total)
      const rounding = num(s?.rounding)
      const netSales = total + rounding
      const items = num(s?.items)
      const refundOf = (kind: string) => refundBy.get(k)?.find((r) => r.kind === kind)
      const refunds = { count: num(refundOf('refund')?.count), amount: num(refundOf('refund')?.total), tax: num(refundOf('refund')?.tax) }
      const hours = Array.from({ length: 24 }, (_, hour) => {
        const h = hourBy.get(k)?.find((r) => num(r.hour) === hour)
        return { hour, count: num(h?.count), amount: num(h?.amount) }
      })
      entries.push({
        storeId: String(store.id),
        storeCode: String(store.code),
        storeName: String(store.name),
        businessDate: day,
        transactions,
        gross: num(s?.gross),
        discounts: {
          total: num(s?.discounts),
          bySource: (discountBy.get(k) ?? []).map((r) => ({ source: String(r.source), sourceId: r.source_id === null ? null : String(r.source_id), label: String(r.label), amount: num(r.amount) })),
        },
        total,
        rounding,
        netSales,
        tax: {
          total: num(s?.tax),
          byRate: (taxBy.get(k) ?? []).map((r) => ({ rateBp: num(r.tax_rate_bp), netExTax: num(r.net_ex_tax), tax: num(r.tax), total: num(r.total) })),
        },
        refunds,
        voids: { count: num(refundOf('void')?.count), amount: num(refundOf('void')?.total) },
        netAfterRefunds: netSales - refunds.amount,
        tenders: (tenderBy.get(k) ?? []).map((r) => ({ kind: String(r.kind), sales: num(r.sales), refunds: num(r.refunds), net: num(r.sales) - num(r.refunds) })),
        tenderDifference: num(s?.tender_difference),
        hours,
        basket: { averageAmount: averageOf(netSales, transactions), items, averageItems: decimalRatio(items, transactions, 2) },
      })
    }
  }
  return { from: q.from, to: q.to, currency, timeZone, entries }
}

/**
 * One row per store and day. Besides the fixed columns, one column per discount source, per tax rate (net ex tax
 * and tax), per tender kind (sales, refunds, net) and per hour (count and amount), as they occur in the period.
 */
export function dailySalesCsv(r: DailySalesReport, storeCode?: string, locale?: Locale): CsvFile {
  const money = moneyCell(r.currency)
  const discountKeys = new Map<string, string>()
  const rates = new Set<number>()
  const kinds = new Set<string>()
  for (const e of r.entries) {
    for (const d of e.discounts.bySource) discountKeys.set(`${d.source}|${d.sourceId ?? ''}|${d.label}`, `discount ${d.source}: ${d.label}`)
    for (const t of e.tax.byRate) rates.add(t.rateBp)
    for (const t of e.tenders) kinds.add(t.kind)
  }
  // Two promotions with the same name keep apart by their id.
  const titles = [...discountKeys.values()]
  const discountColumns = [...discountKeys].map(([k, title]) => ({ k, title: titles.filter((t) => t === title).length > 1 ? `${title} (${k.split('|')[1]})` : title }))
  const rateList = [...rates].sort((a, b) => b - a)
  const kindList = [...kinds].sort()
  const hh = (h: number) => String(h).padStart(2, '0')
  const header = [
    'business_date',
    'store_code',
    'store_name',
    'transactions',
    'gross',
    'discounts',
    'total',
    'rounding',
    'net_sales',
    'tax',
    'refunds_count',
    'refunds_amount',
    'refunds_tax',
    'voids_count',
    'voids_amount',
    'net_after_refunds',
    'tender_difference',
    'average_basket',
    'items',
    'average_items',
    ...discountColumns.map((d) => d.title),
    ...rateList.flatMap((rate) => [`tax ${bpCell(rate)}% net_ex_tax`, `tax ${bpCell(rate)}% tax`]),
    ...kindList.flatMap((k) => [`tender ${k} sales`, `tender ${k} refunds`, `tender ${k} net`]),
    ...Array.from({ length: 24 }, (_, h) => [`hour ${hh(h)} count`, `hour ${hh(h)} amount`]).flat(),
  ]
  const rows = r.entries.map((e): Cell[] => {
    const discount = (k: string) => e.discounts.bySource.find((d) => `${d.source}|${d.sourceId ?? ''}|${d.label}` === k)?.amount ?? 0
    return [
      e.businessDate,
      e.storeCode,
      e.storeName,
      e.transactions,
      money(e.gross),
      money(e.discounts.total),
      money(e.total),
      money(e.rounding),
      money(e.netSales),
      money(e.tax.total),
      e.refunds.count,
      money(e.refunds.amount),
      money(e.refunds.tax),
      e.voids.count,
      money(e.voids.amount),
      money(e.netAfterRefunds),
      money(e.tenderDifference),
      money(e.basket.averageAmount),
      e.basket.items,
      e.basket.averageItems === null ? null : e.basket.averageItems.toFixed(2),
      ...discountColumns.map((d) => money(discount(d.k))),
      ...rateList.flatMap((rate) => {
        const t = e.tax.byRate.find((x) => x.rateBp === rate)
        return [money(t?.netExTax ?? 0), money(t?.tax ?? 0)]
      }),
      ...kindList.flatMap((k) => {
        const t = e.tenders.find((x) => x.kind === k)
        return [money(t?.sales ?? 0), money(t?.refunds ?? 0), money(t?.net ?? 0)]
      }),
      ...e.hours.flatMap((h) => [h.count, money(h.amount)]),
    ]
  })
  const span = r.from === r.to ? r.from : `${r.from}_${r.to}`
  return csvFile(`daily-sales_${storeCode ?? 'all'}_${span}.csv`, { header, rows }, locale)
}
