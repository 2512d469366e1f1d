// Checks who is calling (Authorization: Bearer <session token or API key>) and whether their role allows the
// route's declared permission: 401 without valid credentials, 403 with the wrong role.
import type { MiddlewareHandler } from 'hono'
import { authenticate } from '../../core/staff/auth.ts'
import type { Access } from '../../core/staff/permissions.ts'
import { actorCan } from '../../core/staff/actor.ts'
import { forbidden, unauthorized } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'

export function guard(access: Access): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    if (access === 'public') return next()
    const header = c.req.header('authorization') ?? ''
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    if (!match) throw unauthorized('unauthenticated', 'send a session token or API key as "Authorization: Bearer <token>"')
    const principal = await authenticate(c.var.hub.database.db, match[1]!, c.var.hub.clock())
    if (!principal) throw unauthorized('invalid_token', 'the token is unknown, expired or revoked')
    principal.requestId = c.var.requestId
    c.set('principal', principal)
    if (access !== 'authenticated' && !actorCan(principal, access).ok) {
      throw forbidden('permission_denied', `role ${principal.role} lacks permission ${access}`, { permission: access, role: principal.role })
    }
    return next()
  }
}
