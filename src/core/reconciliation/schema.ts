// Settlement reconciliation: the channel's statements as received, their normalised lines, and the result of
// matching them against the till's tenders, with every exception's resolution on record.
import { sql } from 'drizzle-orm'
import { bigint, boolean, customType, date, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, timestamptz, updatedAt } from '../../db/columns.ts'

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' })

/** One settlement file (or API pull) for a connection and business date. */
export const settlementStatements = pgTable(
  'settlement_statements',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    /** The channel's layout: 'wechat_trade', 'wechat_fundflow', 'alipay_trade', 'unionpay_inn', 'allinpay', 'stripe_balance', 'stripe_itemized', 'mapped'. */
    format: text('format').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    source: text('source').notNull(), // 'fetched' | 'uploaded'
    fileName: text('file_name'),
    /** SHA-256 of the original bytes as received; re-imports of the same file are recognised by it. */
    fileSha256: text('file_sha256').notNull(),
    sizeBytes: bigint('size_bytes', { mode: 'number' }).notNull(),
    /** 'imported' | 'rejected' | 'superseded' | 'empty' (the channel had no transactions that day) */
    status: text('status').notNull(),
    rejectReason: text('reject_reason'),
    lineCount: integer('line_count').notNull().default(0),
    /** The file's own control totals and ours over its rows. */
    controlTotals: jsonb('control_totals').$type<Record<string, unknown>>(),
    /**
     * Our payment numbers that may be on more than one payment line of the file, found by the import in fixed memory
     * (src/lib/repeats.ts): every repeated one, and rarely one that is not. Null when not known (a statement imported
     * before they were recorded, or a file with too many to list): a run then counts them itself.
     */
    repeatedRefs: text('repeated_refs').array(),
    createdBy: uuid('created_by'),
    createdAt: createdAt(),
  },
  (t) => [
    index('settlement_statements_day_idx').on(t.connectionId, t.businessDate),
    uniqueIndex('settlement_statements_file_key').on(t.connectionId, t.businessDate, t.format, t.fileSha256),
  ],
)

export const statementFiles = pgTable('statement_files', {
  statementId: uuid('statement_id').primaryKey().references(() => settlementStatements.id),
  contentType: text('content_type').notNull(),
  content: bytea('content').notNull(),
})

/** A channel line in our terms: integer fen, our reference, the channel's id, the time it counts on. */
export const settlementLines = pgTable(
  'settlement_lines',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    statementId: uuid('statement_id').notNull(),
    connectionId: uuid('connection_id').notNull(),
    /** The statement's business date, written into every line by the import: a run finds a window's lines by statement. */
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    lineNo: integer('line_no').notNull(),
    /** 'payment' | 'refund' | 'fee' | 'payout' | 'adjustment' */
    kind: text('kind').notNull(),
    /** What the till sent: out_trade_no for payments, out_refund_no for refunds. */
    ourRef: text('our_ref'),
    /** For a refund, the payment's out_trade_no. */
    ourPaymentRef: text('our_payment_ref'),
    channelTxnId: text('channel_txn_id'),
    channelRefundId: text('channel_refund_id'),
    currency: text('currency').notNull(),
    /** Positive fen; refunds positive too (their kind says the direction). */
    amount: money('amount').notNull(),
    /** The fee in thousandths of a fen (WeChat prints 5 decimals of a yuan); negative when returned on a refund. */
    feeMilli: bigint('fee_milli', { mode: 'number' }).notNull().default(0),
    status: text('status').notNull(),
    occurredAt: timestamptz('occurred_at').notNull(),
    storeRef: text('store_ref'),
    terminalRef: text('terminal_ref'),
    /** Card slips: retrieval reference number, voucher/trace, batch. */
    rrn: text('rrn'),
    voucherNo: text('voucher_no'),
    payoutRef: text('payout_ref'),
  },
  (t) => [
    // A statement's lines: written by one COPY in the order of their (time-ordered) statement ids, so a block range
    // holds one statement or a few, and the index costs next to nothing to keep up (a btree of a million entries cost
    // 0.8 s of a million-line import).
    index('settlement_lines_statement_brin').using('brin', t.statementId).with({ autosummarize: true }),
    // Our payment and refund numbers: rivals of a clean pair, the lines a hand resolution moves to.
    index('settlement_lines_ref_idx').on(t.merchantId, t.ourRef),
  ],
)

/**
 * The transactions a statement's payouts paid out, as the channel listed them (Stripe's automatic payouts), kept with
 * the statement: a day imported after the payout's day (its download failed and came in later) finds here the payout
 * its lines belong to.
 */
export const settlementPayoutMembers = pgTable(
  'settlement_payout_members',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    statementId: uuid('statement_id')
      .notNull()
      .references(() => settlementStatements.id),
    connectionId: uuid('connection_id').notNull(),
    /** The payout statement's business date. */
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    payoutRef: text('payout_ref').notNull(),
    /** The member line's kind: 'payment' | 'refund' | 'fee' | 'adjustment' */
    kind: text('kind').notNull(),
    channelTxnId: text('channel_txn_id'),
    channelRefundId: text('channel_refund_id'),
    /** The member's line's amount (null: kept before it was). */
    amount: bigint('amount', { mode: 'number' }),
  },
  (t) => [index('settlement_payout_members_day_idx').on(t.connectionId, t.businessDate), index('settlement_payout_members_statement_idx').on(t.statementId)],
)

/** One reconciliation of a connection's business date. */
export const reconRuns = pgTable(
  'recon_runs',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    /** 'balanced' | 'exceptions' | 'not_ready' | 'fetch_failed' | 'running' */
    status: text('status').notNull(),
    statementIds: uuid('statement_ids').array().notNull(),
    counts: jsonb('counts').$type<Record<string, number>>().notNull().default({}),
    totals: jsonb('totals').$type<Record<string, number>>().notNull().default({}),
    error: text('error'),
    startedAt: timestamptz('started_at').notNull(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [index('recon_runs_day_idx').on(t.connectionId, t.businessDate, t.startedAt)],
)

/**
 * The outcome for one POS tender and/or one channel line: matched, or an exception of a kind. Automatic rows are
 * replaced by a re-run; rows a person resolved (`manual`) are kept, and their lines stay taken.
 */
export const reconItems = pgTable(
  'recon_items',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    runId: uuid('run_id').notNull(),
    /** 'matched' | 'missing_in_channel' | 'missing_in_pos' | 'amount_diff' | 'fee_diff' | 'status_diff' | 'duplicate' | 'timing' | 'currency_diff' | 'unknown_merchant_ref' */
    outcome: text('outcome').notNull(),
    /** 'auto' (matched), 'open', 'resolved' */
    state: text('state').notNull(),
    manual: boolean('manual').notNull().default(false),
    posKind: text('pos_kind'), // 'sale_tender' | 'refund_tender' | 'topup_tender'
    posId: uuid('pos_id'),
    posRef: text('pos_ref'),
    lineId: bigint('line_id', { mode: 'number' }),
    storeId: uuid('store_id'),
    currency: text('currency').notNull(),
    posAmount: money('pos_amount'),
    channelAmount: money('channel_amount'),
    difference: money('difference').notNull().default(0),
    expectedFeeMilli: bigint('expected_fee_milli', { mode: 'number' }),
    channelFeeMilli: bigint('channel_fee_milli', { mode: 'number' }),
    carriedDays: integer('carried_days').notNull().default(0),
    resolution: text('resolution'),
    resolutionNote: text('resolution_note'),
    resolvedBy: uuid('resolved_by'),
    resolvedAt: timestamptz('resolved_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // A connection's day of exceptions and hand-resolved items: what the exception lists and the dashboard's day (its
    // hand matches) look up. Automatic matches (nearly every item, a million on a big day) are left out: a run finds
    // them by their line or tender, and summaries read them with the rest of the day, by date.
    index('recon_items_exceptions_idx')
      .on(t.connectionId, t.businessDate, t.outcome)
      .where(sql`${t.outcome} <> 'matched' or ${t.manual}`),
    // Every item by date (summaries, the vouchers' fees): items are written day by day, so a block range holds few
    // dates and the index costs next to nothing to keep up.
    index('recon_items_date_brin').using('brin', t.businessDate).with({ autosummarize: true }),
    index('recon_items_open_idx').on(t.merchantId, t.state).where(sql`${t.state} = 'open'`),
    uniqueIndex('recon_items_line_key').on(t.lineId).where(sql`${t.lineId} is not null`),
    uniqueIndex('recon_items_pos_key').on(t.posKind, t.posId).where(sql`${t.posId} is not null and ${t.outcome} <> 'duplicate'`),
  ],
)

/** Append-only history of each item: created, re-classified, resolved, reopened — who, when, before and after. */
export const reconItemEvents = pgTable(
  'recon_item_events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    itemId: uuid('item_id').notNull(),
    action: text('action').notNull(),
    actorId: uuid('actor_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [index('recon_item_events_item_idx').on(t.itemId, t.id)],
)

/**
 * The correcting records of accepted channel figures: when finance accepts the channel's side of an exception, the
 * difference (the channel's amount less the till's) is booked on the day it was accepted, and taken back by a
 * reversal when the item is reopened. Append-only; the daily voucher books them against the channel's account.
 */
export const settlementAdjustments = pgTable(
  'settlement_adjustments',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    itemId: uuid('item_id').notNull(),
    storeId: uuid('store_id'),
    /** The merchant's business day it is booked on: the day it was accepted (or reopened). */
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    currency: text('currency').notNull(),
    /** The till's tender kind the item is about (null for a channel line the till has nothing of). */
    tenderKind: text('tender_kind'),
    /** Minor units the channel's account moves by beyond the till's booking (a refund's difference turned round); a reversal the opposite. */
    amount: money('amount').notNull(),
    reversal: boolean('reversal').notNull().default(false),
    createdBy: uuid('created_by'),
    createdAt: createdAt(),
  },
  (t) => [index('settlement_adjustments_day_idx').on(t.merchantId, t.businessDate), index('settlement_adjustments_item_idx').on(t.itemId)],
)
