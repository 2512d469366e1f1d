// The payment channels' side of the demo week: what WeChat Pay, Alipay and Stripe saw of the tills' payments and
// refunds, published as each channel's bill of the day in its sandbox, with three mistakes planted so that the
// reconciliation dashboard has something to explain: a payment WeChat never settled (missing in the channel), an
// Alipay payment settled ¥1.00 short (an amount difference) and a WeChat fee above the contract (a fee difference).
// The channel learns of a payment by being paid, which the hub has no API for; its bills are written from the
// hub's own tender tables, which is what the tills sent.
import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Hub } from '../runtime.ts'
import type { Sandboxes } from '../sandboxes/index.ts'
import { SANDBOX } from '../sandboxes/index.ts'
import { alipayBillZip, type AlipayBillRow } from '../sandboxes/vendors/alipay.ts'
import type { WechatBillRow } from '../sandboxes/vendors/wechatpay.ts'
import { mulDivRound } from '../lib/money.ts'

export interface ChannelTxn {
  kind: 'payment' | 'refund'
  tender: string
  /** Our payment_no (payments) or refund_no (refunds). */
  ref: string
  /** A refund's payment_no. */
  paymentRef: string | null
  amount: number
  at: Date
  day: string
  store: string
}

/** What the planted exceptions are, to say so when the demo is ready. */
export interface PlantedExceptions {
  missing?: { day: string; ref: string }
  amountDiff?: { day: string; ref: string }
  feeDiff?: { day: string; ref: string }
}

/** The tills' electronic payments and refunds of the tender kinds, from `from` to `to` (business dates). */
export async function channelTxns(hub: Hub, merchantId: string, kinds: string[], from: string, to: string): Promise<ChannelTxn[]> {
  const k = sql.param(kinds)
  const r = await hub.database.db.execute<{ kind: 'payment' | 'refund'; tender: string; ref: string; payment_ref: string | null; amount: string; at: Date | string; day: string; store: string }>(sql`
    select 'payment' as kind, t.kind as tender, t.payment_no as ref, null::text as payment_ref, t.amount, s.occurred_at as at, s.business_date::text as day, st.code as store
      from sale_tenders t join sales s on s.id = t.sale_id join stores st on st.id = s.store_id
     where t.merchant_id = ${merchantId} and t.kind = any(${k}::text[]) and t.payment_no is not null and t.status = 'captured' and s.status = 'completed'
       and s.business_date between ${from}::date and ${to}::date
    union all
    select 'refund', rt.kind, rt.refund_no, pt.payment_no, rt.amount, r.occurred_at, r.business_date::text, st.code
      from refund_tenders rt join refunds r on r.id = rt.refund_id join stores st on st.id = r.store_id left join sale_tenders pt on pt.id = rt.sale_tender_id
     where rt.merchant_id = ${merchantId} and rt.kind = any(${k}::text[]) and rt.refund_no is not null and r.kind = 'refund'
       and r.business_date between ${from}::date and ${to}::date
    union all
    select 'payment', tt.kind, tt.payment_no, null, tt.amount, tp.occurred_at, tp.business_date::text, st.code
      from topup_tenders tt join stored_value_topups tp on tp.id = tt.topup_id join stores st on st.id = tp.store_id
     where tt.merchant_id = ${merchantId} and tt.kind = any(${k}::text[]) and tt.payment_no is not null
       and tp.business_date between ${from}::date and ${to}::date
     order by at, ref`)
  return r.rows.map((x) => ({ kind: x.kind, tender: x.tender, ref: x.ref, paymentRef: x.payment_ref, amount: Number(x.amount), at: new Date(x.at), day: x.day, store: x.store }))
}

const beijing = (at: Date) => new Date(at.getTime() + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
/** A channel's own transaction number for one of ours: digits, the same on every run. */
const numberFor = (prefix: string, ref: string, length: number) => `${prefix}${BigInt(`0x${createHash('sha256').update(ref).digest('hex')}`).toString().slice(0, length - prefix.length)}`

/**
 * Publishes every day's bill in the WeChat Pay, Alipay and Stripe sandboxes. The same data gives the same bills, so
 * running the demo again republishes what the channels said before.
 */
export async function publishBills(hub: Hub, sandboxes: Sandboxes, merchantId: string, dates: string[]): Promise<PlantedExceptions> {
  if (dates.length === 0) return {}
  const from = dates[0]!
  const to = dates[dates.length - 1]!
  const planted: PlantedExceptions = {}
  // The missing payment goes on the oldest day, so that later days have carried it past the channel's grace period
  // and it shows as missing, not as "timing"; the two differences on a day in the middle of the week.
  const diffDay = dates[Math.max(0, dates.length - 3)]!

  const wechat = await channelTxns(hub, merchantId, ['wechat'], from, to)
  const wechatFee = (amount: number) => mulDivRound(amount, SANDBOX.wechatPay.feeRateBp, 10)
  for (const day of dates) {
    const txns = wechat.filter((t) => t.day === day)
    const rows: WechatBillRow[] = []
    const payments = txns.filter((t) => t.kind === 'payment')
    for (const t of txns) {
      if (t.kind === 'payment') {
        if (day === from && t === payments[0] && !planted.missing) {
          planted.missing = { day, ref: t.ref }
          continue
        }
        const overcharged = day === diffDay && t === payments[1]
        if (overcharged) planted.feeDiff = { day, ref: t.ref }
        rows.push({ kind: 'payment', at: t.at, outTradeNo: t.ref, amount: t.amount, transactionId: numberFor('4200002026', t.ref, 28), feeMilli: overcharged ? wechatFee(t.amount) + 50_000 : undefined })
      } else if (t.paymentRef) {
        rows.push({ kind: 'refund', at: t.at, outTradeNo: t.paymentRef, outRefundNo: t.ref, amount: t.amount, transactionId: numberFor('4200002026', t.paymentRef, 28), refundId: numberFor('50300', t.ref, 29) })
      }
    }
    sandboxes.vendors.wechatpay.state.days.set(day, { rows })
  }

  const alipay = await channelTxns(hub, merchantId, ['alipay'], from, to)
  const tradeNo = (ref: string) => numberFor('2026', ref, 28)
  const alipayFee = (amount: number) => mulDivRound(amount, SANDBOX.alipay.feeRateBp, 10_000)
  for (const day of dates) {
    const txns = alipay.filter((t) => t.day === day)
    const payments = txns.filter((t) => t.kind === 'payment')
    const rows: AlipayBillRow[] = txns.flatMap((t): AlipayBillRow[] => {
      if (t.kind === 'payment') {
        const short = day === diffDay && t === payments[0]
        if (short) planted.amountDiff = { day, ref: t.ref }
        const amount = short ? t.amount - 100 : t.amount
        return [{ type: 'payment', tradeNo: tradeNo(t.ref), outTradeNo: t.ref, amount, fee: alipayFee(amount), completedAt: beijing(t.at), storeId: t.store, subject: '门店消费' }]
      }
      if (!t.paymentRef) return []
      return [{ type: 'refund', tradeNo: tradeNo(t.paymentRef), outTradeNo: t.paymentRef, amount: t.amount, fee: alipayFee(t.amount), refundRequestNo: t.ref, completedAt: beijing(t.at), storeId: t.store }]
    })
    if (rows.length) sandboxes.vendors.alipay.publish(day, alipayBillZip({ pid: SANDBOX.alipay.pid, date: day, rows }))
  }

  // Card payments went through Stripe: a balance transaction per charge and refund, our numbers in the metadata.
  const stripe = sandboxes.vendors.stripe
  const charges = new Map<string, ReturnType<typeof stripe.addCharge>['charge']>()
  for (const t of await channelTxns(hub, merchantId, ['card'], from, to)) {
    if (t.kind === 'payment') {
      charges.set(t.ref, stripe.addCharge({ amount: t.amount, fee: mulDivRound(t.amount, 340, 10_000), created: t.at, currency: 'cny', metadata: { payment_no: t.ref } }).charge)
    } else {
      const charge = t.paymentRef ? charges.get(t.paymentRef) : undefined
      if (charge) stripe.addRefund({ charge, amount: t.amount, created: t.at, metadata: { refund_no: t.ref } })
    }
  }
  return planted
}
