// Drives a terminal payment through its states: record the start (pending) before calling the vendor, start it on
// the reader under the payment's own id as the vendor's idempotency key, read back the outcome on request, cancel
// on request. The database transaction never spans a vendor call. A start whose answer was lost stays pending and
// is asked again with the same key — Stripe then returns the same PaymentIntent, never a second charge.
import type { Db } from '../../db/client.ts'
import type { Actor } from '../../core/staff/actor.ts'
import { getDevice } from '../../core/devices/registry.ts'
import { getTerminalPayment, isFinal, recordTerminalStart, updateTerminalPayment, type TerminalPaymentRow } from '../../core/devices/terminal-payments.ts'
import { StripeTerminalError, stripeTerminal, type TerminalPayment } from './stripe-terminal.ts'

export interface TerminalCredentials {
  secretKey: string
  baseUrl?: string
}

const fromVendor = (p: TerminalPayment) => ({
  state: p.state === 'pending' ? undefined : p.state,
  vendorPaymentId: p.paymentIntentId,
  vendorChargeId: p.chargeId,
  cardBrand: p.cardBrand,
  last4: p.last4,
  failureCode: p.declineCode ?? p.failureCode,
  failureMessage: p.failureMessage,
})

async function start(db: Db, payment: TerminalPaymentRow, readerId: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const client = stripeTerminal(creds)
  try {
    const started = await client.startPayment({ readerId, amount: payment.amount, currency: payment.currency, reference: payment.reference, idempotencyKey: payment.id })
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, { vendorPaymentId: started.paymentIntentId, failureCode: null, failureMessage: null }))
  } catch (e) {
    if (!(e instanceof StripeTerminalError)) throw e
    // Unknown outcome: stays pending (asked again on the next read); a definite refusal ends the attempt.
    const update = e.outcomeUnknown
      ? { vendorPaymentId: e.paymentIntentId ?? payment.vendorPaymentId, failureCode: 'outcome_unknown', failureMessage: e.message }
      : { state: 'failed' as const, vendorPaymentId: e.paymentIntentId ?? payment.vendorPaymentId, failureCode: e.code, failureMessage: e.message }
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, update))
  }
}

export async function startTerminalPayment(
  db: Db,
  actor: Actor,
  input: { deviceId: string; amount: number; currency: string; reference: string; idempotencyKey: string },
  creds: TerminalCredentials,
): Promise<{ payment: TerminalPaymentRow; created: boolean }> {
  const { payment, created } = await db.transaction((tx) => recordTerminalStart(tx, actor, input))
  if (!created) return { payment: await refreshTerminalPayment(db, actor.merchantId, payment.id, creds), created }
  const device = await getDevice(db, actor.merchantId, input.deviceId)
  return { payment: await start(db, payment, device.address, creds), created }
}

/** Reads the outcome from the vendor while the payment has not ended; a start with a lost answer is asked again. */
export async function refreshTerminalPayment(db: Db, merchantId: string, id: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const payment = await getTerminalPayment(db, merchantId, id)
  if (isFinal(payment.state)) return payment
  const device = await getDevice(db, merchantId, payment.deviceId)
  if (!payment.vendorPaymentId) return start(db, payment, device.address, creds)
  const now = await stripeTerminal(creds).getPayment(device.address, payment.vendorPaymentId)
  return db.transaction((tx) => updateTerminalPayment(tx, id, fromVendor(now)))
}

/** Asks the reader to stop; the answer says what really happened (the customer may have paid a moment before). */
export async function cancelTerminalPayment(db: Db, actor: Actor, id: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const payment = await getTerminalPayment(db, actor.merchantId, id)
  if (isFinal(payment.state)) return payment
  const device = await getDevice(db, actor.merchantId, payment.deviceId)
  if (!payment.vendorPaymentId) return db.transaction((tx) => updateTerminalPayment(tx, id, { state: 'canceled', failureCode: 'canceled_before_start' }))
  await db.transaction((tx) => updateTerminalPayment(tx, id, { state: 'cancel_requested' }))
  const after = await stripeTerminal(creds).cancelPayment(device.address, payment.vendorPaymentId)
  return db.transaction((tx) => updateTerminalPayment(tx, id, { ...fromVendor(after), state: after.state === 'pending' ? 'cancel_requested' : after.state }))
}
