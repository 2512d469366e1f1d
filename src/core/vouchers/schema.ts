// Daily accounting vouchers (记账凭证): the merchant's account mapping, the vouchers built from the ledgers with
// their lines, the records each voucher summarises (for drill-down), and every delivery to a finance target.
//
// Terms: a *revision* is one build of a (store, business day) that was kept; the *reference* names it for targets
// (`TB-S001-20261120-R1`). A voucher is immutable once exported: its lines are append-only, and a change to its
// day produces a correcting voucher (a reversal and a new revision, or a difference voucher).
import { sql } from 'drizzle-orm'
import { bigint, boolean, date, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, timestamptz, updatedAt } from '../../db/columns.ts'
import { stores } from '../stores/schema.ts'

/** One account of the mapping: a line key (`tender:wechat`, `revenue`, `vat:1300`, …) to an account and dimensions. */
export const voucherAccounts = pgTable(
  'voucher_accounts',
  {
    id: id(),
    merchantId: merchantId(),
    /** Null: the merchant's mapping; set: this store's override. */
    storeId: uuid('store_id').references(() => stores.id),
    key: text('key').notNull(),
    code: text('code').notNull(),
    name: text('name').notNull(),
    /** Fixed dimension values for lines on this account (e.g. { customer: 'UNIONPAY' }). */
    dimensions: jsonb('dimensions').$type<Record<string, string>>().notNull().default({}),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('voucher_accounts_key').on(t.merchantId, sql`coalesce(${t.storeId}, '00000000-0000-0000-0000-000000000000'::uuid)`, t.key)],
)

export type VoucherKind = 'daily' | 'reversal' | 'difference'
export type VoucherStatus = 'built' | 'exported' | 'corrected' | 'superseded' | 'blocked'

export const vouchers = pgTable(
  'vouchers',
  {
    id: id(),
    merchantId: merchantId(),
    /** Null for a merchant-wide voucher (grouping 'merchant'). */
    storeId: uuid('store_id').references(() => stores.id),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    /** Revision of the day's daily voucher this one is or corrects. */
    revision: integer('revision').notNull(),
    kind: text('kind').$type<VoucherKind>().notNull(),
    status: text('status').$type<VoucherStatus>().notNull(),
    reference: text('reference').notNull(),
    /** The voucher this one corrects (reversal, difference) and, on an original, the one that corrected it. */
    correctsId: uuid('corrects_id'),
    correctedById: uuid('corrected_by_id'),
    postingDate: date('posting_date', { mode: 'string' }).notNull(),
    word: text('word').notNull(),
    currency: text('currency').notNull(),
    narration: text('narration').notNull(),
    totalDebit: money('total_debit').notNull(),
    totalCredit: money('total_credit').notNull(),
    /** The remainder put on the rounding account, in minor units (0 when the sources balanced by themselves). */
    rounding: money('rounding').notNull().default(0),
    /** Why it cannot be exported (accounts missing from the mapping), listed. */
    problems: jsonb('problems').$type<{ code: string; message: string; key?: string }[]>().notNull().default([]),
    /** SHA-256 over its lines: a rebuild with the same lines is the same voucher. */
    fingerprint: text('fingerprint').notNull(),
    createdAt: createdAt(),
    exportedAt: timestamptz('exported_at'),
  },
  (t) => [
    uniqueIndex('vouchers_reference_key').on(t.merchantId, t.reference),
    index('vouchers_day_idx').on(t.merchantId, t.businessDate, t.storeId),
  ],
)

/** Append-only (a trigger refuses UPDATE and DELETE): what was built is what was exported. */
export const voucherLines = pgTable(
  'voucher_lines',
  {
    voucherId: uuid('voucher_id')
      .notNull()
      .references(() => vouchers.id),
    lineNo: integer('line_no').notNull(),
    merchantId: merchantId(),
    /** What the line summarises (sale_revenue, tender, cogs, …) and its group (tax rate, tender, channel). */
    kind: text('kind').notNull(),
    group: jsonb('group').$type<Record<string, string | number>>().notNull(),
    accountKey: text('account_key').notNull(),
    accountCode: text('account_code').notNull(),
    accountName: text('account_name').notNull(),
    dimensions: jsonb('dimensions').$type<Record<string, string>>().notNull(),
    summary: text('summary').notNull(),
    debit: money('debit').notNull(),
    credit: money('credit').notNull(),
  },
  (t) => [primaryKey({ columns: [t.voucherId, t.lineNo] })],
)

/** The source records a daily voucher summarises, by kind (sale, refund, topup, session, recon item), for drill-down. */
export const voucherSources = pgTable('voucher_sources', {
  voucherId: uuid('voucher_id')
    .primaryKey()
    .references(() => vouchers.id),
  sales: uuid('sales').array().notNull(),
  refunds: uuid('refunds').array().notNull(),
  topups: uuid('topups').array().notNull(),
  refundedTopups: uuid('refunded_topups').array().notNull(),
  sessions: uuid('sessions').array().notNull(),
  reconItems: uuid('recon_items').array().notNull(),
  settlementAdjustments: uuid('settlement_adjustments').array().notNull().default(sql`'{}'::uuid[]`),
  /** Paid-ins and paid-outs (cash_movements ids). */
  cashMovements: bigint('cash_movements', { mode: 'number' }).array().notNull().default(sql`'{}'::bigint[]`),
  /** Stored-value corrections by hand (stored_value_ledger ids). */
  storedValueAdjustments: bigint('stored_value_adjustments', { mode: 'number' }).array().notNull().default(sql`'{}'::bigint[]`),
})

export type ExportStatus = 'pending' | 'exported' | 'duplicate' | 'rejected' | 'failed'

export const voucherExports = pgTable(
  'voucher_exports',
  {
    id: id(),
    merchantId: merchantId(),
    voucherId: uuid('voucher_id')
      .notNull()
      .references(() => vouchers.id),
    connectionId: uuid('connection_id').notNull(),
    status: text('status').$type<ExportStatus>().notNull(),
    externalId: text('external_id'),
    externalNumber: text('external_number'),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    /** 'period_closed' | 'invalid' for a refusal by the target. */
    rejectReason: text('reject_reason'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    exportedAt: timestamptz('exported_at'),
    /** Being sent until then (a lease): another export of it waits for what that delivery comes to. */
    sendingUntil: timestamptz('sending_until'),
    /** The last attempt went out without a clear answer (no reply, a timeout, a 500): the voucher may be at the target. */
    unanswered: boolean('unanswered').notNull().default(false),
    /**
     * How many times the target refused the voucher (nothing booked): a target's idempotency key derived from it is
     * the same after a lost answer and a new one after a refusal, which the target would otherwise replay.
     */
    refusals: integer('refusals').notNull().default(0),
  },
  (t) => [uniqueIndex('voucher_exports_key').on(t.voucherId, t.connectionId), index('voucher_exports_merchant_idx').on(t.merchantId, t.status)],
)
