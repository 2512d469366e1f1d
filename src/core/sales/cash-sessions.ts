// Cash sessions (shifts) on a register: opened with a counted float, fed by the cash of sales and refunds, and
// by paid-in/paid-out; the drawer's ledger is cash_movements and expected cash is its sum.
import { and, desc, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { businessDate } from '../../lib/time.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { getSettings } from '../merchants/settings.ts'
import { getRegister } from '../stores/service.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { cashMovements, cashSessions, type CashMovementKind } from './schema.ts'

export type CashSession = typeof cashSessions.$inferSelect

export async function openSession(tx: Tx, actor: Actor, input: { registerId: string; openingFloat: number; note?: string; at?: Date; rescue?: boolean }): Promise<CashSession> {
  if (!Number.isSafeInteger(input.openingFloat) || input.openingFloat < 0) throw invalid('invalid_amount', 'opening float must be a whole, non-negative number of minor units')
  const register = await getRegister(tx, actor.merchantId, input.registerId)
  if (!register.active) throw invalid('register_inactive', `register ${register.code} is not active`)
  const { timeZone } = await getSettings(tx, actor.merchantId)
  const at = input.at ?? new Date()
  const id = newId()
  try {
    const [s] = await tx
      .insert(cashSessions)
      .values({
        id,
        merchantId: actor.merchantId,
        storeId: register.storeId,
        registerId: register.id,
        businessDate: businessDate(at, timeZone),
        openingFloat: input.openingFloat,
        openedBy: actor.id,
        openedAt: at,
        note: input.note,
        rescue: input.rescue ?? false,
      })
      .returning()
    if (input.openingFloat > 0) await addCashMovement(tx, actor, { sessionId: id, kind: 'float', amount: input.openingFloat, at })
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

/** The open session of a register, or undefined. `lock` takes a share lock so a concurrent close waits for the sale. */
export async function openSessionOf(tx: Tx, merchantId: string, registerId: string, lock = false): Promise<CashSession | undefined> {
  const q = tx
    .select()
    .from(cashSessions)
    .where(and(eq(cashSessions.merchantId, merchantId), eq(cashSessions.registerId, registerId), eq(cashSessions.status, 'open'), eq(cashSessions.rescue, false)))
  const [s] = lock ? await q.for('share') : await q
  return s
}

export async function requireOpenSession(tx: Tx, merchantId: string, registerId: string): Promise<CashSession> {
  const s = await openSessionOf(tx, merchantId, registerId, true)
  if (!s) throw conflict('no_open_session', 'open a cash session on this register first')
  return s
}

export async function addCashMovement(
  tx: Tx,
  actor: Actor,
  m: { sessionId: string; kind: CashMovementKind; amount: number; reason?: string | null; saleId?: string; refundId?: string; approverId?: string | null; at?: Date },
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
    at: m.at ?? new Date(),
  })
}

/** Cash the drawer should hold now: the sum of the session's cash ledger. */
export async function expectedCash(tx: Tx, sessionId: string): Promise<number> {
  const r = await tx.execute<{ total: number }>(sql`select coalesce(sum(amount), 0)::bigint as total from cash_movements where session_id = ${sessionId}`)
  return Number(r.rows[0]!.total)
}

/**
 * The session a late offline sale goes to when its own session has closed: the register's rescue session, opened
 * on demand beside any regular session with no float, so neither the closed count nor the current shift changes.
 */
export async function rescueSessionFor(tx: Tx, actor: Actor, registerId: string, at: Date): Promise<CashSession> {
  const [lastRescue] = await tx
    .select()
    .from(cashSessions)
    .where(and(eq(cashSessions.registerId, registerId), eq(cashSessions.rescue, true), eq(cashSessions.status, 'open')))
    .orderBy(desc(cashSessions.openedAt))
  if (lastRescue) return lastRescue
  return openSession(tx, actor, { registerId, openingFloat: 0, note: 'rescue session for offline sales that arrived after their session closed', at, rescue: true })
}
