// Birthday gifts: in a member's birthday month (in the merchant's time zone), a coupon or points, once a year —
// the birthday_gifts row is claimed first, so a job that runs twice gives nothing twice.
import { and, eq, isNull, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { businessDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { issueCoupons } from './coupons.ts'
import { creditPoints, pointsExpiry } from './points.ts'
import { birthdayGifts, members } from './schema.ts'

export async function giveBirthdayGifts(tx: Tx, actor: Actor, now: Date): Promise<{ gifted: number }> {
  const settings = await getSettings(tx, actor.merchantId)
  const gift = settings.loyalty.birthdayGift
  if (!gift) return { gifted: 0 }
  const today = businessDate(now, settings.timeZone)
  const year = Number(today.slice(0, 4))
  const month = Number(today.slice(5, 7))
  const due = await tx
    .select({ id: members.id })
    .from(members)
    .leftJoin(birthdayGifts, and(eq(birthdayGifts.memberId, members.id), eq(birthdayGifts.year, year)))
    .where(and(eq(members.merchantId, actor.merchantId), eq(members.status, 'active'), eq(members.birthMonth, month), isNull(birthdayGifts.memberId)))
  let gifted = 0
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
      const { issued } = await issueCoupons(tx, actor, { templateId: gift.templateId, memberIds: [id], source: 'birthday', at: now })
      if (issued[0]) await tx.execute(sql`update birthday_gifts set coupon_id = ${issued[0].id} where member_id = ${id} and year = ${year}`)
    }
    gifted++
  }
  return { gifted }
}
