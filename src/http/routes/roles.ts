// The merchant's permission matrix: what each role may do and its manual discount limit, editable per role.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { loadMatrix, setRoleGrants, type RoleGrants } from '../../core/staff/matrix.ts'
import { DEFAULT_DISCOUNT_LIMIT_BP, DEFAULT_ROLE_PERMISSIONS, PERMISSIONS, ROLES, type Permission } from '../../core/staff/permissions.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, json, jsonBody } from '../route.ts'
import { RoleSchema } from '../schemas.ts'

const tags = ['Staff']
const PermissionSchema = z.enum(Object.keys(PERMISSIONS) as [Permission, ...Permission[]]).openapi('Permission')
const bpToPercent = (bp: number) => bp / 100

const RoleEntry = z.object({ allowed: z.boolean(), default: z.boolean().openapi({ description: 'What the role may do unless the merchant changed it' }) })
const MatrixSchema = z
  .object({
    roles: z.array(
      z.object({
        role: RoleSchema,
        permissions: z.array(PermissionSchema),
        discountLimitBp: z.number().int().openapi({ description: 'Largest manual line discount, basis points (1000 = 10 %)' }),
        discountLimitPercent: z.number(),
        defaultDiscountLimitBp: z.number().int(),
        customised: z.boolean(),
      }),
    ),
    permissions: z.array(
      z.object({
        permission: PermissionSchema,
        description: z.string(),
        roles: z.object({ cashier: RoleEntry, manager: RoleEntry, finance: RoleEntry, admin: RoleEntry }),
      }),
    ),
  })
  .openapi('PermissionMatrix')

const toMatrix = (grants: RoleGrants[]) => {
  const by = Object.fromEntries(grants.map((g) => [g.role, g])) as Record<(typeof ROLES)[number], RoleGrants>
  const entry = (role: (typeof ROLES)[number], p: Permission) => ({ allowed: by[role].permissions.includes(p), default: DEFAULT_ROLE_PERMISSIONS[role].includes(p) })
  return {
    roles: grants.map((g) => ({ ...g, discountLimitPercent: bpToPercent(g.discountLimitBp), defaultDiscountLimitBp: DEFAULT_DISCOUNT_LIMIT_BP[g.role] })),
    permissions: (Object.keys(PERMISSIONS) as Permission[]).map((p) => ({
      permission: p,
      description: PERMISSIONS[p],
      roles: { cashier: entry('cashier', p), manager: entry('manager', p), finance: entry('finance', p), admin: entry('admin', p) },
    })),
  }
}

const getRoute = defineRoute({
  method: 'get',
  path: '/api/v1/roles',
  tags,
  summary: 'The permission matrix: every permission, which roles have it, and each role’s discount limit',
  access: 'roles.manage',
  responses: { 200: json(MatrixSchema) },
})

const wholeHundredths = (p: number) => Math.abs(p * 100 - Math.round(p * 100)) < 1e-6

const putRoute = defineRoute({
  method: 'put',
  path: '/api/v1/roles/{role}',
  tags,
  summary: 'Set what a role may do and its discount limit',
  description:
    '`permissions` is the complete list of what the role may do (it replaces the current list); the discount limit is given in basis points or in percent (two decimals at most). Admins always keep roles.manage and staff.manage (422 admin_lockout). Takes effect from the next request. Audited as role.permissions_changed.',
  access: 'roles.manage',
  request: {
    params: z.object({ role: z.enum(ROLES).openapi({ param: { name: 'role', in: 'path' } }) }),
    body: jsonBody(
      z
        .object({
          permissions: z.array(PermissionSchema).max(200).optional(),
          discountLimitBp: z.number().int().min(0).max(10_000).optional(),
          discountLimitPercent: z.number().min(0).max(100).refine(wholeHundredths, 'at most two decimals').optional(),
        })
        .strict()
        .refine((b) => b.discountLimitBp === undefined || b.discountLimitPercent === undefined, 'give discountLimitBp or discountLimitPercent, not both')
        .refine((b) => b.permissions !== undefined || b.discountLimitBp !== undefined || b.discountLimitPercent !== undefined, 'nothing to change'),
    ),
  },
  responses: { 200: json(MatrixSchema) },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(getRoute, async (c) => c.json(toMatrix(await loadMatrix(c.var.db, c.var.principal.merchantId)), 200))
  app.openapi(putRoute, async (c) => {
    const { role } = c.req.valid('param')
    const b = c.req.valid('json')
    const discountLimitBp = b.discountLimitBp ?? (b.discountLimitPercent === undefined ? undefined : Math.round(b.discountLimitPercent * 100))
    await setRoleGrants(c.var.db, c.var.principal, role, { permissions: b.permissions, discountLimitBp })
    return c.json(toMatrix(await loadMatrix(c.var.db, c.var.principal.merchantId)), 200)
  })
}
