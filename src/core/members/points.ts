// Points: an append-only ledger whose earn rows are lots. Spending takes from the lots that expire first (then the
// oldest), so the first earned are the first used; expiry removes what is left of a lot on its date. A refund takes
// back the points its sale earned — from the balance as far as it goes, the rest is recorded as a debt that the next
// earnings pay off — and gives back the points the sale spent, valid as long as the lots they were taken from.
import { and, asc, eq, gt, lt, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid } from '../../lib/errors.ts'
import { mulDivFloor } from '../../lib/money.ts'
import { addDays, businessDate } from '../../lib/time.ts'
import type { LoyaltySettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { merchants } from '../merchants/schema.ts'
import { members, pointsLedger, pointsLots, type PointsKind } from './schema.ts'

/** The last day points earned on `day` are valid (null: they never expire). */
export function pointsExpiry(rule: LoyaltySettings['expiry'], day: string): string | null {
  if (rule === 'never') return null
  if (rule === 'end_of_next_year') return `${Number(day.slice(0, 4)) + 1}-12-31`
  return addDays(day, rule.days)
}

/** Points for an eligible paid amount: floor(amount × multiplier / (spend per point × 10000)), never rounded up. */
export const pointsForAmount = (eligible: number, loyalty: Pick<LoyaltySettings, 'spendPerPoint'>, multiplierBp: number) =>
  eligible <= 0 ? 0 : mulDivFloor(eligible, multiplierBp, loyalty.spendPerPoint * 10_000)

interface Ctx {
  actor: Actor
  memberId: string
  saleId?: string | null
  refundId?: string | null
  note?: string | null
  /** When it happened (the sale's time); the ledger row's time. Default: now. */
  at?: Date
}

async function lockMember(tx: Tx, merchantId: string, memberId: string) {
  const [m] = await tx
    .select({ balance: members.pointsBalance, debt: members.pointsDebt, timeZone: merchants.timeZone })
    .from(members)
    .innerJoin(merchants, eq(merchants.id, members.merchantId))
    .where(and(eq(members.merchantId, merchantId), eq(members.id, memberId)))
    .for('update', { of: members })
  if (!m) throw invalid('unknown_member', `member ${memberId} does not exist`)
  return m
}

/**
 * Locks the member about to spend or give back points, with what is left of its lots past their last valid day taken
 * off first (as the daily expiry would): they are never spent, whether or not that job has run yet today.
 */
async function lockSpender(tx: Tx, c: Ctx) {
  const m = await lockMember(tx, c.actor.merchantId, c.memberId)
  const today = businessDate(c.at ?? new Date(), m.timeZone)
  const expired = await expireLots(tx, c.actor, c.memberId, today, m.balance)
  return { ...m, balance: m.balance - expired }
}

/** A member's lots with points left after their last valid day (before `today`). */
const pastTheirDay = (memberId: string, today: string) => and(eq(pointsLots.memberId, memberId), gt(pointsLots.remaining, 0), lt(pointsLots.expiresAt, today))

/** The points of a member that may be spent on `today`: the balance less what lots past their date still hold. */
export async function spendablePoints(tx: Tx, memberId: string, balance: number, today: string): Promise<number> {
  const [row] = await tx
    .select({ n: sql<string>`coalesce(sum(${pointsLots.remaining}), 0)::text` })
    .from(pointsLots)
    .where(pastTheirDay(memberId, today))
  return balance - Number(row!.n)
}

async function writeLedger(tx: Tx, c: Ctx, kind: PointsKind, delta: number, balanceAfter: number, expiresAt: string | null = null) {
  const [row] = await tx
    .insert(pointsLedger)
    .values({
      merchantId: c.actor.merchantId,
      memberId: c.memberId,
      kind,
      delta,
      balanceAfter,
      saleId: c.saleId ?? null,
      refundId: c.refundId ?? null,
      expiresAt,
      note: c.note ?? null,
      actorId: c.actor.id,
      ...(c.at ? { at: c.at } : {}),
    })
    .returning({ id: pointsLedger.id })
  return row!.id
}

/**
 * Adds points as a lot valid until `expiresAt`. A debt from earlier refunds is paid off first; what remains of the
 * lot is what the member can spend.
 */
export async function creditPoints(
  tx: Tx,
  c: Ctx,
  points: number,
  kind: PointsKind,
  expiresAt: string | null,
  opts: { payDebt?: boolean } = {},
): Promise<{ credited: number; debtPaid: number }> {
  if (!Number.isSafeInteger(points) || points <= 0) return { credited: 0, debtPaid: 0 }
  const m = await lockMember(tx, c.actor.merchantId, c.memberId)
  let balance = m.balance + points
  const lotId = await writeLedger(tx, c, kind, points, balance, expiresAt)
  const debtPaid = opts.payDebt === false ? 0 : Math.min(m.debt, points)
  if (debtPaid > 0) {
    balance -= debtPaid
    await writeLedger(tx, { ...c, note: 'points owed from an earlier refund' }, 'debt_settled', -debtPaid, balance)
  }
  if (points - debtPaid > 0) {
    await tx.insert(pointsLots).values({ ledgerId: lotId, merchantId: c.actor.merchantId, memberId: c.memberId, remaining: points - debtPaid, expiresAt })
  }
  await tx.update(members).set({ pointsBalance: balance, pointsDebt: m.debt - debtPaid, updatedAt: new Date() }).where(eq(members.id, c.memberId))
  return { credited: points - debtPaid, debtPaid }
}

/**
 * Pays a member's points debt from their balance as far as it goes (after a merge brought a debt and a balance
 * together: otherwise a debt is only ever owed with nothing left to take), from the lots, first-expiring first. Lots
 * past their last valid day on `c.at` expire first: they pay nothing.
 */
export async function settleDebtFromBalance(tx: Tx, c: Ctx): Promise<number> {
  const m = await lockSpender(tx, c)
  const pay = Math.min(m.debt, m.balance)
  if (pay <= 0) return 0
  const { taken } = await takeFromLots(tx, c, pay)
  if (taken !== pay) throw new Error(`points lots of member ${c.memberId} do not match the balance`)
  const balance = m.balance - pay
  await writeLedger(tx, { ...c, note: c.note ?? 'points owed from an earlier refund' }, 'debt_settled', -pay, balance)
  await tx.update(members).set({ pointsBalance: balance, pointsDebt: m.debt - pay, updatedAt: new Date() }).where(eq(members.id, c.memberId))
  return pay
}

/** Points taken from lots of one last valid day (null: lots that never expire), in the order they were taken. */
export interface LotPart {
  points: number
  expiresAt: string | null
}

/**
 * Takes up to `points` from the lots, first-expiring first (then the oldest); with `ownSale`, the lots that sale
 * earned come before all others. Returns what was taken, and from lots of which last valid day.
 */
async function takeFromLots(tx: Tx, c: Ctx, points: number, ownSale?: string): Promise<{ taken: number; parts: LotPart[] }> {
  const order = [sql`${pointsLots.expiresAt} asc nulls last`, asc(pointsLots.ledgerId)]
  if (ownSale) order.unshift(sql`coalesce(${pointsLedger.saleId} = ${ownSale} and ${pointsLedger.kind} = 'earn', false) desc`)
  const lots = await tx
    .select({ ledgerId: pointsLots.ledgerId, remaining: pointsLots.remaining, expiresAt: pointsLots.expiresAt })
    .from(pointsLots)
    .innerJoin(pointsLedger, eq(pointsLedger.id, pointsLots.ledgerId))
    .where(and(eq(pointsLots.memberId, c.memberId), gt(pointsLots.remaining, 0)))
    .orderBy(...order)
    .for('update', { of: pointsLots })
  let left = points
  const parts: LotPart[] = []
  for (const lot of lots) {
    if (left === 0) break
    const take = Math.min(left, lot.remaining)
    left -= take
    await tx.update(pointsLots).set({ remaining: lot.remaining - take }).where(eq(pointsLots.ledgerId, lot.ledgerId))
    const last = parts.at(-1)
    if (last && last.expiresAt === lot.expiresAt) last.points += take
    else parts.push({ points: take, expiresAt: lot.expiresAt })
  }
  return { taken: points - left, parts }
}

/**
 * Spends points (a redemption, a manual deduction). Refuses more than the balance. A redemption is written as one
 * ledger row per last valid day of the lots it took (`expires_at`), so a refund of its sale gives them back valid no
 * longer than they were.
 */
export async function debitPoints(tx: Tx, c: Ctx, points: number, kind: PointsKind): Promise<number> {
  if (!Number.isSafeInteger(points) || points <= 0) throw invalid('invalid_points', 'points must be a positive whole number')
  const m = await lockSpender(tx, c)
  if (m.balance < points) throw invalid('insufficient_points', `the member has ${m.balance} points, ${points} needed`, { balance: m.balance, requested: points })
  const { taken, parts } = await takeFromLots(tx, c, points)
  if (taken !== points) throw new Error(`points lots of member ${c.memberId} do not match the balance`)
  let balance = m.balance
  if (kind === 'redeem') {
    for (const p of parts) {
      balance -= p.points
      await writeLedger(tx, c, kind, -p.points, balance, p.expiresAt)
    }
  } else {
    balance -= points
    await writeLedger(tx, c, kind, -points, balance)
  }
  await tx.update(members).set({ pointsBalance: balance, updatedAt: new Date() }).where(eq(members.id, c.memberId))
  return balance
}

/**
 * What a sale's redemption took, by last valid day, in the order taken. A redemption written before these days were
 * recorded is one row without a day, as is one of points that never expire: `unrecorded` stands for it (the last day
 * of points earned on the sale's day, or null under a rule where they never expire).
 */
export async function pointsRedeemedBy(tx: Tx, saleId: string, unrecorded: string | null): Promise<LotPart[]> {
  const rows = await tx
    .select({ delta: pointsLedger.delta, expiresAt: pointsLedger.expiresAt })
    .from(pointsLedger)
    .where(and(eq(pointsLedger.saleId, saleId), eq(pointsLedger.kind, 'redeem')))
    .orderBy(asc(pointsLedger.id))
  return rows.map((r) => ({ points: -r.delta, expiresAt: r.expiresAt ?? unrecorded }))
}

/**
 * Gives back points a refunded sale spent, each part valid to the last day of the lots it was taken from. A part
 * already past that day pays no debt: it is written and expires at once, as the daily expiry would have removed it.
 */
export async function restorePoints(tx: Tx, c: Ctx, parts: LotPart[]): Promise<number> {
  const m = await lockMember(tx, c.actor.merchantId, c.memberId)
  const today = businessDate(c.at ?? new Date(), m.timeZone)
  let restored = 0
  let dead = false
  for (const p of parts) {
    if (p.points <= 0) continue
    const past = p.expiresAt !== null && p.expiresAt < today
    await creditPoints(tx, c, p.points, 'refund_restore', p.expiresAt, { payDebt: !past })
    restored += p.points
    dead ||= past
  }
  // Written with the refund: its receipt shows the balance without them.
  if (dead) await expireLots(tx, c.actor, c.memberId, today, (await lockMember(tx, c.actor.merchantId, c.memberId)).balance, { saleId: c.saleId, refundId: c.refundId })
  return restored
}

/**
 * Takes back points a refunded sale earned: what the balance has (from the sale's own lot first, then the lots
 * expiring first), and the rest as a recorded debt. Points of the sale's own lot that expired unspent are gone
 * already: they are not taken again (the member owes only what they spent of them).
 */
export async function takeBackPoints(tx: Tx, c: Ctx, points: number): Promise<{ taken: number; debt: number }> {
  if (points <= 0) return { taken: 0, debt: 0 }
  const m = await lockSpender(tx, c)
  const expired = c.saleId ? await forgiveExpired(tx, c.saleId, points) : 0
  const owed = points - expired
  // The sale's own lot first: taking older points instead would leave its points valid longer than those were.
  const { taken } = await takeFromLots(tx, c, Math.min(owed, m.balance), c.saleId ?? undefined)
  const debt = owed - taken
  const balance = m.balance - taken
  const notes = [expired > 0 ? `${expired} of them had expired` : null, debt > 0 ? `${debt} points could not be taken back and are owed` : null].filter(Boolean)
  await writeLedger(tx, { ...c, note: notes.length ? notes.join('; ') : (c.note ?? null) }, 'refund_reversal', -taken, balance)
  await tx.update(members).set({ pointsBalance: balance, pointsDebt: m.debt + debt, updatedAt: new Date() }).where(eq(members.id, c.memberId))
  return { taken, debt }
}

/** Of `points` taken back for a sale, those its own lots lost to expiry (not yet counted by an earlier refund). */
async function forgiveExpired(tx: Tx, saleId: string, points: number): Promise<number> {
  const lots = await tx
    .select({ ledgerId: pointsLots.ledgerId, expired: pointsLots.expired, forgiven: pointsLots.forgiven })
    .from(pointsLots)
    .innerJoin(pointsLedger, eq(pointsLedger.id, pointsLots.ledgerId))
    .where(and(eq(pointsLedger.saleId, saleId), eq(pointsLedger.kind, 'earn'), gt(pointsLots.expired, pointsLots.forgiven)))
    .orderBy(asc(pointsLots.ledgerId))
    .for('update', { of: pointsLots })
  let left = points
  for (const lot of lots) {
    const take = Math.min(left, lot.expired - lot.forgiven)
    if (take === 0) break
    left -= take
    await tx.update(pointsLots).set({ forgiven: lot.forgiven + take }).where(eq(pointsLots.ledgerId, lot.ledgerId))
  }
  return points - left
}

/** Removes what is left of lots that expired before `today` (the merchant's business date). */
export async function expirePoints(tx: Tx, actor: Actor, today: string): Promise<{ members: number; points: number }> {
  const due = await tx
    .selectDistinct({ memberId: pointsLots.memberId })
    .from(pointsLots)
    .where(and(eq(pointsLots.merchantId, actor.merchantId), gt(pointsLots.remaining, 0), lt(pointsLots.expiresAt, today)))
  let total = 0
  for (const { memberId } of due) {
    // Member first, then its lots: the same lock order as spending, and the amounts are read under the locks.
    const m = await lockMember(tx, actor.merchantId, memberId)
    total += await expireLots(tx, actor, memberId, today, m.balance)
  }
  return { members: due.length, points: total }
}

/** Removes what is left of a locked member's lots past their last valid day; returns the points removed. */
async function expireLots(tx: Tx, actor: Actor, memberId: string, today: string, balance: number, cause: Pick<Ctx, 'saleId' | 'refundId'> = {}): Promise<number> {
  const lots = await tx
    .select({ ledgerId: pointsLots.ledgerId, remaining: pointsLots.remaining })
    .from(pointsLots)
    .where(pastTheirDay(memberId, today))
    .for('update')
  const amount = lots.reduce((a, l) => a + l.remaining, 0)
  if (amount === 0) return 0
  for (const l of lots) await tx.update(pointsLots).set({ remaining: 0, expired: sql`${pointsLots.expired} + ${l.remaining}` }).where(eq(pointsLots.ledgerId, l.ledgerId))
  await writeLedger(tx, { actor, memberId, note: `expired before ${today}`, ...cause }, 'expire', -amount, balance - amount)
  await tx.update(members).set({ pointsBalance: balance - amount, updatedAt: new Date() }).where(eq(members.id, memberId))
  return amount
}

/** A person adds or removes points by hand (with a reason); not on a member merged into another. */
export async function adjustPoints(tx: Tx, actor: Actor, memberId: string, delta: number, reason: string, loyalty: LoyaltySettings, timeZone: string, at = new Date()) {
  if (!Number.isSafeInteger(delta) || delta === 0) throw invalid('invalid_points', 'the adjustment must be a non-zero whole number of points')
  // Locked before its status is read: a merge that commits meanwhile would leave the points on the merged member.
  const [m] = await tx.select({ status: members.status }).from(members).where(and(eq(members.merchantId, actor.merchantId), eq(members.id, memberId))).for('update')
  if (m && m.status !== 'active') throw conflict('member_merged', 'this member was merged into another')
  const c: Ctx = { actor, memberId, note: reason, at }
  if (delta > 0) await creditPoints(tx, c, delta, 'adjust', pointsExpiry(loyalty.expiry, businessDate(at, timeZone)))
  else await debitPoints(tx, c, -delta, 'adjust')
  await recordAudit(tx, actor, { action: 'points.adjusted', entityType: 'member', entityId: memberId, details: { delta, reason } })
}
