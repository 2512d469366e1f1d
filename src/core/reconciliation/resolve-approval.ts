// Two-person approval of resolutions (the merchant's approvals.reconResolutionAbove): what a held resolution carries
// (the figures its requester saw, so that approving it later never resolves an item a re-run has changed since) and
// how much it settles, the value the rule weighs.
import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict } from '../../lib/errors.ts'
import { actorCan, grantsOf, type Actor } from '../staff/actor.ts'
import { isUuid } from '../../lib/ids.ts'
import { figuresOf, lineOnly, posOnly, type ItemFigures, type ResolveAction } from './resolve.ts'
import { approvalRequests } from '../staff/schema.ts'
import { reconItems } from './schema.ts'

/** A resolution as asked for: the payload of a held 'recon_item.resolve' request. */
export interface ResolveRequest {
  itemId: string
  input: ResolveAction
  /** The figures of the item, and of a hand match's counterpart, when the resolution was asked for. */
  seen: Record<string, ItemFigures>
}

/**
 * A resolution asked for now, with the figures of the items it concerns as they stand. They are read without a lock:
 * resolveItem locks the items and refuses to go on (item_changed) should they differ by then.
 */
export async function resolveRequest(tx: Tx, actor: Actor, itemId: string, input: ResolveAction): Promise<ResolveRequest> {
  const merchantId = actor.merchantId
  const ids = [itemId, ...(input.action === 'match' ? [input.counterpartId] : [])].filter(isUuid)
  // One resolution waits at a time: a second one asked by someone who may not decide would wait beside it. Whoever
  // may decide resolves at once, and the waiting one then fails on approval (the item is no longer open).
  const mayDecide = grantsOf(actor).permissions.has('approvals.decide') || Boolean(actorCan(actor, 'approvals.decide').approverId)
  const pending = mayDecide ? new Map<string, string>() : await pendingResolutions(tx, merchantId, ids)
  if (pending.size > 0) {
    const [item, approvalId] = [...pending][0]!
    throw conflict('resolution_pending', 'A resolution of this item awaits a manager’s approval: it is approved or rejected first', { itemId: item, approvalId })
  }
  const rows = ids.length === 0 ? [] : await tx.select().from(reconItems).where(and(eq(reconItems.merchantId, merchantId), inArray(reconItems.id, ids)))
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

/** Item id → the id of a resolution of it awaiting a manager's approval (the pending requests among `itemIds`). */
export async function pendingResolutions(tx: Tx, merchantId: string, itemIds: string[]): Promise<Map<string, string>> {
  if (itemIds.length === 0) return new Map()
  const rows = await tx
    .select({ id: approvalRequests.id, itemId: sql<string>`${approvalRequests.payload}->>'itemId'` })
    .from(approvalRequests)
    .where(
      and(
        eq(approvalRequests.merchantId, merchantId),
        eq(approvalRequests.status, 'pending'),
        eq(approvalRequests.action, 'recon_item.resolve'),
        sql`${approvalRequests.payload}->>'itemId' = any(${sql.param(itemIds)}::text[])`,
      ),
    )
  return new Map(rows.map((r) => [r.itemId, r.id]))
}
