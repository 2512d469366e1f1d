// What an import says about a file: every problem by line, with the column as the file named it, and what the file
// does (or would do). Shared by the three kinds, and the cell readers they share (numbers, amounts, yes/no, dates).
import { MoneyError, parseMoney, plainDecimal } from '../../lib/money.ts'
import { mapColumns, type ColumnMap, type ImportKind } from './headers.ts'
import type { FileFormat, Table } from './table.ts'
import type { DecimalMark } from '../catalog/catalog-file.ts'

export interface ImportProblem {
  /** Line of the file (the header is line 1 of a plain file). */
  line: number
  /** Our name of the column ('card_no', 'quantity', …), null for a problem of the whole row. */
  field: string | null
  /** The header as the file wrote it ("会员卡号"). */
  column: string | null
  value: string | null
  code: string
  message: string
}

export interface PosImportReport<S extends object = object> {
  kind: ImportKind
  format: FileFormat
  /** Who the data came from, as the reasons of opening balances name it. */
  source: string
  dryRun: boolean
  /** Whether the import was written (never for a dry run or a file with problems). */
  applied: boolean
  /** Data rows read (blank rows are skipped). */
  rows: number
  errorCount: number
  /** Every problem found, by line (the first MAX_REPORTED of them). */
  errors: ImportProblem[]
  warnings: string[]
  /** Our column → the file's header, as the header was understood. */
  columns: Record<string, string>
  summary: S
}

export const MAX_REPORTED = 10_000

/** Collects the problems of one file. */
export class Problems {
  readonly list: ImportProblem[] = []
  readonly map: ColumnMap
  constructor(map: ColumnMap) {
    this.map = map
  }
  add(line: number, field: string | null, value: string | null, code: string, message: string) {
    this.list.push({ line, field, column: field ? (this.map.headers[field] ?? null) : null, value, code, message })
  }
  get count() {
    return this.list.length
  }
  sorted(): ImportProblem[] {
    return [...this.list].sort((a, b) => a.line - b.line).slice(0, MAX_REPORTED)
  }
}

/**
 * The start of a member or stock import: the file's columns mapped, a collector for its problems, its warnings (more
 * may be added), and its report as it stands when `report` is called (the summary is the caller's object, filled in
 * as the import goes).
 */
export function beginImport<S extends object>(kind: ImportKind, table: Table, opts: ImportOptions, summary: S) {
  const map = mapColumns(kind, table)
  const p = new Problems(map)
  const warnings = map.unknown.length ? [`ignored columns: ${map.unknown.join(', ')}`] : []
  const report = (applied: boolean): PosImportReport<S> => ({
    kind,
    format: table.format,
    source: opts.source,
    dryRun: opts.dryRun,
    applied,
    rows: table.rows.length,
    errorCount: p.count,
    errors: p.sorted(),
    warnings,
    columns: map.headers,
    summary,
  })
  return { map, p, warnings, report }
}

/** Header problems: a required column missing, a column named twice. Returns whether the header is usable. */
export function checkHeader(p: Problems, headerLine: number, required: string[], opts: { anyOf?: string[] } = {}): boolean {
  const before = p.count
  for (const f of required) if (!p.map.index.has(f)) p.add(headerLine, f, null, 'missing_column', `the header has no ${f} column`)
  if (opts.anyOf && !opts.anyOf.some((f) => p.map.index.has(f))) p.add(headerLine, opts.anyOf[0]!, null, 'missing_column', `the header has no ${opts.anyOf.join(' or ')} column`)
  for (const [field, first, second] of p.map.duplicates) p.add(headerLine, field, second, 'duplicate_column', `"${first}" and "${second}" both name the ${field} column; keep one`)
  return p.count === before
}

export const TRUE = new Set(['true', '1', 'yes', 'y', '是', '同意', '允许', '接收', '订阅', '已订阅', 'on'])
export const FALSE = new Set(['false', '0', 'no', 'n', '否', '不同意', '拒绝', '不接收', '未订阅', '退订', 'off'])

export function readBoolean(v: string): boolean | undefined {
  const t = v.trim().toLowerCase()
  if (TRUE.has(t)) return true
  if (FALSE.has(t)) return false
  return undefined
}

/**
 * A whole number as typed: "1,234", "1234", "1234.0" (a worksheet's number), read with the file's decimal mark as
 * amounts are ("12,5" is never 125); undefined when it is not one.
 */
export function readWhole(v: string, decimalMark: DecimalMark = '.'): number | undefined {
  let t: string
  try {
    t = plainDecimal(v.trim().replace(/^\+/, ''), decimalMark)
  } catch (e) {
    if (e instanceof MoneyError) return undefined
    throw e
  }
  const m = /^(-?)(\d+)(?:\.0*)?$/.exec(t)
  if (!m) return undefined
  const n = Number(m[2]) * (m[1] === '-' ? -1 : 1)
  return Number.isSafeInteger(n) ? n : undefined
}

/** An amount in minor units of the currency, exactly ("¥1,234.50"); undefined when it is not one. */
export function readAmount(v: string, currency: string, decimalMark: DecimalMark = '.'): number | undefined {
  try {
    return parseMoney(v, currency, decimalMark)
  } catch (e) {
    if (e instanceof MoneyError || e instanceof RangeError) return undefined
    throw e
  }
}

export interface Birthday {
  month: number
  day: number
  year?: number
}

/**
 * A birthday as other systems write it: 1990-05-20, 1990/5/20, 1990.5.20, 19900520, 1990年5月20日, or without the
 * year 05-20, 5月20日. Day-first forms (20/05/1990) are not guessed at.
 */
export function readBirthday(v: string, thisYear: number): Birthday | undefined {
  const t = v.trim()
  let m = /^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$/.exec(t) ?? /^(\d{4})(\d{2})(\d{2})$/.exec(t)
  let b: Birthday | undefined
  if (m) b = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) }
  else if ((m = /^(\d{1,2})[-/.月](\d{1,2})日?$/.exec(t))) b = { month: Number(m[1]), day: Number(m[2]) }
  if (!b) return undefined
  const d = new Date(Date.UTC(b.year ?? 2000, b.month - 1, b.day))
  if (b.month < 1 || b.month > 12 || d.getUTCMonth() !== b.month - 1 || d.getUTCDate() !== b.day) return undefined
  if (b.year !== undefined && (b.year < 1900 || b.year > thisYear)) return undefined
  return b
}

/** How far an import has got: rows checked, then rows (or lines) written. */
export type ImportProgress = (e: { kind: ImportKind; phase: 'check' | 'write'; done: number; total: number }) => void | Promise<void>

/** Options every kind takes. */
export interface ImportOptions {
  dryRun: boolean
  /** The system the data comes from ("银豹", "old POS"); opening balances carry "opening balance from <source>". */
  source: string
  onProgress?: ImportProgress
  now?: Date
}

/** Rows between two progress reports while checking. */
export const CHECK_STEP = 500

export const openingReason = (source: string) => `opening balance from ${source}`
