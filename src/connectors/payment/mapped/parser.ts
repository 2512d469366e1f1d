// Reads a CSV or XLSX statement (sniffed from its bytes) through the merchant's column mapping: the header row is
// found by the mapped names (title lines above it are skipped), each data row becomes a StatementLine, and every
// malformed amount or time is refused with its line number. Such files carry no control totals.
import type { LineKind, ParsedStatement, StatementLine } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { contentHead, type StatementContent } from '../../../core/reconciliation/file.ts'
import { minorUnitsPer } from '../../../lib/money.ts'
import {
  compilePattern,
  csvRows,
  instantIn,
  numberText,
  parseScaled,
  validWallClock,
  wallClockOfCell,
  wallClockOfSerial,
  xlsxRows,
  type Cell,
  type PatternReader,
  type Row,
  type WallClock,
} from '../tabular.ts'
import { isZip } from '../bill-zip.ts'
import type { MappedConfig, MappedField } from './config.ts'

/** How far down the file the header row is looked for (bank exports put a few title lines above it). */
export const HEADER_SEARCH_ROWS = 30

const normalise = (h: string) => h.replace(/^\ufeff/, '').replace(/^[\s\u3000]+|[\s\u3000]+$/g, '').toLowerCase()

const cellText = (c: Cell | undefined): string => {
  if (c === undefined) return ''
  if (typeof c === 'string') return c
  if (typeof c === 'number') return numberText(c) ?? String(c)
  const w = wallClockOfCell(c)
  const p = (n: number, l = 2) => String(n).padStart(l, '0')
  return `${p(w.year, 4)}-${p(w.month)}-${p(w.day)} ${p(w.hour)}:${p(w.minute)}:${p(w.second)}`
}

const decimalsOf = new Map<string, number>()
/** Decimals of a currency's major unit (CNY 2, JPY 0); null for a code Intl does not know. */
function currencyDecimals(code: string): number | null {
  let d = decimalsOf.get(code)
  if (d === undefined) {
    try {
      d = Math.round(Math.log10(minorUnitsPer(code)))
    } catch {
      return null
    }
    decimalsOf.set(code, d)
  }
  return d
}

const CURRENCY_WORDS: Record<string, string> = { 人民币: 'CNY', RMB: 'CNY', '156': 'CNY', 港币: 'HKD', 港元: 'HKD', 美元: 'USD' }

interface Plan {
  /** Column index of each mapped field. */
  at: Partial<Record<MappedField, number>>
  header: string[]
}

function planFrom(cells: Cell[], config: MappedConfig): { plan: Plan | null; matched: number; missing: [MappedField, string][]; duplicated: string[] } {
  const header = cells.map((c) => cellText(c).replace(/^\ufeff/, '').trim())
  const positions = new Map<string, number[]>()
  header.forEach((h, i) => {
    if (!h) return
    const key = normalise(h)
    positions.set(key, [...(positions.get(key) ?? []), i])
  })
  const at: Plan['at'] = {}
  const missing: [MappedField, string][] = []
  const duplicated: string[] = []
  let matched = 0
  for (const [field, name] of Object.entries(config.columns) as [MappedField, string | undefined][]) {
    if (!name) continue
    const found = positions.get(normalise(name))
    if (!found) missing.push([field, name])
    else {
      matched++
      if (found.length > 1) duplicated.push(name)
      at[field] = found[0]!
    }
  }
  return { plan: missing.length || duplicated.length ? null : { at, header }, matched, missing, duplicated }
}

interface Readers {
  time: PatternReader | 'unix' | 'unix_ms' | 'iso'
  date: PatternReader | null
  types: Map<string, LineKind | 'ignore'> | null
  skip: string[]
}

function readersFor(config: MappedConfig): Readers {
  const special = config.timeFormat === 'unix' || config.timeFormat === 'unix_ms' || config.timeFormat === 'iso'
  let types: Readers['types'] = null
  if (config.columns.type && config.typeValues) {
    types = new Map()
    for (const [kind, values] of Object.entries(config.typeValues) as [LineKind | 'ignore', string[]][]) for (const v of values) types.set(v.trim().toLowerCase(), kind)
  }
  return {
    time: special ? (config.timeFormat as 'unix' | 'unix_ms' | 'iso') : compilePattern(config.timeFormat),
    date: config.columns.date ? compilePattern(config.dateFormat) : null,
    types,
    skip: config.skipRowsStartingWith,
  }
}

export function parseMappedStatement(content: StatementContent, config: MappedConfig): ParsedStatement {
  const readers = readersFor(config)
  async function* lines(): AsyncGenerator<StatementLine> {
    const rows: AsyncIterable<Row> = isZip(await contentHead(content, 4))
      ? xlsxRows(content, { sheet: config.sheet })
      : csvRows(content, { encoding: config.encoding, delimiter: config.delimiter })
    let plan: Plan | null = null
    let scanned = 0
    let best: { lineNo: number; cells: Cell[]; matched: number; missing: [MappedField, string][]; duplicated: string[] } | null = null
    const refuseHeader = () => {
      if (!best) return new StatementFormatError('the file holds no rows')
      if (best.duplicated.length && !best.missing.length) {
        return new StatementFormatError(`the header names ${best.duplicated.map((d) => `"${d}"`).join(', ')} more than once; the mapping is ambiguous`, best.lineNo)
      }
      const names = best.missing.map(([field, name]) => `"${name}" (${field})`).join(', ')
      const has = best.cells.map(cellText).filter(Boolean).join(', ')
      return new StatementFormatError(`the file has no column ${names} mapped in this connection; the header row found has: ${has}`, best.lineNo)
    }
    for await (const row of rows) {
      const texts = row.cells.map(cellText)
      if (texts.every((t) => t === '')) continue
      if (!plan) {
        const attempt = planFrom(row.cells, config)
        if (attempt.plan) {
          plan = attempt.plan
          continue
        }
        // The best candidate explains the failure: the row that matched most mapped names (ties: the first).
        if (!best || attempt.matched > best.matched) best = { lineNo: row.lineNo, cells: row.cells, ...attempt }
        if (++scanned >= HEADER_SEARCH_ROWS) throw refuseHeader()
        continue
      }
      const first = texts.find((t) => t !== '') ?? ''
      if (readers.skip.some((p) => first.startsWith(p))) continue
      const line = toLine(row, plan, config, readers)
      if (line) yield line
    }
    if (!plan) throw refuseHeader()
  }
  return { lines: lines(), controlTotals: () => null }
}

function toLine(row: Row, plan: Plan, config: MappedConfig, readers: Readers): StatementLine | null {
  const { lineNo, cells } = row
  const cell = (f: MappedField): Cell | undefined => (plan.at[f] === undefined ? undefined : cells[plan.at[f]!])
  const text = (f: MappedField) => cellText(cell(f)).trim()
  const opt = (f: MappedField) => text(f) || null
  const fail = (message: string) => new StatementFormatError(message, lineNo)
  const header = (f: MappedField) => `${config.columns[f]}`

  let currency = config.currency
  if (config.columns.currency) {
    const c = text('currency')
    const code = CURRENCY_WORDS[c] ?? CURRENCY_WORDS[c.toUpperCase()] ?? c.toUpperCase()
    if (!/^[A-Z]{3}$/.test(code) || currencyDecimals(code) === null) throw fail(`${header('currency')} "${c}" is not a currency code`)
    currency = code
  }
  const digits = config.amountUnit === 'yuan' ? currencyDecimals(currency)! : 0
  const unitWords = config.amountUnit === 'yuan' ? `${currency} with at most ${digits} decimals` : 'whole minor units (fen)'

  const decimal = (f: MappedField, scale: number, words: string): number => {
    const c = cell(f)
    const t = typeof c === 'number' ? numberText(c) : c instanceof Date ? null : cellText(c).trim()
    const v = t === null || t === '' ? null : parseScaled(t, scale)
    if (v === null) throw fail(`${header(f)} "${cellText(c)}" is not an amount in ${words}`)
    return v
  }

  let kind: LineKind
  const signed = decimal('amount', digits, unitWords)
  if (readers.types) {
    const t = text('type')
    const k = readers.types.get(t.toLowerCase())
    if (!k) throw fail(`${header('type')} "${t}" is none of the values mapped to payment, refund, payout, fee, adjustment or ignore`)
    if (k === 'ignore') return null
    kind = k
  } else kind = signed < 0 && config.refundSign === 'negative' ? 'refund' : 'payment'

  let amount: number
  if (kind === 'payment') {
    if (signed < 0) throw fail(`${header('amount')} "${text('amount')}" is negative on a payment`)
    amount = signed
  } else if (kind === 'refund') {
    if (config.refundSign === 'negative' ? signed > 0 : signed < 0) {
      throw fail(`${header('amount')} "${text('amount')}" is ${signed > 0 ? 'positive' : 'negative'} on a refund, while this file prints refunds ${config.refundSign}`)
    }
    amount = Math.abs(signed)
  } else if (kind === 'adjustment') amount = signed
  else amount = Math.abs(signed)

  let feeMilli = 0
  if (config.columns.fee && text('fee') !== '') {
    // Fees may carry three more decimals than amounts (WeChat-style 0.34800): they are kept in thousandths of a fen.
    const feeWords = config.amountUnit === 'yuan' ? `${currency} with at most ${digits + 3} decimals` : 'minor units with at most 3 decimals'
    const printed = decimal('fee', digits + 3, feeWords)
    feeMilli = (config.feeSign === 'charged_negative' ? -printed : printed) || 0
  }

  return {
    lineNo,
    kind,
    ourRef: opt('ourRef'),
    ourPaymentRef: opt('ourPaymentRef'),
    channelTxnId: opt('channelTxnId'),
    channelRefundId: opt('channelRefundId'),
    currency,
    amount: amount || 0,
    feeMilli,
    status: opt('status') ?? (kind === 'refund' ? 'REFUND' : 'SUCCESS'),
    occurredAt: timeOf(cell, text, header, config, readers, fail),
    storeRef: opt('store'),
    terminalRef: opt('terminal'),
    rrn: opt('rrn'),
    voucherNo: opt('voucher'),
    payoutRef: opt('payoutRef'),
  }
}

function timeOf(
  cell: (f: MappedField) => Cell | undefined,
  text: (f: MappedField) => string,
  header: (f: MappedField) => string,
  config: MappedConfig,
  readers: Readers,
  fail: (m: string) => StatementFormatError,
): Date {
  const c = cell('time')
  const shown = text('time')
  const bad = () => fail(`${header('time')} "${shown}" is not a time in the format ${config.timeFormat}`)
  if (shown === '') throw fail(`${header('time')} is empty`)

  if (readers.time === 'unix' || readers.time === 'unix_ms') {
    if (!/^\d+$/.test(shown)) throw bad()
    const ms = Number(shown) * (readers.time === 'unix' ? 1000 : 1)
    if (!Number.isSafeInteger(ms)) throw bad()
    return new Date(ms)
  }
  if (readers.time === 'iso') {
    if (c instanceof Date) return instantIn(wallClockOfCell(c), config.timeZone)
    const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(shown)
    if (!m) throw bad()
    const w = { year: +m[1]!, month: +m[2]!, day: +m[3]!, hour: +m[4]!, minute: +m[5]!, second: +(m[6] ?? 0) }
    if (!validWallClock(w)) throw bad()
    if (!m[7]) return instantIn(w, config.timeZone)
    const at = Date.parse(shown.replace(' ', 'T'))
    if (Number.isNaN(at)) throw bad()
    return new Date(at)
  }

  const fromCell = (v: Cell | undefined, reader: PatternReader): Partial<WallClock> | null => {
    if (v instanceof Date) return wallClockOfCell(v)
    if (typeof v === 'number') {
      // A worksheet date left unformatted is an Excel serial day number.
      return wallClockOfSerial(v)
    }
    return reader(cellText(v))
  }
  let w: Partial<WallClock> | null = fromCell(c, readers.time)
  if (!w) throw bad()
  if (readers.date) {
    const d = cell('date')
    const dateShown = text('date')
    if (dateShown === '') throw fail(`${header('date')} is empty`)
    const dw = fromCell(d, readers.date)
    if (!dw || dw.year === undefined || dw.month === undefined || dw.day === undefined) throw fail(`${header('date')} "${dateShown}" is not a date in the format ${config.dateFormat}`)
    // A time-of-day cell holds only the clock; a worksheet time cell carries Excel's 1899-12-30 date with it.
    w = { year: dw.year, month: dw.month, day: dw.day, hour: w.hour, minute: w.minute, second: w.second }
  }
  const full: WallClock = { year: w.year ?? NaN, month: w.month ?? NaN, day: w.day ?? NaN, hour: w.hour ?? 0, minute: w.minute ?? 0, second: w.second ?? 0 }
  if (!validWallClock(full)) throw bad()
  return instantIn(full, config.timeZone)
}
