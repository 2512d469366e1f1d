// Two-person approval of resolutions (the merchant's approvals.reconResolutionAbove): what a held resolution carries
// (the figures its requester saw, so that approving it later never resolves an item a re-run has changed since) and
// how much it settles, the value the rule weighs.
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict } from '../../lib/errors.ts'
import { actorCan, grantsOf, type Actor } from '../staff/actor.ts'
import { isUuid } from '../../lib/ids.ts'
import { figuresOf, lineOnly, posOnly, storeForAcceptance, type ItemFigures, type ResolveAction } from './resolve.ts'
import { approvalRequests } from '../staff/schema.ts'
import { reconItems } from './schema.ts'
import { lockConnection } from './lock.ts'

/** A resolution as asked for: the payload of a held 'recon_item.resolve' request. */
export interface ResolveRequest {
  itemId: string
  input: ResolveAction
  /** The figures of the item, and of a hand match's counterpart, when the resolution was asked for. */
  seen: Record<string, ItemFigures>
}

/**
 * A resolution asked for now, with the figures of the items it concerns as they stand (resolveItem compares them with
 * the locked items when it runs, at once or on approval, and refuses to go on, item_changed, should they differ).
 * One resolution of an item waits for approval at a time: someone who may not decide is refused another
 * (resolution_pending). The items' connection is locked first, as a run and resolveItem lock it, so two requests of
 * one item are told apart in turn.
 */
export async function resolveRequest(tx: Tx, actor: Actor, itemId: string, input: ResolveAction): Promise<ResolveRequest> {
  const merchantId = actor.merchantId
  const ids = [itemId, ...(input.action === 'match' ? [input.counterpartId] : [])].filter(isUuid)
  const owned = ids.length === 0 ? [] : await tx.select({ id: reconItems.id, connectionId: reconItems.connectionId }).from(reconItems).where(and(eq(reconItems.merchantId, merchantId), inArray(reconItems.id, ids)))
  for (const connectionId of new Set(owned.map((r) => r.connectionId))) await lockConnection(tx, connectionId)
  // Whoever may decide resolves at once; a waiting request then fails on approval (the item is no longer open).
  const mayDecide = grantsOf(actor).permissions.has('approvals.decide') || Boolean(actorCan(actor, 'approvals.decide').approverId)
  const pending = mayDecide ? new Map<string, string>() : await pendingResolutions(tx, merchantId, ids)
  if (pending.size > 0) {
    const [item, approvalId] = [...pending][0]!
    throw conflict('resolution_pending', 'A resolution of this item awaits a manager’s approval: it is approved or rejected first', { itemId: item, approvalId })
  }
  // The figures as they stand under the lock.
  const rows = owned.length === 0 ? [] : await tx.select().from(reconItems).where(inArray(reconItems.id, owned.map((r) => r.id)))
  // A request that could never be carried out is refused now, not when a manager approves it.
  const item = rows.find((r) => r.id === itemId)
  if (item && input.action === 'accept_channel') await storeForAcceptance(tx, merchantId, item, input)
  return { itemId, input, seen: Object.fromEntries(rows.map((r) => [r.id, figuresOf(r)])) }
}

/** What settling one item puts to rest: a one-sided item's amount, else the absolute difference of its two sides. */
const atStake = (f: ItemFigures) => Math.abs(posOnly(f) ? (f.posAmount ?? 0) : lineOnly(f) ? (f.channelAmount ?? 0) : f.difference)

/**
 * What a resolution settles, in minor units: the most any item it closes puts to rest (a hand match closes both of
 * its items). Expecting an item the next day closes nothing: 0.
 */
export function settledBy(r: ResolveRequest): number {
  if (r.input.action === 'expect_next_day') return 0
  return Math.max(0, ...Object.values(r.seen).map(atStake))
}

/**
 * Item id → the id of a resolution of it awaiting a manager's approval, among `itemIds`: a waiting resolution of the
 * item, or a waiting hand match that would pair it as the counterpart.
 */
export async function pendingResolutions(tx: Tx, merchantId: string, itemIds: string[]): Promise<Map<string, string>> {
  if (itemIds.length === 0) return new Map()
  const ids = sql.param(itemIds)
  const rows = await tx
    .select({ id: approvalRequests.id, itemId: sql<string>`${approvalRequests.payload}->>'itemId'`, counterpartId: sql<string | null>`${approvalRequests.payload}->'input'->>'counterpartId'` })
    .from(approvalRequests)
    .where(
      and(
        eq(approvalRequests.merchantId, merchantId),
        eq(approvalRequests.status, 'pending'),
        eq(approvalRequests.action, 'recon_item.resolve'),
        sql`(${approvalRequests.payload}->>'itemId' = any(${ids}::text[]) or ${approvalRequests.payload}->'input'->>'counterpartId' = any(${ids}::text[]))`,
      ),
    )
  const wanted = new Set(itemIds)
  const out = new Map<string, string>()
  for (const r of rows) for (const id of [r.itemId, r.counterpartId]) if (id && wanted.has(id) && !out.has(id)) out.set(id, r.id)
  return out
}

/** A resolution waiting for a manager's approval, with the item it would resolve. */
export interface WaitingResolution {
  approvalId: string
  requestedAt: Date
  requestedBy: string | null
  action: ResolveAction['action']
  itemId: string
  connectionId: string
  businessDate: string
  outcome: string
  currency: string
  /** What it would settle, in minor units (the value the approval limit weighs). */
  atStake: number
  ref: string | null
}

/**
 * The merchant's resolutions waiting for approval, oldest first (a manager's queue, across days and channels), with
 * the figures their requesters saw.
 */
export async function waitingResolutions(tx: Tx, merchantId: string, limit = 100): Promise<WaitingResolution[]> {
  const requests = await tx
    .select({ id: approvalRequests.id, payload: approvalRequests.payload, requestedBy: approvalRequests.requestedBy, createdAt: approvalRequests.createdAt })
    .from(approvalRequests)
    .where(and(eq(approvalRequests.merchantId, merchantId), eq(approvalRequests.status, 'pending'), eq(approvalRequests.action, 'recon_item.resolve')))
    .orderBy(approvalRequests.createdAt)
    .limit(limit)
  const held = requests.map((r) => ({ ...r, request: r.payload as unknown as ResolveRequest })).filter((r) => isUuid(r.request.itemId))
  if (held.length === 0) return []
  const items = await tx
    .select({ id: reconItems.id, connectionId: reconItems.connectionId, businessDate: reconItems.businessDate, outcome: reconItems.outcome, currency: reconItems.currency, posRef: reconItems.posRef })
    .from(reconItems)
    .where(and(eq(reconItems.merchantId, merchantId), inArray(reconItems.id, held.map((r) => r.request.itemId))))
  const byId = new Map(items.map((i) => [i.id, i]))
  return held.flatMap((r) => {
    const item = byId.get(r.request.itemId)
    if (!item) return []
    return [{
      approvalId: r.id,
      requestedAt: r.createdAt,
      requestedBy: r.requestedBy,
      action: r.request.input.action,
      itemId: item.id,
      connectionId: item.connectionId,
      businessDate: item.businessDate,
      outcome: item.outcome,
      currency: item.currency,
      atStake: settledBy(r.request),
      ref: item.posRef,
    }]
  })
}
