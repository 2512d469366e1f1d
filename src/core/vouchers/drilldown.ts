// Drill-down: the source records a voucher line summarises — the sale lines, tenders, refunds, top-ups, cash
// sessions, reconciliation items or stock movements of its kind and group, among the records the voucher was built
// from (kept with the voucher, so the answer does not move when the day changes later).
import { and, desc, eq, inArray, isNull, lt, ne, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { notFound } from '../../lib/errors.ts'
import { getVoucher } from './service.ts'
import { voucherLines, vouchers, voucherSources } from './schema.ts'

export interface SourceRecord {
  type: string
  id: string
  /** The receipt, refund or session number a person recognises. */
  ref: string | null
  /** What the record contributes to the line, in minor units, in the line's own direction. */
  amount: number
  detail: Record<string, unknown>
}

const LIMIT = 1000

type VoucherLine = typeof voucherLines.$inferSelect
type Sources = typeof voucherSources.$inferSelect
type Row = {
  type: string
  id: string
  ref: string | null
  amount: string
  detail: Record<string, unknown>
  /** Of a kind booked as several postings of one account (cash rounding: the sales' and the refunds'): which. */
  part?: string
}

/**
 * The records a voucher line summarises, each with what it contributes to the line in the line's own direction.
 * - A daily voucher's line: the records of its kind and group among those the voucher was built from.
 * - A reversal's line: the records of the reversed voucher's line, each taken back.
 * - A difference voucher's line: what changed since the voucher before it (the day's records now against the ones
 *   that voucher held): a record added counts in full, one gone counts against, one changed by what it changed;
 *   a line whose account changed (the mapping moved it) holds the records that moved.
 */
export async function lineSources(tx: Tx, merchantId: string, voucherId: string, lineNo: number): Promise<{ records: SourceRecord[]; total: number; truncated: boolean }> {
  const voucher = await getVoucher(tx, merchantId, voucherId)
  const [line] = await tx.select().from(voucherLines).where(and(eq(voucherLines.voucherId, voucherId), eq(voucherLines.lineNo, lineNo)))
  if (!line) throw notFound('voucher_line', `${voucherId}/${lineNo}`)
  const sourcesOf = async (id: string) => (await tx.select().from(voucherSources).where(eq(voucherSources.voucherId, id)))[0]
  const side = line.credit > 0 ? -1 : 1
  const out = (rows: { r: Row; amount: number }[]) => {
    const records = rows.slice(0, LIMIT).map(({ r, amount }) => ({ type: r.type, id: r.id, ref: r.ref, amount, detail: r.detail }))
    return { records, total: rows.length > LIMIT ? LIMIT + 1 : rows.length, truncated: rows.length > LIMIT }
  }
  // A line merged from several kinds (mergeSameAccount) holds the records of each.
  const kinds = typeof line.group.kinds === 'string' ? line.group.kinds.split(',') : [line.kind]
  if (voucher.kind === 'difference') {
    const [own, before] = [await sourcesOf(voucher.id), await sourcesBefore(tx, voucher)]
    if (!own) return out([])
    const pairs: Pair[] = []
    for (const kind of kinds) {
      const now = await recordsOf(tx, merchantId, { ...line, kind }, own, null)
      if (now) pairs.push({ now, then: before ? await recordsOf(tx, merchantId, { ...line, kind }, before, null) : null })
    }
    return out(differenceRecords(line, pairs))
  }
  // A reversal summarises what the voucher it reverses did, each record taken back.
  const reversed = voucher.kind === 'reversal' && voucher.correctsId ? voucher.correctsId : null
  const src = await sourcesOf(reversed ?? voucher.id)
  if (!src) return out([])
  const rows: { r: Row; amount: number }[] = []
  for (const kind of kinds) {
    const q = await recordsOf(tx, merchantId, { ...line, kind }, src, LIMIT + 1)
    if (!q) continue
    // A posted record's amount is what it posts (debit +): in a reversal the opposite, seen from the line's side.
    const direction = q.posted ? side * (reversed ? -1 : 1) : 1
    rows.push(...ownParts(q.rows, direction).map((r) => ({ r, amount: direction * Number(r.amount) })))
  }
  return out(rows)
}

/**
 * A kind booked as several postings of one account (cash rounding: the sales' rounding and the refunds' share) makes
 * a line of each side it posts to: a line holds the parts whose records post to its side (their sum, seen from the
 * line, positive), as the voucher was assembled. Rows without parts are all the line's.
 */
function ownParts(rows: Row[], direction: number): Row[] {
  if (!rows.some((r) => r.part !== undefined)) return rows
  const totals = new Map<string | undefined, number>()
  for (const r of rows) totals.set(r.part, (totals.get(r.part) ?? 0) + Number(r.amount))
  return rows.filter((r) => direction * totals.get(r.part)! > 0)
}

type Found = { rows: Row[]; posted: boolean }
/** A kind's records in a difference voucher's sources (now) and in the voucher's before it (then). */
type Pair = { now: Found; then: Found | null }

/**
 * A difference line's records: what the day holds now against what the voucher before held, record by record, in
 * the line's direction. Which of three it is shows in the line's amount: the same account before and now (the change,
 * a record added counting in full, one gone against, one changed by its change), an account new to the kind (all it
 * holds now), or the account the kind left (all it held before, taken back). A kind's natural side (where its records
 * sit when the day is booked) is the one that explains the line.
 */
function differenceRecords(line: VoucherLine, pairs: Pair[]): { r: Row; amount: number }[] {
  const side = line.credit > 0 ? -1 : 1
  // The kinds of a merged line were merged on one side: they share their natural side.
  const posting = (qs: (Found | null)[], natural: number) =>
    new Map(qs.flatMap((q, k) => (q?.rows ?? []).map((r) => [`${k}:${r.type}:${r.id}`, { r, amount: (q!.posted ? 1 : natural) * Number(r.amount) }] as const)))
  const sum = (m: Map<string, { amount: number }>) => [...m.values()].reduce((t, v) => t + v.amount, 0)
  for (const natural of pairs.every((p) => p.now.posted) ? [1] : [side, -side]) {
    const a = posting(pairs.map((p) => p.now), natural)
    const b = posting(pairs.map((p) => p.then), natural)
    const changed = new Map(a)
    for (const [k, v] of b) changed.set(k, { r: changed.get(k)?.r ?? v.r, amount: (changed.get(k)?.amount ?? 0) - v.amount })
    const left = new Map([...b].map(([k, v]) => [k, { ...v, amount: -v.amount }]))
    const explains = [changed, a, left].find((m) => sum(m) === line.debit - line.credit)
    if (explains) return [...explains.values()].filter((v) => v.amount !== 0).map((v) => ({ r: v.r, amount: side * v.amount }))
  }
  return []
}

/** The sources of the voucher a difference voucher follows: the latest of the day's daily and difference vouchers before it. */
async function sourcesBefore(tx: Tx, v: typeof vouchers.$inferSelect): Promise<Sources | undefined> {
  const [row] = await tx
    .select({ s: voucherSources })
    .from(vouchers)
    .innerJoin(voucherSources, eq(voucherSources.voucherId, vouchers.id))
    .where(
      and(
        eq(vouchers.merchantId, v.merchantId),
        eq(vouchers.businessDate, v.businessDate),
        v.storeId ? eq(vouchers.storeId, v.storeId) : isNull(vouchers.storeId),
        ne(vouchers.status, 'superseded'),
        inArray(vouchers.kind, ['daily', 'difference']),
        lt(vouchers.createdAt, v.createdAt),
      ),
    )
    .orderBy(desc(vouchers.createdAt))
    .limit(1)
  return row?.s
}

/**
 * The records of a line's kind and group among `src`, with their amounts: in the line's natural direction, or, for a
 * kind whose records may move the line either way (`posted`), what each posts (debit +, credit −).
 */
async function recordsOf(tx: Tx, merchantId: string, line: VoucherLine, src: Sources, limit: number | null): Promise<Found | null> {
  const g = line.group
  const ids = (a: string[]) => sql`${sql.param(a)}::uuid[]`
  // A line merged from several rates or tenders (mergeSameAccount) keeps only what they share: no filter on the rest.
  const rateIs = (column: SQL) => (g.rate === undefined ? sql`` : sql`and ${column} = ${Number(g.rate)}`)
  const tenderIs = (paid: boolean) => (!paid ? sql`t.kind = 'stored_value'` : g.tender === undefined ? sql`t.kind <> 'stored_value'` : sql`t.kind = ${String(g.tender)}`)
  let q: SQL | null = null
  // Where a kind's records may move the line either way (or one kind makes two lines, like cost of goods and
  // inventory), the query gives what each record posts (debit +, credit −), turned here into the line's direction.
  let posted = false
  switch (line.kind) {
    case 'sale_revenue':
    case 'sale_vat': {
      const amount = line.kind === 'sale_revenue' ? sql`l.total - l.tax_amount` : sql`l.tax_amount`
      const byCategory = line.kind === 'sale_revenue' && g.taxCategory ? sql`and tc.code = ${String(g.taxCategory)}` : sql``
      q = sql`select 'sale_line' as type, l.id::text, s.receipt_no as ref, (${amount})::bigint as amount,
                     jsonb_build_object('saleId', s.id, 'sku', l.sku, 'quantity', l.quantity, 'rateBp', l.tax_rate_bp) as detail
                from sale_lines l join sales s on s.id = l.sale_id join tax_categories tc on tc.id = l.tax_category_id
               where s.id = any(${ids(src.sales)}) ${rateIs(sql`l.tax_rate_bp`)} ${byCategory} order by s.receipt_no, l.line_no`
      break
    }
    case 'refund_revenue':
    case 'refund_vat': {
      const amount = line.kind === 'refund_revenue' ? sql`rl.amount - rl.tax_amount` : sql`rl.tax_amount`
      q = sql`select 'refund_line' as type, rl.id::text, r.refund_no as ref, (${amount})::bigint as amount,
                     jsonb_build_object('refundId', r.id, 'saleId', r.sale_id, 'sku', sl.sku, 'quantity', rl.quantity) as detail
                from refund_lines rl join refunds r on r.id = rl.refund_id join sale_lines sl on sl.id = rl.sale_line_id
               where r.id = any(${ids(src.refunds)}) ${rateIs(sql`sl.tax_rate_bp`)} order by r.refund_no`
      break
    }
    // A tender's records say who paid or owes it: the sale's customer and the tender's account (for on account, the
    // customer charged; for stored value, the member's card).
    case 'tender':
    case 'stored_value_spend': {
      const kind = tenderIs(line.kind === 'tender')
      const amount = line.kind === 'tender' ? sql`t.amount` : g.part === 'bonus' ? sql`coalesce(t.stored_bonus, 0)` : sql`coalesce(t.stored_principal, 0)`
      q = sql`select 'sale_tender' as type, t.id::text, s.receipt_no as ref, (${amount})::bigint as amount,
                     jsonb_build_object('saleId', s.id, 'kind', t.kind, 'paymentNo', t.payment_no, 'customerName', s.customer_name, 'accountRef', t.account_ref) as detail
                from sale_tenders t join sales s on s.id = t.sale_id
               where s.id = any(${ids(src.sales)}) and ${kind} and t.status = 'captured' order by s.receipt_no`
      break
    }
    case 'refund_tender':
    case 'stored_value_refund': {
      const kind = tenderIs(line.kind === 'refund_tender')
      // Stored value goes back as it was taken: principal and bonus are lines of their own.
      const amount = line.kind === 'refund_tender' ? sql`t.amount` : g.part === 'bonus' ? sql`coalesce(t.stored_bonus, 0)` : sql`coalesce(t.stored_principal, 0)`
      q = sql`select 'refund_tender' as type, t.id::text, r.refund_no as ref, (${amount})::bigint as amount,
                     jsonb_build_object('refundId', r.id, 'saleId', r.sale_id, 'kind', t.kind, 'customerName', s.customer_name, 'accountRef', t.account_ref) as detail
                from refund_tenders t join refunds r on r.id = t.refund_id join sales s on s.id = r.sale_id
               where r.id = any(${ids(src.refunds)}) and ${kind} order by r.refund_no`
      break
    }
    case 'cash_rounding':
      // A sale's rounding and tender difference, and a refund's share of its sale's (its total less its lines).
      posted = true
      q = sql`select * from (
                select 'sale' as type, s.id::text, s.receipt_no as ref, -(s.rounding_adjustment + s.tender_difference)::bigint as amount, '{}'::jsonb as detail, 'sales' as part
                  from sales s where s.id = any(${ids(src.sales)})
                union all
                select 'refund', r.id::text, r.refund_no, (r.total - (select coalesce(sum(rl.amount), 0) from refund_lines rl where rl.refund_id = r.id))::bigint, jsonb_build_object('saleId', r.sale_id), 'refunds'
                  from refunds r where r.id = any(${ids(src.refunds)})
              ) x where x.amount <> 0 order by x.ref`
      break
    case 'topup_tender':
    case 'topup_principal':
    case 'topup_bonus': {
      const amount = line.kind === 'topup_bonus' ? sql`u.bonus` : line.kind === 'topup_principal' ? sql`u.principal` : sql`(select coalesce(sum(t.amount), 0) from topup_tenders t where t.topup_id = u.id and t.kind = ${String(g.tender ?? '')})`
      q = sql`select 'topup' as type, u.id::text, u.receipt_no as ref, (${amount})::bigint as amount, jsonb_build_object('memberId', u.member_id) as detail
                from stored_value_topups u where u.id = any(${ids(src.topups)}) order by u.receipt_no`
      break
    }
    case 'topup_refund_tender':
    case 'topup_refund_principal':
    case 'topup_refund_bonus': {
      // The tender pays back what it took; the principal and the bonus given (and its expense) are taken back.
      posted = true
      const amount =
        line.kind === 'topup_refund_tender'
          ? sql`-(select coalesce(sum(t.amount), 0) from topup_tenders t where t.topup_id = u.id and t.kind = ${String(g.tender ?? '')})`
          : line.kind === 'topup_refund_principal'
            ? sql`u.principal`
            : line.accountKey === 'stored_value:bonus_expense'
              ? sql`-u.bonus`
              : sql`u.bonus`
      q = sql`select 'topup' as type, u.id::text, u.receipt_no as ref, (${amount})::bigint as amount, jsonb_build_object('memberId', u.member_id, 'refundedAt', u.refunded_at) as detail
                from stored_value_topups u where u.id = any(${ids(src.refundedTopups)}) order by u.receipt_no`
      break
    }
    case 'stored_value_adjust': {
      // A correction may move a balance either way; the liability and its counterpart, principal and bonus apart.
      posted = true
      const part = line.accountKey === 'stored_value:bonus' || line.accountKey === 'stored_value:bonus_expense' ? sql`v.bonus_delta` : sql`v.principal_delta`
      const sign = line.accountKey === 'stored_value:principal' || line.accountKey === 'stored_value:bonus' ? sql`-1` : sql`1`
      q = sql`select 'stored_value_adjustment' as type, v.id::text, v.note as ref, (${sign} * ${part})::bigint as amount,
                     jsonb_build_object('memberId', v.member_id, 'at', v.created_at, 'actorId', v.actor_id) as detail
                from stored_value_ledger v
               where v.merchant_id = ${merchantId} and v.id = any(${sql.param(src.storedValueAdjustments ?? [])}::bigint[]) and ${part} <> 0 order by v.created_at, v.id`
      break
    }
    case 'cash_short':
    case 'cash_over':
      q = sql`select 'cash_session' as type, c.id::text, null as ref, abs(c.over_short)::bigint as amount,
                     jsonb_build_object('registerId', c.register_id, 'expected', c.expected_cash, 'counted', c.counted_cash) as detail
                from cash_sessions c where c.id = any(${ids(src.sessions)}) and ${line.kind === 'cash_short' ? sql`c.over_short < 0` : sql`c.over_short > 0`}`
      break
    case 'cash_paid_in':
    case 'cash_paid_out':
      q = sql`select 'cash_movement' as type, m.id::text, m.reason as ref, abs(m.amount)::bigint as amount,
                     jsonb_build_object('sessionId', m.session_id, 'kind', m.kind, 'at', m.at, 'actorId', m.actor_id, 'approverId', m.approver_id) as detail
                from cash_movements m where m.merchant_id = ${merchantId} and m.id = any(${sql.param(src.cashMovements)}::bigint[]) and m.kind = ${line.kind === 'cash_paid_in' ? 'paid_in' : 'paid_out'} order by m.at, m.id`
      break
    case 'channel_fee':
      // Each item's fee, with the channel's line it was read from: a payment's, or a fee the channel took of its own.
      q = sql`select 'recon_item' as type, i.id::text, i.pos_ref as ref, round(i.channel_fee_milli / 1000.0)::bigint as amount,
                     jsonb_build_object('feeMilli', i.channel_fee_milli, 'outcome', i.outcome, 'connectionId', i.connection_id,
                                        'lineId', i.line_id, 'lineKind', l.kind, 'statementId', l.statement_id, 'lineNo', l.line_no) as detail
                from recon_items i join connections k on k.id = i.connection_id left join settlement_lines l on l.id = i.line_id
               where i.id = any(${ids(src.reconItems)}) and k.connector_id = ${String(g.channel)} order by i.pos_ref`
      break
    case 'settlement_adjustment':
      q = sql`select 'settlement_adjustment' as type, a.id::text, i.pos_ref as ref, a.amount::bigint as amount,
                     jsonb_build_object('itemId', a.item_id, 'outcome', i.outcome, 'reversal', a.reversal, 'connectionId', a.connection_id) as detail
                from settlement_adjustments a join recon_items i on i.id = a.item_id join connections k on k.id = a.connection_id
               where a.id = any(${ids(src.settlementAdjustments)}) and k.connector_id = ${String(g.channel)} order by a.created_at, a.id`
      break
    case 'cogs':
      // Cost of goods is debited and inventory credited by what left (a return, the other way round).
      posted = true
      q = sql`select 'stock_movement' as type, m.id::text, coalesce(s.receipt_no, r.refund_no) as ref,
                     (${line.accountKey === 'inventory' ? sql`-1` : sql`1`} * round(-m.quantity::numeric * m.unit_cost / m.cost_per))::bigint as amount,
                     jsonb_build_object('kind', m.kind, 'variantId', m.variant_id, 'quantity', m.quantity, 'unitCost', m.unit_cost) as detail
                from stock_movements m
                left join sale_lines l on m.cause_type = 'sale_line' and m.cause_id = l.id::text
                left join sales s on s.id = l.sale_id and s.id = any(${ids(src.sales)})
                left join refund_lines rl on m.cause_type = 'refund_line' and m.cause_id = rl.id::text
                left join refunds r on r.id = rl.refund_id and r.id = any(${ids(src.refunds)})
               where m.merchant_id = ${merchantId} and ((m.kind = 'sale' and s.id is not null) or (m.kind = 'return' and r.id is not null)) order by m.id`
      break
    case 'stock_write_off':
      // The written-off returned items, each at its sale line's cost: a loss debited, the cost of sales credited.
      posted = true
      q = sql`select 'refund_line' as type, rl.id::text, r.refund_no as ref,
                     (${line.accountKey === 'cogs' ? sql`-1` : sql`1`} * round(rl.quantity::numeric * l.unit_cost / l.price_per))::bigint as amount,
                     jsonb_build_object('refundId', r.id, 'saleId', r.sale_id, 'sku', l.sku, 'quantity', rl.quantity, 'unitCost', l.unit_cost) as detail
                from refund_lines rl join refunds r on r.id = rl.refund_id join sale_lines l on l.id = rl.sale_line_id
               where r.id = any(${ids(src.refunds)}) and not rl.restock order by r.refund_no, rl.id`
      break
    default:
      q = null
  }
  if (!q) return null
  const { rows } = await tx.execute<Row>(limit === null ? q : sql`select * from (${q}) x limit ${limit}`)
  return { rows, posted }
}
