// `webhooks.process`: does what a stored inbound webhook asks, through the handler of its connector and topic
// (src/jobs/inbound-handlers.ts). A disabled or deleted connection fails the attempt, so graphile-worker retries
// with backoff; the event ends 'failed' after the last attempt and a replay processes it once the connection is fixed.
//
// One event is processed by one job at a time: its job key is the event's, and the processing transaction holds
// the event's row lock, so a second run (a replay racing a retry) waits and then finds the work done. An event whose
// topic no handler wants is settled as 'ignored' by the claiming statement itself: one statement per such event.
import { and, eq, sql } from 'drizzle-orm'
import { z } from 'zod'
import { loadConnection, type LoadedConnection } from '../connectors/framework/connections.ts'
import type { ConnectorRegistry } from '../connectors/framework/registry.ts'
import { connectorRegistry } from '../connectors/index.ts'
import { executeNamed } from '../db/prepared.ts'
import { errorText } from '../db/errors.ts'
import { isDomainError } from '../lib/errors.ts'
import { redactText, REDACTED } from '../lib/redact.ts'
import type { Hub } from '../runtime.ts'
import { decodeBody, PROCESS_TASK } from '../webhooks/inbound.ts'
import { inboundWebhooks } from '../webhooks/schema.ts'
import { findInboundHandler, inboundHandlers, type InboundHandlerRegistry } from './inbound-handlers.ts'
import { defineTask, type JobContext } from './task.ts'

const Payload = z.object({ merchantId: z.uuid(), connectionId: z.uuid(), inboundId: z.uuid() })
export type ProcessInboundPayload = z.infer<typeof Payload>

/** Why an attempt could not run yet; the message is stored on the event and shown to the merchant. */
export class ProcessingDeferred extends Error {
  override name = 'ProcessingDeferred'
}

/** The error as it may be stored and logged: known secrets masked, credential-looking text masked. */
function safeError(e: unknown, secrets: string[]): string {
  let message = errorText(e)
  for (const s of secrets) message = message.split(s).join(REDACTED)
  // Stored and re-thrown to the queue: without characters PostgreSQL cannot hold (a NUL the failing query carried).
  return redactText(message).replace(/\0/g, '\\0').replace(/\p{Cs}/gu, '\uFFFD').slice(0, 2000)
}

export interface ProcessOptions {
  handlers?: InboundHandlerRegistry
  registry?: ConnectorRegistry
}

export type ProcessOutcome = 'processed' | 'ignored' | 'skipped'

type Claimed = {
  id: string
  status: string
  merchant_id: string
  connection_id: string
  headers: Record<string, string>
  body: string
  body_encoding: string
  received_at: string
  deliveries: number
  attempts: number
  connector_id: string
  connection_name: string
  enabled: boolean
  deleted: boolean
}

const topicLists = new WeakMap<InboundHandlerRegistry, WeakMap<ConnectorRegistry, { handled: string[]; webhookConnectors: string[] }>>()

/** The connectors that take webhooks, and "<connector> <topic>" for every topic with a handler. */
function handledTopics(handlers: InboundHandlerRegistry, registry: ConnectorRegistry) {
  let byRegistry = topicLists.get(handlers)
  if (!byRegistry) topicLists.set(handlers, (byRegistry = new WeakMap()))
  let lists = byRegistry.get(registry)
  if (!lists) {
    const handled = Object.entries(handlers).flatMap(([connectorId, topics]) => Object.keys(topics).map((t) => `${connectorId} ${t}`))
    const webhookConnectors = registry.all().filter((c) => c.webhook).map((c) => c.id)
    byRegistry.set(registry, (lists = { handled, webhookConnectors }))
  }
  return lists
}

export async function processInbound(hub: Hub, p: ProcessInboundPayload, ctx: Pick<JobContext, 'job' | 'signal'>, opts: ProcessOptions = {}): Promise<ProcessOutcome> {
  const db = hub.database.db
  const handlers = opts.handlers ?? inboundHandlers
  const registry = opts.registry ?? connectorRegistry
  const scope = and(eq(inboundWebhooks.id, p.inboundId), eq(inboundWebhooks.merchantId, p.merchantId), eq(inboundWebhooks.connectionId, p.connectionId))

  // One statement, committed at once (and kept if the worker dies): the event is being worked on for the n-th
  // time; it also reads what the attempt needs of the event and of its connection. An event no handler wants
  // (its topic was parsed and stored at acceptance) of a usable connection is settled as 'ignored' right here.
  const { handled, webhookConnectors } = handledTopics(handlers, registry)
  const ignore = sql`(c.enabled and c.deleted_at is null and c.connector_id = any(${sql.param(webhookConnectors)}::text[])
                      and not (c.connector_id || ' ' || w.topic = any(${sql.param(handled)}::text[])))`
  const { rows } = await executeNamed<Claimed>(db, 'inbound_webhooks_claim', sql`
    update inbound_webhooks w
       set attempts = w.attempts + 1,
           status = case when ${ignore} then 'ignored' else 'processing' end,
           processed_at = case when ${ignore} then ${hub.clock().toISOString()}::timestamptz else w.processed_at end,
           last_error = case when ${ignore} then null else w.last_error end
      from connections c
     where w.id = ${p.inboundId}::uuid and w.merchant_id = ${p.merchantId}::uuid and w.connection_id = ${p.connectionId}::uuid
       and c.id = w.connection_id and w.status not in ('processed', 'ignored')
    returning w.id::text, w.merchant_id::text, w.connection_id::text, w.status, w.headers, w.body, w.body_encoding, w.received_at, w.deliveries, w.attempts,
              c.connector_id, c.name as connection_name, c.enabled, c.deleted_at is not null as deleted`)
  const claimed = rows[0]
  if (!claimed) {
    // Done already (a duplicate run), or not this merchant's event: nothing to do either way.
    hub.logger.debug({ inboundId: p.inboundId }, 'inbound webhook already processed or not found')
    return 'skipped'
  }
  if (claimed.status === 'ignored') return 'ignored'

  let connection: LoadedConnection | undefined
  try {
    if (claimed.deleted) throw new ProcessingDeferred(`connection ${p.connectionId} was deleted; the event cannot be processed unless it is restored`)
    if (!claimed.enabled) throw new ProcessingDeferred(`connection ${claimed.connection_name} is disabled; enable it and replay the event`)
    const connector = registry.get(claimed.connector_id)
    if (!connector?.webhook) throw new ProcessingDeferred(`connector ${claimed.connector_id} is not available or no longer takes webhooks`)
    const event = connector.webhook.parse({ rawBody: decodeBody(claimed.body, claimed.body_encoding), headers: claimed.headers, url: `/webhooks/${claimed.connection_id}` })
    const handler = findInboundHandler(handlers, connector.id, event.topic)
    if (!handler) {
      await db
        .update(inboundWebhooks)
        .set({ status: 'ignored', processedAt: hub.clock(), lastError: null })
        .where(and(scope, eq(inboundWebhooks.status, 'processing')))
      return 'ignored'
    }

    return await db.transaction(async (tx) => {
      // The row lock makes a second run of this event (a replay racing a retry) wait, then find the work done.
      const [row] = await tx.select({ status: inboundWebhooks.status }).from(inboundWebhooks).where(scope).for('update')
      if (!row || row.status !== 'processing') return 'skipped'
      try {
        connection = await loadConnection(tx, registry, hub.secrets, p.connectionId, p.merchantId)
      } catch (e) {
        if (isDomainError(e) && e.code === 'connection_not_found') throw new ProcessingDeferred(`connection ${p.connectionId} was deleted; the event cannot be processed unless it is restored`)
        throw e
      }
      if (!connection.row.enabled) throw new ProcessingDeferred(`connection ${connection.row.name} is disabled; enable it and replay the event`)
      const verdict =
        (await handler({
          hub,
          tx,
          merchantId: claimed.merchant_id,
          connection,
          event,
          inbound: { id: claimed.id, receivedAt: new Date(claimed.received_at), deliveries: claimed.deliveries, attempts: claimed.attempts },
          signal: ctx.signal,
        })) ?? 'processed'
      await tx.update(inboundWebhooks).set({ status: verdict, processedAt: hub.clock(), lastError: null }).where(eq(inboundWebhooks.id, claimed.id))
      return verdict
    })
  } catch (e) {
    const message = safeError(e, connection?.secretValues ?? [])
    const last = ctx.job.attempts >= ctx.job.maxAttempts
    // Its own statement: the processing transaction rolled back, this record of why must not.
    await db
      .update(inboundWebhooks)
      .set({ status: last ? 'failed' : 'received', lastError: message })
      .where(and(scope, eq(inboundWebhooks.status, 'processing')))
    hub.logger.warn({ inboundId: p.inboundId, connectionId: p.connectionId, attempt: ctx.job.attempts, maxAttempts: ctx.job.maxAttempts, error: message }, last ? 'inbound webhook failed for good' : 'inbound webhook processing failed; will retry')
    // graphile-worker keeps and logs this message: the masked one, never the original.
    throw new Error(message)
  }
}

export function createProcessInboundTask(opts: ProcessOptions = {}) {
  return defineTask({
    name: PROCESS_TASK,
    payload: Payload,
    async run(payload, ctx) {
      await processInbound(ctx.hub, payload, ctx, opts)
    },
  })
}

export const processInboundTask = createProcessInboundTask()

export const tasks = [processInboundTask]
