// Drives a terminal payment through its states: record the start (pending) before calling the vendor, start it on
// the reader under the payment's own id as the vendor's idempotency key, read back the outcome on request, cancel
// on request. The database transaction never spans a vendor call. A start whose answer was lost stays pending and
// is asked again with the same key — Stripe then returns the same PaymentIntent, never a second charge. When it was
// the reader call that got no clear answer, the next read hands the intent to the reader again unless the reader
// already holds it; a reader busy with another payment ends the attempt as failed.
import type { Db } from '../../db/client.ts'
import type { Actor } from '../../core/staff/actor.ts'
import { getDevice } from '../../core/devices/registry.ts'
import { getTerminalPayment, isFinal, recordTerminalStart, updateTerminalPayment, type TerminalPaymentRow } from '../../core/devices/terminal-payments.ts'
import { StripeTerminalError, stripeTerminal, type TerminalPayment } from './stripe-terminal.ts'

/** The failure code of a vendor call without a clear answer: the payment stays pending and is asked again. */
const OUTCOME_UNKNOWN = 'outcome_unknown'

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

/** A start or hand-off that went wrong: an unknown outcome stays pending (asked again on the next read); a definite refusal ends the attempt. */
async function startFailed(db: Db, payment: TerminalPaymentRow, e: unknown): Promise<TerminalPaymentRow> {
  if (!(e instanceof StripeTerminalError)) throw e
  const update = e.outcomeUnknown
    ? { vendorPaymentId: e.paymentIntentId ?? payment.vendorPaymentId, failureCode: OUTCOME_UNKNOWN, failureMessage: e.message }
    : { state: 'failed' as const, vendorPaymentId: e.paymentIntentId ?? payment.vendorPaymentId, failureCode: e.code, failureMessage: e.message }
  return db.transaction((tx) => updateTerminalPayment(tx, payment.id, update))
}

async function start(db: Db, payment: TerminalPaymentRow, readerId: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const client = stripeTerminal(creds)
  try {
    const started = await client.startPayment({ readerId, amount: payment.amount, currency: payment.currency, reference: payment.reference, idempotencyKey: payment.id })
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, { vendorPaymentId: started.paymentIntentId, failureCode: null, failureMessage: null }))
  } catch (e) {
    return startFailed(db, payment, e)
  }
}

/** Sends an intent whose reader call had no clear answer, and which the reader does not hold, to the reader again. */
async function handOff(db: Db, payment: TerminalPaymentRow & { vendorPaymentId: string }, readerId: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  try {
    const now = await stripeTerminal(creds).handOff({ readerId, paymentIntentId: payment.vendorPaymentId, idempotencyKey: payment.id })
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, fromVendor(now)))
  } catch (e) {
    return startFailed(db, payment, e)
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
  // Only a pending start whose reader call had no clear answer is sent again, and only while no reader action is on
  // it (handOff checks again just before sending): once a read has seen the reader on it the code is cleared, so a
  // payment the reader later drops, or the till cancels, is never put back.
  if (payment.state === 'pending' && payment.failureCode === OUTCOME_UNKNOWN && now.state === 'pending' && !now.readerAction) {
    return handOff(db, { ...payment, vendorPaymentId: payment.vendorPaymentId }, device.address, creds)
  }
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
