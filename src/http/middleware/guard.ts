// Checks who is calling (Authorization: Bearer <session token or API key>) and whether the merchant's permission
// matrix lets their role call the route: 401 without valid credentials, 403 with the wrong role.
//
// Grants are read from the merchant's matrix on every request, in the query that checks the credentials (the
// merchant's changes to the caller's role), so a change of the matrix holds from the next request in every process.
// No cache: checking a cache's freshness would cost a query.
//
// Manager override: X-Approver-Pin (a manager's till PIN) or X-Approver-Token (a manager's session token or API
// key) names a second person of the same merchant. Their grants count too: a route the caller may not call runs
// when the approver may, and every audit entry of that request names the approver.
import type { Context, MiddlewareHandler } from 'hono'
import { authenticate } from '../../core/staff/auth.ts'
import type { Access, Permission } from '../../core/staff/permissions.ts'
import { actorCan } from '../../core/staff/actor.ts'
import { resolveApprover } from '../../core/staff/overrides.ts'
import { DEFAULT_PIN_POLICY } from '../../core/staff/pins.ts'
import { forbidden, unauthorized } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'

export function guard(access: Access): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (access === 'public') return next()
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    if (!match) throw unauthorized('unauthenticated', 'send a session token or API key as "Authorization: Bearer <token>"')
    const db = c.var.hub.database.db
    const now = c.var.hub.clock()
    const principal = await authenticate(db, match[1]!, now)
    if (!principal) throw unauthorized('invalid_token', 'the token is unknown, expired or revoked')
    if (principal.storeId) throw forbidden('key_scope', 'this key is scoped to one store’s devices: it opens the bridge link (/api/v1/bridge/link) and nothing else')
    principal.requestId = c.var.requestId
    const approver = await resolveApprover(
      db,
      c.var.hub.secrets,
      principal,
      { pin: c.req.header('x-approver-pin'), token: c.req.header('x-approver-token') },
      c.var.options.pinPolicy ?? DEFAULT_PIN_POLICY,
      now,
    )
    if (approver) principal.approver = approver
    c.set('principal', principal)
    if (access !== 'authenticated') {
      const any: readonly Permission[] = typeof access === 'string' ? [access] : access
      const can = any.map((permission) => actorCan(principal, permission)).find((x) => x.ok) ?? { ok: false, approverId: null }
      if (!can.ok) {
        const permission = any.join('|')
        const details = approver ? { permission, role: principal.role, approverRole: approver.role } : { permission, role: principal.role }
        throw forbidden('permission_denied', `role ${principal.role} lacks permission ${any.join(' or ')}${approver ? ', and so does the approver' : ''}`, details)
      }
      if (can.approverId) principal.approvedBy = can.approverId
    }
    return next()
  }
}
