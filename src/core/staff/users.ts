// Staff users of a merchant. Users are disabled, never deleted, so the audit log keeps naming them.
import { and, asc, count, eq, gt, ne, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, forbidden, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from './actor.ts'
import { recordAudit } from './audit.ts'
import { hashPassword, MIN_PASSWORD_LENGTH } from './passwords.ts'
import type { Role } from './permissions.ts'
import { sessions, users } from './schema.ts'
import { assertRoleWithinGrants } from './matrix.ts'
import { keysetPage } from '../../db/page.ts'

export type UserRow = typeof users.$inferSelect
export type PublicUser = Omit<UserRow, 'passwordHash' | 'failedLogins' | 'lockedUntil' | 'pinHmac'> & { locked: boolean; hasPin: boolean }

export const toPublicUser = (u: UserRow, now = new Date()): PublicUser => {
  const { passwordHash: _p, failedLogins: _f, lockedUntil, pinHmac, ...rest } = u
  return { ...rest, locked: lockedUntil !== null && lockedUntil > now, hasPin: pinHmac !== null }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/

function checkPassword(password: string) {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw invalid('weak_password', `password must have at least ${MIN_PASSWORD_LENGTH} characters`)
  }
}

export interface NewUser {
  email: string
  name: string
  role: Role
  password: string
}

export async function createUser(tx: Tx, actor: Actor, input: NewUser): Promise<UserRow> {
  const email = input.email.trim().toLowerCase()
  if (!EMAIL.test(email)) throw invalid('invalid_email', `${input.email} is not an email address`)
  checkPassword(input.password)
  const approverId = await assertRoleWithinGrants(tx, actor, input.role)
  const [taken] = await tx.select({ id: users.id }).from(users).where(sql`lower(${users.email}) = ${email}`)
  if (taken) throw conflict('email_taken', `a user with email ${email} already exists`)
  const [row] = await tx
    .insert(users)
    .values({
      id: newId(),
      merchantId: actor.merchantId,
      email,
      name: input.name.trim() || email,
      role: input.role,
      passwordHash: await hashPassword(input.password),
    })
    .returning()
  await recordAudit(tx, actor, { action: 'user.created', entityType: 'user', entityId: row!.id, approverId, details: { email, role: input.role } })
  return row!
}

export async function getUser(tx: Tx, merchantId: string, id: string): Promise<UserRow> {
  const [row] = await tx.select().from(users).where(and(eq(users.merchantId, merchantId), eq(users.id, id)))
  if (!row) throw notFound('user', id)
  return row
}

export async function listUsers(tx: Tx, merchantId: string, opts: { after?: string; limit: number; status?: 'active' | 'disabled' }) {
  const rows = await tx
    .select()
    .from(users)
    .where(and(eq(users.merchantId, merchantId), opts.after ? gt(users.id, opts.after) : undefined, opts.status ? eq(users.status, opts.status) : undefined))
    .orderBy(asc(users.id))
    .limit(opts.limit + 1)
  return keysetPage(rows, opts.limit, (r) => r.id)
}

/** A merchant must keep at least one active admin, or nobody could manage it any more. */
async function assertOtherActiveAdmin(tx: Tx, merchantId: string, userId: string) {
  const [row] = await tx
    .select({ n: count() })
    .from(users)
    .where(and(eq(users.merchantId, merchantId), eq(users.role, 'admin'), eq(users.status, 'active'), ne(users.id, userId)))
  if (!row || row.n === 0) throw conflict('last_admin', 'this is the last active admin of the merchant')
}

export interface UserChanges {
  name?: string
  role?: Role
  status?: 'active' | 'disabled'
  password?: string
  /** Clears a login lockout. */
  unlock?: boolean
}

export async function updateUser(tx: Tx, actor: Actor, id: string, changes: UserChanges): Promise<UserRow> {
  const [before] = await tx.select().from(users).where(and(eq(users.merchantId, actor.merchantId), eq(users.id, id))).for('update')
  if (!before) throw notFound('user', id)
  // Both the role the user holds and the role they are given must fit the actor's grants (with a second person's):
  // each is checked on its own, whatever the other needed.
  const forCurrent = await assertRoleWithinGrants(tx, actor, before.role as Role, `user ${before.email} (${before.role})`)
  const forNew = changes.role !== undefined && changes.role !== before.role ? await assertRoleWithinGrants(tx, actor, changes.role) : null
  const approverId = forCurrent ?? forNew
  if (approverId !== null && approverId === before.id) {
    throw forbidden('approver_is_subject', `${before.email} cannot be the second person to a change of their own account`)
  }
  const losesAdmin =
    before.role === 'admin' && before.status === 'active' && ((changes.role && changes.role !== 'admin') || changes.status === 'disabled')
  if (losesAdmin) {
    // Lock the merchant's admins so two concurrent demotions cannot both pass the check.
    await tx.execute(sql`select id from users where merchant_id = ${actor.merchantId} and role = 'admin' for update`)
    await assertOtherActiveAdmin(tx, actor.merchantId, id)
  }
  const set: Partial<typeof users.$inferInsert> = { updatedAt: new Date() }
  if (changes.name !== undefined) set.name = changes.name.trim()
  if (changes.role !== undefined) set.role = changes.role
  if (changes.status !== undefined) set.status = changes.status
  if (changes.password !== undefined) {
    checkPassword(changes.password)
    set.passwordHash = await hashPassword(changes.password)
  }
  if (changes.unlock) Object.assign(set, { failedLogins: 0, lockedUntil: null })
  const [after] = await tx.update(users).set(set).where(eq(users.id, id)).returning()
  if (changes.status === 'disabled' || changes.password !== undefined) {
    await tx.update(sessions).set({ revokedAt: new Date() }).where(and(eq(sessions.userId, id), sql`${sessions.revokedAt} is null`))
  }
  const changed: Record<string, unknown> = {}
  if (changes.name !== undefined && changes.name !== before.name) changed.name = { from: before.name, to: after!.name }
  if (changes.role !== undefined && changes.role !== before.role) changed.role = { from: before.role, to: changes.role }
  if (changes.status !== undefined && changes.status !== before.status) changed.status = { from: before.status, to: changes.status }
  if (changes.password !== undefined) changed.password = 'changed'
  if (changes.unlock) changed.unlocked = true
  // A role change and a disable in one request are both on the log, each under its own action.
  const actions = [changed.role ? 'user.role_changed' : null, changes.status === 'disabled' ? 'user.disabled' : null].filter((a): a is string => a !== null)
  for (const action of actions.length ? actions : ['user.updated']) await recordAudit(tx, actor, { action, entityType: 'user', entityId: id, approverId, details: changed })
  return after!
}

export const disableUser = (tx: Tx, actor: Actor, id: string) => updateUser(tx, actor, id, { status: 'disabled' })
