// The catalog spreadsheet: one row per variant under named columns, read from and written to CSV or XLSX. This
// file only moves text between bytes and rows; what the text means is import-export.ts's business.
import { parse } from 'csv-parse/sync'
import { stringify } from 'csv-stringify/sync'
import { badRequest } from '../../lib/errors.ts'
import { excel, firstSheetRows, xlsxText } from '../../lib/xlsx.ts'
import { formulaSafe, formulaUnguarded } from '../../lib/formula-guard.ts'

export const CATALOG_COLUMNS = [
  'product_key',
  'product_name',
  'product_name_en',
  'category',
  'tax_category',
  'unit',
  'sku',
  'options',
  'price',
  'price_per',
  'cost',
  'barcodes',
  'on_shelf',
  'variant_tax_category',
  'variant_unit',
] as const
export type CatalogColumn = (typeof CATALOG_COLUMNS)[number]

export type CatalogFormat = 'csv' | 'xlsx'

export const MEDIA_TYPES: Record<CatalogFormat, string> = {
  csv: 'text/csv',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
}

/** The most data rows one file may carry. */
export const MAX_ROWS = 100_000

export interface SheetRow {
  /** Line of the CSV file or row of the worksheet where the row starts; the header is line 1 in a plain file. */
  line: number
  cells: Partial<Record<CatalogColumn, string>>
}

export interface Sheet {
  /** Line of the header row. */
  headerLine: number
  /** Known columns found in the header. */
  columns: CatalogColumn[]
  /** Header cells that are not catalog columns (ignored). */
  unknownColumns: string[]
  /** Catalog columns named more than once. */
  duplicateColumns: CatalogColumn[]
  rows: SheetRow[]
  /** How amounts mark their decimals: a comma in a semicolon-separated file (European Excel), else a point. */
  decimalMark: DecimalMark
}

export type DecimalMark = '.' | ','

/** "Product Name", "product-name" and "PRODUCT_NAME" all name the column product_name. */
export const normaliseHeader = (h: string) => h.replace(/^\ufeff/, '').trim().toLowerCase().replace(/[\s-]+/g, '_')

const invalidFile = (message: string, details?: unknown) => badRequest('invalid_file', message, details)

function toSheet(headerLine: number, header: string[], body: { line: number; values: string[] }[], decimalMark: DecimalMark): Sheet {
  const known = new Set<string>(CATALOG_COLUMNS)
  const columns: CatalogColumn[] = []
  const unknownColumns: string[] = []
  const duplicateColumns: CatalogColumn[] = []
  const index: (CatalogColumn | undefined)[] = header.map((raw) => {
    const h = normaliseHeader(raw)
    if (!h) return undefined
    if (!known.has(h)) {
      unknownColumns.push(raw.trim())
      return undefined
    }
    const col = h as CatalogColumn
    if (columns.includes(col)) {
      duplicateColumns.push(col)
      return undefined
    }
    columns.push(col)
    return col
  })
  const rows: SheetRow[] = []
  for (const { line, values } of body) {
    if (values.every((v) => v.trim() === '')) continue
    const cells: SheetRow['cells'] = {}
    values.forEach((v, i) => {
      const col = index[i]
      if (col) cells[col] = v.trim()
    })
    rows.push({ line, cells })
  }
  if (rows.length > MAX_ROWS) throw badRequest('too_many_rows', `a file may hold at most ${MAX_ROWS} rows; split it`, { rows: rows.length, limit: MAX_ROWS })
  return { headerLine, columns, unknownColumns, duplicateColumns, rows, decimalMark }
}

/** UTF-8 (with or without BOM), UTF-16 with BOM (Excel's "Unicode text"), else GB18030/GBK as older Chinese Excel writes. */
export function decodeText(bytes: Uint8Array): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes.subarray(2))
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes.subarray(2))
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes)
  } catch {
    return new TextDecoder('gb18030').decode(bytes)
  }
}

/** The delimiter the header line uses most: comma, semicolon (European Excel) or tab. */
function guessDelimiter(text: string): string {
  // The header: the first line with anything on it.
  const first = /^.*\S.*$/m.exec(text)?.[0] ?? ''
  const count = (d: string) => first.split(d).length - 1
  return [',', ';', '\t'].reduce((best, d) => (count(d) > count(best) ? d : best), ',')
}

/**
 * The records of a CSV file (UTF-8 with or without BOM, UTF-16, or GBK/GB18030; comma, semicolon or tab) with the line
 * each starts on. Shared with the POS-data imports (src/core/imports/table.ts).
 */
export function csvRows(bytes: Uint8Array): { rows: { line: number; values: string[] }[]; decimalMark: DecimalMark } {
  // Line numbers are counted on LF line ends; a CR inside a quoted cell is not worth keeping.
  const text = decodeText(bytes).replace(/^\ufeff/, '').replace(/\r\n?/g, '\n')
  if (!text.trim()) throw invalidFile('the file is empty')
  let records: { record: string[]; info: { lines: number } }[]
  const delimiter = guessDelimiter(text)
  try {
    records = parse(text, { delimiter, relax_column_count: true, skip_empty_lines: true, info: true }) as unknown as typeof records
  } catch (e) {
    const err = e as { message?: string; lines?: number }
    throw invalidFile(`the CSV cannot be read: ${err.message ?? 'syntax error'}`, err.lines ? { line: err.lines } : undefined)
  }
  // info.lines is the line a record ends on; a record spanning lines (quoted line breaks) starts that much earlier.
  return {
    rows: records.map(({ record, info }) => ({ line: info.lines - record.reduce((n, v) => n + (v.split('\n').length - 1), 0), values: record })),
    decimalMark: delimiter === ';' ? ',' : '.',
  }
}

export function readCsv(bytes: Uint8Array): Sheet {
  const { rows, decimalMark } = csvRows(bytes)
  const [header, ...body] = rows
  if (!header) throw invalidFile('the file is empty')
  return toSheet(header.line, header.values, body.map((r) => ({ line: r.line, values: r.values.map(formulaUnguarded) })), decimalMark)
}

export async function readXlsx(bytes: Uint8Array): Promise<Sheet> {
  const rows = await firstSheetRows(bytes, { date: (d) => (Number.isNaN(d.getTime()) ? '' : d.toISOString()), invalid: (message) => invalidFile(message) })
  const [header, ...body] = rows
  if (!header) throw invalidFile('the worksheet is empty')
  // Numbers come from the workbook as numbers, written with a point.
  return toSheet(header.line, header.values, body, '.')
}

export const readCatalogFile = (bytes: Uint8Array, format: CatalogFormat): Promise<Sheet> | Sheet => (format === 'csv' ? readCsv(bytes) : readXlsx(bytes))

export type CatalogRecord = Record<CatalogColumn, string>

/**
 * A UTF-8 CSV with a BOM, so Excel shows Chinese names right when it opens the file. A text a spreadsheet would run as
 * a formula is written after an apostrophe, which readCsv takes off again.
 */
export function writeCsv(records: CatalogRecord[]): Uint8Array {
  const safe = records.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, formulaSafe(v)])))
  const text = stringify(safe, { header: true, columns: [...CATALOG_COLUMNS], record_delimiter: 'unix' })
  return new TextEncoder().encode(`\ufeff${text}`)
}

/** Every cell is written as text, so SKUs and barcodes keep their leading zeros and prices their exact decimals. */
export async function writeXlsx(records: CatalogRecord[]): Promise<Uint8Array> {
  const wb = new (await excel()).Workbook()
  const ws = wb.addWorksheet('Catalog', { views: [{ state: 'frozen', ySplit: 1 }] })
  ws.columns = CATALOG_COLUMNS.map((c) => ({ header: c, key: c, width: c === 'product_name' || c === 'category' ? 28 : 16, style: { numFmt: '@' } }))
  ws.getRow(1).font = { bold: true }
  for (const r of records) ws.addRow(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, xlsxText(v)])))
  return new Uint8Array(await wb.xlsx.writeBuffer())
}

export const writeCatalogFile = (records: CatalogRecord[], format: CatalogFormat): Promise<Uint8Array> | Uint8Array =>
  format === 'csv' ? writeCsv(records) : writeXlsx(records)
