// Staff users, their login sessions, machine API keys and the append-only audit log.
import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, integer, jsonb, pgTable, primaryKey, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
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
    /** HMAC of the till PIN under the hub's key (so it can be looked up, and is unique per merchant); null: no PIN. */
    pinHmac: text('pin_hmac'),
    lockedUntil: timestamptz('locked_until'),
    lastLoginAt: timestamptz('last_login_at'),
    /** The language the user reads the dashboard, API errors and exports in; null: the merchant's locale. */
    locale: text('locale').$type<'zh-CN' | 'zh-TW' | 'en'>(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    // Login is by email alone, so an email names one user across all merchants.
    uniqueIndex('users_email_key').on(sql`lower(${t.email})`),
    uniqueIndex('users_pin_key').on(t.merchantId, t.pinHmac).where(sql`${t.pinHmac} is not null`),
    index('users_merchant_idx').on(t.merchantId),
    check('users_role_check', sql`${t.role} in ('cashier', 'manager', 'finance', 'admin')`),
    check('users_status_check', sql`${t.status} in ('active', 'disabled')`),
    check('users_locale_check', sql`${t.locale} in ('zh-CN', 'zh-TW', 'en')`),
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
    /** A key scoped to one store's devices: it opens that store's bridge link and nothing else. */
    storeId: uuid('store_id'),
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

/** A merchant's changes to the default permission matrix: a permission granted to or taken from a role. */
export const rolePermissions = pgTable(
  'role_permissions',
  {
    merchantId: merchantId().references(() => merchants.id),
    role: text('role').$type<Role>().notNull(),
    permission: text('permission').notNull(),
    allowed: boolean('allowed').notNull(),
    updatedBy: uuid('updated_by'),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.role, t.permission] })],
)

/** Per-role limits a merchant sets (the manual discount limit). */
export const roleLimits = pgTable(
  'role_limits',
  {
    merchantId: merchantId().references(() => merchants.id),
    role: text('role').$type<Role>().notNull(),
    discountLimitBp: integer('discount_limit_bp').notNull(),
    updatedBy: uuid('updated_by'),
    updatedAt: updatedAt(),
  },
  (t) => [primaryKey({ columns: [t.merchantId, t.role] }), check('role_limits_check', sql`${t.discountLimitBp} between 0 and 10000`)],
)

/** Failed PIN sign-ins per register, for slowing down and locking PIN guessing at a till. */
export const pinThrottle = pgTable('pin_throttle', {
  registerId: uuid('register_id').primaryKey(),
  merchantId: merchantId(),
  failures: integer('failures').notNull().default(0),
  lockedUntil: timestamptz('locked_until'),
  updatedAt: updatedAt(),
})

/**
 * Failed sign-ins per client address (an IPv6 client by its /64), across every account: one address guessing
 * passwords of many accounts (password spraying) is held off although no account reaches its own lock.
 */
export const signInThrottle = pgTable('sign_in_throttle', {
  address: text('address').primaryKey(),
  failures: integer('failures').notNull().default(0),
  lockedUntil: timestamptz('locked_until'),
  updatedAt: updatedAt(),
})

/** An action held for a manager's approval; approving runs it, atomically, with the approver on record. */
export const approvalRequests = pgTable(
  'approval_requests',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    action: text('action').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    summary: text('summary').notNull(),
    status: text('status').$type<'pending' | 'approved' | 'rejected' | 'failed' | 'cancelled'>().notNull().default('pending'),
    requestedBy: uuid('requested_by'),
    requestedByType: text('requested_by_type').$type<'user' | 'api_key' | 'system'>().notNull(),
    decidedBy: uuid('decided_by'),
    decidedAt: timestamptz('decided_at'),
    decisionNote: text('decision_note'),
    result: jsonb('result').$type<Record<string, unknown>>(),
    error: jsonb('error').$type<Record<string, unknown>>(),
    createdAt: createdAt(),
  },
  (t) => [index('approval_requests_merchant_idx').on(t.merchantId, t.status, t.createdAt)],
)

/** Clock-in/out and breaks of staff at registers. Append-only. */
export const timeEntries = pgTable(
  'time_entries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId().references(() => merchants.id),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id),
    registerId: uuid('register_id'),
    kind: text('kind').$type<'clock_in' | 'clock_out' | 'break_start' | 'break_end'>().notNull(),
    at: timestamptz('at').notNull(),
    createdAt: createdAt(),
    /** A manager who added the entry by hand (a forgotten clock-out), with why; null for one clocked with a PIN. */
    addedBy: uuid('added_by').references(() => users.id),
    reason: text('reason'),
  },
  (t) => [index('time_entries_user_idx').on(t.merchantId, t.userId, t.at)],
)

/** An entry a manager took back (a break never taken): it no longer counts. Entries themselves are append-only. */
export const timeEntryVoids = pgTable('time_entry_voids', {
  entryId: bigint('entry_id', { mode: 'number' })
    .primaryKey()
    .references(() => timeEntries.id),
  merchantId: merchantId().references(() => merchants.id),
  voidedBy: uuid('voided_by').references(() => users.id),
  reason: text('reason').notNull(),
  voidedAt: timestamptz('voided_at').notNull(),
})
