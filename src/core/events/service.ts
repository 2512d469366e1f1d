// Recording business events. Always called inside the transaction of the change, so an event exists exactly when
// its change committed.
import { and, asc, eq, gt, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { events } from './schema.ts'

export interface HubEvent {
  type: string
  entityType: string
  entityId: string
  data: Record<string, unknown>
}

export async function recordEvents(tx: Tx, merchantId: string, list: HubEvent[]): Promise<void> {
  if (list.length === 0) return
  await tx.insert(events).values(list.map((e) => ({ merchantId, ...e })))
}

export const recordEvent = (tx: Tx, merchantId: string, e: HubEvent) => recordEvents(tx, merchantId, [e])

/** Where a reader of the feed stands: after the event of transaction `xid` with id `id`. */
export interface FeedCursor {
  xid: string
  id: number
}

export const feedCursor = (e: { xid: string; id: number }) => `${e.xid}-${e.id}`

/** A cursor as a client sends it: `xid-id` (nextCursor, an item's cursor), or an event id (as cursors once were). */
export function parseFeedCursor(text: string): FeedCursor | { id: number } {
  const m = /^(\d+)-(\d+)$/.exec(text)
  return m ? { xid: m[1]!, id: Number(m[2]) } : { id: Number(text) }
}

/**
 * The feed: a merchant's events in the order they became visible, after a cursor. Only events of transactions that
 * have ended are read (their xid below the oldest transaction still running), in (xid, id) order: an event written by
 * a transaction still running when a later one committed comes after what a reader already has, never behind its
 * cursor, and nothing is skipped. An event of a long transaction waits until it ends.
 */
export async function listEvents(tx: Tx, merchantId: string, opts: { after?: FeedCursor | { id: number }; types?: string[]; limit: number }) {
  let after = opts.after
  if (after) {
    // Where the cursor's event stands in the feed now: an event id alone (as cursors once were), or an event written
    // again by another transaction since the cursor was given (a merchant restored from a backup: its events keep
    // their ids, not their transactions). One of another merchant, or none, stands as the cursor says.
    const [e] = await tx.select({ xid: events.xid }).from(events).where(and(eq(events.merchantId, merchantId), eq(events.id, after.id)))
    if (e) after = { xid: e.xid, id: after.id }
  }
  const rows = await tx
    .select()
    .from(events)
    .where(
      and(
        eq(events.merchantId, merchantId),
        sql`${events.xid} < pg_snapshot_xmin(pg_current_snapshot())`,
        after ? ('xid' in after ? sql`(${events.xid}, ${events.id}) > (${after.xid}::xid8, ${after.id})` : gt(events.id, after.id)) : undefined,
        opts.types?.length ? inArray(events.type, opts.types) : undefined,
      ),
    )
    .orderBy(asc(events.xid), asc(events.id))
    .limit(opts.limit)
  return { items: rows.map((r) => ({ ...r, cursor: feedCursor(r) })), nextCursor: rows.length === opts.limit ? feedCursor(rows[rows.length - 1]!) : null }
}
