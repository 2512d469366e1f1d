// What every accounting connector offers the voucher export (Kingdee, Yonyou U8, QuickBooks Online, Xero, files):
// delivering one balanced voucher under our deterministic reference, finding one delivered before (the duplicate
// guard before a retry), and the target's lock date where it can tell. The vouchers are built by the core
// (src/core/vouchers); a connector only speaks the target's format.
//
// Terms: a *voucher* (记账凭证) is one journal entry: lines of account, 摘要 (summary), dimensions and a debit or a
// credit, Σ debit = Σ credit to the fen. Its *reference* (e.g. `TB-S001-20261120-R1`) is ours, stable across retries
// and new for each revision; the target's own id and number come back as `externalId` and `number`.
import { formatDecimal } from '../../lib/money.ts'
import type { ConnectorContext } from './define.ts'

/** Dimension kinds (辅助核算) in generic terms; each connector maps them to its own slots by its config. */
export type DimensionKind = 'department' | 'customer' | 'supplier' | 'employee' | 'project'

export interface VoucherDocumentLine {
  lineNo: number
  /** 摘要, e.g. `11/20 S001 微信收款`. */
  summary: string
  account: { code: string; name: string }
  /** Dimension values by kind, e.g. { department: 'S001', customer: 'UNIONPAY' }. */
  dimensions: Partial<Record<DimensionKind, string>>
  /** Minor units (fen), ≥ 0; exactly one of debit and credit is non-zero. */
  debit: number
  credit: number
}

export interface VoucherDocument {
  /** Ours, deterministic: the same on every retry of this revision, a new one for the next revision. */
  reference: string
  /** UUID-shaped key derived from the reference, for targets with an idempotency header or request id. */
  idempotencyKey: string
  /**
   * How many times targets of this kind (the merchant's connections to one vendor) refused this voucher, booking
   * nothing: a target whose idempotency key replays a refusal derives a new key from it, and the same key after a lost
   * answer. 0 when never refused.
   */
  refusals?: number
  /** 'daily' (a store's or merchant's day), 'reversal' (红字冲销 of `corrects`), 'difference' (the change since `corrects`). */
  kind: 'daily' | 'reversal' | 'difference'
  /** Posting date YYYY-MM-DD: the business date, or the first open day when that period is closed in the target. */
  date: string
  /** The business day the voucher summarises. */
  businessDate: string
  /** 凭证字, usually 记. */
  word: string
  /** ISO 4217, e.g. CNY. */
  currency: string
  /** The reference of the voucher this one corrects, for reversal and difference vouchers. */
  corrects: string | null
  /** One sentence for the whole voucher (QuickBooks PrivateNote, Xero Narration). */
  narration: string
  store: { id: string; code: string; name: string } | null
  lines: VoucherDocumentLine[]
  /** 附件数. */
  attachments: number
}

export type VoucherExportResult =
  /** Delivered now. */
  | { status: 'exported'; externalId: string; number: string | null; details?: Record<string, unknown> }
  /** The target already holds this reference (an earlier attempt reached it): nothing was posted again. */
  | { status: 'duplicate'; externalId: string; number: string | null; details?: Record<string, unknown> }
  /**
   * The target refused the voucher itself (an account or dimension it does not know, a closed period): retrying the
   * same voucher will not help. Transient failures (network, 5xx, 429, session lost) are thrown as ConnectorError.
   */
  | { status: 'rejected'; reason: 'period_closed' | 'invalid'; code: string; message: string }

type Cap<C, I, O> = (ctx: ConnectorContext<C>, input: I) => Promise<O>

export interface AccountingCapabilities<C> {
  exportVoucher: Cap<C, { voucher: VoucherDocument }, VoucherExportResult>
  /** A voucher delivered before under `reference`, if the target can be asked (Kingdee's duplicate guard). */
  findVoucher?: Cap<C, { reference: string; date: string }, { externalId: string; number: string | null } | null>
  /** The last closed day in the target (Xero lock date, a closed Kingdee/U8 period), if it can tell; null when open. */
  lockDate?: Cap<C, Record<string, never>, string | null>
}

/**
 * Minor units of the voucher's currency as a decimal string with that currency's places ("12.34" and "-0.05" in CNY,
 * "1500" in JPY), exactly: no floating point.
 */
export function minorToDecimal(minor: number, currency: string): string {
  return formatDecimal(minor, currency)
}
