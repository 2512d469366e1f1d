// Sales a till made while it could not reach the hub, uploaded later in a batch. Each carries the till's own UUID
// (its idempotency key) and clock. Replaying a batch records nothing twice; a sale the hub cannot record (an
// unknown SKU, say) is kept in sale_rejections and reported, never dropped. The till's prices are what the customer
// paid: promotions are not re-applied, discount limits are not re-checked, stock may go below zero (reported), as may
// what is left for the holds of online orders (reported, and the orders flagged), and a disagreement between the
// tenders and the hub's total is recorded on the sale as tender_difference.
//
// Each sale is recorded in a transaction of its own, one after the other, as a sale rung online is. Recorded in one
// transaction, a batch held every sale's locks (its register's receipt counter, its items' stock) until the last
// sale: two tills uploading at once with the same registers or items in the other order deadlocked, and one batch
// failed. A batch cut short by a fault has recorded the sales before it; sent again, those answer 'duplicate'.
import { and, eq, sql } from 'drizzle-orm'
import type { Db, Tx } from '../../db/client.ts'
import { DomainError } from '../../lib/errors.ts'
import { inputError, pgError } from '../../db/errors.ts'
import { newId } from '../../lib/ids.ts'
import { businessDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { completeSale, findSale, hashSaleInput, type SaleInput } from './checkout.ts'
import { drawerCountedSince, holdSession, openSessionOf, rescueSessionFor } from './cash-sessions.ts'
import { saleRejections } from './schema.ts'
import { getSale } from './queries.ts'

export interface OfflineSaleInput extends SaleInput {
  id: string
  occurredAt: Date
  sessionId?: string
  clientReceiptNo?: string
}

export type OfflineResult =
  | { id: string; status: 'accepted'; receiptNo: string; warnings: { code: string; message: string; details?: unknown }[] }
  | { id: string; status: 'duplicate'; receiptNo: string }
  | { id: string; status: 'conflict'; code: 'id_reused'; message: string }
  | { id: string; status: 'rejected'; code: string; message: string; details?: unknown }

/** Class of the advisory locks that record one offline sale (by its id) at a time. */
const OFFLINE_SALE_LOCK_CLASS = 74_620_103

/** Records offline sales in the order they happened (by their own clock, then as sent), each in its own transaction. */
export async function recordOfflineSales(db: Db, actor: Actor, batch: OfflineSaleInput[], now = new Date()): Promise<OfflineResult[]> {
  const ordered = batch.map((s, i) => ({ s, i })).sort((a, b) => a.s.occurredAt.getTime() - b.s.occurredAt.getTime() || a.i - b.i)
  const results = new Array<OfflineResult>(batch.length)
  for (const { s, i } of ordered) results[i] = await retried(() => db.transaction((tx) => recordOne(tx, actor, s, now)))
  return results
}

/** Deadlock victims and serialization failures, which the same work run again gets past. */
const TRANSIENT = new Set(['40P01', '40001'])
const ATTEMPTS = 4

async function retried<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (e) {
      if (attempt >= ATTEMPTS || !TRANSIENT.has(pgError(e)?.code ?? '')) throw e
      await new Promise((r) => setTimeout(r, 5 * attempt + Math.random() * 20))
    }
  }
}

/** How far ahead of the hub's clock a till's clock may run before the hub dates its sales itself. */
const CLOCK_AHEAD_MS = 5 * 60_000

async function recordOne(tx: Tx, actor: Actor, s: OfflineSaleInput, now: Date): Promise<OfflineResult> {
  const { id, occurredAt: tillTime, sessionId, clientReceiptNo, ...sale } = s
  const hash = hashSaleInput({ ...sale, occurredAt: tillTime.toISOString(), sessionId, clientReceiptNo })
  // A sale dated in the future was made by a till whose clock runs fast: it happened by now. Dated as the till said,
  // it would land in a business day to come and count as after any stock count taken before that moment.
  const ahead = tillTime.getTime() > now.getTime() + CLOCK_AHEAD_MS
  const occurredAt = ahead ? now : tillTime
  // The same sale sent twice at once (a till retrying a batch it thinks was lost): the second waits for the first
  // and answers duplicate, instead of failing on the first's row and reporting a recorded sale as rejected.
  await tx.execute(sql`select pg_advisory_xact_lock(${OFFLINE_SALE_LOCK_CLASS}, hashtext(${id}::uuid::text))`)
  const existing = await findSale(tx, id)
  if (existing) {
    if (existing.merchantId !== actor.merchantId || existing.requestHash !== hash) {
      return { id, status: 'conflict', code: 'id_reused', message: 'a different sale was already recorded under this id' }
    }
    return { id, status: 'duplicate', receiptNo: (await getSale(tx, actor.merchantId, id)).receiptNo }
  }
  // A savepoint per sale: one that fails leaves the others of the batch in place.
  const attempt = (rescue: boolean) =>
    tx.transaction(async (sp) => {
      const warnings: { code: string; message: string; details?: unknown }[] = []
      if (ahead) warnings.push({ code: 'clock_ahead', message: 'dated ahead of the hub clock: recorded at the time it arrived', details: { occurredAt: tillTime.toISOString(), recordedAs: now.toISOString() } })
      // The session is held against closing before it is read (the lock a close takes first): a close in progress
      // is waited for, and the sale goes where the close leaves it, counted in one session's cash.
      const named = rescue ? undefined : (sessionId ?? (await openSessionOf(sp, actor.merchantId, sale.registerId))?.id)
      let session = named ? await holdSession(sp, actor.merchantId, named) : undefined
      // A session of another register (or one the hub does not know): the sale is its register's, and so is its cash.
      const mismatch = !rescue && sessionId !== undefined && session?.registerId !== sale.registerId
      if (mismatch) {
        const open = await openSessionOf(sp, actor.merchantId, sale.registerId)
        session = open ? await holdSession(sp, actor.merchantId, open.id) : undefined
      }
      // Named by no session, and made before the open one began, on an earlier day or before a close of this
      // register's drawer: it was not in the open drawer (its own session, if it had one, has closed). One made after
      // the last close (a till whose clock is a little slow, say) is in the open drawer.
      const before =
        sessionId === undefined &&
        session?.status === 'open' &&
        !session.rescue &&
        occurredAt < session.openedAt &&
        (businessDate(occurredAt, (await getSettings(sp, actor.merchantId)).timeZone) < session.businessDate || (await drawerCountedSince(sp, actor.merchantId, sale.registerId, occurredAt)))
      if (!session || session.status === 'closed' || before) {
        session = await rescueSessionFor(sp, actor, sale.registerId, occurredAt)
        const message = before ? 'made before the open cash session began, in a drawer since counted: recorded in the rescue session of the register' : 'its cash session had closed: recorded in the rescue session of the register'
        warnings.push({ code: 'rescue_session', message, details: { sessionId: session.id } })
      }
      if (mismatch) {
        warnings.push({ code: 'session_mismatch', message: "the session it names is not one of its register's: recorded in the register's own", details: { sessionId, recordedIn: session.id } })
      }
      const v = await completeSale(sp, actor, sale, { id, occurredAt, offline: true, session, requestHash: hash, clientReceiptNo })
      const holdsTaken = v.holdsTaken ?? []
      if (v.overLimit) warnings.push({ code: 'over_role_limit', message: `priced beyond the cashier's role: ${v.overLimit.message}; recorded as the till took it, and on the audit log for a manager`, details: { code: v.overLimit.code, ...(v.overLimit.details as object) } })
      for (const n of v.stockWarnings ?? []) warnings.push({ code: 'negative_stock', message: `stock of variant ${n.variantId} is now ${n.onHand}`, details: n })
      // Units an online order (or another hold) was counting on: the sale stands, the holds left uncovered are told on
      // the sale (and their orders flagged, by the checkout).
      for (const h of holdsTaken) {
        warnings.push({
          code: 'reserved_stock_taken',
          message: `took ${h.taken} held unit(s) of variant ${h.variantId} at location ${h.locationId}: ${h.reserved} held, ${h.onHand} on hand`,
          details: h,
        })
      }
      if (v.tenderDifference !== 0) {
        warnings.push({ code: 'tender_difference', message: `tenders differ from the total by ${v.tenderDifference}`, details: { amountDue: v.total + v.roundingAdjustment, tenderDifference: v.tenderDifference } })
      }
      await sp.update(saleRejections).set({ resolved: true }).where(and(eq(saleRejections.merchantId, actor.merchantId), eq(saleRejections.clientSaleId, id)))
      return { v, warnings }
    })
  try {
    let view
    try {
      view = await attempt(false)
    } catch (e) {
      // Its session closed while the sale was being recorded (the close committed after the session was read): the
      // sale goes to the rescue session, as it would have had the close come first.
      if (!(e instanceof DomainError && e.code === 'no_open_session')) throw e
      view = await attempt(true)
    }
    return { id, status: 'accepted', receiptNo: view.v.receiptNo, warnings: view.warnings }
  } catch (err) {
    // What the sale itself gets wrong (a rule, an amount too large, a payment number another sale has) rejects it
    // alone. Anything else stops the batch here, for the till to send again: a fault, or a clash with another
    // request (a deadlock), which is first retried.
    const e = inputError(err)
    if (!e || e.code === 'concurrent_update' || e.code === 'busy') throw err
    // Kept as sent, but storable: text PostgreSQL refuses (a NUL, half a surrogate pair), which may be why the sale
    // was rejected, is replaced by U+FFFD. A sale sent again and still rejected keeps its latest copy.
    const kept = {
      registerId: sale.registerId,
      payload: storable({ ...s, occurredAt: tillTime.toISOString() }) as Record<string, unknown>,
      code: e.code,
      reason: storable(e.message) as string,
      resolved: false,
    }
    await tx
      .insert(saleRejections)
      .values({ id: newId(), merchantId: actor.merchantId, clientSaleId: id, ...kept })
      .onConflictDoUpdate({ target: [saleRejections.merchantId, saleRejections.clientSaleId], set: kept })
    return { id, status: 'rejected', code: e.code, message: e.message, details: e.details }
  }
}

/** A value with every string made one PostgreSQL text and jsonb take: NULs and lone surrogates become U+FFFD. */
function storable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'string' ? x.replaceAll('\u0000', '\ufffd').toWellFormed() : x)))
}
