// QuickBooks Online (Accounting API v3, minor version 75): OAuth 2.0 with Intuit's rotating refresh tokens, a voucher
// as one JournalEntry posted under a requestid, found again by its DocNumber, and the company's closing date.
// Account codes map to QuickBooks ids by the connection's `accounts`, else by the account number (AcctNum).
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { classifyQbo, faultOf, faultText, qboRequest } from './api.ts'
import { QBO_HOSTS, QuickBooksConfig } from './config.ts'
import { bookCloseDate, exportJournalEntry, findJournalEntry } from './journal-entry.ts'

export { QuickBooksConfig }

interface CompanyInfoAnswer {
  CompanyInfo?: { CompanyName?: string; Country?: string }
}

export const quickbooks = defineConnector({
  id: 'quickbooks',
  family: 'accounting',
  title: 'QuickBooks Online',
  description: 'Daily vouchers as QuickBooks Online journal entries, with the company’s closing date.',
  config: QuickBooksConfig,
  http: (config) => ({
    baseURL: config.baseUrl ?? QBO_HOSTS[config.environment],
    headers: { accept: 'application/json', 'content-type': 'application/json' },
    timeoutMs: 30_000,
    // Intuit allows 500 requests a minute and 10 at a time per company; beyond, 429 (retried with backoff).
    rateLimit: { perSecond: 8, burst: 10 },
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyQbo,
  }),
  async check(ctx) {
    try {
      const res = await qboRequest<CompanyInfoAnswer>(ctx, { method: 'GET', path: `companyinfo/${encodeURIComponent(ctx.config.realmId)}`, operation: 'check' })
      const fault = faultOf(res.data)
      if (fault) return { ok: false, message: `QuickBooks refused to show the company: ${faultText(fault)}` }
      const name = res.data.CompanyInfo?.CompanyName ?? ctx.config.realmId
      return { ok: true, message: `Connected to the QuickBooks company ${name} (${ctx.config.environment})`, details: { realmId: ctx.config.realmId, environment: ctx.config.environment } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'QuickBooks refused the app’s credentials or the refresh token: check the client id and secret, or connect the company again' }
      if (e instanceof ConnectorError) return { ok: false, message: `QuickBooks could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    exportVoucher: (ctx, input) => exportJournalEntry(ctx, input),
    findVoucher: (ctx, input) => findJournalEntry(ctx, input),
    lockDate: (ctx) => bookCloseDate(ctx),
  },
})
