// Staff users, their login sessions, machine API keys and the append-only audit log.
import { sql } from 'drizzle-orm'
import { bigint, check, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'
import type { Role } from './permissions.ts'

export const users = pgTable(
  'users',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: text('role').$type<Role>().notNull(),
    passwordHash: text('password_hash').notNull(),
    status: text('status').$type<'active' | 'disabled'>().notNull().default('active'),
    failedLogins: integer('failed_logins').notNull().default(0),
    lockedUntil: timestamptz('locked_until'),
    lastLoginAt: timestamptz('last_login_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Login is by email alone, so an email names one user across all merchants.
    uniqueIndex('users_email_key').on(sql`lower(${t.email})`),
    index('users_merchant_idx').on(t.merchantId),
    check('users_role_check', sql`${t.role} in ('cashier', 'manager', 'finance', 'admin')`),
    check('users_status_check', sql`${t.status} in ('active', 'disabled')`),
  ],
)

export const sessions = pgTable(
  'sessions',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    userId: uuid('user_id').notNull().references(() => users.id),
    tokenHash: text('token_hash').notNull(),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at').notNull(),
    lastUsedAt: timestamptz('last_used_at'),
    revokedAt: timestamptz('revoked_at'),
  },
  (t) => [uniqueIndex('sessions_token_hash_key').on(t.tokenHash), index('sessions_user_idx').on(t.userId)],
)

export const apiKeys = pgTable(
  'api_keys',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    name: text('name').notNull(),
    role: text('role').$type<Role>().notNull(),
    /** The first characters of the key, shown in lists so a person can tell keys apart. */
    prefix: text('prefix').notNull(),
    tokenHash: text('token_hash').notNull(),
    createdBy: uuid('created_by'),
    createdAt: createdAt(),
    expiresAt: timestamptz('expires_at'),
    lastUsedAt: timestamptz('last_used_at'),
    revokedAt: timestamptz('revoked_at'),
  },
  (t) => [
    uniqueIndex('api_keys_token_hash_key').on(t.tokenHash),
    index('api_keys_merchant_idx').on(t.merchantId),
    check('api_keys_role_check', sql`${t.role} in ('cashier', 'manager', 'finance', 'admin')`),
  ],
)

/** Append-only: a trigger in the migrations refuses UPDATE and DELETE. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId().references(() => merchants.id),
    at: createdAt(),
    actorType: text('actor_type').$type<'user' | 'api_key' | 'system'>().notNull(),
    actorId: uuid('actor_id'),
    actorName: text('actor_name'),
    /** A second person who approved the action (manager override), when there was one. */
    approverId: uuid('approver_id'),
    action: text('action').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id'),
    details: jsonb('details').$type<Record<string, unknown>>().notNull().default({}),
    requestId: text('request_id'),
  },
  (t) => [
    index('audit_log_merchant_idx').on(t.merchantId, t.id),
    index('audit_log_entity_idx').on(t.merchantId, t.entityType, t.entityId),
    check('audit_log_actor_type_check', sql`${t.actorType} in ('user', 'api_key', 'system')`),
  ],
)
