// Read-only figures for the dashboard's home page that no area module offers as such: sales of today and the last days
// summed by day, hour, tender and store; the last reconciliation run of each channel; failed voucher deliveries; the
// delivery counts of campaigns; the work of devices that needs a person. Each query is bounded by the merchant and a
// few days or ids, so an index serves it (sales_merchant_day_idx, recon_runs_day_idx, device_jobs_device_idx, …).
// Sales are counted as the daily sales report counts them (src/core/reports/daily-sales.ts): completed sales only, the
// amount due after cash rounding (total + rounding_adjustment), tenders as taken (cash net of change).
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'

export interface DaySales {
  businessDate: string
  storeId: string
  count: number
  amount: number
}

/**
 * Failed work no one has answered: a print with no reprint of its document since (a reprint is how a person answers
 * it), other work with nothing done on its device since (a later display or kick that worked makes it moot). The home
 * page and the devices page count by this one rule.
 */
export const UNANSWERED_FAILURE = sql`(device_jobs.state = 'failed' and case when device_jobs.action = 'print'
  then not exists (select 1 from device_jobs r
                    where r.device_id in (select d.id from devices d where d.store_id = device_jobs.store_id)
                      and r.created_at >= device_jobs.created_at and r.seq > device_jobs.seq
                      and r.reprint_of = coalesce(device_jobs.reprint_of, device_jobs.id))
  else not exists (select 1 from device_jobs r
                    where r.device_id = device_jobs.device_id and r.created_at >= device_jobs.created_at
                      and r.seq > device_jobs.seq and r.state = 'done') end)`

/** Completed sales per business day and store from `from` to `to`. */
export async function salesByDayAndStore(tx: Tx, merchantId: string, from: string, to: string): Promise<DaySales[]> {
  const { rows } = await tx.execute<{ day: string; store_id: string; n: number; amount: string }>(sql`
    select business_date::text as day, store_id, count(*)::int as n, sum(total + rounding_adjustment)::bigint::text as amount
      from sales
     where merchant_id = ${merchantId} and business_date between ${from}::date and ${to}::date and status = 'completed'
     group by 1, 2`)
  return rows.map((r) => ({ businessDate: r.day, storeId: r.store_id, count: r.n, amount: Number(r.amount) }))
}

/** Completed sales of one business day per hour of the merchant's clock (0–23), hours without sales left out. */
export async function salesByHour(tx: Tx, merchantId: string, day: string, timeZone: string): Promise<{ hour: number; count: number; amount: number }[]> {
  const { rows } = await tx.execute<{ hour: number; n: number; amount: string }>(sql`
    select extract(hour from occurred_at at time zone ${timeZone})::int as hour, count(*)::int as n, sum(total + rounding_adjustment)::bigint::text as amount
      from sales
     where merchant_id = ${merchantId} and business_date = ${day}::date and status = 'completed'
     group by 1
     order by 1`)
  return rows.map((r) => ({ hour: r.hour, count: r.n, amount: Number(r.amount) }))
}

/** What completed sales from `from` to `to` took per tender kind. */
export async function salesByTender(tx: Tx, merchantId: string, from: string, to: string): Promise<{ kind: string; amount: number }[]> {
  const { rows } = await tx.execute<{ kind: string; amount: string }>(sql`
    select t.kind, sum(t.amount)::bigint::text as amount
      from sales s join sale_tenders t on t.sale_id = s.id
     where s.merchant_id = ${merchantId} and s.business_date between ${from}::date and ${to}::date and s.status = 'completed'
     group by 1
     order by 1`)
  return rows.map((r) => ({ kind: r.kind, amount: Number(r.amount) }))
}

/** Refunds (not voids) made on a business day: the money returned. */
export async function refundsOfDay(tx: Tx, merchantId: string, day: string): Promise<{ count: number; amount: number }> {
  const { rows } = await tx.execute<{ n: number; amount: string }>(sql`
    select count(*)::int as n, coalesce(sum(total), 0)::bigint::text as amount
      from refunds where merchant_id = ${merchantId} and business_date = ${day}::date and kind = 'refund'`)
  return { count: rows[0]!.n, amount: Number(rows[0]!.amount) }
}

export interface LastRun {
  connectionId: string
  businessDate: string
  status: string
  startedAt: Date
  error: string | null
}

/** The run of the latest business day each connection was reconciled for (its latest attempt). */
export async function lastRuns(tx: Tx, merchantId: string, connectionIds: string[]): Promise<Map<string, LastRun>> {
  if (connectionIds.length === 0) return new Map()
  const { rows } = await tx.execute<{ connection_id: string; day: string; status: string; started_at: string; error: string | null }>(sql`
    select c.id as connection_id, r.business_date::text as day, r.status, r.started_at::text as started_at, r.error
      from unnest(${sql.param(connectionIds)}::uuid[]) as c(id)
      cross join lateral (
        select business_date, status, started_at, error from recon_runs
         where connection_id = c.id and merchant_id = ${merchantId}
         order by business_date desc, started_at desc
         limit 1) r`)
  return new Map(rows.map((r) => [r.connection_id, { connectionId: r.connection_id, businessDate: r.day, status: r.status, startedAt: new Date(r.started_at), error: r.error }]))
}

/** Ids of the vouchers among `ids` with a delivery that failed or was refused (the vouchers grid's rule). */
export async function failedVoucherIds(tx: Tx, merchantId: string, ids: string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set()
  const { rows } = await tx.execute<{ voucher_id: string }>(sql`
    select distinct voucher_id from voucher_exports
     where merchant_id = ${merchantId} and voucher_id = any(${sql.param(ids)}::uuid[]) and status in ('failed', 'rejected')`)
  return new Set(rows.map((r) => r.voucher_id))
}

/** Deliveries per status of each campaign among `ids`. */
export async function deliveryCounts(tx: Tx, ids: string[]): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>()
  if (ids.length === 0) return out
  const { rows } = await tx.execute<{ campaign_id: string; status: string; n: number }>(sql`
    select campaign_id, status, count(*)::int as n from campaign_deliveries where campaign_id = any(${sql.param(ids)}::uuid[]) group by 1, 2`)
  for (const r of rows) out.set(r.campaign_id, { ...out.get(r.campaign_id), [r.status]: r.n })
  return out
}

/**
 * Per device among `deviceIds`, jobs created since `since` that need a person, by the devices page's rule: an
 * outcome unknown, or a failure nobody answered (a print with no reprint of its document since; other work with
 * nothing done on its device since).
 */
export async function deviceAttention(tx: Tx, merchantId: string, deviceIds: string[], since: Date): Promise<Map<string, { failed: number; unknown: number }>> {
  if (deviceIds.length === 0) return new Map()
  const { rows } = await tx.execute<{ device_id: string; failed: number; unknown: number }>(sql`
    select device_jobs.device_id,
           count(*) filter (where ${UNANSWERED_FAILURE})::int as failed,
           count(*) filter (where device_jobs.state = 'unknown')::int as unknown
      from device_jobs
     where device_jobs.merchant_id = ${merchantId} and device_jobs.device_id = any(${sql.param(deviceIds)}::uuid[])
       and device_jobs.created_at > ${since.toISOString()}::timestamptz and device_jobs.state in ('failed', 'unknown')
     group by 1`)
  return new Map(rows.map((r) => [r.device_id, { failed: r.failed, unknown: r.unknown }]))
}
