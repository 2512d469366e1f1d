// The text layer shared by WeChat Pay's trade and fund-flow bills: lines read as a stream from the (possibly gzipped)
// bytes, backtick-prefixed fields, yuan amounts parsed exactly, and China Standard Time stamps.
//
// Bill words: the *header* is the first line (column names, no backticks); *rows* start with a backtick; the
// *summary header* and *summary row* close the file.
import { ConnectorError } from '../../framework/http-types.ts'
import { contentDigest, decompressedChunks, type StatementContent } from '../../../core/reconciliation/file.ts'
import { StatementFormatError, type ControlTotals, type ParsedStatement, type StatementLine } from '../../../core/reconciliation/types.ts'

export interface TextLine {
  /** 1-based, counting every line of the file (blank ones too). */
  lineNo: number
  text: string
}

/**
 * The lines of a bill, decoded as UTF-8 one at a time and handed over a decompressed chunk's worth at a time (an
 * asynchronous step per chunk, not per line): a BOM is dropped, `\r\n` and `\n` both end a line. Splitting on the 0x0A
 * byte never cuts a UTF-8 character, so each line is decoded on its own.
 */
export async function* billLines(content: StatementContent): AsyncGenerator<TextLine[]> {
  let carry: Buffer | null = null
  let lineNo = 0
  const decode = (buf: Buffer, start: number, end: number): string => {
    if (end > start && buf[end - 1] === 0x0d) end--
    let text = buf.toString('utf8', start, end)
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    return text
  }
  for await (const chunk of decompressedChunks(content)) {
    const out: TextLine[] = []
    let start = 0
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      lineNo++
      if (carry) {
        const whole: Buffer = Buffer.concat([carry, chunk.subarray(start, nl)])
        carry = null
        out.push({ lineNo, text: decode(whole, 0, whole.length) })
      } else out.push({ lineNo, text: decode(chunk, start, nl) })
      start = nl + 1
    }
    if (start < chunk.length) carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start))
    if (out.length > 0) yield out
  }
  if (carry && carry.length) {
    lineNo++
    yield [{ lineNo, text: decode(carry, 0, carry.length) }]
  }
}

/**
 * Splits a row whose every value is prefixed with a backtick. Splitting on ",`" (not on bare commas) keeps commas
 * inside 商品名称 or 商户数据包 intact; a lone "`" is an empty value.
 */
export function splitTicked(text: string, lineNo: number): string[] {
  if (!text.startsWith('`')) throw new StatementFormatError('a row must start with a backtick (`)', lineNo)
  const parts = text.slice(1).split(',`')
  for (let i = 0; i < parts.length; i++) parts[i] = parts[i]!.trim()
  return parts
}

/** Column names of a header line; a stray backtick or BOM in front of a name is dropped. */
export const splitHeader = (text: string): string[] => text.split(',').map((h) => h.replace(/^[`\ufeff]+/, '').trim())

/**
 * Decimal text in yuan → an integer number of 10^-decimals yuan: fen with 2, thousandths of a fen with 5. Exact
 * (digit arithmetic, no floats); more decimals than allowed, or anything not a plain number (an optional sign, 1 to 16
 * digits, optionally a point and at least one digit), is refused. Read character by character: it runs twice for every
 * row of a bill, and a regular expression's match would be garbage each time.
 */
export function parseYuan(text: string, decimals: number, column: string, lineNo: number): number {
  const fail = (why = `is not an amount in yuan with at most ${decimals} decimals`): never => {
    throw new StatementFormatError(`${column} "${text}" ${why}`, lineNo)
  }
  const end = text.length
  let i = 0
  const sign = text.charCodeAt(0)
  if (sign === 0x2d || sign === 0x2b) i = 1
  let whole = 0
  const wholeFrom = i
  for (let d = text.charCodeAt(i) - 0x30; i < end && d >= 0 && d <= 9; d = text.charCodeAt(++i) - 0x30) whole = whole * 10 + d
  if (i === wholeFrom || i - wholeFrom > 16) fail()
  let fraction = 0
  let places = 0
  if (i < end) {
    if (text.charCodeAt(i) !== 0x2e) fail()
    for (i++; i < end; i++, places++) {
      const d = text.charCodeAt(i) - 0x30
      if (d < 0 || d > 9) fail()
      fraction = fraction * 10 + d
    }
    if (places === 0 || places > decimals) fail()
  }
  // Products and sums of integers below 2^53 are exact; a true value above it cannot come out as a safe integer.
  const units = whole * 10 ** decimals + fraction * 10 ** (decimals - places)
  if (!Number.isSafeInteger(units)) fail('is too large')
  return sign === 0x2d ? -units : units
}

/** A count as the bills print it: "3", or "3.0" in the fund-flow summary. */
export function parseCount(text: string, column: string, lineNo: number): number {
  const m = /^(\d{1,12})(?:\.0+)?$/.exec(text)
  if (!m) throw new StatementFormatError(`${column} "${text}" is not a count`, lineNo)
  return Number(m[1])
}

const CST_OFFSET_MS = 8 * 3600_000

/** The number the `n` ASCII digits at `at` spell, or -1 if any of them is not one. */
function digitsAt(text: string, at: number, n: number): number {
  let v = 0
  for (let i = at; i < at + n; i++) {
    const d = text.charCodeAt(i) - 0x30
    if (!(d >= 0 && d <= 9)) return -1
    v = v * 10 + d
  }
  return v
}

/** `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8, no daylight saving) → the instant. Read by position, as parseYuan is. */
export function parseCstTime(text: string, column: string, lineNo: number): Date {
  if (text.length === 19 && text[4] === '-' && text[7] === '-' && text[10] === ' ' && text[13] === ':' && text[16] === ':') {
    const y = digitsAt(text, 0, 4)
    const mo = digitsAt(text, 5, 2)
    const d = digitsAt(text, 8, 2)
    const h = digitsAt(text, 11, 2)
    const mi = digitsAt(text, 14, 2)
    const s = digitsAt(text, 17, 2)
    if (y >= 0 && mo >= 0 && d >= 0 && h >= 0 && h < 24 && mi >= 0 && mi < 60 && s >= 0 && s < 60) {
      const at = new Date(Date.UTC(y, mo - 1, d, h, mi, s))
      // Date.UTC rolls 2026-02-30 over to March: a date that does not round-trip does not exist.
      if (at.getUTCMonth() === mo - 1 && at.getUTCDate() === d) {
        at.setTime(at.getTime() - CST_OFFSET_MS)
        return at
      }
    }
  }
  throw new StatementFormatError(`${column} "${text}" is not a time as yyyy-MM-dd HH:mm:ss`, lineNo)
}

/** The instant as WeChat prints it, in China Standard Time. */
export const formatCstTime = (at: Date): string => new Date(at.getTime() + CST_OFFSET_MS).toISOString().slice(0, 19).replace('T', ' ')

/** The index of the first of `names` the header has, or -1. */
export function columnOf(header: readonly string[], ...names: string[]): number {
  for (const n of names) {
    const i = header.indexOf(n)
    if (i >= 0) return i
  }
  return -1
}

/** An id column's value, with WeChat's placeholders for "none" ("", "0") as null. */
export const idOrNull = (v: string | undefined): string | null => (v === undefined || v === '' || v === '0' ? null : v)

/** One part of a bill as {@link billWalk} reads it: the header, a row, or the summary (its header's names and its row). */
export type BillSection =
  | { kind: 'header'; lineNo: number; names: string[] }
  | { kind: 'row'; lineNo: number; fields: string[] }
  | { kind: 'summary'; lineNo: number; names: string[]; fields: string[] }

export interface BillShape {
  /** Whether a line of column names (not backticked) after the rows is this bill's summary header. */
  isSummaryHeader(names: string[]): boolean
  /** The summary's first column, named when the bill ends without it. */
  summaryName: string
  /** Added to the message for a row whose count of values is not the header's. */
  rowHint?: string
}

/**
 * The walk both bills share, one line at a time: a header line, backticked rows of as many values as the header has
 * names, a summary header and one summary row, blank lines anywhere. Refuses an XML error reply, a missing header, a
 * line that is neither row nor summary header, text after the summary row, and (at `end`) an empty file and a bill
 * without its summary.
 */
export function billWalk(shape: BillShape): { read(line: TextLine): BillSection | null; end(): void } {
  let columns: number | undefined
  let summaryNames: string[] | undefined
  let done = false
  let lastLine = 0
  return {
    read({ lineNo, text }) {
      lastLine = lineNo
      if (text.trim() === '') return null
      if (done) throw new StatementFormatError('text after the summary row', lineNo)
      if (columns === undefined) {
        if (text.startsWith('<xml>')) throw new StatementFormatError('this is a WeChat Pay error reply (XML), not a bill', lineNo)
        if (text.startsWith('`')) throw new StatementFormatError('the bill has no header line', lineNo)
        const names = splitHeader(text)
        columns = names.length
        return { kind: 'header', lineNo, names }
      }
      if (summaryNames) {
        done = true
        return { kind: 'summary', lineNo, names: summaryNames, fields: splitTicked(text, lineNo) }
      }
      if (!text.startsWith('`')) {
        const names = splitHeader(text)
        if (!shape.isSummaryHeader(names)) throw new StatementFormatError('a row must start with a backtick (`)', lineNo)
        summaryNames = names
        return null
      }
      const fields = splitTicked(text, lineNo)
      if (fields.length !== columns) {
        throw new StatementFormatError(`the row has ${fields.length} values for ${columns} columns${shape.rowHint ?? ''}`, lineNo)
      }
      return { kind: 'row', lineNo, fields }
    },
    end() {
      if (columns === undefined) throw new StatementFormatError('the file is empty')
      if (!done) throw new StatementFormatError(`the bill ends without its summary (${shape.summaryName} …): is the file truncated?`, lastLine || null)
    },
  }
}

/** How one kind of bill reads its header, rows and summary row, on top of the walk {@link billWalk} does. */
export interface BillReader<L, T extends ControlTotals> extends BillShape {
  layout(names: string[], lineNo: number): L
  line(fields: string[], lineNo: number, layout: L): StatementLine
  totals(names: string[], fields: string[], lineNo: number): T
}

/** A bill parsed with `reader`: lines stream out, the summary row's totals are known once they have. */
export function parseBill<L, T extends ControlTotals>(content: StatementContent, reader: BillReader<L, T>): ParsedStatement & { controlTotals(): T } {
  let totals: T | undefined
  async function* lines(): AsyncGenerator<StatementLine> {
    let layout: L | undefined
    const walk = billWalk(reader)
    for await (const chunk of billLines(content)) {
      for (const textLine of chunk) {
        const s = walk.read(textLine)
        if (s === null) continue
        if (s.kind === 'header') layout = reader.layout(s.names, s.lineNo)
        else if (s.kind === 'row') yield reader.line(s.fields, s.lineNo, layout!)
        else totals = reader.totals(s.names, s.fields, s.lineNo)
      }
    }
    walk.end()
  }
  return {
    lines: lines(),
    controlTotals() {
      if (!totals) throw new Error('the control totals are known once every line of the bill has been read')
      return totals
    },
  }
}

/**
 * SHA-1 of a downloaded bill over its decompressed bytes. A gzip that ends short (a download that broke off) is a
 * failed download, to be fetched again (retryable, DOWNLOAD_DAMAGED), not a damaged bill to refuse for good.
 */
export async function downloadedBillSha1(content: StatementContent, what: string): Promise<string> {
  try {
    return await contentDigest(content, 'sha1', 'decompressed')
  } catch (e) {
    if (e instanceof StatementFormatError) throw new ConnectorError('retryable', `the downloaded ${what} could not be decompressed: ${e.message}`, { vendorCode: 'DOWNLOAD_DAMAGED' })
    throw e
  }
}
