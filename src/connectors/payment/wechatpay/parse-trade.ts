// The WeChat Pay trade bill (交易账单, format 'wechat_trade'): ALL, SUCCESS and REFUND variants, current and legacy
// column names, read as a stream and mapped by header name. A payment row becomes a 'payment' line, a refund row
// (交易状态 REFUND, or any row of a REFUND bill) its own 'refund' line; REVOKED payments stay, with their status.
// Layout and quirks: shared/reference/reconciliation.md §1.1.3.
import type { StatementContent } from '../../../core/reconciliation/file.ts'
import { StatementFormatError, type ControlTotals, type ParsedStatement, type StatementLine } from '../../../core/reconciliation/types.ts'
import { parseBill, columnOf, idOrNull, parseCount, parseCstTime, parseYuan } from './bill-text.ts'

/** Header names across the bill's history, first the current one (the reference calls this header drift). */
const COLUMNS = {
  time: ['交易时间'],
  status: ['交易状态'],
  ourRef: ['商户订单号'],
  txnId: ['微信订单号', '微信支付订单号'],
  amount: ['应结订单金额', '总金额'],
  fee: ['手续费'],
  currency: ['货币种类'],
  device: ['设备号'],
  mchId: ['商户号'],
  subMchId: ['特约商户号', '子商户号'],
  refundId: ['微信退款单号'],
  ourRefundRef: ['商户退款单号'],
  refundAmount: ['退款金额'],
  refundStatus: ['退款状态'],
  refundAppliedAt: ['退款申请时间'],
} as const

const SUMMARY = {
  count: ['总交易单数'],
  paymentAmount: ['应结订单总金额', '总交易额'],
  refundAmount: ['退款总金额', '总退款金额'],
  fee: ['手续费总金额'],
} as const

export type TradeBillVariant = 'ALL' | 'SUCCESS' | 'REFUND'

type Layout = { [K in keyof typeof COLUMNS]: number } & { names: string[]; variant: TradeBillVariant }

function layoutOf(names: string[], lineNo: number): Layout {
  const at = Object.fromEntries(Object.entries(COLUMNS).map(([k, alts]) => [k, columnOf(names, ...alts)])) as { [K in keyof typeof COLUMNS]: number }
  const required: (keyof typeof COLUMNS)[] = ['time', 'status', 'ourRef', 'txnId', 'amount', 'fee']
  const variant: TradeBillVariant = at.refundAppliedAt >= 0 ? 'REFUND' : at.ourRefundRef >= 0 ? 'ALL' : 'SUCCESS'
  if (variant !== 'SUCCESS') required.push('ourRefundRef', 'refundAmount')
  const missing = required.filter((k) => at[k] < 0)
  if (missing.length) {
    throw new StatementFormatError(`not a WeChat Pay trade bill layout: the header has no ${missing.map((k) => COLUMNS[k].join('/')).join(', ')}`, lineNo)
  }
  return { ...at, names, variant }
}

/** One row as a line; payments and refunds are built with the same fields in the same order (one object shape). */
function rowToLine(f: string[], lineNo: number, l: Layout): StatementLine {
  const tradeStatus = f[l.status]!
  const isRefund = l.variant === 'REFUND' || tradeStatus === 'REFUND'
  const feeMilli = parseYuan(f[l.fee]!, 5, l.names[l.fee]!, lineNo)
  const currency = (l.currency >= 0 && f[l.currency]) || 'CNY'
  const terminalRef = l.device >= 0 ? idOrNull(f[l.device]) : null
  if (isRefund) {
    const ourRef = idOrNull(f[l.ourRefundRef])
    if (!ourRef) throw new StatementFormatError(`a refund row has no ${l.names[l.ourRefundRef]}`, lineNo)
    // Refunds are printed positive; a sign, where an export adds one, says nothing the kind does not.
    const amount = Math.abs(parseYuan(f[l.refundAmount]!, 2, l.names[l.refundAmount]!, lineNo))
    const appliedAt = l.refundAppliedAt >= 0 && f[l.refundAppliedAt] ? l.refundAppliedAt : l.time
    return {
      lineNo,
      kind: 'refund',
      ourRef,
      ourPaymentRef: idOrNull(f[l.ourRef]),
      channelTxnId: idOrNull(f[l.txnId]),
      channelRefundId: l.refundId >= 0 ? idOrNull(f[l.refundId]) : null,
      currency,
      amount,
      feeMilli,
      // The refund's own state (SUCCESS, PROCESSING: a snapshot taken when the bill was made).
      status: (l.refundStatus >= 0 && f[l.refundStatus]) || tradeStatus,
      occurredAt: parseCstTime(f[appliedAt]!, l.names[appliedAt]!, lineNo),
      terminalRef,
    }
  }
  const amount = parseYuan(f[l.amount]!, 2, l.names[l.amount]!, lineNo)
  if (amount < 0) throw new StatementFormatError(`${l.names[l.amount]} "${f[l.amount]}" is negative on a payment row`, lineNo)
  const ourRef = idOrNull(f[l.ourRef])
  if (!ourRef) throw new StatementFormatError(`a payment row has no ${l.names[l.ourRef]}`, lineNo)
  return {
    lineNo,
    kind: 'payment',
    ourRef,
    ourPaymentRef: null,
    channelTxnId: idOrNull(f[l.txnId]),
    channelRefundId: null,
    currency,
    amount,
    feeMilli,
    status: tradeStatus,
    occurredAt: parseCstTime(f[l.time]!, l.names[l.time]!, lineNo),
    terminalRef,
  }
}

function summaryTotals(names: string[], f: string[], lineNo: number): ControlTotals {
  if (f.length !== names.length) throw new StatementFormatError(`the summary row has ${f.length} values for ${names.length} columns`, lineNo)
  const value = (alts: readonly string[]) => {
    const i = columnOf(names, ...alts)
    return i < 0 ? undefined : { name: names[i]!, text: f[i]! }
  }
  const totals: ControlTotals = {}
  const count = value(SUMMARY.count)
  if (count) totals.count = parseCount(count.text, count.name, lineNo)
  const pay = value(SUMMARY.paymentAmount)
  if (pay) totals.paymentAmount = parseYuan(pay.text, 2, pay.name, lineNo)
  const refund = value(SUMMARY.refundAmount)
  if (refund) totals.refundAmount = Math.abs(parseYuan(refund.text, 2, refund.name, lineNo))
  const fee = value(SUMMARY.fee)
  if (fee) totals.feeMilli = parseYuan(fee.text, 5, fee.name, lineNo)
  return totals
}

/** The merchant numbers a connection's bills are of: its own, and in service-provider mode its sub-merchant's. */
export interface WechatAccount {
  mchId: string
  subMchId?: string
}

/**
 * A row of another merchant number's bill (a file of another account uploaded by mistake) is refused: it would
 * replace the day's bill and reconcile the till against someone else's money. The merchant itself is 特约商户号 in
 * service-provider mode, else 商户号; a column the bill leaves out, or leaves empty, is not held against it.
 */
function checkAccount(f: string[], lineNo: number, l: Layout, account: WechatAccount): void {
  const [column, expected] = account.subMchId ? [l.subMchId, account.subMchId] : [l.mchId, account.mchId]
  const found = column >= 0 ? idOrNull(f[column]) : null
  if (found !== null && found !== expected) {
    throw new StatementFormatError(`the bill belongs to WeChat Pay merchant ${found} (${l.names[column]}), not to this connection's ${expected}`, lineNo)
  }
}

/**
 * Parses a trade bill, gzipped or not; lines stream out, the summary row's totals are known once they have. With
 * `account`, a row of another merchant number refuses the file.
 */
export function parseWechatTrade(content: StatementContent, account?: WechatAccount): ParsedStatement {
  return parseBill(content, {
    isSummaryHeader: (names) => columnOf(names, ...SUMMARY.count) >= 0,
    summaryName: '总交易单数',
    rowHint: ' (a value containing ",`"?)',
    layout: layoutOf,
    line: (f, lineNo, l) => {
      if (account) checkAccount(f, lineNo, l, account)
      return rowToLine(f, lineNo, l)
    },
    totals: summaryTotals,
  })
}
