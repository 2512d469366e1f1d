// The caller's own merchant and its settings.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { getMerchant, LOCALES, updateMerchant } from '../../core/merchants/service.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { getSettings, MerchantSettingsSchema, SettingsPatchSchema, updateSettings } from '../../core/merchants/settings.ts'
import { listConnections } from '../../connectors/framework/connections.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { invalid } from '../../lib/errors.ts'
import type { Tx } from '../../db/client.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json, jsonBody } from '../route.ts'
import { MerchantSchema, serialize } from '../schemas.ts'

const getRoute = defineRoute({
  method: 'get',
  path: '/api/v1/merchant',
  tags: ['Merchant'],
  summary: 'The merchant and its settings',
  access: 'authenticated',
  responses: { 200: json(MerchantSchema) },
})

const patchRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/merchant',
  tags: ['Merchant'],
  summary: 'Change merchant settings',
  description: 'The currency can change only until the first sale, top-up, statement or voucher: every amount is kept in its minor units (409 currency_in_use after).',
  access: 'merchant.manage',
  request: {
    body: jsonBody(
      z
        .object({
          name: z.string().min(1).max(200),
          currency: z.string().length(3).toUpperCase().openapi({ example: 'CNY' }),
          timeZone: z.string().min(1).max(64).openapi({ example: 'Asia/Shanghai' }),
          locale: z.enum(LOCALES),
        })
        .partial()
        .strict(),
    ),
  },
  responses: { 200: json(MerchantSchema) },
})

// Rebuilt from its shape with the OpenAPI-aware z: a zod 4 schema only has .openapi() if it was created after
// @hono/zod-openapi was loaded, and core's schemas may be created first (the command line loads core before http).
const SettingsSchema = z.object(MerchantSettingsSchema.shape).openapi('MerchantSettings')

const getSettingsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/merchant/settings',
  tags: ['Merchant'],
  summary: 'Business rules: tax mode and rounding, negative stock policy, cash rounding, scale barcodes',
  access: 'authenticated',
  responses: { 200: json(SettingsSchema) },
})

const patchSettingsRoute = defineRoute({
  method: 'patch',
  path: '/api/v1/merchant/settings',
  tags: ['Merchant'],
  summary: 'Change business rules',
  description:
    "A group (`vouchers`, `loyalty`, `cashRounding`, …) changes by the fields it names; the others keep their values, and a field's value (a list, the summary templates, the birthday gift) replaces what was there. `approvals` is replaced as a whole (omitted rules take their defaults). A loyalty birthday gift of a coupon must name one of the merchant's coupon templates (422 `unknown_coupon_template`); `vouchers.exportTo` only the merchant's accounting connections (422 `connection_not_found`, `not_an_accounting_connection`); `vouchers.noStoreTo` one of its stores (422 `store_not_found`).",
  access: 'merchant.manage',
  request: { body: jsonBody(SettingsPatchSchema) },
  responses: { 200: json(SettingsSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(getSettingsRoute, async (c) => {
    const { currency: _c, timeZone: _t, ...settings } = await getSettings(c.var.db, c.var.principal.merchantId)
    return c.json(settings, 200)
  })
  app.openapi(patchSettingsRoute, async (c) => {
    const patch = c.req.valid('json')
    const exportTo = (patch.vouchers as { exportTo?: string[] } | undefined)?.exportTo
    if (exportTo) await assertExportTargets(c.var.db, c.var.principal.merchantId, exportTo)
    // As sent: a group changes by the fields it names (the validated body has the others filled with defaults).
    const { before, after } = await updateSettings(c.var.db, c.var.principal.merchantId, (await c.req.json()) as Record<string, unknown>)
    const changed = Object.fromEntries(Object.keys(patch).map((k) => [k, { from: before[k as keyof typeof before], to: after[k as keyof typeof after] }]))
    await recordAudit(c.var.db, c.var.principal, { action: 'merchant.settings_changed', entityType: 'merchant', entityId: c.var.principal.merchantId, details: changed })
    return c.json(after, 200)
  })
  app.openapi(getRoute, async (c) => c.json(serialize(await getMerchant(c.var.db, c.var.principal.merchantId)), 200))
  app.openapi(patchRoute, async (c) => {
    const changes = c.req.valid('json')
    const { before, after } = await updateMerchant(c.var.db, c.var.principal.merchantId, changes)
    const changed = Object.fromEntries(
      Object.keys(changes).map((k) => [k, { from: before[k as keyof typeof before], to: after[k as keyof typeof after] }]),
    )
    await recordAudit(c.var.db, c.var.principal, { action: 'merchant.updated', entityType: 'merchant', entityId: after.id, details: changed })
    return c.json(serialize(omitSettings(after)), 200)
  })
}

const omitSettings = <T extends { settings: unknown }>({ settings: _s, ...rest }: T) => rest

/**
 * Vouchers go only to the merchant's own accounting connections: another merchant's or an unknown one is 422
 * connection_not_found, a connection of another kind (a payment channel) 422 not_an_accounting_connection, naming it.
 */
async function assertExportTargets(tx: Tx, merchantId: string, ids: string[]): Promise<void> {
  const own = new Map((await listConnections(tx, merchantId)).map((r) => [r.id, r]))
  for (const id of ids) {
    const row = own.get(id)
    const details = { field: 'vouchers.exportTo', connectionId: id }
    if (!row) throw invalid('connection_not_found', `vouchers.exportTo names connection ${id}, which this merchant does not have`, details)
    if (connectorRegistry.get(row.connectorId)?.family !== 'accounting') throw invalid('not_an_accounting_connection', `connection ${row.name} does not take vouchers`, details)
  }
}
