// The WeChat Pay fund-flow bill (资金账单, format 'wechat_fundflow'): every change of the merchant account's balance,
// mapped by header name into movements. Trade income → 'payment', refund paid out → 'refund', fee deducted or
// returned → 'fee' (feeMilli positive when charged, negative when returned), withdrawal → 'payout', anything else
// (refund closed, coupons, profit sharing, transfers) → 'adjustment'. A movement's `status` is its direction:
// CREDIT (收入) or DEBIT (支出). Layout: shared/reference/reconciliation.md §1.1.4.
import type { StatementContent } from '../../../core/reconciliation/file.ts'
import { StatementFormatError, type ControlTotals, type LineKind, type ParsedStatement, type StatementLine } from '../../../core/reconciliation/types.ts'
import { parseBill, columnOf, idOrNull, parseCount, parseCstTime, parseYuan } from './bill-text.ts'

/** The summary of a fund-flow bill: the count of movements, and income and expense by count and fen. */
export interface WechatFundFlowTotals extends ControlTotals {
  creditCount?: number
  creditAmount?: number
  debitCount?: number
  debitAmount?: number
}

// Full-width parentheses appear in some exports of the same header: 收支金额（元）.
const normalise = (name: string) => name.replace(/（/g, '(').replace(/）/g, ')')

const COLUMNS = {
  time: ['记账时间'],
  channelId: ['微信支付业务单号'],
  ledgerId: ['资金流水单号'],
  businessName: ['业务名称'],
  businessType: ['业务类型'],
  direction: ['收支类型'],
  amount: ['收支金额(元)', '收支金额'],
  voucher: ['业务凭证号'],
} as const

type Layout = { [K in keyof typeof COLUMNS]: number } & { names: string[] }

function layoutOf(names: string[], lineNo: number): Layout {
  const at = Object.fromEntries(Object.entries(COLUMNS).map(([k, alts]) => [k, columnOf(names, ...alts)])) as { [K in keyof typeof COLUMNS]: number }
  const missing = (['time', 'channelId', 'businessType', 'direction', 'amount'] as const).filter((k) => at[k] < 0)
  if (missing.length) throw new StatementFormatError(`not a WeChat Pay fund-flow bill layout: the header has no ${missing.map((k) => COLUMNS[k][0]).join(', ')}`, lineNo)
  return { ...at, names }
}

function kindOf(businessName: string, businessType: string, credit: boolean): LineKind {
  if (businessType.includes('手续费')) return 'fee'
  if (businessType === '交易' && credit) return 'payment'
  if (businessType === '退款' && !credit) return 'refund'
  if (businessName.includes('提现') || businessType.includes('提现')) return 'payout'
  return 'adjustment'
}

function rowToLine(f: string[], lineNo: number, l: Layout): StatementLine {
  const direction = f[l.direction]!
  if (direction !== '收入' && direction !== '支出') throw new StatementFormatError(`收支类型 "${direction}" is neither 收入 nor 支出`, lineNo)
  const credit = direction === '收入'
  const signed = parseYuan(f[l.amount]!, 2, l.names[l.amount]!, lineNo)
  const amount = Math.abs(signed)
  const kind = kindOf(l.businessName >= 0 ? f[l.businessName]! : '', f[l.businessType]!, credit)
  const channelId = idOrNull(f[l.channelId])
  return {
    lineNo,
    kind,
    ourRef: l.voucher >= 0 ? idOrNull(f[l.voucher]) : null,
    channelTxnId: kind === 'refund' ? null : channelId,
    channelRefundId: kind === 'refund' ? channelId : null,
    currency: 'CNY',
    amount,
    // A fee deducted is a cost (positive); a fee given back on a refund is negative, as in the trade bill.
    feeMilli: kind === 'fee' ? (credit ? -amount : amount) * 1000 : 0,
    status: credit ? 'CREDIT' : 'DEBIT',
    occurredAt: parseCstTime(f[l.time]!, l.names[l.time]!, lineNo),
  }
}

function summaryTotals(names: string[], f: string[], lineNo: number): WechatFundFlowTotals {
  if (f.length !== names.length) throw new StatementFormatError(`the summary row has ${f.length} values for ${names.length} columns`, lineNo)
  const get = (name: string) => {
    const i = names.indexOf(name)
    return i < 0 ? undefined : f[i]!
  }
  const totals: WechatFundFlowTotals = {}
  const count = get('资金流水总笔数')
  if (count !== undefined) totals.count = parseCount(count, '资金流水总笔数', lineNo)
  const cc = get('收入笔数')
  if (cc !== undefined) totals.creditCount = parseCount(cc, '收入笔数', lineNo)
  const ca = get('收入金额')
  if (ca !== undefined) totals.creditAmount = parseYuan(ca, 2, '收入金额', lineNo)
  const dc = get('支出笔数')
  if (dc !== undefined) totals.debitCount = parseCount(dc, '支出笔数', lineNo)
  const da = get('支出金额')
  if (da !== undefined) totals.debitAmount = Math.abs(parseYuan(da, 2, '支出金额', lineNo))
  return totals
}

/** Parses a fund-flow bill, gzipped or not; movements stream out, the summary's totals are known once they have. */
export function parseWechatFundFlow(content: StatementContent): ParsedStatement & { controlTotals(): WechatFundFlowTotals } {
  return parseBill(content, {
    isSummaryHeader: (names) => names.includes('资金流水总笔数'),
    summaryName: '资金流水总笔数',
    layout: (names, lineNo) => layoutOf(names.map(normalise), lineNo),
    line: rowToLine,
    totals: summaryTotals,
  })
}
