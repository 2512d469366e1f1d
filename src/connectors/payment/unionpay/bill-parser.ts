// The UnionPay online-gateway (全渠道) flow file, "INN…ZM" inside the daily settlement zip: one fixed-width record per
// transaction, fields in a set order and width with one space between them, amounts in fen, and a transmission time
// with no year. Widths are bytes: the file is GBK, and the free-text fields after 商户代码 may hold Chinese.
//
// Layout: UnionPay's file-interface spec as copied into lyonliyang/demo (com.unionpay.config.UnionField) and
// dromara/dax-pay (UnionPayCode.RECONCILE_BILL_SPLIT, which also reads the one-space separator). Not verified
// against a real file: the sign characters of the 13-wide amounts, and the meaning of 交易代码 S31 (see below).
import iconv from 'iconv-lite'
import type { ControlTotals, LineKind, ParsedStatement, StatementLine } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { contentHead, type StatementContent } from '../../../core/reconciliation/file.ts'
import { isZip, openStatementZip } from '../bill-zip.ts'
import { instantIn, validWallClock } from '../tabular.ts'

/** Every record holds these, in this order and width (bytes). */
const REQUIRED_FIELDS = [
  ['交易代码', 3],
  ['代理机构标识码', 11],
  ['发送机构标识码', 11],
  ['系统跟踪号', 6],
  ['交易传输时间', 10],
  ['账号', 19],
  ['交易金额', 12],
  ['商户类别', 4],
  ['终端类型', 2],
  ['查询流水号', 21],
  ['支付方式（旧）', 2],
  ['商户订单号', 32],
  ['支付卡类型', 2],
  ['原始交易的系统跟踪号', 6],
  ['原始交易日期时间', 10],
  ['商户手续费', 13],
  ['结算金额', 13],
  ['支付方式', 4],
  ['集团商户代码', 15],
  ['交易类型', 2],
  ['交易子类', 2],
  ['业务类型', 6],
  ['账号类型', 2],
  ['账单类型', 4],
  ['账单号码', 32],
  ['交互方式', 1],
  ['原交易查询流水号', 21],
  ['商户代码', 15],
] as const

/** Later versions of the file append these; a record may stop after any of them. What follows the last is reserved. */
const OPTIONAL_FIELDS = [
  ['分账入账方式', 1],
  ['二级商户代码', 15],
  ['二级商户简称', 32],
  ['二级商户分账入账金额', 13],
  ['清算净额', 13],
  ['终端号', 8],
  ['商户自定义域', 32],
  ['优惠金额', 13],
  ['发票金额', 13],
  ['分期付款附加手续费', 12],
  ['分期付款期数', 2],
  ['交易介质', 1],
] as const

export type UnionpayField = (typeof REQUIRED_FIELDS)[number][0] | (typeof OPTIONAL_FIELDS)[number][0]

interface Slot {
  name: UnionpayField
  start: number
  end: number
}

/** The layout with byte offsets: each field starts one separator after the previous one ends. */
export const UNIONPAY_INN_LAYOUT: readonly Slot[] = (() => {
  const slots: Slot[] = []
  let at = 0
  for (const [name, width] of [...REQUIRED_FIELDS, ...OPTIONAL_FIELDS]) {
    slots.push({ name, start: at, end: at + width })
    at += width + 1
  }
  return slots
})()

const SLOT = new Map(UNIONPAY_INN_LAYOUT.map((s) => [s.name, s]))
/** The shortest record: up to and including 商户代码. */
const REQUIRED_BYTES = UNIONPAY_INN_LAYOUT[REQUIRED_FIELDS.length - 1]!.end
const LAST_FIELD = UNIONPAY_INN_LAYOUT[UNIONPAY_INN_LAYOUT.length - 1]!

/**
 * 交易代码 to what the line is. S22 (消费) and S30 (退货) are read in dax-pay's UnionPay reconciliation
 * (UnionPayCode.RECONCILE_TYPE_PAY / _REFUND). S31 as 消费撤销 (a same-day cancellation, which takes the whole
 * payment back) follows the gateway's 交易类型 31 = 消费撤销 and the brief; it is not verified against UnionPay's
 * code table. A code not listed here is read by its 交易类型 instead ({@link BY_TXN_TYPE}).
 */
const BY_CODE: Record<string, { kind: LineKind; status: string }> = {
  S22: { kind: 'payment', status: 'SUCCESS' },
  S30: { kind: 'refund', status: 'REFUND' },
  S31: { kind: 'refund', status: 'REVOKED' },
}

/**
 * The gateway's 交易类型 (txnType of the 全渠道 API: 01 消费, 02 预授权, 03 预授权完成, 04 退货, 31 消费撤销,
 * 32 预授权撤销, 33 预授权完成撤销). null: a pre-authorisation or its cancellation, which moves no money.
 */
const BY_TXN_TYPE: Record<string, { kind: LineKind; status: string } | null> = {
  '01': { kind: 'payment', status: 'SUCCESS' },
  '03': { kind: 'payment', status: 'SUCCESS' },
  '04': { kind: 'refund', status: 'REFUND' },
  '31': { kind: 'refund', status: 'REVOKED' },
  '33': { kind: 'refund', status: 'REVOKED' },
  '02': null,
  '32': null,
}

export interface UnionpayParseOptions {
  currency: string
  timeZone: string
  /** When set, every record must belong to this 商户代码. */
  merId?: string
  /** The statement's business date (the settlement date, YYYY-MM-DD): the year the records' times lack comes from it. */
  businessDate?: string
}

const DAY_MS = 86_400_000
/** A record's MMDD is read in the year that puts it nearest the settlement date, and never half a year away. */
const MAX_DAYS_FROM_SETTLEMENT = 183

/**
 * The year of a record's MMDD: a transaction of 31 December in the file settled on 2 January is of the previous
 * year. The candidate nearest the settlement date wins; one more than half a year away is an impossible date.
 */
export function yearOfMonthDay(month: number, day: number, settle: { year: number; month: number; day: number }): number | null {
  const settledAt = Date.UTC(settle.year, settle.month - 1, settle.day)
  let best: { year: number; days: number } | null = null
  for (const year of [settle.year - 1, settle.year, settle.year + 1]) {
    if (!validWallClock({ year, month, day, hour: 0, minute: 0, second: 0 })) continue
    const days = Math.abs(Date.UTC(year, month - 1, day) - settledAt) / DAY_MS
    if (days <= MAX_DAYS_FROM_SETTLEMENT && (!best || days < best.days)) best = { year, days }
  }
  return best?.year ?? null
}

/** A field's text: ASCII as it is, anything else decoded as GBK (GB18030). Trailing space padding is dropped. */
function text(record: Buffer, slot: Slot): string {
  const bytes = record.subarray(slot.start, slot.end)
  const ascii = bytes.every((b) => b < 0x80)
  return (ascii ? bytes.toString('latin1') : iconv.decode(bytes, 'gb18030')).trim()
}

/**
 * A 13-wide signed amount: a sign character, then 12 digits of fen. Read as the field's own direction, since the spec
 * at hand gives widths, not signs: for 商户手续费, D (debit to the merchant) or + is a fee charged and C (credit) or -
 * a fee given back (a refund that returns its fee); for 结算金额, C or + is paid to the merchant and D or - taken from
 * it. Both pairs of characters are accepted because the spec copies do not say which one the file prints.
 */
function signedFen(record: Buffer, slot: Slot, positive: 'C' | 'D', lineNo: number): number {
  const value = record.subarray(slot.start, slot.end).toString('latin1')
  const m = /^([CD+-])(\d{12})$/.exec(value)
  if (!m) throw new StatementFormatError(`${slot.name} "${value}" is not a sign (C/D or +/-) and 12 digits of fen`, lineNo)
  const fen = Number(m[2])
  return m[1] === positive || m[1] === '+' ? fen : -fen
}

function unsignedFen(record: Buffer, slot: Slot, lineNo: number): number {
  const value = record.subarray(slot.start, slot.end).toString('latin1')
  if (!/^\d+$/.test(value)) throw new StatementFormatError(`${slot.name} "${value}" is not ${slot.end - slot.start} digits of fen`, lineNo)
  return Number(value)
}

const field = (name: UnionpayField) => SLOT.get(name)!

/** Checks the record's length and separators: each field where the layout puts it, the record ending after a whole one. */
function checkShape(record: Buffer, lineNo: number): void {
  if (record.length < REQUIRED_BYTES) {
    const cut = UNIONPAY_INN_LAYOUT.find((s) => s.end > record.length)!
    throw new StatementFormatError(`the record is ${record.length} bytes, shorter than the ${REQUIRED_BYTES} up to 商户代码: it ends inside ${cut.name}`, lineNo)
  }
  for (const s of UNIONPAY_INN_LAYOUT) {
    if (s.end > record.length) {
      // An optional field: the record may stop right after the previous one, never inside this one.
      if (record.length !== s.start - 1) throw new StatementFormatError(`the record is ${record.length} bytes: it ends inside ${s.name} (bytes ${s.start + 1}–${s.end})`, lineNo)
      return
    }
    if (s.start > 0 && record[s.start - 1] !== 0x20) {
      throw new StatementFormatError(`no space before ${s.name} at byte ${s.start}: the fields are not where the layout puts them`, lineNo)
    }
  }
  // Past 交易介质: reserved space, of whatever length this version of the file has, after one more separator.
  if (record.length > LAST_FIELD.end && record[LAST_FIELD.end] !== 0x20) {
    throw new StatementFormatError(`no space after ${LAST_FIELD.name} at byte ${LAST_FIELD.end + 1}: the fields are not where the layout puts them`, lineNo)
  }
}

/**
 * The flow file's bytes, chunk by chunk: the file itself, or the INN…ZM entry of the settlement zip the gateway
 * hands out (the zip holds other files of the day too; exactly one flow file is expected). The zip is read from disk
 * with random access, the entry streamed.
 */
async function* flowFileChunks(content: StatementContent): AsyncGenerator<Buffer> {
  if (!isZip(await contentHead(content, 4))) {
    for await (const chunk of content.chunks()) yield Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    return
  }
  const zip = await openStatementZip(content)
  try {
    const flows = zip.entries.filter((e) => /^INN/i.test(e.name))
    if (flows.length !== 1) {
      throw new StatementFormatError(`the settlement zip should hold one INN…ZM flow file, it holds ${flows.length} (${zip.entries.map((e) => e.name).join(', ') || 'no files'})`)
    }
    yield* zip.chunks(flows[0]!)
  } finally {
    zip.close()
  }
}

/** The file's records as byte lines (CR LF or LF), numbered from 1; blank lines are skipped. Reads chunk by chunk. */
async function* records(content: StatementContent): AsyncGenerator<{ lineNo: number; record: Buffer }> {
  let rest: Buffer = Buffer.alloc(0)
  let lineNo = 0
  const emit = (line: Buffer) => {
    lineNo++
    const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length
    const record = line.subarray(0, end)
    return record.every((b) => b === 0x20 || b === 0x09) ? null : { lineNo, record }
  }
  for await (const chunk of flowFileChunks(content)) {
    const data = rest.length > 0 ? Buffer.concat([rest, chunk]) : chunk
    let from = 0
    for (let nl = data.indexOf(0x0a, from); nl !== -1; nl = data.indexOf(0x0a, from)) {
      const r = emit(data.subarray(from, nl))
      if (r) yield r
      from = nl + 1
    }
    // Copied: a chunk of a file on disk may be a buffer that is read into again.
    rest = Buffer.from(data.subarray(from))
  }
  if (rest.length > 0) {
    const r = emit(rest)
    if (r) yield r
  }
}

function settlementDate(businessDate: string | undefined) {
  const m = businessDate ? /^(\d{4})-(\d{2})-(\d{2})$/.exec(businessDate) : null
  if (!m) throw new StatementFormatError('the UnionPay flow file dates its records MMDDhhmmss, without a year: it is read for a business date (the settlement date), and none was given')
  return { year: +m[1]!, month: +m[2]!, day: +m[3]! }
}

/**
 * Reads an INN flow file into statement lines. Its control totals are those of its records as read (count, sums of
 * 交易金额 by direction, 商户手续费): the file has no trailer of its own, so they cannot show a file cut at a record
 * boundary; a record cut anywhere else is refused by its length.
 */
export function parseUnionpayInn(content: StatementContent, opts: UnionpayParseOptions): ParsedStatement {
  const settle = settlementDate(opts.businessDate)
  const totals: Required<ControlTotals> = { count: 0, paymentCount: 0, refundCount: 0, paymentAmount: 0, refundAmount: 0, feeMilli: 0 }
  let done = false
  async function* lines(): AsyncGenerator<StatementLine> {
    for await (const { lineNo, record } of records(content)) {
      const line = toLine(record, lineNo, settle, opts)
      totals.count++
      if (line.kind === 'payment') {
        totals.paymentCount++
        totals.paymentAmount += line.amount
      } else {
        totals.refundCount++
        totals.refundAmount += line.amount
      }
      totals.feeMilli += line.feeMilli
      yield line
    }
    done = true
  }
  return {
    lines: lines(),
    controlTotals() {
      if (!done) throw new Error('the control totals are known once every record of the file has been read')
      return { ...totals }
    },
  }
}

function toLine(record: Buffer, lineNo: number, settle: { year: number; month: number; day: number }, opts: UnionpayParseOptions): StatementLine {
  checkShape(record, lineNo)
  const get = (name: UnionpayField) => text(record, field(name))
  const opt = (name: UnionpayField) => {
    const s = SLOT.get(name)!
    return s.end <= record.length ? get(name) || null : null
  }

  const merId = get('商户代码')
  if (opts.merId && merId !== opts.merId) throw new StatementFormatError(`商户代码 ${merId} is not this connection's merId ${opts.merId}`, lineNo)

  const code = get('交易代码')
  const txnType = get('交易类型')
  const cls = code in BY_CODE ? BY_CODE[code]! : BY_TXN_TYPE[txnType]
  if (cls === null) throw new StatementFormatError(`交易代码 ${code} (交易类型 ${txnType}, a pre-authorisation) moves no money and does not belong in a settlement file`, lineNo)
  if (cls === undefined) throw new StatementFormatError(`交易代码 "${code}" with 交易类型 "${txnType}" is neither a payment (S22) nor a refund (S30, S31)`, lineNo)

  const amount = unsignedFen(record, field('交易金额'), lineNo)
  const fee = signedFen(record, field('商户手续费'), 'D', lineNo)
  // Read for its shape only: a malformed settlement amount means the record is not what the layout says.
  signedFen(record, field('结算金额'), 'C', lineNo)

  const time = record.subarray(field('交易传输时间').start, field('交易传输时间').end).toString('latin1')
  const t = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(time)
  if (!t) throw new StatementFormatError(`交易传输时间 "${time}" is not MMDDhhmmss`, lineNo)
  const [month, day, hour, minute, second] = [+t[1]!, +t[2]!, +t[3]!, +t[4]!, +t[5]!]
  const year = yearOfMonthDay(month, day, settle)
  const clock = { year: year ?? settle.year, month, day, hour, minute, second }
  if (year === null || !validWallClock(clock)) {
    throw new StatementFormatError(`交易传输时间 "${time}" is not a valid time within half a year of the settlement date ${opts.businessDate}`, lineNo)
  }

  const orderId = opt('商户订单号')
  const queryId = opt('查询流水号')
  const refund = cls.kind === 'refund'
  return {
    lineNo,
    kind: cls.kind,
    // A refund or cancellation is a gateway request of its own, with its own 商户订单号 (our refund number); it
    // names the payment by the payment's 查询流水号 (原交易查询流水号), not by the payment's order number.
    ourRef: orderId,
    ourPaymentRef: null,
    channelTxnId: refund ? opt('原交易查询流水号') : queryId,
    channelRefundId: refund ? queryId : null,
    currency: opts.currency,
    amount,
    feeMilli: fee * 1000 || 0,
    status: cls.status,
    occurredAt: instantIn(clock, opts.timeZone),
    storeRef: null,
    terminalRef: opt('终端号'),
    rrn: null,
    voucherNo: opt('系统跟踪号'),
  }
}
