// Accepting an inbound webhook (DESIGN section 6): verify the vendor's signature on the raw bytes, store the event
// once per (connection, vendor event id), enqueue its processing in the same statement, and answer at once. Nothing
// here calls a vendor; the `webhooks.process` job does the work later.
//
// Terms: a *delivery* is one HTTP request carrying an event; a vendor redelivers an event it thinks we missed, so
// one stored event may count several deliveries. *Accepting* is storing it; *processing* is what the job does.
import { isUtf8 } from 'node:buffer'
import { sql } from 'drizzle-orm'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import type { InboundRequest, ParsedWebhook, WebhookSpec } from '../connectors/framework/define.ts'
import { loadConnection } from '../connectors/framework/connections.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { executeNamed } from '../db/prepared.ts'
import { badRequest, notFound, unauthorized } from '../lib/errors.ts'
import { isUuid, newId } from '../lib/ids.ts'
import type { Logger } from '../lib/logger.ts'
import type { Hub } from '../runtime.ts'

/** Largest webhook body accepted; vendors send far less (Shopify caps at 1 MiB, Stripe events are a few KiB). */
export const INBOUND_BODY_LIMIT = 5 * 1024 * 1024
/** Attempts of the processing job: with graphile-worker's backoff (e^n seconds, capped at e^10) about 16 hours. */
export const INBOUND_MAX_ATTEMPTS = 12
export const PROCESS_TASK = 'webhooks.process'
export const processJobKey = (inboundId: string) => `${PROCESS_TASK}:${inboundId}`

const DEFAULT_ACK = { status: 200, contentType: 'application/json', body: '{"received":true}' }

export interface AcceptOptions {
  registry?: ConnectorRegistry
  /**
   * How long a loaded connection (with its decrypted secrets) is reused by this process. A signature that fails
   * against a cached secret is checked again against a fresh load, so a rotated secret works at once; a deleted
   * connection may still accept events for this long (they are stored, and their processing fails).
   */
  cacheTtlMs?: number
  log?: Logger
}

export interface AcceptResult {
  ack: { status: number; contentType: string; body: string }
  inboundId: string
  /** False for a redelivery of an event already stored: it is acknowledged and not processed again. */
  created: boolean
}

interface Endpoint {
  merchantId: string
  connectionId: string
  connectorId: string
  webhook: WebhookSpec<any>
  config: Record<string, unknown>
  expires: number
}

const CACHE_MAX = 10_000
const caches = new WeakMap<object, Map<string, Endpoint>>()

async function loadEndpoint(hub: Hub, registry: ConnectorRegistry, connectionId: string, ttlMs: number, fresh: boolean): Promise<{ endpoint: Endpoint; cached: boolean }> {
  let cache = caches.get(hub.database)
  if (!cache) caches.set(hub.database, (cache = new Map()))
  const now = Date.now()
  const hit = cache.get(connectionId)
  if (hit && !fresh && hit.expires > now) return { endpoint: hit, cached: true }
  cache.delete(connectionId)
  // Throws connection_not_found for an unknown or deleted id (and for one that is not a UUID).
  const loaded = await loadConnection(hub.database.db, registry, hub.secrets, connectionId)
  const webhook = loaded.connector.webhook
  if (!webhook) throw notFound('webhook_endpoint', connectionId)
  const endpoint: Endpoint = { merchantId: loaded.row.merchantId, connectionId, connectorId: loaded.connector.id, webhook, config: loaded.config, expires: now + ttlMs }
  if (ttlMs > 0) {
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!)
    cache.set(connectionId, endpoint)
  }
  return { endpoint, cached: false }
}

function verifies(endpoint: Endpoint, req: InboundRequest, now: Date): boolean {
  try {
    return endpoint.webhook.verify(req, endpoint.config, now) === true
  } catch {
    // A verifier that trips over a malformed header has not verified anything.
    return false
  }
}

// Credentials a sender (or a proxy in front of us) may add; the vendor's signature header is kept for audit: it
// proves nothing without the secret and helps answer "did they really send this?".
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie|set-cookie)$|token|secret|passw|api[-_]?key|credential|session/i

export function storableHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(headers)) if (!CREDENTIAL_HEADER.test(k)) out[k.toLowerCase()] = v
  return out
}

/** The body as stored: text when it is UTF-8 that PostgreSQL can hold (no NUL), base64 otherwise. */
export function encodeBody(raw: Buffer): { body: string; encoding: 'utf8' | 'base64' } {
  return isUtf8(raw) && !raw.includes(0) ? { body: raw.toString('utf8'), encoding: 'utf8' } : { body: raw.toString('base64'), encoding: 'base64' }
}

export const decodeBody = (body: string, encoding: string): Buffer => Buffer.from(body, encoding === 'base64' ? 'base64' : 'utf8')

/** Half of a surrogate pair on its own (a pair is one code point to a `u` pattern, and never matches). */
const LONE_SURROGATE = /\p{Cs}/u

function parseEvent(endpoint: Endpoint, req: InboundRequest): ParsedWebhook {
  let event: ParsedWebhook
  try {
    event = endpoint.webhook.parse(req)
  } catch {
    throw badRequest('invalid_payload', `the body is not a ${endpoint.connectorId} webhook event`)
  }
  // PostgreSQL cannot hold NUL, nor half of a surrogate pair (an escape such as "\ud800" alone); such an id or topic
  // is no vendor's.
  const usable = (v: unknown) => typeof v === 'string' && v.length > 0 && v.length <= 255 && !v.includes('\0') && !LONE_SURROGATE.test(v)
  if (!usable(event.eventId)) throw badRequest('invalid_payload', 'the event has no usable id (1–255 characters)')
  if (!usable(event.topic)) throw badRequest('invalid_payload', 'the event has no usable topic (1–255 characters)')
  // Nor a NUL or half a surrogate pair anywhere in what it says: such a text (a SKU, a name) could not be written
  // while the event is processed, and its job would fail without even its reason stored.
  if (unstorable(event.data)) throw badRequest('invalid_payload', 'the event holds a NUL character or half a surrogate pair, which no vendor sends')
  return event
}

function unstorable(v: unknown, depth = 0): boolean {
  if (typeof v === 'string') return v.includes('\0') || LONE_SURROGATE.test(v)
  if (depth > 64 || v === null || typeof v !== 'object') return false
  return Array.isArray(v) ? v.some((x) => unstorable(x, depth + 1)) : Object.entries(v).some(([k, x]) => unstorable(k, depth + 1) || unstorable(x, depth + 1))
}

// Storing is group-committed. A transaction that queues a job ends with graphile-worker's NOTIFY, and PostgreSQL
// serialises the commits of notifying transactions (one global lock held through the WAL flush), so one
// transaction per delivery caps a hub at one disk flush per delivery. Instead, deliveries that arrive while a
// batch is being written wait for it and then go together, in one statement and one transaction: a row per event
// and its job, exactly as a single delivery would. An idle hub writes a delivery at once, alone.

interface StoreItem {
  merchantId: string
  connectionId: string
  eventId: string
  topic: string
  headers: Record<string, string>
  body: string
  encoding: 'utf8' | 'base64'
  receivedAt: string
}

interface Stored {
  id: string
  created: boolean
}

interface Pending {
  item: StoreItem
  bytes: number
  resolve(r: Stored): void
  reject(e: unknown): void
}

interface Batcher {
  queue: Pending[]
  inflight: number
}

/** Batches written at the same time: while one waits for its flush, the next is already being inserted. */
const MAX_INFLIGHT = 2
const MAX_BATCH_ITEMS = 200
const MAX_BATCH_BYTES = 8 * 1024 * 1024
const batchers = new WeakMap<object, Batcher>()

const eventKey = (i: { connectionId: string; eventId: string }) => `${i.connectionId}\n${i.eventId}`

/**
 * Stores each event, or counts more deliveries of it, and queues its processing only when it is new. Duplicates
 * within the batch are merged first (one statement may not update a row twice), and rows are written in key order
 * so two hubs writing overlapping batches lock in the same order. A concurrent duplicate in another transaction
 * waits on the unique index and then takes the update branch, so an event is stored and queued exactly once.
 */
async function storeBatch(hub: Hub, items: StoreItem[]): Promise<Map<string, Stored>> {
  const groups = new Map<string, { item: StoreItem; deliveries: number }>()
  for (const item of items) {
    const g = groups.get(eventKey(item))
    if (g) g.deliveries++
    else groups.set(eventKey(item), { item, deliveries: 1 })
  }
  const rows = [...groups.values()]
    .sort((a, b) => (eventKey(a.item) < eventKey(b.item) ? -1 : 1))
    .map(({ item, deliveries }) => ({ ...item, id: newId(), deliveries }))
  // The batch goes as one JSON parameter: V8 encodes it natively, where an array parameter per column would be
  // escaped element by element in JavaScript.
  const { rows: out } = await executeNamed<{ id: string; connection_id: string; vendor_event_id: string; created: boolean }>(hub.database.db, 'inbound_webhooks_accept', sql`
    with ins as (
      insert into inbound_webhooks as w
        (id, merchant_id, connection_id, vendor_event_id, topic, headers, body, body_encoding, deliveries, received_at, last_received_at)
      select t.id, t."merchantId", t."connectionId", t."eventId", t.topic, t.headers, t.body, t.encoding, t.deliveries, t."receivedAt", t."receivedAt"
        from rows from (json_to_recordset(${JSON.stringify(rows)}::json) as (id uuid, "merchantId" uuid, "connectionId" uuid, "eventId" text, topic text,
             headers jsonb, body text, encoding text, deliveries int, "receivedAt" timestamptz)) with ordinality as t
       order by t.ordinality
      on conflict (connection_id, vendor_event_id) do update
        set deliveries = w.deliveries + excluded.deliveries, last_received_at = greatest(w.last_received_at, excluded.last_received_at)
      returning w.id, w.merchant_id, w.connection_id, w.vendor_event_id, w.xmax = 0 as created
    ), jobs as (
      select j.id from (
        select array_agg(row(${PROCESS_TASK}::text,
                             json_build_object('merchantId', merchant_id, 'connectionId', connection_id, 'inboundId', id),
                             null, null, ${INBOUND_MAX_ATTEMPTS}::smallint, ${`${PROCESS_TASK}:`}::text || id::text, null, null
                            )::graphile_worker.job_spec) as specs
          from ins where created
      ) s, lateral graphile_worker.add_jobs(s.specs) j
       where s.specs is not null
    )
    select ins.id::text as id, ins.connection_id::text as connection_id, ins.vendor_event_id, ins.created
      from ins, (select count(*) from jobs) queued`)
  return new Map(out.map((r) => [eventKey({ connectionId: r.connection_id, eventId: r.vendor_event_id }), { id: r.id, created: r.created }]))
}

async function flush(hub: Hub, batch: Pending[]): Promise<void> {
  let stored: Map<string, Stored>
  try {
    stored = await storeBatch(hub, batch.map((p) => p.item))
  } catch (e) {
    if (batch.length === 1) return batch[0]!.reject(e)
    // One bad delivery must not fail the others: write each alone.
    await Promise.all(batch.map((p) => flush(hub, [p])))
    return
  }
  const answered = new Set<string>()
  for (const p of batch) {
    const key = eventKey(p.item)
    const r = stored.get(key)
    if (!r) p.reject(new Error(`inbound webhook ${p.item.eventId} was not stored`))
    else {
      // Of several deliveries of a new event in one batch, the first is the one that created it.
      p.resolve({ id: r.id, created: r.created && !answered.has(key) })
      answered.add(key)
    }
  }
}

function pump(hub: Hub, b: Batcher): void {
  while (b.inflight < MAX_INFLIGHT && b.queue.length > 0) {
    let bytes = 0
    let n = 0
    while (n < b.queue.length && n < MAX_BATCH_ITEMS && (n === 0 || bytes + b.queue[n]!.bytes <= MAX_BATCH_BYTES)) bytes += b.queue[n++]!.bytes
    const batch = b.queue.splice(0, n)
    b.inflight++
    void flush(hub, batch).finally(() => {
      b.inflight--
      pump(hub, b)
    })
  }
}

function store(hub: Hub, item: StoreItem): Promise<Stored> {
  let b = batchers.get(hub.database)
  if (!b) batchers.set(hub.database, (b = { queue: [], inflight: 0 }))
  const batcher = b
  return new Promise<Stored>((resolve, reject) => {
    batcher.queue.push({ item, bytes: item.body.length + 1024, resolve, reject })
    pump(hub, batcher)
  })
}

/**
 * Accepts one delivery for `connectionId`. Throws a DomainError for the HTTP layer: 404 connection_not_found (or
 * webhook_endpoint_not_found when the connector takes no webhooks), 401 invalid_signature, 400 invalid_payload.
 * A disabled connection still accepts: the event is kept and its processing waits until the connection is enabled.
 */
export async function acceptInbound(hub: Hub, connectionId: string, req: InboundRequest, opts: AcceptOptions = {}): Promise<AcceptResult> {
  const registry = opts.registry ?? connectorRegistry
  const ttl = opts.cacheTtlMs ?? 5_000
  const log = opts.log ?? hub.logger
  if (!isUuid(connectionId)) throw notFound('connection', connectionId)
  const now = hub.clock()

  let { endpoint, cached } = await loadEndpoint(hub, registry, connectionId, ttl, false)
  let ok = verifies(endpoint, req, now)
  if (!ok && cached) {
    ;({ endpoint } = await loadEndpoint(hub, registry, connectionId, ttl, true))
    ok = verifies(endpoint, req, now)
  }
  if (!ok) {
    // Never the header's value or the secret: only which endpoint refused what.
    log.warn({ connectionId, connectorId: endpoint.connectorId, merchantId: endpoint.merchantId, bytes: req.rawBody.length }, 'inbound webhook refused: the signature is missing, stale or wrong')
    throw unauthorized('invalid_signature', 'the webhook signature is missing, expired or does not match this connection’s secret')
  }

  const event = parseEvent(endpoint, req)
  const { body, encoding } = encodeBody(req.rawBody)
  const stored = await store(hub, {
    merchantId: endpoint.merchantId,
    connectionId: endpoint.connectionId,
    eventId: event.eventId,
    topic: event.topic,
    headers: storableHeaders(req.headers),
    body,
    encoding,
    receivedAt: now.toISOString(),
  })
  if (!stored.created) log.debug({ connectionId, inboundId: stored.id, eventId: event.eventId }, 'inbound webhook redelivered')
  return { ack: endpoint.webhook.ack ?? DEFAULT_ACK, inboundId: stored.id, created: stored.created }
}

/**
 * Answers a vendor's GET check of a connection's webhook address. Throws 404 when the connection or its check does
 * not exist, 401 when the check is not signed by the vendor for this connection.
 */
export async function answerChallenge(hub: Hub, connectionId: string, req: { url: string; headers: Record<string, string> }, opts: AcceptOptions = {}) {
  if (!isUuid(connectionId)) throw notFound('connection', connectionId)
  const { endpoint } = await loadEndpoint(hub, opts.registry ?? connectorRegistry, connectionId, 0, true)
  if (!endpoint.webhook.challenge) throw notFound('webhook_endpoint', connectionId)
  let answer: { status: number; contentType: string; body: string } | null = null
  try {
    answer = endpoint.webhook.challenge(req, endpoint.config, hub.clock())
  } catch {
    answer = null
  }
  if (!answer) throw unauthorized('invalid_signature', 'the address check is not signed with this connection’s secret')
  return answer
}
