// exceljs, loaded the first time a workbook is read or written: it is the largest module graph the hub uses (about
// 50 MB and half a second to load), and most processes (a bridge, a worker that only pushes stock) never need it.
// Also what reading the first worksheet as text needs, shared by the catalog and the POS-data imports.
import type ExcelJS from 'exceljs'

let loading: Promise<typeof ExcelJS> | undefined

export function excel(): Promise<typeof ExcelJS> {
  loading ??= import('exceljs').then((m) => m.default)
  return loading
}

/**
 * Text of a worksheet cell as the person typing it saw it; a date cell through `date`. `numFmt` is the cell's number
 * format: a format of zeros only ("000000000000") shows a whole number padded with zeros to its width, which is how a
 * sheet keeps the leading zero of a barcode or code typed as a number.
 */
export function cellText(v: ExcelJS.CellValue, date: (d: Date) => string, numFmt?: string): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'string') return v
  if (typeof v === 'number') {
    if (numFmt && /^0+$/.test(numFmt) && Number.isSafeInteger(v) && v >= 0) return String(v).padStart(numFmt.length, '0')
    // As the spreadsheet shows it (15 significant digits): a price computed as 12.3*3 is 36.9, not 36.900000000000006.
    return String(Number(v.toPrecision(15)))
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false'
  if (v instanceof Date) return date(v)
  if ('richText' in v) return v.richText.map((t) => t.text).join('')
  if ('formula' in v || 'sharedFormula' in v) return cellText((v as ExcelJS.CellFormulaValue).result as ExcelJS.CellValue, date, numFmt)
  // A link's text may itself be formatted (rich) text.
  if ('hyperlink' in v) return typeof v.text === 'string' ? v.text : cellText(v.text as ExcelJS.CellValue, date, numFmt)
  if ('error' in v) return String(v.error)
  return String(v)
}

/**
 * A text as a worksheet cell that reads back the same. OOXML writes a character XML cannot carry (a control
 * character; a CR, which reading XML turns into a LF) as _xHHHH_, so a literal "_xHHHH_" in the text must itself be
 * written "_x005F_xHHHH_" (as Excel does). exceljs decodes both on reading but does neither on writing.
 */
export function xlsxText(s: string): string {
  return s
    .replace(/_x([0-9A-Fa-f]{4})_/g, '_x005F_x$1_')
    .replace(/[\u0000-\u0008\u000B-\u001F\uFFFE\uFFFF]/g, (c) => `_x${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}_`)
}

export interface SheetRow {
  /** The row's number in the worksheet (1-based), which is what a person looking at the file sees. */
  line: number
  values: string[]
}

/**
 * The non-empty rows of the workbook's first worksheet, every cell as text. A workbook that cannot be read, or has
 * no worksheet, is reported through `invalid` (the caller's own 4xx error).
 */
export async function firstSheetRows(bytes: Uint8Array, opts: { date: (d: Date) => string; invalid: (message: string) => Error }): Promise<SheetRow[]> {
  const wb = new (await excel()).Workbook()
  try {
    await wb.xlsx.load(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) as unknown as ExcelJS.Buffer)
  } catch (e) {
    throw opts.invalid(`the XLSX workbook cannot be read: ${(e as Error).message}`)
  }
  const ws = wb.worksheets[0]
  if (!ws) throw opts.invalid('the workbook has no worksheet')
  const rows: SheetRow[] = []
  ws.eachRow({ includeEmpty: false }, (row, n) => {
    const values: string[] = []
    row.eachCell({ includeEmpty: true }, (cell, col) => {
      values[col - 1] = cellText(cell.value, opts.date, cell.numFmt)
    })
    rows.push({ line: n, values: Array.from(values, (v) => v ?? '') })
  })
  return rows
}
