// A voucher as the files finance staff import: CSV (GBK for Chinese Excel and desktop importers, or UTF-8 with a BOM)
// and XLSX, in the generic, Kingdee or U8 layout (layouts.ts). Pure functions of the voucher, so the API's downloads
// and the emailed files are the same bytes. One row per entry, never a totals row: importers take it for an entry.
import iconv from 'iconv-lite'
import { stringify } from 'csv-stringify/sync'
import { excel, xlsxText } from '../../../lib/xlsx.ts'
import type { VoucherDocument } from '../../framework/accounting.ts'
import { layoutTable, U8_MARKER, type KingdeeLayoutOptions, type VoucherLayout, type VoucherTable } from './layouts.ts'
import { formulaSafe } from '../../../lib/formula-guard.ts'

export { VoucherRenderError, type KingdeeLayoutOptions, type VoucherLayout } from './layouts.ts'

export interface VoucherRenderOptions {
  /** CSV only: XLSX is UTF-8 inside whatever this says. */
  encoding: 'utf8' | 'gbk'
  layout?: VoucherLayout
  /** Needed by the Kingdee layout. */
  kingdee?: KingdeeLayoutOptions
}

export const XLSX_CONTENT_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet'


// U8's 总账工具 splits lines on commas and knows no quoting: a comma or line break inside a field becomes its
// full-width or blank counterpart instead of shifting every later field.
const u8Field = (cell: string): string => cell.replace(/,/g, '，').replace(/[\r\n]+/g, ' ')

type Charset = 'utf-8' | 'GBK' | 'GB18030'

function encode(text: string, encoding: 'utf8' | 'gbk', bom: boolean): { bytes: Buffer; charset: Charset } {
  if (encoding === 'utf8') return { bytes: Buffer.from(bom ? `\ufeff${text}` : text, 'utf8'), charset: 'utf-8' }
  // GBK has no bytes for some characters (emoji, rare hanzi), and Windows' code page 936 writes the euro sign as the
  // one byte 0x80, which GBK and GB18030 readers refuse. GB18030 writes the same bytes as GBK for everything GBK has
  // and codes of its own for the rest, so nothing turns into "?": a file whose GB18030 bytes differ from its GBK ones
  // is GB18030, and says so (a reader told GBK refuses it whole).
  const gb18030 = iconv.encode(text, 'gb18030')
  const gbk = iconv.encode(text, 'gbk')
  return gbk.equals(gb18030) ? { bytes: gbk, charset: 'GBK' } : { bytes: gb18030, charset: 'GB18030' }
}

function renderCsv(voucher: VoucherDocument, opts: VoucherRenderOptions): { bytes: Buffer; charset: Charset } {
  const layout = opts.layout ?? 'generic'
  const table = layoutTable(voucher, layout, opts.kingdee)
  if (layout === 'u8') {
    // The marker line must be the file's first bytes: no BOM in front of it, even in UTF-8.
    const lines = [U8_MARKER, ...table.rows].map((r) => r.map(u8Field).join(','))
    return encode(`${lines.join('\r\n')}\r\n`, opts.encoding, false)
  }
  const text = stringify([...table.header, ...table.rows].map((r) => r.map(formulaSafe)), { record_delimiter: 'windows' })
  return encode(text, opts.encoding, true)
}

export const voucherCsv = (voucher: VoucherDocument, opts: VoucherRenderOptions): Buffer => renderCsv(voucher, opts).bytes

/**
 * The voucher as a CSV file, named and typed as the API, the dashboard and the mail all give it: U8's 总账工具 opens
 * `.txt` files; the charset is the one the bytes are in (GB18030 when a character GBK lacks was kept).
 */
export function voucherCsvFile(voucher: VoucherDocument, opts: VoucherRenderOptions): { filename: string; contentType: string; bytes: Buffer } {
  const { bytes, charset } = renderCsv(voucher, opts)
  const u8 = opts.layout === 'u8'
  return { filename: voucherFileName(voucher, u8 ? 'txt' : 'csv'), contentType: `${u8 ? 'text/plain' : 'text/csv'}; charset=${charset}`, bytes }
}

/** Display width of a cell: a hanzi takes two columns. */
const width = (s: string): number => [...s].reduce((w, ch) => w + (ch.charCodeAt(0) > 0x2e7f ? 2 : 1), 0)

/** Every cell as text (format `@`), so account codes keep their digits and amounts their exact decimals. */
export async function voucherXlsx(voucher: VoucherDocument, opts: Partial<VoucherRenderOptions> = {}): Promise<Buffer> {
  const table: VoucherTable = layoutTable(voucher, opts.layout ?? 'generic', opts.kingdee)
  const wb = new (await excel()).Workbook()
  wb.creator = 'Tillbridge'
  const ws = wb.addWorksheet(table.sheetName, { views: [{ state: 'frozen', ySplit: table.header.length }] })
  const all = [...table.header, ...table.rows]
  const columns = table.header[0]!.length
  ws.columns = Array.from({ length: columns }, (_, i) => ({ width: Math.min(48, Math.max(8, ...all.map((r) => width(r[i] ?? '') + 2))), style: { numFmt: '@' } }))
  for (const r of table.header) ws.addRow(r.map(xlsxText)).font = { bold: true }
  for (const r of table.rows) ws.addRow(r.map(xlsxText))
  return Buffer.from(await wb.xlsx.writeBuffer())
}

/** The voucher as a CSV (voucherCsvFile) or XLSX file, with its name and content type. */
export async function voucherFile(voucher: VoucherDocument, format: 'csv' | 'xlsx', opts: VoucherRenderOptions): Promise<{ filename: string; contentType: string; bytes: Buffer }> {
  if (format === 'csv') return voucherCsvFile(voucher, opts)
  return { filename: voucherFileName(voucher, 'xlsx'), contentType: XLSX_CONTENT_TYPE, bytes: await voucherXlsx(voucher, opts) }
}

/**
 * `voucher-S001-2026-11-20-R1.csv`: store, business day and what the reference adds to them (the revision, a
 * correction's kind), in ASCII so every mail client and file system keeps it.
 */
export function voucherFileName(voucher: VoucherDocument, ext: string): string {
  const store = voucher.store?.code ?? 'ALL'
  const prefix = `TB-${store}-${voucher.businessDate.replaceAll('-', '')}-`
  const rest = voucher.reference.startsWith(prefix) ? voucher.reference.slice(prefix.length) : voucher.reference
  const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]+/g, '_')
  return `voucher-${safe(store)}-${voucher.businessDate}-${safe(rest)}.${ext}`
}
