// The text layer shared by WeChat Pay's trade and fund-flow bills: lines read as a stream from the (possibly gzipped)
// bytes, backtick-prefixed fields, yuan amounts parsed exactly, and China Standard Time stamps.
//
// Bill words: the *header* is the first line (column names, no backticks); *rows* start with a backtick; the
// *summary header* and *summary row* close the file.
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { StatementFormatError, type ControlTotals, type ParsedStatement, type StatementLine } from '../../../core/reconciliation/types.ts'

const GZIP_MAGIC = [0x1f, 0x8b] as const
/** Uncompressed input is handed to the line reader in slices of this size, as a gunzip stream would. */
const SLICE = 64 * 1024

export const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]

/** The decompressed bytes as a stream of chunks, never as one string. */
export async function* decompressedChunks(bytes: Buffer): AsyncGenerator<Buffer> {
  if (!isGzip(bytes)) {
    for (let i = 0; i < bytes.length; i += SLICE) yield bytes.subarray(i, i + SLICE)
    return
  }
  const gunzip = Readable.from([bytes], { objectMode: false }).pipe(createGunzip())
  try {
    for await (const chunk of gunzip) yield chunk as Buffer
  } catch (e) {
    throw new StatementFormatError(`the gzip data is damaged: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    gunzip.destroy()
  }
}

export interface TextLine {
  /** 1-based, counting every line of the file (blank ones too). */
  lineNo: number
  text: string
}

/**
 * The lines of a bill, decoded as UTF-8 one at a time: a BOM is dropped, `\r\n` and `\n` both end a line. Splitting
 * on the 0x0A byte never cuts a UTF-8 character, so each line is decoded on its own.
 */
export async function* billLines(bytes: Buffer): AsyncGenerator<TextLine> {
  let carry: Buffer | null = null
  let lineNo = 0
  const decode = (buf: Buffer, start: number, end: number): string => {
    if (end > start && buf[end - 1] === 0x0d) end--
    let text = buf.toString('utf8', start, end)
    if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1)
    return text
  }
  for await (const chunk of decompressedChunks(bytes)) {
    let start = 0
    for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
      lineNo++
      if (carry) {
        const whole: Buffer = Buffer.concat([carry, chunk.subarray(start, nl)])
        carry = null
        yield { lineNo, text: decode(whole, 0, whole.length) }
      } else yield { lineNo, text: decode(chunk, start, nl) }
      start = nl + 1
    }
    if (start < chunk.length) carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : Buffer.from(chunk.subarray(start))
  }
  if (carry && carry.length) {
    lineNo++
    yield { lineNo, text: decode(carry, 0, carry.length) }
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
 * (digit arithmetic, no floats); more decimals than allowed, or anything not a plain number, is refused.
 */
export function parseYuan(text: string, decimals: number, column: string, lineNo: number): number {
  const m = /^(-|\+)?(\d{1,16})(?:\.(\d+))?$/.exec(text)
  if (!m || (m[3] !== undefined && m[3].length > decimals)) {
    throw new StatementFormatError(`${column} "${text}" is not an amount in yuan with at most ${decimals} decimals`, lineNo)
  }
  // Products and sums of integers below 2^53 are exact; a true value above it cannot come out as a safe integer.
  const units = Number(m[2]) * 10 ** decimals + Number((m[3] ?? '').padEnd(decimals, '0') || '0')
  if (!Number.isSafeInteger(units)) throw new StatementFormatError(`${column} "${text}" is too large`, lineNo)
  return m[1] === '-' ? -units : units
}

/** A count as the bills print it: "3", or "3.0" in the fund-flow summary. */
export function parseCount(text: string, column: string, lineNo: number): number {
  const m = /^(\d{1,12})(?:\.0+)?$/.exec(text)
  if (!m) throw new StatementFormatError(`${column} "${text}" is not a count`, lineNo)
  return Number(m[1])
}

const CST_OFFSET_MS = 8 * 3600_000

/** `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8, no daylight saving) → the instant. */
export function parseCstTime(text: string, column: string, lineNo: number): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(text)
  if (m) {
    const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
    const ms = Date.UTC(y, mo - 1, d, h, mi, s)
    const back = new Date(ms)
    // Date.UTC rolls 2026-02-30 over to March: a date that does not round-trip does not exist.
    if (back.getUTCMonth() === mo - 1 && back.getUTCDate() === d && h < 24 && mi < 60 && s < 60) return new Date(ms - CST_OFFSET_MS)
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

/** One part of a bill as {@link billSections} reads it: the header, a row, or the summary (its header's names and its row). */
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
 * The walk both bills share: a header line, backticked rows of as many values as the header has names, a summary
 * header and one summary row, blank lines anywhere. Refuses an XML error reply, a missing header, a line that is
 * neither row nor summary header, text after the summary row, an empty file and a bill without its summary.
 */
export async function* billSections(bytes: Buffer, shape: BillShape): AsyncGenerator<BillSection> {
  let columns: number | undefined
  let summaryNames: string[] | undefined
  let done = false
  let lastLine = 0
  for await (const { lineNo, text } of billLines(bytes)) {
    lastLine = lineNo
    if (text.trim() === '') continue
    if (done) throw new StatementFormatError('text after the summary row', lineNo)
    if (columns === undefined) {
      if (text.startsWith('<xml>')) throw new StatementFormatError('this is a WeChat Pay error reply (XML), not a bill', lineNo)
      if (text.startsWith('`')) throw new StatementFormatError('the bill has no header line', lineNo)
      const names = splitHeader(text)
      columns = names.length
      yield { kind: 'header', lineNo, names }
      continue
    }
    if (summaryNames) {
      yield { kind: 'summary', lineNo, names: summaryNames, fields: splitTicked(text, lineNo) }
      done = true
      continue
    }
    if (!text.startsWith('`')) {
      const names = splitHeader(text)
      if (!shape.isSummaryHeader(names)) throw new StatementFormatError('a row must start with a backtick (`)', lineNo)
      summaryNames = names
      continue
    }
    const fields = splitTicked(text, lineNo)
    if (fields.length !== columns) {
      throw new StatementFormatError(`the row has ${fields.length} values for ${columns} columns${shape.rowHint ?? ''}`, lineNo)
    }
    yield { kind: 'row', lineNo, fields }
  }
  if (columns === undefined) throw new StatementFormatError('the file is empty')
  if (!done) throw new StatementFormatError(`the bill ends without its summary (${shape.summaryName} …): is the file truncated?`, lastLine || null)
}

/** How one kind of bill reads its header, rows and summary row, on top of the walk {@link billSections} does. */
export interface BillReader<L, T extends ControlTotals> extends BillShape {
  layout(names: string[], lineNo: number): L
  line(fields: string[], lineNo: number, layout: L): StatementLine
  totals(names: string[], fields: string[], lineNo: number): T
}

/** A bill parsed with `reader`: lines stream out, the summary row's totals are known once they have. */
export function parseBill<L, T extends ControlTotals>(bytes: Buffer, reader: BillReader<L, T>): ParsedStatement & { controlTotals(): T } {
  let totals: T | undefined
  async function* lines(): AsyncGenerator<StatementLine> {
    let layout: L | undefined
    for await (const s of billSections(bytes, reader)) {
      if (s.kind === 'header') layout = reader.layout(s.names, s.lineNo)
      else if (s.kind === 'row') yield reader.line(s.fields, s.lineNo, layout!)
      else totals = reader.totals(s.names, s.fields, s.lineNo)
    }
  }
  return {
    lines: lines(),
    controlTotals() {
      if (!totals) throw new Error('the control totals are known once every line of the bill has been read')
      return totals
    },
  }
}
