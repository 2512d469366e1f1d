// A merchant's permission matrix: the defaults of permissions.ts overlaid with the merchant's own changes
// (role_permissions: a permission granted to or taken from a role; role_limits: the manual discount limit).
// Only differences from the defaults are stored, so a permission added to the code later takes its default.
import { and, eq, sql, type SQL, type SQLWrapper } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { executeNamed } from '../../db/prepared.ts'
import { forbidden, invalid } from '../../lib/errors.ts'
import { grantsOf, type Actor, type Grants } from './actor.ts'
import { recordAudit } from './audit.ts'
import { DEFAULT_DISCOUNT_LIMIT_BP, DEFAULT_ROLE_PERMISSIONS, PERMISSIONS, ROLES, type Permission, type Role } from './permissions.ts'
import { roleLimits, rolePermissions } from './schema.ts'

/** What admins always keep, so a merchant cannot lock itself out of changing roles and staff. */
export const ADMIN_KEEPS: readonly Permission[] = ['roles.manage', 'staff.manage']

const isPermission = (p: string): p is Permission => Object.hasOwn(PERMISSIONS, p)

interface Overrides {
  permissions: Map<string, boolean>
  discountLimitBp: number | null
}

function overlay(role: Role, o: Overrides): Grants {
  const permissions = new Set<Permission>(DEFAULT_ROLE_PERMISSIONS[role])
  for (const [p, allowed] of o.permissions) {
    if (!isPermission(p)) continue
    if (allowed) permissions.add(p)
    else permissions.delete(p)
  }
  if (role === 'admin') for (const p of ADMIN_KEEPS) permissions.add(p)
  return { permissions, discountLimitBp: o.discountLimitBp ?? DEFAULT_DISCOUNT_LIMIT_BP[role] }
}

/** A merchant's changes to a role, as one JSON value of a query: `{ permissions: [[permission, allowed]…], limitBp }`. */
export const roleOverridesJson = (merchantId: SQLWrapper | string, role: SQLWrapper | string): SQL => sql`
  json_build_object(
    'permissions', coalesce((select json_agg(json_build_array(rp.permission, rp.allowed)) from role_permissions rp
                              where rp.merchant_id = ${merchantId} and rp.role = ${role}), '[]'::json),
    'limitBp', (select rl.discount_limit_bp from role_limits rl where rl.merchant_id = ${merchantId} and rl.role = ${role}))`

export interface RoleOverridesJson {
  permissions: [string, boolean][]
  limitBp: number | null
}

/** The grants of a role from its overrides as roleOverridesJson gives them. */
export function grantsFromOverrides(role: Role, json: RoleOverridesJson): Grants {
  return overlay(role, { permissions: new Map(json.permissions.map(([p, allowed]) => [p, allowed === true])), discountLimitBp: json.limitBp })
}

/** The grants of a role in a merchant: one query over the merchant's (few) changes for that role. */
export async function loadGrants(tx: Tx, merchantId: string, role: Role): Promise<Grants> {
  const r = await executeNamed<{ o: RoleOverridesJson }>(tx, 'load_grants', sql`select ${roleOverridesJson(merchantId, role)} as o`)
  return grantsFromOverrides(role, r.rows[0]!.o)
}

/**
 * Nobody hands out more than they hold: a new user's role, a user's new role, an API key's role and a role's own
 * permissions and discount limit must be within the actor's grants (with a manager override, the two people's
 * together), and so must a user or role the actor changes, so nobody can raise themselves or act on someone above
 * them. Admins (and the hub itself) may grant anything: they are the top of the matrix, and a merchant that took a
 * permission from its admins must be able to give it back.
 */
/**
 * Refuses what `target` holds beyond the actor's grants together with their approver's (a manager override). Returns
 * the approver's id when the actor's own grants were not enough, so the audit entry names who allowed it; else null.
 */
export function assertWithinGrants(actor: Actor, target: Grants, what: string): string | null {
  if (grantsItself(actor)) return null
  const own = grantsOf(actor)
  const beyondOf = (held: ReadonlySet<Permission>, limit: number) => ({ permissions: [...target.permissions].filter((p) => !held.has(p)).sort(), limit: target.discountLimitBp > limit })
  const alone = beyondOf(own.permissions, own.discountLimitBp)
  if (!alone.permissions.length && !alone.limit) return null
  if (actor.approver?.role === 'admin') return actor.approver.id
  const beyond = beyondOf(new Set<Permission>([...own.permissions, ...(actor.approver?.grants.permissions ?? [])]), Math.max(own.discountLimitBp, actor.approver?.grants.discountLimitBp ?? 0))
  if (beyond.permissions.length || beyond.limit) {
    const parts = [beyond.permissions.length ? `permissions ${beyond.permissions.join(', ')}` : null, beyond.limit ? `a discount limit of ${target.discountLimitBp} bp` : null].filter(Boolean)
    throw forbidden('grants_exceeded', `${what} holds ${parts.join(' and ')}, which you do not hold yourself`, { permissions: beyond.permissions, discountLimitBp: target.discountLimitBp })
  }
  return actor.approver!.id
}

const grantsItself = (actor: Actor) => actor.type === 'system' || actor.role === 'admin'

/** assertWithinGrants for a role of the merchant's matrix (a user's or a key's), read only when it has to be. */
export async function assertRoleWithinGrants(tx: Tx, actor: Actor, role: Role, what = `role ${role}`): Promise<string | null> {
  if (grantsItself(actor)) return null
  return assertWithinGrants(actor, await loadGrants(tx, actor.merchantId, role), what)
}

export interface RoleGrants {
  role: Role
  permissions: Permission[]
  discountLimitBp: number
  /** Whether the merchant changed anything of this role. */
  customised: boolean
}

/** Every role's grants in a merchant, in the order of ROLES, permissions in the order of PERMISSIONS. */
export async function loadMatrix(tx: Tx, merchantId: string): Promise<RoleGrants[]> {
  const perms = await tx.select().from(rolePermissions).where(eq(rolePermissions.merchantId, merchantId))
  const limits = await tx.select().from(roleLimits).where(eq(roleLimits.merchantId, merchantId))
  const order = Object.keys(PERMISSIONS) as Permission[]
  return ROLES.map((role) => {
    const o: Overrides = {
      permissions: new Map(perms.filter((p) => p.role === role).map((p) => [p.permission, p.allowed])),
      discountLimitBp: limits.find((l) => l.role === role)?.discountLimitBp ?? null,
    }
    const g = overlay(role, o)
    const customised = perms.some((p) => p.role === role && isPermission(p.permission)) || o.discountLimitBp !== null
    return { role, permissions: order.filter((p) => g.permissions.has(p)), discountLimitBp: g.discountLimitBp, customised }
  })
}

export interface RoleChange {
  /** The complete list of what the role may do (replaces the current list). */
  permissions?: Permission[]
  /** Largest manual line discount, basis points (0–10000). */
  discountLimitBp?: number
}

/**
 * Sets what a role may do. Stores only the differences from the defaults; refuses to take 'roles.manage' or
 * 'staff.manage' from admins (422). Audited as 'role.permissions_changed' with the grants before and after.
 */
export async function setRoleGrants(tx: Tx, actor: Actor, role: Role, change: RoleChange): Promise<RoleGrants> {
  if (change.discountLimitBp !== undefined && (!Number.isSafeInteger(change.discountLimitBp) || change.discountLimitBp < 0 || change.discountLimitBp > 10_000)) {
    throw invalid('invalid_discount_limit', 'the discount limit must be 0–10000 basis points (0–100 %)')
  }
  const unknown = (change.permissions ?? []).filter((p) => !isPermission(p))
  if (unknown.length) throw invalid('unknown_permission', `unknown permission ${unknown.join(', ')}`, { permissions: unknown })
  if (role === 'admin' && change.permissions) {
    const dropped = ADMIN_KEEPS.filter((p) => !change.permissions!.includes(p))
    if (dropped.length) {
      throw invalid('admin_lockout', `admins always keep ${ADMIN_KEEPS.join(' and ')}, or nobody could change roles and staff any more`, { permissions: dropped })
    }
  }
  // One change of a merchant's matrix at a time, so two concurrent edits of a role cannot interleave.
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`role_matrix:${actor.merchantId}`}, 0))`)
  const before = (await loadMatrix(tx, actor.merchantId)).find((r) => r.role === role)!
  const approvers = [
    assertWithinGrants(actor, { permissions: new Set(before.permissions), discountLimitBp: before.discountLimitBp }, `role ${role}`),
    assertWithinGrants(
      actor,
      { permissions: new Set((change.permissions ?? before.permissions) as Permission[]), discountLimitBp: change.discountLimitBp ?? before.discountLimitBp },
      `the changed role ${role}`,
    ),
  ]
  const approverId = approvers.find((a) => a !== null) ?? null

  if (change.permissions) {
    const wanted = new Set(change.permissions)
    const defaults = new Set<Permission>(DEFAULT_ROLE_PERMISSIONS[role])
    const rows = (Object.keys(PERMISSIONS) as Permission[])
      .filter((p) => wanted.has(p) !== defaults.has(p))
      .map((p) => ({ merchantId: actor.merchantId, role, permission: p, allowed: wanted.has(p), updatedBy: actor.id, updatedAt: new Date() }))
    await tx.delete(rolePermissions).where(and(eq(rolePermissions.merchantId, actor.merchantId), eq(rolePermissions.role, role)))
    if (rows.length) await tx.insert(rolePermissions).values(rows)
  }
  if (change.discountLimitBp !== undefined) {
    await tx.delete(roleLimits).where(and(eq(roleLimits.merchantId, actor.merchantId), eq(roleLimits.role, role)))
    if (change.discountLimitBp !== DEFAULT_DISCOUNT_LIMIT_BP[role]) {
      await tx.insert(roleLimits).values({ merchantId: actor.merchantId, role, discountLimitBp: change.discountLimitBp, updatedBy: actor.id, updatedAt: new Date() })
    }
  }

  const after = (await loadMatrix(tx, actor.merchantId)).find((r) => r.role === role)!
  const granted = after.permissions.filter((p) => !before.permissions.includes(p))
  const revoked = before.permissions.filter((p) => !after.permissions.includes(p))
  await recordAudit(tx, actor, {
    action: 'role.permissions_changed',
    entityType: 'role',
    entityId: role,
    approverId,
    details: {
      granted,
      revoked,
      before: { permissions: before.permissions, discountLimitBp: before.discountLimitBp },
      after: { permissions: after.permissions, discountLimitBp: after.discountLimitBp },
    },
  })
  return after
}
