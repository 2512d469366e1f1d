// Coupons: templates (amount off, percent off, a free item; minimum spend, scope, validity, per-member limit) and
// the coupons issued from them, each with a unique code and the terms and validity it was issued with (a template
// changed later changes no coupon already out), redeemed once — the redemption is a conditional update, so two
// tills racing with the same code cannot both use it.
import { randomBytes } from 'node:crypto'
import { and, count, eq, inArray, lt, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { addDays, businessDate, startOfBusinessDay } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import type { ExtraDiscount } from '../sales/pricing.ts'
import { couponTemplates, coupons, members, type CouponKind } from './schema.ts'
import { assertScopeIds } from '../catalog/scope.ts'

export type CouponTemplate = typeof couponTemplates.$inferSelect
export type Coupon = typeof coupons.$inferSelect

export interface TemplateInput {
  name: string
  kind: CouponKind
  amount?: number | null
  percentBp?: number | null
  freeVariantId?: string | null
  freeQuantity?: number | null
  minSpend?: number
  productIds?: string[]
  variantIds?: string[]
  categoryIds?: string[]
  validFrom?: Date | null
  validTo?: Date | null
  validDays?: number | null
  perMemberLimit?: number | null
  restoreOnRefund?: boolean
  active?: boolean
}

function checkTemplate(t: TemplateInput) {
  if (t.kind === 'amount_off' && !(Number.isSafeInteger(t.amount) && t.amount! > 0)) throw invalid('invalid_coupon', 'an amount-off coupon needs a positive amount')
  if (t.kind === 'percent_off' && !(Number.isInteger(t.percentBp) && t.percentBp! > 0 && t.percentBp! <= 10_000)) throw invalid('invalid_coupon', 'a percent-off coupon needs percentBp 1–10000')
  if (t.kind === 'free_item' && !(t.freeVariantId && Number.isInteger(t.freeQuantity) && t.freeQuantity! > 0)) throw invalid('invalid_coupon', 'a free-item coupon needs freeVariantId and freeQuantity')
  if (!t.validTo && !t.validDays) throw invalid('invalid_coupon', 'a coupon template needs validTo or validDays')
  if (t.validFrom && t.validTo && t.validTo <= t.validFrom) throw invalid('invalid_coupon', 'validTo must be after validFrom')
}

const assertOwnScope = (tx: Tx, merchantId: string, t: Partial<TemplateInput>) =>
  assertScopeIds(tx, merchantId, { productIds: t.productIds, variantIds: [...(t.variantIds ?? []), ...(t.freeVariantId ? [t.freeVariantId] : [])], categoryIds: t.categoryIds })

export async function createTemplate(tx: Tx, actor: Actor, input: TemplateInput): Promise<CouponTemplate> {
  checkTemplate(input)
  await assertOwnScope(tx, actor.merchantId, input)
  const [t] = await tx.insert(couponTemplates).values({ id: newId(), merchantId: actor.merchantId, ...input, minSpend: input.minSpend ?? 0 }).returning()
  await recordAudit(tx, actor, { action: 'coupon_template.created', entityType: 'coupon_template', entityId: t!.id, details: { name: input.name, kind: input.kind } })
  return t!
}

export async function getTemplate(tx: Tx, merchantId: string, id: string): Promise<CouponTemplate> {
  const [t] = await tx.select().from(couponTemplates).where(and(eq(couponTemplates.merchantId, merchantId), eq(couponTemplates.id, id)))
  if (!t) throw notFound('coupon_template', id)
  return t
}

export async function updateTemplate(tx: Tx, actor: Actor, id: string, changes: Partial<TemplateInput>): Promise<CouponTemplate> {
  const before = await getTemplate(tx, actor.merchantId, id)
  checkTemplate({ ...before, ...changes } as TemplateInput)
  await assertOwnScope(tx, actor.merchantId, changes)
  const [t] = await tx.update(couponTemplates).set({ ...changes, updatedAt: new Date() }).where(eq(couponTemplates.id, id)).returning()
  await recordAudit(tx, actor, { action: 'coupon_template.updated', entityType: 'coupon_template', entityId: id, details: { changes } })
  return t!
}

export const listTemplates = (tx: Tx, merchantId: string) => tx.select().from(couponTemplates).where(eq(couponTemplates.merchantId, merchantId))

const ALPHABET = '23456789ABCDEFGHJKMNPQRSTUVWXYZ' // no 0/O, 1/I/L: codes are read aloud and typed
export function newCouponCode(): string {
  let s = ''
  for (const b of randomBytes(10)) s += ALPHABET[b % ALPHABET.length]
  return s
}

/**
 * The end of a coupon valid for `days` days from `from`: the end of the merchant's business day `days` days after
 * the day it starts on, so it is never shorter than days × 24 hours and a customer is told a date, not an hour.
 * A coupon never outlives its template's own end.
 */
async function endOfValidDays(tx: Tx, merchantId: string, from: Date, days: number, templateEnd: Date | null): Promise<Date> {
  const { timeZone } = await getSettings(tx, merchantId)
  const first = businessDate(from, timeZone)
  let end = startOfBusinessDay(addDays(first, days + 1), timeZone)
  // A night the clocks go forward makes a day shorter than 24 hours: then one day more.
  if (end.getTime() < from.getTime() + days * 86_400_000) end = startOfBusinessDay(addDays(first, days + 2), timeZone)
  return templateEnd && templateEnd < end ? templateEnd : end
}

/**
 * What a coupon is worth and where it applies, copied onto it at issue: a coupon keeps these whatever its template is
 * changed to later (a template's change is for the coupons issued after it).
 */
export const couponTerms = (t: Pick<CouponTemplate, 'kind' | 'amount' | 'percentBp' | 'freeVariantId' | 'freeQuantity' | 'minSpend' | 'productIds' | 'variantIds' | 'categoryIds'>) => ({
  kind: t.kind,
  amount: t.amount,
  percentBp: t.percentBp,
  freeVariantId: t.freeVariantId,
  freeQuantity: t.freeQuantity,
  minSpend: t.minSpend,
  productIds: t.productIds,
  variantIds: t.variantIds,
  categoryIds: t.categoryIds,
})

/** Refuses a template no coupon can be issued from at `at`: switched off, or past its own end. */
export function assertIssuable(t: CouponTemplate, at: Date): void {
  if (!t.active) throw conflict('template_inactive', 'this coupon template is not active')
  if (t.validTo && t.validTo <= at) throw conflict('template_expired', 'coupons of this template can no longer be issued')
}

/**
 * Issues one coupon per member (or `count` anonymous ones). A member at the template's per-member limit is skipped
 * and reported, not refused, so a bulk issue goes through for everyone else. `ignoreMemberLimit` issues past that
 * limit: only for a gift with a rule of its own on how often it is given (the birthday gift, once a year).
 */
export async function issueCoupons(
  tx: Tx,
  actor: Actor,
  input: { templateId: string; memberIds?: string[]; count?: number; source: string; at?: Date; ignoreMemberLimit?: boolean },
): Promise<{ issued: Coupon[]; skipped: { memberId: string; reason: string }[] }> {
  const t = await getTemplate(tx, actor.merchantId, input.templateId)
  const at = input.at ?? new Date()
  assertIssuable(t, at)
  const validFrom = t.validFrom && t.validFrom > at ? t.validFrom : at
  const validTo = t.validDays ? await endOfValidDays(tx, actor.merchantId, validFrom, t.validDays, t.validTo) : t.validTo
  if (validTo && validTo <= at) throw conflict('template_expired', 'coupons of this template can no longer be issued')
  const skipped: { memberId: string; reason: string }[] = []
  const merged = new Set<string>()
  if (input.memberIds?.length) {
    // Only the merchant's own members (another's is as unknown here as one that does not exist). Share-locked, in id
    // order as a merge locks its two, so a merge in progress is waited for and seen: a coupon written after it
    // would stay on the merged member, where no one can use it.
    const own = await tx
      .select({ id: members.id, mergedInto: members.mergedInto })
      .from(members)
      .where(and(eq(members.merchantId, actor.merchantId), inArray(members.id, input.memberIds)))
      .orderBy(members.id)
      .for('share')
    const ids = new Set(own.map((r) => r.id))
    const stranger = input.memberIds.find((m) => !ids.has(m))
    if (stranger) throw notFound('member', stranger)
    // A member merged into another holds nothing any more: its coupons went to the survivor, whose limit counts.
    for (const r of own) {
      if (!r.mergedInto) continue
      merged.add(r.id)
      skipped.push({ memberId: r.id, reason: `merged into member ${r.mergedInto}` })
    }
  }
  let targets: (string | null)[] = input.memberIds ? input.memberIds.filter((m) => !merged.has(m)) : Array.from({ length: input.count ?? 1 }, () => null)
  if (input.memberIds && t.perMemberLimit !== null && !input.ignoreMemberLimit) {
    // Issues of one template count what members hold one at a time: two at once would each see a member below the
    // limit. (Not FOR UPDATE: a coupon's insert takes KEY SHARE on its template, which that would block.)
    await tx.select({ id: couponTemplates.id }).from(couponTemplates).where(eq(couponTemplates.id, t.id)).for('no key update')
    const held = await tx
      .select({ memberId: coupons.memberId, n: count() })
      .from(coupons)
      .where(and(eq(coupons.templateId, t.id), inArray(coupons.memberId, input.memberIds), ne(coupons.status, 'void')))
      .groupBy(coupons.memberId)
    const counts = new Map(held.map((h) => [h.memberId!, Number(h.n)]))
    // Counted as they are given: a member named twice in one issue is held to the limit too.
    targets = (targets as string[]).filter((m) => {
      const held = counts.get(m) ?? 0
      const over = held >= t.perMemberLimit!
      if (over) skipped.push({ memberId: m, reason: `already holds ${t.perMemberLimit} of this coupon` })
      else counts.set(m, held + 1)
      return !over
    })
  }
  const issued: Coupon[] = []
  const terms = couponTerms(t)
  for (const memberId of targets) {
    for (let attempt = 0; ; attempt++) {
      try {
        const [c] = await tx.transaction((sp) =>
          sp.insert(coupons).values({ id: newId(), merchantId: actor.merchantId, templateId: t.id, code: newCouponCode(), memberId, ...terms, validFrom, validTo, source: input.source }).returning(),
        )
        issued.push(c!)
        break
      } catch (e) {
        if (isUniqueViolation(e, 'coupons_code_key') && attempt < 5) continue
        throw e
      }
    }
  }
  await recordAudit(tx, actor, { action: 'coupons.issued', entityType: 'coupon_template', entityId: t.id, details: { count: issued.length, skipped: skipped.length, source: input.source } })
  return { issued, skipped }
}

/** The merchant's coupon with this code, or undefined. */
export async function findCouponByCode(tx: Tx, merchantId: string, code: string): Promise<(Coupon & { template: CouponTemplate }) | undefined> {
  const [row] = await tx
    .select({ c: coupons, t: couponTemplates })
    .from(coupons)
    .innerJoin(couponTemplates, eq(couponTemplates.id, coupons.templateId))
    .where(and(eq(coupons.merchantId, merchantId), eq(coupons.code, code.trim().toUpperCase())))
  return row ? { ...row.c, template: row.t } : undefined
}

/** A coupon a sale names: a code that matches none is a wrong cart (422). */
export async function getCouponByCode(tx: Tx, merchantId: string, code: string): Promise<Coupon & { template: CouponTemplate }> {
  const found = await findCouponByCode(tx, merchantId, code)
  if (!found) throw invalid('unknown_coupon', `no coupon has code ${code}`)
  return found
}

/**
 * Checks a coupon can be used on this sale and turns it into a discount for the pricing engine: on its own terms, as
 * issued; only its label is the template's name as it is now.
 */
export function couponDiscount(
  c: Coupon & { template: CouponTemplate },
  ctx: { memberId: string | null; at: Date; lines: { variantId: string; productId: string; categoryChain: string[]; gross: number; unitPrice: number; pricePer: number }[] },
): ExtraDiscount {
  if (c.status !== 'issued') throw conflict('coupon_unusable', `coupon ${c.code} is ${c.status}`)
  if (c.validFrom > ctx.at || (c.validTo && c.validTo <= ctx.at)) throw conflict('coupon_unusable', `coupon ${c.code} is not valid now`)
  if (c.memberId && c.memberId !== ctx.memberId) throw conflict('coupon_unusable', `coupon ${c.code} belongs to another member`)
  const scope = { productIds: c.productIds, variantIds: c.variantIds, categoryIds: c.categoryIds }
  const scoped = (l: (typeof ctx.lines)[number]) =>
    (scope.productIds.length + scope.variantIds.length + scope.categoryIds.length === 0) ||
    scope.productIds.includes(l.productId) ||
    scope.variantIds.includes(l.variantId) ||
    l.categoryChain.some((x) => scope.categoryIds.includes(x))
  const eligible = ctx.lines.filter(scoped).reduce((a, l) => a + l.gross, 0)
  if (eligible < c.minSpend) throw invalid('coupon_min_spend', `coupon ${c.code} needs a spend of ${c.minSpend} on eligible items (${eligible} in the cart)`, { minSpend: c.minSpend, eligible })
  const base = { source: 'coupon' as const, sourceId: c.id, label: c.template.name }
  if (c.kind === 'amount_off') return { ...base, step: 4, scope, amount: c.amount! }
  if (c.kind === 'percent_off') return { ...base, step: 2, scope, percentBp: c.percentBp! }
  const free = ctx.lines.find((l) => l.variantId === c.freeVariantId)
  if (!free) throw invalid('coupon_item_missing', `coupon ${c.code} gives an item that is not in the cart`)
  // The units at what they cost by then (after promotions and tier prices), not at their list price.
  return { ...base, step: 3, scope: { variantIds: [c.freeVariantId!] }, freeUnits: c.freeQuantity! }
}

/** Marks a coupon used by a sale; only one sale can, whatever races. */
export async function redeemCoupon(tx: Tx, merchantId: string, couponId: string, saleId: string, at: Date): Promise<void> {
  const r = await tx
    .update(coupons)
    .set({ status: 'redeemed', redeemedSaleId: saleId, redeemedAt: at, updatedAt: at })
    .where(and(eq(coupons.merchantId, merchantId), eq(coupons.id, couponId), eq(coupons.status, 'issued')))
    .returning({ id: coupons.id })
  if (r.length === 0) throw conflict('coupon_unusable', 'the coupon was used or voided meanwhile')
}

/** Gives a coupon back when its sale is refunded in full, if its template says so and it is still valid. */
export async function restoreCoupons(tx: Tx, actor: Actor, saleId: string, at: Date): Promise<number> {
  const r = await tx.execute(sql`
    update coupons c set status = 'issued', redeemed_sale_id = null, redeemed_at = null, updated_at = now()
      from coupon_templates t
     where c.template_id = t.id and c.merchant_id = ${actor.merchantId} and c.redeemed_sale_id = ${saleId}
       and c.status = 'redeemed' and t.restore_on_refund and (c.valid_to is null or c.valid_to > ${at.toISOString()}::timestamptz)
    returning c.id`)
  if (r.rows.length) await recordAudit(tx, actor, { action: 'coupons.restored', entityType: 'sale', entityId: saleId, details: { coupons: r.rows.map((x) => (x as { id: string }).id) } })
  return r.rows.length
}

export async function voidCoupon(tx: Tx, actor: Actor, id: string, reason: string): Promise<Coupon> {
  const [c] = await tx
    .update(coupons)
    .set({ status: 'void', voidReason: reason, updatedAt: new Date() })
    .where(and(eq(coupons.merchantId, actor.merchantId), eq(coupons.id, id), eq(coupons.status, 'issued')))
    .returning()
  if (!c) {
    const [held] = await tx.select({ status: coupons.status }).from(coupons).where(and(eq(coupons.merchantId, actor.merchantId), eq(coupons.id, id)))
    if (!held) throw notFound('coupon', id)
    throw conflict('coupon_not_voidable', `only an unused coupon can be voided; this one is ${held.status}`, { status: held.status })
  }
  await recordAudit(tx, actor, { action: 'coupon.voided', entityType: 'coupon', entityId: id, details: { reason } })
  return c
}

export async function expireCoupons(tx: Tx, merchantId: string, at: Date): Promise<number> {
  const r = await tx
    .update(coupons)
    .set({ status: 'expired', updatedAt: at })
    .where(and(eq(coupons.merchantId, merchantId), eq(coupons.status, 'issued'), lt(coupons.validTo, at)))
    .returning({ id: coupons.id })
  return r.length
}
