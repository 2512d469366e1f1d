// Recording business events. Always called inside the transaction of the change, so an event exists exactly when
// its change committed.
import { and, asc, eq, gt, inArray } from 'drizzle-orm'
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

export async function listEvents(tx: Tx, merchantId: string, opts: { after?: number; types?: string[]; limit: number }) {
  const rows = await tx
    .select()
    .from(events)
    .where(and(eq(events.merchantId, merchantId), opts.after ? gt(events.id, opts.after) : undefined, opts.types?.length ? inArray(events.type, opts.types) : undefined))
    .orderBy(asc(events.id))
    .limit(opts.limit)
  return { items: rows, nextCursor: rows.length === opts.limit ? String(rows[rows.length - 1]!.id) : null }
}
