// Reports as CSV files: UTF-8 with a BOM so Excel shows Chinese names right when it opens the file, CRLF line ends
// (RFC 4180), money as decimal text in the merchant's currency, empty cells for "no value".
import { stringify } from 'csv-stringify/sync'
import { formatDecimal } from '../../lib/money.ts'

export type Cell = string | number | null

export interface CsvTable {
  header: string[]
  rows: Cell[][]
}

export interface CsvFile {
  filename: string
  bytes: Uint8Array
}

export function csvFile(filename: string, table: CsvTable): CsvFile {
  const text = stringify([table.header, ...table.rows.map((r) => r.map((c) => (c === null ? '' : String(c))))], { record_delimiter: 'windows' })
  return { filename, bytes: new TextEncoder().encode(`\ufeff${text}`) }
}

/** Money cells: minor units as decimal text ("1234" → "12.34" for CNY); null stays empty. */
export const moneyCell = (currency: string) => (minor: number | null) => (minor === null ? null : formatDecimal(minor, currency))

/** A percentage from basis points, "35.00" for 3500 and "-4.05" for -405; null stays empty. */
export function bpCell(bp: number | null): string | null {
  if (bp === null) return null
  const abs = Math.abs(bp)
  return `${bp < 0 ? '-' : ''}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`
}
