// Sales with their lines, discounts (adjustments) and tenders; refunds; promotions; cash sessions and the cash ledger.
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, date, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, timestamptz, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'
import { products, variants } from '../catalog/schema.ts'
import { registers, stockLocations, stores } from '../stores/schema.ts'

const qty = (name: string) => bigint(name, { mode: 'number' })

export const cashSessions = pgTable(
  'cash_sessions',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    storeId: uuid('store_id')
      .notNull()
      .references(() => stores.id),
    registerId: uuid('register_id')
      .notNull()
      .references(() => registers.id),
    status: text('status').$type<'open' | 'closed'>().notNull().default('open'),
    /** A rescue session collects offline sales that arrive after their own session closed. */
    rescue: boolean('rescue').notNull().default(false),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    openingFloat: money('opening_float').notNull(),
    openedBy: uuid('opened_by'),
    openedAt: timestamptz('opened_at').notNull(),
    closedBy: uuid('closed_by'),
    closedAt: timestamptz('closed_at'),
    expectedCash: money('expected_cash'),
    countedCash: money('counted_cash'),
    /** counted − expected: positive is over, negative is short. */
    overShort: money('over_short'),
    denominations: jsonb('denominations').$type<Record<string, number>>(),
    note: text('note'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('cash_sessions_one_open_key').on(t.registerId).where(sql`${t.status} = 'open' and not ${t.rescue}`),
    index('cash_sessions_store_idx').on(t.merchantId, t.storeId, t.businessDate),
  ],
)

export type CashMovementKind = 'float' | 'sale' | 'refund' | 'void' | 'paid_in' | 'paid_out' | 'topup' | 'topup_refund'

/** The cash drawer's ledger (append-only): expected cash is its sum. */
export const cashMovements = pgTable(
  'cash_movements',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId().references(() => merchants.id),
    sessionId: uuid('session_id')
      .notNull()
      .references(() => cashSessions.id),
    kind: text('kind').$type<CashMovementKind>().notNull(),
    amount: money('amount').notNull(),
    reason: text('reason'),
    saleId: uuid('sale_id'),
    refundId: uuid('refund_id'),
    actorId: uuid('actor_id'),
    approverId: uuid('approver_id'),
    at: timestamptz('at').notNull(),
    /** The business day of `at`, fixed when it happened (a later change of the merchant's time zone moves nothing). */
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    recordedAt: createdAt(),
  },
  (t) => [
    index('cash_movements_session_idx').on(t.sessionId),
    // The day's paid-ins and paid-outs, for its voucher.
    index('cash_movements_paid_idx').on(t.merchantId, t.businessDate).where(sql`kind in ('paid_in', 'paid_out')`),
  ],
)

/**
 * Receipt numbers run per store and business day, with one counter per register inside it: a till rings its sales
 * one after another, so concurrent sales at different tills never wait on each other's counter.
 */
export const receiptSequences = pgTable(
  'receipt_sequences',
  {
    merchantId: merchantId(),
    storeId: uuid('store_id').notNull(),
    registerId: uuid('register_id').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    kind: text('kind').$type<'sale' | 'refund' | 'topup'>().notNull(),
    lastSeq: integer('last_seq').notNull(),
  },
  (t) => [uniqueIndex('receipt_sequences_key').on(t.registerId, t.businessDate, t.kind)],
)

export type PromotionKind = 'percent_off' | 'amount_off' | 'fixed_price' | 'buy_x_get_y' | 'spend_threshold' | 'bundle'

export const promotions = pgTable(
  'promotions',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    name: text('name').notNull(),
    kind: text('kind').$type<PromotionKind>().notNull(),
    /** 'item' promotions act on each eligible line, 'order' promotions on the eligible lines together. */
    level: text('level').$type<'item' | 'order'>().notNull(),
    /** Kind-specific parameters, validated by the zod schema in promotions.ts. */
    params: jsonb('params').$type<Record<string, unknown>>().notNull(),
    /** Which lines are eligible: empty lists mean all. */
    productIds: jsonb('product_ids').$type<string[]>().notNull().default([]),
    variantIds: jsonb('variant_ids').$type<string[]>().notNull().default([]),
    categoryIds: jsonb('category_ids').$type<string[]>().notNull().default([]),
    storeIds: jsonb('store_ids').$type<string[]>().notNull().default([]),
    startsAt: timestamptz('starts_at'),
    endsAt: timestamptz('ends_at'),
    priority: integer('priority').notNull().default(100),
    /** An exclusive promotion, when it applies, keeps every other promotion off the lines it covers. */
    exclusive: boolean('exclusive').notNull().default(false),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('promotions_merchant_idx').on(t.merchantId, t.active)],
)

export const sales = pgTable(
  'sales',
  {
    /** Assigned by the hub, or by the till for sales made offline (a UUID that doubles as the idempotency key). */
    id: uuid('id').primaryKey(),
    merchantId: merchantId().references(() => merchants.id),
    storeId: uuid('store_id')
      .notNull()
      .references(() => stores.id),
    registerId: uuid('register_id')
      .notNull()
      .references(() => registers.id),
    sessionId: uuid('session_id').references(() => cashSessions.id),
    receiptNo: text('receipt_no').notNull(),
    clientReceiptNo: text('client_receipt_no'),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    status: text('status').$type<'completed' | 'voided'>().notNull().default('completed'),
    currency: text('currency').notNull(),
    taxInclusive: boolean('tax_inclusive').notNull(),
    /** Sum of line amounts before discounts. */
    grossTotal: money('gross_total').notNull(),
    discountTotal: money('discount_total').notNull(),
    taxTotal: money('tax_total').notNull(),
    /** What the customer owes before cash rounding: Σ line totals. */
    total: money('total').notNull(),
    /** Cash rounding (抹零): added to `total` to get the amount due (negative rounds down). */
    roundingAdjustment: money('rounding_adjustment').notNull().default(0),
    /** Tenders applied minus the amount due; non-zero only for offline sales whose till disagreed with the hub. */
    tenderDifference: money('tender_difference').notNull().default(0),
    changeGiven: money('change_given').notNull().default(0),
    cashierId: uuid('cashier_id'),
    cashierType: text('cashier_type').$type<'user' | 'api_key' | 'system'>().notNull(),
    memberId: uuid('member_id'),
    /** Points the member earned and spent with this sale (a redemption is a discount on the lines). */
    pointsEarned: bigint('points_earned', { mode: 'number' }).notNull().default(0),
    pointsRedeemed: bigint('points_redeemed', { mode: 'number' }).notNull().default(0),
    /** A manager who approved something beyond the cashier's permissions (a discount over the limit, say). */
    approverId: uuid('approver_id'),
    /** For on-account (挂账) tenders: the customer who owes. */
    customerName: text('customer_name'),
    note: text('note'),
    offline: boolean('offline').notNull().default(false),
    occurredAt: timestamptz('occurred_at').notNull(),
    recordedAt: createdAt(),
    requestHash: text('request_hash'),
    voidedAt: timestamptz('voided_at'),
    voidedBy: uuid('voided_by'),
    voidReason: text('void_reason'),
  },
  (t) => [
    uniqueIndex('sales_receipt_key').on(t.storeId, t.receiptNo),
    index('sales_merchant_day_idx').on(t.merchantId, t.businessDate, t.storeId),
    // The sales list, newest first by when each sale was made (an offline sale keeps the till's own id).
    index('sales_merchant_time_idx').on(t.merchantId, t.occurredAt, t.id),
    index('sales_session_idx').on(t.sessionId),
  ],
)

export const saleLines = pgTable(
  'sale_lines',
  {
    id: id(),
    merchantId: merchantId(),
    saleId: uuid('sale_id')
      .notNull()
      .references(() => sales.id),
    lineNo: integer('line_no').notNull(),
    variantId: uuid('variant_id')
      .notNull()
      .references(() => variants.id),
    productId: uuid('product_id')
      .notNull()
      .references(() => products.id),
    sku: text('sku').notNull(),
    name: text('name').notNull(),
    categoryId: uuid('category_id'),
    locationId: uuid('location_id')
      .notNull()
      .references(() => stockLocations.id),
    quantity: qty('quantity').notNull(),
    unit: text('unit').notNull(),
    unitPrice: money('unit_price').notNull(),
    pricePer: integer('price_per').notNull(),
    /** The catalog price when it was overridden at the till. */
    listPrice: money('list_price'),
    gross: money('gross').notNull(),
    discountTotal: money('discount_total').notNull(),
    /** Amount after discounts, excluding tax. */
    netExTax: money('net_ex_tax').notNull(),
    taxCategoryId: uuid('tax_category_id').notNull(),
    taxRateBp: integer('tax_rate_bp').notNull(),
    taxAmount: money('tax_amount').notNull(),
    /** What the customer pays for this line (tax included). */
    total: money('total').notNull(),
    unitCost: money('unit_cost').notNull(),
    refundedQuantity: qty('refunded_quantity').notNull().default(0),
  },
  (t) => [
    index('sale_lines_sale_idx').on(t.saleId),
    index('sale_lines_variant_idx').on(t.merchantId, t.variantId),
    check('sale_lines_refunded_check', sql`${t.refundedQuantity} >= 0 and ${t.refundedQuantity} <= ${t.quantity}`),
  ],
)

export type AdjustmentSource = 'promotion' | 'manual' | 'tier' | 'coupon' | 'points'

/** A discount on a line, with where it came from; order-level discounts appear here spread over lines. */
export const saleAdjustments = pgTable(
  'sale_adjustments',
  {
    id: id(),
    merchantId: merchantId(),
    saleId: uuid('sale_id')
      .notNull()
      .references(() => sales.id),
    lineId: uuid('line_id')
      .notNull()
      .references(() => saleLines.id),
    source: text('source').$type<AdjustmentSource>().notNull(),
    sourceId: text('source_id'),
    label: text('label').notNull(),
    amount: money('amount').notNull(),
  },
  (t) => [index('sale_adjustments_sale_idx').on(t.saleId)],
)

export type TenderKind = 'cash' | 'card' | 'wechat' | 'alipay' | 'unionpay_qr' | 'coupon_voucher' | 'on_account' | 'stored_value' | 'points'

export const saleTenders = pgTable(
  'sale_tenders',
  {
    id: id(),
    merchantId: merchantId(),
    saleId: uuid('sale_id')
      .notNull()
      .references(() => sales.id),
    kind: text('kind').$type<TenderKind>().notNull(),
    /** Amount applied to the sale (after change for cash). */
    amount: money('amount').notNull(),
    /** Cash handed over by the customer. */
    received: money('received'),
    /** The merchant-side payment number sent to the channel (out_trade_no / 商户订单号). */
    paymentNo: text('payment_no'),
    /** The channel's own transaction id, when known. */
    channelTxnId: text('channel_txn_id'),
    /** Card details from the terminal: rrn, auth code, terminal id, masked PAN. */
    reference: jsonb('reference').$type<Record<string, string>>(),
    /** Stored-value card, coupon code or member reference for those tenders. */
    accountRef: text('account_ref'),
    /** For stored-value tenders: how much came out of principal and how much out of bonus. */
    storedPrincipal: money('stored_principal'),
    storedBonus: money('stored_bonus'),
    refundedAmount: money('refunded_amount').notNull().default(0),
    status: text('status').$type<'captured' | 'voided'>().notNull().default('captured'),
  },
  (t) => [
    index('sale_tenders_sale_idx').on(t.saleId),
    uniqueIndex('sale_tenders_payment_no_key').on(t.merchantId, t.paymentNo).where(sql`${t.paymentNo} is not null`),
    index('sale_tenders_channel_idx').on(t.merchantId, t.channelTxnId).where(sql`${t.channelTxnId} is not null`),
    check('sale_tenders_refunded_check', sql`${t.refundedAmount} >= 0 and ${t.refundedAmount} <= ${t.amount}`),
  ],
)

export const refunds = pgTable(
  'refunds',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    saleId: uuid('sale_id')
      .notNull()
      .references(() => sales.id),
    storeId: uuid('store_id').notNull(),
    registerId: uuid('register_id').notNull(),
    sessionId: uuid('session_id'),
    refundNo: text('refund_no').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    /** 'refund' for a return; 'void' for the reversal of a whole sale. */
    kind: text('kind').$type<'refund' | 'void'>().notNull().default('refund'),
    reason: text('reason'),
    total: money('total').notNull(),
    taxTotal: money('tax_total').notNull(),
    createdBy: uuid('created_by'),
    approvedBy: uuid('approved_by'),
    occurredAt: timestamptz('occurred_at').notNull(),
    recordedAt: createdAt(),
  },
  (t) => [index('refunds_sale_idx').on(t.saleId), index('refunds_merchant_day_idx').on(t.merchantId, t.businessDate, t.storeId), uniqueIndex('refunds_no_key').on(t.storeId, t.refundNo)],
)

export const refundLines = pgTable(
  'refund_lines',
  {
    id: id(),
    merchantId: merchantId(),
    refundId: uuid('refund_id')
      .notNull()
      .references(() => refunds.id),
    saleLineId: uuid('sale_line_id')
      .notNull()
      .references(() => saleLines.id),
    quantity: qty('quantity').notNull(),
    amount: money('amount').notNull(),
    taxAmount: money('tax_amount').notNull(),
    /** Back on the shelf (a return movement), or written off. */
    restock: boolean('restock').notNull(),
    locationId: uuid('location_id'),
  },
  (t) => [index('refund_lines_refund_idx').on(t.refundId), check('refund_lines_qty_check', sql`${t.quantity} > 0`)],
)

export const refundTenders = pgTable(
  'refund_tenders',
  {
    id: id(),
    merchantId: merchantId(),
    refundId: uuid('refund_id')
      .notNull()
      .references(() => refunds.id),
    saleTenderId: uuid('sale_tender_id').references(() => saleTenders.id),
    kind: text('kind').$type<TenderKind>().notNull(),
    amount: money('amount').notNull(),
    /** The merchant-side refund number sent to the channel (out_refund_no / 商户退款单号). */
    refundNo: text('refund_no'),
    channelRefundId: text('channel_refund_id'),
    accountRef: text('account_ref'),
    storedPrincipal: money('stored_principal'),
    storedBonus: money('stored_bonus'),
  },
  (t) => [
    index('refund_tenders_refund_idx').on(t.refundId),
    uniqueIndex('refund_tenders_refund_no_key').on(t.merchantId, t.refundNo).where(sql`${t.refundNo} is not null`),
  ],
)

/** Offline sales the hub could not record (an unknown SKU, say): kept, never dropped, until someone fixes them. */
export const saleRejections = pgTable(
  'sale_rejections',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    clientSaleId: uuid('client_sale_id').notNull(),
    registerId: uuid('register_id'),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    code: text('code').notNull(),
    reason: text('reason').notNull(),
    resolved: boolean('resolved').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('sale_rejections_client_key').on(t.merchantId, t.clientSaleId)],
)
