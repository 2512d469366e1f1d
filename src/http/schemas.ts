// Request and response shapes shared by several routes.
import { z } from '@hono/zod-openapi'
import { ROLES } from '../core/staff/permissions.ts'
import { LOCALES } from '../lib/i18n/locale.ts'

/**
 * A UUID as a request names it: in any case (RFC 9562 UUIDs are case-insensitive on input, and tills written for
 * Windows send them in upper case), read as the lower case PostgreSQL writes. The hub compares ids as strings (maps
 * keyed by id, ids kept in JSON scopes), so every id reaches the core in that one spelling. Every route's ids go
 * through this, not z.uuid().
 */
export const uuid = (params?: Parameters<typeof z.uuid>[0]) => z.uuid(params).overwrite((s) => s.toLowerCase())

export const RoleSchema = z.enum(ROLES).openapi('Role')

export const UserSchema = z
  .object({
    id: uuid(),
    merchantId: uuid(),
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
    id: uuid(),
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

// Business dates and instants a request may name: within the years a business day can be counted in. A range that
// ends on 9999-12-31 would end the day after, in year 10000, past what the date arithmetic and PostgreSQL's
// timestamps write.
const countable = (v: string) => {
  const t = Date.parse(v.length === 10 ? `${v}T00:00:00Z` : v)
  return t >= Date.UTC(1900, 0, 1) && t < Date.UTC(9999, 0, 1)
}
const OUT_OF_RANGE = 'must fall between the years 1900 and 9998'

/** A business date (YYYY-MM-DD) a request may name. */
export const BusinessDate = () => z.iso.date().refine(countable, OUT_OF_RANGE)

/** An instant with its offset (when something happened) a request may name. */
export const Instant = () => z.iso.datetime({ offset: true }).refine(countable, OUT_OF_RANGE)

/** A business date, or an instant with its offset, a request may name as a bound. */
export const DateOrInstant = () => z.union([z.iso.date(), z.iso.datetime({ offset: true })]).refine(countable, OUT_OF_RANGE)

/** The cursor of a list paged by a row's bigint id (the `nextCursor` the previous page gave): a positive integer. */
/** A list's cursor naming a row: the id of the previous page's last item, as its `nextCursor` gave it. */
export const IdCursor = () => uuid().optional().openapi({ description: 'The `nextCursor` of the previous page' })
export const RowCursor = () =>
  z
    .string()
    .regex(/^[1-9]\d{0,17}$/, { error: 'must be the nextCursor of a previous page' })
    .optional()
    .openapi({ description: 'The `nextCursor` of the previous page' })
