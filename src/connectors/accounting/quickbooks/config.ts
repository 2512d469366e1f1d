// The configuration of a QuickBooks Online connection: the Intuit app and the company's OAuth consent, where the API
// lives, and how our account codes and dimension kinds map onto the company's accounts and tracking fields.
import { z } from 'zod'
import { secret } from '../../framework/define.ts'

export const QBO_HOSTS = { production: 'https://quickbooks.api.intuit.com', sandbox: 'https://sandbox-quickbooks.api.intuit.com' } as const
export const INTUIT_TOKEN_URL = 'https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer'
/** Every call pins this minor version, so what QuickBooks returns does not change under us. */
export const QBO_MINOR_VERSION = 75

const DimensionKind = z.enum(['department', 'customer', 'supplier', 'employee', 'project'])

/**
 * Where a dimension goes on a JournalEntryLineDetail: DepartmentRef (QuickBooks "location"), ClassRef, or Entity
 * (the line's name: a Customer, Vendor or Employee according to the kind).
 */
export const QboSlot = z.enum(['DepartmentRef', 'ClassRef', 'Entity'])
export type QboSlot = z.infer<typeof QboSlot>
export const ENTITY_TYPES = { customer: 'Customer', supplier: 'Vendor', employee: 'Employee' } as const

const QboId = z.string().regex(/^\d+$/, 'a QuickBooks id is digits')

export const QuickBooksConfig = z.object({
  clientId: z.string().trim().min(1).describe('Client ID of the Intuit app'),
  clientSecret: secret(z.string().min(1)).describe('Client secret of the Intuit app'),
  refreshToken: secret(z.string().min(1)).describe('Refresh token of the company’s consent (scope com.intuit.quickbooks.accounting); Intuit rotates it'),
  realmId: z.string().trim().regex(/^\d+$/, 'the realm id is the company id, digits only').describe('The company (realm) id'),
  environment: z.enum(['sandbox', 'production']).default('production'),
  baseUrl: z.url().optional().describe('Only changed for a sandbox; default by environment'),
  tokenUrl: z.url().default(INTUIT_TOKEN_URL).describe('Only changed for a sandbox'),
  accounts: z
    .record(z.string().min(1), QboId)
    .default({})
    .describe('Our account code → QuickBooks Account Id. Codes not listed are looked up by the account number (AcctNum) of the QuickBooks account'),
  dimensions: z
    .partialRecord(DimensionKind, QboSlot)
    .default({ department: 'DepartmentRef', customer: 'Entity', supplier: 'Entity', employee: 'Entity' })
    .refine((d) => Object.entries(d).every(([kind, slot]) => slot !== 'Entity' || kind in ENTITY_TYPES), 'only customer, supplier and employee can be the line’s Entity')
    .refine((d) => {
      const fields = Object.values(d).filter((s) => s !== 'Entity')
      return new Set(fields).size === fields.length
    }, 'DepartmentRef and ClassRef each take one dimension kind')
    .describe('Dimension kind → line field; kinds left out are not sent'),
  dimensionIds: z
    .partialRecord(DimensionKind, z.record(z.string().min(1), QboId))
    .default({})
    .describe('Dimension value → QuickBooks id per kind (e.g. department S001 → Department 3). Values not listed are looked up by name (Department/Class Name, Customer/Vendor/Employee DisplayName)'),
})

export type QuickBooksConfig = z.infer<typeof QuickBooksConfig>
