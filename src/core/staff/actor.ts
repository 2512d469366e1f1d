// Who is acting: a signed-in staff user, a machine API key, or the hub itself (jobs). Core operations take one
// so the audit log can name them, and ask it what it may do (its grants), or what a manager approving it may do.
import { DEFAULT_DISCOUNT_LIMIT_BP, DEFAULT_ROLE_PERMISSIONS, type Permission, type Role } from './permissions.ts'

/** What a caller may do: the merchant's matrix for its role (defaults when the merchant changed nothing). */
export interface Grants {
  permissions: ReadonlySet<Permission>
  /** Largest manual line discount, basis points of the line. */
  discountLimitBp: number
}

export interface Approver {
  id: string
  name: string
  role: Role
  grants: Grants
}

export interface Actor {
  type: 'user' | 'api_key' | 'system'
  id: string | null
  name: string
  merchantId: string
  role: Role
  /** The request that carried the action, for tracing it through logs. */
  requestId?: string
  /** Resolved from the merchant's permission matrix; the role's defaults when absent. */
  grants?: Grants
  /** A manager who approved this request with their credentials or PIN (manager override). */
  approver?: Approver
  /**
   * Set when the whole request rests on a second person: the route's permission came from the approver, or a held
   * action runs because a manager approved it. Every audit entry the request writes then names them.
   */
  approvedBy?: string | null
}

export const defaultGrants = (role: Role): Grants => ({ permissions: new Set(DEFAULT_ROLE_PERMISSIONS[role]), discountLimitBp: DEFAULT_DISCOUNT_LIMIT_BP[role] })

export const grantsOf = (actor: Actor): Grants => actor.grants ?? defaultGrants(actor.role)

export const systemActor = (merchantId: string, name = 'system'): Actor => ({ type: 'system', id: null, name, merchantId, role: 'admin' })

/**
 * Whether the actor may do something, on its own or through its approving manager. `approverId` is set when only
 * the approver's permission allowed it, so the audit log can name both people.
 */
export function actorCan(actor: Actor, permission: Permission): { ok: boolean; approverId: string | null } {
  if (grantsOf(actor).permissions.has(permission)) return { ok: true, approverId: null }
  if (actor.approver?.grants.permissions.has(permission)) return { ok: true, approverId: actor.approver.id }
  return { ok: false, approverId: null }
}

/** The manual discount limit in force: the actor's own, or the approving manager's when that is higher. */
export function discountLimit(actor: Actor): { limitBp: number; approverId: string | null } {
  const own = grantsOf(actor).discountLimitBp
  const approved = actor.approver?.grants.discountLimitBp ?? -1
  return approved > own ? { limitBp: approved, approverId: actor.approver!.id } : { limitBp: own, approverId: null }
}
