// A merchant's business rules. Stored as JSON on the merchant and always read through this schema, so every rule
// has a documented default.
import { z } from 'zod'
import { and, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { couponTemplates } from '../members/schema.ts'
import { stores } from '../stores/schema.ts'
import { merchants } from './schema.ts'

export const ScaleBarcodeSchema = z.object({
  /** EAN-13 prefixes of in-store scale labels (the 2x range is reserved for internal use by GS1). */
  prefixes: z.array(z.string().regex(/^\d{2}$/)).min(1),
  /** Digits of the item code (PLU) after the prefix; the rest before the check digit carries the value. */
  pluDigits: z.number().int().min(4).max(6),
  /** Whether the value is the weight in grams or the price in minor units. */
  valueKind: z.enum(['weight', 'price']),
})

/** The longest a loyalty day count may be: a hundred years (dates of points and reports stay within the calendar). */
export const MAX_LOYALTY_DAYS = 36_500

export const LoyaltySettingsSchema = z.object({
  /** Minor units of eligible paid amount per point earned (100: 1 point per ¥1), rounded down. */
  spendPerPoint: z.number().int().min(1).default(100),
  /** Tenders whose amount earns no points: money that is not new (stored value) or not yet paid (on account). */
  nonEarningTenders: z.array(z.string()).default(['stored_value', 'on_account', 'points', 'coupon_voucher']),
  /** Points that buy one minor unit of discount (1: 100 points = ¥1.00). */
  pointsPerMinorUnit: z.number().int().min(1).default(1),
  /** Redemption happens in steps of this many points. */
  redeemStep: z.number().int().min(1).default(100),
  /** At most this share of the amount due can be paid with points, in basis points. */
  maxRedeemBp: z.number().int().min(0).max(10_000).default(5000),
  /** Points expire at the end of the calendar year after the year they were earned, or after a number of days. */
  expiry: z.union([z.literal('end_of_next_year'), z.object({ days: z.number().int().min(1).max(MAX_LOYALTY_DAYS) }), z.literal('never')]).default('end_of_next_year'),
  /** Rolling window of spend (days) that decides a member's tier. */
  tierWindowDays: z.number().int().min(1).max(3650).default(365),
  /** A member with no purchase for this many days counts as lapsed in reports and segments. */
  lapsedDays: z.number().int().min(1).max(MAX_LOYALTY_DAYS).default(90),
  /** The gift in a member's birthday month: a coupon of one of the merchant's templates, or points. */
  birthdayGift: z.union([z.null(), z.object({ kind: z.literal('coupon'), templateId: z.uuid() }), z.object({ kind: z.literal('points'), points: z.number().int().min(1) })]).default(null),
})
export type LoyaltySettings = z.infer<typeof LoyaltySettingsSchema>

/**
 * Actions a merchant wants a manager to approve. When a rule applies and the caller may not decide approvals
 * themselves, the action is held as a pending approval request and takes effect only once approved. Default: none.
 */
export const ApprovalRulesSchema = z.object({
  /**
   * A change of a variant's price, cost, pricePer or tax category, or of a product's tax category. A catalog import
   * that makes one is refused unless a manager applies it or gives an override (a file is not held as a request).
   */
  priceChange: z.boolean().default(false),
  /** Archiving ("deleting") a product. */
  productDelete: z.boolean().default(false),
  /** A stock adjustment whose value at cost (gains plus losses, each line counted as a positive amount) is over this, in minor units; null: never. */
  stockAdjustmentOverValue: z.number().int().min(0).nullable().default(null),
  /** A refund whose total is over this, in minor units; null: never. */
  refundOverAmount: z.number().int().min(0).nullable().default(null),
  /**
   * A reconciliation resolution (match by hand, accept channel, accept POS, write off, ignore) that settles more than
   * this, in minor units: an item's absolute difference, or a one-sided item's amount (the larger of both items of a
   * hand match). Expecting an item the next day settles nothing and is never held. null: never.
   */
  reconResolutionAbove: z.number().int().min(0).nullable().default(null),
})
export type ApprovalRules = z.infer<typeof ApprovalRulesSchema>

/** How daily accounting vouchers are built and delivered (src/core/vouchers). */
export const VoucherSettingsSchema = z.object({
  /** One voucher per store and business day, or one per merchant and day. */
  grouping: z.enum(['store', 'merchant']).default('store'),
  /** A change to an exported day: a reversal of it and a new revision, or one voucher of the difference. */
  correction: z.enum(['reversal', 'difference']).default('reversal'),
  /** 凭证字. */
  word: z.string().min(1).max(4).default('记'),
  /** Local time of day (merchant's time zone) after which yesterday's vouchers are built and exported. */
  exportAt: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time of day HH:MM').default('02:00'),
  /** Connections (accounting family) every built voucher is exported to. */
  exportTo: z.array(z.uuid()).max(10).default([]),
  /** Days before yesterday checked again every day for changes (late refunds, resolved reconciliation). */
  recheckDays: z.number().int().min(0).max(62).default(7),
  /** The last day of the closed periods in the finance system: corrections are posted after it. */
  closedThrough: z.iso.date().nullable().default(null),
  /** False: only accounts the merchant mapped count, and a voucher needing another is blocked until it is mapped. */
  useDefaultAccounts: z.boolean().default(true),
  /** Lines of the same account, dimensions and side are merged across kinds (e.g. WeChat sales and top-ups). */
  mergeSameAccount: z.boolean().default(false),
  /** Dimension kind carrying the store on every line ('department' by default), or none. */
  storeDimension: z.enum(['department', 'project', 'customer']).nullable().default('department'),
  /** 摘要 templates by line kind; tokens {date} (MM/DD), {store}, {tender}, {rate}, {channel}. Omitted kinds keep the default. */
  summaries: z.record(z.string(), z.string().min(1).max(60)).default({}),
  /**
   * With vouchers per store, the store whose voucher books what belongs to no store: a channel's own fees (Stripe's
   * Radar, Terminal, billing), the fee of a settlement line of no store, a settlement figure accepted for no store.
   * Null: such records are in no store's voucher (a merchant of one store books them in its store anyway).
   */
  noStoreTo: z.uuid().nullable().default(null),
})
export type VoucherSettings = z.infer<typeof VoucherSettingsSchema>

export const MerchantSettingsSchema = z.object({
  /** Catalog prices include VAT (usual in China) or exclude it. */
  taxInclusive: z.boolean().default(true),
  /**
   * 'per_line': each line's tax is rounded on its own (half up). 'per_order_rate_bucket': tax is rounded once per
   * rate over the whole sale and spread back to lines by largest remainder. Either way Σ line taxes = sale tax.
   */
  taxRounding: z.enum(['per_line', 'per_order_rate_bucket']).default('per_line'),
  /** 'block': a sale may never take on-hand below zero or into reserved stock; 'allow': it may, with an alert. */
  negativeStock: z.enum(['block', 'allow']).default('block'),
  /**
   * Cash rounding (抹零) when cash is tendered: the part paid in cash (the amount due less the other tenders) is
   * rounded to a multiple of `unit` minor units.
   */
  cashRounding: z
    .object({ unit: z.union([z.literal(1), z.literal(5), z.literal(10), z.literal(50), z.literal(100)]), mode: z.enum(['half_up', 'down']) })
    .default({ unit: 1, mode: 'half_up' }),
  scaleBarcode: ScaleBarcodeSchema.default({ prefixes: ['20', '21', '22', '23', '24', '25', '26', '27', '28', '29'], pluDigits: 5, valueKind: 'weight' }),
  /** Days after which an unpaid reservation of an online order is released. */
  reservationHoldDays: z.number().int().min(1).max(60).default(7),
  /** Actions held for a manager's approval (replaced as a whole when changed; omitted rules take their defaults). */
  approvals: ApprovalRulesSchema.default(ApprovalRulesSchema.parse({})),
  loyalty: LoyaltySettingsSchema.default(LoyaltySettingsSchema.parse({})),
  /**
   * Settlement reconciliation. `carryDays`: a till payment its channel has not settled yet is carried over as
   * 'timing' and re-checked by the runs of this many following days before it is reported missing in the channel.
   */
  reconciliation: z.object({ carryDays: z.number().int().min(0).max(60).default(3) }).strict().default({ carryDays: 3 }),
  vouchers: VoucherSettingsSchema.default(VoucherSettingsSchema.parse({})),
})

export type MerchantSettings = z.infer<typeof MerchantSettingsSchema>

/** A change of settings as sent: every setting optional, and each group's fields (the approval rules go whole). */
export const SettingsPatchSchema = z
  .object(
    Object.fromEntries(
      Object.entries(MerchantSettingsSchema.shape).map(([key, s]) => {
        const inner = s instanceof z.ZodDefault ? s.unwrap() : s
        // A field the group does not have (a typo) is refused, not dropped; the approval rules go whole.
        const group = inner instanceof z.ZodObject ? (key === 'approvals' ? inner.strict() : inner.partial().strict()) : inner
        return [key, group.optional()]
      }),
    ),
  )
  .strict()

export const parseSettings = (raw: unknown): MerchantSettings => MerchantSettingsSchema.parse(raw ?? {})

export async function getSettings(tx: Tx, merchantId: string): Promise<MerchantSettings & { currency: string; timeZone: string }> {
  const [m] = await tx.select({ settings: merchants.settings, currency: merchants.currency, timeZone: merchants.timeZone }).from(merchants).where(eq(merchants.id, merchantId))
  if (!m) throw notFound('merchant', merchantId)
  return { ...parseSettings(m.settings), currency: m.currency, timeZone: m.timeZone }
}

/**
 * Changes settings. A group given (`vouchers`, `loyalty`, …) changes by the fields it names, the others as they were;
 * a field's value (a list, a map of templates, a birthday gift) replaces what was there. The approval rules are
 * replaced as a whole (omitted rules take their defaults). `patch` is as sent, before defaults filled anything in.
 */
export async function updateSettings(tx: Tx, merchantId: string, patch: Partial<MerchantSettings> | Record<string, unknown>): Promise<{ before: MerchantSettings; after: MerchantSettings }> {
  const [m] = await tx.select({ settings: merchants.settings }).from(merchants).where(eq(merchants.id, merchantId)).for('update')
  if (!m) throw notFound('merchant', merchantId)
  const before = parseSettings(m.settings)
  const isGroup = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
  const merged: Record<string, unknown> = { ...before }
  for (const [key, value] of Object.entries(patch)) {
    const was = (before as Record<string, unknown>)[key]
    merged[key] = key !== 'approvals' && isGroup(value) && isGroup(was) ? { ...was, ...value } : value
  }
  const after = MerchantSettingsSchema.parse(merged)
  if ('loyalty' in patch) await assertLoyaltyReferences(tx, merchantId, after.loyalty)
  if ('vouchers' in patch) await assertVoucherReferences(tx, merchantId, after.vouchers)
  await tx.update(merchants).set({ settings: after, updatedAt: new Date() }).where(eq(merchants.id, merchantId))
  return { before, after }
}

/** The store that books records of no store must be one of the merchant's: 422 store_not_found naming it. */
async function assertVoucherReferences(tx: Tx, merchantId: string, vouchers: VoucherSettings): Promise<void> {
  if (!vouchers.noStoreTo) return
  const [s] = await tx.select({ id: stores.id }).from(stores).where(and(eq(stores.merchantId, merchantId), eq(stores.id, vouchers.noStoreTo)))
  if (!s) throw invalid('store_not_found', `vouchers.noStoreTo names store ${vouchers.noStoreTo}, which this merchant does not have`, { field: 'vouchers.noStoreTo', storeId: vouchers.noStoreTo })
}

/**
 * A birthday gift naming a coupon template the merchant does not have (another merchant's, or none) would never be
 * given: 422 unknown_coupon_template naming it.
 */
async function assertLoyaltyReferences(tx: Tx, merchantId: string, loyalty: LoyaltySettings): Promise<void> {
  const gift = loyalty.birthdayGift
  if (gift?.kind !== 'coupon') return
  const [t] = await tx.select({ id: couponTemplates.id }).from(couponTemplates).where(and(eq(couponTemplates.merchantId, merchantId), eq(couponTemplates.id, gift.templateId)))
  if (!t) throw invalid('unknown_coupon_template', `loyalty.birthdayGift names coupon template ${gift.templateId}, which this merchant does not have`, { field: 'loyalty.birthdayGift.templateId', templateId: gift.templateId })
}
