// Yonyou U8 (用友) through U8 EAI: one voucher per `<ufinterface roottag="voucher" billtype="gl" proc="add">` POST,
// numbered by U8. EAI has no idempotency key and no documented voucher query: the reference travels in reserve2
// (外部凭证业务号) and a repeat is answered "重复" by U8 (reported as duplicate); beyond that, the hub's own export
// ledger is the guard. The import is never repeated by the HTTP client (a POST), so a lost answer surfaces as a
// retryable error and the job's retry meets U8's duplicate check.
import { ConnectorError } from '../../framework/http-types.ts'
import { defineConnector } from '../../framework/define.ts'
import { YonyouU8Config } from './config.ts'
import { buildVoucherXml, classifyEai, itemFor, parseReply, resultOf } from './eai.ts'

export const yonyouU8 = defineConnector({
  id: 'yonyou-u8',
  family: 'accounting',
  title: 'Yonyou U8',
  description: 'Yonyou U8 (用友) general ledger: daily vouchers (记账凭证) imported through U8 EAI XML.',
  config: YonyouU8Config,
  http: (config) => ({
    baseURL: config.eaiUrl,
    headers: {
      'content-type': 'text/xml; charset=utf-8',
      ...(config.httpUser && config.httpPassword ? { authorization: `Basic ${Buffer.from(`${config.httpUser}:${config.httpPassword}`).toString('base64')}` } : {}),
    },
    // EAI imports synchronously, voucher by voucher: one at a time is what a U8 server takes.
    timeoutMs: 60_000,
    rateLimit: { perSecond: 2, burst: 2 },
    retry: { maxAttempts: 3, baseDelayMs: 300, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyEai,
  }),
  async check(ctx) {
    // EAI has no harmless voucher call (an add writes, a query without a documented filter could list the ledger), so
    // the check only proves the endpoint answers and accepts the HTTP credentials; U8 checks the sender on import.
    try {
      const res = await ctx.http.request({ method: 'GET', url: '', responseType: 'text', operation: 'check', signal: ctx.signal })
      return { ok: true, message: `U8 EAI at ${ctx.config.eaiUrl} answers (HTTP ${res.status}); U8 checks sender ${ctx.config.sender} on the first import` }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: `The U8 EAI endpoint refused the HTTP credentials: ${e.message}`, details: { kind: e.kind } }
      // Some endpoints only take POST: any answer of the server still proves it is there.
      if (e instanceof ConnectorError && e.kind === 'permanent' && e.status) return { ok: true, message: `U8 EAI at ${ctx.config.eaiUrl} answers (HTTP ${e.status} to a GET); U8 checks sender ${ctx.config.sender} on the first import` }
      if (e instanceof ConnectorError) return { ok: false, message: `U8 EAI could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    async exportVoucher(ctx, { voucher }) {
      const built = buildVoucherXml(voucher, ctx.config)
      if (!built.ok) return { status: 'rejected', reason: 'invalid', code: built.code, message: built.message }
      const res = await ctx.http.request<string>({ method: 'POST', url: '', data: built.xml, responseType: 'text', operation: 'exportVoucher', idempotent: false, signal: ctx.signal })
      const items = parseReply(res.data)
      if (!items) throw new ConnectorError('permanent', 'the EAI endpoint did not answer with a ufinterface reply (is eaiUrl the EAI import address?)', { status: res.status })
      const item = itemFor(items, voucher.reference)
      if (!item) throw new ConnectorError('permanent', 'U8 EAI answered without a result item', { status: res.status })
      return resultOf(item, voucher)
    },
  },
})

export { YonyouU8Config }
