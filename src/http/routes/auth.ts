// Sign-in and sign-out for staff.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { login, logout } from '../../core/staff/auth.ts'
import { toPublicUser } from '../../core/staff/users.ts'
import { DEFAULT_LOGIN_POLICY } from '../../core/staff/auth.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json, jsonBody } from '../route.ts'
import { serialize, UserSchema } from '../schemas.ts'

const loginRoute = defineRoute({
  method: 'post',
  path: '/api/v1/auth/login',
  tags: ['Auth'],
  summary: 'Sign in with email and password',
  description: 'Returns a bearer token. Repeated failures are answered ever more slowly, then lock the account for a while (429 with Retry-After).',
  access: 'public',
  transaction: false,
  request: { body: jsonBody(z.object({ email: z.string().min(1).max(320), password: z.string().min(1).max(1024) })) },
  responses: {
    200: json(z.object({ token: z.string(), expiresAt: z.string(), user: UserSchema }), 'Signed in'),
    429: json(z.object({ error: z.object({ code: z.string(), message: z.string() }) }), 'Locked after too many failures'),
  },
})

const logoutRoute = defineRoute({
  method: 'post',
  path: '/api/v1/auth/logout',
  tags: ['Auth'],
  summary: 'End the current session',
  access: 'authenticated',
  responses: { 204: { description: 'Signed out' } },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(loginRoute, async (c) => {
    const body = c.req.valid('json')
    const policy = c.var.options.loginPolicy ?? DEFAULT_LOGIN_POLICY
    const result = await login(c.var.db, body, policy, c.var.hub.clock())
    return c.json({ token: result.token, expiresAt: result.expiresAt.toISOString(), user: serialize(toPublicUser(result.user)) }, 200)
  })
  app.openapi(logoutRoute, async (c) => {
    await logout(c.var.db, c.var.principal)
    return c.body(null, 204)
  })
}
