// Birthday gifts: in a member's birthday month (in the merchant's time zone), a coupon or points, once a year —
// the birthday_gifts row is claimed first, so a job that runs twice gives nothing twice. A coupon gift whose template
// cannot issue now (switched off, ended, not the merchant's) is skipped before anything is claimed: the members stay
// due, and get it on a later run of the month once the template is fixed. The gift's own once-a-year rule stands in
// for the template's per-member limit (last year's coupon does not stop this year's); a member the coupon is still
// not issued to is not claimed either, and stays due.
import { and, eq, isNull, lt } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { addMonths, businessDate, localInstant } from '../../lib/time.ts'
import { isDomainError } from '../../lib/errors.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { assertIssuable, getTemplate, issueCoupons } from './coupons.ts'
import { creditPoints, pointsExpiry } from './points.ts'
import { birthdayGifts, members } from './schema.ts'

/** Why a coupon template cannot give birthday gifts now (the codes getTemplate and assertIssuable refuse with). */
const UNUSABLE_TEMPLATE = ['coupon_template_not_found', 'template_inactive', 'template_expired']

/** A birthday gift not given on this run: the members due stay due. */
export interface SkippedBirthdayGift {
  templateId: string
  /**
   * The code the template was refused with: coupon_template_not_found, template_inactive or template_expired; or
   * coupon_not_issued when the template issues but left some members out.
   */
  reason: string
  message: string
  /** Members due a gift who did not get it. */
  due: number
}

/**
 * Gives the gifts of this month (the merchant's), or of `ofMonth` ('YYYY-MM', a month that has ended: its last run was
 * missed) to the members of that month (joined before it ended).
 */
export async function giveBirthdayGifts(tx: Tx, actor: Actor, now: Date, ofMonth?: string): Promise<{ gifted: number; skipped?: SkippedBirthdayGift }> {
  const settings = await getSettings(tx, actor.merchantId)
  const gift = settings.loyalty.birthdayGift
  if (!gift) return { gifted: 0 }
  const today = businessDate(now, settings.timeZone)
  const of = ofMonth ?? today.slice(0, 7)
  const year = Number(of.slice(0, 4))
  const month = Number(of.slice(5, 7))
  const ended = of < today.slice(0, 7) ? localInstant(`${addMonths(of, 1)}-01`, '00:00', settings.timeZone) : null
  const due = await tx
    .select({ id: members.id })
    .from(members)
    .leftJoin(birthdayGifts, and(eq(birthdayGifts.memberId, members.id), eq(birthdayGifts.year, year)))
    .where(
      and(
        eq(members.merchantId, actor.merchantId),
        eq(members.status, 'active'),
        eq(members.birthMonth, month),
        isNull(birthdayGifts.memberId),
        ended ? lt(members.createdAt, ended) : undefined,
      ),
    )
  if (due.length === 0) return { gifted: 0 }
  if (gift.kind === 'coupon') {
    try {
      assertIssuable(await getTemplate(tx, actor.merchantId, gift.templateId), now)
    } catch (e) {
      if (!(isDomainError(e) && UNUSABLE_TEMPLATE.includes(e.code))) throw e
      return { gifted: 0, skipped: { templateId: gift.templateId, reason: e.code, message: e.message, due: due.length } }
    }
  }
  let gifted = 0
  const notIssued: string[] = []
  for (const { id } of due) {
    // Locked and read again: a member merged away since the list was read gets nothing (the one it went into may).
    const [still] = await tx.select({ status: members.status }).from(members).where(eq(members.id, id)).for('update')
    if (still?.status !== 'active') continue
    const claimed = await tx
      .insert(birthdayGifts)
      .values({ merchantId: actor.merchantId, memberId: id, year, kind: gift.kind, points: gift.kind === 'points' ? gift.points : null })
      .onConflictDoNothing()
      .returning({ memberId: birthdayGifts.memberId })
    if (claimed.length === 0) continue
    if (gift.kind === 'points') {
      await creditPoints(tx, { actor, memberId: id, note: `birthday ${year}` }, gift.points, 'birthday', pointsExpiry(settings.loyalty.expiry, today))
    } else {
      const { issued, skipped } = await issueCoupons(tx, actor, { templateId: gift.templateId, memberIds: [id], source: 'birthday', at: now, ignoreMemberLimit: true })
      if (!issued[0]) {
        // Nothing given: the claim goes back, and the member stays due for a later run.
        await tx.delete(birthdayGifts).where(and(eq(birthdayGifts.memberId, id), eq(birthdayGifts.year, year)))
        notIssued.push(skipped[0]?.reason ?? 'no coupon issued')
        continue
      }
      await tx.update(birthdayGifts).set({ couponId: issued[0].id }).where(and(eq(birthdayGifts.memberId, id), eq(birthdayGifts.year, year)))
    }
    gifted++
  }
  if (gift.kind !== 'coupon' || notIssued.length === 0) return { gifted }
  const reasons = [...new Set(notIssued)].join('; ')
  return { gifted, skipped: { templateId: gift.templateId, reason: 'coupon_not_issued', message: `the coupon was not issued to ${notIssued.length} member(s): ${reasons}`, due: notIssued.length } }
}
