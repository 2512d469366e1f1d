// Kingdee K/3 Cloud (金蝶云星空) WebAPI: a session login (ValidateUser or LoginByAppSecret), vouchers saved as
// GL_VOUCHER through DynamicFormService.Save, and ExecuteBillQuery as the duplicate guard. Kingdee has no idempotency
// key for vouchers: an export first looks for the reference, so a retry after a lost answer finds the voucher
// instead of posting it twice.
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { classifyKingdee, freshSession, kdCall, SERVICES } from './api.ts'
import { KingdeeConfig } from './config.ts'
import { buildSave, findByReference, parseSaveReply } from './voucher.ts'

export const kingdee = defineConnector({
  id: 'kingdee',
  family: 'accounting',
  title: 'Kingdee K/3 Cloud',
  description: 'Kingdee K/3 Cloud (金蝶云星空) general ledger: daily vouchers (记账凭证) saved through the WebAPI.',
  config: KingdeeConfig,
  http: (config) => ({
    baseURL: `${config.serverUrl}/k3cloud/`,
    headers: { accept: 'application/json' },
    // Saving a voucher with base-data verification takes a few seconds on a busy server.
    timeoutMs: 60_000,
    rateLimit: { perSecond: 5, burst: 5 },
    retry: { maxAttempts: 3, baseDelayMs: 300, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyKingdee,
  }),
  async check(ctx) {
    try {
      await freshSession(ctx)
      // One query proves the user may read vouchers of the book (and that a configured reference field exists).
      await findByReference(ctx, '-', ctx.now().toISOString().slice(0, 10), 'check')
      const how = ctx.config.appId ? `app ${ctx.config.appId}` : 'password'
      return { ok: true, message: `Signed in to 数据中心 ${ctx.config.acctId} as ${ctx.config.username} (${how}); vouchers of 账簿 ${ctx.config.accountBook} can be read` }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: `Kingdee refused the login: ${e.message}`, details: { kind: e.kind } }
      if (e instanceof ConnectorError) return { ok: false, message: `Kingdee could not be used: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    async exportVoucher(ctx, { voucher }) {
      const built = buildSave(voucher, ctx.config)
      if (!built.ok) return { status: 'rejected', reason: 'invalid', code: built.code, message: built.message }
      const earlier = await findByReference(ctx, voucher.reference, voucher.date, 'exportVoucher.find')
      if (earlier) return { status: 'duplicate', ...earlier }
      // Not repeated by the client on a timeout or 5xx: the job's retry goes through the lookup above first.
      const reply = await kdCall(ctx, SERVICES.save, built.body, { operation: 'exportVoucher.save', idempotent: false })
      return parseSaveReply(reply)
    },
    findVoucher: (ctx, { reference, date }) => findByReference(ctx, reference, date),
  },
})

export { KingdeeConfig }
