// Till PINs: short numeric codes staff type at a register to sign in, clock in and out, or approve a colleague's
// action. A PIN alone names its user within a merchant, so it is stored as a keyed MAC (looked up, never readable,
// unique per merchant), trivial PINs are refused, and guessing is throttled per register (or per caller, for
// approver PINs): after `maxFailures` failures within `windowMs` the register is locked for `lockMs` (429).
//
// The MAC key is derived from the hub's secret key (SecretBox.mac). After a key rotation PINs keep working while
// the old key stays in TILLBRIDGE_SECRET_KEY, and each PIN moves to the new key the next time it is used; PINs not
// used before the old key is dropped must be set again.
import { and, eq, inArray, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, forbidden, invalid, notFound, rateLimited, unauthorized } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { randomToken, sha256Hex, type SecretBox } from '../../lib/secrets.ts'
import { registers } from '../stores/schema.ts'
import { actorCan, type Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { SESSION_PREFIX } from './auth.ts'
import { verifyPassword } from './passwords.ts'
import type { Role } from './permissions.ts'
import { pinThrottle, sessions, users } from './schema.ts'
import { assertRoleWithinGrants } from './matrix.ts'
import type { UserRow } from './users.ts'
import { countFailure } from './throttle.ts'

export interface PinPolicy {
  /** Failed PINs within `windowMs` after which the register (or caller) is locked. */
  maxFailures: number
  windowMs: number
  lockMs: number
  /** Lifetime of a session opened with a PIN (shorter than a password session). */
  sessionMs: number
}

export const DEFAULT_PIN_POLICY: PinPolicy = { maxFailures: 5, windowMs: 15 * 60_000, lockMs: 5 * 60_000, sessionMs: 8 * 3600_000 }

export const PIN_PATTERN = /^\d{4,8}$/
const PURPOSE = 'staff-pin'

// Codes people pick first, beyond the patterns below (keypad columns and diagonals, years, doubled pairs).
const COMMON = new Set(['2580', '0852', '1470', '3690', '1357', '2468', '1122', '1010', '2000', '1004', '6969', '1999', '2001', '112233', '147258', '159753'])

/** Why a PIN is not acceptable, or null: 4–8 digits, not one digit repeated, not a run (1234, 9876), not a repeated block (1212, 123123), not a well-known code. */
export function pinProblem(pin: string): string | null {
  if (!PIN_PATTERN.test(pin)) return 'a PIN is 4 to 8 digits'
  const d = [...pin].map(Number)
  const steps = new Set(d.slice(1).map((x, i) => x - d[i]!))
  if (steps.size === 1 && [0, 1, -1].includes([...steps][0]!)) return 'a PIN must not be one digit repeated or a run of digits'
  for (let len = 1; len <= pin.length / 2; len++) {
    if (pin.length % len === 0 && pin.slice(0, len).repeat(pin.length / len) === pin) return 'a PIN must not repeat a block of digits'
  }
  if (COMMON.has(pin)) return 'this PIN is too common'
  return null
}

const pinText = (merchantId: string, pin: string) => `${merchantId}:${pin}`

/** The active user of a merchant whose PIN this is; re-MACs it under the current key when it matched an older one. */
export async function findUserByPin(tx: Tx, secrets: SecretBox, merchantId: string, pin: string): Promise<UserRow | undefined> {
  if (!PIN_PATTERN.test(pin)) return undefined
  const candidates = secrets.macs(PURPOSE, pinText(merchantId, pin))
  const rows = await tx.select().from(users).where(and(eq(users.merchantId, merchantId), inArray(users.pinHmac, candidates), eq(users.status, 'active')))
  const user = rows.sort((a, b) => candidates.indexOf(a.pinHmac!) - candidates.indexOf(b.pinHmac!))[0]
  if (user && user.pinHmac !== candidates[0]) {
    await tx.update(users).set({ pinHmac: candidates[0]! }).where(and(eq(users.id, user.id), eq(users.pinHmac, user.pinHmac!)))
    return { ...user, pinHmac: candidates[0]! }
  }
  return user
}

/**
 * Sets or clears (pin null) a user's PIN. Staff managers may do it for anyone; a user may for themselves, with
 * their password to set one. The PIN must be unique in the merchant, because it alone names its user at the till.
 */
export async function changePin(
  tx: Tx,
  actor: Actor,
  secrets: SecretBox,
  userId: string,
  pin: string | null,
  /** `passwordConfirmed`: the caller checked it already (confirmOwnPassword, which counts a wrong one). */
  opts: { password?: string; passwordConfirmed?: boolean } = {},
): Promise<UserRow> {
  const [user] = await tx.select().from(users).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, userId))).for('update')
  const manages = actorCan(actor, 'staff.manage').ok
  const self = actor.type === 'user' && actor.id === userId
  if (!manages && !self) throw forbidden('permission_denied', `role ${actor.role} may only change its own PIN`, { permission: 'staff.manage' })
  if (!user) throw notFound('user', userId)
  // Someone else's PIN signs in as them: a manager sets it only for a user within their own rights.
  const approverId = self ? null : await assertRoleWithinGrants(tx, actor, user.role as Role, `user ${user.email} (${user.role})`)
  if (!manages && pin !== null) {
    if (opts.password === undefined) throw invalid('password_required', 'give your password to set your own PIN')
    if (!opts.passwordConfirmed && !(await verifyPassword(user.passwordHash, opts.password))) throw forbidden('invalid_password', 'the password is wrong')
  }
  if (pin === null) {
    const [after] = await tx.update(users).set({ pinHmac: null, updatedAt: new Date() }).where(eq(users.id, userId)).returning()
    if (user.pinHmac !== null) await recordAudit(tx, actor, { action: 'user.pin_cleared', entityType: 'user', entityId: userId, approverId })
    return after!
  }
  const problem = pinProblem(pin)
  if (problem) throw invalid('weak_pin', problem)
  const candidates = secrets.macs(PURPOSE, pinText(actor.merchantId, pin))
  const [taken] = await tx
    .select({ id: users.id })
    .from(users)
    .where(and(eq(users.merchantId, actor.merchantId), inArray(users.pinHmac, candidates), ne(users.id, userId)))
  // Unavoidable with PIN-only sign-in: the setter learns that someone has this PIN (not who); changes are audited.
  const unavailable = () => conflict('pin_unavailable', 'this PIN cannot be used; choose another')
  if (taken) throw unavailable()
  let after: UserRow
  try {
    ;[after] = (await tx.update(users).set({ pinHmac: candidates[0]!, updatedAt: new Date() }).where(eq(users.id, userId)).returning()) as [UserRow]
  } catch (e) {
    if (isUniqueViolation(e, 'users_pin_key')) throw unavailable()
    throw e
  }
  await recordAudit(tx, actor, { action: 'user.pin_set', entityType: 'user', entityId: userId, approverId, details: { by: self ? 'self' : 'manager' } })
  return after
}

// ─── Throttling ────────────────────────────────────────────────────────────────────────────────────────────────

const secondsUntil = (until: Date, now: Date) => Math.max(1, Math.ceil((until.getTime() - now.getTime()) / 1000))

/** The lock on a throttle key (a register, or a caller trying approver PINs), if one is in force. */
export async function pinLockedUntil(tx: Tx, key: string, now: Date): Promise<Date | null> {
  const [row] = await tx.select({ lockedUntil: pinThrottle.lockedUntil }).from(pinThrottle).where(eq(pinThrottle.registerId, key))
  return row?.lockedUntil && row.lockedUntil > now ? row.lockedUntil : null
}

/** Counts a failed PIN against a register, or a caller trying approver PINs (see throttle.ts for the rule). */
export const countPinFailure = (tx: Tx, key: string, merchantId: string, now: Date, policy: PinPolicy) =>
  countFailure(tx, { table: 'pin_throttle', keyColumn: 'register_id', key, extra: { merchant_id: merchantId } }, now, policy)

export const pinLocked = (until: Date, now: Date) => rateLimited('pin_locked', `too many wrong PINs; try again in ${Math.ceil(secondsUntil(until, now) / 60)} minute(s)`, secondsUntil(until, now))

// ─── Sign-in at a register ─────────────────────────────────────────────────────────────────────────────────────

export type Register = typeof registers.$inferSelect

const badPin = () => unauthorized('invalid_pin', 'the PIN is wrong, or the register is unknown or inactive')

/** The register's own name in the audit log, for attempts no user can be named for. */
const registerActor = (r: Register): Actor => ({ type: 'system', id: null, name: `register ${r.code}`, merchantId: r.merchantId, role: 'cashier' })

/**
 * Finds the user whose PIN was typed at a register, counting failures per register. Runs on the pool, outside
 * any request transaction, so failures are counted even though the request fails. Every attempt is audited.
 */
export async function identifyByPin(
  db: Tx,
  secrets: SecretBox,
  input: { registerId: string; pin: string; purpose: string },
  policy: PinPolicy,
  now: Date,
): Promise<{ user: UserRow; register: Register }> {
  const [register] = await db.select().from(registers).where(eq(registers.id, input.registerId))
  if (!register || !register.active) throw badPin()
  const locked = await pinLockedUntil(db, register.id, now)
  if (locked) {
    await recordAudit(db, registerActor(register), { action: 'auth.pin_failed', entityType: 'register', entityId: register.id, details: { purpose: input.purpose, reason: 'locked' } })
    throw pinLocked(locked, now)
  }
  const user = await findUserByPin(db, secrets, register.merchantId, input.pin)
  if (!user) {
    const t = await countPinFailure(db, register.id, register.merchantId, now, policy)
    await recordAudit(db, registerActor(register), { action: 'auth.pin_failed', entityType: 'register', entityId: register.id, details: { purpose: input.purpose, failures: t.failures, locked: t.lockedUntil !== null } })
    if (t.lockedUntil) throw pinLocked(t.lockedUntil, now)
    throw badPin()
  }
  return { user, register }
}

export interface PinLoginResult {
  token: string
  expiresAt: Date
  user: UserRow
  registerId: string
}

/** Signs a user in at a register with their PIN: a session shorter-lived than a password session. */
export async function pinLogin(db: Tx, secrets: SecretBox, input: { registerId: string; pin: string }, policy: PinPolicy = DEFAULT_PIN_POLICY, now = new Date()): Promise<PinLoginResult> {
  const { user, register } = await identifyByPin(db, secrets, { ...input, purpose: 'login' }, policy, now)
  const token = randomToken(SESSION_PREFIX)
  const expiresAt = new Date(now.getTime() + policy.sessionMs)
  const actor: Actor = { type: 'user', id: user.id, name: user.email, merchantId: user.merchantId, role: user.role as Role }
  await db.transaction(async (tx) => {
    await tx.update(users).set({ lastLoginAt: now }).where(eq(users.id, user.id))
    await tx.insert(sessions).values({ id: newId(), merchantId: user.merchantId, userId: user.id, tokenHash: sha256Hex(token), createdAt: now, expiresAt })
    await recordAudit(tx, actor, { action: 'auth.pin_login', entityType: 'user', entityId: user.id, details: { registerId: register.id, registerCode: register.code } })
  })
  return { token, expiresAt, user: { ...user, lastLoginAt: now }, registerId: register.id }
}
