// Read-only queries the dashboard needs that the reconciliation engine does not offer (its summaries, exception
// lists, runs and statements come from src/core/reconciliation/queries.ts): the backlog of open exceptions by age
// over all days, the day's hand matches (which leave the exception list), and the names of the staff who resolved.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'

export interface AgeBuckets {
  /** Open exceptions whose business date is 0–1, 2–3 and more than 3 days before today. */
  upTo1: number
  upTo3: number
  over3: number
}

/**
 * Open exceptions of every day (not only the range shown), per connection, by age. Timing items are not counted: they
 * are still being carried over (the same rule as the run's status and the engine's daily summary).
 */
export async function openExceptionAges(tx: Tx, merchantId: string, today: string): Promise<Map<string, AgeBuckets>> {
  const rows = await tx.execute<{ connection_id: string; a: number; b: number; c: number }>(sql`
    select connection_id,
           count(*) filter (where ${today}::date - business_date <= 1)::int as a,
           count(*) filter (where ${today}::date - business_date between 2 and 3)::int as b,
           count(*) filter (where ${today}::date - business_date > 3)::int as c
      from recon_items
     where merchant_id = ${merchantId} and state = 'open' and outcome not in ('matched', 'timing')
     group by connection_id`)
  return new Map(rows.rows.map((r) => [r.connection_id, { upTo1: r.a, upTo3: r.b, over3: r.c }]))
}

export interface HandMatch {
  id: string
  posKind: string | null
  posRef: string | null
  channelTxnId: string | null
  currency: string
  posAmount: number | null
  channelAmount: number | null
  difference: number
  resolutionNote: string | null
  resolvedBy: string | null
  resolvedAt: Date | null
}

/** Items of a connection's day that a person matched by hand (they are matched now, so exception lists leave them out). */
export async function handMatches(tx: Tx, merchantId: string, connectionId: string, businessDate: string): Promise<HandMatch[]> {
  const rows = await tx.execute<Record<string, any>>(sql`
    select i.id, i.pos_kind, i.pos_ref, l.channel_txn_id, i.currency, i.pos_amount, i.channel_amount, i.difference, i.resolution_note, i.resolved_by, i.resolved_at
      from recon_items i left join settlement_lines l on l.id = i.line_id
     where i.merchant_id = ${merchantId} and i.connection_id = ${connectionId} and i.business_date = ${businessDate}::date
       and i.outcome = 'matched' and i.manual and i.resolution = 'matched_by_hand'
     order by i.resolved_at desc nulls last, i.id`)
  return rows.rows.map((r) => ({
    id: r.id,
    posKind: r.pos_kind,
    posRef: r.pos_ref,
    channelTxnId: r.channel_txn_id,
    currency: r.currency,
    posAmount: r.pos_amount === null ? null : Number(r.pos_amount),
    channelAmount: r.channel_amount === null ? null : Number(r.channel_amount),
    difference: Number(r.difference),
    resolutionNote: r.resolution_note,
    resolvedBy: r.resolved_by,
    resolvedAt: r.resolved_at ? new Date(r.resolved_at) : null,
  }))
}

/** Email of each staff user among `ids` (of this merchant). */
export async function staffNames(tx: Tx, merchantId: string, ids: (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((i): i is string => !!i))]
  if (wanted.length === 0) return new Map()
  const rows = await tx.execute<{ id: string; email: string }>(sql`
    select id, email from users where merchant_id = ${merchantId} and id = any(${sql.param(wanted)}::uuid[])`)
  return new Map(rows.rows.map((r) => [r.id, r.email]))
}
