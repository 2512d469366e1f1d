// Tables of the hub's own machinery that belong to no business area.
import { integer, jsonb, pgTable, primaryKey, text, uuid } from 'drizzle-orm/pg-core'
import { createdAt, merchantId, timestamptz } from './columns.ts'

/** Stored results of mutating API calls, keyed by the caller's Idempotency-Key (DESIGN invariant 3). */
export const idempotencyKeys = pgTable(
  'idempotency_keys',
  {
    merchantId: merchantId(),
    key: text('key').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(),
    requestHash: text('request_hash').notNull(),
    statusCode: integer('status_code').notNull(),
    responseBody: text('response_body').notNull(),
    responseHeaders: jsonb('response_headers').$type<Record<string, string>>().notNull().default({}),
    principalId: uuid('principal_id'),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.key] })],
)

/** Each worker process says it is alive here, so an API-only process can report worker health. */
export const workerHeartbeats = pgTable('worker_heartbeats', {
  workerId: text('worker_id').primaryKey(),
  hostname: text('hostname').notNull(),
  pid: integer('pid').notNull(),
  startedAt: timestamptz('started_at').notNull(),
  seenAt: timestamptz('seen_at').notNull(),
})
