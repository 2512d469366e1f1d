// Reconciling one connection's business day, in SQL: the till's tenders of the channel against the lines of the
// day's current statement(s), with what earlier days left open carried over. Set-based so a million rows cost
// joins, not round trips.
//
// Terms:
// - tender: a sale, refund or top-up tender of the connection's tender kinds (our payment_no / refund_no);
// - line: a settlement line of a current statement (payment, refund, payout, adjustment, fee);
// - pair: a tender and a line found to be the same money; an item is a pair, or one side alone (a payout checked
//   against what it carries, a fee the channel took of its own: Stripe's Radar, Terminal and billing fees);
// - pool: the tenders and lines this run decides about: the day's own, plus earlier days' still open ones (timing,
//   missing), plus whatever its automatic items hold. Manual items (a person resolved them) are never touched, and
//   what they hold stays taken.
// - An item's date: the later of its two sides' days for a pair (the day the match completed), else its one side's.
//
// Keys, in order: our reference (payment_no/refund_no), then the channel's transaction/refund id (or, for a refund
// line without our reference, the payment's reference and the amount; a refund line that names its payment only by
// the channel's id, as a Stripe refund made on the reader or in the console does, names the payment whose line
// carries that id), then card data (RRN, voucher, terminal, amount, time), which only suggests a pair and leaves both
// sides open.
import { randomBytes } from 'node:crypto'
import { sql, type SQL } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { conflict } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { mulDivRound } from '../../lib/money.ts'
import { addDays } from '../../lib/time.ts'
import { recordEvent } from '../events/service.ts'
import { systemActor } from '../staff/actor.ts'
import { soleStoreOf } from '../stores/service.ts'
import { lockConnection } from './lock.ts'
import { reopenItem } from './resolve.ts'
import { reconRuns } from './schema.ts'

export const OUTCOMES = ['matched', 'missing_in_channel', 'missing_in_pos', 'amount_diff', 'fee_diff', 'status_diff', 'duplicate', 'timing', 'currency_diff', 'unknown_merchant_ref'] as const
export type Outcome = (typeof OUTCOMES)[number]

/** What the contract says a line's fee should be, and how the channel rounds it. */
export interface FeeRule {
  /**
   * Expected fee of a line in thousandths of a minor unit, before rounding (a refund's returned fee is negative); null
   * when nothing is expected (no contracted rate), and the line's fee is then not checked.
   */
  expectedFeeMilli(line: { kind: 'payment' | 'refund'; amount: number }): number | null
  /** The channel's rounding step in thousandths of a minor unit: 1 for WeChat (5 decimals of a yuan), 1000 for whole fen. */
  roundingMilli: number
}

export interface ReconcileDayInput {
  merchantId: string
  connectionId: string
  businessDate: string
  /** The tender kinds that go through this channel ('wechat', 'alipay', 'card', 'unionpay_qr', …). */
  tenderKinds: string[]
  /** The merchant's time zone (dates of top-up refunds; ages). */
  timeZone: string
  /**
   * The zone the channel dates its bills in, when not the merchant's (Asia/Shanghai for WeChat Pay and Alipay): a
   * payment is carried through the bills after its day in the channel's time (a Los Angeles noon is the next day's
   * bill there).
   */
  channelTimeZone?: string
  /** Days an unmatched tender stays 'timing' before it is 'missing_in_channel' (default 3). */
  carryDays?: number
  feeRule?: FeeRule
  /** Only these stores' tenders (a connection per store). */
  storeIds?: string[]
  /** The statement formats whose lines are matched (default: all but the fund-flow ledgers, which repeat the trades as cash movements). */
  formats?: string[]
  /** What our own references look like (a PostgreSQL regex); a line's reference that fits neither it nor any tender is 'unknown_merchant_ref'. */
  ourRefPattern?: string
  /** Card data suggests a pair only within this many seconds (default 900). */
  cardToleranceSeconds?: number
  now?: Date
}

export interface RunSummary {
  runId: string
  status: 'balanced' | 'exceptions'
  /** True when nothing changed since the last run of the same statements: that run is returned. */
  reused: boolean
  statementIds: string[]
  counts: Record<string, number>
  totals: Record<string, number>
  changes: { created: number; changed: number; removed: number }
}

/** An open exception a run would leave, as a dry run shows it. */
export interface PreviewException {
  outcome: string
  /** False when the item exists already (a re-run keeps or reclassifies it). */
  isNew: boolean
  businessDate: string
  posKind: string | null
  posId: string | null
  posRef: string | null
  lineId: number | null
  currency: string
  posAmount: number | null
  channelAmount: number | null
  difference: number
}

/** What a run would do, worked out in full and rolled back: counts, totals, changes and the open exceptions. */
export interface DayPreview extends Omit<RunSummary, 'runId' | 'reused'> {
  dryRun: true
  /** The open exceptions the run would leave (the first PREVIEW_LIMIT, by outcome and amount). */
  exceptions: PreviewException[]
  exceptionsTruncated: boolean
}

export const PREVIEW_LIMIT = 200

/** Thrown out of a dry run's transaction so that everything it wrote is rolled back, carrying what it found. */
class RolledBackPreview extends Error {
  readonly preview: DayPreview
  constructor(preview: DayPreview) {
    super('dry run')
    this.preview = preview
  }
}

/** Account ledgers: the same money as the trade bill seen as balance movements, never matched against tenders. */
export const LEDGER_FORMATS = ['wechat_fundflow', 'alipay_signcustomer']

/** Hub-issued payment and refund numbers (src/core/sales/numbers.ts). */
export const DEFAULT_OUR_REF_PATTERN = '^T[BR][0-9]{12}[0-9A-Z]{8}$'

/**
 * A channel status, in any letter case, that is one of `statuses`: compared in upper case with an array rather than
 * matched with a case-blind pattern, which cost a third of a second per million lines of the clean pairs' check.
 */
const statusIn = (statuses: string[]) => (col: SQL) => sql`(upper(${col}) = any(${sql.raw(`'{${statuses.join(',')}}'::text[]`)}))`
const revoked = statusIn(['REVOKED', 'REVOKE', 'REVERSED', 'REVERSAL', 'CANCELLED', 'CANCELED', 'CLOSED', 'VOIDED', '撤销', '已撤销', '冲正'])
// REVOKED is not among them: on a refund line it is a card acquirer's cancellation record (撤销, UnionPay S31), the
// channel taking the whole payment back, which settles the till's void.
/**
 * A channel line's money in the day's totals, refunds as they are: a payment the channel revoked (its till sale
 * voided) is counted as paid and given back, netting to nothing, as the till's sale and its void do.
 */
export const revokedPaymentAmount = (l: { kind: SQL; status: SQL; amount: SQL }) => sql`case when ${l.kind} = 'payment' and ${revoked(l.status)} then ${l.amount} else 0 end`

const refundFailed = statusIn(['FAIL', 'FAILED', 'CLOSED', 'ABNORMAL', 'CHANGE', '退款失败', '失败'])


/**
 * Ids for the rows of one bulk insert of items in the UUIDv7 layout, made with a counter (RFC 9562 §6.2, method 1): the
 * insert's millisecond, 14 random bits, then a 60-bit counter from a random start, one step per row as written, or,
 * given `step`, a distinct whole number of each row (its line's id: no window to number the rows). Time-ordered like
 * any v7 id and unique with the odds of random ones, at a fraction of the cost of building each id whole in SQL (3.7 s
 * of a million rows' insert on this machine). The start lies in [2^56, 2^56 + 2^58), so with steps below 2^59 (row
 * numbers, line ids) the counter always has 15 hex digits: no padding to do per row (0.4 s a million).
 */
function batchUuidV7(step: SQL = sql`row_number() over ()`, at = Date.now()): SQL {
  const r = randomBytes(11)
  const head = at.toString(16).padStart(12, '0') + '7' + r.toString('hex', 0, 2).slice(0, 3) + '89ab'[r[2]! & 3]
  const start = (1n << 56n) + (r.readBigUInt64BE(3) >> 6n)
  return sql`(${head}::text || to_hex(${sql.raw(start.toString())}::bigint + ${step}))::uuid`
}

interface Ctx {
  m: string
  c: string
  d: string
  /** This run: the clean pairs it settled first are final, never part of the pool. */
  run: string
  from: string
  kinds: string[]
  storeIds?: string[]
  formats: SQL
}

interface BranchCols {
  kind: string
  id: SQL
  ref: SQL
  bdate: SQL
}

/**
 * The tenders of the channel, one SELECT per tender table, each filtered by `where` over its own columns. A tender of
 * a clean pair never qualifies (addTenders: its item is this run's); callers keep the day's sale tenders, nearly all
 * clean pairs, out of `where` and take those that are not from rc_clean.
 */
function tenders(x: Ctx, where: (b: BranchCols) => SQL): SQL {
  const kinds = sql`any(${sql.param(x.kinds)}::text[])`
  const stores = (col: SQL) => (x.storeIds ? sql`and ${col} = any(${sql.param(x.storeIds)}::uuid[])` : sql``)
  // The refund's business day as it was fixed when it was made (the merchant's zone may have changed since).
  const topupRefundDate = sql`tp.refunded_business_date`
  return sql`
    select 'sale_tender'::text as pos_kind, t.id as pos_id, s.store_id, t.payment_no as ref, null::text as pay_ref, t.channel_txn_id as txn_id,
           null::text as refund_txn_id, 'payment'::text as dir, t.amount, s.currency::text as currency,
           case when t.status = 'voided' or s.status = 'voided' then 'voided' else 'completed' end as pstatus, s.occurred_at, s.business_date as bdate,
           t.reference->>'rrn' as rrn, coalesce(t.reference->>'voucherNo', t.reference->>'traceNo', t.reference->>'voucher') as voucher,
           coalesce(t.reference->>'terminalId', t.reference->>'terminal') as terminal, null::uuid as origin_id
      from sale_tenders t join sales s on s.id = t.sale_id
     where t.merchant_id = ${x.m} and t.kind = ${kinds} ${stores(sql`s.store_id`)}
       and ${where({ kind: 'sale_tender', id: sql`t.id`, ref: sql`t.payment_no`, bdate: sql`s.business_date` })}
    union all
    select 'refund_tender', rt.id, r.store_id, rt.refund_no, st.payment_no, st.channel_txn_id, rt.channel_refund_id, 'refund', rt.amount, s.currency::text,
           case when r.kind = 'void' then 'void' else 'completed' end, r.occurred_at, r.business_date, null, null, null, rt.sale_tender_id
      from refund_tenders rt join refunds r on r.id = rt.refund_id join sales s on s.id = r.sale_id left join sale_tenders st on st.id = rt.sale_tender_id
     where rt.merchant_id = ${x.m} and rt.kind = ${kinds} ${stores(sql`r.store_id`)}
       and ${where({ kind: 'refund_tender', id: sql`rt.id`, ref: sql`rt.refund_no`, bdate: sql`r.business_date` })}
    union all
    select 'topup_tender', tt.id, tp.store_id, tt.payment_no, null, tt.channel_txn_id, null, 'payment', tt.amount, mc.currency::text,
           'completed', tp.occurred_at, tp.business_date, tt.reference->>'rrn', coalesce(tt.reference->>'voucherNo', tt.reference->>'traceNo'),
           tt.reference->>'terminalId', null
      from topup_tenders tt join stored_value_topups tp on tp.id = tt.topup_id join merchants mc on mc.id = tp.merchant_id
     where tt.merchant_id = ${x.m} and tt.kind = ${kinds} ${stores(sql`tp.store_id`)}
       and ${where({ kind: 'topup_tender', id: sql`tt.id`, ref: sql`tt.payment_no`, bdate: sql`tp.business_date` })}
    union all
    select 'topup_refund_tender', tt.id, tp.store_id, tt.refund_no, tt.payment_no, tt.channel_txn_id, null, 'refund', tt.amount, mc.currency::text,
           'completed', tp.refunded_at, ${topupRefundDate}, null, null, null, tt.id
      from topup_tenders tt join stored_value_topups tp on tp.id = tt.topup_id join merchants mc on mc.id = tp.merchant_id
     where tt.merchant_id = ${x.m} and tt.kind = ${kinds} and tp.status = 'refunded' and tt.refund_no is not null ${stores(sql`tp.store_id`)}
       and ${where({ kind: 'topup_refund_tender', id: sql`tt.id`, ref: sql`tt.refund_no`, bdate: topupRefundDate })}`
}

const POS_COLS = sql.raw(
  'pos_kind, pos_id, store_id, ref, pay_ref, txn_id, refund_txn_id, dir, amount, currency, pstatus, occurred_at, bdate, rrn, voucher, terminal, origin_id, item_id, item_line, item_carried',
)

/**
 * Adds tenders to the pool. A tender qualifies when no item holds it, or an automatic item of this connection does
 * that this run may decide again: one dated this day, one of its own day without a line, or an open one-sided item
 * (timing, missing) of an earlier day.
 */
async function addTenders(tx: Tx, x: Ctx, where: (b: BranchCols) => SQL) {
  await tx.execute(sql`
    insert into rc_pos (${POS_COLS})
    select ${sql.raw(['pos_kind', 'pos_id', 'store_id', 'ref', 'pay_ref', 'txn_id', 'refund_txn_id', 'dir', 'amount', 'currency', 'pstatus', 'occurred_at', 'bdate', 'rrn', 'voucher', 'terminal', 'origin_id'].map((c) => `src.${c}`).join(', '))},
           i.id, i.line_id, i.carried_days
      from (${tenders(x, where)}) src
      left join recon_items i on i.merchant_id = ${x.m} and i.pos_kind = src.pos_kind and i.pos_id = src.pos_id and i.outcome <> 'duplicate'
     where (i.id is null
        or (i.connection_id = ${x.c} and not i.manual and i.run_id <> ${x.run}
            and (i.business_date = ${x.d}::date
                 or (i.line_id is null and src.bdate = ${x.d}::date)
                 or (i.line_id is null and i.state = 'open' and i.outcome in ('timing', 'missing_in_channel')))))
    on conflict do nothing`)
}

const LINE_COLS = sql.raw(
  'line_id, kind, our_ref, our_payment_ref, channel_txn_id, channel_refund_id, currency, amount, fee_milli, status, occurred_at, ldate, store_ref, terminal_ref, rrn, voucher_no, payout_ref, item_id, item_pos_kind, item_pos_id, item_own, item_carried',
)

/**
 * Adds lines of current statements to the pool, on the same terms as tenders (a clean pair's line is held by this
 * run's item); callers keep the day's payment lines out of `where` and take those that are no clean pair from rc_clean.
 */
async function addLines(tx: Tx, x: Ctx, where: SQL) {
  await tx.execute(sql`
    insert into rc_lines (${LINE_COLS})
    select l.id, l.kind, l.our_ref, l.our_payment_ref, l.channel_txn_id, l.channel_refund_id, l.currency, l.amount, l.fee_milli, l.status,
           l.occurred_at, l.business_date, l.store_ref, l.terminal_ref, l.rrn, l.voucher_no, l.payout_ref,
           -- the item holding the line; item_own: it is the line's own (no tender of its own to claim it by)
           i.id, case when i.outcome <> 'duplicate' then i.pos_kind end, case when i.outcome <> 'duplicate' then i.pos_id end,
           i.id is not null and (i.pos_id is null or i.outcome = 'duplicate'), i.carried_days
      from settlement_lines l
      join settlement_statements st on st.id = l.statement_id and st.status = 'imported' and ${x.formats}
      left join recon_items i on i.line_id = l.id
     where l.merchant_id = ${x.m} and l.connection_id = ${x.c} and ${where}
       and (i.id is null
            or (i.connection_id = ${x.c} and not i.manual and i.run_id <> ${x.run}
                and (i.business_date = ${x.d}::date
                     or ((i.pos_id is null or i.outcome = 'duplicate') and l.business_date = ${x.d}::date)
                     or (i.state = 'open' and i.outcome = 'missing_in_pos'))))
    on conflict do nothing`)
}

/**
 * The day's tenders and payment lines that the run's pool leaves out because another item decides them, as additions
 * to the run's totals: counted by their own day, as the pool's are. Those are the sides of items resolved by hand
 * (they never enter the pool; such an item is dated the later of its two sides' days, so it is found among the
 * connection's exceptions from this day on, recon_items_exceptions_idx) and of automatic items of a later day (a
 * sale at 23:59 the channel lists the next day, paired by that day's run): running this day again must not drop
 * the money its till took or its channel listed.
 */
async function heldElsewhere(tx: Tx, x: Ctx): Promise<Record<string, number>> {
  const holder = (alias: string) => {
    const i = sql.raw(alias)
    return sql`${i}.merchant_id = ${x.m} and ${i}.connection_id = ${x.c} and ${i}.business_date >= ${x.d}::date and (${i}.manual or ${i}.business_date > ${x.d}::date)`
  }
  const heldTender = (b: BranchCols) => sql`${b.bdate} = ${x.d}::date and ${b.id} in (
    select h.pos_id from recon_items h where ${holder('h')} and h.pos_kind = ${b.kind} and h.pos_id is not null and h.outcome <> 'duplicate')
    and not exists (select 1 from rc_pos p where p.pos_kind = ${b.kind} and p.pos_id = ${b.id})`
  const { rows } = await tx.execute<Record<string, string>>(sql`
    select p.pos_count, p.pos_payments, p.pos_refunds, l.channel_count, l.channel_payments, l.channel_refunds, l.channel_fee_milli, i.expected_fee_milli
      from (select count(*) as pos_count, coalesce(sum(amount) filter (where dir = 'payment'), 0) as pos_payments,
                   coalesce(sum(amount) filter (where dir = 'refund'), 0) as pos_refunds
              from (${tenders(x, heldTender)}) t) p,
           (select count(*) as channel_count, coalesce(sum(l.amount) filter (where l.kind = 'payment'), 0) as channel_payments,
                   coalesce(sum(l.amount) filter (where l.kind = 'refund'), 0) + coalesce(sum(${revokedPaymentAmount({ kind: sql`l.kind`, status: sql`l.status`, amount: sql`l.amount` })}), 0) as channel_refunds,
                   coalesce(sum(l.fee_milli), 0) as channel_fee_milli
              from recon_items i
              join settlement_lines l on l.id = i.line_id
              join settlement_statements st on st.id = l.statement_id and st.status = 'imported' and ${x.formats}
             where ${holder('i')}
               and l.business_date = ${x.d}::date and l.kind in ('payment', 'refund')
               and not exists (select 1 from rc_lines r where r.line_id = l.id)) l,
           (select coalesce(sum(expected_fee_milli), 0) as expected_fee_milli from recon_items r
             where merchant_id = ${x.m} and connection_id = ${x.c} and manual and business_date = ${x.d}::date
               -- As its line: not counted once a corrected file replaced the line it was resolved on.
               and (r.line_id is null or exists (select 1 from settlement_lines l join settlement_statements st on st.id = l.statement_id and st.status = 'imported' where l.id = r.line_id))) i`)
  return Object.fromEntries(Object.entries(rows[0]!).map(([k, v]) => [k, Number(v)]))
}

async function count(tx: Tx, q: SQL): Promise<number> {
  const r = await tx.execute<{ n: number }>(q)
  return Number(r.rows[0]?.n ?? 0)
}

/** Count and sums of the clean pairs a run settled: amounts in minor units, fees in thousandths of one. */
interface CleanTotals {
  count: number
  amount: number
  feeMilli: number
  expectedFeeMilli: number
}

/** Adds the contract's expected fee of each (kind, amount) the query yields to rc_fee, rounded the channel's way. */
async function addFees(tx: Tx, rule: FeeRule | undefined, distinct: SQL): Promise<void> {
  if (!rule) return
  const unit = Math.max(1, Math.trunc(rule.roundingMilli))
  const rows = await tx.execute<{ kind: 'payment' | 'refund'; amount: number }>(distinct)
  const kinds: string[] = []
  const amounts: number[] = []
  const expected: number[] = []
  for (const r of rows.rows) {
    const raw = rule.expectedFeeMilli({ kind: r.kind, amount: Number(r.amount) })
    if (raw === null || !Number.isFinite(raw)) continue
    const milliAbs = Math.abs(Math.round(raw))
    kinds.push(r.kind)
    amounts.push(Number(r.amount))
    expected.push(Math.sign(raw) * mulDivRound(milliAbs, 1, unit) * unit)
  }
  if (kinds.length === 0) return
  await tx.execute(sql`
    insert into rc_fee (kind, amount, expected)
    select * from unnest(${sql.param(kinds)}::text[], ${sql.param(amounts)}::bigint[], ${sql.param(expected)}::bigint[])
    on conflict do nothing`)
}

const cleanTotals = (row: Record<string, unknown> | undefined): CleanTotals => ({
  count: Number(row?.n ?? 0),
  amount: Number(row?.amount ?? 0),
  feeMilli: Number(row?.fee_milli ?? 0),
  expectedFeeMilli: Number(row?.expected_fee_milli ?? 0),
})

/**
 * The common case first, in bulk: a payment line of the day whose reference is the payment number of exactly one
 * till payment of the same day, neither side held by any item, the reference on no other line of the
 * day, and nothing to tell them apart (amount, currency, neither voided nor revoked, fee within a fen of the
 * contract's). Such a pair is what every later step would match; it is written as a matched item at once and kept
 * out of the pool, so the pool holds only what needs deciding. Should the pool turn out to hold a rival for one
 * (another line or tender with that reference), demoteCleanPairs puts the pair back.
 */
async function settleCleanPairs(tx: Tx, x: Ctx, statementIds: string[], repeated: SQL, feeRule: FeeRule | undefined, now: Date): Promise<void> {
  // The day's lines with what the pairing reads, in a table of their own with statistics: a bill's lines were written
  // moments ago, so the planner knows nothing of them in settlement_lines yet. Those that can make a clean pair
  // (`byref`: payments with our reference) are nearly all; the pool takes the others from here by id.
  await tx.execute(sql`
    create temp table rc_day on commit drop as
    select l.id, l.kind = 'payment' and l.our_ref is not null as byref, l.our_ref, l.amount, l.fee_milli, l.status, l.currency
      from settlement_lines l join settlement_statements st on st.id = l.statement_id and ${x.formats}
     where l.statement_id = any(${sql.param(statementIds)}::uuid[])`)
  await tx.execute(sql`analyze rc_day`)
  await addFees(tx, feeRule, sql`select distinct 'payment' as kind, amount from rc_day where byref`)
  await tx.execute(sql`analyze rc_fee`)
  const stores = x.storeIds ? sql`c.store_id = any(${sql.param(x.storeIds)}::uuid[])` : sql`true`
  // Each of the day's payment lines and each of the day's channel tenders, paired where the reference is the payment
  // number, with whether the pair agrees; a side without the other never agrees. The pool takes the day's lines and
  // tenders that make no clean pair from here, rather than reading every one of them again to leave a million out.
  // Then statistics: the planner cannot know how often an amount equals an amount, and guessing rarely, it would
  // probe the items' indexes in the worst way for a day's worth.
  await tx.execute(sql`
    create temp table rc_clean on commit drop as
    select c.line_id, c.pos_id, c.our_ref, c.store_id, c.currency, c.amount, c.fee_milli, c.expected,
           coalesce(c.pos_amount = c.amount and c.pos_currency = c.currency and c.tstatus <> 'voided' and c.sstatus <> 'voided'
                    and ${stores} and not ${revoked(sql`c.status`)} and coalesce(abs(c.fee_milli - c.expected) <= 1000, true)
                    and c.our_ref not in (${repeated})
                    and c.our_ref not in (select tt.payment_no from topup_tenders tt where tt.merchant_id = ${x.m} and tt.payment_no is not null),
                    false) as agree
      from (select l.id as line_id, l.our_ref, l.amount, l.currency, l.fee_milli, l.status, t.id as pos_id, t.amount as pos_amount, t.tstatus,
                   t.store_id, t.sstatus, t.pos_currency, f.expected
              from (select * from rc_day where byref) l
              -- only the day's sales can make a clean pair (a day's worth to read, not the merchant's history)
              full join (select t.id, t.payment_no, t.amount, t.status as tstatus, s.store_id, s.status as sstatus, s.currency::text as pos_currency
                           from sale_tenders t join sales s on s.id = t.sale_id
                          where t.merchant_id = ${x.m} and t.kind = any(${sql.param(x.kinds)}::text[])
                            and s.merchant_id = ${x.m} and s.business_date = ${x.d}::date) t on t.payment_no = l.our_ref
              left join rc_fee f on f.kind = 'payment' and f.amount = l.amount) c`)
  await unmarkHeld(tx)
  await tx.execute(sql`analyze rc_clean`)
  await tx.execute(sql`
    insert into recon_items (id, merchant_id, connection_id, business_date, run_id, outcome, state, manual, pos_kind, pos_id, pos_ref, line_id,
                             store_id, currency, pos_amount, channel_amount, difference, expected_fee_milli, channel_fee_milli, carried_days,
                             created_at, updated_at)
    select ${batchUuidV7(sql`c.line_id`)}, ${x.m}, ${x.c}, ${x.d}::date, ${x.run}, 'matched', 'auto', false, 'sale_tender', c.pos_id, c.our_ref, c.line_id,
           c.store_id, c.currency, c.amount, c.amount, 0, c.expected, c.fee_milli, 0, ${now}, ${now}
      from rc_clean c
     where c.agree`)
}

/**
 * Our payment numbers on more than one of the day's payment lines (such a line makes no clean pair), as a query over
 * rc_day. The import lists them for its file (every repeated one, rarely one more); with more than one file of lines,
 * or a file imported without the list, they are counted over the day's lines.
 */
function repeatedRefs(files: { repeated_refs: string[] | null }[]): SQL {
  if (files.length > 1 || files.some((f) => f.repeated_refs === null)) return sql`select our_ref from rc_day where byref group by our_ref having count(*) > 1`
  return sql`select unnest(${sql.param(files[0]?.repeated_refs ?? [])}::text[])`
}

/**
 * Takes out of the clean pairs those whose line or tender an item already holds (a day run again, a line another day's
 * run took, a hand resolution). The items are looked for among the ids the pairs span, through the items' unique keys:
 * on a day's first run that range holds no item of a line (they are new) and few or none of a tender, and the check
 * costs two index probes; otherwise only the items in the range are read, never every item there is.
 */
async function unmarkHeld(tx: Tx): Promise<void> {
  const [span] = (
    await tx.execute<{ l0: number | null; l1: number | null; p0: string | null; p1: string | null }>(sql`
      select min(line_id) as l0, max(line_id) as l1, encode(min(uuid_send(pos_id)), 'hex')::uuid as p0, encode(max(uuid_send(pos_id)), 'hex')::uuid as p1
        from rc_clean where agree`)
  ).rows
  if (!span || span.l0 === null || span.p0 === null) return
  const [found] = (
    await tx.execute<{ lines: boolean; tenders: boolean }>(sql`
      select exists (select 1 from recon_items where line_id between ${span.l0} and ${span.l1}) as lines,
             exists (select 1 from recon_items where pos_kind = 'sale_tender' and pos_id between ${span.p0}::uuid and ${span.p1}::uuid and outcome <> 'duplicate') as tenders`)
  ).rows
  if (found?.lines) {
    await tx.execute(sql`
      update rc_clean c set agree = false from recon_items i
       where c.agree and i.line_id = c.line_id and i.line_id between ${span.l0} and ${span.l1}`)
  }
  if (found?.tenders) {
    await tx.execute(sql`
      update rc_clean c set agree = false from recon_items i
       where c.agree and i.pos_kind = 'sale_tender' and i.pos_id = c.pos_id and i.outcome <> 'duplicate'
         and i.pos_id between ${span.p0}::uuid and ${span.p1}::uuid`)
  }
}

/**
 * Removes the clean pairs whose reference a line or tender of the pool also carries, and takes them out of rc_clean;
 * returns their sides for the pool.
 */
async function demoteCleanPairs(tx: Tx, x: Ctx): Promise<{ lines: number[]; tenders: string[] }> {
  const r = await tx.execute<{ lines: string[]; tenders: string[] }>(sql`
    with rivals as (
      select i.id from rc_lines r
        join settlement_lines l on l.merchant_id = ${x.m} and l.our_ref = r.our_ref and l.kind = r.kind and l.id <> r.line_id
        join recon_items i on i.line_id = l.id and i.run_id = ${x.run} and not i.manual
      union
      select i.id from rc_pos p
        join settlement_lines l on l.merchant_id = ${x.m} and l.our_ref = p.ref and l.kind = p.dir
        join recon_items i on i.line_id = l.id and i.run_id = ${x.run} and not i.manual)
    , gone as (delete from recon_items i using rivals v where i.id = v.id returning i.line_id, i.pos_id)
    , unmarked as (update rc_clean c set agree = false from gone g where c.line_id = g.line_id)
    select coalesce(array_agg(line_id), '{}') as lines, coalesce(array_agg(pos_id), '{}') as tenders from gone`)
  const row = r.rows[0]
  return { lines: (row?.lines ?? []).map(Number), tenders: row?.tenders ?? [] }
}

/**
 * A refund line that names its payment only by the channel's transaction id (a Stripe refund made on the reader or in
 * the console carries no metadata of ours, only the PaymentIntent it refunds) gives back the payment whose line
 * carries that id, and with it our payment number. Each refund tender of the pool still unpaired learns the channel's
 * id of the payment it gives back from that payment's line (by our payment number, through the lines' index of it, on
 * the connection's current statements of any day), so that the two pair on it and the amount. A refund of a payment
 * no statement listed learns nothing and stays unpaired. Answers whether any tender learned one.
 */
async function refundPaymentTxn(tx: Tx, x: Ctx): Promise<boolean> {
  const [waiting] = (
    await tx.execute<{ any: boolean }>(sql`
      select exists (select 1 from rc_lines l where l.kind = 'refund' and l.our_ref is null and l.channel_txn_id is not null
                        and not exists (select 1 from rc_pair q where q.line_id = l.line_id)) as any`)
  ).rows
  if (!waiting?.any) return false
  const r = await tx.execute(sql`
    update rc_pos p set pay_txn = f.txn
      from (select t.pos_kind, t.pos_id,
                   (select pl.channel_txn_id from settlement_lines pl
                      join settlement_statements st on st.id = pl.statement_id and st.status = 'imported' and ${x.formats}
                     where pl.merchant_id = ${x.m} and pl.our_ref = t.pay_ref and pl.connection_id = ${x.c} and pl.kind = 'payment'
                       and pl.channel_txn_id is not null
                     order by pl.id desc limit 1) as txn
              from rc_pos t
             where t.dir = 'refund' and t.pay_ref is not null
               and not exists (select 1 from rc_pair q where q.pos_kind = t.pos_kind and q.pos_id = t.pos_id)) f
     where p.pos_kind = f.pos_kind and p.pos_id = f.pos_id and f.txn is not null
       and exists (select 1 from rc_lines l where l.channel_txn_id = f.txn and l.kind = 'refund' and l.our_ref is null)`)
  return Number(r.rowCount ?? 0) > 0
}

/** Reconciles one business day of one connection. Refused (409) when the day has no current statement. */
export async function reconcileDay(db: Db, input: ReconcileDayInput): Promise<RunSummary> {
  return reconcile(db, input, false)
}

/**
 * A dry run: the day is worked out exactly as reconcileDay would, in its transaction, and rolled back. Nothing is
 * written and no event is announced; the answer says what the run would count, change and leave open.
 */
export async function previewDay(db: Db, input: ReconcileDayInput): Promise<DayPreview> {
  try {
    await reconcile(db, input, true)
  } catch (e) {
    if (e instanceof RolledBackPreview) return e.preview
    throw e
  }
  throw new Error('a dry run must end in its rollback')
}

async function reconcile(db: Db, input: ReconcileDayInput, dryRun: boolean): Promise<RunSummary> {
  const carry = input.carryDays ?? 3
  if (!Number.isInteger(carry) || carry < 0 || carry > 60) throw new RangeError('carryDays must be a whole number from 0 to 60')
  const x: Ctx = {
    m: input.merchantId,
    c: input.connectionId,
    d: input.businessDate,
    run: newId(),
    from: addDays(input.businessDate, -carry),
    kinds: input.tenderKinds,
    storeIds: input.storeIds,
    formats: input.formats ? sql`st.format = any(${sql.param(input.formats)}::text[])` : sql`st.format <> all(${sql.param(LEDGER_FORMATS)}::text[])`,
  }
  const pattern = input.ourRefPattern ?? DEFAULT_OUR_REF_PATTERN
  const tolerance = input.cardToleranceSeconds ?? 900
  const now = input.now ?? new Date()

  return db.transaction(async (tx) => {
    await lockConnection(tx, x.c)
    // The day's joins and sorts run in memory rather than in batches on disk; the pool tables stay in local buffers
    // (temp_buffers can only be raised before a session's first temporary table, hence the guarded attempt).
    await tx.execute(sql`select set_config('work_mem', '256MB', true)`)
    await tx.execute(sql.raw(`do $$ begin perform set_config('temp_buffers', '512MB', true); exception when others then null; end $$`))
    // The day's files: the current ones, and those a corrected file superseded (or that were refused), whose lines
    // are read by statement wherever the run needs them; most days have none.
    // `paired`: a file of lines the run pairs with tenders (its format is the run's), with its repeated references.
    const statements = await tx.execute<{ id: string; status: string; paired: boolean; repeated_refs: string[] | null }>(sql`
      select st.id, st.status, st.line_count > 0 and ${x.formats} as paired, st.repeated_refs from settlement_statements st
       where st.merchant_id = ${x.m} and st.connection_id = ${x.c} and st.business_date = ${x.d}::date
       order by st.id`)
    const current = (r: { status: string }) => r.status === 'imported' || r.status === 'empty'
    const statementIds = statements.rows.filter(current).map((r) => r.id)
    const pairedFiles = statements.rows.filter((r) => current(r) && r.paired)
    const replacedIds = statements.rows.filter((r) => !current(r)).map((r) => r.id)
    if (statementIds.length === 0) {
      throw conflict('no_statement', `There is no current statement for ${x.d} on this connection: fetch or upload one first`, { connectionId: x.c, businessDate: x.d })
    }
    const runId = x.run
    const repointed = replacedIds.length > 0 ? await repointManualItems(tx, x, replacedIds, statementIds) : 0
    if (replacedIds.length > 0) await reopenChangedLines(tx, x, replacedIds, now)

    await tx.execute(sql`
      create temp table rc_pos (
        pos_kind text not null, pos_id uuid not null, store_id uuid, ref text, pay_ref text, txn_id text, refund_txn_id text, dir text not null,
        amount bigint not null, currency text not null, pstatus text not null, occurred_at timestamptz, bdate date not null,
        rrn text, voucher text, terminal text, origin_id uuid, item_id uuid, item_line bigint, item_carried int,
        -- a refund's: the channel's id of the payment it gives back, read from the payment's line (refundPaymentTxn)
        pay_txn text, primary key (pos_kind, pos_id)) on commit drop`)
    await tx.execute(sql`
      create temp table rc_lines (
        line_id bigint primary key, kind text not null, our_ref text, our_payment_ref text, channel_txn_id text, channel_refund_id text,
        currency text not null, amount bigint not null, fee_milli bigint not null, status text not null, occurred_at timestamptz not null,
        ldate date not null, store_ref text, terminal_ref text, rrn text, voucher_no text, payout_ref text,
        item_id uuid, item_pos_kind text, item_pos_id uuid, item_own boolean, item_carried int) on commit drop`)
    await tx.execute(sql`create temp table rc_pair (pos_kind text not null, pos_id uuid not null, line_id bigint not null unique, method text not null, primary key (pos_kind, pos_id)) on commit drop`)
    await tx.execute(sql`create temp table rc_suggest (pos_kind text not null, pos_id uuid not null, line_id bigint not null, reason text not null) on commit drop`)

    // Fees: the contract's fee for each distinct (kind, amount), rounded the channel's way (whole steps of
    // roundingMilli, half up), compared per line with the channel's when pairs are classified. First for the day's
    // payment lines (the clean pairs need them), then for whatever else pairs.
    await tx.execute(sql`create temp table rc_fee (kind text not null, amount bigint not null, expected bigint not null, primary key (kind, amount)) on commit drop`)
    // What people said to expect on a later day (an earlier day's line still open, a tender with no line yet): read
    // before the clean pairs are written, through the open items, while the planner's picture of the items holds.
    const expecting = (
      await tx.execute<{ line_id: number | null; pos_kind: string | null; pos_id: string | null }>(sql`
        select line_id, pos_kind, pos_id from recon_items
         where merchant_id = ${x.m} and state = 'open' and connection_id = ${x.c} and not manual and resolution = 'expect_next_day'
           and ((line_id is not null and business_date < ${x.d}::date) or (line_id is null and pos_id is not null))`)
    ).rows
    const expectedLines = expecting.filter((r) => r.line_id !== null).map((r) => Number(r.line_id))
    const expectedTenders = (kind: string) => expecting.filter((r) => r.line_id === null && r.pos_kind === kind).map((r) => r.pos_id!)
    await settleCleanPairs(tx, x, statementIds, repeatedRefs(pairedFiles), input.feeRule, now)

    // The pool: the day's lines (and earlier days' open ones), then tenders of the carry window, tenders the lines
    // name, and whatever the automatic items already holding either side hold on the other. The day's lines are all
    // in rc_day, its payment lines with our reference and its channel sale tenders all in rc_clean: the pool takes
    // those that make no clean pair from there by id. Earlier days' lines are read by their statements (a line's date
    // is its statement's: the import writes it so), not by a scan of every line there is.
    const notClean = (side: 'line_id' | 'pos_id') => sql.raw(`(select ${side} from rc_clean where ${side} is not null and not agree)`)
    const earlierIds = (
      await tx.execute<{ id: string }>(sql`
        select id from settlement_statements
         where connection_id = ${x.c} and business_date >= ${x.from}::date and business_date < ${x.d}::date and merchant_id = ${x.m} and status = 'imported'`)
    ).rows.map((r) => r.id)
    if (earlierIds.length > 0) await addLines(tx, x, sql`l.statement_id = any(${sql.param(earlierIds)}::uuid[])`)
    // By their ids, through the lines' primary key: the day's lines were just written and have no statistics yet, and
    // a plan that scans the connection's lines for them (a bill pairing a whole day of earlier tenders) is quadratic.
    await addLines(tx, x, sql`l.id = any(array(select id from rc_day where not byref union all ${notClean('line_id')}))`)
    if (expectedLines.length > 0) await addLines(tx, x, sql`l.id = any(${sql.param(expectedLines)}::bigint[])`)
    await tx.execute(sql`create index on rc_lines (our_ref)`)
    await addTenders(tx, x, (b) =>
      b.kind === 'sale_tender' ? sql`${b.bdate} between ${x.from}::date and ${x.d}::date - 1` : sql`${b.bdate} between ${x.from}::date and ${x.d}::date`,
    )
    await addTenders(tx, x, (b) => (b.kind === 'sale_tender' ? sql`${b.id} in ${notClean('pos_id')}` : sql`false`))
    // Tenders older than the window still timing: carried through fewer of the channel's bills than carryDays (no
    // bill on a weekend, bills of a catch-up out of order), they are looked at until enough have come in.
    await addTenders(tx, x, (b) => sql`${b.bdate} < ${x.from}::date and ${b.id} in (
      select i.pos_id from recon_items i
       where i.merchant_id = ${x.m} and i.connection_id = ${x.c} and i.pos_kind = ${b.kind} and i.state = 'open' and i.outcome = 'timing'
         and not i.manual and i.business_date < ${x.from}::date)`)
    await tx.execute(sql`create index on rc_pos (ref)`)
    // Tenders the lines name that the window did not bring (booked on another day, or already missing).
    await addTenders(tx, x, (b) => sql`${b.ref} in (select l.our_ref from rc_lines l where l.our_ref is not null and not exists (select 1 from rc_pos p where p.ref = l.our_ref))`)
    if (expecting.some((r) => r.line_id === null)) {
      await addTenders(tx, x, (b) => {
        const ids = expectedTenders(b.kind)
        return ids.length > 0 ? sql`${b.id} = any(${sql.param(ids)}::uuid[])` : sql`false`
      })
    }
    // Whatever the items already holding one side hold on the other.
    await addLines(tx, x, sql`l.id in (select p.item_line from rc_pos p where p.item_line is not null and not exists (select 1 from rc_lines r where r.line_id = p.item_line))`)
    await addTenders(
      tx,
      x,
      (b) => sql`${b.id} in (select l.item_pos_id from rc_lines l where l.item_pos_kind = ${b.kind}
                               and not exists (select 1 from rc_pos p where p.pos_kind = l.item_pos_kind and p.pos_id = l.item_pos_id))`,
    )
    // A clean pair the pool competes with (another line or tender with its reference) goes back to the pool.
    const demoted = await demoteCleanPairs(tx, x)
    if (demoted.lines.length > 0) {
      await addLines(tx, x, sql`l.id = any(${sql.param(demoted.lines)}::bigint[])`)
      await addTenders(tx, x, (b) => (b.kind === 'sale_tender' ? sql`${b.id} = any(${sql.param(demoted.tenders)}::uuid[])` : sql`false`))
    }
    // What the clean pairs that stand add to the day's counts and totals.
    const clean = cleanTotals(
      (
        await tx.execute<Record<string, unknown>>(sql`
          select count(*)::bigint as n, coalesce(sum(amount), 0)::bigint as amount, coalesce(sum(fee_milli), 0)::bigint as fee_milli,
                 coalesce(sum(expected), 0)::bigint as expected_fee_milli
            from rc_clean where agree`)
      ).rows[0],
    )
    // Built after the pool is filled; the tenders' txn_id is only ever hash-joined, so it has no index.
    await tx.execute(sql`create index on rc_lines (channel_txn_id)`)
    await tx.execute(sql`analyze rc_pos`)
    await tx.execute(sql`analyze rc_lines`)

    // 1. Our reference. Several lines with one reference: the one that agrees best pairs, the rest are duplicates.
    //    References on one line only (nearly all) pair by a plain join; the few repeated ones are ranked.
    await tx.execute(sql`
      create temp table rc_multi on commit drop as
      select our_ref, kind from rc_lines where our_ref is not null group by our_ref, kind having count(*) > 1`)
    await tx.execute(sql`
      insert into rc_pair (pos_kind, pos_id, line_id, method)
      select p.pos_kind, p.pos_id, l.line_id, 'ref'
        from rc_pos p join rc_lines l on l.our_ref = p.ref and l.kind = p.dir
       where not exists (select 1 from rc_multi m where m.our_ref = l.our_ref and m.kind = l.kind)
      on conflict do nothing`)
    await tx.execute(sql`
      insert into rc_pair (pos_kind, pos_id, line_id, method)
      select pos_kind, pos_id, line_id, 'ref' from (
        select p.pos_kind, p.pos_id, l.line_id,
               row_number() over (partition by p.pos_kind, p.pos_id
                                  order by (l.amount = p.amount) desc, (${revoked(sql`l.status`)} = (p.pstatus = 'voided')) desc, l.line_id) as rp,
               row_number() over (partition by l.line_id order by (l.amount = p.amount) desc, p.pos_kind, p.pos_id) as rl
          from rc_pos p join rc_lines l on l.our_ref = p.ref and l.kind = p.dir
         where exists (select 1 from rc_multi m where m.our_ref = l.our_ref and m.kind = l.kind)) c
       where rp = 1 and rl = 1
      on conflict do nothing`)

    // 2. The channel's ids; a refund line without our reference pairs on the payment's reference and the amount.
    //    A tender and a line pair when each is the other's best (same amount, then nearest in time); passes repeat
    //    while they pair more, so two refunds of one amount of one payment on one day each find their line.
    const byChannel = async (join: SQL) => {
      for (;;) {
        const paired = await tx.execute(sql`
        insert into rc_pair (pos_kind, pos_id, line_id, method)
        select pos_kind, pos_id, line_id, 'channel_id' from (
          select p.pos_kind, p.pos_id, l.line_id,
                 row_number() over (partition by p.pos_kind, p.pos_id order by (l.amount = p.amount) desc, abs(extract(epoch from l.occurred_at - p.occurred_at)), l.line_id) as rp,
                 row_number() over (partition by l.line_id order by (l.amount = p.amount) desc, abs(extract(epoch from l.occurred_at - p.occurred_at)), p.pos_kind, p.pos_id) as rl
            from rc_pos p join rc_lines l on ${join}
           where not exists (select 1 from rc_pair q where q.pos_kind = p.pos_kind and q.pos_id = p.pos_id)
             and not exists (select 1 from rc_pair q where q.line_id = l.line_id)) c
         where rp = 1 and rl = 1
        on conflict do nothing`)
        if (!paired.rowCount) return
      }
    }
    await byChannel(sql`p.dir = 'payment' and l.kind = 'payment' and l.channel_txn_id = p.txn_id`)
    await byChannel(sql`p.dir = 'refund' and l.kind = 'refund' and l.channel_refund_id = p.refund_txn_id`)
    await byChannel(sql`p.dir = 'refund' and l.kind = 'refund' and l.our_ref is null and l.our_payment_ref = p.pay_ref and l.amount = p.amount`)
    if (await refundPaymentTxn(tx, x)) await byChannel(sql`p.dir = 'refund' and l.kind = 'refund' and l.our_ref is null and l.channel_txn_id = p.pay_txn and l.amount = p.amount`)

    // 3. Card data only suggests: same amount, and the RRN, or the voucher at the terminal, or the terminal within the tolerance.
    await tx.execute(sql`
      insert into rc_suggest (pos_kind, pos_id, line_id, reason)
      select pos_kind, pos_id, line_id, reason from (
        select p.pos_kind, p.pos_id, l.line_id,
               case when p.rrn is not null and p.rrn = l.rrn then 'rrn' when p.voucher is not null and p.voucher = l.voucher_no then 'voucher' else 'terminal_time' end as reason,
               row_number() over (partition by p.pos_kind, p.pos_id order by (p.rrn = l.rrn) desc nulls last, abs(extract(epoch from l.occurred_at - p.occurred_at)), l.line_id) as rp,
               row_number() over (partition by l.line_id order by (p.rrn = l.rrn) desc nulls last, abs(extract(epoch from l.occurred_at - p.occurred_at)), p.pos_id) as rl
          from rc_pos p join rc_lines l on l.kind = p.dir and l.amount = p.amount
         where not exists (select 1 from rc_pair q where q.pos_kind = p.pos_kind and q.pos_id = p.pos_id)
           and not exists (select 1 from rc_pair q where q.line_id = l.line_id)
           and ((p.rrn is not null and p.rrn = l.rrn)
                or (abs(extract(epoch from l.occurred_at - p.occurred_at)) <= ${tolerance}
                    and ((p.voucher is not null and p.voucher = l.voucher_no and (p.terminal is null or l.terminal_ref is null or p.terminal = l.terminal_ref))
                         or (p.terminal is not null and p.terminal = l.terminal_ref))))) c
       where rp = 1 and rl = 1`)

    // Fees of the pairs whose (kind, amount) the clean pairs did not already bring.
    await addFees(tx, input.feeRule, sql`
      select distinct l.kind, l.amount from rc_pair q join rc_lines l on l.line_id = q.line_id
       where l.kind in ('payment', 'refund') and not exists (select 1 from rc_fee f where f.kind = l.kind and f.amount = l.amount)`)

    // Statistics for the pairs and the fees: without them the planner takes rc_pair for a few thousand rows and
    // classifies a million pairs by an index lookup each (measured: 16 s instead of 7 s at a million lines).
    await tx.execute(sql`analyze rc_pair`)
    await tx.execute(sql`analyze rc_fee`)

    // 4. Classify.
    await tx.execute(sql`
      create temp table rc_new (
        pos_kind text, pos_id uuid, pos_ref text, line_id bigint, store_id uuid, currency text not null, pos_amount bigint, channel_amount bigint,
        difference bigint not null, expected_fee_milli bigint, channel_fee_milli bigint, carried_days int not null, outcome text not null,
        state text not null, business_date date not null, line_kind text, existing_id uuid) on commit drop`)

    // A void refund counts as settled when its payment's line says the channel revoked the payment.
    const revokedPayment = (originId: SQL) => sql`(
      exists (select 1 from rc_pair q join rc_lines l on l.line_id = q.line_id
               where q.pos_kind = 'sale_tender' and q.pos_id = ${originId} and ${revoked(sql`l.status`)})
      or exists (select 1 from recon_items i join settlement_lines l on l.id = i.line_id
                  where i.merchant_id = ${x.m} and i.pos_kind = 'sale_tender' and i.pos_id = ${originId} and i.outcome <> 'duplicate' and ${revoked(sql`l.status`)}))`
    // A voided payment whose void has not reached the channel: some void refund of it has no channel line.
    const voidUnsettled = (posId: SQL) => sql`exists (
      select 1 from refund_tenders rt join refunds r on r.id = rt.refund_id
       where rt.sale_tender_id = ${posId} and r.kind = 'void'
         and not exists (select 1 from rc_pair q where q.pos_kind = 'refund_tender' and q.pos_id = rt.id)
         and not exists (select 1 from recon_items i where i.merchant_id = ${x.m} and i.pos_kind = 'refund_tender' and i.pos_id = rt.id
                                                    and i.outcome <> 'duplicate' and i.line_id is not null
                                                    and i.line_id not in (select line_id from rc_lines)))`

    await tx.execute(sql`
      insert into rc_new (pos_kind, pos_id, pos_ref, line_id, store_id, currency, pos_amount, channel_amount, difference, expected_fee_milli,
                          channel_fee_milli, carried_days, outcome, state, business_date, line_kind, existing_id)
      select p.pos_kind, p.pos_id, p.ref, l.line_id, p.store_id, l.currency, p.amount, l.amount, l.amount - p.amount, f.expected, l.fee_milli,
             greatest(l.ldate - p.bdate, 0), o.outcome, case when o.outcome = 'matched' then 'auto' else 'open' end, greatest(p.bdate, l.ldate), l.kind,
             -- the tender's item, else the line's own item (an item of another tender is that tender's to keep)
             coalesce(p.item_id, case when l.item_own then l.item_id end)
        from rc_pair q
        join rc_pos p on p.pos_kind = q.pos_kind and p.pos_id = q.pos_id
        join rc_lines l on l.line_id = q.line_id
        left join rc_fee f on f.kind = l.kind and f.amount = l.amount
        cross join lateral (select case
          when p.currency <> l.currency then 'currency_diff'
          when p.dir = 'payment' and p.pstatus = 'completed' and ${revoked(sql`l.status`)} then 'status_diff'
          when p.dir = 'payment' and p.pstatus = 'voided' and not ${revoked(sql`l.status`)} and ${voidUnsettled(sql`p.pos_id`)} then 'status_diff'
          when p.dir = 'refund' and ${refundFailed(sql`l.status`)} then 'status_diff'
          when p.amount <> l.amount then 'amount_diff'
          when abs(l.fee_milli - f.expected) > 1000 then 'fee_diff'
          else 'matched' end as outcome) o`)

    // A tender's day in the channel's time: the bill that would list it, after which its carry is counted.
    const channelDay = input.channelTimeZone && input.channelTimeZone !== input.timeZone ? sql`coalesce((p.occurred_at at time zone ${input.channelTimeZone})::date, p.bdate)` : sql`p.bdate`
    // Tenders left alone: settled by a revoke, a second record of a payment the channel has once, or not seen (yet).
    // The days up to this one that have a current file of the lines the run pairs, or the channel's word that it had
    // no transactions (an empty statement, of no format of its own: it says so).
    await tx.execute(sql`
      create temp table rc_days on commit drop as
      select distinct st.business_date as day from settlement_statements st
       where st.merchant_id = ${x.m} and st.connection_id = ${x.c} and (st.status = 'empty' or (st.status = 'imported' and ${x.formats}))
         and st.business_date <= ${x.d}::date`)
    await tx.execute(sql`
      insert into rc_new (pos_kind, pos_id, pos_ref, line_id, store_id, currency, pos_amount, channel_amount, difference, carried_days, outcome, state,
                          business_date, existing_id)
      select p.pos_kind, p.pos_id, p.ref, null, p.store_id, p.currency, p.amount, null, -p.amount, k.carried, o.outcome,
             case when o.outcome = 'matched' then 'auto' else 'open' end, p.bdate, p.item_id
        from rc_pos p
        -- carried through as many of the channel's days as have a current file after the tender's own: a day whose bill
        -- is still to come (a catch-up fetching days out of order, a bill not ready yet) has not shown it missing
        cross join lateral (select greatest((select count(*) from rc_days sd where sd.day > ${channelDay}),
                                            case when p.item_line is null then coalesce(p.item_carried, 0) else 0 end, 0) as carried) k
        cross join lateral (select case
          when p.pstatus = 'void' and ${revokedPayment(sql`p.origin_id`)} then 'matched'
          when p.dir = 'payment' and p.txn_id is not null and (
            exists (select 1 from rc_pair q join rc_lines l on l.line_id = q.line_id where l.kind = 'payment' and l.channel_txn_id = p.txn_id)
            -- the lines of the clean pairs that stand, read by statement and hashed once, only should a tender of
            -- the pool carry the channel's id (the day's pairing itself never needs it)
            or p.txn_id in (select l.channel_txn_id from settlement_lines l
                             where l.statement_id = any(${sql.param(statementIds)}::uuid[]) and l.kind = 'payment' and l.channel_txn_id is not null
                               and l.id in (select c.line_id from rc_clean c where c.agree))) then 'duplicate'
          when p.dir = 'refund' and p.refund_txn_id is not null and exists (
            select 1 from rc_pair q join rc_lines l on l.line_id = q.line_id where l.kind = 'refund' and l.channel_refund_id = p.refund_txn_id) then 'duplicate'
          when k.carried >= ${carry} then 'missing_in_channel'
          else 'timing' end as outcome) o
       where not exists (select 1 from rc_pair q where q.pos_kind = p.pos_kind and q.pos_id = p.pos_id)`)

    // Lines left alone: a second line for a tender already paired (duplicate), a reference that is not ours at all,
    // or money the till never recorded.
    await tx.execute(sql`
      insert into rc_new (pos_kind, pos_id, pos_ref, line_id, store_id, currency, pos_amount, channel_amount, difference, channel_fee_milli,
                          carried_days, outcome, state, business_date, line_kind, existing_id)
      select case when o.outcome = 'duplicate' then k.pos_kind end, case when o.outcome = 'duplicate' then k.pos_id end, l.our_ref, l.line_id,
             coalesce(sp.store_id, so.id, sr.store_id), l.currency, null, l.amount, l.amount, l.fee_milli,
             greatest(${x.d}::date - l.ldate, coalesce(l.item_carried, 0), 0), o.outcome, 'open', l.ldate, l.kind,
             case when l.item_own then l.item_id end
        from rc_lines l
        left join lateral (
          select * from (
            select 'sale_tender'::text as pos_kind, t.id as pos_id from sale_tenders t where l.kind = 'payment' and t.merchant_id = ${x.m} and t.payment_no = l.our_ref
            union all select 'topup_tender', tt.id from topup_tenders tt where l.kind = 'payment' and tt.merchant_id = ${x.m} and tt.payment_no = l.our_ref
            union all select 'refund_tender', rt.id from refund_tenders rt where l.kind = 'refund' and rt.merchant_id = ${x.m} and rt.refund_no = l.our_ref
            union all select 'topup_refund_tender', tt.id from topup_tenders tt where l.kind = 'refund' and tt.merchant_id = ${x.m} and tt.refund_no = l.our_ref) f
          limit 1) k on l.our_ref is not null
        left join lateral (select p.store_id from rc_pos p where p.pos_kind = k.pos_kind and p.pos_id = k.pos_id) sp on true
        left join stores so on so.merchant_id = ${x.m} and so.code = l.store_ref
        -- A refund the till never made (one at the channel's own console) is of the store of the payment it gives back:
        -- named by our payment number, or only by the channel's id of the payment (a Stripe console refund names the
        -- PaymentIntent), whose line of the last weeks carries our number.
        left join lateral (
          select * from (
            select s.store_id from sale_tenders t join sales s on s.id = t.sale_id where t.merchant_id = ${x.m} and t.payment_no = l.our_payment_ref
            union all select tp.store_id from topup_tenders tt join stored_value_topups tp on tp.id = tt.topup_id where tt.merchant_id = ${x.m} and tt.payment_no = l.our_payment_ref
            union all select s.store_id from settlement_lines pl
                        join sale_tenders t on t.merchant_id = ${x.m} and t.payment_no = pl.our_ref
                        join sales s on s.id = t.sale_id
                       where l.channel_txn_id is not null and pl.kind = 'payment' and pl.channel_txn_id = l.channel_txn_id and pl.merchant_id = ${x.m}
                         and pl.statement_id in (select st.id from settlement_statements st
                                                  where st.connection_id = ${x.c} and st.status = 'imported'
                                                    and st.business_date between l.ldate - 62 and l.ldate)) r
          limit 1) sr on l.kind = 'refund' and (l.our_payment_ref is not null or l.channel_txn_id is not null)
        cross join lateral (select case
          when l.kind = 'adjustment' then 'missing_in_pos'
          when k.pos_id is not null and (
                 exists (select 1 from rc_pair q where q.pos_kind = k.pos_kind and q.pos_id = k.pos_id)
              or exists (select 1 from recon_items i where i.merchant_id = ${x.m} and i.pos_kind = k.pos_kind and i.pos_id = k.pos_id
                                                      and i.outcome <> 'duplicate' and i.line_id is not null
                                                      and i.line_id not in (select line_id from rc_lines))) then 'duplicate'
          when l.our_ref is not null and k.pos_id is null and not (l.our_ref ~ ${pattern}) then 'unknown_merchant_ref'
          else 'missing_in_pos' end as outcome) o
       where l.kind in ('payment', 'refund', 'adjustment')
         and not exists (select 1 from rc_pair q where q.line_id = l.line_id)`)

    // Payouts: the deposit against the net of the lines it carries (payments − refunds ± adjustments − fees + payouts
    // returned to the balance), all in
    // the deposit's currency: a line in another one cannot be netted with it (currency_diff).
    await tx.execute(sql`
      insert into rc_new (pos_kind, pos_id, pos_ref, line_id, store_id, currency, pos_amount, channel_amount, difference, channel_fee_milli,
                          carried_days, outcome, state, business_date, line_kind, existing_id)
      select 'payout', null, l.payout_ref, l.line_id, null, l.currency, s.net, l.amount, l.amount - s.net, l.fee_milli, 0,
             o.outcome, case when o.outcome = 'matched' then 'auto' else 'open' end, l.ldate, l.kind,
             case when l.item_own then l.item_id end
        from rc_lines l
        cross join lateral (
          select (coalesce(sum(case y.kind when 'payment' then y.amount when 'refund' then -y.amount when 'adjustment' then y.amount when 'payout_return' then y.amount
                                       when 'fee' then -y.amount else 0 end), 0)
                  - round(coalesce(sum(case when y.kind in ('payment', 'refund', 'adjustment') then y.fee_milli else 0 end), 0) / 1000.0))::bigint as net,
                 count(*) filter (where y.currency <> l.currency) as foreign_lines
            from settlement_lines y join settlement_statements st on st.id = y.statement_id and st.status = 'imported' and ${x.formats}
           where y.merchant_id = ${x.m} and y.connection_id = ${x.c} and y.payout_ref = l.payout_ref and y.kind <> 'payout') s
        cross join lateral (select case when s.foreign_lines > 0 then 'currency_diff' when l.amount = s.net then 'matched' else 'amount_diff' end as outcome) o
       where l.kind = 'payout' and l.payout_ref is not null`)

    // Fees the channel took of their own (Stripe's Radar, Terminal and billing fees): nothing of the till's to pair
    // (settled items, left out of the day's counts), but the channel's fee of the line's day all the same, booked by
    // the voucher as the fees on payments are. A fee line's amount is what it took. It is of the store its line names,
    // else of the connection's one store, else of the merchant's only store (or only open one): a merchant-level fee
    // of a merchant of several stores is of none (the merchant-wide voucher books it, no store's does).
    const soleStore = x.storeIds ? (x.storeIds.length === 1 ? x.storeIds[0]! : null) : await soleStoreOf(tx, x.m)
    await tx.execute(sql`
      insert into rc_new (pos_kind, pos_id, pos_ref, line_id, store_id, currency, pos_amount, channel_amount, difference, channel_fee_milli,
                          carried_days, outcome, state, business_date, line_kind, existing_id)
      select 'fee', null, l.channel_txn_id, l.line_id, coalesce(so.id, ${soleStore}::uuid), l.currency, null, l.amount, 0, l.amount * 1000, 0,
             'matched', 'auto', l.ldate, l.kind, case when l.item_own then l.item_id end
        from rc_lines l
        left join stores so on so.merchant_id = ${x.m} and so.code = l.store_ref
       where l.kind = 'fee'`)

    // 5. Write: compare with the automatic items this run owns; keep the unchanged, change, remove and create the rest.
    await tx.execute(sql`
      create temp table rc_owned on commit drop as
      -- Read through the pool's lines and tenders by the items' keys, never by a scan of the connection's items: that
      -- would read its whole history, and the clean pairs just written (which the planner's statistics do not know of).
      select distinct on (o.id) o.* from (
        select o.* from rc_lines r join recon_items o on o.line_id = r.line_id and o.line_id is not null
        union all
        select o.* from rc_pos p join recon_items o on o.pos_kind = p.pos_kind and o.pos_id = p.pos_id and o.pos_id is not null and o.outcome <> 'duplicate'
        union all
        -- a tender's own duplicate item (no line): automatic exceptions are open
        select o.* from rc_pos p join recon_items o on o.pos_kind = p.pos_kind and o.pos_id = p.pos_id
         where o.merchant_id = ${x.m} and o.state = 'open' and o.outcome = 'duplicate' and o.line_id is null
        union all
        -- lines of the day's superseded (or refused) files are no longer anyone's (read by statement: through the
        -- items, the planner would go through every item of the connection)
        select o.* from settlement_lines l join recon_items o on o.line_id = l.id and o.line_id is not null
         where ${replacedIds.length > 0 ? sql`l.statement_id = any(${sql.param(replacedIds)}::uuid[])` : sql`false`}) o
       where o.merchant_id = ${x.m} and o.connection_id = ${x.c} and not o.manual
       order by o.id`)
    // Each new result already names the item it continues (the tender's, else the line's own); a second till record
    // that stays a duplicate continues its earlier duplicate item.
    await tx.execute(sql`
      update rc_new n set existing_id = o.id from rc_owned o
       where n.existing_id is null and n.line_id is null and n.outcome = 'duplicate' and o.outcome = 'duplicate' and o.line_id is null
         and o.pos_kind = n.pos_kind and o.pos_id = n.pos_id
         and not exists (select 1 from rc_new m where m.existing_id = o.id)`)

    // An item continues one result at most (by construction; this keeps it so should two ever name the same one).
    await tx.execute(sql`
      update rc_new n set existing_id = null
        from (select existing_id, min(ctid) as keep from rc_new where existing_id is not null group by existing_id having count(*) > 1) d
       where n.existing_id = d.existing_id and n.ctid <> d.keep`)

    const snapshot = (a: string) =>
      sql.raw(
        `jsonb_build_object('outcome', ${a}.outcome, 'state', ${a}.state, 'posKind', ${a}.pos_kind, 'posId', ${a}.pos_id, 'lineId', ${a}.line_id, 'businessDate', ${a}.business_date, 'posAmount', ${a}.pos_amount, 'channelAmount', ${a}.channel_amount, 'carriedDays', ${a}.carried_days)`,
      )

    const removed = await count(
      tx,
      sql`with gone as (
            delete from recon_items i using rc_owned o
             where i.id = o.id and not exists (select 1 from rc_new n where n.existing_id = o.id)
            returning i.*)
          , ev as (insert into recon_item_events (merchant_id, item_id, action, details)
                   select ${x.m}, g.id, 'removed', jsonb_build_object('runId', ${runId}::text, 'before', ${snapshot('g')}) from gone g)
          select count(*)::int as n from gone`,
    )

    await tx.execute(sql`
      create temp table rc_changed on commit drop as
      select n.existing_id as id from rc_new n join rc_owned o on o.id = n.existing_id
       where (o.outcome, o.state, o.pos_kind, o.pos_id, o.pos_ref, o.line_id, o.store_id, o.currency, o.pos_amount, o.channel_amount, o.difference,
              o.expected_fee_milli, o.channel_fee_milli, o.carried_days, o.business_date)
             is distinct from
             (n.outcome, n.state, n.pos_kind, n.pos_id, n.pos_ref, n.line_id, n.store_id, n.currency, n.pos_amount, n.channel_amount, n.difference,
              n.expected_fee_milli, n.channel_fee_milli, n.carried_days, n.business_date)`)
    const changed = await count(tx, sql`select count(*)::int as n from rc_changed`)
    if (changed > 0) {
      await tx.execute(sql`
        insert into recon_item_events (merchant_id, item_id, action, details)
        select ${x.m}, o.id, 'reclassified', jsonb_build_object('runId', ${runId}::text, 'before', ${snapshot('o')}, 'after', ${snapshot('n')})
          from rc_changed c join rc_owned o on o.id = c.id join rc_new n on n.existing_id = c.id`)
      // Keys first released, then set: a line or tender may move between two changed items.
      await tx.execute(sql`update recon_items set line_id = null, pos_id = null where id in (select id from rc_changed)`)
      await tx.execute(sql`
        update recon_items i set outcome = n.outcome, state = n.state, pos_kind = n.pos_kind, pos_id = n.pos_id, pos_ref = n.pos_ref, line_id = n.line_id,
               store_id = n.store_id, currency = n.currency, pos_amount = n.pos_amount, channel_amount = n.channel_amount, difference = n.difference,
               expected_fee_milli = n.expected_fee_milli, channel_fee_milli = n.channel_fee_milli, carried_days = n.carried_days,
               business_date = n.business_date, run_id = ${runId}, resolution = null, resolution_note = null, resolved_by = null, resolved_at = null,
               updated_at = ${now}
          from rc_new n where n.existing_id = i.id and i.id in (select id from rc_changed)`)
    }
    const itemCols = sql.raw(`id, merchant_id, connection_id, business_date, run_id, outcome, state, manual, pos_kind, pos_id, pos_ref, line_id,
                                     store_id, currency, pos_amount, channel_amount, difference, expected_fee_milli, channel_fee_milli, carried_days,
                                     created_at, updated_at`)
    // A function: each insert numbers its own rows from a fresh start.
    const itemVals = () => sql`${batchUuidV7()}, ${x.m}, ${x.c}, n.business_date, ${runId}, n.outcome, n.state, false, n.pos_kind, n.pos_id, n.pos_ref, n.line_id,
                   n.store_id, n.currency, n.pos_amount, n.channel_amount, n.difference, n.expected_fee_milli, n.channel_fee_milli, n.carried_days, ${now}, ${now}`
    // Automatic (matched) items: a plain insert, no events; exceptions get their 'created' event.
    const createdAuto = await tx.execute(sql`
      insert into recon_items (${itemCols})
      select ${itemVals()} from rc_new n where n.existing_id is null and n.state = 'auto'`)
    const created =
      clean.count +
      Number(createdAuto.rowCount ?? 0) +
      (await count(
        tx,
        sql`with ins as (
            insert into recon_items (${itemCols})
            select ${itemVals()} from rc_new n where n.existing_id is null and n.state <> 'auto'
            returning id, outcome, state, pos_kind, pos_id, line_id, business_date, pos_amount, channel_amount, carried_days)
          , ev as (insert into recon_item_events (merchant_id, item_id, action, details)
                   select ${x.m}, s.id, 'created', jsonb_build_object('runId', ${runId}::text, 'after', ${snapshot('s')}) from ins s)
          select count(*)::int as n from ins`,
      ))

    // Suggestions are told on both items, once per counterpart.
    const suggested = await count(
      tx,
      sql`with pairs as (
            select pi.id as pos_item, li.id as line_item, s.line_id, s.pos_kind, s.pos_id, s.reason
              from rc_suggest s
              join recon_items pi on pi.merchant_id = ${x.m} and pi.pos_kind = s.pos_kind and pi.pos_id = s.pos_id and pi.outcome <> 'duplicate' and pi.line_id is null
              join recon_items li on li.line_id = s.line_id)
          , sides as (
            select pos_item as item_id, line_item as other, jsonb_build_object('lineId', line_id) as what, reason from pairs
            union all select line_item, pos_item, jsonb_build_object('posKind', pos_kind, 'posId', pos_id), reason from pairs)
          , ins as (
            insert into recon_item_events (merchant_id, item_id, action, details)
            select ${x.m}, s.item_id, 'suggested', s.what || jsonb_build_object('counterpartItemId', s.other::text, 'by', s.reason, 'runId', ${runId}::text)
              from sides s
             where not exists (select 1 from (select e.details from recon_item_events e where e.item_id = s.item_id and e.action = 'suggested' order by e.id desc limit 1) last
                                where last.details->>'counterpartItemId' = s.other::text)
            returning 1)
          select count(*)::int as n from ins`,
    )

    const countRows = await tx.execute<{ outcome: string; n: number; open: number }>(sql`
      select outcome, count(*)::int as n, count(*) filter (where state = 'open')::int as open from rc_new
       -- a fee of its own is no pair of anything: its fee is in the totals, not in the counts
       where pos_kind is distinct from 'fee' group by outcome`)
    const counts: Record<string, number> = Object.fromEntries(OUTCOMES.map((o) => [o, 0]))
    let openExceptions = 0
    let timing = 0
    for (const r of countRows.rows) {
      counts[r.outcome] = Number(r.n)
      if (r.outcome === 'timing') timing += Number(r.open)
      else openExceptions += Number(r.open)
    }
    counts.matched! += clean.count
    counts.open = openExceptions + timing
    counts.open_exceptions = openExceptions
    const t = (
      await tx.execute<Record<string, number>>(sql`
        select p.pos_count, p.pos_payments, p.pos_refunds, l.channel_count, l.channel_payments, l.channel_refunds, l.channel_fee_milli,
               n.expected_fee_milli, n.open_pos_amount, n.open_channel_amount
          from (select count(*)::bigint as pos_count,
                       coalesce(sum(amount) filter (where dir = 'payment'), 0)::bigint as pos_payments,
                       coalesce(sum(amount) filter (where dir = 'refund'), 0)::bigint as pos_refunds
                  from rc_pos where bdate = ${x.d}::date) p,
               (select count(*) filter (where kind in ('payment', 'refund'))::bigint as channel_count,
                       coalesce(sum(amount) filter (where kind = 'payment'), 0)::bigint as channel_payments,
                       (coalesce(sum(amount) filter (where kind = 'refund'), 0) + coalesce(sum(${revokedPaymentAmount({ kind: sql`kind`, status: sql`status`, amount: sql`amount` })}), 0))::bigint as channel_refunds,
                       -- Fees of adjustments too (a dispute's fee) and the fee lines' own (a Radar fee, all it took): what
                       -- the channel took, as the voucher books it.
                       coalesce(sum(case when kind = 'fee' then amount * 1000 else fee_milli end), 0)::bigint as channel_fee_milli
                  from rc_lines where ldate = ${x.d}::date and kind in ('payment', 'refund', 'adjustment', 'fee')) l,
               (select coalesce(sum(expected_fee_milli) filter (where business_date = ${x.d}::date), 0)::bigint as expected_fee_milli,
                       coalesce(sum(pos_amount) filter (where state = 'open' and line_id is null and pos_id is not null), 0)::bigint as open_pos_amount,
                       coalesce(sum(channel_amount) filter (where state = 'open' and pos_id is null and line_id is not null), 0)::bigint as open_channel_amount
                  from rc_new) n`)
    ).rows[0]!
    const totals: Record<string, number> = Object.fromEntries(Object.entries(t).map(([k, v]) => [k, Number(v)]))
    // What items resolved by hand or by a later day's run hold stays out of the pool, but it is the day's money all the same.
    const held = await heldElsewhere(tx, x)
    for (const [k, v] of Object.entries(held)) totals[k]! += v
    // The clean pairs: a tender and a line of this day each, one payment amount.
    totals.pos_count! += clean.count
    totals.pos_payments! += clean.amount
    totals.channel_count! += clean.count
    totals.channel_payments! += clean.amount
    totals.channel_fee_milli! += clean.feeMilli
    totals.expected_fee_milli! += clean.expectedFeeMilli
    totals.pos_net = totals.pos_payments! - totals.pos_refunds!
    totals.channel_net = totals.channel_payments! - totals.channel_refunds!
    totals.difference = totals.channel_net - totals.pos_net
    const status: RunSummary['status'] = openExceptions > 0 ? 'exceptions' : 'balanced'
    const changes = { created, changed, removed }
    if (dryRun) throw new RolledBackPreview(await preview(tx, { status, statementIds, counts, totals, changes }))

    if (created + changed + removed + suggested + repointed === 0) {
      // The last run stands for this one when it read the same files and came to the same figures (a resolution by
      // hand since changes no item of the run's own, but the day's status and counts).
      const [last] = (
        await tx.execute<{ id: string; status: string; statement_ids: string[]; counts: Record<string, number>; totals: Record<string, number> }>(sql`
          select id, status, statement_ids, counts, totals from recon_runs
           where merchant_id = ${x.m} and connection_id = ${x.c} and business_date = ${x.d}::date and status in ('balanced', 'exceptions')
           order by started_at desc, id desc limit 1`)
      ).rows
      const same = (a: Record<string, number>, b: Record<string, number>) => Object.keys({ ...a, ...b }).every((k) => Number(a[k]) === Number(b[k]))
      if (last && [...last.statement_ids].sort().join() === statementIds.join() && last.status === status && same(last.counts, counts) && same(last.totals, totals)) {
        return { runId: last.id, status: last.status as RunSummary['status'], reused: true, statementIds, counts, totals, changes }
      }
    }
    await tx.insert(reconRuns).values({
      id: runId,
      merchantId: x.m,
      connectionId: x.c,
      businessDate: x.d,
      status,
      statementIds,
      counts,
      totals,
      startedAt: now,
      finishedAt: now,
    })
    if (status === 'exceptions') {
      await recordEvent(tx, x.m, {
        type: 'settlement.exception',
        entityType: 'recon_run',
        entityId: runId,
        data: { runId, connectionId: x.c, businessDate: x.d, openExceptions, counts, totals },
      })
    }
    return { runId, status, reused: false, statementIds, counts, totals, changes }
  })
}

/** The dry run's answer, read from the run's own tables before they are rolled back. */
async function preview(tx: Tx, found: Omit<DayPreview, 'dryRun' | 'exceptions' | 'exceptionsTruncated'>): Promise<DayPreview> {
  const rows = (
    await tx.execute<Record<string, unknown>>(sql`
      select outcome, existing_id is null as is_new, business_date::text, pos_kind, pos_id, pos_ref, line_id, currency, pos_amount, channel_amount, difference
        from rc_new where state = 'open'
       order by outcome, greatest(abs(coalesce(pos_amount, 0)), abs(coalesce(channel_amount, 0))) desc, line_id nulls last, pos_id
       limit ${PREVIEW_LIMIT + 1}`)
  ).rows
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v))
  const exceptions = rows.slice(0, PREVIEW_LIMIT).map(
    (r): PreviewException => ({
      outcome: String(r.outcome),
      isNew: Boolean(r.is_new),
      businessDate: String(r.business_date),
      posKind: (r.pos_kind as string | null) ?? null,
      posId: (r.pos_id as string | null) ?? null,
      posRef: (r.pos_ref as string | null) ?? null,
      lineId: num(r.line_id),
      currency: String(r.currency),
      posAmount: num(r.pos_amount),
      channelAmount: num(r.channel_amount),
      difference: Number(r.difference),
    }),
  )
  return { ...found, dryRun: true, exceptions, exceptionsTruncated: rows.length > PREVIEW_LIMIT }
}

/**
 * A corrected file supersedes the lines people resolved against. Where the new file has the same line (same kind,
 * reference or channel id, amount, currency and status) the resolution moves to it and stays; an automatic item that
 * held the new line gives way. A line that changed is left for the run to show as an exception of its own.
 */
async function repointManualItems(tx: Tx, x: Ctx, replacedIds: string[], currentIds: string[]): Promise<number> {
  const moved = await tx.execute<{ item_id: string; old_line: number; new_line: number }>(sql`
    with held as materialized (
      select i.id as item_id, ol.*
        from settlement_lines ol
        join recon_items i on i.line_id = ol.id and i.manual
       where ol.statement_id = any(${sql.param(replacedIds)}::uuid[]))
    , same as (
      -- by our reference (its index), else by the channel's id among the lines of the day's current files
      select h.*, nl.id as new_line
        from held h join settlement_lines nl on nl.merchant_id = ${x.m} and nl.our_ref = h.our_ref
       where h.our_ref is not null
      union all
      select h.*, nl.id
        from held h join settlement_lines nl on nl.statement_id = any(${sql.param(currentIds)}::uuid[]) and nl.channel_txn_id = h.channel_txn_id
       where h.our_ref is null and h.channel_txn_id is not null)
    , cand as (
      select h.item_id, h.id as old_line, h.new_line,
             row_number() over (partition by h.item_id order by h.new_line) as ri,
             row_number() over (partition by h.new_line order by h.item_id) as rn
        from same h
        join settlement_lines nl on nl.id = h.new_line and nl.connection_id = ${x.c} and nl.business_date = h.business_date and nl.kind = h.kind
                                and nl.amount = h.amount and nl.currency = h.currency and nl.status = h.status and nl.id <> h.id
        join settlement_statements ns on ns.id = nl.statement_id and ns.status = 'imported'
       where not exists (select 1 from recon_items j where j.line_id = nl.id and j.manual))
    select item_id, old_line, new_line from cand where ri = 1 and rn = 1`)
  if (moved.rows.length === 0) return 0
  const items = sql.param(moved.rows.map((r) => r.item_id))
  const olds = sql.param(moved.rows.map((r) => r.old_line))
  const news = sql.param(moved.rows.map((r) => r.new_line))
  await tx.execute(sql`
    with gone as (delete from recon_items where line_id = any(${news}::bigint[]) and not manual returning id, line_id)
    insert into recon_item_events (merchant_id, item_id, action, details)
    select ${x.m}, id, 'removed', jsonb_build_object('runId', ${x.run}::text, 'reason', 'its line now belongs to a resolved item', 'lineId', line_id) from gone`)
  await tx.execute(sql`
    update recon_items i set line_id = m.new_line, run_id = ${x.run}
      from unnest(${items}::uuid[], ${news}::bigint[]) as m(item_id, new_line) where i.id = m.item_id`)
  await tx.execute(sql`
    insert into recon_item_events (merchant_id, item_id, action, details)
    select ${x.m}, m.item_id, 'line_replaced', jsonb_build_object('runId', ${x.run}::text, 'before', jsonb_build_object('lineId', m.old_line), 'after', jsonb_build_object('lineId', m.new_line))
      from unnest(${items}::uuid[], ${olds}::bigint[], ${news}::bigint[]) as m(item_id, old_line, new_line)`)
  return moved.rows.length
}

/**
 * A hand resolution whose line a corrected file changed (the same line not found in it: see repointManualItems) was
 * about figures that no longer stand: it is reopened, as a person would (an accepted channel figure's correcting
 * record reversed), and its tender goes back to the pool to pair with the corrected line, matched if they now agree.
 */
async function reopenChangedLines(tx: Tx, x: Ctx, replacedIds: string[], now: Date): Promise<void> {
  const { rows } = await tx.execute<{ id: string }>(sql`
    select distinct i.id from settlement_lines l join recon_items i on i.line_id = l.id and i.manual and i.state = 'resolved'
     where l.statement_id = any(${sql.param(replacedIds)}::uuid[]) and i.merchant_id = ${x.m} and i.connection_id = ${x.c}
     order by i.id`)
  const actor = systemActor(x.m, 'reconciliation')
  for (const r of rows) {
    // A hand match reopened through its other item already is open by now.
    const [still] = (await tx.execute<{ state: string }>(sql`select state from recon_items where id = ${r.id}`)).rows
    if (still?.state !== 'resolved') continue
    await reopenItem(tx, actor, r.id, { note: 'the line it was resolved on was replaced by a corrected file' }, now)
  }
}

/** A day that could not be reconciled: the bill never came (not_ready) or the fetch failed. */
export async function recordRunOutcome(
  tx: Tx,
  input: { merchantId: string; connectionId: string; businessDate: string; status: 'not_ready' | 'fetch_failed'; error: string; now?: Date },
): Promise<string> {
  const id = newId()
  const now = input.now ?? new Date()
  await tx.insert(reconRuns).values({
    id,
    merchantId: input.merchantId,
    connectionId: input.connectionId,
    businessDate: input.businessDate,
    status: input.status,
    statementIds: [],
    error: input.error.slice(0, 2000),
    startedAt: now,
    finishedAt: now,
  })
  return id
}
