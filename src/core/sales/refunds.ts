// Refunds and returns against a sale's own lines, and voids of a whole sale on its business day.
//
// Amounts: a refund of k of a line's Q units returns cum(before + k) − cum(before), where cum(n) = round(total × n / Q)
// (half up). Refunding a line bit by bit therefore adds up to exactly its total, and its tax likewise. What the sale
// took beyond its lines (cash rounding, an offline till's tender difference) is shared the same way (for a sale whose
// lines are all free, with its last unit), so refunding everything returns exactly what was paid; a void returns what
// the tenders took. Under cash rounding (抹零), a refund paid out of the drawer is rounded as the sale's cash was: see
// roundedCashRefund. Cash out of the drawer is never more than it holds.
// Tenders: by default the refund goes back to the original tenders in proportion to what each can still refund
// (largest remainder); a different split that pays out more cash (cash instead of a card, say) needs the
// 'sales.refund_cash' permission. What a stored-value tender paid always goes back to stored value, and what an
// on-account tender charged to that account (see RETURNED_IN_KIND).
import { and, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, forbidden, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { allocate, mulDivRound, sum } from '../../lib/money.ts'
import { businessDate } from '../../lib/time.ts'
import { getSettings } from '../merchants/settings.ts'
import { getLocation, getRegister, getStore } from '../stores/service.ts'
import { applyMovements } from '../stock/ledger.ts'
import { recordEvents } from '../events/service.ts'
import { dropWaitingOfSale } from '../devices/jobs.ts'
import { actorCan, type Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { addCashMovement, assertDrawerHolds, openSessionOf, requireOpenSession, rescueSessionFor } from './cash-sessions.ts'
import { ELECTRONIC } from './checkout.ts'
import { cashRoundingAdjustment } from './pricing.ts'
import { newRefundNo, nextReceiptNo } from './numbers.ts'
import { getSale, type SaleView } from './queries.ts'
import { recomputeLastPurchase, reverseMemberSale } from '../members/sale.ts'
import { members } from '../members/schema.ts'
import { cashSessions, refundLines, refunds, refundTenders, saleLines, sales, saleTenders, type TenderKind } from './schema.ts'

export interface RefundInput {
  registerId: string
  lines: { saleLineId: string; quantity: number; restock?: boolean; locationId?: string }[]
  /** Where the money goes; default: back to the original tenders. */
  tenders?: { kind: TenderKind; amount: number; saleTenderId?: string }[]
  reason?: string
  approverId?: string | null
}

const cum = (total: number, n: number, q: number) => mulDivRound(total, n, q)

/**
 * Tenders whose refunds go back where they came from, never out as money, with the code a refund breaking that gets:
 * stored value (its bonus was never money; its principal leaves only by a refund of the top-up) and on account (the
 * customer has not paid: a refund lowers what they owe). Refunded to the sale's own tender of the kind only.
 */
const RETURNED_IN_KIND = {
  stored_value: { code: 'refund_to_stored_value', detail: 'storedValue', words: 'paid with stored value and goes back to stored value' },
  on_account: { code: 'refund_to_account', detail: 'onAccount', words: 'charged to the customer’s account and goes back to it' },
} as const satisfies Partial<Record<TenderKind, { code: string; detail: string; words: string }>>
type ReturnedKind = keyof typeof RETURNED_IN_KIND
const returnedInKind = (kind: TenderKind): kind is ReturnedKind => kind in RETURNED_IN_KIND

/**
 * Locks a sale to refund or void it, and its member first when it has one: a merge locks the members and then their
 * sales, so taking the sale first and its member later (to give points or stored value back) would deadlock with it.
 * A merge that moved the sale meanwhile leaves it on the remaining member, which is locked then too.
 */
async function lockSale(tx: Tx, merchantId: string, id: string) {
  const where = and(eq(sales.merchantId, merchantId), eq(sales.id, id))
  const [peek] = await tx.select({ memberId: sales.memberId }).from(sales).where(where)
  if (!peek) throw notFound('sale', id)
  if (peek.memberId) await tx.select({ id: members.id }).from(members).where(eq(members.id, peek.memberId)).for('update')
  const [s] = await tx.select().from(sales).where(where).for('update')
  if (!s) throw notFound('sale', id)
  if (s.memberId && s.memberId !== peek.memberId) await tx.select({ id: members.id }).from(members).where(eq(members.id, s.memberId)).for('update')
  return s
}

export async function refundSale(tx: Tx, actor: Actor, saleId: string, input: RefundInput, at = new Date()): Promise<{ refundId: string; sale: SaleView }> {
  const access = actorCan(actor, 'sales.refund')
  if (!access.ok) throw forbidden('permission_denied', `role ${actor.role} may not refund`, { permission: 'sales.refund' })
  let approvedBy: string | null = input.approverId ?? access.approverId
  const sale = await lockSale(tx, actor.merchantId, saleId)
  if (sale.status !== 'completed') throw conflict('sale_voided', 'a voided sale cannot be refunded')
  if (input.lines.length === 0) throw invalid('empty_refund', 'a refund needs at least one line')
  const settings = await getSettings(tx, actor.merchantId)
  const register = await getRegister(tx, actor.merchantId, input.registerId)
  const store = await getStore(tx, actor.merchantId, register.storeId)
  const lines = await tx.select().from(saleLines).where(eq(saleLines.saleId, saleId))
  const byId = new Map(lines.map((l) => [l.id, l]))

  // What is asked of each line, in parts that go back to stock (where) or are written off: one refund may restock
  // some units of a line and write off others.
  const wanted = new Map<string, { quantity: number; parts: { quantity: number; restock: boolean; locationId: string | null }[] }>()
  for (const l of input.lines) {
    if (!byId.has(l.saleLineId)) throw invalid('unknown_sale_line', `line ${l.saleLineId} is not part of sale ${sale.receiptNo}`)
    if (!Number.isSafeInteger(l.quantity) || l.quantity <= 0) throw invalid('invalid_quantity', 'refund quantities must be positive whole numbers')
    const w = wanted.get(l.saleLineId) ?? { quantity: 0, parts: [] }
    const restock = l.restock ?? true
    const locationId = restock ? (l.locationId ?? null) : null
    const same = w.parts.find((p) => p.restock === restock && p.locationId === locationId)
    if (same) same.quantity += l.quantity
    else w.parts.push({ quantity: l.quantity, restock, locationId })
    w.quantity += l.quantity
    wanted.set(l.saleLineId, w)
  }
  const amounts: { line: (typeof lines)[number]; quantity: number; amount: number; tax: number; restock: boolean; locationId: string }[] = []
  for (const [lineId, w] of wanted) {
    const line = byId.get(lineId)!
    const left = line.quantity - line.refundedQuantity
    if (w.quantity > left) {
      throw invalid('refund_exceeds_sale', `only ${left} of ${line.sku} can still be refunded (${w.quantity} asked)`, { saleLineId: lineId, refundable: left, requested: w.quantity })
    }
    // Each part is priced after the ones before it, so the parts of a line add up as one refund of their sum would.
    let before = line.refundedQuantity
    for (const part of w.parts) {
      if (part.locationId) await getLocation(tx, actor.merchantId, part.locationId)
      amounts.push({
        line,
        quantity: part.quantity,
        amount: cum(line.total, before + part.quantity, line.quantity) - cum(line.total, before, line.quantity),
        tax: cum(line.taxAmount, before + part.quantity, line.quantity) - cum(line.taxAmount, before, line.quantity),
        restock: part.restock,
        locationId: part.locationId ?? line.locationId,
      })
      before += part.quantity
    }
  }
  // What was paid beyond the lines (cash rounding, and an offline till's tender difference), shared by the value
  // refunded so far: refunding everything gives back exactly what the tenders took.
  // A sale of nothing to pay (its lines all free) that a till charged anyway has no value to share it by: what it
  // took comes back with the refund of its last unit.
  const beyondLines = sale.roundingAdjustment + sale.tenderDifference
  const valueBefore = sum(lines.map((l) => cum(l.total, l.refundedQuantity, l.quantity)))
  const valueAfter = valueBefore + sum(amounts.map((a) => a.amount))
  const complete = lines.every((l) => l.refundedQuantity + sum(amounts.filter((a) => a.line.id === l.id).map((a) => a.quantity)) === l.quantity)
  const shareBy = (value: number, done: boolean) => (sale.total === 0 ? (done ? beyondLines : 0) : cum(beyondLines, value, sale.total))
  const shareAfter = shareBy(valueAfter, complete)
  const roundingShare = shareAfter - shareBy(valueBefore, false)
  const tenders = await tx.select().from(saleTenders).where(eq(saleTenders.saleId, saleId))
  const exact = sum(amounts.map((a) => a.amount)) + roundingShare
  // Cash handed back instead of a sale paid without cash is rounded as a cash sale is: the drawer holds no fen.
  const cashInstead = !!input.tenders?.length && input.tenders.every((t) => t.kind === 'cash') && !tenders.some((t) => t.kind === 'cash')
  const refundedBefore = await refundedSoFar(tx, saleId)
  // Never beyond what the sale took less what its refunds gave back: cash instead of a card, rounded to whole units,
  // can give back more than its share, and the refunds after it then have less to give (all cash instead: whole units
  // of what is left, the fen it cannot pay staying with the card).
  const left = sum(tenders.map((t) => t.amount)) - refundedBefore
  const total =
    allCash(tenders) && settings.cashRounding.unit > 1
      ? roundedCashRefund(tenders, { reached: valueAfter + shareAfter, complete: sale.total === 0 ? complete : valueAfter >= sale.total, refundedBefore }, settings.cashRounding)
      : cashInstead
        ? Math.max(0, Math.min(exact + cashRoundingAdjustment(exact, settings.cashRounding), left - (left % settings.cashRounding.unit)))
        : Math.max(0, Math.min(exact, left))

  let split: { kind: TenderKind; amount: number; saleTenderId: string | null; accountRef: string | null }[]
  const open = tenders.map((t) => t.amount - t.refundedAmount)
  const dues = dueInKind(tenders, refundedBefore + total)
  const parts = inKindFirst(wholeCash(allocate(Math.min(total, sum(open)), open), open, tenders, settings.cashRounding.unit), open, tenders, dues)
  // Named or split the default way, what stored value paid and what was charged to an account go back there.
  const inKind = (xs: { kind: TenderKind; amount: number }[]) => {
    for (const due of dues) {
      const back = sum(xs.filter((x) => due.kinds.includes(x.kind as ReturnedKind)).map((x) => x.amount))
      if (back >= due.amount) continue
      const rule = RETURNED_IN_KIND[due.code]
      throw invalid(rule.code, `${due.amount} of this refund was ${rule.words}, not out as money`, { [rule.detail]: due.amount })
    }
  }
  const cashOf = (xs: { kind: TenderKind; amount: number }[]) => sum(xs.filter((x) => x.kind === 'cash').map((x) => x.amount))
  if (!input.tenders) {
    split = tenders.map((t, i) => ({ kind: t.kind, amount: parts[i]!, saleTenderId: t.id, accountRef: t.accountRef })).filter((s) => s.amount > 0)
    if (sum(split.map((s) => s.amount)) !== total) throw conflict('tenders_exhausted', 'the original tenders cannot take this refund; name the tenders')
    inKind(split)
  } else {
    if (sum(input.tenders.map((t) => t.amount)) !== total) throw invalid('refund_tender_mismatch', `refund tenders must add up to ${total}`, { refundTotal: total })
    // One entry per original tender: each entry is checked and split (stored value into principal and bonus) on its
    // own, so parts of one tender would each round their split and together give back a different one.
    // An electronic refund named by kind only goes back through the sale's one payment of that kind (the channel
    // refunds a payment, by its out_trade_no). A wallet refund with no such payment has nothing to go back through;
    // a card may still be refunded unreferenced at the terminal, with the cash-refund permission (below).
    // Cash named by kind likewise comes out of what the sale's cash payment can still give back; beyond that it is
    // cash instead of another tender (the cash-refund permission, below).
    // Stored value and on account named by kind are the sale's own tender of that kind (one with room for it), and
    // beyond what it can give back the refund is refused: they go back nowhere else. A sale charged to two accounts
    // does not say which one a refund goes back to: name it (saleTenderId).
    // Any other kind (a coupon voucher, points) named by kind is the sale's own tender of that kind with room for it,
    // as cash is.
    const accountOf = (x: (typeof tenders)[number]) => x.accountRef ?? sale.customerName
    const resolved = input.tenders.map((t) => {
      if (t.saleTenderId) return t
      if (returnedInKind(t.kind)) {
        const same = tenders.filter((x) => x.kind === t.kind)
        const accounts = new Set(same.map(accountOf)).size
        if (t.kind === 'on_account' && accounts > 1) throw invalid('refund_tender_ambiguous', `the sale was charged to ${accounts} accounts: name the one refunded (saleTenderId)`, { kind: t.kind })
        const own = same.find((x) => t.amount <= x.amount - x.refundedAmount) ?? same[0]
        return own ? { ...t, saleTenderId: own.id } : t
      }
      if (!ELECTRONIC.includes(t.kind)) {
        const own = tenders.find((x) => x.kind === t.kind && t.amount <= x.amount - x.refundedAmount)
        return own ? { ...t, saleTenderId: own.id } : t
      }
      const same = tenders.filter((x) => x.kind === t.kind)
      if (same.length === 1) return { ...t, saleTenderId: same[0]!.id }
      if (same.length > 1) throw invalid('refund_tender_ambiguous', `the sale has ${same.length} ${t.kind} payments: name the one refunded (saleTenderId)`, { kind: t.kind })
      if (t.kind !== 'card') throw invalid('refund_tender_kind', `a ${t.kind} refund goes back through a ${t.kind} payment of the sale, and it has none`, { kind: t.kind })
      return t
    })
    const named = resolved.flatMap((t) => (t.saleTenderId ? [t.saleTenderId] : []))
    const twice = named.find((id, i) => named.indexOf(id) !== i)
    if (twice) throw invalid('duplicate_sale_tender', `tender ${twice} is named more than once: give its refund as one amount`, { saleTenderId: twice })
    split = resolved.map((t) => {
      if (!Number.isSafeInteger(t.amount) || t.amount <= 0) throw invalid('invalid_amount', 'refund tender amounts must be positive whole numbers')
      const original = t.saleTenderId ? tenders.find((x) => x.id === t.saleTenderId) : undefined
      if (t.saleTenderId && !original) throw invalid('unknown_sale_tender', `tender ${t.saleTenderId} is not part of this sale`)
      if (original && original.kind !== t.kind) throw invalid('refund_tender_kind', `tender ${t.saleTenderId} was ${original.kind}, not ${t.kind}`)
      if (original && t.amount > original.amount - original.refundedAmount) throw invalid('refund_exceeds_tender', `tender ${original.id} can refund at most ${original.amount - original.refundedAmount}`)
      if (!original && (returnedInKind(t.kind) || t.kind === 'points')) throw invalid('refund_tender_kind', `a ${t.kind} refund goes back only to the sale's own ${t.kind} tender (name saleTenderId)`, { kind: t.kind })
      if (!original) {
        const can = actorCan(actor, 'sales.refund_cash')
        if (!can.ok) throw forbidden('refund_tender_forbidden', `role ${actor.role} may only refund to the original tenders`, { permission: 'sales.refund_cash' })
        if (can.approverId) approvedBy = can.approverId
      }
      return { kind: t.kind, amount: t.amount, saleTenderId: original?.id ?? null, accountRef: original?.accountRef ?? null }
    })
    inKind(split)
    // More cash out of the drawer than the split to the original tenders gives is a cash refund instead of a card
    // one, even when the sale's own cash tender is named.
    if (cashOf(split) > cashOf(tenders.map((t, i) => ({ kind: t.kind, amount: parts[i]! }))) && split.every((x) => x.saleTenderId)) {
      const can = actorCan(actor, 'sales.refund_cash')
      if (!can.ok) throw forbidden('refund_tender_forbidden', `role ${actor.role} may only refund cash as the original tenders split it`, { permission: 'sales.refund_cash' })
      if (can.approverId) approvedBy = can.approverId
    }
  }

  const cashOut = cashOf(split)
  // Locked either way: a close waits for the refund, so its Z report never changes after the close. Cash out of the
  // drawer also waits for other payouts from it, and is never more than it holds.
  // A refund with no cash out at a register with no open session (a card refunded after the close) goes to the
  // register's rescue session of the day, so the day's Z reports still add up to its daily report.
  const session =
    cashOut > 0
      ? await requireOpenSession(tx, actor.merchantId, register.id, 'update')
      : ((await openSessionOf(tx, actor.merchantId, register.id, true)) ?? (await rescueSessionFor(tx, actor, register.id, at)))
  if (cashOut > 0) await assertDrawerHolds(tx, session!.id, cashOut)
  const day = businessDate(at, settings.timeZone)
  const refundId = newId()
  const refundNo = await nextReceiptNo(tx, actor.merchantId, { storeId: store.id, storeCode: store.code, registerId: register.id, registerCode: register.code }, day, 'refund')
  await tx.insert(refunds).values({
    id: refundId,
    merchantId: actor.merchantId,
    saleId,
    storeId: store.id,
    registerId: register.id,
    sessionId: session?.id ?? null,
    refundNo,
    businessDate: day,
    kind: 'refund',
    reason: input.reason ?? null,
    total,
    taxTotal: sum(amounts.map((a) => a.tax)),
    createdBy: actor.id,
    approvedBy,
    occurredAt: at,
  })
  const lineRows = amounts.map((a) => ({
    id: newId(),
    merchantId: actor.merchantId,
    refundId,
    saleLineId: a.line.id,
    quantity: a.quantity,
    amount: a.amount,
    taxAmount: a.tax,
    restock: a.restock,
    locationId: a.restock ? a.locationId : null,
  }))
  await tx.insert(refundLines).values(lineRows)
  const fullyRefunded = lines.every((l) => l.refundedQuantity + (wanted.get(l.id)?.quantity ?? 0) === l.quantity)
  const svTenders = split.filter((x) => x.kind === 'stored_value').map((x) => ({ x, original: tenders.find((t) => t.id === x.saleTenderId)! }))
  // Points go back in proportion to the value refunded; a sale paid wholly with points had nothing due, so there
  // they go back in proportion to the lines' list value.
  const listed = (q: (l: (typeof lines)[number]) => number) => sum(lines.map((l) => cum(l.gross, q(l), l.quantity)))
  const share =
    sale.total > 0
      ? { saleValue: sale.total, valueBefore, valueAfter }
      : { saleValue: listed((l) => l.quantity), valueBefore: listed((l) => l.refundedQuantity), valueAfter: listed((l) => l.refundedQuantity + (wanted.get(l.id)?.quantity ?? 0)) }
  const member = await reverseMemberSale(tx, actor, sale, {
    refundId,
    ...share,
    fullyRefunded,
    storedValue: svTenders.map(({ x, original }) => ({
      amount: x.amount,
      tenderAmount: original.amount,
      tenderRefundedBefore: original.refundedAmount,
      tenderPrincipal: original.storedPrincipal ?? original.amount,
      tenderBonus: original.storedBonus ?? 0,
    })),
    day,
    at,
    loyalty: settings.loyalty,
    windowDays: settings.loyalty.tierWindowDays,
  })
  const tenderRows = split.map((s) => {
    const sv = svTenders.findIndex((v) => v.x === s)
    return {
      id: newId(),
      merchantId: actor.merchantId,
      refundId,
      saleTenderId: s.saleTenderId,
      kind: s.kind,
      amount: s.amount,
      refundNo: ELECTRONIC.includes(s.kind) ? newRefundNo(at) : null,
      accountRef: s.accountRef,
      storedPrincipal: sv >= 0 ? member.storedValue[sv]!.principal : null,
      storedBonus: sv >= 0 ? member.storedValue[sv]!.bonus : null,
    }
  })
  // A refund of nothing to pay back (a line given away) has no tender parts.
  if (tenderRows.length) await tx.insert(refundTenders).values(tenderRows)
  for (const a of amounts) {
    await tx.update(saleLines).set({ refundedQuantity: sql`${saleLines.refundedQuantity} + ${a.quantity}` }).where(eq(saleLines.id, a.line.id))
  }
  for (const s of split.filter((x) => x.saleTenderId)) {
    await tx.update(saleTenders).set({ refundedAmount: sql`${saleTenders.refundedAmount} + ${s.amount}` }).where(eq(saleTenders.id, s.saleTenderId!))
  }
  const restock = lineRows.filter((l) => l.restock)
  if (restock.length) {
    await applyMovements(
      tx,
      actor,
      restock.map((l) => {
        const line = byId.get(l.saleLineId)!
        return { variantId: line.variantId, locationId: l.locationId!, quantity: l.quantity, kind: 'return' as const, causeType: 'refund_line' as const, causeId: l.id, occurredAt: at, unitCost: line.unitCost, costPer: line.pricePer }
      }),
      { policy: 'allow' },
    )
  }
  if (cashOut > 0) await addCashMovement(tx, actor, { sessionId: session!.id, kind: 'refund', amount: -cashOut, saleId, refundId, approverId: approvedBy, at, businessDate: day })
  await recordEvents(tx, actor.merchantId, [
    { type: 'sale.refunded', entityType: 'sale', entityId: saleId, data: { saleId, refundId, refundNo, total, receiptNo: sale.receiptNo, lines: amounts.map((a) => ({ saleLineId: a.line.id, quantity: a.quantity, amount: a.amount })) } },
  ])
  await recordAudit(tx, actor, {
    action: 'sale.refunded',
    entityType: 'sale',
    entityId: saleId,
    approverId: approvedBy,
    details: {
      refundId,
      refundNo,
      total,
      reason: input.reason ?? null,
      tenders: split.map((s) => ({ kind: s.kind, amount: s.amount })),
      points: sale.memberId ? { takenBack: member.pointsTakenBack, owed: member.pointsDebt, returned: member.pointsReturned } : undefined,
    },
  })
  return { refundId, sale: await getSale(tx, actor.merchantId, saleId) }
}

/**
 * Whether all a sale can still refund was paid in cash (the drawer pays the refund out), or it was paid in cash and
 * rounded refunds have given everything back already (the rest of its goods come back for nothing more).
 */
function allCash(tenders: { kind: TenderKind; amount: number; refundedAmount: number }[]): boolean {
  const open = tenders.filter((t) => t.amount > t.refundedAmount)
  return open.every((t) => t.kind === 'cash') && tenders.some((t) => t.kind === 'cash')
}

/** What the sale's refunds so far gave back, whatever they were paid to (a refund to a card at the terminal, say). */
async function refundedSoFar(tx: Tx, saleId: string): Promise<number> {
  const [row] = await tx
    .select({ total: sql<string>`coalesce(sum(${refunds.total}), 0)` })
    .from(refunds)
    .where(and(eq(refunds.saleId, saleId), eq(refunds.kind, 'refund')))
  return Number(row!.total)
}

/**
 * A refund paid out of the drawer alone under cash rounding (every other tender of the sale is given back), in whole
 * units as the sale's cash was paid: the value refunded so far with its share of the sale's rounding, less what the
 * other tenders paid, rounded like a sale's cash, plus what they paid, less what earlier refunds gave back (to any
 * tender: one paid to a card the sale did not use counts too). The last refund gives back exactly the rest of what was
 * paid, so the refunds add up to it and never more.
 */
function roundedCashRefund(
  tenders: { kind: TenderKind; amount: number }[],
  progress: { reached: number; complete: boolean; refundedBefore: number },
  rule: { unit: number; mode: 'half_up' | 'down' },
): number {
  const paid = sum(tenders.map((t) => t.amount))
  if (progress.complete) return Math.max(0, paid - progress.refundedBefore)
  const cashPaid = sum(tenders.filter((t) => t.kind === 'cash').map((t) => t.amount))
  const otherPaid = paid - cashPaid
  const reached = progress.reached - otherPaid
  const target = otherPaid + Math.min(cashPaid, reached + cashRoundingAdjustment(reached, rule))
  return Math.max(0, target - progress.refundedBefore)
}

/**
 * With cash rounding, the cash part of a refund spread over the sale's tenders is a whole multiple of the rounding
 * unit, as the cash part of the sale was: the fen it would leave over go to (or come from) a non-cash tender with
 * room, so the drawer never pays out fen it does not hold. Left as spread when no tender can take them.
 */
function wholeCash(parts: number[], open: number[], tenders: { kind: TenderKind }[], unit: number): number[] {
  const cash = tenders.findIndex((t) => t.kind === 'cash')
  const over = cash < 0 || unit <= 1 ? 0 : parts[cash]! % unit
  if (over === 0) return parts
  const out = [...parts]
  const down = tenders.findIndex((_, j) => j !== cash && open[j]! - out[j]! >= over)
  if (down >= 0) {
    out[cash] = out[cash]! - over
    out[down] = out[down]! + over
    return out
  }
  const need = unit - over
  const up = tenders.findIndex((_, j) => j !== cash && out[j]! >= need)
  if (up >= 0 && open[cash]! - out[cash]! >= need) {
    out[cash] = out[cash]! + need
    out[up] = out[up]! - need
  }
  return out
}

/**
 * What a refund bringing the sale's refunds to `reached` must give back to tenders of the kinds that go back where
 * they came from (RETURNED_IN_KIND), so that the refunds never give the other tenders more than those paid: to them
 * all together (so no more money goes out than money was paid), and to each kind (so stored value is not paid to an
 * account, nor an account's charge to stored value). Each as much as those tenders can still take at most; `code`
 * names the kind the refund is refused in (of a group of several kinds, the first the sale has).
 */
function dueInKind(tenders: { kind: TenderKind; amount: number; refundedAmount: number }[], reached: number): { kinds: ReturnedKind[]; amount: number; code: ReturnedKind }[] {
  const kinds = (Object.keys(RETURNED_IN_KIND) as ReturnedKind[]).filter((k) => tenders.some((t) => t.kind === k))
  const groups = kinds.length > 1 ? [...kinds.map((k) => [k]), kinds] : kinds.map((k) => [k])
  return groups.map((group) => {
    const inside = tenders.filter((t) => group.includes(t.kind as ReturnedKind))
    const paidElsewhere = sum(tenders.filter((t) => !inside.includes(t)).map((t) => t.amount))
    const given = sum(inside.map((t) => t.refundedAmount))
    const open = sum(inside.map((t) => t.amount - t.refundedAmount))
    return { kinds: group, amount: Math.min(open, Math.max(0, reached - paidElsewhere - given)), code: group[0]! }
  })
}

/**
 * The default split with at least what is due to the tenders that go back where they came from: after cash was given
 * instead of a card, the card still looks open and a split by what is open would send their part to it. What they
 * lack is taken from the money tenders, cash last.
 */
function inKindFirst(parts: number[], open: number[], tenders: { kind: TenderKind }[], dues: { kinds: ReturnedKind[]; amount: number }[]): number[] {
  const out = [...parts]
  const givers = out.map((_, j) => j).filter((j) => !returnedInKind(tenders[j]!.kind)).sort((a, b) => Number(tenders[a]!.kind === 'cash') - Number(tenders[b]!.kind === 'cash'))
  for (const due of dues) {
    const inside = (i: number) => due.kinds.includes(tenders[i]!.kind as ReturnedKind)
    let lack = due.amount - sum(out.filter((_, i) => inside(i)))
    for (const i of out.keys()) {
      if (lack <= 0) break
      if (!inside(i)) continue
      let room = Math.min(lack, open[i]! - out[i]!)
      for (const j of givers) {
        const take = Math.min(room, out[j]!)
        out[j] = out[j]! - take
        out[i] = out[i]! + take
        room -= take
        lack -= take
      }
    }
  }
  return out
}

/**
 * Voids a whole sale: only on its own business day, while its cash session is still open, and before any refund.
 * Everything is reversed (stock, cash, tenders with reversal numbers for the channels) and the sale is marked voided.
 */
export async function voidSale(tx: Tx, actor: Actor, saleId: string, input: { reason: string; approverId?: string | null }, at = new Date()): Promise<SaleView> {
  const access = actorCan(actor, 'sales.void')
  if (!access.ok) throw forbidden('permission_denied', `role ${actor.role} may not void sales`, { permission: 'sales.void' })
  const approvedBy = input.approverId ?? access.approverId
  const sale = await lockSale(tx, actor.merchantId, saleId)
  if (sale.status === 'voided') throw conflict('sale_voided', 'the sale is already voided')
  const { timeZone } = await getSettings(tx, actor.merchantId)
  if (businessDate(at, timeZone) !== sale.businessDate) throw conflict('void_window_closed', 'a sale can only be voided on its own business day; refund it instead')
  const session = sale.sessionId ? await openSessionOf(tx, actor.merchantId, sale.registerId, 'update') : undefined
  if (!session || session.id !== sale.sessionId) {
    // An offline sale uploaded after its session closed sits in a rescue session: its cash was in the drawer counted
    // at that close, in no drawer now, so nothing can be taken back out of one.
    const [own] = sale.sessionId ? await tx.select({ rescue: cashSessions.rescue }).from(cashSessions).where(eq(cashSessions.id, sale.sessionId)) : []
    if (own?.rescue) throw conflict('void_window_closed', 'the sale was uploaded after its cash session closed (it is kept in a rescue session); refund it instead', { rescueSessionId: sale.sessionId })
    throw conflict('void_window_closed', "the sale's cash session has closed; refund it instead")
  }
  const lines = await tx.select().from(saleLines).where(eq(saleLines.saleId, saleId))
  if (lines.some((l) => l.refundedQuantity > 0)) throw conflict('sale_has_refunds', 'the sale has refunds; refund the rest instead of voiding')
  const tenders = await tx.select().from(saleTenders).where(eq(saleTenders.saleId, saleId))
  const store = await getStore(tx, actor.merchantId, sale.storeId)
  const settings = await getSettings(tx, actor.merchantId)
  const register = await getRegister(tx, actor.merchantId, sale.registerId)

  const refundId = newId()
  const refundNo = await nextReceiptNo(tx, actor.merchantId, { storeId: store.id, storeCode: store.code, registerId: register.id, registerCode: register.code }, sale.businessDate, 'refund')
  await tx.insert(refunds).values({
    id: refundId,
    merchantId: actor.merchantId,
    saleId,
    storeId: sale.storeId,
    registerId: sale.registerId,
    sessionId: session.id,
    refundNo,
    businessDate: sale.businessDate,
    kind: 'void',
    reason: input.reason,
    // What the tenders took: the amount due, and an offline till's tender difference.
    total: sale.total + sale.roundingAdjustment + sale.tenderDifference,
    taxTotal: sale.taxTotal,
    createdBy: actor.id,
    approvedBy,
    occurredAt: at,
  })
  const lineRows = lines.map((l) => ({ id: newId(), merchantId: actor.merchantId, refundId, saleLineId: l.id, quantity: l.quantity, amount: l.total, taxAmount: l.taxAmount, restock: true, locationId: l.locationId }))
  await tx.insert(refundLines).values(lineRows)
  await reverseMemberSale(tx, actor, sale, {
    refundId,
    // All of it (a sale paid wholly with points has a total of 0: the whole is 1 of 1).
    saleValue: 1,
    valueBefore: 0,
    valueAfter: 1,
    fullyRefunded: true,
    storedValue: tenders
      .filter((t) => t.kind === 'stored_value')
      .map((t) => ({ amount: t.amount, tenderAmount: t.amount, tenderRefundedBefore: 0, tenderPrincipal: t.storedPrincipal ?? t.amount, tenderBonus: t.storedBonus ?? 0 })),
    day: sale.businessDate,
    at,
    loyalty: settings.loyalty,
    windowDays: settings.loyalty.tierWindowDays,
  })
  if (tenders.length) {
    await tx.insert(refundTenders).values(
      tenders.map((t) => ({
        id: newId(),
        merchantId: actor.merchantId,
        refundId,
        saleTenderId: t.id,
        kind: t.kind,
        amount: t.amount,
        refundNo: ELECTRONIC.includes(t.kind) ? newRefundNo(at) : null,
        accountRef: t.accountRef,
        storedPrincipal: t.storedPrincipal,
        storedBonus: t.storedBonus,
      })),
    )
  }
  await tx.update(saleLines).set({ refundedQuantity: sql`${saleLines.quantity}` }).where(eq(saleLines.saleId, saleId))
  await tx.update(saleTenders).set({ refundedAmount: sql`${saleTenders.amount}`, status: 'voided' }).where(eq(saleTenders.saleId, saleId))
  await applyMovements(
    tx,
    actor,
    lineRows.map((r, i) => ({ variantId: lines[i]!.variantId, locationId: r.locationId, quantity: r.quantity, kind: 'void' as const, causeType: 'refund_line' as const, causeId: r.id, occurredAt: at, unitCost: lines[i]!.unitCost, costPer: lines[i]!.pricePer })),
    { policy: 'allow' },
  )
  const cash = sum(tenders.filter((t) => t.kind === 'cash').map((t) => t.amount))
  await assertDrawerHolds(tx, session.id, cash)
  await addCashMovement(tx, actor, { sessionId: session.id, kind: 'void', amount: -cash, saleId, refundId, approverId: approvedBy, at, businessDate: sale.businessDate })
  await tx.update(sales).set({ status: 'voided', voidedAt: at, voidedBy: actor.id, voidReason: input.reason }).where(eq(sales.id, saleId))
  // Its receipt and screens still waiting for a device go no further: a voided sale's receipt is no proof of purchase.
  await dropWaitingOfSale(tx, { merchantId: actor.merchantId, storeId: sale.storeId, saleId }, at)
  // A voided sale is no purchase: the member's last one is what stands now.
  if (sale.memberId) await recomputeLastPurchase(tx, sale.memberId)
  await recordEvents(tx, actor.merchantId, [{ type: 'sale.voided', entityType: 'sale', entityId: saleId, data: { saleId, receiptNo: sale.receiptNo, refundId, refundNo, total: sale.total } }])
  await recordAudit(tx, actor, { action: 'sale.voided', entityType: 'sale', entityId: saleId, approverId: approvedBy, details: { receiptNo: sale.receiptNo, reason: input.reason, total: sale.total } })
  return getSale(tx, actor.merchantId, saleId)
}
