// Member report for a period and a reference date, reproducible from the ledgers:
// - new: members registered in the period (by their created_at, in the merchant's business days as its time zone is
//   now: a member has no stored business day, so a later change of time zone can move a registration to another day);
// - active: members with at least one completed sale in the period, by the sale's stored business_date (the day the
//   daily sales report and the vouchers put it on, which a change of time zone does not move);
// - lapsed: members whose last completed sale (by business_date, up to `date`) was at least `lapsedDays` business
//   days before `date` (and who bought once);
// - points issued (earn, birthday, refund_restore, positive adjustments, merge_in excluded), redeemed (redeem and
//   negative adjustments), expired, and taken back by refunds — sums of points_ledger rows in the period. A row made
//   by a sale or a refund (or void) is on that refund's, else that sale's, business_date, so the points agree with
//   the day the sale is reported on; a row of neither (an adjustment by hand, the daily expiry, a merge, a birthday
//   gift) has no stored day and is dated by its instant in the merchant's time zone as it is now;
// - stored value liability at the end of `date`: Σ principal and Σ bonus deltas of the stored value ledger rows of
//   business days up to it (each row's day fixed when it was made).
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { getSettings } from '../merchants/settings.ts'
import { addDays, businessDayRange } from '../../lib/time.ts'

export interface MemberReport {
  from: string
  to: string
  date: string
  members: { total: number; new: number; active: number; lapsed: number; lapsedDays: number }
  points: { issued: number; redeemed: number; expired: number; takenBack: number }
  storedValue: { principal: number; bonus: number; total: number }
}

const n = (v: unknown) => Number(v ?? 0)

export async function memberReport(tx: Tx, merchantId: string, q: { from: string; to: string; date?: string }): Promise<MemberReport> {
  const { timeZone, loyalty } = await getSettings(tx, merchantId)
  const start = businessDayRange(q.from, timeZone).start
  const end = businessDayRange(q.to, timeZone).end
  const date = q.date ?? q.to
  const asOf = businessDayRange(date, timeZone).end
  const lastBoughtBy = addDays(date, -loyalty.lapsedDays)
  // Points rows of the period: on their refund's, else their sale's, stored business day; the rest by their instant.
  const [row] = (
    await tx.execute(sql`
      with points as (
        select p.kind, p.delta from points_ledger p
          left join sales s on s.id = p.sale_id and s.merchant_id = p.merchant_id
          left join refunds r on r.id = p.refund_id and r.merchant_id = p.merchant_id
         where p.merchant_id = ${merchantId}
           and case
                 when coalesce(r.business_date, s.business_date) is not null then coalesce(r.business_date, s.business_date) between ${q.from}::date and ${q.to}::date
                 else p.created_at >= ${start.toISOString()}::timestamptz and p.created_at < ${end.toISOString()}::timestamptz
               end
      )
      select
        (select count(*) from members where merchant_id = ${merchantId} and status = 'active' and created_at < ${asOf.toISOString()}::timestamptz) as total,
        (select count(*) from members where merchant_id = ${merchantId} and status = 'active'
            and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as new,
        (select count(distinct s.member_id) from sales s join members m on m.id = s.member_id
          where s.merchant_id = ${merchantId} and s.status = 'completed' and m.status = 'active'
            and s.business_date between ${q.from}::date and ${q.to}::date) as active,
        (select count(*) from (
           select s.member_id, max(s.business_date) as last from sales s join members m on m.id = s.member_id
            where s.merchant_id = ${merchantId} and s.status = 'completed' and m.status = 'active' and s.business_date <= ${date}::date
            group by s.member_id) x where x.last <= ${lastBoughtBy}::date) as lapsed,
        (select coalesce(sum(delta) filter (where kind in ('earn', 'birthday', 'refund_restore') or (kind = 'adjust' and delta > 0)), 0) from points) as issued,
        (select coalesce(-sum(delta) filter (where kind = 'redeem' or (kind = 'adjust' and delta < 0)), 0) from points) as redeemed,
        (select coalesce(-sum(delta) filter (where kind = 'expire'), 0) from points) as expired,
        (select coalesce(-sum(delta) filter (where kind in ('refund_reversal', 'debt_settled')), 0) from points) as taken_back,
        (select coalesce(sum(principal_delta), 0) from stored_value_ledger where merchant_id = ${merchantId} and business_date <= ${date}) as principal,
        (select coalesce(sum(bonus_delta), 0) from stored_value_ledger where merchant_id = ${merchantId} and business_date <= ${date}) as bonus`)
  ).rows as Record<string, unknown>[]
  return {
    from: q.from,
    to: q.to,
    date,
    members: { total: n(row!.total), new: n(row!.new), active: n(row!.active), lapsed: n(row!.lapsed), lapsedDays: loyalty.lapsedDays },
    points: { issued: n(row!.issued), redeemed: n(row!.redeemed), expired: n(row!.expired), takenBack: n(row!.taken_back) },
    storedValue: { principal: n(row!.principal), bonus: n(row!.bonus), total: n(row!.principal) + n(row!.bonus) },
  }
}
