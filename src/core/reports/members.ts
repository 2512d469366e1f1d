// Member report for a period and a reference date, reproducible from the ledgers:
// - new: members registered in the period (by their created_at, in the merchant's business days);
// - active: members with at least one completed sale in the period;
// - lapsed: members whose last completed sale was on a business day at least `lapsedDays` days before `date` (and who
//   bought once), counted in the merchant's local days;
// - points issued (earn, birthday, refund_restore, positive adjustments, merge_in excluded), redeemed (redeem and
//   negative adjustments), expired, and taken back by refunds — sums of points_ledger rows in the period;
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
  const lapsedBefore = businessDayRange(addDays(date, -loyalty.lapsedDays), timeZone).end
  const [row] = (
    await tx.execute(sql`
      select
        (select count(*) from members where merchant_id = ${merchantId} and status = 'active' and created_at < ${asOf.toISOString()}::timestamptz) as total,
        (select count(*) from members where merchant_id = ${merchantId} and status = 'active'
            and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as new,
        (select count(distinct s.member_id) from sales s join members m on m.id = s.member_id
          where s.merchant_id = ${merchantId} and s.status = 'completed' and m.status = 'active'
            and s.occurred_at >= ${start.toISOString()}::timestamptz and s.occurred_at < ${end.toISOString()}::timestamptz) as active,
        (select count(*) from (
           select s.member_id, max(s.occurred_at) as last from sales s join members m on m.id = s.member_id
            where s.merchant_id = ${merchantId} and s.status = 'completed' and m.status = 'active' and s.occurred_at < ${asOf.toISOString()}::timestamptz
            group by s.member_id) x where x.last < ${lapsedBefore.toISOString()}::timestamptz) as lapsed,
        (select coalesce(sum(delta) filter (where kind in ('earn', 'birthday', 'refund_restore') or (kind = 'adjust' and delta > 0)), 0)
              from points_ledger where merchant_id = ${merchantId} and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as issued,
        (select coalesce(-sum(delta) filter (where kind = 'redeem' or (kind = 'adjust' and delta < 0)), 0)
              from points_ledger where merchant_id = ${merchantId} and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as redeemed,
        (select coalesce(-sum(delta) filter (where kind = 'expire'), 0)
              from points_ledger where merchant_id = ${merchantId} and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as expired,
        (select coalesce(-sum(delta) filter (where kind in ('refund_reversal', 'debt_settled')), 0)
              from points_ledger where merchant_id = ${merchantId} and created_at >= ${start.toISOString()}::timestamptz and created_at < ${end.toISOString()}::timestamptz) as taken_back,
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
