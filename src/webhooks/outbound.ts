// Outbound webhooks: hub events fanned out to the subscriptions that want them, delivered signed (Standard
// Webhooks), retried on a schedule spanning more than a day, parked as failed after the last attempt, replayable.
//
// Words used here:
// - delivery: one event for one subscription (unique per pair); its `messageId` is the `webhook-id` of every attempt.
// - attempt: one POST of a delivery. Failed attempts are logged append-only in webhook_attempts; a success only
//   marks the delivery succeeded.
// - parked: a delivery whose last scheduled attempt failed (status 'failed'); only a replay sends it again.
// - replay: one more attempt sent now, the attempt counter continuing; if it fails the delivery is parked again.
import { performance } from 'node:perf_hooks'
import type { Readable } from 'node:stream'
import axios, { type AxiosInstance } from 'axios'
import { and, asc, desc, eq, gte, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { Tx } from '../db/client.ts'
import { enqueue } from '../db/enqueue.ts'
import { conflict, notFound } from '../lib/errors.ts'
import { newId } from '../lib/ids.ts'
import { redactText } from '../lib/redact.ts'
import { guardedAgents, refusedHost } from '../lib/net-guard.ts'
import { parseRetryAfter } from '../lib/retry-after.ts'
import type { Hub } from '../runtime.ts'
import { events } from '../core/events/schema.ts'
import { ALL_EVENTS } from './event-types.ts'
import { signMessage } from './signing.ts'
import { countAttempt, getSubscription, parkDeliveries } from './subscriptions.ts'

/** Class of the advisory locks that let one process at a time send a delivery. */
const DELIVERY_LOCK_CLASS = 74_620_401
import { webhookAttempts, webhookDeliveries, webhookSubscriptions } from './schema.ts'

export type DeliveryRow = typeof webhookDeliveries.$inferSelect
export type AttemptRow = typeof webhookAttempts.$inferSelect
export type DeliveryStatus = 'pending' | 'succeeded' | 'failed'

/**
 * Wait before each retry, after a failed attempt 1, 2, … (the schedule Svix uses): 5 s, 5 min, 30 min, 2 h, 5 h,
 * 10 h, 10 h — 8 attempts over about 27.6 hours, so a receiver that is down for a day still gets everything.
 */
export const RETRY_DELAYS_MS = [5_000, 5 * 60_000, 30 * 60_000, 2 * 3_600_000, 5 * 3_600_000, 10 * 3_600_000, 10 * 3_600_000] as const
export const MAX_ATTEMPTS = RETRY_DELAYS_MS.length + 1
export const DELIVERY_TIMEOUT_MS = 15_000
export const RESPONSE_EXCERPT_BYTES = 1024
/** Most deliveries one bulk replay queues; call again while `more` is true. */
export const BULK_REPLAY_LIMIT = 1000

export const DELIVER_TASK = 'webhooks.deliver' as const
const deliverJobKey = (deliveryId: string) => `${DELIVER_TASK}:${deliveryId}`

/**
 * Queues the next attempt of a delivery. The job key keeps one queued attempt per delivery: a replay replaces a
 * scheduled retry instead of starting a second chain of retries.
 */
export async function queueAttempt(tx: Tx, d: { merchantId: string; deliveryId: string; replay?: boolean }, runAt?: Date) {
  const payload = d.replay ? { merchantId: d.merchantId, deliveryId: d.deliveryId, replay: true } : { merchantId: d.merchantId, deliveryId: d.deliveryId }
  await enqueue(tx, DELIVER_TASK, payload, { jobKey: deliverJobKey(d.deliveryId), runAt, maxAttempts: 5 })
}

/** The body receivers get: `{type, timestamp, data}` with the event's entity id as `data.id`. */
export const messagePayload = (e: { type: string; entityId: string; data: Record<string, unknown>; createdAt: Date }) => ({
  type: e.type,
  timestamp: e.createdAt.toISOString(),
  data: { ...e.data, id: e.entityId },
})

/**
 * One delivery per (event, matching enabled subscription), each with its first attempt queued, in the caller's
 * transaction. Running it twice for the same events adds nothing. A subscription gets only events recorded after
 * it was created. Returns the number of deliveries created.
 */
export async function fanOut(tx: Tx, input: { merchantId: string; eventIds: number[] }, now: Date): Promise<number> {
  if (input.eventIds.length === 0) return 0
  const s = webhookSubscriptions
  const matches = await tx
    .select({ event: events, subscriptionId: s.id })
    .from(events)
    .innerJoin(
      s,
      and(
        eq(s.merchantId, events.merchantId),
        eq(s.enabled, true),
        isNull(s.deletedAt),
        gte(events.createdAt, s.createdAt),
        sql`(${events.type} = any(${s.eventTypes}) or ${ALL_EVENTS} = any(${s.eventTypes}))`,
      ),
    )
    .where(and(eq(events.merchantId, input.merchantId), inArray(events.id, input.eventIds)))
    .orderBy(asc(events.id), asc(s.id))
  if (matches.length === 0) return 0

  const created = await tx
    .insert(webhookDeliveries)
    .values(
      matches.map(({ event, subscriptionId }) => {
        const id = newId()
        return {
          id,
          merchantId: input.merchantId,
          subscriptionId,
          eventId: event.id,
          eventType: event.type,
          messageId: `msg_${id.replaceAll('-', '')}`,
          payload: messagePayload(event),
          status: 'pending',
          nextAttemptAt: now,
        }
      }),
    )
    .onConflictDoNothing({ target: [webhookDeliveries.subscriptionId, webhookDeliveries.eventId] })
    .returning({ id: webhookDeliveries.id })
  for (const d of created) await queueAttempt(tx, { merchantId: input.merchantId, deliveryId: d.id })
  return created.length
}

export interface DeliverOptions {
  http?: AxiosInstance
  signal?: AbortSignal
}

export type DeliverOutcome =
  | { outcome: 'skipped'; reason: 'not_found' | 'in_progress' | 'not_pending' }
  | { outcome: 'succeeded'; attempt: number; statusCode: number }
  | { outcome: 'retrying'; attempt: number; nextAttemptAt: Date }
  | { outcome: 'parked'; attempt: number }

const defaultHttp = axios.create(guardedAgents())

interface PostResult {
  statusCode: number | null
  body: string
  error: string | null
  /** A 429's or 503's Retry-After: how long the receiver asks to be left alone. */
  retryAfterMs?: number
}

/** The longest wait a receiver's Retry-After may ask for: the schedule's own longest delay. */
const MAX_RETRY_AFTER_MS = Math.max(...RETRY_DELAYS_MS)

async function post(http: AxiosInstance, url: string, body: string, headers: Record<string, string>, clock: () => Date, signal?: AbortSignal): Promise<PostResult> {
  // Refused when it was subscribed, too; a host name's addresses are checked as it is resolved (guardedAgents).
  const refused = refusedHost(url)
  if (refused) return { statusCode: null, body: '', error: `not sent: the url points at ${refused}` }
  try {
    // The status is the answer; of the body only the start is read (the log keeps an excerpt), so a receiver
    // answering 2xx with a large body has still taken the event.
    const res = await http.post<Readable>(url, body, {
      headers: { ...headers, 'content-type': 'application/json', 'user-agent': 'Tillbridge-Webhooks/1' },
      timeout: DELIVERY_TIMEOUT_MS,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'stream',
      signal,
    })
    const text = await bodyStart(res.data, RESPONSE_EXCERPT_BYTES * 4)
    const ok = res.status >= 200 && res.status < 300
    const retryAfterMs = res.status === 429 || res.status === 503 ? parseRetryAfter(res.headers['retry-after'] as string | undefined, clock()) : undefined
    return { statusCode: res.status, body: text, error: ok ? null : `receiver answered HTTP ${res.status}`, retryAfterMs }
  } catch (e) {
    const err = e as { code?: string; message?: string }
    return { statusCode: null, body: '', error: redactText(`${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}`).slice(0, 500) }
  }
}

/** The first `max` bytes of a response body (what arrives within the delivery timeout), the rest left unread. */
async function bodyStart(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  const timer = setTimeout(() => stream.destroy(), DELIVERY_TIMEOUT_MS)
  try {
    for await (const chunk of stream) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string)
      chunks.push(b)
      size += b.length
      if (size >= max) break
    }
  } catch {
    // A body cut short (or too slow) leaves the status as the answer.
  } finally {
    clearTimeout(timer)
    stream.destroy()
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8')
}

/** At most `max` bytes of UTF-8, cut on a character boundary. */
export function excerpt(text: string, max = RESPONSE_EXCERPT_BYTES): string {
  const buf = Buffer.from(text, 'utf8')
  if (buf.length <= max) return text
  let end = max
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--
  return buf.subarray(0, end).toString('utf8')
}

/**
 * Sends one attempt of a pending delivery and records its outcome. Safe to run twice: a delivery that is no longer
 * pending, or that another job is sending right now (its row is locked), is left alone. The row stays locked while
 * the request is out, so the attempt, the new status and the next attempt's job commit together.
 */
export async function deliver(hub: Hub, input: { merchantId: string; deliveryId: string; replay?: boolean }, opts: DeliverOptions = {}): Promise<DeliverOutcome> {
  return hub.database.db.transaction(async (tx) => {
    // One send of a delivery at a time, held by an advisory lock while the receiver answers, not by a row lock: a
    // row lock gives the transaction an id for that long, and the event feed (every merchant's) shows nothing newer
    // than the oldest transaction still open. The row is written once the answer is in, in a moment.
    const { rows: lock } = await tx.execute<{ held: boolean }>(sql`select pg_try_advisory_xact_lock(${DELIVERY_LOCK_CLASS}, hashtext(${input.deliveryId}::text)) as held`)
    const [d] = await tx
      .select()
      .from(webhookDeliveries)
      .where(and(eq(webhookDeliveries.merchantId, input.merchantId), eq(webhookDeliveries.id, input.deliveryId)))
    if (!d) return { outcome: 'skipped', reason: 'not_found' }
    if (!lock[0]!.held) return { outcome: 'skipped', reason: 'in_progress' }
    if (d.status !== 'pending') return { outcome: 'skipped', reason: 'not_pending' }

    const [sub] = await tx.select().from(webhookSubscriptions).where(and(eq(webhookSubscriptions.merchantId, d.merchantId), eq(webhookSubscriptions.id, d.subscriptionId)))
    if (!sub || sub.deletedAt || !sub.enabled) {
      const why = !sub || sub.deletedAt ? 'subscription deleted' : 'subscription disabled'
      await parkDeliveries(tx, eq(webhookDeliveries.id, d.id), why)
      return { outcome: 'parked', attempt: d.attempts }
    }

    const attempt = d.attempts + 1
    const body = JSON.stringify(d.payload)
    const headers = signMessage(hub.secrets.decrypt(sub.sealedSecret), d.messageId, hub.clock(), body)
    const started = performance.now()
    const res = await post(opts.http ?? defaultHttp, sub.url, body, { ...headers }, hub.clock, opts.signal)
    const durationMs = Math.round(performance.now() - started)
    const finishedAt = hub.clock()
    const log = hub.logger.child({ deliveryId: d.id, subscriptionId: sub.id, messageId: d.messageId, attempt })

    // Only this send changes the attempts (the lock): a delivery parked meanwhile (its subscription deleted) was
    // still delivered if the receiver took it, and is not retried if not.
    const mine = and(eq(webhookDeliveries.id, d.id), eq(webhookDeliveries.attempts, d.attempts))
    if (res.error === null) {
      await tx
        .update(webhookDeliveries)
        .set({ status: 'succeeded', attempts: attempt, nextAttemptAt: null, lastStatusCode: res.statusCode, lastError: null, deliveredAt: finishedAt })
        .where(mine)
      await countAttempt(tx, sub, true, finishedAt)
      log.debug({ statusCode: res.statusCode, durationMs }, 'webhook delivered')
      return { outcome: 'succeeded', attempt, statusCode: res.statusCode! }
    }

    await tx.insert(webhookAttempts).values({
      merchantId: d.merchantId,
      deliveryId: d.id,
      attempt,
      statusCode: res.statusCode,
      durationMs,
      responseExcerpt: res.body ? excerpt(redactText(res.body)) : null,
      error: res.error,
      createdAt: finishedAt,
    })
    // The schedule's next delay, or longer where a receiver that is throttling or down asks for it (Retry-After on a
    // 429 or 503), up to the schedule's longest delay.
    const scheduled = input.replay ? undefined : RETRY_DELAYS_MS[attempt - 1]
    const delay = scheduled === undefined ? undefined : Math.max(scheduled, Math.min(res.retryAfterMs ?? 0, MAX_RETRY_AFTER_MS))
    const scheduledAt = delay === undefined ? null : new Date(finishedAt.getTime() + delay)
    const [written] = await tx
      .update(webhookDeliveries)
      .set({
        status: sql`case when ${webhookDeliveries.status} = 'pending' and ${scheduledAt !== null} then 'pending' else 'failed' end`,
        attempts: attempt,
        nextAttemptAt: sql`case when ${webhookDeliveries.status} = 'pending' then ${scheduledAt}::timestamptz end`,
        lastStatusCode: res.statusCode,
        lastError: sql`case when ${webhookDeliveries.status} = 'pending' then ${res.error}::text else ${webhookDeliveries.lastError} end`,
      })
      .where(mine)
      .returning({ nextAttemptAt: webhookDeliveries.nextAttemptAt })
    if (await countAttempt(tx, sub, false, finishedAt)) {
      log.warn({ statusCode: res.statusCode, error: res.error }, 'webhook subscription disabled: its receiver failed every attempt for 3 days')
      return { outcome: 'parked', attempt }
    }
    const nextAttemptAt = written?.nextAttemptAt ?? null
    if (nextAttemptAt) {
      await queueAttempt(tx, { merchantId: d.merchantId, deliveryId: d.id }, nextAttemptAt)
      log.info({ statusCode: res.statusCode, error: res.error, nextAttemptAt }, 'webhook attempt failed; retry scheduled')
      return { outcome: 'retrying', attempt, nextAttemptAt }
    }
    log.warn({ statusCode: res.statusCode, error: res.error }, scheduledAt ? 'webhook delivery parked while it was being sent' : 'webhook delivery parked after its last attempt')
    return { outcome: 'parked', attempt }
  })
}

async function requireDeliverable(tx: Tx, merchantId: string, subscriptionId: string) {
  const sub = await getSubscription(tx, merchantId, subscriptionId, { deleted: true })
  if (sub.deletedAt) throw conflict('subscription_deleted', 'the subscription was deleted; its deliveries can no longer be sent')
  if (!sub.enabled) throw conflict('subscription_disabled', 'the subscription is disabled; enable it before replaying')
  return sub
}

/** Sends a parked or succeeded delivery once more, now. */
export async function replayDelivery(tx: Tx, merchantId: string, id: string, now: Date): Promise<DeliveryRow> {
  const [d] = await tx
    .select()
    .from(webhookDeliveries)
    .where(and(eq(webhookDeliveries.merchantId, merchantId), eq(webhookDeliveries.id, id)))
    .for('update', { noWait: true })
  if (!d) throw notFound('webhook_delivery', id)
  if (d.status === 'pending') throw conflict('delivery_pending', 'the delivery is still being attempted; replay it once it has succeeded or failed')
  await requireDeliverable(tx, merchantId, d.subscriptionId)
  const [row] = await tx.update(webhookDeliveries).set({ status: 'pending', nextAttemptAt: now }).where(eq(webhookDeliveries.id, id)).returning()
  await queueAttempt(tx, { merchantId, deliveryId: id, replay: true })
  return row!
}

/** Replays the subscription's deliveries in `status` (created at or after `since`), oldest first. */
export async function replayDeliveries(
  tx: Tx,
  merchantId: string,
  subscriptionId: string,
  filter: { status: 'failed' | 'succeeded'; since?: Date },
  now: Date,
): Promise<{ count: number; more: boolean }> {
  await requireDeliverable(tx, merchantId, subscriptionId)
  const since = filter.since?.toISOString() ?? null
  // One more than the limit is picked to tell whether more remain.
  const picked = await tx.execute<{ id: string }>(sql`
    select id from webhook_deliveries
     where merchant_id = ${merchantId} and subscription_id = ${subscriptionId} and status = ${filter.status}
       and (${since}::timestamptz is null or created_at >= ${since}::timestamptz)
     order by created_at, id
     limit ${BULK_REPLAY_LIMIT + 1}
       for update skip locked`)
  const ids = picked.rows.map((r) => r.id).slice(0, BULK_REPLAY_LIMIT)
  const more = picked.rows.length > BULK_REPLAY_LIMIT
  if (ids.length > 0) await tx.update(webhookDeliveries).set({ status: 'pending', nextAttemptAt: now }).where(inArray(webhookDeliveries.id, ids))
  for (const id of ids) await queueAttempt(tx, { merchantId, deliveryId: id, replay: true })
  return { count: ids.length, more }
}

export async function listDeliveries(tx: Tx, merchantId: string, subscriptionId: string, opts: { status?: DeliveryStatus; before?: string; limit: number }) {
  await getSubscription(tx, merchantId, subscriptionId, { deleted: true })
  const rows = await tx
    .select()
    .from(webhookDeliveries)
    .where(
      and(
        eq(webhookDeliveries.merchantId, merchantId),
        eq(webhookDeliveries.subscriptionId, subscriptionId),
        opts.status ? eq(webhookDeliveries.status, opts.status) : undefined,
        opts.before ? lt(webhookDeliveries.id, opts.before) : undefined,
      ),
    )
    .orderBy(desc(webhookDeliveries.id))
    .limit(opts.limit)
  return { items: rows, nextCursor: rows.length === opts.limit ? rows[rows.length - 1]!.id : null }
}

export async function getDelivery(tx: Tx, merchantId: string, id: string): Promise<{ delivery: DeliveryRow; attempts: AttemptRow[] }> {
  const [delivery] = await tx.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.merchantId, merchantId), eq(webhookDeliveries.id, id)))
  if (!delivery) throw notFound('webhook_delivery', id)
  const attempts = await tx
    .select()
    .from(webhookAttempts)
    .where(and(eq(webhookAttempts.merchantId, merchantId), eq(webhookAttempts.deliveryId, id)))
    .orderBy(asc(webhookAttempts.attempt), asc(webhookAttempts.id))
  return { delivery, attempts }
}

/**
 * Queues again, for a merchant just restored from an archive (which carries no queued jobs), the attempt of every
 * pending delivery (at its scheduled time) and the fanout of events that have no delivery yet. An event counts as
 * not fanned out when an enabled subscription wants it, it was recorded after the subscription was made and no more
 * than a few minutes before the newest event the subscription already has a delivery for (events commit out of id
 * order; older ones without a delivery were recorded while the subscription was off, and stay undelivered as they
 * would have on the old hub). With `park` (a copy of a merchant, whose receivers are the original's), the pending
 * deliveries are parked with that reason instead, and none is queued.
 */
export async function requeueRestored(tx: Tx, merchantId: string, opts: { park?: string } = {}): Promise<{ deliveries: number; events: number; parked: number }> {
  const isPending = and(eq(webhookDeliveries.merchantId, merchantId), eq(webhookDeliveries.status, 'pending'))
  const parked = opts.park ? (await parkDeliveries(tx, isPending!, opts.park).returning({ id: webhookDeliveries.id })).length : 0
  const pending = await tx
    .select({ id: webhookDeliveries.id, nextAttemptAt: webhookDeliveries.nextAttemptAt })
    .from(webhookDeliveries)
    .where(isPending)
    .orderBy(asc(webhookDeliveries.createdAt), asc(webhookDeliveries.id))
  for (const d of pending) await queueAttempt(tx, { merchantId, deliveryId: d.id }, d.nextAttemptAt ?? undefined)
  const unfanned = await tx.execute<{ id: number }>(sql`
    select distinct e.id from events e
      join webhook_subscriptions s on s.merchant_id = e.merchant_id and s.enabled and s.deleted_at is null
       and e.created_at >= s.created_at and (e.type = any(s.event_types) or ${ALL_EVENTS} = any(s.event_types))
     where e.merchant_id = ${merchantId}
       and not exists (select 1 from webhook_deliveries d where d.subscription_id = s.id and d.event_id = e.id)
       and e.created_at >= coalesce((select max(x.created_at) - interval '5 minutes' from webhook_deliveries d join events x on x.id = d.event_id
                                      where d.subscription_id = s.id), '-infinity')
     order by e.id`)
  const ids = unfanned.rows.map((r) => Number(r.id))
  for (let i = 0; i < ids.length; i += 1000) await enqueue(tx, 'webhooks.fanout', { merchantId, eventIds: ids.slice(i, i + 1000) }, { maxAttempts: 25 })
  return { deliveries: pending.length, events: ids.length, parked }
}
