// Checkout: price a cart (quote, no side effects) and complete a sale — sale, lines, discounts, tenders, stock
// movements, cash ledger, events and audit in the caller's one transaction.
import { createHash } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { executeNamed } from '../../db/prepared.ts'
import { conflict, DomainError, forbidden, invalid } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { businessDate } from '../../lib/time.ts'
import { MAX_PAYMENT_AMOUNT, mulDivRound, sum } from '../../lib/money.ts'
import type { MerchantSettings } from '../merchants/settings.ts'
import { lookupSellables, type ItemRef, type Sellable } from '../catalog/lookup.ts'
import { applyMovements } from '../stock/ledger.ts'
import { flagOrdersLosingCover } from '../channel-stock/orders.ts'
import { actorCan, discountLimit, grantsOf, type Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { loadSaleContext, type SaleContext } from './context.ts'
import { promotionUsesCategories } from './promotions.ts'
import { cashRoundingAdjustment, priceCart, type CartLine, type PricedCart } from './pricing.ts'
import { afterMemberSale, applyMemberSale, loadMemberContext, lockSaleMember, memberDiscounts, pointsOverLimit, pointsToEarn, redeemablePoints, type MemberContext, type MemberSaleInput } from '../members/sale.ts'
import { paymentTooLarge, type CashSession } from './cash-sessions.ts'
import { newPaymentNo, PAYMENT_NO, receiptPrefix } from './numbers.ts'
import { sales, type TenderKind } from './schema.ts'
import type { SaleRow, SaleView } from './queries.ts'

export const ELECTRONIC: readonly TenderKind[] = ['card', 'wechat', 'alipay', 'unionpay_qr']

export interface SaleLineInput extends ItemRef {
  /** Base units (pieces, grams…); defaults to 1, or to the weight on a scale label. */
  quantity?: number
  /** A manual discount: percent (basis points) or amount (minor units) off the line. */
  discount?: { percentBp: number } | { amount: number }
  /** Overrides the catalog unit price (per the variant's pricePer). */
  unitPrice?: number
}

export interface TenderInput {
  kind: TenderKind
  /** Minor units. For cash, what the customer handed over (change is computed). */
  amount: number
  /** The merchant-side payment number if the terminal already used one; otherwise the hub issues one. */
  paymentNo?: string
  channelTxnId?: string
  reference?: Record<string, string>
  accountRef?: string
}

export interface SaleInput extends MemberSaleInput {
  registerId: string
  lines: SaleLineInput[]
  tenders?: TenderInput[]
  customerName?: string
  note?: string
}

export interface QuoteMember {
  id: string
  cardNo: string
  tier: string | null
  pointsBalance: number
  storedValue: number
  pointsRedeemed: number
  pointsDiscount: number
  /** Points this sale will earn with the tenders given. */
  pointsToEarn: number
}

export interface Quote {
  storeId: string
  registerId: string
  currency: string
  taxInclusive: boolean
  cart: PricedCart
  /** Cash rounding applied to the amount due (only when cash is tendered). */
  roundingAdjustment: number
  amountDue: number
  paid: number
  change: number
  /** Still to pay (0 once the tenders cover the amount due). */
  balance: number
  member: QuoteMember | null
  lines: (PricedCart['lines'][number] & { sku: string; name: string; listPrice: number | null; unitCost: number; taxCategoryId: string; categoryId: string | null })[]
}

interface Prepared extends Quote {
  /** A manager whose override allowed this sale's manual pricing. */
  approverId: string | null
  /** An offline sale's manual pricing beyond the cashier's role: what refusing it online would have said. */
  overLimit: DomainError | null
  memberCtx: MemberContext | undefined
  settings: MerchantSettings & { currency: string; timeZone: string }
  store: { id: string; code: string }
  ctx: SaleContext
  sellables: Sellable[]
  tenders: (TenderInput & { applied: number; received: number | null })[]
}

/**
 * Manual pricing is limited by the caller's grants, or by the grants of a manager approving the request (manager
 * override). Returns the approver when only the approver's grants allowed it, so the sale and audit name them.
 */
function limitDiscounts(actor: Actor, sellables: Sellable[], input: SaleLineInput[], gross: number[]): string | null {
  let approverId: string | null = null
  const use = (r: { ok: boolean; approverId: string | null }) => {
    if (r.approverId) approverId = r.approverId
    return r.ok
  }
  input.forEach((l, i) => {
    const s = sellables[i]!
    if (l.unitPrice !== undefined && l.unitPrice !== s.price && !use(actorCan(actor, 'sales.price_override'))) {
      throw forbidden('price_override_forbidden', `role ${actor.role} may not override the price of ${s.sku}`, { sku: s.sku, permission: 'sales.price_override' })
    }
    if (!l.discount) return
    if (!use(actorCan(actor, 'sales.discount'))) throw forbidden('discount_forbidden', `role ${actor.role} may not give manual discounts`, { permission: 'sales.discount' })
    // No role may give more than the line: that is a wrong amount, not a limit a manager could lift.
    if ('amount' in l.discount && l.discount.amount > gross[i]!) {
      throw invalid('discount_exceeds_line', `a discount of ${l.discount.amount} on ${s.sku} is more than its line (${gross[i]})`, { sku: s.sku, gross: gross[i], discount: l.discount.amount })
    }
    const asBp = 'percentBp' in l.discount ? l.discount.percentBp : gross[i]! === 0 ? 0 : Math.ceil((l.discount.amount * 10_000) / gross[i]!)
    const limit = discountLimit(actor)
    if (asBp > limit.limitBp) {
      throw forbidden('discount_limit_exceeded', `a ${asBp / 100}% discount on ${s.sku} is over the ${limit.limitBp / 100}% limit of role ${actor.role}`, {
        sku: s.sku,
        limitBp: limit.limitBp,
        requestedBp: asBp,
      })
    }
    if (asBp > grantsOf(actor).discountLimitBp) approverId = limit.approverId
  })
  return approverId
}

/** Prices the cart and settles the tenders, without writing anything. */
async function prepare(tx: Tx, actor: Actor, input: SaleInput, at: Date, opts: { offline: boolean }): Promise<Prepared> {
  if (input.lines.length === 0) throw invalid('empty_sale', 'a sale needs at least one line')
  // Offline sales were priced by the till: its discounts arrive as line discounts and are not applied twice.
  const ctx = await loadSaleContext(tx, actor.merchantId, input.registerId, at, { promotions: !opts.offline })
  const { settings, store, register } = ctx
  if (!register.active && !opts.offline) throw invalid('register_inactive', `register ${register.code} is not active`)
  const promos = ctx.promotions
  const byCategory = promos.some(promotionUsesCategories)
  if (opts.offline && (input.couponCodes?.length || input.redeemPoints)) {
    throw invalid('offline_redemption', 'coupons and points cannot be redeemed offline: the hub could not check them when the sale was made')
  }
  const memberCtx = await loadMemberContext(tx, actor.merchantId, input, settings.loyalty, businessDate(at, settings.timeZone))
  const couponsByCategory = (memberCtx?.coupons ?? []).some((c) => c.categoryIds.length > 0)
  const sellables = await lookupSellables(tx, actor.merchantId, input.lines, settings, { categoryChains: byCategory || couponsByCategory })

  const cart: CartLine[] = sellables.map((s, i) => {
    const l = input.lines[i]!
    if (!opts.offline && (s.status !== 'active' || !s.onShelf)) throw invalid('item_not_for_sale', `${s.sku} is off the shelf`, { sku: s.sku })
    const quantity = l.quantity ?? s.label?.quantity ?? (s.label?.amount !== undefined && s.price > 0 ? Math.max(1, Math.round((s.label.amount * s.pricePer) / s.price)) : 1)
    if (!Number.isSafeInteger(quantity) || quantity <= 0) throw invalid('invalid_quantity', `quantity of ${s.sku} must be a positive whole number of ${s.unit === 'piece' ? 'pieces' : s.unit}`)
    if (l.unitPrice !== undefined && (!Number.isSafeInteger(l.unitPrice) || l.unitPrice < 0)) throw invalid('invalid_amount', `price of ${s.sku} must be a whole, non-negative number of minor units`)
    return {
      key: String(i),
      variantId: s.variantId,
      productId: s.productId,
      categoryChain: s.categoryChain,
      unit: s.unit,
      quantity,
      unitPrice: l.unitPrice ?? s.price,
      pricePer: s.pricePer,
      taxRateBp: s.taxRateBp,
      labelAmount: l.unitPrice === undefined && l.quantity === undefined ? s.label?.amount : undefined,
      manualDiscount: l.discount,
    }
  })
  const gross = cart.map((c) => c.labelAmount ?? mulDivRound(c.unitPrice, c.quantity, c.pricePer))
  // An offline till's prices stand (the customer paid them), also beyond the cashier's role: such a sale is recorded
  // and flagged for a manager (see completeSale), not refused.
  let approverId: string | null = null
  let overLimit: DomainError | null = null
  if (!opts.offline) approverId = limitDiscounts(actor, sellables, input.lines, gross)
  else {
    try {
      limitDiscounts(actor, sellables, input.lines, gross)
    } catch (e) {
      if (!(e instanceof DomainError)) throw e
      overLimit = e
    }
  }

  const pricing = { taxInclusive: settings.taxInclusive, taxRounding: settings.taxRounding }
  // An offline till priced the member's sale as it stood then (the tier it knew, any discount it gave on the lines):
  // the member's tier now, moved by online sales since, does not price it again, as promotions do not.
  const extras = opts.offline ? [] : memberDiscounts(memberCtx, cart.map((c) => ({ ...c, gross: c.labelAmount ?? mulDivRound(c.unitPrice, c.quantity, c.pricePer) })), at)
  let priced = priceCart(cart, promos, pricing, extras)
  let redemption = { points: 0, discount: 0 }
  if (input.redeemPoints && memberCtx) {
    // Points pay for what is left after every other discount, up to the merchant's share; priced again with them.
    redemption = redeemablePoints(memberCtx, input.redeemPoints, priced.total)
    priced = priceCart(cart, promos, pricing, [...extras, { source: 'points', sourceId: memberCtx.member!.id, label: `${redemption.points} points`, step: 4, amount: redemption.discount }])
    // Discounts come off the price before tax where prices exclude it: the lines may take less than the points'
    // worth (¥11.00 of points on ¥10.00 + tax). The member never pays points for a discount not given.
    const given = sum(priced.applied.filter((a) => a.source === 'points').map((a) => a.amount))
    if (given < redemption.discount) throw pointsOverLimit(memberCtx.loyalty, given)
  }

  if (priced.total > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
  const tenders = input.tenders ?? []
  // Several stored-value tenders draw on one balance: checked together.
  const storedValue = sum(tenders.filter((x) => x.kind === 'stored_value').map((x) => x.amount))
  for (const t of tenders) {
    if (!Number.isSafeInteger(t.amount) || t.amount <= 0) throw invalid('invalid_amount', `a ${t.kind} tender must be a positive whole number of minor units`)
    if (t.amount > MAX_PAYMENT_AMOUNT) throw paymentTooLarge()
    if (t.kind === 'on_account' && !(input.customerName || t.accountRef)) throw invalid('customer_required', 'an on-account tender needs the customer who owes (customerName)')
    if (t.paymentNo !== undefined && (!ELECTRONIC.includes(t.kind) || !PAYMENT_NO.test(t.paymentNo))) {
      throw invalid('invalid_payment_no', 'paymentNo is for card/WeChat/Alipay/UnionPay tenders: 6–32 of [0-9A-Za-z_-|*]')
    }
    if (t.kind === 'points') throw invalid('tender_not_available', 'points are redeemed with redeemPoints (a discount), not as a tender')
    if (t.kind === 'stored_value' && !memberCtx?.member) throw invalid('member_required', 'a stored-value tender needs the member')
    if (t.kind === 'stored_value' && opts.offline) throw invalid('offline_redemption', 'stored value cannot be spent offline')
    if (t.kind === 'stored_value' && storedValue > memberCtx!.member!.storedPrincipal + memberCtx!.member!.storedBonus) {
      throw invalid('insufficient_stored_value', 'the stored value balance is not enough', { balance: memberCtx!.member!.storedPrincipal + memberCtx!.member!.storedBonus, requested: storedValue })
    }
  }
  const cash = tenders.filter((t) => t.kind === 'cash')
  if (cash.length > 1) throw invalid('one_cash_tender', 'give cash as one tender (the amount handed over)')
  const nonCash = sum(tenders.filter((t) => t.kind !== 'cash').map((t) => t.amount))
  // Cash rounding (抹零) rounds what is paid in cash: with a split payment, the part left after the other tenders.
  // Rounding the whole total instead could leave the drawer a part in fen it cannot take or give change for.
  const roundingAdjustment = cash.length ? cashRoundingAdjustment(Math.max(0, priced.total - nonCash), settings.cashRounding) : 0
  const amountDue = priced.total + roundingAdjustment
  const cashGiven = cash[0]?.amount ?? 0
  // An offline till's tenders are what it took: above the hub's total, the difference is recorded on the sale.
  if (tenders.length && nonCash > amountDue && !opts.offline) throw invalid('overpaid', `non-cash tenders (${nonCash}) exceed the amount due (${amountDue})`, { amountDue, nonCash })
  const cashApplied = Math.min(cashGiven, Math.max(0, amountDue - nonCash))
  const change = cashGiven - cashApplied
  const paid = nonCash + cashApplied

  const appliedTenders = tenders.map((t) => ({ kind: t.kind, amount: t.kind === 'cash' ? cashApplied : t.amount }))
  const member: QuoteMember | null = memberCtx?.member
    ? {
        id: memberCtx.member.id,
        cardNo: memberCtx.member.cardNo,
        tier: memberCtx.tier?.code ?? null,
        pointsBalance: memberCtx.spendablePoints ?? memberCtx.member.pointsBalance,
        storedValue: memberCtx.member.storedPrincipal + memberCtx.member.storedBonus,
        pointsRedeemed: redemption.points,
        pointsDiscount: redemption.discount,
        // An offline till may have taken less than the amount due (its tender difference): points on what it took.
        pointsToEarn: pointsToEarn(memberCtx, opts.offline ? Math.min(amountDue, paid) : amountDue, appliedTenders),
      }
    : null
  const lines = priced.lines.map((l, i) => {
    const s = sellables[i]!
    return { ...l, sku: s.sku, name: s.name, listPrice: input.lines[i]!.unitPrice !== undefined ? s.price : null, unitCost: s.cost, taxCategoryId: s.taxCategoryId, categoryId: s.categoryId }
  })
  return {
    storeId: store.id,
    registerId: register.id,
    currency: settings.currency,
    taxInclusive: settings.taxInclusive,
    cart: priced,
    roundingAdjustment,
    amountDue,
    paid,
    change,
    balance: amountDue - paid,
    member,
    memberCtx,
    lines,
    settings,
    store,
    ctx,
    approverId,
    overLimit,
    sellables,
    tenders: tenders.map((t) => (t.kind === 'cash' ? { ...t, applied: cashApplied, received: t.amount } : { ...t, applied: t.amount, received: null })),
  }
}

const toQuote = ({ settings: _s, store: _st, ctx: _c, sellables: _se, tenders: _t, approverId: _a, overLimit: _o, memberCtx: _m, ...q }: Prepared): Quote => q

/**
 * The customer an on-account tender is charged to, trimmed: a blank name or account reference names nobody, so it is
 * no name at all (and an on-account tender without one is refused, online and offline alike).
 */
function withCustomer(input: SaleInput): SaleInput {
  const name = (s: string | undefined) => s?.trim() || undefined
  return { ...input, customerName: name(input.customerName), tenders: input.tenders?.map((t) => (t.accountRef === undefined ? t : { ...t, accountRef: name(t.accountRef) })) }
}

export async function quoteSale(tx: Tx, actor: Actor, input: SaleInput, at = new Date()): Promise<Quote> {
  return toQuote(await prepare(tx, actor, withCustomer(input), at, { offline: false }))
}

export interface CompleteOptions {
  /** The sale id: a till's own UUID for sales made offline. */
  id?: string
  occurredAt?: Date
  offline?: boolean
  /** Offline sales name their session; a closed one sends the sale to the register's rescue session. */
  session?: CashSession
  requestHash?: string
  clientReceiptNo?: string
}

export function hashSaleInput(input: unknown): string {
  const sort = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sort) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])])) : v
  return createHash('sha256').update(JSON.stringify(sort(input))).digest('hex')
}

/** Completes a sale in the caller's transaction. Online sales need the tenders to cover the amount due exactly. */
export async function completeSale(tx: Tx, actor: Actor, given: SaleInput, opts: CompleteOptions = {}): Promise<SaleView> {
  const input = withCustomer(given)
  const at = opts.occurredAt ?? new Date()
  const p = await prepare(tx, actor, input, at, { offline: opts.offline === true })
  if (!opts.offline) {
    if (p.tenders.length === 0 && p.amountDue > 0) throw invalid('tenders_required', 'a sale needs tenders that cover the amount due')
    if (p.balance > 0) throw invalid('underpaid', `tenders cover ${p.paid} of ${p.amountDue}`, { amountDue: p.amountDue, paid: p.paid })
  }
  const session = opts.session ?? p.ctx.session
  if (!session) throw conflict('no_open_session', 'open a cash session on this register first')
  if (session.registerId !== input.registerId) throw conflict('session_register_mismatch', 'the session belongs to another register')

  const saleId = opts.id ?? newId()
  const day = businessDate(at, p.settings.timeZone)
  const locationId = p.ctx.saleLocationId
  const lineIds = p.lines.map(() => newId())

  // The member before the stock, in the order a refund and a merge take them (lockSaleMember).
  if (p.memberCtx) await lockSaleMember(tx, actor, p.memberCtx)
  // Then stock: under the block policy this is where a sale of the last units is refused.
  const stock = await applyMovements(
    tx,
    actor,
    p.lines.map((l, i) => ({
      variantId: l.variantId,
      locationId,
      quantity: -l.quantity,
      kind: 'sale' as const,
      causeType: 'sale_line' as const,
      causeId: lineIds[i]!,
      occurredAt: at,
      unitCost: l.unitCost,
      costPer: l.pricePer,
    })),
    { policy: opts.offline ? 'allow' : p.settings.negativeStock },
  )
  // Units online orders were holding that the sale took (the allow policy, an offline sale): their orders are flagged.
  if (stock.holdsTaken.length) await flagOrdersLosingCover(tx, actor.merchantId, stock.holdsTaken, at)

  const now = new Date()
  const sale: SaleRow = {
    id: saleId,
    merchantId: actor.merchantId,
    storeId: p.storeId,
    registerId: input.registerId,
    sessionId: session.id,
    receiptNo: '',
    clientReceiptNo: opts.clientReceiptNo ?? null,
    businessDate: day,
    status: 'completed',
    currency: p.currency,
    taxInclusive: p.taxInclusive,
    grossTotal: p.cart.grossTotal,
    discountTotal: p.cart.discountTotal,
    taxTotal: p.cart.taxTotal,
    total: p.cart.total,
    roundingAdjustment: p.roundingAdjustment,
    tenderDifference: opts.offline ? p.paid - p.amountDue : 0,
    changeGiven: p.change,
    cashierId: actor.id,
    cashierType: actor.type,
    memberId: p.member?.id ?? null,
    pointsEarned: p.member?.pointsToEarn ?? 0,
    pointsRedeemed: p.member?.pointsRedeemed ?? 0,
    approverId: p.approverId,
    customerName: input.customerName ?? null,
    note: input.note ?? null,
    offline: opts.offline === true,
    occurredAt: at,
    recordedAt: now,
    requestHash: opts.requestHash ?? null,
    voidedAt: null,
    voidedBy: null,
    voidReason: null,
  }
  const lines: SaleView['lines'] = p.lines.map((l, i) => ({
    id: lineIds[i]!,
    merchantId: actor.merchantId,
    saleId,
    lineNo: i + 1,
    variantId: l.variantId,
    productId: l.productId,
    sku: l.sku,
    name: l.name,
    categoryId: l.categoryId,
    locationId,
    quantity: l.quantity,
    unit: l.unit,
    unitPrice: l.unitPrice,
    pricePer: l.pricePer,
    listPrice: l.listPrice,
    gross: l.gross,
    discountTotal: l.discountTotal,
    netExTax: l.netExTax,
    taxCategoryId: l.taxCategoryId,
    taxRateBp: l.taxRateBp,
    taxAmount: l.taxAmount,
    total: l.total,
    unitCost: l.unitCost,
    refundedQuantity: 0,
    adjustments: l.adjustments.map((a) => ({ id: newId(), source: a.source, sourceId: a.sourceId, label: a.label, amount: a.amount })),
  }))
  const tenders: SaleView['tenders'] = p.tenders.map((t) => ({
    id: newId(),
    merchantId: actor.merchantId,
    saleId,
    kind: t.kind,
    amount: t.applied,
    received: t.received,
    paymentNo: ELECTRONIC.includes(t.kind) ? (t.paymentNo ?? newPaymentNo(at)) : null,
    channelTxnId: t.channelTxnId ?? null,
    reference: t.reference ?? null,
    accountRef: t.accountRef ?? null,
    storedPrincipal: null,
    storedBonus: null,
    refundedAmount: 0,
    status: 'captured',
  }))
  if (p.memberCtx) {
    const { splits } = await applyMemberSale(tx, actor, p.memberCtx, {
      saleId,
      day,
      at,
      pointsRedeemed: sale.pointsRedeemed,
      pointsEarned: sale.pointsEarned,
      storedValueTenders: tenders.flatMap((t, index) => (t.kind === 'stored_value' ? [{ index, amount: t.amount }] : [])),
    })
    for (const [i, split] of splits) Object.assign(tenders[i]!, { storedPrincipal: split.principal, storedBonus: split.bonus, accountRef: p.memberCtx.member!.cardNo })
  }
  const cashIn = sum(p.tenders.filter((t) => t.kind === 'cash').map((t) => t.applied))
  sale.receiptNo = await insertSale(tx, actor, { sale, lines, tenders, cashIn, prefix: receiptPrefix(p.store.code, p.ctx.register.code, day, 'sale') })

  if (p.memberCtx) await afterMemberSale(tx, actor, p.memberCtx, at)
  const manual = p.lines.filter((l) => l.adjustments.some((a) => a.source === 'manual') || l.listPrice !== null)
  if (manual.length) {
    await recordAudit(tx, actor, {
      action: 'sale.manual_pricing',
      entityType: 'sale',
      entityId: saleId,
      approverId: p.approverId,
      details: {
        receiptNo: sale.receiptNo,
        lines: manual.map((l) => ({ sku: l.sku, listPrice: l.listPrice, unitPrice: l.unitPrice, discount: sum(l.adjustments.filter((a) => a.source === 'manual').map((a) => a.amount)) })),
      },
    })
  }
  if (p.overLimit) {
    await recordAudit(tx, actor, {
      action: 'sale.offline_over_limit',
      entityType: 'sale',
      entityId: saleId,
      details: { receiptNo: sale.receiptNo, clientReceiptNo: sale.clientReceiptNo, code: p.overLimit.code, message: p.overLimit.message, ...(p.overLimit.details as object) },
    })
  }
  return {
    ...sale,
    lines,
    tenders,
    refunds: [],
    stockWarnings: stock.negatives.map((n) => ({ variantId: n.variantId, locationId: n.locationId, onHand: n.onHand })),
    ...(stock.holdsTaken.length ? { holdsTaken: stock.holdsTaken } : {}),
    ...(p.overLimit ? { overLimit: { code: p.overLimit.code, message: p.overLimit.message, details: p.overLimit.details } } : {}),
  }
}

/**
 * Writes the sale and everything hanging off it in one statement: its receipt number (taken last, so the store's
 * counter row is locked only until the imminent commit), the sale, lines, discounts, tenders, the drawer's cash and
 * the sale.completed event. The sale is only written while its cash session is still open (a fresh snapshot: a
 * close that committed after this sale's context was read is seen here).
 */
async function insertSale(
  tx: Tx,
  actor: Actor,
  w: { sale: SaleRow; lines: SaleView['lines']; tenders: SaleView['tenders']; cashIn: number; prefix: string },
): Promise<string> {
  const s = w.sale
  const prefix = w.prefix
  const lines = w.lines.map(({ adjustments: _a, merchantId: _m, saleId: _s, ...l }) => l)
  const adjustments = w.lines.flatMap((l) => l.adjustments.map((a) => ({ ...a, lineId: l.id })))
  const tenders = w.tenders.map(({ merchantId: _m, saleId: _s, ...t }) => t)
  const event = {
    saleId: s.id,
    storeId: s.storeId,
    registerId: s.registerId,
    businessDate: s.businessDate,
    total: s.total,
    amountDue: s.total + s.roundingAdjustment,
    currency: s.currency,
    offline: s.offline,
  }
  const { rows } = await executeNamed<{ receipt_no: string }>(tx, 'insert_sale', sql`
    with open_session as (
      select 1 from cash_sessions where id = ${s.sessionId} and status = 'open'
    ), seq as (
      insert into receipt_sequences (merchant_id, store_id, register_id, business_date, kind, last_seq)
      select ${s.merchantId}, ${s.storeId}, ${s.registerId}, ${s.businessDate}, 'sale', 1 where exists (select 1 from open_session)
      on conflict (register_id, business_date, kind) do update set last_seq = receipt_sequences.last_seq + 1
      returning last_seq
    ), sale as (
      insert into sales (id, merchant_id, store_id, register_id, session_id, receipt_no, client_receipt_no, business_date, status,
                         currency, tax_inclusive, gross_total, discount_total, tax_total, total, rounding_adjustment,
                         tender_difference, change_given, cashier_id, cashier_type, member_id, customer_name, note, offline,
                         occurred_at, created_at, request_hash, approver_id, points_earned, points_redeemed)
      select ${s.id}, ${s.merchantId}, ${s.storeId}, ${s.registerId}, ${s.sessionId}, ${prefix} || lpad(seq.last_seq::text, greatest(4, length(seq.last_seq::text)), '0'),
             ${s.clientReceiptNo}, ${s.businessDate}, 'completed', ${s.currency}, ${s.taxInclusive}, ${s.grossTotal}, ${s.discountTotal},
             ${s.taxTotal}, ${s.total}, ${s.roundingAdjustment}, ${s.tenderDifference}, ${s.changeGiven}, ${s.cashierId},
             ${s.cashierType}, ${s.memberId}, ${s.customerName}, ${s.note}, ${s.offline}, ${s.occurredAt.toISOString()}::timestamptz,
             ${s.recordedAt.toISOString()}::timestamptz, ${s.requestHash}, ${s.approverId}, ${s.pointsEarned}, ${s.pointsRedeemed}
        from seq
      returning id, receipt_no
    ), line_rows as (
      insert into sale_lines (id, merchant_id, sale_id, line_no, variant_id, product_id, sku, name, category_id, location_id, quantity, unit,
                              unit_price, price_per, list_price, gross, discount_total, net_ex_tax, tax_category_id, tax_rate_bp,
                              tax_amount, total, unit_cost)
      select x.id, ${s.merchantId}, sale.id, x."lineNo", x."variantId", x."productId", x.sku, x.name, x."categoryId", x."locationId",
             x.quantity, x.unit, x."unitPrice", x."pricePer", x."listPrice", x.gross, x."discountTotal", x."netExTax", x."taxCategoryId",
             x."taxRateBp", x."taxAmount", x.total, x."unitCost"
        from sale, jsonb_to_recordset(${JSON.stringify(lines)}::jsonb) as x(id uuid, "lineNo" int, "variantId" uuid, "productId" uuid, sku text,
             name text, "categoryId" uuid, "locationId" uuid, quantity bigint, unit text, "unitPrice" bigint, "pricePer" int, "listPrice" bigint,
             gross bigint, "discountTotal" bigint, "netExTax" bigint, "taxCategoryId" uuid, "taxRateBp" int, "taxAmount" bigint, total bigint,
             "unitCost" bigint)
      returning 1
    ), adjustment_rows as (
      insert into sale_adjustments (id, merchant_id, sale_id, line_id, source, source_id, label, amount)
      select x.id, ${s.merchantId}, sale.id, x."lineId", x.source, x."sourceId", x.label, x.amount
        from sale, jsonb_to_recordset(${JSON.stringify(adjustments)}::jsonb) as x(id uuid, "lineId" uuid, source text, "sourceId" text, label text, amount bigint)
      returning 1
    ), tender_rows as (
      insert into sale_tenders (id, merchant_id, sale_id, kind, amount, received, payment_no, channel_txn_id, reference, account_ref,
                                stored_principal, stored_bonus)
      select x.id, ${s.merchantId}, sale.id, x.kind, x.amount, x.received, x."paymentNo", x."channelTxnId", x.reference, x."accountRef",
             x."storedPrincipal", x."storedBonus"
        from sale, jsonb_to_recordset(${JSON.stringify(tenders)}::jsonb) as x(id uuid, kind text, amount bigint, received bigint,
             "paymentNo" text, "channelTxnId" text, reference jsonb, "accountRef" text, "storedPrincipal" bigint, "storedBonus" bigint)
      returning 1
    ), cash as (
      insert into cash_movements (merchant_id, session_id, kind, amount, sale_id, actor_id, at, business_date)
      select ${s.merchantId}, ${s.sessionId}, 'sale', ${w.cashIn}, sale.id, ${actor.id}, ${s.occurredAt.toISOString()}::timestamptz, ${s.businessDate}::date
        from sale where ${w.cashIn}::bigint <> 0
      returning 1
    ), event as (
      insert into events (merchant_id, type, entity_type, entity_id, data)
      select ${s.merchantId}, 'sale.completed', 'sale', sale.id::text, ${JSON.stringify(event)}::jsonb || jsonb_build_object('receiptNo', sale.receipt_no)
        from sale
      returning 1
    )
    select receipt_no from sale`)
  if (!rows[0]) throw conflict('no_open_session', 'the cash session of this register closed; open a new one')
  return rows[0].receipt_no
}

export async function findSale(tx: Tx, id: string) {
  const [s] = await tx.select({ id: sales.id, merchantId: sales.merchantId, requestHash: sales.requestHash }).from(sales).where(eq(sales.id, id))
  return s
}
