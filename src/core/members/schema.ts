// Members and loyalty: tiers, consents, points (a ledger of lots with expiry), stored value (principal and bonus
// kept apart), coupon templates and coupons, birthday gifts and tier history.
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, date, index, integer, jsonb, pgTable, smallint, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, money, timestamptz, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'
import { stores, registers } from '../stores/schema.ts'
import { cashSessions } from '../sales/schema.ts'

export const tiers = pgTable(
  'tiers',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    code: text('code').notNull(),
    name: text('name').notNull(),
    /** Higher rank is a better tier; the lowest rank is where new members start. */
    rank: integer('rank').notNull(),
    /** Rolling spend (minor units, net of refunds, over the merchant's tier window) that qualifies for the tier. */
    minSpend: money('min_spend').notNull().default(0),
    /** Discount on every eligible line, in basis points (500 = 5 %), applied with item percentages. */
    discountBp: integer('discount_bp').notNull().default(0),
    /** Points earned are multiplied by this, in basis points (15000 = 1.5×). */
    pointsMultiplierBp: integer('points_multiplier_bp').notNull().default(10_000),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('tiers_code_key').on(t.merchantId, t.code),
    uniqueIndex('tiers_rank_key').on(t.merchantId, t.rank),
    check('tiers_discount_check', sql`${t.discountBp} between 0 and 10000 and ${t.pointsMultiplierBp} >= 0 and ${t.minSpend} >= 0`),
  ],
)

export const members = pgTable(
  'members',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    /** E.164, e.g. +8613800138000: one member per phone and merchant. */
    phone: text('phone').notNull(),
    cardNo: text('card_no').notNull(),
    name: text('name'),
    email: text('email'),
    birthMonth: smallint('birth_month'),
    birthDay: smallint('birth_day'),
    birthYear: smallint('birth_year'),
    storeId: uuid('store_id').references(() => stores.id),
    tags: jsonb('tags').$type<string[]>().notNull().default([]),
    tierId: uuid('tier_id').references(() => tiers.id),
    /** Current consent per channel; the history is in member_consents. */
    consentSms: boolean('consent_sms').notNull().default(false),
    consentEmail: boolean('consent_email').notNull().default(false),
    consentWechat: boolean('consent_wechat').notNull().default(false),
    wechatOpenId: text('wechat_open_id'),
    /** Cached sums of the ledgers, updated in the same transaction as each ledger row. */
    pointsBalance: bigint('points_balance', { mode: 'number' }).notNull().default(0),
    /** Points owed: refunds took back points already spent. Paid off by the next earnings. */
    pointsDebt: bigint('points_debt', { mode: 'number' }).notNull().default(0),
    storedPrincipal: money('stored_principal').notNull().default(0),
    storedBonus: money('stored_bonus').notNull().default(0),
    status: text('status').$type<'active' | 'merged'>().notNull().default('active'),
    mergedInto: uuid('merged_into'),
    lastPurchaseAt: timestamptz('last_purchase_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('members_phone_key').on(t.merchantId, t.phone).where(sql`${t.status} = 'active'`),
    uniqueIndex('members_card_key').on(t.merchantId, t.cardNo),
    index('members_birthday_idx').on(t.merchantId, t.birthMonth, t.birthDay),
    index('members_tier_idx').on(t.merchantId, t.tierId),
    // The members merged into one (few): who a merge points on to the one that stands, and who a campaign run
    // already messaged as the same person as its recipient.
    index('members_merged_into_idx').on(t.mergedInto).where(sql`${t.mergedInto} is not null`),
    check('members_balances_check', sql`${t.pointsBalance} >= 0 and ${t.pointsDebt} >= 0 and ${t.storedPrincipal} >= 0 and ${t.storedBonus} >= 0`),
  ],
)

export type ConsentChannel = 'sms' | 'email' | 'wechat'

/** Every change of consent, with when and how it was given or withdrawn. Append-only. */
export const memberConsents = pgTable(
  'member_consents',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    channel: text('channel').$type<ConsentChannel>().notNull(),
    granted: boolean('granted').notNull(),
    /** How: 'till', 'api', 'import', 'sms_reply', 'unsubscribe_link', … */
    source: text('source').notNull(),
    evidence: text('evidence'),
    actorId: uuid('actor_id'),
    at: createdAt(),
  },
  (t) => [index('member_consents_member_idx').on(t.memberId, t.id)],
)

export type PointsKind = 'earn' | 'redeem' | 'expire' | 'refund_reversal' | 'refund_restore' | 'adjust' | 'birthday' | 'merge_in' | 'merge_out' | 'debt_settled'

/** Append-only. Earn rows are lots: `remaining` is what is left of them, spent first-earned first-used. */
export const pointsLedger = pgTable(
  'points_ledger',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    kind: text('kind').$type<PointsKind>().notNull(),
    delta: bigint('delta', { mode: 'number' }).notNull(),
    balanceAfter: bigint('balance_after', { mode: 'number' }).notNull(),
    saleId: uuid('sale_id'),
    refundId: uuid('refund_id'),
    expiresAt: date('expires_at', { mode: 'string' }),
    note: text('note'),
    actorId: uuid('actor_id'),
    at: createdAt(),
  },
  (t) => [index('points_ledger_member_idx').on(t.memberId, t.id), index('points_ledger_sale_idx').on(t.saleId)],
)

/** What is left of each earned lot (the ledger itself never changes). */
export const pointsLots = pgTable(
  'points_lots',
  {
    ledgerId: bigint('ledger_id', { mode: 'number' })
      .primaryKey()
      .references(() => pointsLedger.id),
    merchantId: merchantId(),
    memberId: uuid('member_id').notNull(),
    remaining: bigint('remaining', { mode: 'number' }).notNull(),
    expiresAt: date('expires_at', { mode: 'string' }),
    /** What of the lot expired unspent; and of that, what a refund of the lot's sale has since not taken back again. */
    expired: bigint('expired', { mode: 'number' }).notNull().default(0),
    forgiven: bigint('forgiven', { mode: 'number' }).notNull().default(0),
  },
  (t) => [index('points_lots_member_idx').on(t.memberId, t.expiresAt, t.ledgerId).where(sql`${t.remaining} > 0`), check('points_lots_remaining_check', sql`${t.remaining} >= 0`)],
)

/** `adjust` is a correction by hand (in its store's voucher); `opening` a balance carried from another system's books. */
export type StoredValueKind = 'topup' | 'spend' | 'refund' | 'topup_refund' | 'adjust' | 'opening' | 'merge_in' | 'merge_out'

/** Append-only ledger of stored value, with principal and bonus apart and the balances after each row. */
export const storedValueLedger = pgTable(
  'stored_value_ledger',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    kind: text('kind').$type<StoredValueKind>().notNull(),
    principalDelta: money('principal_delta').notNull(),
    bonusDelta: money('bonus_delta').notNull(),
    principalAfter: money('principal_after').notNull(),
    bonusAfter: money('bonus_after').notNull(),
    saleId: uuid('sale_id'),
    refundId: uuid('refund_id'),
    topupId: uuid('topup_id'),
    /** The store whose books carry a correction by hand (its daily voucher). */
    storeId: uuid('store_id').references(() => stores.id),
    note: text('note'),
    actorId: uuid('actor_id'),
    at: createdAt(),
    /** The business day of the change, fixed when it was made (a later change of the merchant's time zone moves nothing). */
    businessDate: date('business_date', { mode: 'string' }).notNull(),
  },
  (t) => [
    index('stored_value_ledger_member_idx').on(t.memberId, t.id),
    index('stored_value_ledger_sale_idx').on(t.saleId),
    index('stored_value_ledger_adjust_idx').on(t.merchantId, t.businessDate).where(sql`${t.kind} = 'adjust'`),
  ],
)

/** Top-up rules: paying at least `threshold` adds `bonus` (the highest rule reached applies). */
export const topupBonusRules = pgTable(
  'topup_bonus_rules',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    threshold: money('threshold').notNull(),
    bonus: money('bonus').notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [check('topup_bonus_rules_check', sql`${t.threshold} > 0 and ${t.bonus} >= 0`)],
)

/** A top-up of stored value at a till: principal paid by tenders, bonus added by the rules. */
export const storedValueTopups = pgTable(
  'stored_value_topups',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    storeId: uuid('store_id')
      .notNull()
      .references(() => stores.id),
    registerId: uuid('register_id')
      .notNull()
      .references(() => registers.id),
    sessionId: uuid('session_id').references(() => cashSessions.id),
    receiptNo: text('receipt_no').notNull(),
    businessDate: date('business_date', { mode: 'string' }).notNull(),
    principal: money('principal').notNull(),
    bonus: money('bonus').notNull(),
    status: text('status').$type<'completed' | 'refunded'>().notNull().default('completed'),
    refundedAt: timestamptz('refunded_at'),
    /** The business day of the refund, fixed when it was made; null while not refunded. */
    refundedBusinessDate: date('refunded_business_date', { mode: 'string' }),
    refundReason: text('refund_reason'),
    actorId: uuid('actor_id'),
    occurredAt: timestamptz('occurred_at').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('stored_value_topups_member_idx').on(t.memberId),
    index('stored_value_topups_day_idx').on(t.merchantId, t.businessDate, t.storeId),
    // The day's top-ups given back, for its voucher.
    index('stored_value_topups_refunded_day_idx').on(t.merchantId, t.refundedBusinessDate).where(sql`${t.status} = 'refunded'`),
  ],
)

/** How a top-up was paid; electronic tenders carry payment numbers like sale tenders do. */
export const topupTenders = pgTable(
  'topup_tenders',
  {
    id: id(),
    merchantId: merchantId(),
    topupId: uuid('topup_id')
      .notNull()
      .references(() => storedValueTopups.id),
    kind: text('kind').notNull(),
    amount: money('amount').notNull(),
    received: money('received'),
    paymentNo: text('payment_no'),
    channelTxnId: text('channel_txn_id'),
    reference: jsonb('reference').$type<Record<string, string>>(),
    refundNo: text('refund_no'),
  },
  (t) => [
    index('topup_tenders_topup_idx').on(t.topupId),
    uniqueIndex('topup_tenders_payment_no_key').on(t.merchantId, t.paymentNo).where(sql`${t.paymentNo} is not null`),
  ],
)

export type CouponKind = 'amount_off' | 'percent_off' | 'free_item'

/**
 * What a coupon gives and where: a template's terms, copied onto each coupon at issue. amount_off: minor units off;
 * percent_off: basis points; free_item: the variant given and how many.
 */
const couponTermColumns = () => ({
  kind: text('kind').$type<CouponKind>().notNull(),
  amount: money('amount'),
  percentBp: integer('percent_bp'),
  freeVariantId: uuid('free_variant_id'),
  freeQuantity: integer('free_quantity'),
  minSpend: money('min_spend').notNull().default(0),
  productIds: jsonb('product_ids').$type<string[]>().notNull().default([]),
  variantIds: jsonb('variant_ids').$type<string[]>().notNull().default([]),
  categoryIds: jsonb('category_ids').$type<string[]>().notNull().default([]),
})

export const couponTemplates = pgTable(
  'coupon_templates',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    name: text('name').notNull(),
    ...couponTermColumns(),
    /** A fixed window, or a number of days from issue. */
    validFrom: timestamptz('valid_from'),
    validTo: timestamptz('valid_to'),
    validDays: integer('valid_days'),
    /** At most this many coupons of the template per member (null: no limit). */
    perMemberLimit: integer('per_member_limit'),
    /** Whether a refund of the whole sale gives the coupon back. */
    restoreOnRefund: boolean('restore_on_refund').notNull().default(true),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('coupon_templates_merchant_idx').on(t.merchantId)],
)

export const coupons = pgTable(
  'coupons',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    templateId: uuid('template_id')
      .notNull()
      .references(() => couponTemplates.id),
    code: text('code').notNull(),
    memberId: uuid('member_id').references(() => members.id),
    status: text('status').$type<'issued' | 'redeemed' | 'void' | 'expired'>().notNull().default('issued'),
    /**
     * The terms it was issued with, copied from its template at issue: a coupon in a customer's hand keeps its value,
     * minimum spend and scope whatever the template is changed to later (the change is for coupons issued after).
     */
    ...couponTermColumns(),
    validFrom: timestamptz('valid_from').notNull(),
    validTo: timestamptz('valid_to'),
    /** Why it was issued: 'manual', 'bulk', 'birthday', 'campaign:<id>'. */
    source: text('source').notNull(),
    redeemedSaleId: uuid('redeemed_sale_id'),
    redeemedAt: timestamptz('redeemed_at'),
    voidReason: text('void_reason'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('coupons_code_key').on(t.merchantId, t.code),
    index('coupons_member_idx').on(t.memberId, t.status),
    index('coupons_template_idx').on(t.templateId),
  ],
)

/** One birthday gift per member and year, whatever runs the birthday job how often. */
export const birthdayGifts = pgTable(
  'birthday_gifts',
  {
    merchantId: merchantId(),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    year: integer('year').notNull(),
    kind: text('kind').$type<'coupon' | 'points'>().notNull(),
    couponId: uuid('coupon_id'),
    points: integer('points'),
    at: createdAt(),
  },
  (t) => [uniqueIndex('birthday_gifts_key').on(t.memberId, t.year)],
)

export const tierHistory = pgTable(
  'tier_history',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    memberId: uuid('member_id')
      .notNull()
      .references(() => members.id),
    fromTierId: uuid('from_tier_id'),
    toTierId: uuid('to_tier_id'),
    rollingSpend: money('rolling_spend').notNull(),
    reason: text('reason').notNull(),
    at: createdAt(),
  },
  (t) => [index('tier_history_member_idx').on(t.memberId, t.id)],
)

