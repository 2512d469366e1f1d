// The shape every channel's statement is parsed into, whatever its file format: integer fen, our reference, the
// channel's id, the time it counts on. Parsers (src/connectors/payment/*) produce these; the importer stores them.

/**
 * `payout_return`: a payout's money back in the channel's balance (the bank refused it: Stripe's payout_failure). No
 * sale's money and no exception: the payout that pays it out again carries it.
 */
export type LineKind = 'payment' | 'refund' | 'fee' | 'payout' | 'payout_return' | 'adjustment'

export interface StatementLine {
  /** 1-based line number in the file (for error messages and the drill-down). */
  lineNo: number
  kind: LineKind
  /** out_trade_no for payments, out_refund_no for refunds: what the till sent. */
  ourRef: string | null
  /** For refunds: the payment's out_trade_no. */
  ourPaymentRef?: string | null
  channelTxnId: string | null
  channelRefundId?: string | null
  /** ISO 4217, upper case. */
  currency: string
  /** Positive integer fen (minor units); a refund's amount is positive too. */
  amount: number
  /** Fee in thousandths of a fen (WeChat prints fees to 5 decimals of a yuan); negative when a fee is returned. */
  feeMilli: number
  /** The channel's status of the line: SUCCESS, REFUND, REVOKED, PROCESSING, … */
  status: string
  occurredAt: Date
  storeRef?: string | null
  terminalRef?: string | null
  rrn?: string | null
  voucherNo?: string | null
  payoutRef?: string | null
}

/** The file's own control totals (its summary row or footer), to be checked against the sum of its rows. */
export interface ControlTotals {
  /** Number of rows the file says it holds, per kind where it says so. */
  count?: number
  paymentCount?: number
  refundCount?: number
  /** Sums in fen (fees in thousandths of a fen) as the file states them. */
  paymentAmount?: number
  refundAmount?: number
  feeMilli?: number
}

/** A statement being parsed: its lines, as a stream, then the file's control totals once the stream has ended. */
/**
 * A transaction a payout paid out, by the channel's own ids (the payment intent, the refund) and its amount as its
 * line has it: a dispute and the reversal of it share their source, not their amount.
 */
export interface PayoutMember {
  payoutRef: string
  kind: LineKind
  channelTxnId: string | null
  channelRefundId: string | null
  amount: number
}

export interface ParsedStatement {
  lines: AsyncIterable<StatementLine>
  /** Resolves after `lines` is exhausted. */
  controlTotals(): ControlTotals | null
  /**
   * The transactions the file's payouts paid out, where the channel lists them (Stripe's automatic payouts): their
   * lines, imported on the days they happened, are stamped with the payout, whose deposit is then checked against
   * their net. Resolves after `lines` is exhausted.
   */
  payoutMembers?(): PayoutMember[]
}

/** A malformed file: refused as a whole, with the line where it went wrong. */
export class StatementFormatError extends Error {
  readonly lineNo: number | null
  constructor(message: string, lineNo: number | null = null) {
    super(lineNo ? `line ${lineNo}: ${message}` : message)
    this.name = 'StatementFormatError'
    this.lineNo = lineNo
  }
}
