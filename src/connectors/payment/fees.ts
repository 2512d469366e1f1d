// The fee a payment channel's contract says a line costs, which the reconciliation compares with the fee the channel
// charged (fee_diff).
import { mulDivRound } from '../../lib/money.ts'

/**
 * A contracted rate in basis points of the amount (60 = 0.60 %), capped per transaction where the contract caps it
 * (`capMinor`, minor units), in thousandths of a minor unit and unrounded: the channel rounds its own way. A refund
 * gives the fee back (negative). Null without a rate: the connection's fees are then not checked.
 */
export function contractedFeeMilli(line: { kind: string; amount: number }, rateBp: number | undefined, capMinor?: number): number | null {
  if (rateBp === undefined) return null
  if (line.kind !== 'payment' && line.kind !== 'refund') return 0
  // amount × bp / 10 000 in minor units, × 1 000 for thousandths.
  let fee = mulDivRound(line.amount, rateBp, 10)
  if (capMinor !== undefined) fee = Math.min(fee, capMinor * 1000)
  return line.kind === 'refund' ? -fee || 0 : fee
}
