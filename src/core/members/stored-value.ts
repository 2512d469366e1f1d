// Stored value (储值): top-ups paid by any tender, with bonus by rule kept apart from principal so refunds and
// accounting know which is which; spending at the till as a tender; refunds back to it. The balance can never go
// negative: every change locks the member and the table's check constraints stand behind that.
//
// Spending takes principal and bonus in proportion to the balances (round half up on the principal share), so a
// member cannot spend the bonus first and leave refundable principal; a refund gives back the same split it took.
import { and, desc, eq, lte } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { MAX_PAYMENT_AMOUNT, mulDivRound, sum } from '../../lib/money.ts'
import { businessDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import { getRegister, getStore, soleStoreOf } from '../stores/service.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvent } from '../events/service.ts'
import { addCashMovement, assertDrawerHolds, openSessionOf, paymentTooLarge, requireOpenSession } from '../sales/cash-sessions.ts'
import { newPaymentNo, newRefundNo, nextReceiptNo, PAYMENT_NO } from '../sales/numbers.ts'
import { members, storedValueLedger, storedValueTopups, topupBonusRules, topupTenders, type StoredValueKind } from './schema.ts'
import { getActiveMember } from './members.ts'

const ELECTRONIC = ['card', 'wechat', 'alipay', 'unionpay_qr']
const TOPUP_TENDERS = ['cash', ...ELECTRONIC]

interface Ctx {
  actor: Actor
  memberId: string
  saleId?: string | null
  refundId?: string | null
  topupId?: string | null
  note?: string | null
  /** When it happened; the ledger row's time. Default: now. */
  at?: Date
  /** The business day it belongs to (a sale's or refund's own); default: the day of `at` in the merchant's time zone. */
  businessDate?: string
  /** The store whose books carry a correction by hand. */
  storeId?: string
}

async function lockBalances(tx: Tx, merchantId: string, memberId: string) {
  const [m] = await tx
    .select({ principal: members.storedPrincipal, bonus: members.storedBonus, status: members.status, storeId: members.storeId })
    .from(members)
    .where(and(eq(members.merchantId, merchantId), eq(members.id, memberId)))
    .for('update')
  if (!m) throw notFound('member', memberId)
  return m
}

async function move(tx: Tx, c: Ctx, kind: StoredValueKind, principalDelta: number, bonusDelta: number, before: { principal: number; bonus: number }) {
  const principalAfter = before.principal + principalDelta
  const bonusAfter = before.bonus + bonusDelta
  if (principalAfter < 0 || bonusAfter < 0) throw conflict('insufficient_stored_value', 'the stored value balance is not enough')
  if (principalAfter + bonusAfter > MAX_PAYMENT_AMOUNT) {
    throw invalid('amount_out_of_range', `a member's stored value is at most ${MAX_PAYMENT_AMOUNT} minor units`, { max: MAX_PAYMENT_AMOUNT, balance: before.principal + before.bonus })
  }
  await tx.update(members).set({ storedPrincipal: principalAfter, storedBonus: bonusAfter, updatedAt: new Date() }).where(eq(members.id, c.memberId))
  const at = c.at ?? new Date()
  const day = c.businessDate ?? businessDate(at, (await getSettings(tx, c.actor.merchantId)).timeZone)
  await tx.insert(storedValueLedger).values({
    merchantId: c.actor.merchantId,
    memberId: c.memberId,
    kind,
    principalDelta,
    bonusDelta,
    principalAfter,
    bonusAfter,
    saleId: c.saleId ?? null,
    refundId: c.refundId ?? null,
    topupId: c.topupId ?? null,
    storeId: c.storeId ?? null,
    note: c.note ?? null,
    actorId: c.actor.id,
    at,
    businessDate: day,
  })
  return { principal: principalAfter, bonus: bonusAfter }
}

/** How a spend of `amount` splits between principal and bonus, in proportion to the balances. */
export function splitSpend(amount: number, balance: { principal: number; bonus: number }): { principal: number; bonus: number } {
  const total = balance.principal + balance.bonus
  if (amount > total) throw conflict('insufficient_stored_value', `the stored value balance is ${total}, ${amount} needed`, { balance: total, requested: amount })
  let principal = total === 0 ? 0 : mulDivRound(amount, balance.principal, total)
  principal = Math.min(principal, balance.principal, amount)
  let bonus = amount - principal
  if (bonus > balance.bonus) {
    principal += bonus - balance.bonus
    bonus = balance.bonus
  }
  return { principal, bonus }
}

export async function spendStoredValue(tx: Tx, c: Ctx, amount: number): Promise<{ principal: number; bonus: number }> {
  const b = await lockBalances(tx, c.actor.merchantId, c.memberId)
  if (b.status !== 'active') throw conflict('member_merged', 'this member was merged into another')
  const split = splitSpend(amount, b)
  await move(tx, c, 'spend', -split.principal, -split.bonus, b)
  return split
}

export async function refundToStoredValue(tx: Tx, c: Ctx, split: { principal: number; bonus: number }): Promise<void> {
  if (split.principal + split.bonus === 0) return
  const b = await lockBalances(tx, c.actor.merchantId, c.memberId)
  await move(tx, c, 'refund', split.principal, split.bonus, b)
}

/** The bonus a top-up of `principal` earns: the highest active rule whose threshold it reaches. */
export async function bonusFor(tx: Tx, merchantId: string, principal: number): Promise<number> {
  const [rule] = await tx
    .select()
    .from(topupBonusRules)
    .where(and(eq(topupBonusRules.merchantId, merchantId), eq(topupBonusRules.active, true), lte(topupBonusRules.threshold, principal)))
    .orderBy(desc(topupBonusRules.threshold))
    .limit(1)
  return rule?.bonus ?? 0
}

export interface TopupInput {
  memberId: string
  registerId: string
  amount: number
  tenders: { kind: string; amount: number; paymentNo?: string; channelTxnId?: string; reference?: Record<string, string> }[]
}

export async function topUp(tx: Tx, actor: Actor, input: TopupInput, at = new Date()) {
  if (!Number.isSafeInteger(input.amount) || input.amount <= 0) throw invalid('invalid_amount', 'the top-up must be a positive whole number of minor units')
  if (input.amount > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  const cash = input.tenders.filter((t) => t.kind === 'cash')
  for (const t of input.tenders) {
    if (!TOPUP_TENDERS.includes(t.kind)) throw invalid('invalid_tender', `a top-up is paid by ${TOPUP_TENDERS.join(', ')}, not ${t.kind}`)
    if (!Number.isSafeInteger(t.amount) || t.amount <= 0) throw invalid('invalid_amount', 'tender amounts must be positive whole numbers')
    if (t.amount > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
    if (t.paymentNo !== undefined && (!ELECTRONIC.includes(t.kind) || !PAYMENT_NO.test(t.paymentNo))) throw invalid('invalid_payment_no', 'paymentNo is for electronic tenders: 6–32 of [0-9A-Za-z_-|*]')
  }
  if (cash.length > 1) throw invalid('one_cash_tender', 'give cash as one tender (the amount handed over)')
  const nonCash = sum(input.tenders.filter((t) => t.kind !== 'cash').map((t) => t.amount))
  if (nonCash > input.amount) throw invalid('overpaid', 'non-cash tenders exceed the top-up')
  const cashApplied = input.amount - nonCash
  if ((cash[0]?.amount ?? 0) < cashApplied) throw invalid('underpaid', `tenders cover ${nonCash + (cash[0]?.amount ?? 0)} of ${input.amount}`)
  const change = (cash[0]?.amount ?? 0) - cashApplied

  const { timeZone } = await getSettings(tx, actor.merchantId)
  const register = await getRegister(tx, actor.merchantId, input.registerId)
  const store = await getStore(tx, actor.merchantId, register.storeId)
  // The member before the drawer, in the order a refund of the member's sale or top-up takes them: two tills giving
  // back cash and topping up the same member at once never wait for each other in a circle.
  const b = await lockBalances(tx, actor.merchantId, input.memberId)
  if (b.status !== 'active') throw conflict('member_merged', 'this member was merged into another')
  const session = cashApplied > 0 ? await requireOpenSession(tx, actor.merchantId, register.id) : await openSessionOf(tx, actor.merchantId, register.id, true)
  const bonus = await bonusFor(tx, actor.merchantId, input.amount)
  const day = businessDate(at, timeZone)
  const id = newId()
  const receiptNo = await nextReceiptNo(tx, actor.merchantId, { storeId: store.id, storeCode: store.code, registerId: register.id, registerCode: register.code }, day, 'topup')
  await tx.insert(storedValueTopups).values({
    id,
    merchantId: actor.merchantId,
    memberId: input.memberId,
    storeId: store.id,
    registerId: register.id,
    sessionId: session?.id ?? null,
    receiptNo,
    businessDate: day,
    principal: input.amount,
    bonus,
    actorId: actor.id,
    occurredAt: at,
  })
  const tenders = input.tenders.map((t) => ({
    id: newId(),
    merchantId: actor.merchantId,
    topupId: id,
    kind: t.kind,
    amount: t.kind === 'cash' ? cashApplied : t.amount,
    received: t.kind === 'cash' ? t.amount : null,
    paymentNo: ELECTRONIC.includes(t.kind) ? (t.paymentNo ?? newPaymentNo(at)) : null,
    channelTxnId: t.channelTxnId ?? null,
    reference: t.reference ?? null,
  }))
  await tx.insert(topupTenders).values(tenders.filter((t) => t.amount > 0))
  const after = await move(tx, { actor, memberId: input.memberId, topupId: id, at, businessDate: day }, 'topup', input.amount, bonus, b)
  if (cashApplied > 0) await addCashMovement(tx, actor, { sessionId: session!.id, kind: 'topup', amount: cashApplied, reason: `top-up ${receiptNo}`, at, businessDate: day })
  await recordAudit(tx, actor, { action: 'stored_value.topped_up', entityType: 'member', entityId: input.memberId, details: { topupId: id, receiptNo, principal: input.amount, bonus } })
  await recordEvent(tx, actor.merchantId, {
    type: 'stored_value.topped_up',
    entityType: 'member',
    entityId: input.memberId,
    data: { memberId: input.memberId, topupId: id, receiptNo, principal: input.amount, bonus, storeId: store.id, businessDate: day },
  })
  return { id, receiptNo, principal: input.amount, bonus, change, balance: after, tenders: tenders.filter((t) => t.amount > 0) }
}

/**
 * Refunds a top-up: its principal goes back through its tenders (with refund numbers for electronic ones) and its
 * bonus is withdrawn. Only while the member still holds both; otherwise the stored value was already used.
 */
export async function refundTopup(tx: Tx, actor: Actor, topupId: string, input: { registerId: string; reason: string }, at = new Date()) {
  const [t] = await tx
    .select()
    .from(storedValueTopups)
    .where(and(eq(storedValueTopups.merchantId, actor.merchantId), eq(storedValueTopups.id, topupId)))
    .for('update')
  if (!t) throw notFound('topup', topupId)
  if (t.status !== 'completed') throw conflict('topup_refunded', 'this top-up was already refunded')
  // Its member merged into another since: the balance, and so the top-up, is the surviving member's.
  const holder = (await getActiveMember(tx, actor.merchantId, t.memberId)).id
  const b = await lockBalances(tx, actor.merchantId, holder)
  if (b.principal < t.principal || b.bonus < t.bonus) {
    throw conflict('stored_value_used', 'the member has already spent part of this top-up', { principal: b.principal, bonus: b.bonus, topupPrincipal: t.principal, topupBonus: t.bonus })
  }
  const tenders = await tx.select().from(topupTenders).where(eq(topupTenders.topupId, topupId))
  const cash = sum(tenders.filter((x) => x.kind === 'cash').map((x) => x.amount))
  // Cash goes back at a till of the store that took it: its books (the day's voucher) hold the top-up and its refund.
  if (cash > 0 && (await getRegister(tx, actor.merchantId, input.registerId)).storeId !== t.storeId) {
    throw conflict('topup_other_store', 'cash of a top-up is given back at a till of the store that took it', { storeId: t.storeId })
  }
  // Out of the drawer, as a sale's refund: locked against other payouts from it, and never more than it holds.
  const session = cash > 0 ? await requireOpenSession(tx, actor.merchantId, input.registerId, 'update') : undefined
  if (session) await assertDrawerHolds(tx, session.id, cash)
  for (const x of tenders.filter((x) => ELECTRONIC.includes(x.kind))) await tx.update(topupTenders).set({ refundNo: newRefundNo(at) }).where(eq(topupTenders.id, x.id))
  // The refund's own business day, fixed now: its voucher takes it on that day whatever the merchant's zone becomes.
  const day = businessDate(at, (await getSettings(tx, actor.merchantId)).timeZone)
  await move(tx, { actor, memberId: holder, topupId, note: input.reason, at, businessDate: day }, 'topup_refund', -t.principal, -t.bonus, b)
  await tx.update(storedValueTopups).set({ status: 'refunded', refundedAt: at, refundedBusinessDate: day, refundReason: input.reason }).where(eq(storedValueTopups.id, topupId))
  if (cash > 0) await addCashMovement(tx, actor, { sessionId: session!.id, kind: 'topup_refund', amount: -cash, reason: `refund of top-up ${t.receiptNo}`, at, businessDate: day })
  await recordAudit(tx, actor, { action: 'stored_value.topup_refunded', entityType: 'member', entityId: holder, details: { topupId, principal: t.principal, bonus: t.bonus, reason: input.reason } })
  await recordEvent(tx, actor.merchantId, { type: 'stored_value.topup_refunded', entityType: 'member', entityId: holder, data: { memberId: holder, topupId, principal: t.principal, bonus: t.bonus } })
  return { ...t, status: 'refunded' as const, refundedAt: at, refundedBusinessDate: day, tenders: await tx.select().from(topupTenders).where(eq(topupTenders.topupId, topupId)) }
}

/**
 * A correction of a member's stored value by hand. It is booked in the daily voucher of a store (the one named, else
 * the member's own, else the merchant's only (open) store: soleStoreOf): the liability moves against a correction account there.
 */
export async function adjustStoredValue(tx: Tx, actor: Actor, memberId: string, input: { principal: number; bonus: number; reason: string; storeId?: string }, at = new Date()) {
  checkChange(input)
  const b = await lockBalances(tx, actor.merchantId, memberId)
  if (b.status !== 'active') throw conflict('member_merged', 'this member was merged into another')
  const storeId = input.storeId ? (await getStore(tx, actor.merchantId, input.storeId)).id : (b.storeId ?? (await soleStoreOf(tx, actor.merchantId)))
  if (!storeId) throw invalid('store_required', 'name the store whose books carry this correction (storeId): the member belongs to no store and the merchant has several')
  const after = await move(tx, { actor, memberId, note: input.reason, at, storeId }, 'adjust', input.principal, input.bonus, b)
  await recordAudit(tx, actor, { action: 'stored_value.adjusted', entityType: 'member', entityId: memberId, details: { ...input, storeId } })
  return after
}

/** An opening balance carried from another system's books (a members import): in no voucher of ours. */
export async function openStoredValue(tx: Tx, actor: Actor, memberId: string, input: { principal: number; bonus: number; reason: string }, at = new Date()) {
  checkChange(input)
  const b = await lockBalances(tx, actor.merchantId, memberId)
  const after = await move(tx, { actor, memberId, note: input.reason, at }, 'opening', input.principal, input.bonus, b)
  await recordAudit(tx, actor, { action: 'stored_value.opened', entityType: 'member', entityId: memberId, details: input })
  return after
}

function checkChange(input: { principal: number; bonus: number }) {
  if (!Number.isSafeInteger(input.principal) || !Number.isSafeInteger(input.bonus) || (input.principal === 0 && input.bonus === 0)) {
    throw invalid('invalid_amount', 'give a non-zero whole-number change of principal or bonus')
  }
}
