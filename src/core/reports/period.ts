// What every report shares: a period of business dates (calendar days in the merchant's time zone, see
// src/lib/time.ts), checked the same way everywhere, the scope of one store or all, and reading numbers back from SQL.
import { sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { badRequest, invalid } from '../../lib/errors.ts'
import { mulDivRound } from '../../lib/money.ts'
import { addDays, isDate } from '../../lib/time.ts'
import { getStore, type Store } from '../stores/service.ts'

/** The longest period one report covers: a year, leap or not. */
export const MAX_PERIOD_DAYS = 366

export interface Period {
  /** First business date, inclusive ('YYYY-MM-DD'). */
  from: string
  /** Last business date, inclusive. */
  to: string
}

/** Refuses a malformed date (400) and a period that runs backwards or is too long (422); returns its days in order. */
export function periodDays(p: Period, maxDays = MAX_PERIOD_DAYS): string[] {
  for (const [name, d] of [['from', p.from], ['to', p.to]] as const) {
    if (!isDate(d)) throw badRequest('invalid_date', `${name} must be a date as YYYY-MM-DD, got "${d}"`, { [name]: d })
  }
  if (p.from > p.to) throw invalid('invalid_period', `the period starts (${p.from}) after it ends (${p.to})`, { from: p.from, to: p.to })
  const days: string[] = []
  for (let d = p.from; d <= p.to; d = addDays(d, 1)) {
    days.push(d)
    if (days.length > maxDays) throw invalid('period_too_long', `a report covers at most ${maxDays} days`, { from: p.from, to: p.to, maxDays })
  }
  return days
}

/** The store a report is limited to (another merchant's is "not found"), or undefined for all stores. */
export const scopeStore = (tx: Tx, merchantId: string, storeId: string | undefined): Promise<Store | undefined> =>
  storeId ? getStore(tx, merchantId, storeId) : Promise.resolve(undefined)

/** `and <column> = <storeId>` when the report is limited to a store. */
export const storeFilter = (column: SQL, storeId: string | undefined): SQL => (storeId ? sql` and ${column} = ${storeId}` : sql``)

/** A number from SQL: int8 arrives as a number, sums of int8 (numeric) as text, no rows as null. */
export const num = (v: unknown): number => {
  const n = Number(v ?? 0)
  if (!Number.isSafeInteger(n)) throw new RangeError(`report figure ${String(v)} is not a whole number`)
  return n
}

/** round(numerator ÷ denominator), half up, as a whole number; null when there is nothing to divide by. */
export const averageOf = (numerator: number, denominator: number): number | null => (denominator === 0 ? null : mulDivRound(numerator, 1, denominator))

/**
 * numerator ÷ denominator as a decimal with `places` decimals, rounded half up (away from zero), computed on
 * integers and only then turned into a number for JSON; null when the denominator is 0.
 */
export function decimalRatio(numerator: number, denominator: number, places: number): number | null {
  if (denominator === 0) return null
  const scale = 10 ** places
  return mulDivRound(numerator, scale, denominator) / scale
}

/** The same ratio as fixed-point text ("12.50"), for CSV files and anything that must not be re-rounded. */
export function decimalText(numerator: number, denominator: number, places: number): string | null {
  if (denominator === 0) return null
  const scaled = mulDivRound(numerator, 10 ** places, denominator)
  const neg = scaled < 0
  const digits = String(Math.abs(scaled)).padStart(places + 1, '0')
  const whole = digits.slice(0, digits.length - places)
  return `${neg ? '-' : ''}${whole}${places ? `.${digits.slice(digits.length - places)}` : ''}`
}
