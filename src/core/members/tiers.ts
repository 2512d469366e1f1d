// Tiers (e.g. normal, silver, gold) decided by a member's rolling spend: net amount paid in the merchant's tier
// window (completed sales minus refunds, both by their own date). A sale can raise a tier at once; refunds and the
// window sliding past old sales lower it (after refunds at once, by the daily review otherwise).
import { and, asc, eq, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvent } from '../events/service.ts'
import { members, tierHistory, tiers } from './schema.ts'

export type Tier = typeof tiers.$inferSelect

export interface TierInput {
  code: string
  name: string
  rank: number
  minSpend: number
  discountBp?: number
  pointsMultiplierBp?: number
}

function check(t: Partial<TierInput>) {
  if (t.minSpend !== undefined && (!Number.isSafeInteger(t.minSpend) || t.minSpend < 0)) throw invalid('invalid_amount', 'minSpend must be a whole, non-negative number of minor units')
  if (t.discountBp !== undefined && (t.discountBp < 0 || t.discountBp > 10_000)) throw invalid('invalid_discount', 'tier discount must be 0–10000 basis points')
  if (t.pointsMultiplierBp !== undefined && t.pointsMultiplierBp < 0) throw invalid('invalid_multiplier', 'points multiplier must not be negative')
}

const unique = (e: unknown): never => {
  if (isUniqueViolation(e, 'tiers_code_key')) throw conflict('tier_code_taken', 'a tier with this code exists')
  if (isUniqueViolation(e, 'tiers_rank_key')) throw conflict('tier_rank_taken', 'a tier with this rank exists')
  throw e
}

export async function createTier(tx: Tx, actor: Actor, input: TierInput): Promise<Tier> {
  check(input)
  try {
    const [t] = await tx.transaction((sp) => sp.insert(tiers).values({ id: newId(), merchantId: actor.merchantId, ...input }).returning())
    await recordAudit(tx, actor, { action: 'tier.created', entityType: 'tier', entityId: t!.id, details: { ...input } })
    return t!
  } catch (e) {
    return unique(e)
  }
}

export async function updateTier(tx: Tx, actor: Actor, id: string, changes: Partial<TierInput>): Promise<Tier> {
  check(changes)
  const [before] = await tx.select().from(tiers).where(and(eq(tiers.merchantId, actor.merchantId), eq(tiers.id, id)))
  if (!before) throw notFound('tier', id)
  try {
    const [t] = await tx.transaction((sp) => sp.update(tiers).set({ ...changes, updatedAt: new Date() }).where(eq(tiers.id, id)).returning())
    await recordAudit(tx, actor, { action: 'tier.updated', entityType: 'tier', entityId: id, details: { before, changes } })
    return t!
  } catch (e) {
    return unique(e)
  }
}

export const listTiers = (tx: Tx, merchantId: string) => tx.select().from(tiers).where(eq(tiers.merchantId, merchantId)).orderBy(asc(tiers.rank))

export async function getTier(tx: Tx, merchantId: string, id: string | null): Promise<Tier | undefined> {
  if (!id) return undefined
  const [t] = await tx.select().from(tiers).where(and(eq(tiers.merchantId, merchantId), eq(tiers.id, id)))
  return t
}

/**
 * Net amount a member paid from `since`, as one SQL value: their completed sales of the window with the cash rounding
 * and what an offline till took over or under the total (what the tenders took, as a refund gives back), less what
 * was refunded of those sales. `memberId` is a value, or a column of the query it
 * goes in (segments use it over `members m`). A tier's rolling spend and a segment's spend in a window are both this.
 */
export const netSpendSince = (merchantId: string, memberId: string | SQL, since: Date): SQL => sql`(
    coalesce((select sum(s.total + s.rounding_adjustment + s.tender_difference) from sales s
               where s.merchant_id = ${merchantId} and s.member_id = ${memberId} and s.status = 'completed'
                 and s.occurred_at >= ${since.toISOString()}::timestamptz), 0)
    -- Refunds of the window's sales, whenever given: a sale from before the window takes nothing off it. A void
    -- counts as a refund while the sale is still completed (inside the void, which reviews the tier before it
    -- marks the sale voided); after that the sale is not counted at all.
    - coalesce((select sum(r.total) from refunds r join sales s on s.id = r.sale_id
               where s.merchant_id = ${merchantId} and s.member_id = ${memberId} and s.status = 'completed'
                 and s.occurred_at >= ${since.toISOString()}::timestamptz), 0))`

/** Net amount a member paid in the window ending now: its completed sales, less what was refunded of them. */
export async function rollingSpend(tx: Tx, merchantId: string, memberId: string, since: Date): Promise<number> {
  const r = await tx.execute<{ spend: number }>(sql`select ${netSpendSince(merchantId, memberId, since)} as spend`)
  return Number(r.rows[0]!.spend)
}

/**
 * Puts a member in the tier their rolling spend qualifies for; records the change. Returns the tier now held. The
 * member is locked before the tier and the spend are read: a sale or refund of the member (which holds that lock
 * until it commits) is then either wholly in the spend or has not begun, never a change judged on the spend before it.
 */
export async function reviewTier(tx: Tx, actor: Actor, memberId: string, opts: { windowDays: number; now: Date; reason: string; allowDowngrade: boolean }): Promise<string | null> {
  const [m] = await tx.select({ tierId: members.tierId }).from(members).where(and(eq(members.merchantId, actor.merchantId), eq(members.id, memberId))).for('update')
  if (!m) throw notFound('member', memberId)
  const all = await listTiers(tx, actor.merchantId)
  if (all.length === 0) return null
  const spend = await rollingSpend(tx, actor.merchantId, memberId, new Date(opts.now.getTime() - opts.windowDays * 86_400_000))
  const qualified = [...all].reverse().find((t) => t.minSpend <= spend) ?? all[0]!
  const current = all.find((t) => t.id === m.tierId)
  if (current?.id === qualified.id) return qualified.id
  if (current && qualified.rank < current.rank && !opts.allowDowngrade) return current.id
  await moveTier(tx, actor.merchantId, memberId, { from: current ?? null, to: qualified, rollingSpend: spend, reason: opts.reason, at: new Date() })
  return qualified.id
}

/** Puts a member in tier `to`: the member, the tier history and the member.tier_changed event, together. */
export async function moveTier(
  tx: Tx,
  merchantId: string,
  memberId: string,
  m: { from: { id: string; code: string } | null; to: { id: string; code: string }; rollingSpend: number; reason: string; at: Date },
): Promise<void> {
  await tx.update(members).set({ tierId: m.to.id, updatedAt: m.at }).where(eq(members.id, memberId))
  await tx.insert(tierHistory).values({ merchantId, memberId, fromTierId: m.from?.id ?? null, toTierId: m.to.id, rollingSpend: m.rollingSpend, reason: m.reason })
  await recordEvent(tx, merchantId, {
    type: 'member.tier_changed',
    entityType: 'member',
    entityId: memberId,
    data: { memberId, from: m.from?.code ?? null, to: m.to.code, rollingSpend: m.rollingSpend },
  })
}
