// Sign-in and sign-out for staff.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { login, logout } from '../../core/staff/auth.ts'
import { toPublicUser } from '../../core/staff/users.ts'
import { DEFAULT_LOGIN_POLICY } from '../../core/staff/auth.ts'
import { clientAddress } from '../client-address.ts'
import { DEFAULT_PIN_POLICY, pinLogin } from '../../core/staff/pins.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, errorResponse, json, jsonBody } from '../route.ts'
import { serialize, UserSchema, uuid } from '../schemas.ts'

const loginRoute = defineRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  tags: ['Auth'],
  summary: 'Sign in with email and password',
  description: 'Returns a bearer token. Repeated failures are answered ever more slowly, then lock the account for a while (429 login_locked with Retry-After); many failures from one client address, whatever the accounts, hold that address off for a while (429 login_throttled).',
  access: 'public',
  transaction: false,
  request: { body: jsonBody(z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) })) },
  responses: {
    200: json(z.object({ token: z.string(), expiresAt: z.string(), user: UserSchema }), 'Signed in'),
    401: errorResponse('The email and password do not match an active user (invalid_credentials)'),
    429: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'Locked after too many failures'),
  },
})

const pinLoginRoute = defineRoute({
  method: 'post',
  path: '/api/v1/auth/pin',
  tags: ['Auth'],
  summary: 'Sign in at a register with a till PIN',
  description:
    'The PIN names its user within the register’s merchant. Returns a bearer token that lives shorter than a password session (8 hours by default). Wrong PINs are counted per register: after 5, each within 15 minutes of the one before, the register refuses PINs for 5 minutes (429 with Retry-After); a right PIN does not clear the count. Every attempt is audited.',
  access: 'public',
  transaction: false,
  request: { body: jsonBody(z.object({ registerId: uuid(), pin: z.string().regex(/^\d{4,8}$/, 'a PIN is 4 to 8 digits') }).strict()) },
  responses: {
    200: json(z.object({ token: z.string(), expiresAt: z.string(), registerId: uuid(), user: UserSchema }), 'Signed in'),
    401: errorResponse('The PIN names no active user at this register (invalid_pin)'),
    429: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'Locked after too many wrong PINs'),
  },
})

const logoutRoute = defineRoute({
  method: 'post',
  path: '/api/v1/auth/logout',
  tags: ['Auth'],
  summary: 'End the current session',
  access: 'authenticated',
  // Ends the session it is sent with, again and again: nothing to keep under an Idempotency-Key (a key would have a
  // second session's sign-out replay the first's and end nothing).
  transaction: false,
  responses: { 204: { description: 'Signed out' } },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(loginRoute, async (c) => {
    const body = c.req.valid('json')
    const policy = c.var.options.loginPolicy ?? DEFAULT_LOGIN_POLICY
    const result = await login(c.var.db, body, policy, c.var.hub.clock(), clientAddress(c))
    return c.json({ token: result.token, expiresAt: result.expiresAt.toISOString(), user: serialize(toPublicUser(result.user)) }, 200)
  })
  app.openapi(pinLoginRoute, async (c) => {
    const policy = c.var.options.pinPolicy ?? DEFAULT_PIN_POLICY
    const r = await pinLogin(c.var.db, c.var.hub.secrets, c.req.valid('json'), policy, c.var.hub.clock())
    return c.json({ token: r.token, expiresAt: r.expiresAt.toISOString(), registerId: r.registerId, user: serialize(toPublicUser(r.user)) }, 200)
  })
  app.openapi(logoutRoute, async (c) => {
    await logout(c.var.db, c.var.principal)
    return c.body(null, 204)
  })
}
