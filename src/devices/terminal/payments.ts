// Drives a terminal payment through its states: record the start (pending) before calling the vendor, start it on
// the reader under the payment's own id as the vendor's idempotency key, read back the outcome on request, cancel
// on request. The database transaction never spans a vendor call. A start whose answer was lost stays pending and
// is asked again with the same key — Stripe then returns the same PaymentIntent, never a second charge. When it was
// the reader call that got no clear answer, the next read hands the intent to the reader again unless the reader
// already holds it; a reader busy with another payment ends the attempt as failed.
//
// A cancel that comes before the PaymentIntent exists only records that it was asked for (cancel_requested): the
// start creates the intent, then, under the row's lock, either records it for the hand-off or, when a cancel was
// asked for, cancels the intent at Stripe instead of handing it to the reader. A cancel after that point cancels the
// reader's action and the intent; an intent the customer paid first ends approved. A read of a cancel_requested
// payment that no reader is collecting carries the cancel out.
import type { Db } from '../../db/client.ts'
import type { Actor } from '../../core/staff/actor.ts'
import { getDevice } from '../../core/devices/registry.ts'
import { getTerminalPayment, isFinal, lockTerminalPayment, recordTerminalStart, updateTerminalPayment, type TerminalPaymentRow } from '../../core/devices/terminal-payments.ts'
import { StripeTerminalError, stripeTerminal, type TerminalPayment } from './stripe-terminal.ts'

/** The failure code of a vendor call without a clear answer: the payment stays pending and is asked again. */
const OUTCOME_UNKNOWN = 'outcome_unknown'
/** The failure code of a payment canceled before its intent reached the reader. */
const CANCELED_BEFORE_START = 'canceled_before_start'

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

/**
 * A start or hand-off that went wrong: an unknown outcome stays pending (asked again on the next read); a definite
 * refusal ends the attempt, unless a cancel was asked for meanwhile and an intent exists: the refusal may be the
 * cancel's own doing (a canceled intent cannot be processed), and the cancel ends it.
 */
async function startFailed(db: Db, payment: TerminalPaymentRow, e: unknown): Promise<TerminalPaymentRow> {
  if (!(e instanceof StripeTerminalError)) throw e
  return db.transaction(async (tx) => {
    const current = await lockTerminalPayment(tx, payment.id)
    const vendorPaymentId = e.paymentIntentId ?? payment.vendorPaymentId ?? current.vendorPaymentId
    const failure = { vendorPaymentId, failureCode: e.outcomeUnknown ? OUTCOME_UNKNOWN : e.code, failureMessage: e.message }
    const ends = !e.outcomeUnknown && !(current.state === 'cancel_requested' && vendorPaymentId)
    return updateTerminalPayment(tx, payment.id, ends ? { ...failure, state: 'failed' } : failure)
  })
}

/** What a cancel at the vendor left: its end, or cancel_requested while the vendor still calls it pending. */
const afterCancel = (after: TerminalPayment, canceledCode: string | null = null) => ({
  ...fromVendor(after),
  state: after.state === 'pending' ? ('cancel_requested' as const) : after.state,
  ...(after.state === 'canceled' && canceledCode ? { failureCode: canceledCode } : {}),
})

/**
 * Carries out a cancel that was asked for while no reader was collecting the intent (before the start handed it over,
 * or after the reader dropped it): cancels the intent at Stripe. A vendor error leaves it cancel_requested, with the
 * error, for the next read or cancel to finish.
 */
async function finishCancel(db: Db, payment: TerminalPaymentRow & { vendorPaymentId: string }, readerId: string, creds: TerminalCredentials, canceledCode: string | null): Promise<TerminalPaymentRow> {
  try {
    const after = await stripeTerminal(creds).cancelPayment(readerId, payment.vendorPaymentId)
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, afterCancel(after, canceledCode)))
  } catch (e) {
    if (!(e instanceof StripeTerminalError)) throw e
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, { failureCode: e.outcomeUnknown ? OUTCOME_UNKNOWN : e.code, failureMessage: e.message }))
  }
}

/**
 * Creates the intent (the payment's id is its key, so a repeat is the same intent), then decides under the row's lock:
 * a cancel asked for meanwhile is carried out at Stripe and the intent never reaches the reader; otherwise the intent
 * is recorded as not yet confirmed on the reader (outcome_unknown, so a start that dies here is handed over by the
 * next read) and handed to the reader.
 */
async function start(db: Db, payment: TerminalPaymentRow, readerId: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const client = stripeTerminal(creds)
  let created: { paymentIntentId: string }
  try {
    created = await client.createIntent({ readerId, amount: payment.amount, currency: payment.currency, reference: payment.reference, idempotencyKey: payment.id })
  } catch (e) {
    return startFailed(db, payment, e)
  }
  const { paymentIntentId } = created
  const recorded = await db.transaction(async (tx) => {
    const current = await lockTerminalPayment(tx, payment.id)
    if (current.state !== 'pending') return isFinal(current.state) ? current : updateTerminalPayment(tx, payment.id, { vendorPaymentId: paymentIntentId })
    return updateTerminalPayment(tx, payment.id, { vendorPaymentId: paymentIntentId, failureCode: OUTCOME_UNKNOWN, failureMessage: 'the reader has not confirmed the payment yet' })
  })
  if (recorded.state === 'cancel_requested') return finishCancel(db, { ...recorded, vendorPaymentId: paymentIntentId }, readerId, creds, CANCELED_BEFORE_START)
  if (recorded.state !== 'pending') return recorded
  try {
    await client.sendToReader({ readerId, paymentIntentId, idempotencyKey: payment.id })
    return db.transaction((tx) => updateTerminalPayment(tx, payment.id, { failureCode: null, failureMessage: null }))
  } catch (e) {
    return startFailed(db, recorded, e)
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
  // A cancel asked for while no reader collects the intent (its own call to Stripe failed, or it came before the
  // intent reached the reader) is carried out now.
  if (payment.state === 'cancel_requested' && now.state === 'pending' && !now.readerAction) {
    return finishCancel(db, { ...payment, vendorPaymentId: payment.vendorPaymentId }, device.address, creds, null)
  }
  return db.transaction((tx) => updateTerminalPayment(tx, id, fromVendor(now)))
}

/**
 * Asks the reader to stop; the answer says what really happened (the customer may have paid a moment before). Before
 * the intent exists the cancel is only recorded under the row's lock and answered cancel_requested: the start, on
 * finding it, cancels the intent instead of handing it to the reader.
 */
export async function cancelTerminalPayment(db: Db, actor: Actor, id: string, creds: TerminalCredentials): Promise<TerminalPaymentRow> {
  const payment = await getTerminalPayment(db, actor.merchantId, id)
  if (isFinal(payment.state)) return payment
  const device = await getDevice(db, actor.merchantId, payment.deviceId)
  const asked = await db.transaction((tx) => updateTerminalPayment(tx, id, { state: 'cancel_requested' }))
  if (isFinal(asked.state) || !asked.vendorPaymentId) return asked
  const after = await stripeTerminal(creds).cancelPayment(device.address, asked.vendorPaymentId)
  return db.transaction((tx) => updateTerminalPayment(tx, id, afterCancel(after)))
}
