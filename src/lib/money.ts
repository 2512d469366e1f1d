// Money is an integer number of minor units (fen, cents) everywhere. These are the few operations that need care:
// checked arithmetic, rounding a ratio exactly, splitting an amount by largest remainder, tax from a price, and
// parsing/formatting decimal text. No floating-point number ever carries money.

export class MoneyError extends Error {}

/**
 * The most one payment (a tender, a sale's total) or one amount of a drawer (a float, a paid-in or paid-out) may be:
 * ¥10 billion in fen. No till takes it; below it, a session's or a day's sums stay exact however many there are.
 */
export const MAX_PAYMENT_AMOUNT = 1_000_000_000_000

export function assertMinor(value: number, what = 'amount'): number {
  if (!Number.isSafeInteger(value)) throw new MoneyError(`${what} must be a whole number of minor units, got ${value}`)
  return value
}

/**
 * round(a × b / c) with round-half-up (away from zero for negative results), computed exactly in BigInt so large
 * amounts times rates never lose a fen. This is the rounding rule for tax and for prices of weighed goods.
 */
export function mulDivRound(a: number, b: number, c: number): number {
  if (c === 0) throw new MoneyError('division by zero')
  const num = BigInt(a) * BigInt(b)
  const den = BigInt(c)
  const neg = num < 0n !== den < 0n && num !== 0n
  const n = num < 0n ? -num : num
  const d = den < 0n ? -den : den
  const q = (n * 2n + d) / (d * 2n) // half up on magnitudes
  const r = neg ? -q : q
  return assertMinor(Number(r))
}

/** floor(a × b / c) for non-negative operands, exactly. */
export function mulDivFloor(a: number, b: number, c: number): number {
  if (a < 0 || b < 0 || c <= 0) throw new MoneyError('mulDivFloor takes non-negative operands')
  return Number((BigInt(a) * BigInt(b)) / BigInt(c))
}

/**
 * Splits `total` into parts proportional to `weights` that sum exactly to `total` (largest remainder method;
 * ties go to the earlier index). With all weights zero the split is even.
 */
export function allocate(total: number, weights: readonly number[]): number[] {
  assertMinor(total, 'total')
  if (weights.length === 0) {
    if (total !== 0) throw new MoneyError('cannot allocate a non-zero amount over nothing')
    return []
  }
  if (weights.some((w) => w < 0 || !Number.isSafeInteger(w))) throw new MoneyError('weights must be non-negative integers')
  const sign = total < 0 ? -1 : 1
  const amount = BigInt(Math.abs(total))
  let ws = weights.map((w) => BigInt(w))
  let sum = ws.reduce((a, b) => a + b, 0n)
  if (sum === 0n) {
    ws = ws.map(() => 1n)
    sum = BigInt(ws.length)
  }
  const parts = ws.map((w) => (amount * w) / sum)
  const remainders = ws.map((w, i) => ({ i, r: (amount * w) % sum }))
  let left = amount - parts.reduce((a, b) => a + b, 0n)
  remainders.sort((x, y) => (y.r > x.r ? 1 : y.r < x.r ? -1 : x.i - y.i))
  for (const { i } of remainders) {
    if (left === 0n) break
    parts[i]! += 1n
    left -= 1n
  }
  return parts.map((p) => sign * Number(p))
}

/** The part of a tax-inclusive amount that is tax, at `rateBp` basis points (1300 = 13 %). */
export function taxFromInclusive(gross: number, rateBp: number): number {
  const net = mulDivRound(gross, 10_000, 10_000 + rateBp)
  return gross - net
}

/** The tax on a tax-exclusive amount. */
export function taxOnExclusive(net: number, rateBp: number): number {
  return mulDivRound(net, rateBp, 10_000)
}

/** Minor units per major unit for a currency (ISO 4217 exponent): CNY 100, JPY 1, KWD 1000. */
export function minorUnitsPer(currency: string): number {
  const digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2
  return 10 ** digits
}

/**
 * Parses decimal text ("12.34", "-0.5", "1,234.00") into minor units, exactly; refuses more decimals than the
 * currency has and anything that is not a number.
 */
export function parseMoney(text: string, currency = 'CNY', decimalMark: '.' | ',' = '.'): number {
  const t = plainDecimal(String(text).trim().replace(/^[¥￥$€£]/, ''), decimalMark, text)
  const m = /^(-)?(\d+)(?:\.(\d+))?$/.exec(t)
  if (!m) throw new MoneyError(`"${text}" is not an amount`)
  const per = minorUnitsPer(currency)
  const decimals = Math.round(Math.log10(per))
  const frac = m[3] ?? ''
  if (frac.length > decimals && /[1-9]/.test(frac.slice(decimals))) throw new MoneyError(`"${text}" has more than ${decimals} decimals`)
  const minor = BigInt(m[2]!) * BigInt(per) + BigInt((frac + '0'.repeat(decimals)).slice(0, decimals) || '0')
  const value = Number(m[1] ? -minor : minor)
  return assertMinor(value, `"${text}"`)
}

/**
 * The amount with a point for its decimal mark and no grouping. A grouping mark stands only between groups of three
 * digits ("1,234.50"; "1.234,50" where the comma is the decimal mark), so "12,50" is never read as 1250. Where the
 * comma is the decimal mark, a point followed by three digits and nothing else ("1.250") could be either: refused.
 */
export function plainDecimal(t: string, decimalMark: '.' | ',', text = t): string {
  const group = decimalMark === '.' ? ',' : '.'
  const grouped = new RegExp(`^-?\\d{1,3}(\\${group}\\d{3})+(\\${decimalMark}\\d+)?$`)
  if (grouped.test(t)) {
    if (decimalMark === ',' && /^-?\d{1,3}\.\d{3}$/.test(t)) {
      throw new MoneyError(`"${text}" could be ${t.replace('.', '')} or ${t}: write the decimals with a comma, or no point`)
    }
    t = t.replaceAll(group, '')
  }
  return decimalMark === ',' ? t.replace(/^(-?\d+),(\d+)$/, '$1.$2') : t
}

/** Minor units as plain decimal text ("1234" → "12.34"), for files and exports. */
export function formatDecimal(minor: number, currency = 'CNY'): string {
  assertMinor(minor)
  const per = minorUnitsPer(currency)
  const decimals = Math.round(Math.log10(per))
  const neg = minor < 0
  const abs = BigInt(Math.abs(minor))
  const whole = abs / BigInt(per)
  const frac = (abs % BigInt(per)).toString().padStart(decimals, '0')
  return `${neg ? '-' : ''}${whole}${decimals ? `.${frac}` : ''}`
}

/** Minor units for people ("¥12.34", "HK$12.34"), in the given locale. */
export function formatMoney(minor: number, currency: string, locale = 'zh-CN'): string {
  const text = formatDecimal(minor, currency)
  const digits = text.includes('.') ? text.split('.')[1]!.length : 0
  // Intl formats the decimal string exactly; the number is only used for grouping of the whole part.
  return new Intl.NumberFormat(locale, { style: 'currency', currency, minimumFractionDigits: digits, maximumFractionDigits: digits }).format(
    text as unknown as number,
  )
}

export const sum = (xs: readonly number[]) => xs.reduce((a, b) => assertMinor(a + b), 0)
