// Tables of the connector framework: connections (configured instances of a connector), their call log, and the
// sync state of every integration (checkpoints per stream, a run record per job run, bindings of local records to
// external ones).
import { bigint, boolean, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { sql } from 'drizzle-orm'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../../db/columns.ts'
import { merchants } from '../../core/merchants/schema.ts'

export const connections = pgTable(
  'connections',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    connectorId: text('connector_id').notNull(),
    name: text('name').notNull(),
    /** The non-secret part of the config, as validated by the connector's schema. */
    config: jsonb('config').$type<Record<string, unknown>>().notNull(),
    /** The secret fields, JSON sealed with the hub's secret box (never returned by the API). */
    sealedSecrets: text('sealed_secrets'),
    enabled: boolean('enabled').notNull().default(true),
    /** 'untested' | 'ok' | 'failing' — the verdict of the last check. */
    status: text('status').notNull().default('untested'),
    /** Counts the changes of config a person made: a check's verdict is kept only for the config it checked. */
    configVersion: integer('config_version').notNull().default(0),
    lastCheckAt: timestamptz('last_check_at'),
    lastCheck: jsonb('last_check').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
    deletedAt: timestamptz('deleted_at'),
  },
  (t) => [
    index('connections_merchant_idx').on(t.merchantId, t.connectorId),
    uniqueIndex('connections_name_key').on(t.merchantId, t.name).where(sql`${t.deletedAt} is null`),
  ],
)

/** Every outgoing vendor call, redacted; kept for `connectorCallRetentionDays`. */
export const connectorCalls = pgTable(
  'connector_calls',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull(),
    operation: text('operation'),
    method: text('method').notNull(),
    url: text('url').notNull(),
    attempt: integer('attempt').notNull().default(1),
    statusCode: integer('status_code'),
    /** 'ok' | 'retryable' | 'rate_limited' | 'auth_failed' | 'permanent' | 'circuit_open' */
    outcome: text('outcome').notNull(),
    durationMs: integer('duration_ms').notNull(),
    requestExcerpt: text('request_excerpt'),
    responseExcerpt: text('response_excerpt'),
    error: text('error'),
    createdAt: createdAt(),
  },
  (t) => [index('connector_calls_connection_idx').on(t.connectionId, t.id), index('connector_calls_created_idx').on(t.createdAt)],
)

/** The cursor of one stream of a connection, saved only after the data it covers is stored. */
export const syncCheckpoints = pgTable(
  'sync_checkpoints',
  {
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull().references(() => connections.id),
    stream: text('stream').notNull(),
    checkpoint: jsonb('checkpoint').$type<Record<string, string | number | boolean | null>>().notNull(),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.connectionId, t.stream] })],
)

export const syncRuns = pgTable(
  'sync_runs',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull().references(() => connections.id),
    stream: text('stream').notNull(),
    jobId: text('job_id'),
    /** 'running' | 'succeeded' | 'failed' */
    status: text('status').notNull(),
    counts: jsonb('counts').$type<Record<string, number>>().notNull().default({}),
    error: text('error'),
    startedAt: timestamptz('started_at').notNull(),
    finishedAt: timestamptz('finished_at'),
  },
  (t) => [index('sync_runs_connection_idx').on(t.connectionId, t.stream, t.startedAt)],
)

/** A local record bound to its counterpart in a connected system. */
export const bindings = pgTable(
  'bindings',
  {
    id: id(),
    merchantId: merchantId(),
    connectionId: uuid('connection_id').notNull().references(() => connections.id),
    entityType: text('entity_type').notNull(),
    localId: text('local_id').notNull(),
    externalId: text('external_id'),
    /** Further ids the vendor needs (variant id, inventory item id, location id, …). */
    externalIds: jsonb('external_ids').$type<Record<string, string>>().notNull().default({}),
    lastPushed: jsonb('last_pushed').$type<unknown>(),
    lastPushedAt: timestamptz('last_pushed_at'),
    lastSeen: jsonb('last_seen').$type<unknown>(),
    lastSeenAt: timestamptz('last_seen_at'),
    /** 'ok' | 'pending' | 'error' | 'drift' | 'unmapped' */
    status: text('status').notNull().default('pending'),
    lastError: text('last_error'),
    syncedAt: timestamptz('synced_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('bindings_local_key').on(t.connectionId, t.entityType, t.localId),
    index('bindings_external_idx').on(t.connectionId, t.entityType, t.externalId),
    index('bindings_status_idx').on(t.connectionId, t.status),
  ],
)
