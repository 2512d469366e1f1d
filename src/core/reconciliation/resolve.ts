// A person's word on an exception: pair two one-sided items by hand, accept the channel's or the till's figure, write
// the difference off to an account, expect it the next day, or ignore it with a reason; and reopen. Resolved items
// are manual: re-runs keep them and what they hold. Every action is on the item's history and in the audit log.
// A resolution over the merchant's approval limit is held for a manager first (resolve-approval.ts, staff/approvals.ts).
import { and, desc, eq, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { isUuid, newId } from '../../lib/ids.ts'
import { businessDate, daysBetween } from '../../lib/time.ts'
import { merchants } from '../merchants/schema.ts'
import { getSettings } from '../merchants/settings.ts'
import { stores } from '../stores/schema.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { recordEvent } from '../events/service.ts'
import { lockConnection } from './lock.ts'
import { reconItemEvents, reconItems, settlementAdjustments, settlementLines } from './schema.ts'

export type ReconItem = typeof reconItems.$inferSelect

export const RESOLVE_ACTIONS = ['match', 'accept_channel', 'accept_pos', 'write_off', 'expect_next_day', 'ignore'] as const
export type ResolveActionName = (typeof RESOLVE_ACTIONS)[number]

export type ResolveAction =
  /** Pairs this one-sided item with the counterpart of the other side. */
  | { action: 'match'; counterpartId: string; note?: string }
  /**
   * The channel is right: the difference is booked as a correcting record for the books and announced
   * (settlement.adjusted). An item of no store names the store whose books take it when vouchers are per store.
   */
  | { action: 'accept_channel'; note?: string; storeId?: string }
  /** The till is right: the channel's figure is noted as wrong. */
  | { action: 'accept_pos'; note?: string }
  | { action: 'write_off'; accountCode: string; note?: string }
  /** A one-sided item re-checked by the next run (the money moves across the cut-off). */
  | { action: 'expect_next_day'; note?: string }
  | { action: 'ignore'; reason: string }

const RESOLUTION: Record<Exclude<ResolveActionName, 'expect_next_day'>, string> = {
  match: 'matched_by_hand',
  accept_channel: 'accept_channel',
  accept_pos: 'accept_pos',
  write_off: 'write_off',
  ignore: 'ignored',
}

const snapshot = (i: ReconItem) => ({
  outcome: i.outcome,
  state: i.state,
  manual: i.manual,
  posKind: i.posKind,
  posId: i.posId,
  lineId: i.lineId,
  businessDate: i.businessDate,
  posAmount: i.posAmount,
  channelAmount: i.channelAmount,
  difference: i.difference,
  resolution: i.resolution,
  resolutionNote: i.resolutionNote,
})

type Sides = Pick<ReconItem, 'posId' | 'lineId' | 'outcome' | 'posKind'>
export const posOnly = (i: Sides) => i.posId !== null && i.lineId === null && i.outcome !== 'duplicate'
export const lineOnly = (i: Sides) => i.lineId !== null && (i.posId === null || i.outcome === 'duplicate') && i.posKind !== 'payout'

/** What a person saw of an item when asking for its resolution: its sides, amounts and classification. */
export type ItemFigures = Pick<ReconItem, 'outcome' | 'posKind' | 'posId' | 'lineId' | 'businessDate' | 'currency' | 'posAmount' | 'channelAmount' | 'difference'>
const FIGURES = ['outcome', 'posKind', 'posId', 'lineId', 'businessDate', 'currency', 'posAmount', 'channelAmount', 'difference'] as const satisfies readonly (keyof ItemFigures)[]
export const figuresOf = (i: ItemFigures): ItemFigures => Object.fromEntries(FIGURES.map((k) => [k, i[k]])) as ItemFigures

export interface ResolveOptions {
  /**
   * Item id → the figures the resolution was asked on (a held resolution approved later): an item whose figures
   * differ now (a re-run reclassified it) is not resolved, with conflict item_changed. Carried days do not count.
   */
  seen?: Record<string, ItemFigures>
}

function checkSeen(item: ReconItem, opts: ResolveOptions) {
  if (!opts.seen) return
  const seen = opts.seen[item.id]
  const changed = seen ? FIGURES.filter((k) => seen[k] !== item[k]) : FIGURES
  if (changed.length > 0) {
    throw conflict('item_changed', 'The item changed after the resolution was asked for (a re-run reclassified it); look at it again', { itemId: item.id, changed, now: figuresOf(item) })
  }
}

/** Loads an item of the actor's merchant for a change, after taking its connection's turn (runs wait meanwhile). */
async function lockItem(tx: Tx, merchantId: string, id: string): Promise<ReconItem> {
  if (!isUuid(id)) throw notFound('recon_item', id)
  const [peek] = await tx
    .select({ connectionId: reconItems.connectionId })
    .from(reconItems)
    .where(and(eq(reconItems.id, id), eq(reconItems.merchantId, merchantId)))
  if (!peek) throw notFound('recon_item', id)
  await lockConnection(tx, peek.connectionId)
  const [row] = await tx
    .select()
    .from(reconItems)
    .where(and(eq(reconItems.id, id), eq(reconItems.merchantId, merchantId)))
    .for('update')
  if (!row) throw notFound('recon_item', id)
  return row
}

/** An entry of the item's history; a second person the action rests on (an approving manager) is named with the actor. */
async function history(tx: Tx, actor: Actor, item: ReconItem, action: string, details: Record<string, unknown>) {
  const all = actor.approvedBy ? { ...details, approvedBy: actor.approvedBy } : details
  await tx.insert(reconItemEvents).values({ merchantId: actor.merchantId, itemId: item.id, action, actorId: actor.id, details: all })
}

const trimNote = (s: string | undefined) => {
  const t = s?.trim()
  return t ? t.slice(0, 2000) : null
}

export async function resolveItem(tx: Tx, actor: Actor, itemId: string, input: ResolveAction, now = new Date(), opts: ResolveOptions = {}): Promise<ReconItem> {
  const item = await lockItem(tx, actor.merchantId, itemId)
  if (item.state !== 'open') throw conflict('item_not_open', `The item is ${item.state === 'auto' ? 'matched automatically' : 'already resolved'}; reopen it first`, { state: item.state })
  checkSeen(item, opts)

  if (input.action === 'match') return matchByHand(tx, actor, item, input, now, opts)

  if (input.action === 'expect_next_day') {
    if (!(posOnly(item) || lineOnly(item)) || !['timing', 'missing_in_channel', 'missing_in_pos'].includes(item.outcome)) {
      throw invalid('not_one_sided', 'Only an item missing on one side can be expected the next day')
    }
    const [after] = await tx
      .update(reconItems)
      .set({ resolution: 'expect_next_day', resolutionNote: trimNote(input.note), resolvedBy: actor.id, resolvedAt: now, updatedAt: now })
      .where(eq(reconItems.id, item.id))
      .returning()
    await history(tx, actor, item, 'expect_next_day', { before: snapshot(item), after: snapshot(after!), note: trimNote(input.note) })
    await recordAudit(tx, actor, { action: 'recon_item.expect_next_day', entityType: 'recon_item', entityId: item.id, details: { outcome: item.outcome, note: trimNote(input.note) } })
    return after!
  }

  let note: string | null
  const extra: Record<string, unknown> = {}
  if (input.action === 'ignore') {
    note = trimNote(input.reason)
    if (!note) throw invalid('reason_required', 'Say why the item is ignored')
  } else if (input.action === 'write_off') {
    const account = input.accountCode.trim()
    if (!/^[0-9A-Za-z._-]{1,40}$/.test(account)) throw invalid('invalid_account_code', 'The account code must be 1–40 letters, digits, dots, dashes or underscores')
    extra.accountCode = account
    note = `account ${account}${trimNote(input.note) ? `: ${trimNote(input.note)}` : ''}`
  } else {
    note = trimNote(input.note)
  }
  const resolution = RESOLUTION[input.action]
  const storeId = input.action === 'accept_channel' ? await storeForAcceptance(tx, actor.merchantId, item, input) : null
  const [after] = await tx
    .update(reconItems)
    .set({ state: 'resolved', manual: true, resolution, resolutionNote: note, resolvedBy: actor.id, resolvedAt: now, updatedAt: now, ...(storeId ? { storeId } : {}) })
    .where(eq(reconItems.id, item.id))
    .returning()
  if (storeId) extra.storeId = storeId
  await history(tx, actor, item, 'resolved', { resolution, ...extra, note, before: snapshot(item), after: snapshot(after!) })
  await recordAudit(tx, actor, { action: 'recon_item.resolved', entityType: 'recon_item', entityId: item.id, details: { resolution, ...extra, note, outcome: item.outcome, difference: item.difference } })
  if (input.action === 'accept_channel') await bookAdjustment(tx, actor, after!, false, now)
  return after!
}

/** Where the tender of an item's till side is kept. */
const TENDER_TABLES: Record<string, string> = { sale_tender: 'sale_tenders', refund_tender: 'refund_tenders', topup_tender: 'topup_tenders' }

/**
 * The store whose books take an accepted channel figure of an item that names none (a line only the channel has, of
 * no known store): the one the request names, which must be the merchant's. Vouchers per store need one (422
 * store_required without it); a merchant-wide voucher takes the item as it is. An item of a store keeps it.
 */
export async function storeForAcceptance(tx: Tx, merchantId: string, item: Pick<ReconItem, 'storeId' | 'difference'>, input: { storeId?: string }): Promise<string | null> {
  if (item.storeId !== null || item.difference === 0) return null
  if (input.storeId !== undefined) {
    const [store] = isUuid(input.storeId) ? await tx.select({ id: stores.id }).from(stores).where(and(eq(stores.merchantId, merchantId), eq(stores.id, input.storeId))) : []
    if (!store) throw notFound('store', input.storeId)
    return store.id
  }
  if ((await getSettings(tx, merchantId)).vouchers.grouping === 'store') {
    throw invalid('store_required', 'This line names no store and vouchers are per store: say which store’s books take it (storeId)')
  }
  return null
}

/** Till sides of refunds: their amounts, as the bill's refund lines, are what left the channel's account. */
const REFUND_SIDES = new Set(['refund_tender', 'topup_refund_tender'])

/**
 * Whether an item's money went out of the channel's account (a refund, the till's or one made at the channel):
 * amounts are kept positive either way, so its difference moves the account the other way.
 */
async function paysOut(tx: Tx, item: ReconItem): Promise<boolean> {
  if (item.posKind) return REFUND_SIDES.has(item.posKind)
  if (item.lineId === null) return false
  const [line] = await tx.select({ kind: settlementLines.kind }).from(settlementLines).where(eq(settlementLines.id, item.lineId))
  return line?.kind === 'refund'
}

/**
 * The correcting record of an accepted channel figure, booked on the merchant's business day of `now` for the daily
 * voucher and announced (settlement.adjusted): what the channel's account moves by beyond what the till booked, the
 * difference (the channel's amount less the till's) for money in, the opposite for money out (a refund given back a
 * fen short leaves the account a fen up). A reopen books and announces the reversal. An item without a difference (a
 * status told apart) books nothing.
 */
async function bookAdjustment(tx: Tx, actor: Actor, item: ReconItem, reversal: boolean, now: Date) {
  const effect = (await paysOut(tx, item)) ? -item.difference : item.difference
  const amount = reversal ? -effect : effect
  if (amount !== 0) {
    const [m] = await tx.select({ timeZone: merchants.timeZone }).from(merchants).where(eq(merchants.id, actor.merchantId))
    const tender = TENDER_TABLES[item.posKind ?? '']
    const kind = tender && item.posId ? (await tx.execute<{ kind: string }>(sql`select kind from ${sql.identifier(tender)} where id = ${item.posId}`)).rows[0]?.kind : undefined
    await tx.insert(settlementAdjustments).values({
      id: newId(),
      merchantId: actor.merchantId,
      connectionId: item.connectionId,
      itemId: item.id,
      storeId: item.storeId,
      businessDate: businessDate(now, m!.timeZone),
      currency: item.currency,
      tenderKind: kind ?? null,
      amount,
      reversal,
      createdBy: actor.id,
    })
  }
  await recordEvent(tx, actor.merchantId, {
    type: 'settlement.adjusted',
    entityType: 'recon_item',
    entityId: item.id,
    data: {
      itemId: item.id,
      connectionId: item.connectionId,
      businessDate: item.businessDate,
      outcome: item.outcome,
      posKind: item.posKind,
      posId: item.posId,
      posRef: item.posRef,
      lineId: item.lineId,
      currency: item.currency,
      posAmount: item.posAmount,
      channelAmount: item.channelAmount,
      /** What the channel's account moves by beyond the till's booking (see bookAdjustment). */
      adjustment: amount,
      reversal,
      resolvedBy: actor.id,
    },
  })
}

async function matchByHand(tx: Tx, actor: Actor, item: ReconItem, input: { counterpartId: string; note?: string }, now: Date, opts: ResolveOptions): Promise<ReconItem> {
  if (input.counterpartId === item.id) throw invalid('invalid_counterpart', 'An item cannot be matched with itself')
  const other = await lockItem(tx, actor.merchantId, input.counterpartId)
  if (other.state !== 'open') throw conflict('item_not_open', 'The counterpart is not open', { counterpartId: other.id, state: other.state })
  checkSeen(other, opts)
  if (other.connectionId !== item.connectionId) throw invalid('invalid_counterpart', 'The two items belong to different connections')
  const pos = posOnly(item) ? item : posOnly(other) ? other : undefined
  const chan = lineOnly(item) ? item : lineOnly(other) ? other : undefined
  if (!pos || !chan || pos === chan) throw invalid('invalid_counterpart', 'Match pairs an item with only a till side and an item with only a channel side')

  const channelAmount = chan.channelAmount ?? 0
  const posAmount = pos.posAmount ?? 0
  const note = trimNote(input.note)
  const businessDate = pos.businessDate > chan.businessDate ? pos.businessDate : chan.businessDate
  // As a run pairs them: dated the later side's day, carried the days from the till's to it (the till's side counts
  // on business_date − carried_days in the summaries and the voucher).
  const carriedDays = Math.max(0, daysBetween(pos.businessDate, chan.businessDate))
  await tx.update(reconItems).set({ lineId: null, updatedAt: now }).where(eq(reconItems.id, chan.id))
  const [paired] = await tx
    .update(reconItems)
    .set({
      lineId: chan.lineId,
      channelAmount,
      channelFeeMilli: chan.channelFeeMilli,
      difference: channelAmount - posAmount,
      outcome: channelAmount === posAmount && chan.currency === pos.currency ? 'matched' : 'amount_diff',
      businessDate,
      carriedDays,
      state: 'resolved',
      manual: true,
      resolution: RESOLUTION.match,
      resolutionNote: note,
      resolvedBy: actor.id,
      resolvedAt: now,
      updatedAt: now,
    })
    .where(eq(reconItems.id, pos.id))
    .returning()
  const [merged] = await tx
    .update(reconItems)
    .set({ state: 'resolved', manual: true, resolution: 'merged', resolutionNote: `matched by hand into item ${pos.id}`, resolvedBy: actor.id, resolvedAt: now, updatedAt: now })
    .where(eq(reconItems.id, chan.id))
    .returning()
  await history(tx, actor, pos, 'resolved', { resolution: RESOLUTION.match, counterpartItemId: chan.id, lineId: chan.lineId, note, before: snapshot(pos), after: snapshot(paired!) })
  await history(tx, actor, chan, 'resolved', { resolution: 'merged', counterpartItemId: pos.id, lineId: chan.lineId, note, before: snapshot(chan), after: snapshot(merged!) })
  await recordAudit(tx, actor, {
    action: 'recon_item.resolved',
    entityType: 'recon_item',
    entityId: pos.id,
    details: { resolution: RESOLUTION.match, counterpartItemId: chan.id, lineId: chan.lineId, difference: paired!.difference, note },
  })
  return item.id === pos.id ? paired! : merged!
}

/** Undoes a resolution: the item is open and automatic again (the next run may decide it); a hand match is split. */
export async function reopenItem(tx: Tx, actor: Actor, itemId: string, input: { note?: string } = {}, now = new Date()): Promise<ReconItem> {
  const item = await lockItem(tx, actor.merchantId, itemId)
  if (item.state !== 'resolved') throw conflict('item_not_resolved', 'Only a resolved item can be reopened', { state: item.state })
  const note = trimNote(input.note)

  if (item.resolution === 'merged' || item.resolution === RESOLUTION.match) {
    // Find the pair from the hand match recorded on this item's history.
    const ev = await lastResolution(tx, item.id)
    const counterpartId = ev?.details.counterpartItemId as string | undefined
    if (!counterpartId) throw conflict('history_missing', 'The hand match of this item is not on its history')
    const other = await lockItem(tx, actor.merchantId, counterpartId)
    const pos = item.resolution === 'merged' ? other : item
    const chan = item.resolution === 'merged' ? item : other
    const posBefore = await lastBefore(tx, pos.id)
    const chanBefore = await lastBefore(tx, chan.id)
    const lineId = pos.lineId
    const [p] = await tx
      .update(reconItems)
      .set({
        lineId: null,
        channelAmount: null,
        channelFeeMilli: null,
        difference: -(pos.posAmount ?? 0),
        outcome: posBefore?.outcome ?? 'missing_in_channel',
        businessDate: posBefore?.businessDate ?? pos.businessDate,
        state: 'open',
        manual: false,
        resolution: null,
        resolutionNote: null,
        resolvedBy: null,
        resolvedAt: null,
        updatedAt: now,
      })
      .where(eq(reconItems.id, pos.id))
      .returning()
    const [c] = await tx
      .update(reconItems)
      .set({ lineId, outcome: chanBefore?.outcome ?? 'missing_in_pos', state: 'open', manual: false, resolution: null, resolutionNote: null, resolvedBy: null, resolvedAt: null, updatedAt: now })
      .where(eq(reconItems.id, chan.id))
      .returning()
    await history(tx, actor, pos, 'reopened', { note, before: snapshot(pos), after: snapshot(p!) })
    await history(tx, actor, chan, 'reopened', { note, before: snapshot(chan), after: snapshot(c!) })
    await recordAudit(tx, actor, { action: 'recon_item.reopened', entityType: 'recon_item', entityId: item.id, details: { resolution: item.resolution, counterpartItemId: other.id, note } })
    return item.id === pos.id ? p! : c!
  }

  const was = item.resolution
  // A store the acceptance gave an item of none goes with it (its reversal is booked there, from `item`).
  const assigned = was === 'accept_channel' && typeof (await lastResolution(tx, item.id))?.details.storeId === 'string'
  const [after] = await tx
    .update(reconItems)
    .set({ state: 'open', manual: false, resolution: null, resolutionNote: null, resolvedBy: null, resolvedAt: null, updatedAt: now, ...(assigned ? { storeId: null } : {}) })
    .where(eq(reconItems.id, item.id))
    .returning()
  await history(tx, actor, item, 'reopened', { note, before: snapshot(item), after: snapshot(after!) })
  await recordAudit(tx, actor, { action: 'recon_item.reopened', entityType: 'recon_item', entityId: item.id, details: { resolution: was, note } })
  if (was === 'accept_channel') await bookAdjustment(tx, actor, item, true, now)
  return after!
}

/** The item's last resolution on its history (its details: what it was before, a hand match's counterpart, a store given). */
async function lastResolution(tx: Tx, itemId: string) {
  const [ev] = await tx.select().from(reconItemEvents).where(and(eq(reconItemEvents.itemId, itemId), eq(reconItemEvents.action, 'resolved'))).orderBy(desc(reconItemEvents.id)).limit(1)
  return ev
}

/** The item as it was before its last resolution (from its history). */
async function lastBefore(tx: Tx, itemId: string): Promise<{ outcome: string; businessDate: string } | undefined> {
  const before = (await lastResolution(tx, itemId))?.details.before as { outcome?: string; businessDate?: string } | undefined
  return before?.outcome && before.businessDate ? { outcome: before.outcome, businessDate: before.businessDate } : undefined
}
