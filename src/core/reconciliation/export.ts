// Exceptions and daily summaries as files for finance: CSV (UTF-8 with a BOM, as the other reports) or XLSX. Money is
// decimal text in the currency's major unit; fees carry the 5 decimals WeChat prints. Column headers are keys, or
// names in the reader's language when one is given.
import { csvFile, localizeHeader, type Cell, type CsvTable } from '../reports/csv.ts'
import type { Locale } from '../../lib/i18n/locale.ts'
import { formatDecimal, minorUnitsPer } from '../../lib/money.ts'
import { excel, xlsxText } from '../../lib/xlsx.ts'
import type { ItemView, SummaryRow } from './queries.ts'

export type ExportFormat = 'csv' | 'xlsx'

const money = (minor: number | null, currency: string | null) => (minor === null ? null : formatDecimal(minor, currency ?? 'CNY'))

/**
 * Thousandths of a minor unit as major units, with the currency's decimals and three more ("34800" → "0.34800" for
 * CNY; 209000 → "209.000" for JPY, which has no minor unit).
 */
export function feeText(milli: number | null, currency: string | null): string | null {
  if (milli === null) return null
  const per = 1000 * minorUnitsPer(currency ?? 'CNY')
  const decimals = Math.round(Math.log10(per))
  const abs = Math.abs(milli)
  return `${milli < 0 ? '-' : ''}${Math.floor(abs / per)}.${String(abs % per).padStart(decimals, '0')}`
}

export function exceptionsTable(items: ItemView[]): CsvTable {
  return {
    header: [
      'business_date',
      'connection_id',
      'store',
      'outcome',
      'state',
      'age_days',
      'currency',
      'pos_kind',
      'pos_ref',
      'pos_amount',
      'channel_amount',
      'difference',
      'expected_fee',
      'channel_fee',
      'channel_txn_id',
      'channel_status',
      'channel_time',
      'carried_days',
      'resolution',
      'resolution_note',
      'item_id',
    ],
    rows: items.map((i): Cell[] => [
      i.businessDate,
      i.connectionId,
      i.storeCode,
      i.outcome,
      i.state,
      i.ageDays,
      i.currency,
      i.posKind,
      i.posRef ?? i.line?.ourRef ?? null,
      money(i.posAmount, i.currency),
      money(i.channelAmount, i.currency),
      money(i.difference, i.currency),
      feeText(i.expectedFeeMilli, i.currency),
      feeText(i.channelFeeMilli, i.currency),
      i.line?.channelTxnId ?? null,
      i.line?.status ?? null,
      i.line?.occurredAt.toISOString() ?? null,
      i.carriedDays,
      i.resolution,
      i.resolutionNote,
      i.id,
    ]),
  }
}

/** The daily summary as a table; `byTerminal` adds the terminal column after the store. */
export function summaryTable(rows: SummaryRow[], byTerminal = false): CsvTable {
  return {
    header: [
      'business_date',
      'connection_id',
      'store',
      ...(byTerminal ? ['terminal'] : []),
      'status',
      'currency',
      'pos_count',
      'pos_amount',
      'channel_count',
      'channel_amount',
      'difference',
      'channel_fee',
      'expected_fee',
      'fee_difference',
      'matched',
      'timing',
      'open_exceptions',
      'resolved',
      'open_0_1_days',
      'open_2_3_days',
      'open_4_7_days',
      'open_8_plus_days',
    ],
    rows: rows.map((r): Cell[] => [
      r.businessDate,
      r.connectionId,
      r.storeCode,
      ...(byTerminal ? [r.terminal ?? null] : []),
      r.runStatus,
      r.currency,
      r.posCount,
      money(r.posAmount, r.currency),
      r.channelCount,
      money(r.channelAmount, r.currency),
      money(r.difference, r.currency),
      feeText(r.channelFeeMilli, r.currency),
      feeText(r.expectedFeeMilli, r.currency),
      feeText(r.feeDifferenceMilli, r.currency),
      r.matched,
      r.timing,
      r.openExceptions,
      r.resolved,
      r.openByAge['0-1'],
      r.openByAge['2-3'],
      r.openByAge['4-7'],
      r.openByAge['8+'],
    ]),
  }
}

/** Every cell as text, so references keep their digits and amounts their exact decimals. */
async function xlsx(sheet: string, table: CsvTable, locale: Locale): Promise<Uint8Array> {
  const wb = new (await excel()).Workbook()
  const ws = wb.addWorksheet(sheet, { views: [{ state: 'frozen', ySplit: 1 }] })
  const names = localizeHeader(table.header, locale)
  // Chinese characters are about two columns wide.
  const width = (h: string) => [...h].reduce((w, ch) => w + (/[\u3000-\u9fff\uff00-\uffef]/.test(ch) ? 2 : 1), 0)
  ws.columns = table.header.map((key, i) => ({ header: names[i]!, key, width: Math.max(12, width(names[i]!) + 2), style: { numFmt: '@' } }))
  ws.getRow(1).font = { bold: true }
  for (const r of table.rows) ws.addRow(r.map((c) => (c === null ? '' : xlsxText(String(c)))))
  return new Uint8Array(await wb.xlsx.writeBuffer())
}

export async function tableFile(
  name: string,
  sheet: string,
  table: CsvTable,
  format: ExportFormat,
  locale: Locale = 'en',
): Promise<{ filename: string; bytes: Uint8Array; contentType: string }> {
  if (format === 'csv') return { ...csvFile(`${name}.csv`, table, locale), contentType: 'text/csv; charset=utf-8' }
  return { filename: `${name}.xlsx`, bytes: await xlsx(sheet, table, locale), contentType: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' }
}
