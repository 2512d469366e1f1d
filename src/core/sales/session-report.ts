// X report (mid-shift, session open) and Z report (at close) of a cash session: sales, refunds, voids and
// discounts, totals by tender, and the cash drawer's ledger with expected, counted and over/short.
import { sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { getSession } from './cash-sessions.ts'
import { labelledDiscounts } from './discount-labels.ts'

export interface SessionReport {
  type: 'X' | 'Z'
  session: { id: string; registerId: string; storeId: string; businessDate: string; status: 'open' | 'closed'; rescue: boolean; openedAt: string; closedAt: string | null }
  /** tenderDifference: what offline tills took beyond the amount due (negative: short); Σ tenders net = net + it. */
  sales: { count: number; gross: number; discounts: number; tax: number; total: number; rounding: number; amountDue: number; tenderDifference: number }
  voids: { count: number; total: number }
  refunds: { count: number; total: number; tax: number }
  /** Net takings: completed sales' amount due minus refunds. */
  net: number
  tenders: { kind: string; sales: number; refunds: number; net: number }[]
  discounts: { source: string; label: string; amount: number }[]
  cash: { openingFloat: number; sales: number; refunds: number; voids: number; paidIn: number; paidOut: number; topUps: number; topUpRefunds: number; expected: number; counted: number | null; overShort: number | null }
}

const n = (v: unknown) => Number(v ?? 0)

export async function sessionReport(tx: Tx, merchantId: string, sessionId: string): Promise<SessionReport> {
  const s = await getSession(tx, merchantId, sessionId)
  const [salesRow] = (
    await tx.execute(sql`
      select count(*) filter (where status = 'completed') as count,
             coalesce(sum(gross_total) filter (where status = 'completed'), 0) as gross,
             coalesce(sum(discount_total) filter (where status = 'completed'), 0) as discounts,
             coalesce(sum(tax_total) filter (where status = 'completed'), 0) as tax,
             coalesce(sum(total) filter (where status = 'completed'), 0) as total,
             coalesce(sum(rounding_adjustment) filter (where status = 'completed'), 0) as rounding,
             coalesce(sum(tender_difference) filter (where status = 'completed'), 0) as tender_difference,
             count(*) filter (where status = 'voided') as voids,
             coalesce(sum(total + rounding_adjustment + tender_difference) filter (where status = 'voided'), 0) as void_total
        from sales where merchant_id = ${merchantId} and session_id = ${sessionId}`)
  ).rows as Record<string, unknown>[]
  const [refundRow] = (
    await tx.execute(sql`
      select count(*) as count, coalesce(sum(total), 0) as total, coalesce(sum(tax_total), 0) as tax
        from refunds where merchant_id = ${merchantId} and session_id = ${sessionId} and kind = 'refund'`)
  ).rows as Record<string, unknown>[]
  const tenderRows = (
    await tx.execute(sql`
      with s as (
        select t.kind, sum(t.amount) as amount from sale_tenders t join sales x on x.id = t.sale_id
         where x.merchant_id = ${merchantId} and x.session_id = ${sessionId} and x.status = 'completed' group by t.kind
      ), r as (
        select t.kind, sum(t.amount) as amount from refund_tenders t join refunds x on x.id = t.refund_id
         where x.merchant_id = ${merchantId} and x.session_id = ${sessionId} and x.kind = 'refund' group by t.kind
      )
      select coalesce(s.kind, r.kind) as kind, coalesce(s.amount, 0) as sales, coalesce(r.amount, 0) as refunds
        from s full join r on r.kind = s.kind order by 1`)
  ).rows as Record<string, unknown>[]
  const discountRows = (
    await tx.execute(sql`
      select source, label, sum(amount) as amount
        from (${labelledDiscounts(merchantId, sql`s.merchant_id = ${merchantId} and s.session_id = ${sessionId}`)}) x
       group by source, source_id, label order by 3 desc, 1, 2`)
  ).rows as Record<string, unknown>[]
  const cashRows = (
    await tx.execute(sql`select kind, coalesce(sum(amount), 0) as amount from cash_movements where session_id = ${sessionId} group by kind`)
  ).rows as { kind: string; amount: unknown }[]
  const cash = (k: string) => n(cashRows.find((r) => r.kind === k)?.amount)
  const expected = cashRows.reduce((a, r) => a + n(r.amount), 0)
  const amountDue = n(salesRow!.total) + n(salesRow!.rounding)
  return {
    type: s.status === 'open' ? 'X' : 'Z',
    session: {
      id: s.id,
      registerId: s.registerId,
      storeId: s.storeId,
      businessDate: s.businessDate,
      status: s.status,
      rescue: s.rescue,
      openedAt: s.openedAt.toISOString(),
      closedAt: s.closedAt?.toISOString() ?? null,
    },
    sales: { count: n(salesRow!.count), gross: n(salesRow!.gross), discounts: n(salesRow!.discounts), tax: n(salesRow!.tax), total: n(salesRow!.total), rounding: n(salesRow!.rounding), amountDue, tenderDifference: n(salesRow!.tender_difference) },
    voids: { count: n(salesRow!.voids), total: n(salesRow!.void_total) },
    refunds: { count: n(refundRow!.count), total: n(refundRow!.total), tax: n(refundRow!.tax) },
    net: amountDue - n(refundRow!.total),
    tenders: tenderRows.map((r) => ({ kind: String(r.kind), sales: n(r.sales), refunds: n(r.refunds), net: n(r.sales) - n(r.refunds) })),
    discounts: discountRows.map((r) => ({ source: String(r.source), label: String(r.label), amount: n(r.amount) })),
    cash: {
      openingFloat: cash('float'),
      sales: cash('sale'),
      refunds: -cash('refund'),
      voids: -cash('void'),
      paidIn: cash('paid_in'),
      paidOut: -cash('paid_out'),
      topUps: cash('topup'),
      topUpRefunds: -cash('topup_refund'),
      expected: s.status === 'closed' ? s.expectedCash! : expected,
      counted: s.countedCash,
      overShort: s.overShort,
    },
  }
}
