// Who am I: the caller (user or API key) and its merchant.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { getMerchant } from '../../core/merchants/service.ts'
import { grantsOf } from '../../core/staff/actor.ts'
import { getUser, toPublicUser } from '../../core/staff/users.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json } from '../route.ts'
import { MerchantSchema, RoleSchema, serialize, UserSchema } from '../schemas.ts'

const meRoute = defineRoute({
  method: 'get',
  path: '/api/v1/me',
  tags: ['Auth'],
  summary: 'The caller and its merchant',
  access: 'authenticated',
  responses: {
    200: json(
      z.object({
        principal: z.object({ type: z.enum(['user', 'api_key']), id: z.uuid(), name: z.string(), role: RoleSchema, permissions: z.array(z.string()) }),
        user: UserSchema.nullable(),
        merchant: MerchantSchema,
      }),
    ),
  },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(meRoute, async (c) => {
    const p = c.var.principal
    const merchant = await getMerchant(c.var.db, p.merchantId)
    const user = p.type === 'user' ? toPublicUser(await getUser(c.var.db, p.merchantId, p.id)) : null
    return c.json(
      {
        principal: { type: p.type, id: p.id, name: p.name, role: p.role, permissions: [...grantsOf(p).permissions] as string[] },
        user: user && serialize(user),
        merchant: serialize({ ...merchant, settings: undefined }),
      },
      200,
    )
  })
}
