// Approvals: actions a merchant's rules (settings.approvals) hold until a manager approves them.
//
// Words: a *request* is an action held as a row of approval_requests (its name and validated payload). The
// *requester* asked for it; the *decider* approves or rejects it. Approving runs the action's executor as the
// requester, with the decider as approver, inside the decider's transaction and a savepoint: either the action
// and the approval commit together, or (the action failing) nothing of the action is written and the request is
// marked failed with the error. Every audit entry the action writes names both people.
//
// Rules come in two kinds. Boolean rules (price change, product deletion) are decided from the payload before
// acting. Value rules (stock adjustment value, refund total, what a reconciliation resolution settles) need what the
// action would do: the action runs in a savepoint and the value of its result decides; over the limit, the savepoint
// is rolled back and the request held. The value is thus computed by the action's own code, the one place its rule
// lives.
//
// A caller who may decide approvals themselves (or whose request carries a manager override that may) is never
// held: their action runs at once.
import { and, desc, eq, inArray, lt, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, forbidden, isDomainError, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { taxCategories } from '../catalog/schema.ts'
import { getTaxCategory, updateTaxCategory, type TaxCategory } from '../catalog/tax-categories.ts'
import { archiveProduct, editProduct, getProduct, getVariant, updateVariant, type ProductChanges, type Variant, type VariantChanges } from '../catalog/products.ts'
import { recordEvent } from '../events/service.ts'
import { getSettings, type ApprovalRules } from '../merchants/settings.ts'
import { resolveItem, type ReconItem, type ResolveActionName } from '../reconciliation/resolve.ts'
import { settledBy, type ResolveRequest } from '../reconciliation/resolve-approval.ts'
import { refundSale, type RefundInput } from '../sales/refunds.ts'
import { adjustStock, type AdjustmentInput } from '../stock/operations.ts'
import { actorCan, grantsOf, type Actor, type Approver } from './actor.ts'
import { recordAudit } from './audit.ts'
import { loadGrants } from './matrix.ts'
import { isRole, type Permission, type Role } from './permissions.ts'
import { apiKeys, approvalRequests, users } from './schema.ts'
import { keysetPage } from '../../db/page.ts'

export type ApprovalRequest = typeof approvalRequests.$inferSelect
export type ApprovalStatus = ApprovalRequest['status']

interface ActionDef<P, R> {
  /** What the requester's route needs: checked again when the request is approved (their role may have lost it). */
  permission: Permission
  /** What the request's summary was read from, kept with a held request (as `seen`) for its run to check. */
  snapshot?(tx: Tx, merchantId: string, payload: P): Promise<Record<string, unknown>>
  /** Boolean rules: a summary when the rules hold this request as it stands, null when they let it through. */
  holds?(tx: Tx, merchantId: string, rules: ApprovalRules, payload: P): Promise<string | null>
  /** Value rules: the limit in force (null: none), and the value and summary of what a run did. */
  limit?(rules: ApprovalRules): number | null
  measure?(result: R): { value: number; summary: string }
  /**
   * Value rules: the payload kept when the run is held, its references as the run resolved them (an item named by a
   * SKU or barcode becomes the item's id: approved later, it runs on the item the requester meant, though the SKU
   * has passed to another since).
   */
  pin?(payload: P, result: R): P
  execute(tx: Tx, actor: Actor, payload: P, at: Date): Promise<R>
  /** What is kept of the result on the request. */
  record(result: R): Record<string, unknown>
}

const define = <P, R>(def: ActionDef<P, R>) => def

/** What the requester saw of the fields a change touches, kept when it is held: approved later, it runs only if they
 * are still so (an approver agreed to "1000 → 1200", not to overwriting a newer 1500). */
interface Seen {
  seen?: Record<string, unknown>
}

/**
 * The `snapshot` of a held change of a record (the fields it touches, as they are) and the check its run makes: it
 * refuses to run when one of them moved since the request.
 */
function watching<P extends Seen & { changes: object }, T extends object>(fields: readonly (keyof T & string)[], load: (tx: Tx, merchantId: string, p: P) => Promise<T>, name: (t: T) => string) {
  return {
    async snapshot(tx: Tx, merchantId: string, p: P): Promise<Record<string, unknown>> {
      const t = await load(tx, merchantId, p)
      return Object.fromEntries(fields.filter((k) => (p.changes as Record<string, unknown>)[k] !== undefined).map((k) => [k, t[k]]))
    },
    async unchanged(tx: Tx, merchantId: string, p: P): Promise<void> {
      if (!p.seen) return
      const now = (await load(tx, merchantId, p)) as Record<string, unknown>
      const moved = Object.keys(p.seen).filter((k) => now[k] !== p.seen![k])
      if (moved.length) throw conflict('changed_since_request', `${name(now as T)} changed since the request (${moved.map((k) => `${k} now ${String(now[k])}`).join(', ')}): ask again`, { fields: moved })
    },
  }
}


export interface VariantUpdatePayload extends Seen {
  variantId: string
  changes: VariantChanges
}
export interface ProductPayload {
  productId: string
}
export interface ProductEditPayload extends Seen {
  productId: string
  changes: ProductChanges
}
export interface TaxCategoryUpdatePayload extends Seen {
  taxCategoryId: string
  changes: { name?: string; rateBp?: number }
}
export type StockAdjustmentPayload = Omit<AdjustmentInput, 'at'>
export interface RefundPayload {
  saleId: string
  input: Omit<RefundInput, 'approverId'>
}

const PRICE_FIELDS = ['price', 'cost', 'pricePer'] as const

/** The codes of tax categories by id, to name them in a request's summary. */
async function taxCodes(tx: Tx, merchantId: string, ids: string[]): Promise<Map<string, string>> {
  const rows = await tx.select({ id: taxCategories.id, code: taxCategories.code }).from(taxCategories).where(and(eq(taxCategories.merchantId, merchantId), inArray(taxCategories.id, ids)))
  return new Map(rows.map((r) => [r.id, r.code]))
}

/**
 * A change of tax category is a price change under the rule: with tax-exclusive prices the customer pays the new rate
 * on top, and with tax-inclusive prices the same price carries different tax. Compared as the category in force, so a
 * variant given its product's category explicitly changes nothing.
 */
async function taxChange(tx: Tx, merchantId: string, from: string, to: string): Promise<string | null> {
  if (from === to) return null
  const codes = await taxCodes(tx, merchantId, [from, to])
  return `taxCategory ${codes.get(from) ?? from} → ${codes.get(to) ?? to}`
}

async function archiveHold(tx: Tx, merchantId: string, rules: ApprovalRules, productId: string, extra = '') {
  if (!rules.productDelete) return null
  const p = await getProduct(tx, merchantId, productId)
  return p.status === 'archived' ? null : `Archive product ${p.name}${extra}`
}

type RefundResult = Awaited<ReturnType<typeof refundSale>>
interface ReconResolveResult {
  item: ReconItem
  action: ResolveActionName
  /** The item's outcome when the resolution was asked for (a hand match changes it). */
  outcome: string
  settled: number
}

const variantWatch = watching<VariantUpdatePayload, Variant>([...PRICE_FIELDS, 'taxCategoryId'], (tx, m, p) => getVariant(tx, m, p.variantId), (v) => v.sku)
const productWatch = watching<ProductEditPayload, Awaited<ReturnType<typeof getProduct>>>(['taxCategoryId'], (tx, m, p) => getProduct(tx, m, p.productId), (x) => `product ${x.name}`)
const taxWatch = watching<TaxCategoryUpdatePayload, TaxCategory>(['rateBp'], (tx, m, p) => getTaxCategory(tx, m, p.taxCategoryId), (t) => `tax category ${t.code}`)

/** The registry of actions that can be held: action name → how its rule applies and how it runs. */
export const APPROVAL_ACTIONS = {
  'variant.update': define<VariantUpdatePayload, Variant>({
    permission: 'catalog.manage',
    async holds(tx, merchantId, rules, p) {
      if (!rules.priceChange) return null
      const v = await getVariant(tx, merchantId, p.variantId)
      const changed = PRICE_FIELDS.filter((k) => p.changes[k] !== undefined && p.changes[k] !== v[k]).map((k) => `${k} ${v[k]} → ${p.changes[k]}`)
      if (p.changes.taxCategoryId !== undefined) {
        const { taxCategoryId: inherited } = await getProduct(tx, merchantId, v.productId)
        const tax = await taxChange(tx, merchantId, v.taxCategoryId ?? inherited, p.changes.taxCategoryId ?? inherited)
        if (tax) changed.push(tax)
      }
      if (changed.length === 0) return null
      return `Change ${v.sku}: ${changed.join(', ')}`
    },
    snapshot: variantWatch.snapshot,
    async execute(tx, actor, p) {
      await variantWatch.unchanged(tx, actor.merchantId, p)
      return updateVariant(tx, actor, p.variantId, p.changes)
    },
    record: (v) => ({ variantId: v.id, sku: v.sku, price: v.price, cost: v.cost, pricePer: v.pricePer }),
  }),
  'product.archive': define<ProductPayload, Awaited<ReturnType<typeof archiveProduct>>>({
    permission: 'catalog.manage',
    holds: (tx, merchantId, rules, p) => archiveHold(tx, merchantId, rules, p.productId),
    execute: (tx, actor, p) => archiveProduct(tx, actor, p.productId),
    record: (p) => ({ productId: p.id, status: p.status }),
  }),
  'product.edit': define<ProductEditPayload, Awaited<ReturnType<typeof editProduct>>>({
    permission: 'catalog.manage',
    async holds(tx, merchantId, rules, p) {
      if (p.changes.status === 'archived') {
        const archive = await archiveHold(tx, merchantId, rules, p.productId, ' (with the other changes of the request)')
        if (archive) return archive
      }
      if (!rules.priceChange || p.changes.taxCategoryId === undefined) return null
      const product = await getProduct(tx, merchantId, p.productId)
      // Only variants without a tax category of their own take the product's.
      if (!product.variants.some((v) => v.taxCategoryId === null)) return null
      const tax = await taxChange(tx, merchantId, product.taxCategoryId, p.changes.taxCategoryId)
      return tax && `Change product ${product.name}: ${tax} (its variants without their own tax category)`
    },
    snapshot: productWatch.snapshot,
    async execute(tx, actor, p) {
      await productWatch.unchanged(tx, actor.merchantId, p)
      return editProduct(tx, actor, p.productId, p.changes)
    },
    record: (p) => ({ productId: p.id, status: p.status }),
  }),
  // A rate is the price of everything taxed under it: with tax-exclusive prices the customer pays it on top, with
  // tax-inclusive prices the same price carries different tax.
  'tax_category.update': define<TaxCategoryUpdatePayload, TaxCategory>({
    permission: 'catalog.manage',
    async holds(tx, merchantId, rules, p) {
      if (!rules.priceChange || p.changes.rateBp === undefined) return null
      const before = await getTaxCategory(tx, merchantId, p.taxCategoryId)
      if (before.rateBp === p.changes.rateBp) return null
      return `Change tax category ${before.code}: rate ${before.rateBp / 100}% → ${p.changes.rateBp / 100}% (every item taxed under it)`
    },
    snapshot: taxWatch.snapshot,
    async execute(tx, actor, p) {
      await taxWatch.unchanged(tx, actor.merchantId, p)
      return updateTaxCategory(tx, actor, p.taxCategoryId, p.changes)
    },
    record: (t) => ({ taxCategoryId: t.id, code: t.code, rateBp: t.rateBp }),
  }),
  'stock.adjust': define<StockAdjustmentPayload, Awaited<ReturnType<typeof adjustStock>>>({
    permission: 'stock.adjust',
    limit: (rules) => rules.stockAdjustmentOverValue,
    measure: (r) => ({
      value: r.gainValue - r.lossValue,
      summary: `Adjust stock: ${r.lines.length} line(s), +${r.gainValue} / ${r.lossValue} at cost: ${namedLines(r.lines)}`,
    }),
    pin: (p, r) => ({ ...p, lines: p.lines.map(({ sku: _s, barcode: _b, ...l }, i) => ({ ...l, variantId: r.lines[i]!.variantId })) }),
    execute: (tx, actor, p, at) => adjustStock(tx, actor, { ...p, at }),
    record: (r) => ({ adjustmentId: r.adjustmentId, gainValue: r.gainValue, lossValue: r.lossValue, netValue: r.netValue }),
  }),
  'sale.refund': define<RefundPayload, RefundResult>({
    permission: 'sales.refund',
    limit: (rules) => rules.refundOverAmount,
    measure: (r) => {
      const refund = r.sale.refunds.find((x) => x.id === r.refundId)!
      return { value: refund.total, summary: `Refund ${refund.total} of sale ${r.sale.receiptNo}` }
    },
    // The refund row names the manager who approved it.
    execute: (tx, actor, p, at) => refundSale(tx, actor, p.saleId, { ...p.input, approverId: actor.approvedBy ?? null }, at),
    record: (r) => {
      const refund = r.sale.refunds.find((x) => x.id === r.refundId)!
      return { refundId: r.refundId, refundNo: refund.refundNo, total: refund.total }
    },
  }),
  // A value rule, though the value could be read off the item beforehand: as with a refund, the resolution runs first
  // (in a savepoint), so one that cannot be made at all (the item not open, a wrong counterpart, a bad account code) is
  // refused at once instead of being held only to fail at approval. What it settles is reckoned on the figures the
  // request carries, which resolveItem has checked against the locked items; run later on approval, the same check
  // fails the request (item_changed, item_not_open) rather than resolve an item a re-run or a person has changed.
  'recon_item.resolve': define<ResolveRequest, ReconResolveResult>({
    permission: 'finance.export',
    limit: (rules) => rules.reconResolutionAbove,
    measure: (r) => ({
      value: r.settled,
      summary: `Resolve reconciliation item ${r.item.posRef ?? r.item.id} (${r.outcome}, ${r.item.businessDate}) by ${r.action}, settling ${r.settled}`,
    }),
    execute: async (tx, actor, p, at) => {
      const item = await resolveItem(tx, actor, p.itemId, p.input, at, { seen: p.seen })
      return { item, action: p.input.action, outcome: p.seen[p.itemId]?.outcome ?? item.outcome, settled: settledBy(p) }
    },
    record: (r) => ({ itemId: r.item.id, resolution: r.item.resolution, settled: r.settled }),
  }),
}

export type ApprovalAction = keyof typeof APPROVAL_ACTIONS
type Def<N extends ApprovalAction> = (typeof APPROVAL_ACTIONS)[N]
export type PayloadOf<N extends ApprovalAction> = Def<N> extends ActionDef<infer P, any> ? P : never
export type ResultOf<N extends ApprovalAction> = Def<N> extends ActionDef<any, infer R> ? R : never

export type Outcome<R> = { held: ApprovalRequest; result?: undefined } | { held?: undefined; result: R }

class OverLimit extends Error {
  readonly value: number
  readonly summary: string
  readonly payload: unknown
  constructor(value: number, summary: string, payload: unknown) {
    super('held for approval')
    this.value = value
    this.summary = summary
    this.payload = payload
  }
}

/** The lines of a stock change for a summary: SKU and signed quantity, the first few. */
function namedLines(lines: { sku: string; quantity: number }[]): string {
  const shown = lines.slice(0, 5).map((l) => `${l.sku} ${l.quantity > 0 ? '+' : ''}${l.quantity}`)
  return lines.length > 5 ? `${shown.join(', ')}, …` : shown.join(', ')
}

/**
 * Whether a change of prices this caller makes in bulk (a catalog import) needs a manager under the merchant's
 * price-change rule, and the manager whose override on the request gives it. A file is not held as a request: it is
 * applied by someone who may, or with an override.
 */
export async function priceChangeApproval(tx: Tx, actor: Actor): Promise<{ needed: boolean; approverId: string | null }> {
  if (grantsOf(actor).permissions.has('approvals.decide')) return { needed: false, approverId: null }
  const { approvals: rules } = await getSettings(tx, actor.merchantId)
  if (!rules.priceChange) return { needed: false, approverId: null }
  const decide = actorCan(actor, 'approvals.decide')
  return { needed: !decide.ok, approverId: decide.approverId }
}

/**
 * Runs an action now, or holds it for approval when the merchant's rules say so and the caller may not decide
 * approvals. A manager override on the request that may decide lets it through, with the manager on record.
 */
export async function actOrHold<N extends ApprovalAction>(tx: Tx, actor: Actor, name: N, payload: PayloadOf<N>, at: Date): Promise<Outcome<ResultOf<N>>> {
  const def = APPROVAL_ACTIONS[name] as unknown as ActionDef<PayloadOf<N>, ResultOf<N>>
  const run = (a: Actor) => def.execute(tx, a, payload, at)
  if (grantsOf(actor).permissions.has('approvals.decide')) return { result: await run(actor) }
  const decide = actorCan(actor, 'approvals.decide')
  const overridden = decide.approverId ? { ...actor, approvedBy: decide.approverId } : undefined
  const { approvals: rules } = await getSettings(tx, actor.merchantId)

  if (def.holds) {
    const summary = await def.holds(tx, actor.merchantId, rules, payload)
    if (summary === null) return { result: await run(actor) }
    if (overridden) return { result: await run(overridden) }
    const seen = def.snapshot ? { seen: await def.snapshot(tx, actor.merchantId, payload) } : {}
    return { held: await hold(tx, actor, name, { ...(payload as Record<string, unknown>), ...seen }, summary, {}) }
  }
  const limit = def.limit!(rules)
  if (limit === null) return { result: await run(actor) }
  try {
    return {
      result: await tx.transaction(async (sp) => {
        const r = await def.execute(sp, actor, payload, at)
        const m = def.measure!(r)
        if (m.value > limit) throw new OverLimit(m.value, m.summary, def.pin ? def.pin(payload, r) : payload)
        return r
      }),
    }
  } catch (e) {
    if (!(e instanceof OverLimit)) throw e
    if (overridden) return { result: await run(overridden) }
    return { held: await hold(tx, actor, name, e.payload as Record<string, unknown>, e.summary, { value: e.value, limit }) }
  }
}

async function hold(tx: Tx, actor: Actor, action: ApprovalAction, payload: Record<string, unknown>, summary: string, extra: Record<string, unknown>): Promise<ApprovalRequest> {
  const [row] = await tx
    .insert(approvalRequests)
    .values({ id: newId(), merchantId: actor.merchantId, action, payload, summary, requestedBy: actor.id, requestedByType: actor.type })
    .returning()
  await recordAudit(tx, actor, { action: 'approval.requested', entityType: 'approval_request', entityId: row!.id, details: { action, summary, ...extra } })
  await recordEvent(tx, actor.merchantId, { type: 'approval.requested', entityType: 'approval_request', entityId: row!.id, data: { action, summary, requestedBy: actor.id } })
  return row!
}

/**
 * The requester as an actor again, as they are today: a person still active, with today's grants for their role,
 * which must still hold the permission the request needs, and the decider as their approver. A request whose
 * requester can no longer make it fails rather than runs.
 */
async function requesterActor(tx: Tx, row: ApprovalRequest, approver: Approver, requestId: string | undefined, permission: Permission): Promise<Actor> {
  let who: { id: string | null; name: string; role: Role } = { id: null, name: 'system', role: 'admin' }
  if (row.requestedBy && row.requestedByType === 'user') {
    const [u] = await tx.select({ email: users.email, role: users.role, status: users.status }).from(users).where(eq(users.id, row.requestedBy))
    if (!u || u.status !== 'active') throw conflict('requester_inactive', 'the person who asked is no longer active: the request cannot run in their name')
    if (isRole(u.role)) who = { id: row.requestedBy, name: u.email, role: u.role }
  } else if (row.requestedBy && row.requestedByType === 'api_key') {
    // A key's role still decides; a revoked key is not a person who left (a merchant copied to another hub keeps its
    // keys revoked there, with its waiting requests).
    const [k] = await tx.select({ name: apiKeys.name, role: apiKeys.role }).from(apiKeys).where(eq(apiKeys.id, row.requestedBy))
    if (k && isRole(k.role)) who = { id: row.requestedBy, name: k.name, role: k.role }
  }
  const grants = await loadGrants(tx, row.merchantId, who.role)
  if (!grants.permissions.has(permission)) throw forbidden('permission_denied', `role ${who.role} may no longer ${permission}: the request cannot run`, { permission })
  return {
    type: row.requestedByType,
    ...who,
    merchantId: row.merchantId,
    grants,
    approver,
    approvedBy: approver.id,
    requestId,
  }
}

async function lockPending(tx: Tx, merchantId: string, id: string): Promise<ApprovalRequest> {
  const [row] = await tx.select().from(approvalRequests).where(and(eq(approvalRequests.merchantId, merchantId), eq(approvalRequests.id, id))).for('update')
  if (!row) throw notFound('approval_request', id)
  if (row.status !== 'pending') throw conflict('approval_decided', `this request is already ${row.status}`, { status: row.status })
  return row
}

/** Who decides: the caller, or the manager whose override lets the caller decide. */
function deciderOf(actor: Actor): Approver {
  const can = actorCan(actor, 'approvals.decide')
  if (!can.ok) throw forbidden('permission_denied', `role ${actor.role} may not decide approvals`, { permission: 'approvals.decide' })
  if (can.approverId) return actor.approver!
  return { id: actor.id!, name: actor.name, role: actor.role, grants: grantsOf(actor) }
}

/**
 * Approves a pending request: runs its action now, as the requester with the decider as approver, atomically.
 * If the action fails with an expected error, nothing of it is written and the request is marked failed.
 */
export async function approveRequest(tx: Tx, actor: Actor, id: string, input: { note?: string }, at = new Date()): Promise<ApprovalRequest> {
  const decider = deciderOf(actor)
  const row = await lockPending(tx, actor.merchantId, id)
  // Not by its requester, on their own or with a manager's PIN typed at their till: the request is someone else's to decide.
  if (row.requestedBy !== null && (row.requestedBy === decider.id || row.requestedBy === actor.id)) throw forbidden('own_request', 'a request needs someone other than its requester to approve it')
  const def = APPROVAL_ACTIONS[row.action as ApprovalAction] as unknown as ActionDef<unknown, unknown> | undefined
  if (!def) throw conflict('unknown_action', `the hub no longer knows how to run ${row.action}`)
  const decided = { decidedBy: decider.id, decidedAt: at, decisionNote: input.note ?? null }
  let after: ApprovalRequest
  try {
    const requester = await requesterActor(tx, row, decider, actor.requestId, def.permission)
    const result = await tx.transaction((sp) => def.execute(sp, requester, row.payload, at))
    ;[after] = (await tx.update(approvalRequests).set({ ...decided, status: 'approved', result: def.record(result) }).where(eq(approvalRequests.id, id)).returning()) as [ApprovalRequest]
  } catch (e) {
    if (!isDomainError(e)) throw e
    const error = { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) }
    ;[after] = (await tx.update(approvalRequests).set({ ...decided, status: 'failed', error }).where(eq(approvalRequests.id, id)).returning()) as [ApprovalRequest]
  }
  await recordAudit(tx, actor, {
    action: after.status === 'approved' ? 'approval.approved' : 'approval.failed',
    entityType: 'approval_request',
    entityId: id,
    approverId: decider.id === actor.id ? null : decider.id,
    details: { action: row.action, summary: row.summary, requestedBy: row.requestedBy, ...(after.result ? { result: after.result } : {}), ...(after.error ? { error: after.error } : {}) },
  })
  await recordEvent(tx, actor.merchantId, { type: 'approval.decided', entityType: 'approval_request', entityId: id, data: { action: row.action, status: after.status, decidedBy: decider.id } })
  return after
}

export async function rejectRequest(tx: Tx, actor: Actor, id: string, input: { note?: string }, at = new Date()): Promise<ApprovalRequest> {
  const decider = deciderOf(actor)
  const row = await lockPending(tx, actor.merchantId, id)
  // Its requester withdraws it (cancel); a rejection is someone else's decision.
  if (row.requestedBy !== null && (row.requestedBy === decider.id || row.requestedBy === actor.id)) throw forbidden('own_request', 'a request is rejected by someone other than its requester; withdraw your own with cancel')
  const [after] = await tx
    .update(approvalRequests)
    .set({ status: 'rejected', decidedBy: decider.id, decidedAt: at, decisionNote: input.note ?? null })
    .where(eq(approvalRequests.id, id))
    .returning()
  await recordAudit(tx, actor, {
    action: 'approval.rejected',
    entityType: 'approval_request',
    entityId: id,
    approverId: decider.id === actor.id ? null : decider.id,
    details: { action: row.action, summary: row.summary, requestedBy: row.requestedBy, note: input.note ?? null },
  })
  await recordEvent(tx, actor.merchantId, { type: 'approval.decided', entityType: 'approval_request', entityId: id, data: { action: row.action, status: 'rejected', decidedBy: decider.id } })
  return after!
}

/** The requester withdraws a request that is still pending. */
export async function cancelRequest(tx: Tx, actor: Actor, id: string, at = new Date()): Promise<ApprovalRequest> {
  const row = await lockPending(tx, actor.merchantId, id)
  if (row.requestedBy !== actor.id) throw forbidden('not_requester', 'only the requester can withdraw a request')
  const [after] = await tx.update(approvalRequests).set({ status: 'cancelled', decidedAt: at }).where(eq(approvalRequests.id, id)).returning()
  await recordAudit(tx, actor, { action: 'approval.cancelled', entityType: 'approval_request', entityId: id, details: { action: row.action, summary: row.summary } })
  return after!
}

export async function getRequest(tx: Tx, merchantId: string, id: string): Promise<ApprovalRequest> {
  const [row] = await tx.select().from(approvalRequests).where(and(eq(approvalRequests.merchantId, merchantId), eq(approvalRequests.id, id)))
  if (!row) throw notFound('approval_request', id)
  return row
}

/** Requests newest first (ids are time-ordered UUIDv7); `before` is the last id of the previous page. */
export async function listRequests(tx: Tx, f: { merchantId: string; status?: ApprovalStatus; requestedBy?: string; before?: string; limit: number }) {
  const where: (SQL | undefined)[] = [
    eq(approvalRequests.merchantId, f.merchantId),
    f.status ? eq(approvalRequests.status, f.status) : undefined,
    f.requestedBy ? eq(approvalRequests.requestedBy, f.requestedBy) : undefined,
    f.before ? lt(approvalRequests.id, f.before) : undefined,
  ]
  const rows = await tx.select().from(approvalRequests).where(and(...where)).orderBy(desc(approvalRequests.id)).limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
