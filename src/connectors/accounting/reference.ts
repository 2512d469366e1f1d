// A voucher's reference (TB-<store>-<yyyymmdd>-R<revision>, a reversal's with -X after it) where a target keeps
// fewer characters: QuickBooks' DocNumber (21), U8's 业务号 (30).
import { createHash } from 'node:crypto'

/**
 * `reference` itself when it fits `max` characters, else its start and a hash of the whole: the same reference always
 * gives the same text (a target finds what it took before), and two references practically never one.
 */
export function fitReference(reference: string, max: number): string {
  if (reference.length <= max) return reference
  return `${reference.slice(0, max - 9)}-${createHash('sha256').update(reference).digest('hex').slice(0, 8)}`
}
