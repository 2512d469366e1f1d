// Parser of Alipay's trade bill (业务明细, bill_type=trade): a zip holding `<PID>0156_<yyyyMMdd>_业务明细.csv` and
// `…_业务明细(汇总).csv`, GBK text framed by `#` lines (shared/reference/reconciliation.md §1.2). Streams the detail
// file into statement lines, mapping columns by header name, then proves the file whole against its own footer
// (`#交易合计`, `#退款合计`) and the 汇总 file before reporting the control totals.
//
// Terms used below:
// - printed: a value as the file prints it (refund rows are negative; the fee sign is the file's own convention);
// - receipt: 商家实收（元）, what the merchant receives for a row. A line's `amount` is its receipt, positive, because
//   that is the basis of the file's own totals (the footer sums 商家实收); 订单金额 stays in the stored file.
import { contentHead, type StatementContent } from '../../../core/reconciliation/file.ts'
import type { ControlTotals, ParsedStatement, StatementLine } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { cleanCell, isZip, openStatementZip, splitCsvLine, textLines, type TextLine } from '../bill-zip.ts'

export const ALIPAY_TRADE_FORMAT = 'alipay_trade'

/** The columns read, by the names Alipay prints (full-width parentheses). */
export const COLUMNS = {
  tradeNo: '支付宝交易号',
  outTradeNo: '商户订单号',
  type: '业务类型',
  createdAt: '创建时间',
  completedAt: '完成时间',
  storeId: '门店编号',
  terminalId: '终端号',
  orderAmount: '订单金额（元）',
  receipt: '商家实收（元）',
  refundRequestNo: '退款批次号/请求号',
  fee: '服务费（元）',
} as const
type ColumnIndex = { [K in keyof typeof COLUMNS]: number | undefined }
const REQUIRED = [COLUMNS.tradeNo, COLUMNS.outTradeNo, COLUMNS.type, COLUMNS.completedAt, COLUMNS.receipt, COLUMNS.fee]

const SUMMARY_COLUMNS = { payments: '交易订单总笔数', refunds: '退款订单总笔数', receipt: '商家实收（元）', fee: '服务费（元）' } as const

const DETAIL_SUFFIX = '_业务明细.csv'
const SUMMARY_MARK = /_业务明细[(（]汇总[)）]\.csv$/

/** Header names compared without blanks and with ASCII parentheses read as full-width ones (files re-saved by hand). */
const headerKey = (h: string) => cleanCell(h).replace(/\s+/g, '').replace(/\(/g, '（').replace(/\)/g, '）')

// ---- amounts and times ---------------------------------------------------------------------------------------

/** Sign flips of zero would give -0, which equals 0 but is stored and compared (Object.is, JSON) as another value. */
const signed = (sign: number, n: number): number => (n === 0 ? 0 : sign * n)

const AMOUNT = /^([+-])?(\d{1,13})(?:\.(\d{1,2}))?$/
const FEE = /^([+-])?(\d{1,12})(?:\.(\d{1,5}))?$/

/** Yuan text with at most 2 decimals into fen, exactly. */
export function yuanToFen(text: string): number | null {
  const m = AMOUNT.exec(text)
  if (!m) return null
  const fen = Number(m[2]) * 100 + Number((m[3] ?? '').padEnd(2, '0'))
  return signed(m[1] === '-' ? -1 : 1, fen)
}

/** Yuan text with at most 5 decimals into thousandths of a fen (the unit of feeMilli), exactly. */
export function yuanToMilli(text: string): number | null {
  const m = FEE.exec(text)
  if (!m) return null
  const milli = Number(m[2]) * 100_000 + Number((m[3] ?? '').padEnd(5, '0'))
  if (!Number.isSafeInteger(milli)) return null
  return signed(m[1] === '-' ? -1 : 1, milli)
}

const TIME = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/

/** `yyyy-MM-dd HH:mm:ss` in Beijing time (UTC+8 all year) as an instant. */
export function shanghaiTime(text: string): Date | null {
  const m = TIME.exec(text)
  if (!m) return null
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const utc = Date.UTC(y, mo - 1, d, h, mi, s)
  const back = new Date(utc)
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return null
  return new Date(utc - 8 * 3600_000)
}

// ---- footer ---------------------------------------------------------------------------------------------------

interface Footer {
  /** The line of the footer each total came from. */
  paymentLine?: number
  refundLine?: number
  paymentCount?: number
  paymentReceipt?: number
  refundCount?: number
  refundReceipt?: number
}

function footerAmount(text: string, label: string, lineNo: number): number | undefined {
  const m = new RegExp(`${label}\\s*([+-]?[\\d,]+(?:\\.\\d+)?)\\s*元`).exec(text)
  if (!m) return undefined
  const fen = yuanToFen(m[1]!.replace(/,/g, ''))
  if (fen === null) throw new StatementFormatError(`the footer amount "${m[1]}" after ${label} is not an amount in yuan`, lineNo)
  return fen
}

function readFooter(line: TextLine, footer: Footer): void {
  const trade = /交易合计[:：]\s*(\d+)\s*笔/.exec(line.text)
  if (trade) {
    footer.paymentCount = Number(trade[1])
    footer.paymentLine = line.lineNo
    footer.paymentReceipt = footerAmount(line.text, '商家实收共', line.lineNo)
    if (footer.paymentReceipt === undefined) throw new StatementFormatError('the #交易合计 line has no 商家实收共…元 total', line.lineNo)
  }
  const refund = /退款合计[:：]\s*(\d+)\s*笔/.exec(line.text)
  if (refund) {
    footer.refundCount = Number(refund[1])
    footer.refundLine = line.lineNo
    footer.refundReceipt = footerAmount(line.text, '商家实收退款共', line.lineNo)
    if (footer.refundReceipt === undefined) throw new StatementFormatError('the #退款合计 line has no 商家实收退款共…元 total', line.lineNo)
  }
}

const ACCOUNT = /^#\s*账号[:：]\s*\[?\s*(\d+)\s*\]?/

/** Alipay names the bill's account `<PID>0156`; a bare PID is accepted too. */
function checkAccount(account: string, pid: string | undefined, where: string, lineNo: number | null): void {
  if (pid && account !== pid && account !== `${pid}0156`) {
    throw new StatementFormatError(`${where} belongs to Alipay account ${account}, not to this connection's PID ${pid}`, lineNo)
  }
}

// ---- the 汇总 file --------------------------------------------------------------------------------------------

interface Summary {
  payments: number
  refunds: number
  /** Printed 商家实收 total. */
  receipt: number
  /** Printed 服务费 total, in thousandths of a fen. */
  feeMilli: number
}

/** Reads the per-store 汇总 file: its 合计 row when it has one, otherwise the sum of its store rows. */
async function readSummary(chunks: AsyncIterable<Buffer>, name: string): Promise<Summary> {
  let header: Map<string, number> | undefined
  let width = 0
  let grand: Summary | undefined
  const stores: Summary = { payments: 0, refunds: 0, receipt: 0, feeMilli: 0 }
  const fail = (message: string, lineNo: number) => new StatementFormatError(`${name}: ${message}`, lineNo)
  for await (const line of textLines(chunks)) {
    const text = line.text
    if (text.trim() === '' || text.startsWith('#')) continue
    const cells = splitCsvLine(text).map(cleanCell)
    if (!header) {
      header = new Map(cells.map((h, i) => [headerKey(h), i]))
      width = cells.length
      for (const col of Object.values(SUMMARY_COLUMNS)) if (!header.has(headerKey(col))) throw fail(`the header has no column ${col}`, line.lineNo)
      continue
    }
    if (cells.length !== width) throw fail(`the row has ${cells.length} cells, the header ${width}`, line.lineNo)
    const cell = (col: string) => cells[header!.get(headerKey(col))!] ?? ''
    const count = (col: string) => {
      const v = cell(col)
      if (!/^\d+$/.test(v)) throw fail(`${col} "${v}" is not a count`, line.lineNo)
      return Number(v)
    }
    const receipt = yuanToFen(cell(SUMMARY_COLUMNS.receipt))
    if (receipt === null) throw fail(`${SUMMARY_COLUMNS.receipt} "${cell(SUMMARY_COLUMNS.receipt)}" is not an amount in yuan`, line.lineNo)
    const feeMilli = yuanToMilli(cell(SUMMARY_COLUMNS.fee) || '0')
    if (feeMilli === null) throw fail(`${SUMMARY_COLUMNS.fee} "${cell(SUMMARY_COLUMNS.fee)}" is not an amount in yuan`, line.lineNo)
    const row: Summary = { payments: count(SUMMARY_COLUMNS.payments), refunds: count(SUMMARY_COLUMNS.refunds), receipt, feeMilli }
    if (/^(合计|总计)$/.test(cells[0] ?? '')) grand = row
    else {
      stores.payments += row.payments
      stores.refunds += row.refunds
      stores.receipt += row.receipt
      stores.feeMilli += row.feeMilli
    }
  }
  if (!header) throw new StatementFormatError(`${name}: the file has no header line`)
  return grand ?? stores
}

// ---- the bill -------------------------------------------------------------------------------------------------

interface Source {
  detail: AsyncIterable<Buffer> | Iterable<Buffer>
  detailName: string
  summary?: { chunks: AsyncIterable<Buffer>; name: string }
  close?: () => void
}

/**
 * The detail (and 汇总) text of a fetched zip, or of a bare 业务明细 CSV uploaded on its own. A zip on disk is read
 * there with random access, its entries streamed; one in memory from memory.
 */
async function openSource(content: StatementContent, pid: string | undefined): Promise<Source> {
  if (!isZip(await contentHead(content, 4))) return { detail: content.chunks(), detailName: '业务明细.csv' }
  const zip = await openStatementZip(content)
  try {
    const details = zip.entries.filter((e) => e.name.endsWith(DETAIL_SUFFIX))
    const summaries = zip.entries.filter((e) => SUMMARY_MARK.test(e.name))
    if (details.length !== 1) {
      throw new StatementFormatError(`the zip should hold one …${DETAIL_SUFFIX}, it holds ${details.length} (${zip.entries.map((e) => e.name).join(', ') || 'no files'})`)
    }
    for (const e of [...details, ...summaries]) {
      const account = /^(\d+)_/.exec(e.name)?.[1]
      if (account) checkAccount(account, pid, e.name, null)
    }
    const detail = details[0]!
    const summary = summaries[0]
    return {
      detail: zip.chunks(detail),
      detailName: detail.name,
      summary: summary ? { chunks: zip.chunks(summary), name: summary.name } : undefined,
      close: () => zip.close(),
    }
  } catch (e) {
    zip.close()
    throw e
  }
}

export interface AlipayTradeOptions {
  /** The connection's partner id (2088…): a bill of another account is refused. */
  pid?: string
}

/**
 * Streams the lines of an Alipay trade bill. Throws StatementFormatError (with the line) on a malformed amount or
 * time, an unknown 业务类型, a row that does not fit the header, a missing footer (a cut file), or totals that
 * disagree with the footer or the 汇总 file.
 *
 * Fees: the sign of 服务费 on payment rows is not documented (the reference marks it unverified), so the file's
 * convention is read from its first non-zero fee: a fee on a payment counts as charged (positive feeMilli), on a
 * refund as given back (negative). Every later row keeps its sign relative to that convention.
 */
export function parseAlipayTrade(content: StatementContent, opts: AlipayTradeOptions = {}): ParsedStatement {
  let totals: ControlTotals | null = null

  async function* lines(): AsyncGenerator<StatementLine> {
    const source = await openSource(content, opts.pid)
    try {
      yield* linesOf(source)
    } finally {
      source.close?.()
    }
  }

  async function* linesOf(source: Source): AsyncGenerator<StatementLine> {
    const summary = source.summary ? await readSummary(source.summary.chunks, source.summary.name) : undefined

    let header: string[] | undefined
    let at = {} as ColumnIndex
    let phase: 'preamble' | 'rows' | 'footer' = 'preamble'
    let lastLine = 0
    const footer: Footer = {}
    const sums = { payments: 0, refunds: 0, paymentReceipt: 0, refundReceipt: 0, printedFeeMilli: 0 }
    /** +1 when the file prints fees as costs (payment fees positive), −1 when it prints them as money in/out. */
    let feeSign: 1 | -1 | 0 = 0

    for await (const line of textLines(source.detail)) {
      lastLine = line.lineNo
      const text = line.text
      if (text.trim() === '') continue
      if (text.startsWith('#')) {
        if (phase === 'preamble') {
          const account = ACCOUNT.exec(text)?.[1]
          if (account) checkAccount(account, opts.pid, 'the bill', line.lineNo)
        } else {
          phase = 'footer'
          readFooter(line, footer)
        }
        continue
      }
      if (phase === 'footer') throw new StatementFormatError('a data row after the end of the list', line.lineNo)
      const cells = splitCsvLine(text)
      if (phase === 'preamble') {
        header = cells.map(cleanCell)
        const index = new Map(header.map((h, i) => [headerKey(h), i]))
        for (const col of REQUIRED) if (!index.has(headerKey(col))) throw new StatementFormatError(`the header has no column ${col}`, line.lineNo)
        at = Object.fromEntries(Object.entries(COLUMNS).map(([k, col]) => [k, index.get(headerKey(col))])) as ColumnIndex
        phase = 'rows'
        continue
      }

      const lineNo = line.lineNo
      if (cells.length !== header!.length) throw new StatementFormatError(`the row has ${cells.length} cells, the header ${header!.length}`, lineNo)
      for (let i = 0; i < cells.length; i++) cells[i] = cleanCell(cells[i]!)
      const cell = (i: number | undefined): string => (i === undefined ? '' : cells[i]!)
      const money = (i: number | undefined, col: string): number => {
        const v = cell(i)
        const fen = yuanToFen(v)
        if (fen === null) throw new StatementFormatError(`${col} "${v}" is not an amount in yuan`, lineNo)
        return fen
      }

      const type = cell(at.type)
      if (type !== '交易' && type !== '退款') throw new StatementFormatError(`业务类型 "${type}" is neither 交易 nor 退款`, lineNo)
      const refund = type === '退款'
      const receipt = money(at.receipt, COLUMNS.receipt)
      if (at.orderAmount !== undefined) money(at.orderAmount, COLUMNS.orderAmount)
      if (refund ? receipt > 0 : receipt < 0) throw new StatementFormatError(`a ${type} row with ${COLUMNS.receipt} ${cell(at.receipt)}: refunds are negative, payments are not`, lineNo)

      const feeText = cell(at.fee)
      const printedFee = feeText === '' ? 0 : yuanToMilli(feeText)
      if (printedFee === null) throw new StatementFormatError(`${COLUMNS.fee} "${feeText}" is not an amount in yuan`, lineNo)
      if (feeSign === 0 && printedFee !== 0) feeSign = (printedFee > 0) === !refund ? 1 : -1

      const timeText = cell(at.completedAt) || cell(at.createdAt)
      const occurredAt = shanghaiTime(timeText)
      if (!occurredAt) throw new StatementFormatError(`${COLUMNS.completedAt} "${timeText}" is not a yyyy-MM-dd HH:mm:ss time`, lineNo)

      const outTradeNo = cell(at.outTradeNo) || null
      if (refund) {
        sums.refunds++
        sums.refundReceipt += receipt
      } else {
        sums.payments++
        sums.paymentReceipt += receipt
      }
      sums.printedFeeMilli += printedFee

      yield {
        lineNo,
        kind: refund ? 'refund' : 'payment',
        // Alipay has no refund id of its own: a refund is known by the out_request_no the till sent.
        ourRef: refund ? cell(at.refundRequestNo) || null : outTradeNo,
        ourPaymentRef: refund ? outTradeNo : null,
        channelTxnId: cell(at.tradeNo) || null,
        channelRefundId: null,
        currency: 'CNY',
        amount: Math.abs(receipt),
        feeMilli: signed(feeSign || 1, printedFee),
        status: refund ? 'REFUND' : 'SUCCESS',
        occurredAt,
        storeRef: cell(at.storeId) || null,
        terminalRef: cell(at.terminalId) || null,
      }
    }

    if (!header) throw new StatementFormatError(`${source.detailName} has no header line`, lastLine || null)
    if (footer.paymentCount === undefined || footer.refundCount === undefined) {
      throw new StatementFormatError('the file ends without its #交易合计 and #退款合计 lines: it is incomplete', lastLine || null)
    }
    const mismatch = (what: string, file: number, rows: number, lineNo: number | undefined) => {
      if (file !== rows) throw new StatementFormatError(`the footer says ${what} ${file}, the rows add up to ${rows}`, lineNo ?? lastLine)
    }
    mismatch('交易合计 (count)', footer.paymentCount, sums.payments, footer.paymentLine)
    mismatch('交易合计 商家实收 (fen)', footer.paymentReceipt!, sums.paymentReceipt, footer.paymentLine)
    mismatch('退款合计 (count)', footer.refundCount, sums.refunds, footer.refundLine)
    mismatch('退款合计 商家实收退款 (fen)', footer.refundReceipt!, sums.refundReceipt, footer.refundLine)

    if (summary && source.summary) {
      const name = source.summary.name
      const cross = (what: string, file: number, detail: number, alsoOk?: number) => {
        if (file !== detail && file !== alsoOk) throw new StatementFormatError(`${name} says ${what} ${file}, ${source.detailName} adds up to ${detail}`)
      }
      cross('交易订单总笔数', summary.payments, sums.payments)
      cross('退款订单总笔数', summary.refunds, sums.refunds)
      // Whether the 汇总 商家实收 is net of refunds is not documented: net, or the payments alone, is accepted.
      cross('商家实收 (fen)', summary.receipt, sums.paymentReceipt + sums.refundReceipt, sums.paymentReceipt)
      cross('服务费 (thousandths of a fen)', summary.feeMilli, sums.printedFeeMilli)
    }

    totals = {
      count: footer.paymentCount + footer.refundCount,
      paymentCount: footer.paymentCount,
      refundCount: footer.refundCount,
      paymentAmount: footer.paymentReceipt!,
      // The footer prints refunds negative; lines carry refunds as positive amounts, and so do the totals.
      refundAmount: signed(-1, footer.refundReceipt!),
      ...(summary ? { feeMilli: signed(feeSign || 1, summary.feeMilli) } : {}),
    }
  }

  return { lines: lines(), controlTotals: () => totals }
}
