// Daily loyalty housekeeping for every merchant, on the merchant's own business date: expire points and coupons,
// give birthday gifts, and lower tiers whose rolling spend fell below them. Each step is idempotent, so the hourly
// schedule (and a rerun after a crash) does each day's work once. A merchant whose day fails is logged and tried
// again the next hour; the others go on.
import { z } from 'zod'
import { and, eq, gt, sql } from 'drizzle-orm'
import { merchants } from '../core/merchants/schema.ts'
import { getSettings } from '../core/merchants/settings.ts'
import { systemActor } from '../core/staff/actor.ts'
import { expirePoints } from '../core/members/points.ts'
import { expireCoupons } from '../core/members/coupons.ts'
import { giveBirthdayGifts, type SkippedBirthdayGift } from '../core/members/birthday.ts'
import { reviewTier } from '../core/members/tiers.ts'
import { members, tiers } from '../core/members/schema.ts'
import { addMonths, businessDate } from '../lib/time.ts'
import type { Hub } from '../runtime.ts'
import { defineTask, type CronDefinition } from './task.ts'
import { advanceMark, laterDay, markOf } from './daily-marks.ts'

export async function runLoyaltyDay(hub: Pick<Hub, 'database' | 'logger'>, merchantId: string, now: Date) {
  const db = hub.database.db
  const actor = systemActor(merchantId, 'loyalty daily')
  const settings = await getSettings(db, merchantId)
  const today = businessDate(now, settings.timeZone)
  const expired = await db.transaction((tx) => expirePoints(tx, actor, today))
  const coupons = await db.transaction((tx) => expireCoupons(tx, merchantId, now))
  // The gifts of the months since the last run too, when that was in another (their last runs were missed: the hub
  // was down), each to the members of its month: back to the last run's month, at most 11 months back (a month
  // before that comes round again this year).
  const mark = await markOf(db, merchantId, 'loyalty')
  const thisMonth = today.slice(0, 7)
  const missedMonths: string[] = []
  if (mark) for (let m = laterDay(mark.slice(0, 7), addMonths(thisMonth, -11)); m < thisMonth; m = addMonths(m, 1)) missedMonths.push(m)
  const birthdays: { gifted: number; skipped?: SkippedBirthdayGift } = { gifted: 0 }
  let missedSkipped = false
  for (const month of [...missedMonths, undefined]) {
    const r = await db.transaction((tx) => giveBirthdayGifts(tx, actor, now, month))
    birthdays.gifted += r.gifted
    if (r.skipped) birthdays.skipped = r.skipped
    if (r.skipped && month) missedSkipped = true
  }
  // A template that cannot issue skips the gift, and a member it left out is skipped too (the members stay due for a
  // later run), not the rest of the day.
  const skipped = birthdays.skipped
  if (skipped) hub.logger.warn({ merchantId, templateId: skipped.templateId, reason: skipped.reason, due: skipped.due }, `birthday gifts not given: ${skipped.message}`)
  // Members above the entry tier may have slid below it as old sales left the window.
  const [entry] = await db.select({ rank: sql<number>`min(${tiers.rank})` }).from(tiers).where(eq(tiers.merchantId, merchantId))
  let reviewed = 0
  if (entry?.rank !== null && entry?.rank !== undefined) {
    const above = await db
      .select({ id: members.id })
      .from(members)
      .innerJoin(tiers, eq(tiers.id, members.tierId))
      .where(and(eq(members.merchantId, merchantId), eq(members.status, 'active'), gt(tiers.rank, entry.rank)))
    for (const m of above) {
      await db.transaction((tx) => reviewTier(tx, actor, m.id, { windowDays: settings.loyalty.tierWindowDays, now, reason: 'daily review', allowDowngrade: true }))
      reviewed++
    }
  }
  // The day is done; missed months whose gifts a template kept back are looked at again by the next run.
  if (!missedSkipped) await advanceMark(db, merchantId, 'loyalty', today, now)
  return { pointsExpired: expired.points, couponsExpired: coupons, birthdayGifts: birthdays.gifted, birthdayGiftsSkipped: skipped?.due ?? 0, tiersReviewed: reviewed }
}

export const loyaltyDaily = defineTask({
  name: 'loyalty.daily',
  payload: z.object({ merchantId: z.uuid().optional() }).loose(),
  async run(payload, { hub }) {
    const ids = payload.merchantId ? [payload.merchantId] : (await hub.database.db.select({ id: merchants.id }).from(merchants)).map((m) => m.id)
    for (const id of ids) {
      try {
        const r = await runLoyaltyDay(hub, id, hub.clock())
        if (r.pointsExpired || r.couponsExpired || r.birthdayGifts) hub.logger.info({ merchantId: id, ...r }, 'loyalty day')
      } catch (e) {
        // One merchant's failure must not hold up the others (as in vouchers.schedule); each step is idempotent, so
        // the next hourly run tries this merchant's day again. A run for one merchant fails as it is.
        if (payload.merchantId) throw e
        hub.logger.warn({ merchantId: id, err: e }, 'loyalty day failed')
      }
    }
  },
})

export const tasks = [loyaltyDaily]
export const cron: CronDefinition[] = [{ task: 'loyalty.daily', match: '7 * * * *', backfillMs: 3600_000 }]
