// Staff users of the merchant, managed by admins.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { createUser, disableUser, getUser, listUsers, toPublicUser, updateUser } from '../../core/staff/users.ts'
import { changePin } from '../../core/staff/pins.ts'
import { confirmOwnPassword, DEFAULT_LOGIN_POLICY } from '../../core/staff/auth.ts'
import { actorCan } from '../../core/staff/actor.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, page, PageQuery } from '../route.ts'
import { RoleSchema, serialize, UserSchema } from '../schemas.ts'

const tags = ['Staff']

const list = defineRoute({
  method: 'get',
  path: '/api/v1/users',
  tags,
  summary: 'List staff users',
  access: 'staff.manage',
  request: { query: PageQuery.extend({ status: z.enum(['active', 'disabled']).optional() }) },
  responses: { 200: json(page(UserSchema)) },
})

const create = defineRoute({
  method: 'post',
  path: '/api/v1/users',
  tags,
  summary: 'Create a staff user',
  access: 'staff.manage',
  request: {
    body: jsonBody(
      z
        .object({
          email: z.string().min(3).max(320),
          name: z.string().max(200).default(''),
          role: RoleSchema,
          password: z.string().min(1).max(1024),
        })
        .strict(),
    ),
  },
  responses: { 201: json(UserSchema, 'Created') },
})

const get = defineRoute({
  method: 'get',
  path: '/api/v1/users/{id}',
  tags,
  summary: 'One staff user',
  access: 'staff.manage',
  request: { params: IdParam },
  responses: { 200: json(UserSchema) },
})

const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/users/{id}',
  tags,
  summary: 'Change a staff user (name, role, status, password, unlock)',
  access: 'staff.manage',
  request: {
    params: IdParam,
    body: jsonBody(
      z
        .object({
          name: z.string().min(1).max(200),
          role: RoleSchema,
          status: z.enum(['active', 'disabled']),
          password: z.string().min(1).max(1024),
          unlock: z.boolean(),
        })
        .partial()
        .strict(),
    ),
  },
  responses: { 200: json(UserSchema) },
})

const remove = defineRoute({
  method: 'delete',
  path: '/api/v1/users/{id}',
  tags,
  summary: 'Disable a staff user',
  description: 'Users are disabled rather than deleted so the audit log keeps naming them; their sessions end at once.',
  access: 'staff.manage',
  request: { params: IdParam },
  responses: { 200: json(UserSchema) },
})

const setPin = defineRoute({
  method: 'put',
  path: '/api/v1/users/{id}/pin',
  tags,
  summary: 'Set a user’s till PIN',
  description:
    'Staff managers may set anyone’s PIN; a user may set their own with their password. 4–8 digits, not trivial (1111, 1234, 1212…), and unique in the merchant, since the PIN alone names its user at the till (409 pin_unavailable otherwise).',
  access: 'authenticated',
  request: {
    params: IdParam,
    body: jsonBody(z.object({ pin: z.string().regex(/^\d{4,8}$/, 'a PIN is 4 to 8 digits'), password: z.string().min(1).max(1024).optional() }).strict()),
  },
  responses: { 200: json(UserSchema) },
})

const clearPin = defineRoute({
  method: 'delete',
  path: '/api/v1/users/{id}/pin',
  tags,
  summary: 'Remove a user’s till PIN',
  description: 'Staff managers for anyone; a user for themselves.',
  access: 'authenticated',
  request: { params: IdParam },
  responses: { 200: json(UserSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(setPin, async (c) => {
    const { pin, password } = c.req.valid('json')
    const id = c.req.valid('param').id
    const p = c.var.principal
    // One's own password, asked again: a wrong one counts toward the sign-in lock, on the pool (this request rolls back).
    const confirm = p.type === 'user' && p.id === id && password !== undefined && !actorCan(p, 'staff.manage').ok
    if (confirm) await confirmOwnPassword(c.var.hub.database.db, p.id, password, c.var.options.loginPolicy ?? DEFAULT_LOGIN_POLICY, c.var.hub.clock())
    const user = await changePin(c.var.db, p, c.var.hub.secrets, id, pin, { password, passwordConfirmed: confirm })
    return c.json(serialize(toPublicUser(user)), 200)
  })
  app.openapi(clearPin, async (c) => c.json(serialize(toPublicUser(await changePin(c.var.db, c.var.principal, c.var.hub.secrets, c.req.valid('param').id, null))), 200))
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const r = await listUsers(c.var.db, c.var.principal.merchantId, { after: q.cursor, limit: q.limit, status: q.status })
    return c.json({ items: r.items.map((u) => serialize(toPublicUser(u))), nextCursor: r.nextCursor }, 200)
  })
  app.openapi(create, async (c) => {
    const user = await createUser(c.var.db, c.var.principal, c.req.valid('json'))
    return c.json(serialize(toPublicUser(user)), 201)
  })
  app.openapi(get, async (c) => c.json(serialize(toPublicUser(await getUser(c.var.db, c.var.principal.merchantId, c.req.valid('param').id))), 200))
  app.openapi(patch, async (c) => {
    const user = await updateUser(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))
    return c.json(serialize(toPublicUser(user)), 200)
  })
  app.openapi(remove, async (c) => {
    const user = await disableUser(c.var.db, c.var.principal, c.req.valid('param').id)
    return c.json(serialize(toPublicUser(user)), 200)
  })
}
