// Reading reconciliation: statements and their files, runs, exceptions (with filters and a cursor) and one item with
// its history, and the daily summary per connection, day and store that the finance dashboard shows.
import { and, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest, notFound } from '../../lib/errors.ts'
import { isUuid } from '../../lib/ids.ts'
import { addDays } from '../../lib/time.ts'
import { revokedPaymentAmount } from './match.ts'
import { reconItemEvents, reconRuns, settlementStatements, statementFiles } from './schema.ts'
import { keysetPage } from '../../db/page.ts'

export type StatementRow = typeof settlementStatements.$inferSelect
export type RunRow = typeof reconRuns.$inferSelect

export interface StatementFilter {
  connectionId?: string
  from?: string
  to?: string
  status?: string
  limit: number
  /** The id of the last statement of the previous page. */
  cursor?: string
}

export async function listStatements(tx: Tx, merchantId: string, f: StatementFilter) {
  if (f.cursor && !isUuid(f.cursor)) throw badRequest('invalid_cursor', 'the cursor is not one this list gave')
  const rows = await tx
    .select()
    .from(settlementStatements)
    .where(
      and(
        eq(settlementStatements.merchantId, merchantId),
        f.connectionId ? eq(settlementStatements.connectionId, f.connectionId) : undefined,
        f.from ? gte(settlementStatements.businessDate, f.from) : undefined,
        f.to ? lte(settlementStatements.businessDate, f.to) : undefined,
        f.status ? eq(settlementStatements.status, f.status) : undefined,
        f.cursor ? lt(settlementStatements.id, f.cursor) : undefined,
      ),
    )
    .orderBy(desc(settlementStatements.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}

export async function getStatement(tx: Tx, merchantId: string, id: string): Promise<StatementRow> {
  if (!isUuid(id)) throw notFound('statement', id)
  const [row] = await tx.select().from(settlementStatements).where(and(eq(settlementStatements.id, id), eq(settlementStatements.merchantId, merchantId)))
  if (!row) throw notFound('statement', id)
  return row
}

/** The original bytes of a statement as received. */
export async function getStatementFile(tx: Tx, merchantId: string, id: string): Promise<{ statement: StatementRow; contentType: string; content: Buffer }> {
  const statement = await getStatement(tx, merchantId, id)
  const [file] = await tx.select().from(statementFiles).where(eq(statementFiles.statementId, id))
  if (!file) throw notFound('statement_file', id)
  return { statement, contentType: file.contentType, content: file.content }
}

export async function listRuns(tx: Tx, merchantId: string, f: { connectionId?: string; from?: string; to?: string; limit: number; cursor?: string }) {
  if (f.cursor && !isUuid(f.cursor)) throw badRequest('invalid_cursor', 'the cursor is not one this list gave')
  const rows = await tx
    .select()
    .from(reconRuns)
    .where(
      and(
        eq(reconRuns.merchantId, merchantId),
        f.connectionId ? eq(reconRuns.connectionId, f.connectionId) : undefined,
        f.from ? gte(reconRuns.businessDate, f.from) : undefined,
        f.to ? lte(reconRuns.businessDate, f.to) : undefined,
        f.cursor ? lt(reconRuns.id, f.cursor) : undefined,
      ),
    )
    .orderBy(desc(reconRuns.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}

/** An item as lists show it: both sides, the channel line's facts, the till's, and the latest suggestion. */
export interface ItemView {
  id: string
  connectionId: string
  businessDate: string
  runId: string
  outcome: string
  state: string
  manual: boolean
  storeId: string | null
  storeCode: string | null
  currency: string
  posKind: string | null
  posId: string | null
  posRef: string | null
  posAmount: number | null
  channelAmount: number | null
  difference: number
  expectedFeeMilli: number | null
  channelFeeMilli: number | null
  carriedDays: number
  ageDays: number
  line: {
    id: number
    kind: string
    statementId: string
    lineNo: number
    ourRef: string | null
    channelTxnId: string | null
    channelRefundId: string | null
    status: string
    occurredAt: Date
    rrn: string | null
    terminalRef: string | null
  } | null
  suggestion: { counterpartItemId: string; by: string; lineId?: number; posId?: string } | null
  resolution: string | null
  resolutionNote: string | null
  resolvedBy: string | null
  resolvedAt: Date | null
  createdAt: Date
  updatedAt: Date
}

export const AGE_BUCKETS = ['0-1', '2-3', '4-7', '8+'] as const

export interface ExceptionFilter {
  connectionId?: string
  from?: string
  to?: string
  outcomes?: string[]
  /** 'open' (default), 'resolved' or 'all'; timing items are open but only listed when asked for by outcome. */
  state?: 'open' | 'resolved' | 'all'
  storeId?: string
  /** Age in days of the item's business date, counted from `today`. */
  minAgeDays?: number
  maxAgeDays?: number
  /** The merchant's business date today (ages count from it). */
  today: string
  limit: number
  cursor?: string
}

const ITEM_SELECT = (today: string) => sql`
  select i.id, i.connection_id, i.business_date::text as business_date, i.run_id, i.outcome, i.state, i.manual, i.store_id, s.code as store_code,
         i.currency, i.pos_kind, i.pos_id, i.pos_ref, i.pos_amount, i.channel_amount, i.difference, i.expected_fee_milli, i.channel_fee_milli,
         i.carried_days, (${today}::date - i.business_date) as age_days,
         l.id as line_id, l.kind as line_kind, l.statement_id as line_statement_id, l.line_no, l.our_ref as line_our_ref,
         l.channel_txn_id as line_channel_txn_id, l.channel_refund_id as line_channel_refund_id, l.status as line_status,
         l.occurred_at as line_occurred_at, l.rrn as line_rrn, l.terminal_ref as line_terminal_ref,
         (select e.details from recon_item_events e where e.item_id = i.id and e.action = 'suggested' order by e.id desc limit 1) as suggestion,
         i.resolution, i.resolution_note, i.resolved_by, i.resolved_at, i.created_at, i.updated_at
    from recon_items i
    left join settlement_lines l on l.id = i.line_id
    left join stores s on s.id = i.store_id`

type ItemSqlRow = Record<string, any>

function toView(r: ItemSqlRow): ItemView {
  const suggestion = r.suggestion as Record<string, unknown> | null
  return {
    id: r.id,
    connectionId: r.connection_id,
    businessDate: r.business_date,
    runId: r.run_id,
    outcome: r.outcome,
    state: r.state,
    manual: r.manual,
    storeId: r.store_id,
    storeCode: r.store_code,
    currency: r.currency,
    posKind: r.pos_kind,
    posId: r.pos_id,
    posRef: r.pos_ref,
    posAmount: r.pos_amount === null ? null : Number(r.pos_amount),
    channelAmount: r.channel_amount === null ? null : Number(r.channel_amount),
    difference: Number(r.difference),
    expectedFeeMilli: r.expected_fee_milli === null ? null : Number(r.expected_fee_milli),
    channelFeeMilli: r.channel_fee_milli === null ? null : Number(r.channel_fee_milli),
    carriedDays: r.carried_days,
    ageDays: Number(r.age_days),
    line:
      r.line_id === null
        ? null
        : {
            id: Number(r.line_id),
            kind: r.line_kind,
            statementId: r.line_statement_id,
            lineNo: r.line_no,
            ourRef: r.line_our_ref,
            channelTxnId: r.line_channel_txn_id,
            channelRefundId: r.line_channel_refund_id,
            status: r.line_status,
            occurredAt: new Date(r.line_occurred_at),
            rrn: r.line_rrn,
            terminalRef: r.line_terminal_ref,
          },
    suggestion: suggestion
      ? {
          counterpartItemId: String(suggestion.counterpartItemId),
          by: String(suggestion.by),
          ...(suggestion.lineId !== undefined ? { lineId: Number(suggestion.lineId) } : {}),
          ...(suggestion.posId !== undefined ? { posId: String(suggestion.posId) } : {}),
        }
      : null,
    resolution: r.resolution,
    resolutionNote: r.resolution_note,
    resolvedBy: r.resolved_by,
    resolvedAt: r.resolved_at ? new Date(r.resolved_at) : null,
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  }
}

const encodeCursor = (date: string, id: string) => Buffer.from(JSON.stringify([date, id])).toString('base64url')
function decodeCursor(c: string): [string, string] {
  try {
    const v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')) as unknown
    if (Array.isArray(v) && typeof v[0] === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v[0]) && typeof v[1] === 'string' && isUuid(v[1])) return [v[0], v[1]]
  } catch {
    // falls through
  }
  throw badRequest('invalid_cursor', 'the cursor is not one this list gave')
}

function exceptionWhere(merchantId: string, f: Omit<ExceptionFilter, 'limit' | 'cursor'>): SQL {
  const parts: SQL[] = [sql`i.merchant_id = ${merchantId}`, sql`i.outcome <> 'matched'`, sql`coalesce(i.resolution, '') <> 'merged'`]
  if (f.connectionId) parts.push(sql`i.connection_id = ${f.connectionId}`)
  if (f.from) parts.push(sql`i.business_date >= ${f.from}::date`)
  if (f.to) parts.push(sql`i.business_date <= ${f.to}::date`)
  if (f.outcomes?.length) parts.push(sql`i.outcome = any(${sql.param(f.outcomes)}::text[])`)
  else parts.push(sql`i.outcome <> 'timing'`)
  const state = f.state ?? 'open'
  if (state !== 'all') parts.push(sql`i.state = ${state}`)
  if (f.storeId) parts.push(sql`i.store_id = ${f.storeId}`)
  if (f.minAgeDays !== undefined) parts.push(sql`i.business_date <= ${addDays(f.today, -f.minAgeDays)}::date`)
  if (f.maxAgeDays !== undefined) parts.push(sql`i.business_date >= ${addDays(f.today, -f.maxAgeDays)}::date`)
  return sql.join(parts, sql` and `)
}

/** Exceptions (every item that is not a plain match), newest day first. Timing items only when asked for by outcome. */
export async function listExceptions(tx: Tx, merchantId: string, f: ExceptionFilter): Promise<{ items: ItemView[]; nextCursor: string | null }> {
  const where = [exceptionWhere(merchantId, f)]
  if (f.cursor) {
    const [date, id] = decodeCursor(f.cursor)
    where.push(sql`(i.business_date, i.id) < (${date}::date, ${id}::uuid)`)
  }
  const rows = await tx.execute<ItemSqlRow>(sql`${ITEM_SELECT(f.today)} where ${sql.join(where, sql` and `)} order by i.business_date desc, i.id desc limit ${f.limit + 1}`)
  const page = rows.rows.slice(0, f.limit).map(toView)
  const last = page[page.length - 1]
  return { items: page, nextCursor: rows.rows.length > f.limit && last ? encodeCursor(last.businessDate, last.id) : null }
}

/** Every exception matching the filter, for an export (at most `max`). */
export async function exportExceptions(tx: Tx, merchantId: string, f: Omit<ExceptionFilter, 'limit' | 'cursor'>, max = 100_000): Promise<ItemView[]> {
  const rows = await tx.execute<ItemSqlRow>(sql`${ITEM_SELECT(f.today)} where ${exceptionWhere(merchantId, f)} order by i.business_date desc, i.id desc limit ${max}`)
  return rows.rows.map(toView)
}

export interface ItemHistoryEntry {
  id: number
  action: string
  actorId: string | null
  details: Record<string, unknown>
  createdAt: Date
}

export async function getItem(tx: Tx, merchantId: string, id: string, today: string): Promise<ItemView & { history: ItemHistoryEntry[] }> {
  if (!isUuid(id)) throw notFound('recon_item', id)
  const rows = await tx.execute<ItemSqlRow>(sql`${ITEM_SELECT(today)} where i.merchant_id = ${merchantId} and i.id = ${id}`)
  if (!rows.rows[0]) throw notFound('recon_item', id)
  const history = await tx.select().from(reconItemEvents).where(and(eq(reconItemEvents.merchantId, merchantId), eq(reconItemEvents.itemId, id))).orderBy(reconItemEvents.id)
  return { ...toView(rows.rows[0]), history: history.map((h) => ({ id: h.id, action: h.action, actorId: h.actorId, details: h.details, createdAt: h.createdAt })) }
}

/** One row of the daily summary: a connection's day at one store (store null: lines no store could be told for). */
export interface SummaryRow {
  connectionId: string
  businessDate: string
  storeId: string | null
  storeCode: string | null
  /**
   * By terminal only (`by: 'terminal'`): the card terminal of the row, the channel line's (终端号) or, for a payment the
   * channel has not shown, the one the till recorded on the tender; null where neither names one. Absent by store.
   */
  terminal?: string | null
  currency: string | null
  /** The day's chip: 'balanced' | 'exceptions' (by what is open now, once the day has run), 'not_ready' | 'fetch_failed' (the last run's verdict when nothing was matched), or null before any run. */
  runStatus: string | null
  runId: string | null
  posCount: number
  /** Payments less refunds, minor units. */
  posAmount: number
  channelCount: number
  channelAmount: number
  /** channelAmount − posAmount. */
  difference: number
  channelFeeMilli: number
  expectedFeeMilli: number
  /** Σ (channel's fee − contract's fee) over the items whose fee was checked; null when none was (no contracted rate). */
  feeDifferenceMilli: number | null
  matched: number
  timing: number
  openExceptions: number
  resolved: number
  /** Open exceptions by age of their business date in days: 0-1, 2-3, 4-7, 8+. */
  openByAge: Record<(typeof AGE_BUCKETS)[number], number>
}

export async function dailySummary(
  tx: Tx,
  merchantId: string,
  f: { from: string; to: string; connectionId?: string; storeId?: string; today: string; by?: 'store' | 'terminal' },
): Promise<SummaryRow[]> {
  const conn = f.connectionId ? sql`and i.connection_id = ${f.connectionId}` : sql``
  const store = f.storeId ? sql`and i.store_id = ${f.storeId}` : sql``
  const byTerminal = f.by === 'terminal'
  // A terminal: the channel line's, else the one the till kept on the tender (a payment the channel has not shown).
  const terminal = byTerminal
    ? sql`left join lateral (
             select coalesce(l.terminal_ref,
                             case i.pos_kind
                               when 'sale_tender' then (select coalesce(t.reference->>'terminalId', t.reference->>'terminal') from sale_tenders t where t.id = i.pos_id)
                               when 'topup_tender' then (select tt.reference->>'terminalId' from topup_tenders tt where tt.id = i.pos_id)
                             end) as terminal) term on true`
    : sql``
  // Each side of an item counts on its own day, as the day's run counts it: the till's payment on the till's day, the
  // channel's line on the line's; the item itself (matched, open, its age) on its own day, the later of the two. An
  // item is dated at most the carry window (60 days) after either side.
  const pos = sql`i.pos_id is not null and i.pos_kind <> 'payout' and (i.outcome <> 'duplicate' or i.line_id is null)`
  const posDay = sql`(case when i.line_id is not null and l.id is not null then i.business_date - i.carried_days else i.business_date end)`
  const channel = sql`l_kind in ('payment', 'refund', 'adjustment')`
  const rows = await tx.execute<Record<string, any>>(sql`
    with it as (
      select i.*, l.id as l_id, l.kind as l_kind, l.business_date as l_day, l.fee_milli as l_fee,
             case when l.kind = 'refund' then -l.amount else l.amount end - ${revokedPaymentAmount({ kind: sql`l.kind`, status: sql`l.status`, amount: sql`l.amount` })} as l_money,
             ${posDay} as pos_day, s.code as store_code, ${byTerminal ? sql`term.terminal` : sql`null::text`} as terminal
        from recon_items i
        -- Only lines of statements still current: an item resolved by hand on a line a corrected file replaced holds
        -- no channel money (as the run counts it).
        left join settlement_lines l on l.id = i.line_id and exists (select 1 from settlement_statements st where st.id = l.statement_id and st.status = 'imported')
        left join stores s on s.id = i.store_id
        ${terminal}
       where i.merchant_id = ${merchantId} and i.business_date between ${f.from}::date and ${f.to}::date + 61
         and coalesce(i.resolution, '') <> 'merged' ${conn} ${store}
    ), sides as (
      select connection_id, pos_day as day, store_id, store_code, terminal, currency,
             1 as pos_count, case when pos_kind in ('refund_tender', 'topup_refund_tender') then -pos_amount else pos_amount end as pos_amount,
             0 as channel_count, 0 as channel_amount, 0 as channel_fee_milli, 0 as expected_fee_milli, null::bigint as fee_difference_milli,
             null::text as outcome, null::text as state, null::text as resolution
        from it i where ${pos}
      union all
      select connection_id, l_day, store_id, store_code, terminal, currency, 0, 0, 1, l_money,
             case when l_kind in ('payment', 'refund', 'adjustment') then l_fee else 0 end, coalesce(expected_fee_milli, 0), channel_fee_milli - expected_fee_milli, null, null, null
        from it l where ${channel}
      union all
      -- A fee the channel took of its own (a Radar fee): the channel's fee of its line's day, no money of a sale.
      select connection_id, l_day, store_id, store_code, terminal, currency, 0, 0, 0, 0, coalesce(channel_fee_milli, 0), 0, null, null, null, null
        from it where l_kind = 'fee'
      union all
      -- The item itself on its own day; a payment the channel has not shown yet brings its expected fee. A fee of its
      -- own is no pair of anything, counted above by its fee only.
      select connection_id, business_date, store_id, store_code, terminal, currency, 0, 0, 0, 0, 0,
             case when line_id is null then coalesce(expected_fee_milli, 0) else 0 end, case when line_id is null then channel_fee_milli - expected_fee_milli end,
             outcome, state, coalesce(resolution, '')
        from it where pos_kind is distinct from 'fee'
    )
    select d.connection_id, d.day::text as business_date, d.store_id, min(d.store_code) as store_code, min(d.currency) as currency, d.terminal,
           sum(d.pos_count)::int as pos_count, sum(d.pos_amount)::bigint as pos_amount, sum(d.channel_count)::int as channel_count,
           sum(d.channel_amount)::bigint as channel_amount, sum(d.channel_fee_milli)::bigint as channel_fee_milli,
           sum(d.expected_fee_milli)::bigint as expected_fee_milli, sum(d.fee_difference_milli)::bigint as fee_difference_milli,
           count(*) filter (where d.outcome = 'matched')::int as matched,
           count(*) filter (where d.outcome = 'timing' and d.state = 'open')::int as timing,
           count(*) filter (where d.outcome <> 'timing' and d.state = 'open')::int as open_exceptions,
           count(*) filter (where d.state = 'resolved' and d.resolution <> 'merged')::int as resolved,
           count(*) filter (where d.outcome <> 'timing' and d.state = 'open' and ${f.today}::date - d.day <= 1)::int as age_0_1,
           count(*) filter (where d.outcome <> 'timing' and d.state = 'open' and ${f.today}::date - d.day between 2 and 3)::int as age_2_3,
           count(*) filter (where d.outcome <> 'timing' and d.state = 'open' and ${f.today}::date - d.day between 4 and 7)::int as age_4_7,
           count(*) filter (where d.outcome <> 'timing' and d.state = 'open' and ${f.today}::date - d.day >= 8)::int as age_8
      from sides d
     where d.day between ${f.from}::date and ${f.to}::date
     group by d.connection_id, d.day, d.store_id, d.terminal
     order by d.day desc, d.connection_id, min(d.store_code) nulls last ${byTerminal ? sql`, d.terminal nulls last` : sql``}`)
  const runs = await tx.execute<{ connection_id: string; business_date: string; status: string; id: string }>(sql`
    select distinct on (connection_id, business_date) connection_id, business_date::text as business_date, status, id
      from recon_runs
     where merchant_id = ${merchantId} and business_date between ${f.from}::date and ${f.to}::date
       ${f.connectionId ? sql`and connection_id = ${f.connectionId}` : sql``}
     order by connection_id, business_date, started_at desc, id desc`)
  const runOf = new Map(runs.rows.map((r) => [`${r.connection_id}|${r.business_date}`, r]))
  // The day's chip follows what is open now (a resolution or a reopen after the run changes it).
  const openOfDay = new Map<string, number>()
  for (const r of rows.rows) openOfDay.set(`${r.connection_id}|${r.business_date}`, (openOfDay.get(`${r.connection_id}|${r.business_date}`) ?? 0) + Number(r.open_exceptions))
  const out: SummaryRow[] = rows.rows.map((r) => {
    const key = `${r.connection_id}|${r.business_date}`
    const run = runOf.get(key)
    const status = run ? (openOfDay.get(key)! > 0 ? 'exceptions' : 'balanced') : null
    const posAmount = Number(r.pos_amount)
    const channelAmount = Number(r.channel_amount)
    return {
      connectionId: r.connection_id,
      businessDate: r.business_date,
      storeId: r.store_id,
      storeCode: r.store_code,
      ...(byTerminal ? { terminal: r.terminal } : {}),
      currency: r.currency,
      runStatus: status,
      runId: run?.id ?? null,
      posCount: r.pos_count,
      posAmount,
      channelCount: r.channel_count,
      channelAmount,
      difference: channelAmount - posAmount,
      channelFeeMilli: Number(r.channel_fee_milli),
      expectedFeeMilli: Number(r.expected_fee_milli),
      feeDifferenceMilli: r.fee_difference_milli === null ? null : Number(r.fee_difference_milli),
      matched: r.matched,
      timing: r.timing,
      openExceptions: r.open_exceptions,
      resolved: r.resolved,
      openByAge: { '0-1': r.age_0_1, '2-3': r.age_2_3, '4-7': r.age_4_7, '8+': r.age_8 },
    }
  })
  // Days with a run but nothing to show (bill not ready, fetch failed, an empty day) still get their row.
  if (!f.storeId) {
    const seen = new Set(out.map((r) => `${r.connectionId}|${r.businessDate}`))
    for (const run of runs.rows) {
      if (seen.has(`${run.connection_id}|${run.business_date}`)) continue
      out.push({
        connectionId: run.connection_id,
        businessDate: run.business_date,
        storeId: null,
        storeCode: null,
        ...(byTerminal ? { terminal: null } : {}),
        currency: null,
        // Nothing of the day is open (it has no items): a run that found exceptions found them on earlier days'
        // items, whose own days show them, as a day with items of its own does.
        runStatus: run.status === 'exceptions' ? 'balanced' : run.status,
        runId: run.id,
        posCount: 0,
        posAmount: 0,
        channelCount: 0,
        channelAmount: 0,
        difference: 0,
        channelFeeMilli: 0,
        expectedFeeMilli: 0,
        feeDifferenceMilli: null,
        matched: 0,
        timing: 0,
        openExceptions: 0,
        resolved: 0,
        openByAge: { '0-1': 0, '2-3': 0, '4-7': 0, '8+': 0 },
      })
    }
    out.sort((a, b) => (a.businessDate === b.businessDate ? a.connectionId.localeCompare(b.connectionId) : a.businessDate < b.businessDate ? 1 : -1))
  }
  return out
}

export async function getRun(tx: Tx, merchantId: string, id: string): Promise<RunRow> {
  if (!isUuid(id)) throw notFound('recon_run', id)
  const [row] = await tx.select().from(reconRuns).where(and(eq(reconRuns.id, id), eq(reconRuns.merchantId, merchantId)))
  if (!row) throw notFound('recon_run', id)
  return row
}

/** The latest run of a connection's day. */
export async function latestRun(tx: Tx, merchantId: string, connectionId: string, businessDate: string): Promise<RunRow | undefined> {
  const [row] = await tx
    .select()
    .from(reconRuns)
    .where(and(eq(reconRuns.merchantId, merchantId), eq(reconRuns.connectionId, connectionId), eq(reconRuns.businessDate, businessDate)))
    .orderBy(desc(reconRuns.startedAt), desc(reconRuns.id))
    .limit(1)
  return row
}
