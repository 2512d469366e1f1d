// Building a day's voucher from the ledgers. One SQL statement sums what happened per (line kind, group) — sales
// revenue per tax category and VAT per rate from the already-rounded line figures (never recomputed on a group),
// tenders, refunds, top-ups with their bonus, cash over/short of closed sessions, channel fees from reconciliation
// and COGS from the stock movements — as signed postings (debit > 0, credit < 0). Every block balances by itself
// (tenders = line totals + cash rounding), so the voucher balances by construction; whatever does not (a sale
// whose total differs from its lines) is put on the rounding account and reported, never spread.
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import type { VoucherSettings } from '../merchants/settings.ts'
import { resolveAccount, type Mapping } from './accounts.ts'

/** The group of a posting: tax rate, tax category, tender, channel — whatever its line kind is split by. */
export type Group = Record<string, string | number>

export interface Posting {
  kind: string
  /** Mapping key of the account (`tender:wechat`, `revenue:VAT13`, …). */
  key: string
  group: Group
  /** Signed minor units: debit > 0, credit < 0. */
  amount: number
}

export interface DaySources {
  sales: string[]
  refunds: string[]
  topups: string[]
  refundedTopups: string[]
  sessions: string[]
  reconItems: string[]
  /** Correcting records of accepted channel figures booked on the day. */
  settlementAdjustments: string[]
  /** Paid-ins and paid-outs made on the day (cash_movements ids). */
  cashMovements: number[]
  /** Stored-value corrections by hand made on the day (stored_value_ledger ids). */
  storedValueAdjustments: number[]
}

export interface DayScope {
  merchantId: string
  /** Null: every store of the merchant (grouping 'merchant'). */
  storeId: string | null
  businessDate: string
  /** The store whose voucher books records of no store (settings.vouchers.noStoreTo); null: none does. */
  noStoreTo: string | null
}

/** The connector whose channel fees are settled against which tender's account. */
const FEE_TENDER: Record<string, string> = { wechatpay: 'wechat', alipay: 'alipay', allinpay: 'card', unionpay: 'unionpay_qr', stripe: 'card', mapped: 'card' }

/**
 * The stores with anything on the day that dayPostings books, by its own rules, and those that already have a voucher
 * of the day. Null stands for records that name no store (a settlement line of no known store).
 */
export async function dayStores(tx: Tx, scope: Omit<DayScope, 'storeId'>): Promise<(string | null)[]> {
  const { merchantId, businessDate, noStoreTo } = scope
  const { rows } = await tx.execute<{ store_id: string | null }>(sql`
    select store_id from sales where merchant_id = ${merchantId} and business_date = ${businessDate}
    union select store_id from refunds where merchant_id = ${merchantId} and business_date = ${businessDate}
    union select store_id from stored_value_topups where merchant_id = ${merchantId} and business_date = ${businessDate}
    union select store_id from stored_value_topups where merchant_id = ${merchantId} and status = 'refunded' and refunded_business_date = ${businessDate}
    union select store_id from cash_sessions where merchant_id = ${merchantId} and business_date = ${businessDate} and status = 'closed'
    union select c.store_id from cash_movements m join cash_sessions c on c.id = m.session_id
           where m.merchant_id = ${merchantId} and m.kind in ('paid_in', 'paid_out') and m.business_date = ${businessDate}
    union select coalesce(f.store_id, ${noStoreTo}::uuid) from (${feeItemsOfDay(merchantId, businessDate)}) f
    union select coalesce(store_id, ${noStoreTo}::uuid) from settlement_adjustments where merchant_id = ${merchantId} and business_date = ${businessDate}
    union select store_id from stored_value_ledger where merchant_id = ${merchantId} and kind = 'adjust' and store_id is not null and business_date = ${businessDate}
    union select store_id from vouchers where merchant_id = ${merchantId} and business_date = ${businessDate} and store_id is not null`)
  return rows.map((r) => r.store_id)
}

/**
 * The reconciliation items whose channel fee is the day's: a fee is the channel's on the day of its line (the bill
 * that carries it), as the run and the summary count it. An item is dated the later of its two sides' days, so one
 * whose line is of an earlier day (the till dated the sale after the channel did) is found by its line, not its date;
 * an item without a line by its date. A line's item matched by hand into a till's item ('merged') gave its fee to
 * that item: counted there.
 */
const feeItemsOfDay = (merchantId: string, businessDate: string) => sql`
  select i.id, i.channel_fee_milli, i.connection_id, i.store_id from recon_items i
   where i.line_id in (select l.id from settlement_lines l join settlement_statements st on st.id = l.statement_id
                        where st.merchant_id = ${merchantId} and st.business_date = ${businessDate})
     and i.merchant_id = ${merchantId} and i.channel_fee_milli <> 0 and coalesce(i.resolution, '') <> 'merged'
  union all
  select i.id, i.channel_fee_milli, i.connection_id, i.store_id from recon_items i
   where i.merchant_id = ${merchantId} and i.business_date = ${businessDate} and i.line_id is null
     and i.channel_fee_milli <> 0 and coalesce(i.resolution, '') <> 'merged'`

/**
 * Sums the day's postings and collects the ids of the records they summarise. Every record is taken by the business
 * day stored on it when it happened (a top-up given back, a paid-in or paid-out and a correction by hand too), never
 * by instants of the merchant's current time zone: a later change of zone moves nothing from an exported day.
 */
export async function dayPostings(tx: Tx, scope: DayScope): Promise<{ postings: Posting[]; sources: DaySources }> {
  const { merchantId, storeId, businessDate, noStoreTo } = scope
  const feeTender = sql.raw(`(case k.connector_id ${Object.entries(FEE_TENDER).map(([c, t]) => `when '${c}' then '${t}'`).join(' ')} else 'card' end)`)
  const { rows } = await tx.execute<{ kind: string; key: string; grp: Group; amount: string }>(sql`
    with s as (
      select id, rounding_adjustment, tender_difference from sales
       where merchant_id = ${merchantId} and business_date = ${businessDate} and status = 'completed'
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), r as (
      select id, total from refunds
       where merchant_id = ${merchantId} and business_date = ${businessDate} and kind = 'refund'
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), u as (
      select id, principal, bonus from stored_value_topups
       where merchant_id = ${merchantId} and business_date = ${businessDate}
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), ur as (
      select id, principal, bonus from stored_value_topups
       where merchant_id = ${merchantId} and status = 'refunded' and refunded_business_date = ${businessDate}
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), cs as (
      select id, over_short from cash_sessions
       where merchant_id = ${merchantId} and business_date = ${businessDate} and status = 'closed' and coalesce(over_short, 0) <> 0
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), pm as (
      -- Paid in and paid out, on the day they were made (a session may run past midnight).
      select m.id, m.kind, m.amount from cash_movements m join cash_sessions c on c.id = m.session_id
       where m.merchant_id = ${merchantId} and m.kind in ('paid_in', 'paid_out') and m.business_date = ${businessDate}
         and (${storeId}::uuid is null or c.store_id = ${storeId}::uuid)
    ), sv as (
      -- Stored value corrected by hand, on the day it was made, in the books of the store it names.
      select id, principal_delta, bonus_delta from stored_value_ledger
       where merchant_id = ${merchantId} and kind = 'adjust' and store_id is not null and business_date = ${businessDate}
         and (${storeId}::uuid is null or store_id = ${storeId}::uuid)
    ), ri as (
      select f.id, f.channel_fee_milli, k.connector_id from (${feeItemsOfDay(merchantId, businessDate)}) f join connections k on k.id = f.connection_id
       where ${storeId}::uuid is null or coalesce(f.store_id, ${noStoreTo}::uuid) = ${storeId}::uuid
    ), sa as (
      select a.id, a.amount, a.tender_kind, k.connector_id from settlement_adjustments a join connections k on k.id = a.connection_id
       where a.merchant_id = ${merchantId} and a.business_date = ${businessDate}
         and (${storeId}::uuid is null or coalesce(a.store_id, ${noStoreTo}::uuid) = ${storeId}::uuid)
    ), lines as (
      select l.tax_category_id, l.tax_rate_bp, sum(l.total - l.tax_amount) as net, sum(l.tax_amount) as tax
        from sale_lines l join s on s.id = l.sale_id group by 1, 2
    ), rlines as (
      select sl.tax_category_id, sl.tax_rate_bp, sum(rl.amount - rl.tax_amount) as net, sum(rl.tax_amount) as tax
        from refund_lines rl join r on r.id = rl.refund_id join sale_lines sl on sl.id = rl.sale_line_id group by 1, 2
    ), tenders as (
      select t.kind, sum(t.amount) as amount, sum(coalesce(t.stored_principal, 0)) as principal, sum(coalesce(t.stored_bonus, 0)) as bonus
        from sale_tenders t join s on s.id = t.sale_id where t.status = 'captured' group by 1
    ), rtenders as (
      select t.kind, sum(t.amount) as amount, sum(coalesce(t.stored_principal, 0)) as principal, sum(coalesce(t.stored_bonus, 0)) as bonus
        from refund_tenders t join r on r.id = t.refund_id group by 1
    ), cogs as (
      -- From the movements the sale and refund lines caused (each costed as it was booked), found by their cause.
      select coalesce(sum(round(-m.quantity::numeric * m.unit_cost / m.cost_per)), 0) as cost from (
        select m.quantity, m.unit_cost, m.cost_per from s join sale_lines l on l.sale_id = s.id
          join stock_movements m on m.cause_type = 'sale_line' and m.cause_id = l.id::text and m.kind = 'sale'
        union all
        select m.quantity, m.unit_cost, m.cost_per from r join refund_lines rl on rl.refund_id = r.id
          join stock_movements m on m.cause_type = 'refund_line' and m.cause_id = rl.id::text and m.kind = 'return'
      ) m
    ), written_off as (
      -- A returned item not put back in stock takes its cost out of the cost of sales (at the sale's cost, as the
      -- products report does) into a stock loss: it left stock when it was sold and never came back.
      select coalesce(sum(round(rl.quantity::numeric * l.unit_cost / l.price_per)), 0) as cost
        from r join refund_lines rl on rl.refund_id = r.id join sale_lines l on l.id = rl.sale_line_id
       where not rl.restock
    )
    select 'sale_revenue' as kind, 'revenue:' || tc.code as key, jsonb_build_object('taxCategory', tc.code, 'rate', x.tax_rate_bp) as grp, -x.net as amount
      from lines x join tax_categories tc on tc.id = x.tax_category_id where x.net <> 0
    union all
    select 'sale_vat', 'vat:' || x.tax_rate_bp, jsonb_build_object('rate', x.tax_rate_bp), -sum(x.tax) from lines x group by x.tax_rate_bp having sum(x.tax) <> 0
    union all
    select 'refund_revenue', 'revenue:' || tc.code, jsonb_build_object('taxCategory', tc.code, 'rate', x.tax_rate_bp), x.net
      from rlines x join tax_categories tc on tc.id = x.tax_category_id where x.net <> 0
    union all
    select 'refund_vat', 'vat:' || x.tax_rate_bp, jsonb_build_object('rate', x.tax_rate_bp), sum(x.tax) from rlines x group by x.tax_rate_bp having sum(x.tax) <> 0
    union all
    select 'tender', 'tender:' || kind, jsonb_build_object('tender', kind), amount from tenders where kind <> 'stored_value' and amount <> 0
    union all
    select 'stored_value_spend', 'stored_value:principal', jsonb_build_object('part', 'principal'), principal from tenders where kind = 'stored_value' and principal <> 0
    union all
    select 'stored_value_spend', 'stored_value:bonus', jsonb_build_object('part', 'bonus'), bonus from tenders where kind = 'stored_value' and bonus <> 0
    union all
    select 'refund_tender', 'tender:' || kind, jsonb_build_object('tender', kind), -amount from rtenders where kind <> 'stored_value' and amount <> 0
    union all
    select 'stored_value_refund', 'stored_value:principal', jsonb_build_object('part', 'principal'), -principal from rtenders where kind = 'stored_value' and principal <> 0
    union all
    select 'stored_value_refund', 'stored_value:bonus', jsonb_build_object('part', 'bonus'), -bonus from rtenders where kind = 'stored_value' and bonus <> 0
    union all
    select 'cash_rounding', 'rounding', '{}'::jsonb, -sum(rounding_adjustment + tender_difference) from s having sum(rounding_adjustment + tender_difference) <> 0
    union all
    -- A refund of a cash-rounded sale gives back its share of the rounding: refund total − its lines.
    select 'cash_rounding', 'rounding', '{}'::jsonb, x.d from (
      select (select coalesce(sum(total), 0) from r) - (select coalesce(sum(rl.amount), 0) from refund_lines rl join r on r.id = rl.refund_id) as d) x where x.d <> 0
    union all
    select 'topup_tender', 'tender:' || t.kind, jsonb_build_object('tender', t.kind), sum(t.amount) from topup_tenders t join u on u.id = t.topup_id group by t.kind having sum(t.amount) <> 0
    union all
    select 'topup_principal', 'stored_value:principal', '{}'::jsonb, -sum(principal) from u having sum(principal) <> 0
    union all
    select 'topup_bonus', 'stored_value:bonus_expense', '{}'::jsonb, sum(bonus) from u having sum(bonus) <> 0
    union all
    select 'topup_bonus', 'stored_value:bonus', '{}'::jsonb, -sum(bonus) from u having sum(bonus) <> 0
    union all
    select 'topup_refund_tender', 'tender:' || t.kind, jsonb_build_object('tender', t.kind), -sum(t.amount) from topup_tenders t join ur on ur.id = t.topup_id group by t.kind having sum(t.amount) <> 0
    union all
    select 'topup_refund_principal', 'stored_value:principal', '{}'::jsonb, sum(principal) from ur having sum(principal) <> 0
    union all
    select 'topup_refund_bonus', 'stored_value:bonus', '{}'::jsonb, sum(bonus) from ur having sum(bonus) <> 0
    union all
    select 'topup_refund_bonus', 'stored_value:bonus_expense', '{}'::jsonb, -sum(bonus) from ur having sum(bonus) <> 0
    union all
    select 'stored_value_adjust', 'stored_value:adjustment', '{}'::jsonb, sum(principal_delta) from sv having sum(principal_delta) <> 0
    union all
    select 'stored_value_adjust', 'stored_value:principal', jsonb_build_object('part', 'principal'), -sum(principal_delta) from sv having sum(principal_delta) <> 0
    union all
    select 'stored_value_adjust', 'stored_value:bonus_expense', '{}'::jsonb, sum(bonus_delta) from sv having sum(bonus_delta) <> 0
    union all
    select 'stored_value_adjust', 'stored_value:bonus', jsonb_build_object('part', 'bonus'), -sum(bonus_delta) from sv having sum(bonus_delta) <> 0
    union all
    select 'cash_short', 'cash:short', '{}'::jsonb, -sum(over_short) from cs where over_short < 0 having sum(over_short) <> 0
    union all
    select 'cash_short', 'tender:cash', jsonb_build_object('tender', 'cash'), sum(over_short) from cs where over_short < 0 having sum(over_short) <> 0
    union all
    select 'cash_over', 'tender:cash', jsonb_build_object('tender', 'cash'), sum(over_short) from cs where over_short > 0 having sum(over_short) <> 0
    union all
    select 'cash_over', 'cash:over', '{}'::jsonb, -sum(over_short) from cs where over_short > 0 having sum(over_short) <> 0
    union all
    select 'cash_paid_in', 'tender:cash', jsonb_build_object('tender', 'cash'), sum(amount) from pm where kind = 'paid_in' having sum(amount) <> 0
    union all
    select 'cash_paid_in', 'cash:paid_in', '{}'::jsonb, -sum(amount) from pm where kind = 'paid_in' having sum(amount) <> 0
    union all
    select 'cash_paid_out', 'cash:paid_out', '{}'::jsonb, -sum(amount) from pm where kind = 'paid_out' having sum(amount) <> 0
    union all
    select 'cash_paid_out', 'tender:cash', jsonb_build_object('tender', 'cash'), sum(amount) from pm where kind = 'paid_out' having sum(amount) <> 0
    union all
    -- Fees are rounded per transaction, as the channel deducts them (a bill's five-decimal fees are not summed first).
    select 'channel_fee', 'fee', jsonb_build_object('channel', f.connector_id), f.fee from (
      select k.connector_id, sum(round(k.channel_fee_milli / 1000.0)) as fee from ri k group by 1) f where f.fee <> 0
    union all
    select 'channel_fee', 'tender:' || f.tender, jsonb_build_object('channel', f.connector_id, 'tender', f.tender), -f.fee from (
      select k.connector_id, ${feeTender} as tender, sum(round(k.channel_fee_milli / 1000.0)) as fee from ri k group by 1, 2) f where f.fee <> 0
    union all
    -- An accepted channel figure: the account of the tender it concerns (else the channel's) moves by the difference,
    -- against settlement differences.
    select 'settlement_adjustment', 'tender:' || f.tender, jsonb_build_object('channel', f.connector_id, 'tender', f.tender), f.amount from (
      select k.connector_id, coalesce(k.tender_kind, ${feeTender}) as tender, sum(k.amount) as amount from sa k group by 1, 2) f where f.amount <> 0
    union all
    select 'settlement_adjustment', 'settlement:adjustment', jsonb_build_object('channel', f.connector_id), -f.amount from (
      select k.connector_id, sum(k.amount) as amount from sa k group by 1) f where f.amount <> 0
    union all
    select 'cogs', 'cogs', '{}'::jsonb, cost from cogs where cost <> 0
    union all
    select 'cogs', 'inventory', '{}'::jsonb, -cost from cogs where cost <> 0
    union all
    select 'stock_write_off', 'stock:write_off', '{}'::jsonb, cost from written_off where cost <> 0
    union all
    select 'stock_write_off', 'cogs', '{}'::jsonb, -cost from written_off where cost <> 0
    union all
    select '#sources', '', jsonb_build_object(
      'sales', (select coalesce(jsonb_agg(id), '[]') from s), 'refunds', (select coalesce(jsonb_agg(id), '[]') from r),
      'topups', (select coalesce(jsonb_agg(id), '[]') from u), 'refundedTopups', (select coalesce(jsonb_agg(id), '[]') from ur),
      'sessions', (select coalesce(jsonb_agg(id), '[]') from cs), 'reconItems', (select coalesce(jsonb_agg(id), '[]') from ri),
      'settlementAdjustments', (select coalesce(jsonb_agg(id), '[]') from sa), 'cashMovements', (select coalesce(jsonb_agg(id order by id), '[]') from pm),
      'storedValueAdjustments', (select coalesce(jsonb_agg(id order by id), '[]') from sv)), 0`)
  const postings: Posting[] = []
  let sources: DaySources = { sales: [], refunds: [], topups: [], refundedTopups: [], sessions: [], reconItems: [], settlementAdjustments: [], cashMovements: [], storedValueAdjustments: [] }
  for (const r of rows) {
    if (r.kind === '#sources') sources = r.grp as unknown as DaySources
    else postings.push({ kind: r.kind, key: r.key, group: r.grp, amount: Number(r.amount) })
  }
  return { postings, sources }
}

// ---------------------------------------------------------------------------------------------------------------
// Assembling lines

export interface BuiltLine {
  lineNo: number
  kind: string
  group: Group
  accountKey: string
  accountCode: string
  accountName: string
  dimensions: Record<string, string>
  summary: string
  debit: number
  credit: number
}

export interface Assembled {
  lines: BuiltLine[]
  totalDebit: number
  totalCredit: number
  /** Put on the rounding account to balance (0 when the sources balanced). */
  rounding: number
  problems: { code: string; message: string; key?: string }[]
}

/** 摘要 by line kind; tokens {date} (MM/DD), {store}, {tender}, {rate}, {channel}. */
export const DEFAULT_SUMMARIES: Record<string, string> = {
  sale_revenue: '{date} {store} 销售收入 {rate}',
  sale_vat: '{date} {store} 销项税额 {rate}',
  refund_revenue: '{date} {store} 销售退货 {rate}',
  refund_vat: '{date} {store} 退货冲减销项 {rate}',
  tender: '{date} {store} {tender}收款',
  refund_tender: '{date} {store} {tender}退款',
  stored_value_spend: '{date} {store} 储值消费',
  stored_value_refund: '{date} {store} 储值退回',
  cash_rounding: '{date} {store} 收银抹零',
  topup_tender: '{date} {store} 会员储值充值 {tender}',
  topup_principal: '{date} {store} 会员储值充值',
  topup_bonus: '{date} {store} 储值赠送',
  topup_refund_tender: '{date} {store} 储值充值退款 {tender}',
  topup_refund_principal: '{date} {store} 储值充值退款',
  topup_refund_bonus: '{date} {store} 储值赠送冲回',
  stored_value_adjust: '{date} {store} 储值调整',
  cash_short: '{date} {store} 现金短款',
  cash_over: '{date} {store} 现金长款',
  cash_paid_in: '{date} {store} 现金存入',
  cash_paid_out: '{date} {store} 现金支出',
  channel_fee: '{date} {store} {channel}手续费',
  cogs: '{date} {store} 结转销售成本',
  stock_write_off: '{date} {store} 退货报废',
  remainder: '{date} {store} 尾差',
}

const TENDER_LABEL: Record<string, string> = {
  cash: '现金',
  card: '银行卡',
  wechat: '微信',
  alipay: '支付宝',
  unionpay_qr: '云闪付',
  on_account: '挂账',
  coupon_voucher: '代金券',
  points: '积分',
  stored_value: '储值',
}
const CHANNEL_LABEL: Record<string, string> = { wechatpay: '微信', alipay: '支付宝', allinpay: '银联', unionpay: '银联', stripe: 'Stripe', mapped: '银行卡' }

const rateLabel = (bp: unknown) => (typeof bp === 'number' ? `${bp % 100 === 0 ? bp / 100 : (bp / 100).toFixed(2)}%` : '')

function summarise(template: string, ctx: { businessDate: string; storeCode: string }, group: Group): string {
  const [, mm, dd] = ctx.businessDate.split('-')
  return template
    .replaceAll('{date}', `${mm}/${dd}`)
    .replaceAll('{store}', ctx.storeCode)
    .replaceAll('{tender}', TENDER_LABEL[String(group.tender)] ?? String(group.tender ?? ''))
    .replaceAll('{rate}', rateLabel(group.rate))
    .replaceAll('{channel}', CHANNEL_LABEL[String(group.channel)] ?? String(group.channel ?? ''))
    .replace(/\s+/g, ' ')
    .trim()
}

/** Kinds in the order their lines appear: money in, the liabilities, revenue and tax, fees, cost. */
const ORDER = [
  'tender', 'topup_tender', 'stored_value_spend', 'cash_short', 'cash_over', 'cash_paid_in', 'cash_paid_out', 'refund_tender', 'topup_refund_tender', 'stored_value_refund',
  'topup_principal', 'topup_bonus', 'topup_refund_principal', 'topup_refund_bonus', 'stored_value_adjust', 'sale_revenue', 'refund_revenue', 'sale_vat', 'refund_vat',
  'cash_rounding', 'channel_fee', 'cogs', 'stock_write_off', 'remainder',
]
const rank = (kind: string) => {
  const i = ORDER.indexOf(kind)
  return i < 0 ? ORDER.length : i
}

/**
 * Turns postings into voucher lines: each group's net on the mapped account (debit when positive, credit when
 * negative), dimensions (the store on every line, plus the account's fixed ones), 摘要 from the templates. A key the
 * mapping cannot resolve is a problem that blocks export. Σ debit − Σ credit, if not zero, goes to `rounding`.
 */
export function assembleLines(
  postings: Posting[],
  mapping: Mapping,
  ctx: { businessDate: string; storeCode: string; settings: Pick<VoucherSettings, 'summaries' | 'storeDimension' | 'mergeSameAccount'> },
): Assembled {
  const problems: Assembled['problems'] = []
  const templates = { ...DEFAULT_SUMMARIES, ...ctx.settings.summaries }
  const storeDims: Record<string, string> = ctx.settings.storeDimension && ctx.storeCode ? { [ctx.settings.storeDimension]: ctx.storeCode } : {}
  const balance = postings.reduce((n, p) => n + p.amount, 0)
  const all = balance === 0 ? postings : [...postings, { kind: 'remainder', key: 'rounding', group: {}, amount: -balance }]
  type Draft = Omit<BuiltLine, 'lineNo' | 'debit' | 'credit'> & { amount: number; order: number; kinds: Set<string> }
  const drafts = new Map<string, Draft>()
  for (const p of all) {
    let account = resolveAccount(mapping, p.key)
    if (!account) {
      // Kept on a placeholder, so the voucher still shows (and balances) what is missing; it cannot be exported.
      if (!problems.some((x) => x.key === p.key)) problems.push({ code: 'account_unmapped', key: p.key, message: `no account is mapped for ${p.key}` })
      account = { key: p.key, code: '', name: `未映射 ${p.key}`, dimensions: {} }
    }
    const dimensions = { ...storeDims, ...account.dimensions }
    const side = p.amount > 0 ? 'D' : 'C'
    const mergeKey = ctx.settings.mergeSameAccount
      ? `${account.code}|${JSON.stringify(dimensions)}|${side}`
      : `${p.kind}|${account.code}|${JSON.stringify(dimensions)}|${JSON.stringify(p.group)}|${side}`
    const d = drafts.get(mergeKey)
    if (d) {
      d.amount += p.amount
      // Merged postings of other rates, tenders or kinds: the line says what they share, not the first one's detail.
      if (d.kind !== p.kind || JSON.stringify(d.group) !== JSON.stringify(p.group)) {
        d.kinds.add(p.kind)
        d.group = Object.fromEntries(Object.entries(d.group).filter(([k, v]) => p.group[k] === v))
        d.summary = d.kinds.size === 1 ? summarise(templates[d.kind] ?? '{date} {store}', ctx, d.group) : summarise(`{date} {store} ${account.name}`, ctx, {})
      }
    } else
      drafts.set(mergeKey, {
        kind: p.kind,
        group: p.group,
        accountKey: account.key,
        accountCode: account.code,
        accountName: account.name,
        dimensions,
        summary: summarise(templates[p.kind] ?? '{date} {store}', ctx, p.group),
        amount: p.amount,
        order: rank(p.kind),
        kinds: new Set([p.kind]),
      })
  }
  // A line merged from several kinds names them all (group.kinds), so its drill-down finds the records of each.
  for (const d of drafts.values()) if (d.kinds.size > 1) d.group = { ...d.group, kinds: [...d.kinds].join(',') }
  const lines = [...drafts.values()]
    .filter((d) => d.amount !== 0)
    .sort((a, b) => a.order - b.order || (a.amount > 0 ? 0 : 1) - (b.amount > 0 ? 0 : 1) || a.accountCode.localeCompare(b.accountCode) || a.summary.localeCompare(b.summary))
    .map(({ amount, order: _, kinds: __, ...d }, i): BuiltLine => ({ ...d, lineNo: i + 1, debit: amount > 0 ? amount : 0, credit: amount < 0 ? -amount : 0 }))
  const totalDebit = lines.reduce((n, l) => n + l.debit, 0)
  const totalCredit = lines.reduce((n, l) => n + l.credit, 0)
  return { lines, totalDebit, totalCredit, rounding: balance === 0 ? 0 : -balance, problems }
}

/** SHA-256 over what a target would receive (accounts, dimensions, summaries, amounts), in line order. */
export function fingerprintLines(lines: Pick<BuiltLine, 'accountCode' | 'dimensions' | 'summary' | 'debit' | 'credit'>[]): string {
  const h = createHash('sha256')
  for (const l of lines) h.update(JSON.stringify([l.accountCode, Object.entries(l.dimensions).sort(), l.summary, l.debit, l.credit])).update('\n')
  return h.digest('hex')
}
