// Staff performance over a period: per person, the sales they rang, the refunds and voids they made, the manual
// discounts they gave and the overrides they approved as a manager.
//
// Definitions (amounts in minor units; period = business dates from..to, optionally one store):
//   person            a staff user, or an API key acting as a till (its name), or 'system' (no id).
//   sales             completed sales of the period with sales.cashier_id = the person: count and Σ amount due
//                     (total + rounding_adjustment). Voided sales are not sales (see voids).
//   averageBasket     sales amount ÷ sales count, half up, whole minor units; null without sales.
//   refunds           refunds of kind 'refund' made in the period (refunds.business_date, at the store) with
//                     created_by = the person: count and Σ total — whatever the day of the sale they return.
//   voids             sales voided by the person (sales.voided_by) of the period: count and Σ what the void gave back
//                     (the amount due and what an offline till took beyond it, as the daily and Z reports count it). A void is
//                     only allowed on the sale's own business day, so the sale's day is the void's day.
//   manualDiscounts   on the person's completed sales: the sale_adjustments of source 'manual' — count (discounted
//                     lines) and Σ amount.
//   overridesApproved how many times the person approved as a manager what the acting cashier could not do alone:
//                     sales of the period with sales.approver_id = the person (whatever became of the sale) plus
//                     refunds and voids of the period with refunds.approved_by = the person.
//
// Performance: one statement over the period's sales and refunds (sales_merchant_day_idx, refunds_merchant_day_idx),
// their manual adjustments by sale_id, and the names by primary key.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { getSettings } from '../merchants/settings.ts'
import { csvFile, moneyCell, type CsvFile } from './csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { averageOf, num, periodDays, scopeStore, storeFilter, type Period } from './period.ts'

export interface StaffQuery extends Period {
  storeId?: string
}

interface CountAmount {
  count: number
  amount: number
}

export interface StaffFigures {
  userId: string | null
  type: 'user' | 'api_key' | 'system'
  name: string | null
  sales: CountAmount
  averageBasket: number | null
  refunds: CountAmount
  voids: CountAmount
  manualDiscounts: CountAmount
  overridesApproved: number
}

export interface StaffReport {
  from: string
  to: string
  storeId: string | null
  currency: string
  staff: StaffFigures[]
}

const METRICS = { sale: 'sales', refund: 'refunds', void: 'voids', manual_discount: 'manualDiscounts' } as const

export async function staffReport(tx: Tx, merchantId: string, q: StaffQuery): Promise<StaffReport> {
  periodDays(q)
  await scopeStore(tx, merchantId, q.storeId)
  const { currency } = await getSettings(tx, merchantId)
  const { rows } = await tx.execute<Record<string, unknown>>(sql`
    with period_sales as (
      select id, cashier_id, status, voided_by, approver_id, total + rounding_adjustment as amount_due,
             -- What a void gave back: the amount due and what an offline till took beyond it, as the void records it.
             total + rounding_adjustment + tender_difference as paid
        from sales
       where merchant_id = ${merchantId} and business_date between ${q.from} and ${q.to}${storeFilter(sql`store_id`, q.storeId)}
    ), period_refunds as (
      select kind, created_by, approved_by, total
        from refunds
       where merchant_id = ${merchantId} and business_date between ${q.from} and ${q.to}${storeFilter(sql`store_id`, q.storeId)}
    ), facts as (
      select cashier_id as person, 'sale' as metric, amount_due as amount from period_sales where status = 'completed'
      union all
      select s.cashier_id, 'manual_discount', a.amount
        from sale_adjustments a join period_sales s on s.id = a.sale_id
       where s.status = 'completed' and a.source = 'manual'
      union all
      select voided_by, 'void', paid from period_sales where status = 'voided'
      union all
      select created_by, 'refund', total from period_refunds where kind = 'refund'
      union all
      select approver_id, 'approval', 0 from period_sales where approver_id is not null
      union all
      select approved_by, 'approval', 0 from period_refunds where approved_by is not null
    )
    select f.person, f.metric, count(*) as count, sum(f.amount)::bigint as amount, u.name as user_name, k.name as key_name
      from facts f
      left join users u on u.id = f.person and u.merchant_id = ${merchantId}
      left join api_keys k on k.id = f.person and k.merchant_id = ${merchantId}
     group by f.person, f.metric, u.name, k.name`)

  const people = new Map<string, StaffFigures>()
  for (const r of rows) {
    const id = r.person === null ? null : String(r.person)
    const k = id ?? 'system'
    let p = people.get(k)
    if (!p) {
      const type = id === null ? 'system' : r.user_name === null && r.key_name !== null ? 'api_key' : 'user'
      const name = id === null ? 'system' : ((r.user_name ?? r.key_name ?? null) as string | null)
      const zero = () => ({ count: 0, amount: 0 })
      p = { userId: id, type, name, sales: zero(), averageBasket: null, refunds: zero(), voids: zero(), manualDiscounts: zero(), overridesApproved: 0 }
      people.set(k, p)
    }
    const metric = String(r.metric)
    if (metric === 'approval') p.overridesApproved = num(r.count)
    else p[METRICS[metric as keyof typeof METRICS]] = { count: num(r.count), amount: num(r.amount) }
  }
  const staff = [...people.values()]
  for (const p of staff) p.averageBasket = averageOf(p.sales.amount, p.sales.count)
  staff.sort((a, b) => b.sales.amount - a.sales.amount || (a.name ?? '').localeCompare(b.name ?? '') || (a.userId ?? '').localeCompare(b.userId ?? ''))
  return { from: q.from, to: q.to, storeId: q.storeId ?? null, currency, staff }
}

export function staffCsv(r: StaffReport, locale?: Locale): CsvFile {
  const money = moneyCell(r.currency)
  const header = [
    'user_id',
    'type',
    'name',
    'sales_count',
    'sales_amount',
    'average_basket',
    'refunds_count',
    'refunds_amount',
    'voids_count',
    'voids_amount',
    'manual_discounts_count',
    'manual_discounts_amount',
    'overrides_approved',
  ]
  const rows = r.staff.map((p) => [
    p.userId,
    p.type,
    p.name,
    p.sales.count,
    money(p.sales.amount),
    money(p.averageBasket),
    p.refunds.count,
    money(p.refunds.amount),
    p.voids.count,
    money(p.voids.amount),
    p.manualDiscounts.count,
    money(p.manualDiscounts.amount),
    p.overridesApproved,
  ])
  return csvFile(`staff_${r.from}_${r.to}.csv`, { header, rows }, locale)
}
