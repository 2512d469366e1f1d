// Who am I: the caller (user or API key), its merchant and the language it is answered in; a user sets their own.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { getMerchant } from '../../core/merchants/service.ts'
import { grantsOf } from '../../core/staff/actor.ts'
import { callerLocale, setUserLocale } from '../../core/staff/locale.ts'
import { getUser, toPublicUser } from '../../core/staff/users.ts'
import { invalid } from '../../lib/errors.ts'
import { LOCALES } from '../../lib/i18n/locale.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json, jsonBody } from '../route.ts'
import { MerchantSchema, RoleSchema, serialize, UserSchema, uuid } from '../schemas.ts'

const LocaleSchema = z
  .object({
    user: z.enum(LOCALES).nullable().openapi({ description: "The user's own choice; null: the merchant's locale (always null for API keys)" }),
    merchant: z.enum(LOCALES),
    effective: z.enum(LOCALES).openapi({ description: 'The language of the dashboard, API error messages and exports for this caller' }),
  })
  .openapi('CallerLocale')

const MeSchema = z.object({
  principal: z.object({ type: z.enum(['user', 'api_key']), id: uuid(), name: z.string(), role: RoleSchema, permissions: z.array(z.string()) }),
  user: UserSchema.nullable(),
  merchant: MerchantSchema,
  locale: LocaleSchema,
})

const meRoute = defineRoute({
  method: 'get',
  path: '/api/v1/me',
  tags: ['Auth'],
  summary: 'The caller and its merchant',
  access: 'authenticated',
  responses: { 200: json(MeSchema) },
})

const patchMeRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/me',
  tags: ['Auth'],
  summary: "Set the signed-in user's own language",
  description: "`locale` null follows the merchant's locale again. Only users have a language of their own: an API key is answered in its merchant's.",
  access: 'authenticated',
  request: {
    body: jsonBody(z.object({ locale: z.enum(LOCALES).nullable().openapi({ example: 'zh-TW' }) }).strict()),
  },
  responses: { 200: json(MeSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  const me = async (db: AppEnv['Variables']['db'], p: AppEnv['Variables']['principal']) => {
    const merchant = await getMerchant(db, p.merchantId)
    const user = p.type === 'user' ? toPublicUser(await getUser(db, p.merchantId, p.id)) : null
    const locale = await callerLocale(db, { merchantId: p.merchantId, userId: p.type === 'user' ? p.id : null })
    return {
      principal: { type: p.type, id: p.id, name: p.name, role: p.role, permissions: [...grantsOf(p).permissions] as string[] },
      user: user && serialize(user),
      merchant: serialize({ ...merchant, settings: undefined }),
      locale,
    }
  }
  app.openapi(meRoute, async (c) => c.json(await me(c.var.db, c.var.principal), 200))
  app.openapi(patchMeRoute, async (c) => {
    const p = c.var.principal
    if (p.type !== 'user') throw invalid('user_required', 'only a signed-in user has a language of their own; an API key is answered in its merchant’s locale')
    await setUserLocale(c.var.db, p, p.id, c.req.valid('json').locale)
    return c.json(await me(c.var.db, p), 200)
  })
}
