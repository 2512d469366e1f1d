// Cash sessions (shifts) on a register: opened with a counted float, fed by the cash of sales and refunds, and
// by paid-in/paid-out; the drawer's ledger is cash_movements and expected cash is its sum.
import { and, desc, eq, gt, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { checkRowCursor } from '../../db/page.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { businessDate } from '../../lib/time.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { getSettings } from '../merchants/settings.ts'
import { getRegister } from '../stores/service.ts'
import { requestDrawer } from './drawer.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvents } from '../events/service.ts'
import { MAX_PAYMENT_AMOUNT } from '../../lib/money.ts'
import { cashMovements, cashSessions, type CashMovementKind } from './schema.ts'
import { SESSION_LOCK_CLASS } from './context.ts'

export type CashSession = typeof cashSessions.$inferSelect

/** An amount past what any till takes (MAX_PAYMENT_AMOUNT). */
export const paymentTooLarge = () => invalid('amount_out_of_range', `a payment or drawer amount is at most ${MAX_PAYMENT_AMOUNT} minor units`, { max: MAX_PAYMENT_AMOUNT })

export async function openSession(tx: Tx, actor: Actor, input: { registerId: string; openingFloat: number; note?: string; at?: Date; rescue?: boolean }): Promise<CashSession> {
  if (!Number.isSafeInteger(input.openingFloat) || input.openingFloat < 0) throw invalid('invalid_amount', 'opening float must be a whole, non-negative number of minor units')
  if (input.openingFloat > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  const register = await getRegister(tx, actor.merchantId, input.registerId)
  if (!register.active) throw invalid('register_inactive', `register ${register.code} is not active`)
  const { timeZone } = await getSettings(tx, actor.merchantId)
  const at = input.at ?? new Date()
  const day = businessDate(at, timeZone)
  const id = newId()
  try {
    const [s] = await tx
      .insert(cashSessions)
      .values({
        id,
        merchantId: actor.merchantId,
        storeId: register.storeId,
        registerId: register.id,
        businessDate: day,
        openingFloat: input.openingFloat,
        openedBy: actor.id,
        openedAt: at,
        note: input.note,
        rescue: input.rescue ?? false,
      })
      .returning()
    if (input.openingFloat > 0) await addCashMovement(tx, actor, { sessionId: id, kind: 'float', amount: input.openingFloat, at, businessDate: day })
    await recordAudit(tx, actor, { action: 'cash_session.opened', entityType: 'cash_session', entityId: id, details: { registerId: register.id, openingFloat: input.openingFloat, rescue: input.rescue ?? false } })
    return s!
  } catch (e) {
    if (isUniqueViolation(e, 'cash_sessions_one_open_key')) throw conflict('session_already_open', `register ${register.code} already has an open session`)
    throw e
  }
}

export async function getSession(tx: Tx, merchantId: string, id: string): Promise<CashSession> {
  const [s] = await tx.select().from(cashSessions).where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.id, id)))
  if (!s) throw notFound('cash_session', id)
  return s
}

/**
 * The open session of a register, or undefined. `lock` takes a share lock so a concurrent close waits for the sale;
 * 'update' also keeps other payouts from the drawer (paid-outs, cash refunds) waiting until this one is done. Not
 * FOR UPDATE: that would also block the key-share lock a sale's row takes on its session (its foreign key), and a
 * sale holding its stock levels while it waits there, against a refund holding the session while it waits for those
 * levels, deadlocks.
 */
export async function openSessionOf(tx: Tx, merchantId: string, registerId: string, lock: boolean | 'update' = false): Promise<CashSession | undefined> {
  const q = tx
    .select()
    .from(cashSessions)
    .where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.registerId, registerId), eq(cashSessions.status, 'open'), eq(cashSessions.rescue, false)))
  const [s] = lock === 'update' ? await q.for('no key update') : lock ? await q.for('share') : await q
  return s
}

export async function requireOpenSession(tx: Tx, merchantId: string, registerId: string, lock: true | 'update' = true): Promise<CashSession> {
  const s = await openSessionOf(tx, merchantId, registerId, lock)
  if (!s) throw conflict('no_open_session', 'open a cash session on this register first')
  return s
}

export async function addCashMovement(
  tx: Tx,
  actor: Actor,
  m: { sessionId: string; kind: CashMovementKind; amount: number; reason?: string | null; saleId?: string; refundId?: string; approverId?: string | null; at: Date; businessDate: string },
): Promise<void> {
  if (m.amount === 0) return
  await tx.insert(cashMovements).values({
    merchantId: actor.merchantId,
    sessionId: m.sessionId,
    kind: m.kind,
    amount: m.amount,
    reason: m.reason ?? null,
    saleId: m.saleId ?? null,
    refundId: m.refundId ?? null,
    actorId: actor.id,
    approverId: m.approverId ?? null,
    at: m.at,
    businessDate: m.businessDate,
  })
}

/** Cash the drawer should hold now: the sum of the session's cash ledger. */
export async function expectedCash(tx: Tx, sessionId: string): Promise<number> {
  const r = await tx.execute<{ total: number }>(sql`select coalesce(sum(amount), 0)::bigint as total from cash_movements where session_id = ${sessionId}`)
  return Number(r.rows[0]!.total)
}

/**
 * Cash a refund or a void pays out of the drawer: never more than it holds, as for a paid-out. The caller holds the
 * session row for update, so two payouts never both count the same cash.
 */
export async function assertDrawerHolds(tx: Tx, sessionId: string, amount: number): Promise<void> {
  const expected = await expectedCash(tx, sessionId)
  if (amount > expected) throw invalid('not_enough_cash', 'the drawer does not hold that much cash', { expectedCash: expected, amount })
}

/**
 * Holds a session against closing for the rest of the transaction (the shared lock a close takes exclusively, so a
 * close in progress is waited for and a later one waits) and reads it as it is once held: closed, if a close
 * committed first. Undefined when the merchant has no such session.
 */
export async function holdSession(tx: Tx, merchantId: string, id: string): Promise<CashSession | undefined> {
  await tx.execute(sql`select pg_advisory_xact_lock_shared(${sessionLockKey(id)})`)
  const [s] = await tx.select().from(cashSessions).where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.id, id)))
  return s
}

/** The advisory lock of a session (class and key), the same however its id is spelled. */
const sessionLockKey = (id: string) => sql`${SESSION_LOCK_CLASS}, hashtext(${id}::uuid::text)`

/** Class of the advisory locks that let one transaction at a time find or open a register's rescue session. */
const RESCUE_LOCK_CLASS = 74_620_102

/**
 * The session a late offline sale goes to when its own session has closed, or a refund with no cash out when the
 * register has no open session: the register's rescue session, opened
 * on demand beside any regular session with no float, so neither the closed count nor the current shift changes.
 * Held against closing like any session a sale is written to; one that closed meanwhile is replaced by a new one.
 */
export async function rescueSessionFor(tx: Tx, actor: Actor, registerId: string, at: Date): Promise<CashSession> {
  // Only the merchant's own register (another's is as unknown as one that does not exist): before its lock is taken.
  await getRegister(tx, actor.merchantId, registerId)
  // Two batches arriving at once open one rescue session between them, not one each.
  await tx.execute(sql`select pg_advisory_xact_lock(${RESCUE_LOCK_CLASS}, hashtext(${registerId}::uuid::text))`)
  for (;;) {
    const rescue = await openRescueSession(tx, actor, registerId, at)
    const held = await holdSession(tx, actor.merchantId, rescue.id)
    if (!held) throw notFound('cash_session', rescue.id)
    if (held.status === 'open') return held
  }
}

async function openRescueSession(tx: Tx, actor: Actor, registerId: string, at: Date): Promise<CashSession> {
  // One rescue session per business day, as the sales it keeps: a later day's sales never go into an earlier day's
  // (whose count, and over/short, is that day's).
  const day = businessDate(at, (await getSettings(tx, actor.merchantId)).timeZone)
  const [lastRescue] = await tx
    .select()
    .from(cashSessions)
    .where(and(eq(cashSessions.merchantId, actor.merchantId), eq(cashSessions.registerId, registerId), eq(cashSessions.rescue, true), eq(cashSessions.status, 'open'), eq(cashSessions.businessDate, day)))
    .orderBy(desc(cashSessions.openedAt))
  if (lastRescue) return lastRescue
  return openSession(tx, actor, { registerId, openingFloat: 0, note: 'rescue session: offline sales that arrived after their session closed, refunds made with none open', at, rescue: true })
}

/** Whether a session of the register (not a rescue one) closed after `at`: its count took in the cash of a sale made then. */
export async function drawerCountedSince(tx: Tx, merchantId: string, registerId: string, at: Date): Promise<boolean> {
  const [row] = await tx
    .select({ id: cashSessions.id })
    .from(cashSessions)
    .where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.registerId, registerId), eq(cashSessions.status, 'closed'), eq(cashSessions.rescue, false), gt(cashSessions.closedAt, at)))
    .limit(1)
  return row !== undefined
}

/** Cash put into or taken out of the drawer without a sale (change float top-up, paying a supplier). */
export async function paidInOut(tx: Tx, actor: Actor, sessionId: string, input: { kind: 'paid_in' | 'paid_out'; amount: number; reason: string; approverId?: string | null }, at = new Date()) {
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0) throw invalid('invalid_amount', 'amount must be a positive whole number of minor units')
  if (input.amount > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  if (!input.reason.trim()) throw invalid('reason_required', 'say why cash goes in or out')
  const session = await lockSession(tx, actor.merchantId, sessionId)
  if (session.status !== 'open') throw conflict('session_closed', 'the session is closed')
  if (session.rescue) throw conflict('rescue_session', 'a rescue session keeps offline sales whose cash a closed count already took in: it has no drawer; use the register’s open session')
  const signed = input.kind === 'paid_in' ? input.amount : -input.amount
  if (signed < 0 && (await expectedCash(tx, sessionId)) + signed < 0) throw invalid('not_enough_cash', 'the drawer does not hold that much cash')
  const day = businessDate(at, (await getSettings(tx, actor.merchantId)).timeZone)
  await addCashMovement(tx, actor, { sessionId, kind: input.kind, amount: signed, reason: input.reason, approverId: input.approverId, at, businessDate: day })
  await recordAudit(tx, actor, { action: `cash.${input.kind}`, entityType: 'cash_session', entityId: sessionId, approverId: input.approverId ?? null, details: { amount: input.amount, reason: input.reason } })
  // The cash goes through the drawer: it opens, as for a cash sale.
  const register = await getRegister(tx, actor.merchantId, session.registerId)
  await requestDrawer(tx, actor, register, { reason: `${input.kind === 'paid_in' ? 'paid in' : 'paid out'}: ${input.reason.trim()}`, approverId: input.approverId ?? null, at })
  return { expectedCash: await expectedCash(tx, sessionId) }
}

/** The session row, locked against other changes of its drawer (see openSessionOf for why not FOR UPDATE). */
async function lockSession(tx: Tx, merchantId: string, id: string): Promise<CashSession> {
  const [s] = await tx.select().from(cashSessions).where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.id, id))).for('no key update')
  if (!s) throw notFound('cash_session', id)
  return s
}

/** Denominations as {"10000": 3, "50": 4}: value in minor units → count. */
export function countDenominations(d: Record<string, number>): number {
  let total = 0
  for (const [value, count] of Object.entries(d)) {
    const v = Number(value)
    if (!Number.isSafeInteger(v) || v <= 0) throw invalid('invalid_denomination', `denomination ${value} must be a positive whole number of minor units`)
    if (!Number.isSafeInteger(count) || count < 0) throw invalid('invalid_denomination', `count of ${value} must be a whole number ≥ 0`)
    total += v * count
    // Past a till's largest amount the sum is no longer exact; say so rather than carry a wrong count on.
    if (total > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  }
  return total
}

/**
 * Closes a session with the cash counted (a total or per denomination): expected is the sum of the drawer's ledger,
 * over/short = counted − expected. Locking the session row waits for sales in flight on it to commit.
 */
export async function closeSession(tx: Tx, actor: Actor, id: string, input: { countedCash?: number; denominations?: Record<string, number>; note?: string }, at = new Date()) {
  // Waits for sales in flight on this session (they hold the shared lock); later ones see it closed.
  await tx.execute(sql`select pg_advisory_xact_lock(${sessionLockKey(id)})`)
  const session = await lockSession(tx, actor.merchantId, id)
  if (session.status !== 'open') throw conflict('session_closed', 'the session is already closed')
  let counted = input.countedCash
  // An empty count by denominations is no count by denominations (a till may always send the field).
  const denominations = input.denominations && Object.keys(input.denominations).length > 0 ? input.denominations : undefined
  if (denominations) {
    const fromDenominations = countDenominations(denominations)
    if (counted !== undefined && counted !== fromDenominations) throw invalid('count_mismatch', `denominations add up to ${fromDenominations}, not ${counted}`)
    counted = fromDenominations
  }
  if (counted === undefined) throw invalid('count_required', 'give the counted cash (countedCash or denominations)')
  if (!Number.isSafeInteger(counted) || counted < 0) throw invalid('invalid_amount', 'the counted cash must be a whole, non-negative number of minor units')
  if (counted > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  const expected = await expectedCash(tx, id)
  const overShort = counted - expected
  const [closed] = await tx
    .update(cashSessions)
    .set({ status: 'closed', closedAt: at, closedBy: actor.id, expectedCash: expected, countedCash: counted, overShort, denominations: denominations ?? null, note: input.note ?? session.note })
    .where(eq(cashSessions.id, id))
    .returning()
  await recordAudit(tx, actor, { action: 'cash_session.closed', entityType: 'cash_session', entityId: id, details: { expected, counted, overShort } })
  await recordEvents(tx, actor.merchantId, [{ type: 'cash_session.closed', entityType: 'cash_session', entityId: id, data: { sessionId: id, registerId: session.registerId, storeId: session.storeId, businessDate: session.businessDate, expected, counted, overShort } }])
  return closed!
}

/** Sessions newest first (ties by id). `after`: the id of the previous page's last session. */
export async function listSessions(tx: Tx, merchantId: string, f: { storeId?: string; registerId?: string; status?: 'open' | 'closed'; businessDate?: string; after?: string; limit: number }) {
  if (f.after) await checkRowCursor(tx, cashSessions, merchantId, f.after)
  return tx
    .select()
    .from(cashSessions)
    .where(
      and(
        eq(cashSessions.merchantId, merchantId),
        f.storeId ? eq(cashSessions.storeId, f.storeId) : undefined,
        f.registerId ? eq(cashSessions.registerId, f.registerId) : undefined,
        f.status ? eq(cashSessions.status, f.status) : undefined,
        f.businessDate ? eq(cashSessions.businessDate, f.businessDate) : undefined,
        f.after ? sql`(${cashSessions.openedAt}, ${cashSessions.id}) < (select c.opened_at, c.id from cash_sessions c where c.id = ${f.after})` : undefined,
      ),
    )
    .orderBy(desc(cashSessions.openedAt), desc(cashSessions.id))
    .limit(f.limit)
}
