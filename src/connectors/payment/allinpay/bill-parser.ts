// The Allinpay (通联) POS card-acquiring bill (https://prodoc.allinpay.com/doc/1403): one comma-separated record per
// card transaction, 34 columns, amounts in yuan with 2 decimals, the date and the time in separate columns, and the
// slip's 批次号/凭证号/参考号 with the 终端号 as the keys back to the till. Columns are found by header name; a file
// without a header line is read in the documented column order.
import type { ControlTotals, LineKind, ParsedStatement, StatementLine } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import type { StatementContent } from '../../../core/reconciliation/file.ts'
import { csvRows, instantIn, parseScaled, validWallClock, type Row, type TextEncoding } from '../tabular.ts'

/** The documented columns, in the documented order. */
export const ALLINPAY_COLUMNS = [
  '商户号',
  '门店名称',
  '终端号',
  '交易时间',
  '交易类型',
  '交易批次号',
  '凭证号',
  '参考号',
  '卡号',
  '卡类别',
  '发卡行机构代码',
  '发卡行名称',
  '交易金额',
  '手续费',
  '交易日期',
  '交易单号',
  '订单号',
  '商户备注',
  '对接应用号',
  '原始金额',
  '结算金额',
  '产品类型',
  '分期贴息',
  '交易完成时间',
  '持卡人姓名',
  '持卡人身份证',
  '分期数',
  '优惠金额',
  '实付金额',
  '原交易单',
  '渠道交易类型',
  '出金方账户名称',
  '门店编号',
  '交易完成日期',
] as const

/** Without these a line cannot be matched or dated. */
const REQUIRED = ['终端号', '交易时间', '交易类型', '交易批次号', '凭证号', '参考号', '交易金额', '手续费', '交易日期', '交易单号'] as const

/** Header text as printed ("交易金额(元)", "交易时间（HH:mm:ss）", " 参考号\t") down to the documented name. */
export const normaliseAllinpayHeader = (h: string) =>
  h
    .replace(/^\ufeff/, '')
    .replace(/[\s\u3000]+/g, '')
    .replace(/[（(][^）)]*[）)]$/, '')
    .replace(/^批次号$/, '交易批次号')

export interface AllinpayParseOptions {
  currency: string
  timeZone: string
  encoding: TextEncoding
  /** When set, every line must belong to this 商户号. */
  merchantNo?: string
}

/**
 * 交易类型 to a line kind and status. The values are not published; the words acquirers print are recognised, and an
 * unknown type falls back to the amount's sign, which the acquirer prints negative on returns and voids.
 */
export function classifyAllinpayType(type: string, signedAmount: number): { kind: LineKind; status: string } | null {
  const t = type.replace(/\s+/g, '')
  if (/撤销|冲正|撤消/.test(t)) return { kind: 'refund', status: 'REVOKED' }
  if (/退货|退款/.test(t)) return { kind: 'refund', status: 'REFUND' }
  if (/消费|完成|支付|收款|付款|扫码/.test(t)) return { kind: 'payment', status: 'SUCCESS' }
  if (/^预授权$/.test(t)) return null
  if (signedAmount < 0) return { kind: 'refund', status: 'REFUND' }
  return { kind: 'payment', status: 'SUCCESS' }
}

const DATE = /^(\d{4})[-/]?(\d{1,2})[-/]?(\d{1,2})$/
const TIME = /^(\d{1,2}):?(\d{2}):?(\d{2})$/

function occurredAt(date: string, time: string, timeZone: string, lineNo: number): Date {
  const d = DATE.exec(date)
  const t = TIME.exec(time)
  if (!d) throw new StatementFormatError(`交易日期 "${date}" is not a date (yyyy-mm-dd)`, lineNo)
  if (!t) throw new StatementFormatError(`交易时间 "${time}" is not a time (HH:mm:ss)`, lineNo)
  const w = { year: +d[1]!, month: +d[2]!, day: +d[3]!, hour: +t[1]!, minute: +t[2]!, second: +t[3]! }
  if (!validWallClock(w)) throw new StatementFormatError(`交易日期/交易时间 "${date} ${time}" is not a valid time`, lineNo)
  return instantIn(w, timeZone)
}

function yuan(text: string, column: string, lineNo: number, scale: number): number {
  const v = parseScaled(text, scale)
  if (v === null) throw new StatementFormatError(`${column} "${text}" is not an amount in yuan with at most 2 decimals`, lineNo)
  return v
}

const isFooter = (cells: string[]) => cells.every((c) => c === '') || /^(#|合计|总计|汇总)/.test(cells[0] ?? '')

export function parseAllinpayBill(content: StatementContent, opts: AllinpayParseOptions): ParsedStatement {
  async function* lines(): AsyncGenerator<StatementLine> {
    let header: string[] | null = null
    let index: Map<string, number> | null = null
    const rows = csvRows(content, { encoding: opts.encoding })
    for await (const row of rows as AsyncIterable<Row & { cells: string[] }>) {
      const cells = row.cells
      if (isFooter(cells)) continue
      if (!index) {
        const names = cells.map(normaliseAllinpayHeader)
        if (names.includes('商户号') || names.includes('交易金额') || names.includes('参考号')) {
          header = names
          index = new Map(names.map((n, i) => [n, i] as const).filter(([n]) => n !== '').reverse())
          const missing = REQUIRED.filter((c) => !index!.has(c))
          if (missing.length) throw new StatementFormatError(`the Allinpay bill has no column ${missing.map((m) => `"${m}"`).join(', ')} (its header: ${cells.join(', ')})`, row.lineNo)
          continue
        }
        if (cells.length !== ALLINPAY_COLUMNS.length) {
          throw new StatementFormatError(`neither a header line nor a ${ALLINPAY_COLUMNS.length}-field Allinpay record (${cells.length} fields)`, row.lineNo)
        }
        header = [...ALLINPAY_COLUMNS]
        index = new Map(ALLINPAY_COLUMNS.map((n, i) => [n, i] as const))
      }
      yield toLine(row.lineNo, cells, header!, index, opts)
    }
    if (!index) throw new StatementFormatError('the Allinpay bill holds no header and no record')
  }
  return { lines: lines(), controlTotals: (): ControlTotals | null => null }
}

function toLine(lineNo: number, cells: string[], header: string[], index: Map<string, number>, opts: AllinpayParseOptions): StatementLine {
  // A trailing comma gives one more, empty, field; anything else means the columns have shifted.
  const width = header.length
  if (cells.length !== width && !(cells.length > width && cells.slice(width).every((c) => c === ''))) {
    throw new StatementFormatError(`expected ${width} fields as in the header, found ${cells.length}`, lineNo)
  }
  const get = (name: string) => {
    const i = index.get(name)
    return i === undefined ? '' : (cells[i] ?? '')
  }
  const opt = (name: string) => get(name) || null

  if (opts.merchantNo && index.has('商户号') && get('商户号') !== opts.merchantNo) {
    throw new StatementFormatError(`商户号 ${get('商户号')} is not this connection's merchant number ${opts.merchantNo}`, lineNo)
  }
  const signed = yuan(get('交易金额'), '交易金额', lineNo, 2)
  const fee = parseScaled(get('手续费') || '0', 2)
  if (fee === null) throw new StatementFormatError(`手续费 "${get('手续费')}" is not an amount in yuan with at most 2 decimals`, lineNo)
  const type = get('交易类型')
  const cls = classifyAllinpayType(type, signed)
  if (!cls) throw new StatementFormatError(`交易类型 "${type}" (a pre-authorisation) moves no money and does not belong in a settlement bill`, lineNo)
  if (cls.kind === 'payment' && signed < 0) throw new StatementFormatError(`a ${type} line with a negative 交易金额 ${get('交易金额')}`, lineNo)

  const orderNo = opt('订单号')
  const txnNo = opt('交易单号')
  const refund = cls.kind === 'refund'
  return {
    lineNo,
    kind: cls.kind,
    ourRef: refund ? null : orderNo,
    ourPaymentRef: refund ? orderNo : null,
    channelTxnId: refund ? opt('原交易单') : txnNo,
    channelRefundId: refund ? txnNo : null,
    currency: opts.currency,
    amount: Math.abs(signed),
    // The fee as charged: positive on a sale, negative when a return gives part of it back. A return printed with a
    // positive amount is read as giving its fee back too.
    feeMilli: (refund && signed > 0 ? -Math.abs(fee) : fee) * 1000 || 0,
    status: cls.status,
    occurredAt: occurredAt(get('交易日期'), get('交易时间'), opts.timeZone, lineNo),
    storeRef: opt('门店编号'),
    terminalRef: opt('终端号'),
    rrn: opt('参考号'),
    voucherNo: opt('凭证号'),
  }
}
