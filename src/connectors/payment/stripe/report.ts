// Stripe's itemized report CSVs (balance_change_from_activity.itemized.3, payout_reconciliation.itemized.5), downloaded
// from the Dashboard or the Reporting API and uploaded by hand: the same balance transactions as the API fetch
// (balance.ts), read into the same lines by the same rules. The trap: the report's gross, fee and net are decimals of
// the currency's MAJOR unit, where the API has integer minor units.
import type { ParsedStatement, PayoutMember, StatementLine, ControlTotals } from '../../../core/reconciliation/types.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import type { StatementContent } from '../../../core/reconciliation/file.ts'
import { businessDayRange } from '../../../lib/time.ts'
import { minorUnitsPer } from '../../../lib/money.ts'
import { compilePattern, csvRows, instantIn, parseScaled, validWallClock, type WallClock } from '../tabular.ts'
import { DEFAULT_REF_KEYS, DEFAULT_TIME_ZONE, toStatementLine, type RefKeys, type StripeBalanceTransaction, type StripeSourceSummary } from './balance.ts'

export const STRIPE_ITEMIZED_FORMAT = 'stripe_itemized'

const REQUIRED = ['balance_transaction_id', 'reporting_category', 'currency', 'gross', 'fee'] as const
const OPTIONAL = ['created_utc', 'created', 'net', 'source_id', 'charge_id', 'payment_intent_id', 'automatic_payout_id', 'description'] as const
type Column = (typeof REQUIRED)[number] | (typeof OPTIONAL)[number]

interface Plan {
  at: Partial<Record<Column, number>>
  /** Key → column of `payment_metadata[<key>]` and `refund_metadata[<key>]`. */
  paymentMeta: [string, number][]
  refundMeta: [string, number][]
  /** The column the time is read from, and whether it is UTC (else the report's zone, taken to be the day's). */
  time: { at: number; utc: boolean }
}

function plan(header: string[], lineNo: number): Plan {
  const at: Partial<Record<Column, number>> = {}
  const paymentMeta: [string, number][] = []
  const refundMeta: [string, number][] = []
  header.forEach((raw, i) => {
    const name = raw.trim().toLowerCase()
    const meta = /^(payment|refund)_metadata\[(.+)\]$/.exec(raw.trim())
    if (meta) (meta[1]!.toLowerCase() === 'payment' ? paymentMeta : refundMeta).push([meta[2]!, i])
    else if (((REQUIRED as readonly string[]).includes(name) || (OPTIONAL as readonly string[]).includes(name)) && at[name as Column] === undefined) at[name as Column] = i
  })
  const missing: string[] = REQUIRED.filter((c) => at[c] === undefined)
  if (at.created_utc === undefined && at.created === undefined) missing.push('created_utc (or created)')
  if (missing.length > 0) {
    throw new StatementFormatError(`this is not a Stripe itemized report: the header has no ${missing.map((c) => `"${c}"`).join(', ')} column${missing.length > 1 ? 's' : ''}`, lineNo)
  }
  const time = at.created_utc !== undefined ? { at: at.created_utc, utc: true } : { at: at.created!, utc: false }
  return { at, paymentMeta, refundMeta, time }
}

const STRIPE_TIME = compilePattern('yyyy-MM-dd HH:mm:ss')
const decimals = new Map<string, number>()

/**
 * Decimals of a currency's major unit by ISO 4217, as the till counts its minor units (lib/money: usd 2, jpy and krw
 * 0, bhd and kwd 3). This is the API's unit too, but for the few currencies Stripe's API writes in two decimals
 * against ISO (isk, ugx): there the report, in major units, agrees with the till and the API does not.
 */
function decimalsOf(code: string, lineNo: number): number {
  let d = decimals.get(code)
  if (d === undefined) {
    try {
      d = Math.round(Math.log10(minorUnitsPer(code)))
    } catch {
      throw new StatementFormatError(`"${code}" is not a currency code`, lineNo)
    }
    decimals.set(code, d)
  }
  return d
}

/**
 * Reads a Stripe itemized report as a stream. Columns are found by their header, in any order; others are ignored.
 * With the business day known, the report's rows created that day (in its time zone) are the day's lines, as the API
 * fetch's are; a row of another day that names its automatic payout is a member of that payout (as the fetch's
 * `payout_member_of`), stamped on the line of the day it happened; a row of another day without a payout is refused,
 * since another day's statement holds it.
 */
export function parseStripeItemized(content: StatementContent, opts: { businessDate?: string; timeZone?: string; keys?: RefKeys } = {}): ParsedStatement {
  const keys = opts.keys ?? DEFAULT_REF_KEYS
  const timeZone = opts.timeZone ?? DEFAULT_TIME_ZONE
  const day = opts.businessDate ? businessDayRange(opts.businessDate, timeZone) : null
  const members: PayoutMember[] = []
  // The report has no footer: its totals are those of the rows read, which the importer checks against the lines it
  // stored (a row lost or altered between the two would show).
  const totals: Required<ControlTotals> = { count: 0, paymentCount: 0, refundCount: 0, paymentAmount: 0, refundAmount: 0, feeMilli: 0 }
  let done = false
  async function* lines(): AsyncGenerator<StatementLine> {
    let p: Plan | null = null
    let width = 0
    for await (const row of csvRows(content, { encoding: 'utf-8' })) {
      if (!p) {
        p = plan(row.cells.map(String), row.lineNo)
        width = row.cells.length
        continue
      }
      if (row.cells.every((c) => c === '')) continue
      // Stripe writes every column on every row: a shorter row is a file cut off (its last cells would read as empty).
      if (row.cells.length < width) throw new StatementFormatError(`the row has ${row.cells.length} values where the header has ${width}: the file is cut off or damaged`, row.lineNo)
      const { line, payout } = toLine(row.lineNo, row.cells as string[], p, timeZone, keys)
      if (day && (line.occurredAt < day.start || line.occurredAt >= day.end)) {
        if (!payout) {
          throw new StatementFormatError(
            `${line.occurredAt.toISOString()} is outside ${opts.businessDate} in ${timeZone} and the row names no automatic payout: upload the report of that day, cut in ${timeZone}, for the day it belongs to`,
            row.lineNo,
          )
        }
        members.push({ payoutRef: payout, kind: line.kind, channelTxnId: line.channelTxnId ?? null, channelRefundId: line.channelRefundId ?? null, amount: line.amount })
        continue
      }
      totals.count++
      if (line.kind === 'payment') {
        totals.paymentCount++
        totals.paymentAmount += line.amount
      } else if (line.kind === 'refund') {
        totals.refundCount++
        totals.refundAmount += line.amount
      }
      totals.feeMilli += line.feeMilli
      yield line
    }
    if (!p) throw new StatementFormatError('the file is empty: a Stripe itemized report starts with its header')
    done = true
  }
  return {
    lines: lines(),
    controlTotals: () => (done ? totals : null),
    payoutMembers: () => members,
  }
}

function toLine(lineNo: number, cells: string[], p: Plan, timeZone: string, keys: RefKeys): { line: StatementLine; payout: string | null } {
  const get = (c: Column) => (p.at[c] === undefined ? '' : (cells[p.at[c]!] ?? '').trim())
  const opt = (c: Column) => get(c) || null
  const fail = (message: string): never => {
    throw new StatementFormatError(message, lineNo)
  }
  const id = get('balance_transaction_id')
  if (!/^txn_\w+$/.test(id)) fail(`balance_transaction_id "${id}" is not a balance transaction id (txn_…)`)
  const category = get('reporting_category')
  if (!category) fail(`${id}: reporting_category is empty`)
  const currency = get('currency').toLowerCase()
  if (!/^[a-z]{3}$/.test(currency)) fail(`${id}: currency "${get('currency')}" is not a currency code`)
  const scale = decimalsOf(currency.toUpperCase(), lineNo)
  const money = (c: 'gross' | 'fee' | 'net') => {
    const text = get(c)
    const v = parseScaled(text, scale)
    if (v === null) return fail(`${id}: ${c} "${text}" is not an amount in ${currency.toUpperCase()} with at most ${scale} decimal${scale === 1 ? '' : 's'} (the report's amounts are in major units)`)
    return v
  }
  const gross = money('gross')
  const fee = money('fee')
  if (p.at.net !== undefined && get('net') !== '') {
    const net = money('net')
    if (net !== gross - fee) fail(`${id}: net ${get('net')} is not gross ${get('gross')} minus fee ${get('fee')}`)
  }
  const created = readTime(cells[p.time.at] ?? '', p.time.utc, timeZone)
  if (!created) fail(`${id}: ${p.time.utc ? 'created_utc' : 'created'} "${cells[p.time.at] ?? ''}" is not a time as yyyy-MM-dd HH:mm:ss`)

  const meta = (cols: [string, number][]) => {
    const out: Record<string, string> = {}
    for (const [k, i] of cols) if (cells[i]) out[k] = cells[i]!
    return out
  }
  const paymentMeta = meta(p.paymentMeta)
  const paymentIntent = opt('payment_intent_id')
  const charge = opt('charge_id')
  const sourceId = opt('source_id')
  // The source the API would have expanded: a refund's own id and metadata; a charge's, with its payment's metadata.
  // An absent id is '' here, which the line then carries as null.
  let source: StripeSourceSummary | null
  if (category === 'refund') source = { id: sourceId ?? '', object: 'refund', payment_intent: paymentIntent, charge, metadata: meta(p.refundMeta) }
  else if (category === 'payout') source = sourceId ? { id: sourceId, object: 'payout' } : null
  else if (sourceId || charge || paymentIntent) source = { id: sourceId ?? charge ?? '', object: 'charge', payment_intent: paymentIntent, charge, metadata: paymentMeta }
  else source = null
  const t: StripeBalanceTransaction = {
    id,
    object: 'balance_transaction',
    amount: gross,
    fee,
    net: gross - fee,
    currency,
    type: category,
    reporting_category: category,
    created: Math.floor(created!.getTime() / 1000),
    description: opt('description'),
    source,
  }
  const line = toStatementLine(t, lineNo, keys)
  if (line.channelTxnId === '') line.channelTxnId = null
  if (line.channelRefundId === '') line.channelRefundId = null
  if (line.kind === 'refund') {
    // The report names the refunded payment's metadata too, which the API's refund object does not carry.
    const ours = pick(paymentMeta, keys.payment)
    if (ours) line.ourPaymentRef = ours
  }
  const payout = opt('automatic_payout_id')
  if (payout && !/^po_\w+$/.test(payout)) fail(`${id}: automatic_payout_id "${payout}" is not a payout id (po_…)`)
  if (line.kind === 'payout') return { line, payout: null }
  if (payout) line.payoutRef = payout
  return { line, payout }
}

const pick = (m: Record<string, string>, keys: string[]) => {
  for (const k of keys) if (m[k]?.trim()) return m[k]!.trim()
  return null
}

function readTime(text: string, utc: boolean, timeZone: string): Date | null {
  const w = STRIPE_TIME(text) as WallClock | null
  if (!w || !validWallClock(w)) return null
  return utc ? new Date(Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second)) : instantIn(w, timeZone)
}
