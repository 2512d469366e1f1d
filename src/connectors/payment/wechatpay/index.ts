// WeChat Pay (微信支付) settlement connector: downloads the daily bills of a merchant number and parses them.
//
// Config
// - mchId (商户号), appId (v2 only), apiVersion 'v2' | 'v3' (default v3), subMchId for service-provider mode,
//   feeRateBp: the contracted fee rate in basis points (60 = 0.60 %), baseUrl (a sandbox only).
// - v2: apiKey (secret, the 32-character API key) and signType 'MD5' | 'HMAC-SHA256' (default HMAC-SHA256).
// - v3: merchantSerialNo (the API certificate's serial), privateKey (secret, PEM of apiclient_key.pem);
//   platformPublicKey (+ platformSerial) to check WeChat's answer signatures (recommended);
//   fundFlow (default true) and fundFlowAccount BASIC | OPERATION | FEES for the fund-flow bill.
//
// Capabilities (payment family)
// - fetchStatement(ctx, { businessDate: 'YYYY-MM-DD' }), the date in China Standard Time:
//   v2 → `POST /pay/downloadbill` (ALL, gzip) → one 'wechat_trade' file;
//   v3 → `GET /v3/bill/tradebill` (ALL) and, with fundFlow, `/v3/bill/fundflowbill` → 'wechat_trade' and
//   'wechat_fundflow' files, each downloaded gzipped and checked against WeChat's SHA-1 of the decompressed bill
//   (kept as `vendorHash` with over: 'decompressed'). "No Bill Exist" / NO_STATEMENT_EXIST → { status: 'empty' };
//   "Bill Creating" / STATEMENT_CREATING → { status: 'not_ready' } (bills appear after 09:00–10:00 the next day).
//   Errors are ConnectorErrors: signature or permission refused → auth_failed, WeChat system errors → retryable,
//   a download whose SHA-1 does not match → retryable (HASH_MISMATCH), anything else → permanent.
// - parseStatement({ format, content }): 'wechat_trade' (parse-trade.ts) or 'wechat_fundflow' (parse-fundflow.ts),
//   gzipped or not, streamed line by line; throws StatementFormatError with the line number.
// - expectedFeeMilli({ kind, amount }): amount × feeRateBp in thousandths of a fen, unrounded as the trade bill
//   prints it (5 decimals of a yuan); negative for a refund (the fee WeChat gives back), 0 for other kinds.
//
// Secrets never leave: the v2 key only signs (the `<sign>` element is masked in the call log), the v3 private key
// only signs (the Authorization header is never logged), and both are masked anywhere else by the shared client.
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { z } from 'zod'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { addDays, businessDate as dateIn, isDate } from '../../../lib/time.ts'
import { defineConnector, discardFetched, secret, type ConnectorContext, type FetchedStatement, type StatementFile } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { parseWechatFundFlow } from './parse-fundflow.ts'
import { contractedFeeMilli } from '../fees.ts'
import { parseWechatTrade } from './parse-trade.ts'
import { classifyV2, downloadBillV2 } from './v2.ts'
import { classifyV3, fetchBillV3, requestBillLink, type V3Call, type V3Config } from './v3.ts'

export const WECHATPAY_API = 'https://api.mch.weixin.qq.com'
/** WeChat Pay's bills, business dates and timestamps are all in China Standard Time. */
export const WECHATPAY_TIME_ZONE = 'Asia/Shanghai'

const pemOf = (kind: 'private' | 'public') => (pem: string) => {
  try {
    const key = kind === 'private' ? createPrivateKey(pem) : createPublicKey(pem)
    return key.asymmetricKeyType === 'rsa'
  } catch {
    return false
  }
}

const WechatPayConfig = z
  .object({
    mchId: z.string().regex(/^\d{8,12}$/, 'the merchant number (商户号) is 8 to 12 digits'),
    appId: z.string().regex(/^wx[0-9A-Za-z]{16}$/, 'an appid looks like wx followed by 16 letters and digits').optional(),
    apiVersion: z.enum(['v2', 'v3']).default('v3'),
    apiKey: secret(z.string().regex(/^[A-Za-z0-9]{32}$/, 'the v2 API key is 32 letters and digits')).optional(),
    signType: z.enum(['MD5', 'HMAC-SHA256']).default('HMAC-SHA256').describe('v2 request signature'),
    merchantSerialNo: z.string().regex(/^[0-9A-Fa-f]{8,64}$/, 'the merchant API certificate serial number is hexadecimal').optional(),
    privateKey: secret(z.string().refine(pemOf('private'), 'the merchant private key must be an RSA key in PEM (apiclient_key.pem)')).optional(),
    platformPublicKey: z.string().refine(pemOf('public'), 'the WeChat Pay public key must be an RSA public key in PEM').optional().describe('Checks the signature of v3 answers'),
    platformSerial: z.string().max(64).optional().describe('The serial of that key (certificate serial or PUB_KEY_ID_…)'),
    subMchId: z.string().regex(/^\d{8,12}$/, 'the sub-merchant number (特约商户号) is 8 to 12 digits').optional(),
    feeRateBp: z.number().int().min(0).max(10_000).default(60).describe('Contracted fee rate in basis points: 60 = 0.60 %'),
    fundFlow: z.boolean().default(true).describe('v3: also fetch the fund-flow bill'),
    fundFlowAccount: z.enum(['BASIC', 'OPERATION', 'FEES']).default('BASIC'),
    baseUrl: z.url().default(WECHATPAY_API).describe('Only changed for a sandbox'),
  })
  .superRefine((c, issue) => {
    if (c.apiVersion === 'v2') {
      if (!c.appId) issue.addIssue({ code: 'custom', path: ['appId'], message: 'v2 needs the appid' })
      if (!c.apiKey) issue.addIssue({ code: 'custom', path: ['apiKey'], message: 'v2 needs the API key' })
    } else {
      if (!c.merchantSerialNo) issue.addIssue({ code: 'custom', path: ['merchantSerialNo'], message: 'v3 needs the merchant certificate serial number' })
      if (!c.privateKey) issue.addIssue({ code: 'custom', path: ['privateKey'], message: 'v3 needs the merchant private key' })
    }
  })

export type WechatPayConfig = z.infer<typeof WechatPayConfig>

const v3ConfigOf = (c: WechatPayConfig): V3Config => ({
  mchId: c.mchId,
  serialNo: c.merchantSerialNo ?? '',
  privateKey: c.privateKey ?? '',
  baseUrl: c.baseUrl,
  subMchId: c.subMchId,
  platformPublicKey: c.platformPublicKey,
  platformSerial: c.platformSerial,
})

const v3Call = (ctx: ConnectorContext<WechatPayConfig>, operation: string): V3Call => ({
  http: ctx.http,
  config: v3ConfigOf(ctx.config),
  now: ctx.now,
  operation,
  signal: ctx.signal,
})

async function fetchV3(ctx: ConnectorContext<WechatPayConfig>, date: string): Promise<FetchedStatement> {
  const call = v3Call(ctx, 'fetchStatement')
  const trade = await fetchBillV3(call, { kind: 'trade', billType: 'ALL' }, date)
  if (trade.status === 'not_ready' || !ctx.config.fundFlow) return trade
  let fund: FetchedStatement
  try {
    fund = await fetchBillV3(call, { kind: 'fundflow', accountType: ctx.config.fundFlowAccount }, date)
  } catch (e) {
    await discardFetched(trade)
    throw e
  }
  // The fund-flow bill comes an hour after the trade bill: the day is ready when both are.
  if (fund.status === 'not_ready') {
    await discardFetched(trade)
    return { status: 'not_ready', message: `${fund.message} (fund-flow bill)` }
  }
  const files: StatementFile[] = [...(trade.status === 'ready' ? trade.files : []), ...(fund.status === 'ready' ? fund.files : [])]
  return files.length ? { status: 'ready', files } : trade
}

export const wechatPay = defineConnector({
  id: 'wechatpay',
  family: 'payment',
  title: 'WeChat Pay',
  description: 'WeChat Pay (微信支付) merchant bills: daily trade and fund-flow bills through API v2 or v3, with fees.',
  config: WechatPayConfig,
  http: (config) => ({
    baseURL: config.baseUrl,
    headers: { 'user-agent': 'tillbridge-wechatpay/1', ...(config.apiVersion === 'v3' ? { accept: 'application/json' } : {}) },
    timeoutMs: 30_000,
    // The bill APIs are not for polling; a few calls a day per merchant number.
    rateLimit: { perSecond: 5, burst: 5 },
    retry: { maxAttempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 60_000 },
    classify: config.apiVersion === 'v2' ? classifyV2 : classifyV3,
  }),
  async check(ctx) {
    const { config } = ctx
    // Two days back: a bill that exists (or is known not to) on WeChat's side, whatever the hour.
    const date = addDays(dateIn(ctx.now(), WECHATPAY_TIME_ZONE), -2)
    try {
      if (config.apiVersion === 'v2') await discardFetched(await downloadBillV2(ctx.http, { ...config, appId: config.appId! }, date, 'SUCCESS', 'check', ctx.signal))
      else await requestBillLink(v3Call(ctx, 'check'), { kind: 'trade', billType: 'SUCCESS' }, date)
      return { ok: true, message: `WeChat Pay accepted the ${config.apiVersion} signature of merchant ${config.mchId}`, details: { apiVersion: config.apiVersion } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') {
        const what = config.apiVersion === 'v2' ? 'the API key or the appid' : 'the private key, its serial number or the platform public key'
        return { ok: false, message: `WeChat Pay refused the request of merchant ${config.mchId}: check ${what} (${e.vendorCode ?? e.message})` }
      }
      if (e instanceof ConnectorError) return { ok: false, message: `WeChat Pay could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    async fetchStatement(ctx, { businessDate }) {
      if (!isDate(businessDate)) throw new ConnectorError('permanent', `${businessDate} is not a YYYY-MM-DD date`)
      const { config } = ctx
      if (config.apiVersion === 'v2') return downloadBillV2(ctx.http, { ...config, appId: config.appId! }, businessDate, 'ALL', 'fetchStatement', ctx.signal)
      return fetchV3(ctx, businessDate)
    },
    parseStatement({ format, content }, config) {
      if (format === 'wechat_trade') return parseWechatTrade(content, { mchId: config.mchId, subMchId: config.subMchId })
      if (format === 'wechat_fundflow') return parseWechatFundFlow(content)
      throw new StatementFormatError(`the WeChat Pay connector reads wechat_trade and wechat_fundflow files, not "${format}"`)
    },
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp),
  },
})
