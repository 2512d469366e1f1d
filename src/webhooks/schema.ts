// Inbound webhooks (stored once per connection and vendor event id, then processed by a job) and outbound
// webhooks (merchant subscriptions to hub events, one delivery per subscription and event, every attempt logged).
import { bigint, boolean, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../db/columns.ts'
import { merchants } from '../core/merchants/schema.ts'
import { connections } from '../connectors/framework/schema.ts'

export const inboundWebhooks = pgTable(
  'inbound_webhooks',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull().references(() => connections.id),
    vendorEventId: text('vendor_event_id').notNull(),
    topic: text('topic').notNull(),
    /** Request headers with credentials removed. */
    headers: jsonb('headers').$type<Record<string, string>>().notNull(),
    /** The raw body exactly as received (base64 when it is not UTF-8 text). */
    body: text('body').notNull(),
    bodyEncoding: text('body_encoding').notNull().default('utf8'),
    /** 'received' | 'processing' | 'processed' | 'ignored' | 'failed' */
    status: text('status').notNull().default('received'),
    deliveries: integer('deliveries').notNull().default(1),
    attempts: integer('attempts').notNull().default(0),
    lastError: text('last_error'),
    receivedAt: timestamptz('received_at').notNull().defaultNow(),
    lastReceivedAt: timestamptz('last_received_at').notNull().defaultNow(),
    processedAt: timestamptz('processed_at'),
  },
  (t) => [
    uniqueIndex('inbound_webhooks_event_key').on(t.connectionId, t.vendorEventId),
    index('inbound_webhooks_merchant_idx').on(t.merchantId, t.receivedAt),
    index('inbound_webhooks_status_idx').on(t.connectionId, t.status),
  ],
)

export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    url: text('url').notNull(),
    description: text('description'),
    /** Event types delivered; '*' for all. */
    eventTypes: text('event_types').array().notNull(),
    /** The signing secret (`whsec_…`), sealed. */
    sealedSecret: text('sealed_secret').notNull(),
    enabled: boolean('enabled').notNull().default(true),
    /** When its receiver began failing every attempt (cleared by a delivery that gets through). */
    failingSince: timestamptz('failing_since'),
    /** Why the hub switched it off ('failing'); null when on, or switched off by a person. */
    disabledReason: text('disabled_reason').$type<'failing'>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: timestamptz('deleted_at'),
  },
  (t) => [index('webhook_subscriptions_merchant_idx').on(t.merchantId)],
)

export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: id(),
    merchantId: merchantId(),
    subscriptionId: uuid('subscription_id').notNull().references(() => webhookSubscriptions.id),
    eventId: bigint('event_id', { mode: 'number' }).notNull(),
    eventType: text('event_type').notNull(),
    /** The Standard Webhooks message id (`webhook-id`), the same on every attempt. */
    messageId: text('message_id').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    /** 'pending' | 'succeeded' | 'failed' (parked after the last attempt) */
    status: text('status').notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamptz('next_attempt_at'),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    deliveredAt: timestamptz('delivered_at'),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_event_key').on(t.subscriptionId, t.eventId),
    index('webhook_deliveries_subscription_idx').on(t.subscriptionId, t.createdAt),
    index('webhook_deliveries_status_idx').on(t.merchantId, t.status),
  ],
)

export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    deliveryId: uuid('delivery_id').notNull().references(() => webhookDeliveries.id),
    attempt: integer('attempt').notNull(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    responseExcerpt: text('response_excerpt'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [index('webhook_attempts_delivery_idx').on(t.deliveryId, t.attempt)],
)
