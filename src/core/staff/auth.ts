// Sign-in with email and password, bearer tokens for sessions and API keys, and the slow-down/lockout that
// makes guessing passwords impractical.
import { and, eq, isNull, lt, or, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { forbidden, rateLimited, unauthorized } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { randomToken, sha256Hex } from '../../lib/secrets.ts'
import type { Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { burnVerifyTime, verifyPassword } from './passwords.ts'
import { grantsFromOverrides, roleOverridesJson, type RoleOverridesJson } from './matrix.ts'
import { isRole, type Role } from './permissions.ts'
import { apiKeys, sessions, signInThrottle, users } from './schema.ts'
import type { UserRow } from './users.ts'
import { countFailure, type FailureWindow } from './throttle.ts'

export const SESSION_PREFIX = 'tbs_'
export const API_KEY_PREFIX = 'tbk_'

export interface LoginPolicy {
  /** Failed attempts in a row after which each further failure is answered slowly. */
  slowAfter: number
  /** Failed attempts in a row after which the account is locked. */
  lockAfter: number
  lockMs: number
  /** Delay of the first slowed answer; it doubles with each further failure, up to `maxDelayMs`. */
  delayMs: number
  maxDelayMs: number
  sessionMs: number
  /** Failed sign-ins from one client address, whatever the account; unset, DEFAULT_ADDRESS_POLICY. */
  perAddress?: AddressPolicy
}

/** Failures from one address, each within `windowMs` of the one before, after which it may not sign in for `lockMs`. */
export type AddressPolicy = FailureWindow

export const DEFAULT_ADDRESS_POLICY: AddressPolicy = { maxFailures: 30, windowMs: 15 * 60_000, lockMs: 15 * 60_000 }

export const DEFAULT_LOGIN_POLICY: LoginPolicy = {
  slowAfter: 3,
  lockAfter: 10,
  lockMs: 15 * 60_000,
  delayMs: 500,
  maxDelayMs: 8000,
  sessionMs: 12 * 3600_000,
}

export interface Principal extends Actor {
  type: 'user' | 'api_key'
  id: string
  role: Role
  sessionId?: string
  /** Set for a key scoped to one store's devices (the bridge's key). */
  storeId?: string
}

export interface LoginResult {
  token: string
  expiresAt: Date
  user: UserRow
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const addressLocked = (until: Date, now: Date) => {
  const wait = Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000))
  return rateLimited('login_throttled', `too many failed sign-ins from this address; try again in ${Math.ceil(wait / 60)} minute(s)`, wait)
}

/** Counts a failed sign-in from an address, whatever the account (see throttle.ts for the rule). */
const countAddressFailure = (db: Tx, address: string, now: Date, p: AddressPolicy) => countFailure(db, { table: 'sign_in_throttle', keyColumn: 'address', key: address }, now, p)

const badCredentials = () => unauthorized('invalid_credentials', 'email or password is wrong')

const accountLocked = (user: { lockedUntil: Date | null }, now: Date) => {
  if (!user.lockedUntil || user.lockedUntil <= now) return null
  const wait = Math.ceil((user.lockedUntil.getTime() - now.getTime()) / 1000)
  return rateLimited('login_locked', `too many failed sign-ins; try again in ${Math.ceil(wait / 60)} minute(s)`, wait)
}

/**
 * Counts a wrong password against its account: after `lockAfter` in a row the account is locked (thrown), after
 * `slowAfter` each answer is slower. Counted atomically, so parallel guesses are all counted; a lock that has run
 * out starts the count again. Runs on the pool: the request that failed rolls back, the count must not.
 */
async function countAccountFailure(db: Tx, user: UserRow, policy: LoginPolicy, now: Date): Promise<void> {
  const actor: Actor = { type: 'user', id: user.id, name: user.email, merchantId: user.merchantId, role: user.role as Role }
  const at = now.toISOString()
  const counted = sql`(case when ${users.lockedUntil} <= ${at}::timestamptz then 0 else ${users.failedLogins} end + 1)`
  const [row] = await db
    .update(users)
    .set({
      failedLogins: counted,
      lockedUntil: sql`case when ${counted} >= ${policy.lockAfter} then ${new Date(now.getTime() + policy.lockMs).toISOString()}::timestamptz else null end`,
    })
    .where(eq(users.id, user.id))
    .returning({ failedLogins: users.failedLogins, lockedUntil: users.lockedUntil })
  const failures = row!.failedLogins
  await recordAudit(db, actor, { action: 'auth.login_failed', entityType: 'user', entityId: user.id, details: { failures } })
  if (row!.lockedUntil) {
    if (failures === policy.lockAfter) {
      await recordAudit(db, actor, { action: 'auth.locked', entityType: 'user', entityId: user.id, details: { until: row!.lockedUntil } })
    }
    throw rateLimited('login_locked', `too many failed sign-ins; try again in ${Math.ceil(policy.lockMs / 60_000)} minute(s)`, Math.ceil(policy.lockMs / 1000))
  }
  if (failures > policy.slowAfter) {
    await sleep(Math.min(policy.maxDelayMs, policy.delayMs * 2 ** (failures - policy.slowAfter - 1)))
  }
}

/**
 * A signed-in user's own password, asked again to confirm a change (their PIN): a wrong one counts toward the same
 * lock as a sign-in (else a short PIN session could guess the password without limit), and a locked account is
 * refused (429 login_locked). Runs on the pool, before the request's transaction locks the user.
 */
export async function confirmOwnPassword(db: Tx, userId: string, password: string, policy: LoginPolicy = DEFAULT_LOGIN_POLICY, now = new Date()): Promise<void> {
  const [user] = await db.select().from(users).where(eq(users.id, userId))
  if (!user) throw unauthorized('invalid_token', 'the signed-in user no longer exists')
  const locked = accountLocked(user, now)
  if (locked) throw locked
  if (await verifyPassword(user.passwordHash, password)) return
  await countAccountFailure(db, user, policy, now)
  throw forbidden('invalid_password', 'the password is wrong')
}

/**
 * Checks a password and opens a session. Runs on the pool (not inside a request transaction) because a failed
 * attempt must be counted even though the request fails.
 */
export async function login(
  db: Tx,
  input: { email: string; password: string },
  policy: LoginPolicy = DEFAULT_LOGIN_POLICY,
  now = new Date(),
  /** The client's address (see clientAddress); null when it is not known, and then only the account is throttled. */
  address: string | null = null,
): Promise<LoginResult> {
  const perAddress = policy.perAddress ?? DEFAULT_ADDRESS_POLICY
  if (address) {
    const [held] = await db.select({ lockedUntil: signInThrottle.lockedUntil }).from(signInThrottle).where(eq(signInThrottle.address, address))
    if (held?.lockedUntil && held.lockedUntil > now) throw addressLocked(held.lockedUntil, now)
  }
  const email = input.email.trim().toLowerCase()
  const [user] = await db.select().from(users).where(sql`lower(${users.email}) = ${email}`)
  if (!user) {
    await burnVerifyTime(input.password)
    if (address) await countAddressFailure(db, address, now, perAddress)
    throw badCredentials()
  }
  const locked = accountLocked(user, now)
  if (locked) throw locked
  const actor: Actor = { type: 'user', id: user.id, name: user.email, merchantId: user.merchantId, role: user.role as Role }
  const ok = (await verifyPassword(user.passwordHash, input.password)) && user.status === 'active'
  if (!ok) {
    if (address) await countAddressFailure(db, address, now, perAddress)
    await countAccountFailure(db, user, policy, now)
    throw badCredentials()
  }
  const token = randomToken(SESSION_PREFIX)
  const expiresAt = new Date(now.getTime() + policy.sessionMs)
  await db.transaction(async (tx) => {
    await tx.update(users).set({ failedLogins: 0, lockedUntil: null, lastLoginAt: now }).where(eq(users.id, user.id))
    await tx.insert(sessions).values({ id: newId(), merchantId: user.merchantId, userId: user.id, tokenHash: sha256Hex(token), expiresAt })
    await recordAudit(tx, actor, { action: 'auth.login', entityType: 'user', entityId: user.id })
  })
  return { token, expiresAt, user: { ...user, failedLogins: 0, lockedUntil: null, lastLoginAt: now } }
}

export async function logout(tx: Tx, principal: Principal): Promise<void> {
  if (!principal.sessionId) return
  await tx.update(sessions).set({ revokedAt: new Date() }).where(eq(sessions.id, principal.sessionId))
}

const stale = (lastUsed: Date | null, now: Date) => lastUsed === null || now.getTime() - lastUsed.getTime() > 60_000

/**
 * Resolves a bearer token (session or API key) to who is calling and what their role may do (the merchant's grants,
 * read in the same query), or undefined when it is not valid.
 */
export async function authenticate(db: Tx, token: string, now = new Date()): Promise<Principal | undefined> {
  const hash = sha256Hex(token)
  if (token.startsWith(SESSION_PREFIX)) {
    const [row] = await db
      .select({ s: sessions, u: users, overrides: sql<RoleOverridesJson>`${roleOverridesJson(users.merchantId, users.role)}` })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.tokenHash, hash), isNull(sessions.revokedAt)))
      .prepare('auth_session')
      .execute()
    if (!row || row.s.expiresAt <= now || row.u.status !== 'active' || !isRole(row.u.role)) return undefined
    // Remember use at most once a minute, so reads do not turn into writes.
    if (stale(row.s.lastUsedAt, now)) {
      await db
        .update(sessions)
        .set({ lastUsedAt: now })
        .where(and(eq(sessions.id, row.s.id), or(isNull(sessions.lastUsedAt), lt(sessions.lastUsedAt, new Date(now.getTime() - 60_000)))))
    }
    return { type: 'user', id: row.u.id, name: row.u.email, merchantId: row.u.merchantId, role: row.u.role, sessionId: row.s.id, grants: grantsFromOverrides(row.u.role, row.overrides) }
  }
  if (token.startsWith(API_KEY_PREFIX)) {
    const [row] = await db
      .select({ key: apiKeys, overrides: sql<RoleOverridesJson>`${roleOverridesJson(apiKeys.merchantId, apiKeys.role)}` })
      .from(apiKeys)
      .where(and(eq(apiKeys.tokenHash, hash), isNull(apiKeys.revokedAt)))
      .prepare('auth_api_key')
      .execute()
    if (!row) return undefined
    const key = row.key
    if ((key.expiresAt && key.expiresAt <= now) || !isRole(key.role)) return undefined
    if (stale(key.lastUsedAt, now)) {
      await db
        .update(apiKeys)
        .set({ lastUsedAt: now })
        .where(and(eq(apiKeys.id, key.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, new Date(now.getTime() - 60_000)))))
    }
    return {
      type: 'api_key',
      id: key.id,
      name: key.name,
      merchantId: key.merchantId,
      role: key.role,
      grants: grantsFromOverrides(key.role, row.overrides),
      ...(key.storeId ? { storeId: key.storeId } : {}),
    }
  }
  return undefined
}
