// Reading statement files that are tables (card-acquirer CSVs, bank exports, merchant spreadsheets) as a stream of
// rows, and the exact value parsers their cells need: decimal money without floats and wall-clock times in a zone.
// Shared by the Allinpay and mapped-column parsers; memory stays independent of the file's size.
import { pipeline, Readable } from 'node:stream'
import { parse as csvParse, CsvError } from 'csv-parse'
import type ExcelJS from 'exceljs'
import iconv from 'iconv-lite'
import { excel } from '../../lib/xlsx.ts'
import { StatementFormatError } from '../../core/reconciliation/types.ts'
import { isUtf8Content, type StatementContent } from '../../core/reconciliation/file.ts'

/** A cell as read: text from a CSV; text, a number or a date (its wall clock in UTC fields) from a worksheet. */
export type Cell = string | number | Date

export interface Row {
  /** 1-based line of the CSV (where the record ends) or row number of the worksheet. */
  lineNo: number
  cells: Cell[]
}

export type TextEncoding = 'utf-8' | 'gbk' | 'auto'

/**
 * Decodes the file as it is read; 'auto' takes UTF-8 when the whole file is valid UTF-8 (checked in a first pass over
 * it) and GBK otherwise (Chinese acquirers and banks export "ANSI", i.e. GBK). GB18030 is decoded as the superset of
 * GBK. A leading BOM is dropped.
 */
export async function* decodeChunks(content: StatementContent, encoding: TextEncoding): AsyncGenerator<string> {
  const name = encoding === 'auto' ? ((await isUtf8Content(content)) ? 'utf-8' : 'gb18030') : encoding === 'gbk' ? 'gb18030' : 'utf-8'
  const decoder = iconv.getDecoder(name, { stripBOM: true })
  for await (const chunk of content.chunks()) {
    const text = decoder.write(chunk)
    if (text) yield text
  }
  const rest = decoder.end()
  if (rest) yield rest
}

/** The records of a CSV file, cells trimmed (acquirers pad ids with spaces and tabs so Excel keeps them as text). */
export async function* csvRows(content: StatementContent, opts: { encoding: TextEncoding; delimiter?: string }): AsyncGenerator<Row> {
  const source = Readable.from(decodeChunks(content, opts.encoding))
  // pipeline passes a failure to read the file on to the parser, which the loop below then throws.
  const parser = pipeline(source, csvParse({ delimiter: opts.delimiter ?? ',', relax_column_count: true, relax_quotes: true, skip_empty_lines: true, bom: true, info: true }), () => {})
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      yield { lineNo: info.lines, cells: record.map((c) => c.trim()) }
    }
  } catch (e) {
    if (e instanceof CsvError) throw new StatementFormatError(`the CSV cannot be read: ${e.message}`, (e as unknown as { lines?: number }).lines ?? null)
    throw e
  } finally {
    // Also when the caller stops early (a malformed row): the file is closed.
    source.destroy()
  }
}

function cellOf(value: ExcelJS.CellValue): Cell {
  if (value === null || value === undefined) return ''
  if (typeof value === 'string' || typeof value === 'number' || value instanceof Date) return value
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'object') {
    if ('richText' in value) return value.richText.map((r) => r.text).join('')
    if ('formula' in value || 'sharedFormula' in value || 'result' in value) {
      // A formula counts by its cached result; without one (never calculated) the cell is empty.
      const result = (value as { result?: unknown }).result
      return typeof result === 'string' || typeof result === 'number' || result instanceof Date ? result : ''
    }
    if ('text' in value) return String(value.text)
    if ('error' in value) return String(value.error)
  }
  return String(value)
}

/**
 * The rows of one worksheet of an XLSX file, read with exceljs's streaming reader (shared strings cached, rows never
 * held). Without a sheet name the first worksheet is read.
 */
export async function* xlsxRows(content: StatementContent, opts: { sheet?: string }): AsyncGenerator<Row> {
  // exceljs pipes the source into its unzipper, which does not pass on a failure of the source: the reader would wait
  // for the rest of the file forever. A failure to read the file ends the source instead (the zip is then cut off, and
  // refused or short), and is what the caller gets.
  let unread: unknown
  async function* guarded() {
    try {
      yield* content.chunks()
    } catch (e) {
      unread = e
    }
  }
  const source = Readable.from(guarded())
  const reader = new (await excel()).stream.xlsx.WorkbookReader(source, {
    worksheets: 'emit',
    sharedStrings: 'cache',
    styles: 'cache',
    hyperlinks: 'ignore',
    entries: 'ignore',
  })
  const seen: string[] = []
  let found = false
  // Iterated by hand, and drained when the caller stops early (a malformed row): closing exceljs's iterators midway
  // removes the temporary files it parks worksheets in while a read of them is still open.
  const sheets = (reader as unknown as AsyncIterable<AsyncIterable<ExcelJS.Row>>)[Symbol.asyncIterator]()
  let rows: AsyncIterator<ExcelJS.Row> | null = null
  let finished = false
  try {
    for (;;) {
      const s = await sheets.next()
      if (s.done) break
      const sheet = s.value
      const name = (sheet as unknown as { name?: string; id?: number }).name ?? `sheet${(sheet as unknown as { id?: number }).id ?? seen.length + 1}`
      seen.push(name)
      rows = sheet[Symbol.asyncIterator]()
      if (found || (opts.sheet !== undefined && name.trim() !== opts.sheet.trim())) {
        while (!(await rows.next()).done);
        continue
      }
      found = true
      for (;;) {
        const r = await rows.next()
        if (r.done) break
        const row = r.value
        const values = (row.values as ExcelJS.CellValue[]) ?? []
        const cells: Cell[] = []
        for (let i = 1; i < values.length; i++) {
          const c = cellOf(values[i])
          cells.push(typeof c === 'string' ? c.trim() : c)
        }
        yield { lineNo: row.number, cells }
      }
    }
    finished = true
    if (unread) throw unread
  } catch (e) {
    finished = true
    if (e instanceof StatementFormatError) throw e
    if (unread) throw unread
    throw new StatementFormatError(`the XLSX file cannot be read: ${e instanceof Error ? e.message : String(e)}`)
  } finally {
    if (!finished) {
      try {
        if (rows) while (!(await rows.next()).done);
        for (;;) {
          const s = await sheets.next()
          if (s.done) break
          const rest = s.value[Symbol.asyncIterator]()
          while (!(await rest.next()).done);
        }
      } catch {
        // The caller has stopped; what is left of the file does not matter.
      }
    }
  }
  if (!found) {
    throw new StatementFormatError(
      opts.sheet !== undefined ? `the workbook has no sheet "${opts.sheet}" (its sheets: ${seen.map((s) => `"${s}"`).join(', ') || 'none'})` : 'the workbook has no worksheet',
    )
  }
}

// ---- exact decimals --------------------------------------------------------------------------------------------

/**
 * Decimal text as an integer count of 10^-scale units, exactly ("12.34" at scale 2 → 1234). Accepts a sign, thousands
 * separators, a currency sign and surrounding space; refuses more than `scale` significant decimals and anything
 * that is not a plain decimal (exponents, two points). Returns null for malformed text.
 */
export function parseScaled(text: string, scale: number): number | null {
  const t = text.trim().replace(/^[¥￥$€£]\s*/, '').replace(/^([+-])\s*[¥￥$€£]\s*/, '$1')
  const m = /^([+-])?(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d*))?$/.exec(t)
  if (!m || (m[2] === undefined && !m[3])) return null
  const whole = (m[2] ?? '0').replace(/,/g, '')
  const frac = m[3] ?? ''
  if (frac.length > scale && /[1-9]/.test(frac.slice(scale))) return null
  const units = BigInt(whole) * 10n ** BigInt(scale) + BigInt((frac + '0'.repeat(scale)).slice(0, scale) || '0')
  const value = Number(m[1] === '-' ? -units : units)
  return Number.isSafeInteger(value) ? value : null
}

/** A worksheet number cell as decimal text: the shortest text that reads back as the stored double ("12.3"). */
export function numberText(n: number): string | null {
  if (!Number.isFinite(n)) return null
  const s = String(n)
  return /e/i.test(s) ? null : s
}

// ---- wall-clock times -----------------------------------------------------------------------------------------

export interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate()

export function validWallClock(w: WallClock): boolean {
  return (
    w.year >= 1970 &&
    w.year <= 9999 &&
    w.month >= 1 &&
    w.month <= 12 &&
    w.day >= 1 &&
    w.day <= daysIn(w.year, w.month) &&
    w.hour >= 0 &&
    w.hour <= 23 &&
    w.minute >= 0 &&
    w.minute <= 59 &&
    w.second >= 0 &&
    w.second <= 59
  )
}

// Building an Intl formatter costs far more than parsing a line; one per zone is kept.
const zoneFormats = new Map<string, Intl.DateTimeFormat>()

/**
 * Offsets by zone and quarter hour of UTC: zones change offset only at whole quarter hours, and a day's statement
 * touches a few dozen of them, so formatting (the costly part) happens a few dozen times per file, not per line.
 */
const offsets = new Map<string, number>()
const QUARTER_HOUR = 15 * 60_000

function offsetMinutes(at: number, timeZone: string): number {
  const key = `${timeZone}|${Math.floor(at / QUARTER_HOUR)}`
  let minutes = offsets.get(key)
  if (minutes === undefined) {
    if (offsets.size > 50_000) offsets.clear()
    minutes = formattedOffset(Math.floor(at / QUARTER_HOUR) * QUARTER_HOUR, timeZone)
    offsets.set(key, minutes)
  }
  return minutes
}

/** Offset of a zone from UTC at an instant, in minutes (as lib/time's zoneOffsetMinutes, with a cached formatter). */
function formattedOffset(at: number, timeZone: string): number {
  let f = zoneFormats.get(timeZone)
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
    zoneFormats.set(timeZone, f)
  }
  const p: Record<string, number> = {}
  for (const part of f.formatToParts(at)) if (part.type !== 'literal') p[part.type] = Number(part.value)
  const asUtc = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!)
  return Math.round((asUtc - Math.floor(at / 1000) * 1000) / 60_000)
}

/** The instant a wall-clock time names in a time zone (re-checking the offset at the result for DST edges). */
export function instantIn(w: WallClock, timeZone: string): Date {
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)
  let t = asUtc - offsetMinutes(asUtc, timeZone) * 60_000
  t = asUtc - offsetMinutes(t, timeZone) * 60_000
  return new Date(t)
}

/** The wall clock a worksheet date cell shows: exceljs hands dates over with the shown fields in UTC. */
export const wallClockOfCell = (d: Date): WallClock => ({
  year: d.getUTCFullYear(),
  month: d.getUTCMonth() + 1,
  day: d.getUTCDate(),
  hour: d.getUTCHours(),
  minute: d.getUTCMinutes(),
  second: d.getUTCSeconds(),
})

/** An Excel serial day number (days since 1899-12-30, fraction = time of day) as a wall clock. */
export function wallClockOfSerial(serial: number): WallClock | null {
  if (!Number.isFinite(serial) || serial < 0) return null
  const ms = Math.round(serial * 86_400) * 1000
  return wallClockOfCell(new Date(Date.UTC(1899, 11, 30) + ms))
}

const TOKENS: Record<string, { field: keyof WallClock; re: string }> = {
  yyyy: { field: 'year', re: '(\\d{4})' },
  MM: { field: 'month', re: '(\\d{2})' },
  M: { field: 'month', re: '(\\d{1,2})' },
  dd: { field: 'day', re: '(\\d{2})' },
  d: { field: 'day', re: '(\\d{1,2})' },
  HH: { field: 'hour', re: '(\\d{2})' },
  H: { field: 'hour', re: '(\\d{1,2})' },
  mm: { field: 'minute', re: '(\\d{2})' },
  ss: { field: 'second', re: '(\\d{2})' },
}

/** Reads text in one pattern into the wall-clock fields it names; the rest stay undefined. */
export type PatternReader = ((text: string) => Partial<WallClock> | null) & { fields: readonly (keyof WallClock)[] }

/**
 * Compiles a pattern of yyyy, MM/M, dd/d, HH/H, mm, ss and literal characters ("yyyy-MM-dd HH:mm:ss",
 * "yyyy/M/d", "yyyyMMddHHmmss", "HH:mm:ss"). Throws on a pattern with no field or a field named twice.
 */
export function compilePattern(pattern: string): PatternReader {
  const fields: (keyof WallClock)[] = []
  let re = ''
  let i = 0
  while (i < pattern.length) {
    const token = ['yyyy', 'MM', 'dd', 'HH', 'mm', 'ss', 'M', 'd', 'H'].find((t) => pattern.startsWith(t, i))
    if (token) {
      const t = TOKENS[token]!
      if (fields.includes(t.field)) throw new Error(`the pattern "${pattern}" names ${t.field} twice`)
      fields.push(t.field)
      re += t.re
      i += token.length
    } else {
      re += pattern[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      i++
    }
  }
  if (fields.length === 0) throw new Error(`the pattern "${pattern}" has no date or time field (yyyy MM dd HH mm ss)`)
  const compiled = new RegExp(`^${re}$`)
  const read = (text: string) => {
    const m = compiled.exec(text.trim())
    if (!m) return null
    const out: Partial<WallClock> = {}
    fields.forEach((f, k) => (out[f] = Number(m[k + 1])))
    return out
  }
  return Object.assign(read, { fields })
}
