// API keys for machines. The key itself is in the creation response only.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { createApiKey, listApiKeys, revokeApiKey, toPublicApiKey } from '../../core/staff/api-keys.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { Instant, RoleSchema, serialize, uuid } from '../schemas.ts'

const tags = ['API keys']

const ApiKeySchema = z
  .object({
    id: uuid(),
    merchantId: uuid(),
    name: z.string(),
    role: RoleSchema,
    prefix: z.string().openapi({ description: 'The first characters of the key, to tell keys apart' }),
    storeId: uuid().nullable().openapi({ description: 'Set for a bridge key: scoped to this store’s devices' }),
    createdBy: uuid().nullable(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    lastUsedAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi('ApiKey')

const list = defineRoute({
  method: 'get',
  path: '/api/v1/api-keys',
  tags,
  summary: 'List API keys',
  access: 'apiKeys.manage',
  request: { query: z.object({ includeRevoked: z.enum(['true', 'false']).default('false') }) },
  responses: { 200: json(z.object({ items: z.array(ApiKeySchema) })) },
})

const create = defineRoute({
  method: 'post',
  path: '/api/v1/api-keys',
  tags,
  summary: 'Create an API key',
  description: 'The `key` is shown in this response only; the hub keeps just its hash.',
  access: 'apiKeys.manage',
  request: {
    body: jsonBody(z.object({ name: z.string().min(1).max(200), role: RoleSchema, expiresAt: Instant().optional().openapi({ description: 'When the key stops working; in the future (422 invalid_expiry otherwise)' }) }).strict()),
  },
  responses: { 201: json(z.object({ key: z.string(), apiKey: ApiKeySchema }), 'Created') },
})

const revoke = defineRoute({
  method: 'delete',
  path: '/api/v1/api-keys/{id}',
  tags,
  summary: 'Revoke an API key',
  access: 'apiKeys.manage',
  request: { params: IdParam },
  responses: { 200: json(ApiKeySchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(list, async (c) => {
    const rows = await listApiKeys(c.var.db, c.var.principal.merchantId, { includeRevoked: c.req.valid('query').includeRevoked === 'true' })
    return c.json({ items: rows.map((r) => serialize(toPublicApiKey(r))) }, 200)
  })
  app.openapi(create, async (c) => {
    const body = c.req.valid('json')
    const { key, apiKey } = await createApiKey(c.var.db, c.var.principal, { ...body, expiresAt: body.expiresAt ? new Date(body.expiresAt) : undefined }, c.var.hub.clock())
    c.set('secretShownOnce', true)
    return c.json({ key, apiKey: serialize(toPublicApiKey(apiKey)) }, 201)
  })
  app.openapi(revoke, async (c) => c.json(serialize(toPublicApiKey(await revokeApiKey(c.var.db, c.var.principal, c.req.valid('param').id))), 200))
}
