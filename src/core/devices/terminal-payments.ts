// Card payments on a terminal, as the hub keeps them: the hub owns the money state, the terminal only acts. A start
// is recorded (pending) before the vendor is called, under the caller's idempotency key, so a repeated request is
// the same payment; the vendor's answers move it to approved, declined or canceled, never back. A cancel asked for
// before the vendor's payment exists is only recorded (cancel_requested): the start carries it out once it has one.
import { and, eq } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { getDevice } from './registry.ts'
import { terminalPayments } from './schema.ts'

export type TerminalPaymentRow = typeof terminalPayments.$inferSelect
export type TerminalState = TerminalPaymentRow['state']

const FINAL: readonly TerminalState[] = ['approved', 'declined', 'canceled', 'failed']

export async function recordTerminalStart(
  tx: Tx,
  actor: Actor,
  input: { deviceId: string; amount: number; currency: string; reference: string; idempotencyKey: string },
): Promise<{ payment: TerminalPaymentRow; created: boolean }> {
  const device = await getDevice(tx, actor.merchantId, input.deviceId)
  if (device.kind !== 'card_terminal') throw invalid('not_a_terminal', `${device.name} is not a card terminal`)
  if (!device.enabled) throw invalid('device_disabled', `device ${device.name} is disabled`)
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0) throw invalid('amount_not_positive', 'a card payment needs a positive amount in minor units')
  const [row] = await tx
    .insert(terminalPayments)
    .values({ id: newId(), merchantId: actor.merchantId, deviceId: device.id, idempotencyKey: input.idempotencyKey, amount: input.amount, currency: input.currency, reference: input.reference, requestedBy: actor.id })
    .onConflictDoNothing()
    .returning()
  if (row) {
    await recordAudit(tx, actor, { action: 'terminal_payment.started', entityType: 'terminal_payment', entityId: row.id, details: { deviceId: device.id, amount: row.amount, currency: row.currency, reference: row.reference } })
    return { payment: row, created: true }
  }
  const [existing] = await tx.select().from(terminalPayments).where(and(eq(terminalPayments.merchantId, actor.merchantId), eq(terminalPayments.idempotencyKey, input.idempotencyKey)))
  // The same key with another payment is refused as the API's other routes refuse a key with another body.
  if (existing!.amount !== input.amount || existing!.deviceId !== device.id || existing!.currency !== input.currency || existing!.reference !== input.reference) {
    throw invalid('idempotency_key_reused', 'this Idempotency-Key already started a different payment', { paymentId: existing!.id })
  }
  return { payment: existing!, created: false }
}

export async function getTerminalPayment(tx: Tx, merchantId: string, id: string): Promise<TerminalPaymentRow> {
  const [row] = await tx.select().from(terminalPayments).where(and(eq(terminalPayments.merchantId, merchantId), eq(terminalPayments.id, id)))
  if (!row) throw notFound('terminal_payment', id)
  return row
}

export interface TerminalUpdate {
  state?: TerminalState
  vendorPaymentId?: string | null
  vendorChargeId?: string | null
  cardBrand?: string | null
  last4?: string | null
  failureCode?: string | null
  failureMessage?: string | null
}

/** Locks the payment's row until the transaction ends, so a decision taken on what it holds stands. */
export async function lockTerminalPayment(tx: Tx, id: string): Promise<TerminalPaymentRow> {
  const [current] = await tx.select().from(terminalPayments).where(eq(terminalPayments.id, id)).for('update')
  if (!current) throw notFound('terminal_payment', id)
  return current
}

/** Applies what the vendor said; a payment that has ended keeps its end. */
export async function updateTerminalPayment(tx: Tx, id: string, u: TerminalUpdate): Promise<TerminalPaymentRow> {
  const current = await lockTerminalPayment(tx, id)
  if (FINAL.includes(current.state)) return current
  const [row] = await tx.update(terminalPayments).set({ ...u, updatedAt: new Date() }).where(eq(terminalPayments.id, id)).returning()
  return row!
}

export const isFinal = (s: TerminalState) => FINAL.includes(s)
