// Response shapes shared by several routes.
import { z } from '@hono/zod-openapi'
import { ROLES } from '../core/staff/permissions.ts'
import { LOCALES } from '../lib/i18n/locale.ts'

export const RoleSchema = z.enum(ROLES).openapi('Role')

export const UserSchema = z
  .object({
    id: z.uuid(),
    merchantId: z.uuid(),
    email: z.string(),
    name: z.string(),
    role: RoleSchema,
    status: z.enum(['active', 'disabled']),
    locked: z.boolean(),
    hasPin: z.boolean().openapi({ description: 'Whether the user has a till PIN' }),
    locale: z.enum(LOCALES).nullable().openapi({ description: "The user's own language; null: the merchant's" }),
    lastLoginAt: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('User')

export const MerchantSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    currency: z.string().openapi({ example: 'CNY' }),
    timeZone: z.string().openapi({ example: 'Asia/Shanghai' }),
    locale: z.string().openapi({ example: 'zh-CN' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Merchant')

/** Dates leave the API as ISO strings; this turns a row into what its response schema promises. */
export function serialize<T>(row: T): Serialized<T> {
  return JSON.parse(JSON.stringify(row)) as Serialized<T>
}

export type Serialized<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Serialized<U>[]
    : T extends object
      ? { [K in keyof T]: Serialized<T[K]> }
      : T
