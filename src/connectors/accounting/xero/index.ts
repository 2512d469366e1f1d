// Xero (Accounting API 2.0): OAuth 2.0 with rotating refresh tokens and the xero-tenant-id header, a voucher as one
// ManualJournal saved with an Idempotency-Key and found again by the reference in its Narration, and the
// organisation's lock dates. Limits per organisation: 60 calls a minute, 5 000 a day, 5 at a time (429 + Retry-After).
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { classifyXero, xeroRequest } from './api.ts'
import { XeroConfig } from './config.ts'
import { exportManualJournal, findManualJournal, lockDate, organisation } from './manual-journal.ts'

export { XeroConfig }

interface TrackingCategory {
  Name: string
  Status?: string
  Options?: { Name: string; Status?: string }[]
}

export const xero = defineConnector({
  id: 'xero',
  family: 'accounting',
  title: 'Xero',
  description: 'Daily vouchers as Xero manual journals, with the organisation’s lock dates.',
  config: XeroConfig,
  http: (config) => ({
    baseURL: config.baseUrl,
    headers: { accept: 'application/json', 'content-type': 'application/json', 'xero-tenant-id': config.tenantId },
    timeoutMs: 30_000,
    // 60 calls a minute per organisation, 5 at a time.
    rateLimit: { perSecond: 1, burst: 5 },
    // A minute-limit 429 asks for up to 60 s and is waited out; a day-limit one fails as rate_limited with its wait.
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 60_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    rateLimitHeaders: { remaining: 'X-MinLimit-Remaining' },
    classify: classifyXero,
  }),
  async check(ctx) {
    try {
      const org = await organisation(ctx)
      const res = await xeroRequest<{ TrackingCategories?: TrackingCategory[] }>(ctx, { method: 'GET', path: 'TrackingCategories', operation: 'check' })
      const active = new Set((res.data.TrackingCategories ?? []).filter((c) => c.Status !== 'ARCHIVED').map((c) => c.Name))
      const missing = Object.values(ctx.config.tracking).filter((name) => !active.has(name))
      if (missing.length) return { ok: false, message: `The Xero organisation ${org.Name ?? ''} has no active tracking category ${missing.map((m) => `"${m}"`).join(', ')}: create it in Xero or change the connection's tracking` }
      return { ok: true, message: `Connected to the Xero organisation ${org.Name ?? ctx.config.tenantId} (books in ${org.BaseCurrency ?? 'an unknown currency'})`, details: { tenantId: ctx.config.tenantId, baseCurrency: org.BaseCurrency } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'Xero refused the app’s credentials, the refresh token or the tenant: check the client id and secret, or connect the organisation again' }
      if (e instanceof ConnectorError) return { ok: false, message: `Xero could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    exportVoucher: (ctx, input) => exportManualJournal(ctx, input),
    findVoucher: (ctx, input) => findManualJournal(ctx, input),
    lockDate: (ctx) => lockDate(ctx),
  },
})
