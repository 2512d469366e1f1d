// Calls to Alipay's open-platform gateway: one signed form POST per method, the answer opened and verified, and the
// gateway's code/sub_code turned into the shared client's error kinds.
// https://opendocs.alipay.com/common/02km9f (公共错误码)
import type { ConnectorContext } from '../../framework/define.ts'
import type { Classified, HttpPolicy } from '../../framework/http-types.ts'
import { openAnswer, privateKeyFrom, publicKeyFrom, ResponseSignatureError, shanghaiTimestamp, signParams, type GatewayAnswer } from './sign.ts'

export const ALIPAY_GATEWAY = 'https://openapi.alipay.com/gateway.do'
export const BILL_URL_METHOD = 'alipay.data.dataservice.bill.downloadurl.query'
/** The answer that means "no bill for that date" (not generated yet, or nothing to bill). */
export const BILL_NOT_EXIST = 'isp.bill_not_exist'

export interface GatewayConfig {
  appId: string
  appPrivateKey: string
  alipayPublicKey: string
  gateway: string
}

/** Sub-codes of 40002 that say the app or its keys are wrong, which only the merchant can fix. */
const AUTH_SUB_CODE = /signature|sign-type|app-id|app_id|appid|cert|unbind|auth/i

/** How the shared client should take a gateway answer; `isp.bill_not_exist` is an expected outcome, not an error. */
export function classifyAnswer(node: GatewayAnswer['node']): Classified {
  const code = String(node.code ?? '')
  const sub = typeof node.sub_code === 'string' ? node.sub_code : undefined
  const detail = { vendorCode: sub ?? code, message: String(node.sub_msg ?? node.msg ?? '') }
  if (code === '10000' || sub === BILL_NOT_EXIST) return { kind: 'ok' }
  if (sub && /call-limited|rate-limit|flow-limit/i.test(sub)) return { kind: 'rate_limited', ...detail }
  if (code === '20000' || (sub && /^isp\.(unknow|unknown)-error$/.test(sub))) return { kind: 'retryable', ...detail }
  if (code === '20001' || code === '40006' || (code === '40002' && sub && AUTH_SUB_CODE.test(sub))) return { kind: 'auth_failed', ...detail }
  return { kind: 'permanent', ...detail }
}

/** The `classify` of the HTTP policy: gateway answers (text) are opened and verified; downloads (bytes) pass. */
export function gatewayClassifier(alipayPublicKey: string): NonNullable<HttpPolicy['classify']> {
  const key = publicKeyFrom(alipayPublicKey)
  return (res) => {
    if (typeof res.data !== 'string' || res.status >= 400) return undefined
    try {
      return classifyAnswer(openAnswer(res.data, key).node)
    } catch (e) {
      if (e instanceof ResponseSignatureError) return { kind: 'auth_failed', message: e.message }
      return { kind: 'permanent', message: `not an Alipay gateway answer (${e instanceof Error ? e.message : String(e)})` }
    }
  }
}

/** Calls `method` with `biz` as biz_content, signed RSA2, and returns the verified answer (errors are thrown by the client). */
export async function callGateway(ctx: ConnectorContext<GatewayConfig>, method: string, biz: Record<string, unknown>, operation: string): Promise<GatewayAnswer> {
  const { config } = ctx
  const params = signParams(
    {
      app_id: config.appId,
      method,
      format: 'JSON',
      charset: 'utf-8',
      sign_type: 'RSA2',
      timestamp: shanghaiTimestamp(ctx.now()),
      version: '1.0',
      biz_content: JSON.stringify(biz),
    },
    privateKeyFrom(config.appPrivateKey),
  )
  const res = await ctx.http.request<string>({
    method: 'POST',
    url: config.gateway,
    data: new URLSearchParams(params),
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    responseType: 'text',
    operation,
    // A query: asking twice changes nothing on Alipay's side.
    idempotent: true,
    signal: ctx.signal,
  })
  return openAnswer(res.data, publicKeyFrom(config.alipayPublicKey), method)
}
