// Alibaba Cloud SMS (dysmsapi 2017-05-25): member campaigns sent with SendBatchSms (100 numbers a call, one
// template, parameters per number), settled with QuerySendDetails, and receipts and TD/R replies taken from
// Aliyun's HTTP pushes. How batch outcomes and receipts are matched to deliveries: send.ts.
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { AliyunSmsConfig } from './config.ts'
import { beijingDate, queryAliyunStatus } from './status.ts'
import { ALIYUN_MAX_BATCH, sendAliyunBatch } from './send.ts'
import { aliyunRpc, classifyAliyun, type AliyunAnswer } from './rpc.ts'
import { ALIYUN_PUSH_ACK, interpretAliyunPush, parseAliyunPush, verifyAliyunPush } from './webhook.ts'

interface SignAnswer extends AliyunAnswer {
  SignName?: string
  /** 0 under review, 1 approved, 2 rejected. */
  SignStatus?: number
  Reason?: string
}

export const aliyunSms = defineConnector({
  id: 'aliyun-sms',
  family: 'campaign',
  title: 'Alibaba Cloud SMS',
  description: 'Member SMS campaigns through Alibaba Cloud SMS (阿里云短信): approved templates and signatures, delivery receipts and TD/R unsubscribes.',
  config: AliyunSmsConfig,
  http: (config) => ({
    baseURL: config.endpoint,
    // Aliyun asks for at least 1 s; a send that times out is settled from receipts, never sent again.
    timeoutMs: 10_000,
    // Only throttled calls (refused unsent) and queries are repeated.
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    // The per-user QPS of SendBatchSms and QuerySendDetails.
    rateLimit: { perSecond: 5000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    classify: classifyAliyun,
  }),
  webhook: {
    verify: (req, config) => verifyAliyunPush(req, config),
    parse: parseAliyunPush,
    ack: ALIYUN_PUSH_ACK,
  },
  async check(ctx) {
    try {
      if (ctx.config.signName) {
        const res = await aliyunRpc<SignAnswer>(ctx, 'QuerySmsSign', { SignName: ctx.config.signName }, { idempotent: true })
        const status = res.data.SignStatus
        if (status === 1) return { ok: true, message: `Connected to Alibaba Cloud SMS; the signature 【${ctx.config.signName}】 is approved`, details: { signStatus: status } }
        if (status === 0) return { ok: false, message: `The signature 【${ctx.config.signName}】 is still under review in the SMS console`, details: { signStatus: status } }
        return { ok: false, message: `The signature 【${ctx.config.signName}】 was rejected: ${res.data.Reason ?? 'no reason given'}`, details: { signStatus: status } }
      }
      // Without a signature to look at, a query of any number proves the AccessKey and its permissions.
      await aliyunRpc(ctx, 'QuerySendDetails', { PhoneNumber: '13800138000', SendDate: beijingDate(ctx.now()), PageSize: '1', CurrentPage: '1' }, { idempotent: true })
      return { ok: true, message: 'Connected to Alibaba Cloud SMS (no default signature set)' }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: `Alibaba Cloud refused the AccessKey (${e.vendorCode ?? e.status}): check the key pair and that the RAM user may use SMS` }
      if (e instanceof ConnectorError && e.vendorCode === 'isv.SMS_SIGNATURE_ILLEGAL') return { ok: false, message: `There is no signature 【${ctx.config.signName}】 on this account` }
      if (e instanceof ConnectorError) return { ok: false, message: `Alibaba Cloud SMS could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: (config) => ({ channel: 'sms', addressKind: 'phone', maxBatch: ALIYUN_MAX_BATCH, maxPerSecond: config.maxPerSecond }),
    sendBatch: (ctx, input) => sendAliyunBatch(ctx, input),
    queryStatus: (ctx, input) => queryAliyunStatus(ctx, input),
    interpretWebhook: (event) => interpretAliyunPush(event),
  },
})
