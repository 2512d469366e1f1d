// Where membership meets the till. Before pricing: the member's tier discount and coupons become discounts for the
// pricing engine, and a points redemption becomes an order-level amount off (points lower the taxable amount;
// stored value does not — it is a tender). When the sale is written: coupons are used, points spent and earned,
// stored value spent (split into principal and bonus). On a refund: the points the sale earned are taken back and
// the points it spent returned, in proportion to the value refunded; stored value goes back as it was taken; coupons
// come back when the sale is refunded in full.
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid } from '../../lib/errors.ts'
import { mulDivFloor, mulDivRound, sum } from '../../lib/money.ts'
import type { LoyaltySettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import type { ExtraDiscount } from '../sales/pricing.ts'
import { couponDiscount, getCouponByCode, redeemCoupon, restoreCoupons, type Coupon, type CouponTemplate } from './coupons.ts'
import { getActiveMember, getMember, type Member } from './members.ts'
import { creditPoints, debitPoints, pointsExpiry, pointsForAmount, pointsRedeemedBy, restorePoints, spendablePoints, takeBackPoints, type LotPart } from './points.ts'
import { members } from './schema.ts'
import { refundToStoredValue, spendStoredValue } from './stored-value.ts'
import { getTier, reviewTier, type Tier } from './tiers.ts'

export interface MemberSaleInput {
  memberId?: string
  couponCodes?: string[]
  /** Points to redeem as a discount (in steps of the merchant's redeem step). */
  redeemPoints?: number
}

export interface MemberContext {
  /** Absent when only anonymous coupons are used. */
  member?: Member
  /** The member's points that may be spent today: the balance less lots past their last valid day not yet removed. */
  spendablePoints?: number
  tier: Tier | undefined
  loyalty: LoyaltySettings
  coupons: (Coupon & { template: CouponTemplate })[]
}

export async function loadMemberContext(tx: Tx, merchantId: string, input: MemberSaleInput, loyalty: LoyaltySettings, today: string): Promise<MemberContext | undefined> {
  // A code typed twice, or in another case, is one coupon.
  const codes = [...new Set((input.couponCodes ?? []).map((c) => c.trim().toUpperCase()))]
  const coupons = async () => {
    const list = []
    for (const code of codes) list.push(await getCouponByCode(tx, merchantId, code))
    return list
  }
  if (!input.memberId) {
    // Anonymous coupons (not bound to a member) may be used without a member.
    if (codes.length) return { tier: undefined, loyalty, coupons: await coupons() }
    if (input.redeemPoints) throw invalid('member_required', 'redeeming points needs a member')
    return undefined
  }
  const member = await getActiveMember(tx, merchantId, input.memberId)
  const tier = await getTier(tx, merchantId, member.tierId)
  const spendable = member.pointsBalance > 0 ? await spendablePoints(tx, member.id, member.pointsBalance, today) : member.pointsBalance
  return { member, spendablePoints: spendable, tier, loyalty, coupons: await coupons() }
}

type PricingLine = { variantId: string; productId: string; categoryChain: string[]; gross: number; unitPrice: number; pricePer: number }

/** The tier discount (an item percentage) and the coupons, as discounts for the pricing engine. */
export function memberDiscounts(ctx: MemberContext | undefined, lines: PricingLine[], at: Date): ExtraDiscount[] {
  if (!ctx) return []
  const out: ExtraDiscount[] = []
  if (ctx.tier && ctx.tier.discountBp > 0) out.push({ source: 'tier', sourceId: ctx.tier.id, label: `${ctx.tier.name} −${ctx.tier.discountBp / 100}%`, step: 1, percentBp: ctx.tier.discountBp })
  for (const c of ctx.coupons) out.push(couponDiscount(c, { memberId: ctx.member?.id ?? null, at, lines }))
  return out
}

/**
 * A points redemption: in whole steps, within the member's balance and the merchant's share of the amount due.
 * Returns the discount in minor units the points buy.
 */
export function redeemablePoints(ctx: MemberContext, requested: number, amountDue: number): { points: number; discount: number } {
  const l = ctx.loyalty
  if (!ctx.member) throw invalid('member_required', 'redeeming points needs a member')
  if (!Number.isSafeInteger(requested) || requested <= 0) throw invalid('invalid_points', 'redeemPoints must be a positive whole number')
  if (requested % l.redeemStep !== 0) throw invalid('invalid_points', `points are redeemed in steps of ${l.redeemStep}`, { step: l.redeemStep })
  const balance = ctx.spendablePoints ?? ctx.member.pointsBalance
  if (requested > balance) throw invalid('insufficient_points', `the member has ${balance} points`, { balance, requested })
  const discount = mulDivFloor(requested, 1, l.pointsPerMinorUnit)
  const cap = mulDivFloor(amountDue, l.maxRedeemBp, 10_000)
  if (discount > cap) throw pointsOverLimit(l, cap)
  return { points: requested, discount }
}

/** Points may take at most `cap` off this sale: the most points that buy it, in whole redeem steps. */
export function pointsOverLimit(l: LoyaltySettings, cap: number) {
  const maxPoints = Math.floor((cap * l.pointsPerMinorUnit) / l.redeemStep) * l.redeemStep
  return invalid('points_over_limit', `points may pay at most ${cap} of this sale`, { maxDiscount: cap, maxPoints })
}

/** Points the sale will earn: floor of the eligible paid amount (what was not paid by non-earning tenders) × tier multiplier. */
export function pointsToEarn(ctx: MemberContext, amountDue: number, tenders: { kind: string; amount: number }[]): number {
  if (!ctx.member) return 0
  const excluded = sum(tenders.filter((t) => ctx.loyalty.nonEarningTenders.includes(t.kind)).map((t) => t.amount))
  return pointsForAmount(Math.max(0, amountDue - excluded), ctx.loyalty, ctx.tier?.pointsMultiplierBp ?? 10_000)
}

/**
 * Locks the sale's member, found still active, before the sale takes anything else (its stock): a merge that
 * committed since the sale was priced has moved their points, coupons and history, and this sale would be left on the
 * merged member. First, as a merge locks members before it moves their coupons, and a refund or void locks the
 * member before its sale and stock: taking the stock first and the member after met a refund of the member's earlier
 * sale in a circle (a deadlock, 409 to one of them).
 */
export async function lockSaleMember(tx: Tx, actor: Actor, ctx: MemberContext): Promise<void> {
  if (!ctx.member) return
  const now = await getMember(tx, actor.merchantId, ctx.member.id, { lock: true })
  if (now.status !== 'active') throw conflict('member_merged', 'the member was merged into another while the sale was rung: ring it again, for the member that remains')
}

/** Written with the sale, before it, the member locked (lockSaleMember): coupons used, points spent, stored value spent, points earned. */
export async function applyMemberSale(
  tx: Tx,
  actor: Actor,
  ctx: MemberContext,
  w: { saleId: string; day: string; at: Date; pointsRedeemed: number; pointsEarned: number; storedValueTenders: { index: number; amount: number }[] },
): Promise<{ splits: Map<number, { principal: number; bonus: number }> }> {
  for (const c of ctx.coupons) await redeemCoupon(tx, actor.merchantId, c.id, w.saleId, w.at)
  const splits = new Map<number, { principal: number; bonus: number }>()
  if (!ctx.member) return { splits }
  const c = { actor, memberId: ctx.member.id, saleId: w.saleId, at: w.at, businessDate: w.day }
  if (w.pointsRedeemed > 0) await debitPoints(tx, c, w.pointsRedeemed, 'redeem')
  for (const t of w.storedValueTenders) splits.set(t.index, await spendStoredValue(tx, c, t.amount))
  if (w.pointsEarned > 0) await creditPoints(tx, c, w.pointsEarned, 'earn', pointsExpiry(ctx.loyalty.expiry, w.day))
  return { splits }
}

/** After the sale is written: the member's last purchase, and a possible tier upgrade. */
export async function afterMemberSale(tx: Tx, actor: Actor, ctx: MemberContext, at: Date): Promise<void> {
  if (!ctx.member) return
  await tx.update(members).set({ lastPurchaseAt: sql`greatest(${members.lastPurchaseAt}, ${at.toISOString()}::timestamptz)`, updatedAt: new Date() }).where(eq(members.id, ctx.member.id))
  await reviewTier(tx, actor, ctx.member.id, { windowDays: ctx.loyalty.tierWindowDays, now: at, reason: 'sale', allowDowngrade: false })
}

/**
 * After a void (the sale marked voided): the member's last purchase is their latest sale still completed, or none. In
 * the void's transaction, the member locked.
 */
export async function recomputeLastPurchase(tx: Tx, memberId: string): Promise<void> {
  await tx
    .update(members)
    .set({
      lastPurchaseAt: sql`(select max(s.occurred_at) from sales s where s.merchant_id = ${members.merchantId} and s.member_id = ${members.id} and s.status = 'completed')`,
      updatedAt: new Date(),
    })
    .where(eq(members.id, memberId))
}

const cum = (total: number, n: number, d: number) => (d === 0 ? 0 : mulDivRound(total, n, d))

/** `count` points of `parts` after the first `skip` (those earlier refunds gave back); any beyond them valid to `rest`. */
function slicePoints(parts: LotPart[], skip: number, count: number, rest: string | null): LotPart[] {
  const out: LotPart[] = []
  for (const p of parts) {
    const from = Math.min(p.points, skip)
    skip -= from
    const take = Math.min(p.points - from, count)
    count -= take
    if (take > 0) out.push({ points: take, expiresAt: p.expiresAt })
  }
  if (count > 0) out.push({ points: count, expiresAt: rest })
  return out
}

/**
 * The membership side of a refund or void of `valueRefunded` (of the sale's amount due `saleValue`, of which
 * `valueBefore` was refunded earlier): points back and forth in proportion, stored value back as it was taken,
 * coupons restored once the whole sale is refunded.
 */
export async function reverseMemberSale(
  tx: Tx,
  actor: Actor,
  sale: { id: string; memberId: string | null; businessDate: string; pointsEarned: number; pointsRedeemed: number },
  r: {
    refundId: string
    saleValue: number
    valueBefore: number
    valueAfter: number
    fullyRefunded: boolean
    storedValue: { amount: number; tenderAmount: number; tenderRefundedBefore: number; tenderPrincipal: number; tenderBonus: number }[]
    day: string
    at: Date
    loyalty: LoyaltySettings
    windowDays: number
  },
): Promise<{ pointsTakenBack: number; pointsDebt: number; pointsReturned: number; storedValue: { principal: number; bonus: number }[] }> {
  const out = { pointsTakenBack: 0, pointsDebt: 0, pointsReturned: 0, storedValue: [] as { principal: number; bonus: number }[] }
  if (sale.memberId) {
    const c = { actor, memberId: sale.memberId, saleId: sale.id, refundId: r.refundId, at: r.at, businessDate: r.day }
    const earnedBack = cum(sale.pointsEarned, r.valueAfter, r.saleValue) - cum(sale.pointsEarned, r.valueBefore, r.saleValue)
    const spentBack = cum(sale.pointsRedeemed, r.valueAfter, r.saleValue) - cum(sale.pointsRedeemed, r.valueBefore, r.saleValue)
    const taken = await takeBackPoints(tx, c, earnedBack)
    out.pointsTakenBack = taken.taken
    out.pointsDebt = taken.debt
    if (spentBack > 0) {
      // Back valid no longer than the lots the redemption took, in the order it took them. A redemption written before
      // its lots' days were recorded: points spent that day expired no later than points earned that day.
      const unrecorded = pointsExpiry(r.loyalty.expiry, sale.businessDate)
      const redeemed = await pointsRedeemedBy(tx, sale.id, unrecorded)
      const parts = slicePoints(redeemed, cum(sale.pointsRedeemed, r.valueBefore, r.saleValue), spentBack, unrecorded)
      out.pointsReturned = await restorePoints(tx, { ...c, note: 'points spent on the refunded items' }, parts)
    }
    for (const sv of r.storedValue) {
      const principal = cum(sv.tenderPrincipal, sv.tenderRefundedBefore + sv.amount, sv.tenderAmount) - cum(sv.tenderPrincipal, sv.tenderRefundedBefore, sv.tenderAmount)
      const split = { principal, bonus: sv.amount - principal }
      await refundToStoredValue(tx, c, split)
      out.storedValue.push(split)
    }
    await reviewTier(tx, actor, sale.memberId, { windowDays: r.windowDays, now: r.at, reason: 'refund', allowDowngrade: true })
  } else if (r.storedValue.length) {
    throw conflict('member_missing', 'a stored-value tender without a member cannot be refunded')
  }
  if (r.fullyRefunded) await restoreCoupons(tx, actor, sale.id, r.at)
  return out
}

