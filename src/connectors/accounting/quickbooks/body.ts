// The request body of a voucher, shared by the QuickBooks and Xero connectors: amounts written as exact decimal
// literals, and the idempotency key the vendor sees, derived from our key and the body itself.
import { nameUuid } from '../../../lib/ids.ts'
import { minorToDecimal, type VoucherDocument } from '../../framework/accounting.ts'

const MARK = '\u0000decimal:'

/**
 * An amount that serialises as a bare JSON number with exactly the currency's decimals ("1777.69", "-5.79" in CNY,
 * "1500" in JPY), never a float.
 */
export interface Decimal {
  readonly decimal: string
  toJSON(): string
}

export function decimal(minor: number, currency: string): Decimal {
  const text = minorToDecimal(minor, currency)
  return { decimal: text, toJSON: () => `${MARK}${text}` }
}

/** JSON.stringify, with every Decimal written as its literal. */
export function stringifyWithDecimals(value: unknown): string {
  return JSON.stringify(value).replace(/"\\u0000decimal:(-?\d+(?:\.\d+)?)"/g, '$1')
}

/**
 * The key sent as QuickBooks `requestid` / Xero `Idempotency-Key`: UUID-shaped (36 characters, within both limits) and
 * derived from the voucher's idempotency key, the exact body and how many times the vendor has refused it. A retry
 * after a lost answer (a timeout, a 5xx: the vendor may have booked it) sends the same key and gets the original
 * answer. Both vendors replay a refusal under its key too, so once the vendor has refused a voucher (a closed period,
 * an inactive account: nothing was booked) the next attempt sends a new key, or a voucher fixed at the vendor could
 * never go. The same reference sent with a changed body (re-dated, an account remapped) gets a new key as well, since
 * Xero refuses a key reused for a different request. Posting a reference twice is prevented by the lookup before
 * every post, not by the key.
 */
export function vendorIdempotencyKey(idempotencyKey: string, body: string, refusals = 0): string {
  return nameUuid(refusals ? `${idempotencyKey}\n${body}\nrefused ${refusals}` : `${idempotencyKey}\n${body}`)
}

/**
 * What makes a voucher unfit to send, checked before any call: the core builds balanced vouchers, so this is a guard
 * against a broken one reaching a ledger, not a validation a merchant should ever meet.
 */
export function voucherProblem(voucher: VoucherDocument): { code: string; message: string } | null {
  if (voucher.lines.length < 2) return { code: 'too_few_lines', message: `voucher ${voucher.reference} has ${voucher.lines.length} line(s); a journal needs at least two` }
  let debit = 0
  let credit = 0
  for (const line of voucher.lines) {
    for (const amount of [line.debit, line.credit]) {
      if (!Number.isSafeInteger(amount) || amount < 0) return { code: 'bad_amount', message: `line ${line.lineNo} of ${voucher.reference} has an amount that is not a whole non-negative number of minor units` }
    }
    if ((line.debit === 0) === (line.credit === 0)) return { code: 'one_side_per_line', message: `line ${line.lineNo} of ${voucher.reference} must have exactly one of debit and credit` }
    debit += line.debit
    credit += line.credit
  }
  if (debit !== credit) return { code: 'unbalanced', message: `voucher ${voucher.reference} does not balance: debit ${minorToDecimal(debit, voucher.currency)}, credit ${minorToDecimal(credit, voucher.currency)}` }
  return null
}

/** The marker our vouchers carry at the start of QuickBooks PrivateNote and Xero Narration. */
export const referenceMarker = (reference: string) => `[${reference}]`
