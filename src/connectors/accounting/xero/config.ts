// The configuration of a Xero connection: the Xero app and the organisation's OAuth consent, the tenant, how
// journals are saved (POSTED or DRAFT), and how our account codes and dimension kinds map onto Xero's.
import { z } from 'zod'
import { secret } from '../../framework/define.ts'

export const XERO_API = 'https://api.xero.com'
export const XERO_TOKEN_URL = 'https://identity.xero.com/connect/token'
/** Xero allows two active tracking categories per organisation. */
export const MAX_TRACKING_CATEGORIES = 2

const DimensionKind = z.enum(['department', 'customer', 'supplier', 'employee', 'project'])

export const XeroConfig = z.object({
  clientId: z.string().trim().min(1).describe('Client id of the Xero app'),
  clientSecret: secret(z.string().min(1)).describe('Client secret of the Xero app'),
  refreshToken: secret(z.string().min(1)).describe('Refresh token of the organisation’s consent (scopes accounting.transactions accounting.settings.read offline_access); Xero rotates it'),
  tenantId: z.guid('the tenant id is a GUID, as GET /connections lists it').describe('The organisation (tenant) the journals go to'),
  status: z.enum(['POSTED', 'DRAFT']).default('POSTED').describe('POSTED journals reach the ledger at once; DRAFT ones wait for review in Xero'),
  showOnCashBasisReports: z.boolean().default(true),
  accounts: z
    .record(z.string().min(1), z.string().trim().min(1).max(10))
    .default({})
    .describe('Our account code → Xero AccountCode (at most 10 characters); codes not listed are sent as they are'),
  tracking: z
    .partialRecord(DimensionKind, z.string().trim().min(1).max(100))
    .default({ department: 'Store' })
    .refine((t) => new Set(Object.values(t)).size === Object.values(t).length && Object.values(t).length <= MAX_TRACKING_CATEGORIES, `at most ${MAX_TRACKING_CATEGORIES} tracking categories, each for one dimension kind`)
    .describe('Dimension kind → Xero tracking category name; the dimension value is the option (e.g. department → Store, option S001). Kinds left out are not sent'),
  baseUrl: z.url().default(XERO_API).describe('Only changed for a sandbox'),
  tokenUrl: z.url().default(XERO_TOKEN_URL).describe('Only changed for a sandbox'),
})

export type XeroConfig = z.infer<typeof XeroConfig>
