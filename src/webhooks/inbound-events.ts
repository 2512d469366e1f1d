// Received webhooks as the merchant sees them: listed and read for diagnosis, and replayed (processed again) after
// a fix. Every query is scoped by merchant; an event of another merchant is simply not found.
import { and, desc, eq, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { enqueue } from '../db/enqueue.ts'
import { badRequest, notFound } from '../lib/errors.ts'
import { isUuid } from '../lib/ids.ts'
import { inboundWebhooks } from './schema.ts'
import { INBOUND_MAX_ATTEMPTS, PROCESS_TASK, processJobKey } from './inbound.ts'

/** Queues the processing of a received event (a replay, a restored one), under its job key: never twice at once. */
export const queueProcessing = (tx: Tx, row: { id: string; merchantId: string; connectionId: string }) =>
  enqueue(tx, PROCESS_TASK, { merchantId: row.merchantId, connectionId: row.connectionId, inboundId: row.id }, { jobKey: processJobKey(row.id), maxAttempts: INBOUND_MAX_ATTEMPTS })

export const INBOUND_STATUSES = ['received', 'processing', 'processed', 'ignored', 'failed'] as const
export type InboundStatus = (typeof INBOUND_STATUSES)[number]

export type InboundRow = typeof inboundWebhooks.$inferSelect

const summaryColumns = {
  id: inboundWebhooks.id,
  connectionId: inboundWebhooks.connectionId,
  vendorEventId: inboundWebhooks.vendorEventId,
  topic: inboundWebhooks.topic,
  status: inboundWebhooks.status,
  deliveries: inboundWebhooks.deliveries,
  attempts: inboundWebhooks.attempts,
  lastError: inboundWebhooks.lastError,
  receivedAt: inboundWebhooks.receivedAt,
  lastReceivedAt: inboundWebhooks.lastReceivedAt,
  processedAt: inboundWebhooks.processedAt,
}

export type InboundSummary = Omit<InboundRow, 'merchantId' | 'headers' | 'body' | 'bodyEncoding'>

export interface InboundFilter {
  connectionId?: string
  status?: InboundStatus
  topic?: string
  limit: number
  cursor?: string
}

// The cursor is the last row's received_at in microseconds since the epoch and its id: exact at PostgreSQL's
// precision, so a page boundary never skips or repeats a row.
const CURSOR = /^(\d{1,20})\.([0-9a-f-]{36})$/i

export async function listInboundWebhooks(tx: Tx, merchantId: string, f: InboundFilter): Promise<{ items: InboundSummary[]; nextCursor: string | null }> {
  let after: SQL | undefined
  if (f.cursor !== undefined) {
    const m = CURSOR.exec(f.cursor)
    if (!m || !isUuid(m[2]!)) throw badRequest('invalid_cursor', 'cursor must be the nextCursor of a previous page')
    after = sql`(${inboundWebhooks.receivedAt}, ${inboundWebhooks.id}) < (timestamptz 'epoch' + ${m[1]}::bigint * interval '1 microsecond', ${m[2]}::uuid)`
  }
  if (f.connectionId !== undefined && !isUuid(f.connectionId)) return { items: [], nextCursor: null }
  const rows = await tx
    .select({ ...summaryColumns, cursorUs: sql<string>`(extract(epoch from ${inboundWebhooks.receivedAt}) * 1000000)::bigint::text` })
    .from(inboundWebhooks)
    .where(
      and(
        eq(inboundWebhooks.merchantId, merchantId),
        f.connectionId ? eq(inboundWebhooks.connectionId, f.connectionId) : undefined,
        f.status ? eq(inboundWebhooks.status, f.status) : undefined,
        f.topic ? eq(inboundWebhooks.topic, f.topic) : undefined,
        after,
      ),
    )
    .orderBy(desc(inboundWebhooks.receivedAt), desc(inboundWebhooks.id))
    .limit(f.limit + 1)
  const page = rows.slice(0, f.limit)
  const last = page[page.length - 1]
  return {
    items: page.map(({ cursorUs: _, ...item }) => item),
    nextCursor: rows.length > f.limit && last ? `${last.cursorUs}.${last.id}` : null,
  }
}

export async function getInboundWebhook(tx: Tx, merchantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<InboundRow> {
  if (!isUuid(id)) throw notFound('inbound_webhook', id)
  const q = tx
    .select()
    .from(inboundWebhooks)
    .where(and(eq(inboundWebhooks.id, id), eq(inboundWebhooks.merchantId, merchantId)))
  const [row] = opts.forUpdate ? await q.for('update') : await q
  if (!row) throw notFound('inbound_webhook', id)
  return row
}

/**
 * Processes a stored event again, whatever its status (a failed one after a fix, a processed one whose handler
 * changed). The job key is the event's, so a replay of a waiting event only brings its job forward.
 */
export async function replayInboundWebhook(tx: Tx, merchantId: string, id: string): Promise<InboundRow> {
  const row = await getInboundWebhook(tx, merchantId, id, { forUpdate: true })
  const [updated] = await tx
    .update(inboundWebhooks)
    .set({ status: 'received', lastError: null })
    .where(eq(inboundWebhooks.id, row.id))
    .returning()
  await queueProcessing(tx, row)
  return updated!
}
