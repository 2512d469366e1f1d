// Another POS's export as a plain table: the header row and the data rows with their line numbers, read from CSV
// (UTF-8, UTF-16 or GBK, comma/semicolon/tab) or the first worksheet of an XLSX workbook, with the same readers and
// the same decoding as the catalog spreadsheet (catalog-file.ts). What the columns mean is headers.ts's business.
import { badRequest } from '../../lib/errors.ts'
import { firstSheetRows } from '../../lib/xlsx.ts'
import { csvRows, MAX_ROWS, type DecimalMark } from '../catalog/catalog-file.ts'
import { formulaUnguarded } from '../../lib/formula-guard.ts'

export type FileFormat = 'csv' | 'xlsx'

export interface TableRow {
  /** Line of the CSV file or row of the worksheet (the header is line 1 of a plain file). */
  line: number
  values: string[]
}

export interface Table {
  format: FileFormat
  headerLine: number
  header: string[]
  rows: TableRow[]
  /** How amounts mark their decimals (see Sheet.decimalMark). */
  decimalMark: DecimalMark
}

const invalidFile = (message: string, details?: unknown) => badRequest('invalid_file', message, details)

/** An XLSX workbook is a zip file: it starts with "PK\x03\x04". */
export const looksLikeXlsx = (bytes: Uint8Array) => bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04

/** The format named, or the one the bytes are when 'auto'; a CSV that is really a workbook (or the reverse) is refused. */
export function detectFormat(bytes: Uint8Array, format: FileFormat | 'auto' = 'auto'): FileFormat {
  const zip = looksLikeXlsx(bytes)
  if (format === 'auto') return zip ? 'xlsx' : 'csv'
  if (format === 'csv' && zip) throw invalidFile('the file is an XLSX workbook, not a CSV (use format xlsx or auto)')
  if (format === 'xlsx' && !zip) throw invalidFile('the file is not an XLSX workbook (use format csv or auto)')
  return format
}

function toTable(format: FileFormat, rows: TableRow[], decimalMark: DecimalMark): Table {
  // Blank lines before the header (titles some exports put on top are not skipped: the header is the first row).
  const [header, ...body] = rows.filter((r) => r.values.some((v) => v.trim() !== ''))
  if (!header) throw invalidFile('the file is empty')
  if (body.length > MAX_ROWS) throw badRequest('too_many_rows', `a file may hold at most ${MAX_ROWS} rows; split it`, { rows: body.length, limit: MAX_ROWS })
  return { format, headerLine: header.line, header: header.values.map((v) => v.trim()), rows: body.map((r) => ({ line: r.line, values: r.values.map((v) => v.trim()) })), decimalMark }
}

export function readCsvTable(bytes: Uint8Array): Table {
  const { rows, decimalMark } = csvRows(bytes)
  // Our own exports guard formula-looking text with an apostrophe (as other systems' exports do): taken off again.
  return toTable('csv', rows.map((r, i) => (i === 0 ? r : { line: r.line, values: r.values.map(formulaUnguarded) })), decimalMark)
}

/** A date cell as its calendar date: exceljs gives midnight UTC of the day the sheet shows. */
const dateText = (d: Date) => (Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(0, 10))

export async function readXlsxTable(bytes: Uint8Array): Promise<Table> {
  return toTable('xlsx', await firstSheetRows(bytes, { date: dateText, invalid: (message) => invalidFile(message) }), '.')
}

/** Reads a file of either format; 'auto' tells them apart by their first bytes. */
export async function readTable(bytes: Uint8Array, format: FileFormat | 'auto' = 'auto'): Promise<Table> {
  if (bytes.byteLength === 0) throw invalidFile('the file is empty')
  return detectFormat(bytes, format) === 'xlsx' ? readXlsxTable(bytes) : readCsvTable(bytes)
}
