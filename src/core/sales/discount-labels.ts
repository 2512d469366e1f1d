// The discounts of a set of sales, one label per source: a promotion under its name as it is now (renamed during the
// period, it is still one promotion), a tier or coupon under the latest label it was given in the set; till discounts
// (no source id) and points redemptions (their label counts the points) under their own labels. The daily sales
// report and the cash session report read them alike.
import { sql, type SQL } from 'drizzle-orm'

/**
 * The completed sales' adjustments matched by `salesWhere` (on the sales aliased `s`), each row with the sale's store
 * and business day, its source, source id, label and amount: group them by (source, source_id, label).
 */
export const labelledDiscounts = (merchantId: string, salesWhere: SQL) => sql`
  select s.store_id, s.business_date::text as day, a.source, a.source_id, a.amount,
         case when a.source_id is null or a.source = 'points' then a.label
              else coalesce(p.name, first_value(a.label) over (partition by a.source, a.source_id order by s.occurred_at desc, a.id desc)) end as label
    from sale_adjustments a join sales s on s.id = a.sale_id
    left join promotions p on a.source = 'promotion' and p.merchant_id = ${merchantId} and p.id::text = a.source_id
   where ${salesWhere} and s.status = 'completed'`
