// Merging two members (the same person registered twice): everything the source had moves to the target — points
// lots and debt, stored value (principal and bonus apart), coupons, purchase history, tags and the latest consent per
// channel — with ledger rows on both sides, so each ledger still adds up. The source stays, marked merged.
import { and, desc, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid } from '../../lib/errors.ts'
import { businessDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvent } from '../events/service.ts'
import { sales } from '../sales/schema.ts'
import { getMember, recordConsents, type Member } from './members.ts'
import { coupons, memberConsents, members, pointsLedger, pointsLots, storedValueLedger, type ConsentChannel } from './schema.ts'
import { settleDebtFromBalance } from './points.ts'
import { reviewTier } from './tiers.ts'

export async function mergeMembers(tx: Tx, actor: Actor, input: { targetId: string; sourceId: string; now?: Date }): Promise<Member> {
  if (input.targetId === input.sourceId) throw invalid('same_member', 'a member cannot be merged into itself')
  // Lock both in id order, the same order any other merge would take.
  const [first, second] = [input.targetId, input.sourceId].sort()
  await getMember(tx, actor.merchantId, first!, { lock: true })
  await getMember(tx, actor.merchantId, second!, { lock: true })
  const target = await getMember(tx, actor.merchantId, input.targetId)
  const source = await getMember(tx, actor.merchantId, input.sourceId)
  if (target.status !== 'active' || source.status !== 'active') throw conflict('member_merged', 'both members must be active')

  const base = { merchantId: actor.merchantId, actorId: actor.id }
  const at = input.now ?? new Date()
  const { loyalty, timeZone } = await getSettings(tx, actor.merchantId)
  if (source.pointsBalance > 0 || source.pointsDebt > 0) {
    await tx.insert(pointsLedger).values([
      { ...base, memberId: source.id, kind: 'merge_out', delta: -source.pointsBalance, balanceAfter: 0, note: `merged into ${target.cardNo}` },
      { ...base, memberId: target.id, kind: 'merge_in', delta: source.pointsBalance, balanceAfter: target.pointsBalance + source.pointsBalance, note: `merged from ${source.cardNo}` },
    ])
    await tx.update(pointsLots).set({ memberId: target.id }).where(eq(pointsLots.memberId, source.id))
  }
  if (source.storedPrincipal > 0 || source.storedBonus > 0) {
    const moved = { ...base, at, businessDate: businessDate(at, timeZone) }
    await tx.insert(storedValueLedger).values([
      { ...moved, memberId: source.id, kind: 'merge_out', principalDelta: -source.storedPrincipal, bonusDelta: -source.storedBonus, principalAfter: 0, bonusAfter: 0, note: `merged into ${target.cardNo}` },
      {
        ...moved,
        memberId: target.id,
        kind: 'merge_in',
        principalDelta: source.storedPrincipal,
        bonusDelta: source.storedBonus,
        principalAfter: target.storedPrincipal + source.storedPrincipal,
        bonusAfter: target.storedBonus + source.storedBonus,
        note: `merged from ${source.cardNo}`,
      },
    ])
  }
  await tx
    .update(members)
    .set({
      pointsBalance: target.pointsBalance + source.pointsBalance,
      pointsDebt: target.pointsDebt + source.pointsDebt,
      storedPrincipal: target.storedPrincipal + source.storedPrincipal,
      storedBonus: target.storedBonus + source.storedBonus,
      tags: [...new Set([...target.tags, ...source.tags])],
      name: target.name ?? source.name,
      email: target.email ?? source.email,
      birthMonth: target.birthMonth ?? source.birthMonth,
      birthDay: target.birthMonth ? target.birthDay : source.birthDay,
      birthYear: target.birthMonth ? target.birthYear : source.birthYear,
      wechatOpenId: target.wechatOpenId ?? source.wechatOpenId,
      lastPurchaseAt: sql`greatest(${members.lastPurchaseAt}, ${source.lastPurchaseAt?.toISOString() ?? null}::timestamptz)`,
      updatedAt: new Date(),
    })
    .where(eq(members.id, target.id))
  await tx
    .update(members)
    .set({ status: 'merged', mergedInto: target.id, pointsBalance: 0, pointsDebt: 0, storedPrincipal: 0, storedBonus: 0, updatedAt: new Date() })
    .where(eq(members.id, source.id))
  // A debt of either, with a balance of the other, is paid as a refund now would take it.
  // Only with points still valid at the merge's time: lots past their last valid day expire first.
  await settleDebtFromBalance(tx, { actor, memberId: target.id, note: `points owed, paid on merging ${source.cardNo}`, at })
  // Members merged into the source before now point at the target: one step from any merged member to the one that
  // stands (campaign attribution follows it).
  await tx.update(members).set({ mergedInto: target.id }).where(and(eq(members.merchantId, actor.merchantId), eq(members.mergedInto, source.id)))
  await tx.update(coupons).set({ memberId: target.id, updatedAt: new Date() }).where(eq(coupons.memberId, source.id))
  await tx.update(sales).set({ memberId: target.id }).where(and(eq(sales.merchantId, actor.merchantId), eq(sales.memberId, source.id)))
  // One birthday gift a year for the person: a year the merged-away member had one, the remaining member has it too.
  await tx.execute(sql`
    insert into birthday_gifts (merchant_id, member_id, year, kind, coupon_id, points, created_at)
    select merchant_id, ${target.id}, year, kind, coupon_id, points, created_at from birthday_gifts where member_id = ${source.id}
    on conflict (member_id, year) do nothing`)

  // Consent: per channel, whichever of the two said something last is what stands.
  const latest = await tx
    .selectDistinctOn([memberConsents.channel], { channel: memberConsents.channel, granted: memberConsents.granted, memberId: memberConsents.memberId, at: memberConsents.at })
    .from(memberConsents)
    .where(inArray(memberConsents.memberId, [target.id, source.id]))
    .orderBy(memberConsents.channel, desc(memberConsents.at), desc(memberConsents.id))
  const carried = latest.filter((c) => c.memberId === source.id)
  await recordConsents(
    tx,
    actor,
    target.id,
    carried.map((c) => ({ channel: c.channel as ConsentChannel, granted: c.granted, source: 'merge', evidence: `latest consent of merged member ${source.cardNo} (${c.at.toISOString()})` })),
  )
  await reviewTier(tx, actor, target.id, { windowDays: loyalty.tierWindowDays, now: at, reason: 'merge', allowDowngrade: false })
  await recordAudit(tx, actor, {
    action: 'member.merged',
    entityType: 'member',
    entityId: target.id,
    details: { sourceId: source.id, points: source.pointsBalance, pointsDebt: source.pointsDebt, storedPrincipal: source.storedPrincipal, storedBonus: source.storedBonus },
  })
  await recordEvent(tx, actor.merchantId, { type: 'member.merged', entityType: 'member', entityId: target.id, data: { targetId: target.id, sourceId: source.id } })
  return getMember(tx, actor.merchantId, target.id)
}
