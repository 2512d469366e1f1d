// Calls to the TOP gateway: one signed form POST per API method (JSON, simplify=true, so a success is the answer
// object itself and an error is `{"error_response":{code,msg,sub_code,sub_msg,request_id}}`), and the classification
// of those 200-with-error answers into the shared client's error kinds.
// Platform error codes: https://open.taobao.com/doc.htm?docId=114 (平台错误码); sub codes starting `isp.` are the
// platform's or the service's trouble, `isv.` the caller's.
import type { ConnectorContext } from '../../framework/define.ts'
import type { Classified, HttpPolicy } from '../../framework/http-types.ts'
import type { TaobaoConfig } from './config.ts'
import { gmt8, topSign } from './sign.ts'

export interface TopError {
  code?: number | string
  msg?: string
  sub_code?: string
  sub_msg?: string
  request_id?: string
}

/** 7 App Call Limited; its sub codes name the limit (`accesscontrol.limited-by-app-access-count`, `…-api-…`, `isp.call-limited`). */
const RATE_LIMITED_CODES = new Set(['7'])
const RATE_LIMITED_SUB = /call-limited|limited-by-|access-count|flow-limit/i
/**
 * The app or the seller's authorisation is wrong, which only the merchant can fix: 11/12 insufficient ISV/user
 * permissions, 24/25 missing/invalid signature, 26/27 missing/invalid session, 28/29 missing/invalid app key.
 */
const AUTH_CODES = new Set(['11', '12', '24', '25', '26', '27', '28', '29'])
const AUTH_SUB = /invalid-sessionkey|session-expired|sessionkey|invalid-signature|invalid-app-key|appkey/i
/** 10 Service Currently Unavailable; 15 Remote service error comes with an isp.* or isv.* sub code saying whose. */
const UNAVAILABLE_CODES = new Set(['1', '2', '10'])

/** Seconds TOP asks us to wait, from `sub_msg` "This ban will last for 3 more seconds". */
export function banSeconds(subMsg: string | undefined): number | undefined {
  const m = /last for (\d+) more seconds?/i.exec(subMsg ?? '')
  return m ? Number(m[1]) : undefined
}

/** How an answer's body is taken: ok, or the error it reports with TOP's own code and message. */
export function classifyTopAnswer(data: unknown): Classified & { waitSeconds?: number } {
  if (!data || typeof data !== 'object' || Array.isArray(data)) return { kind: 'retryable', message: 'the gateway answered something other than a TOP JSON answer' }
  const err = (data as { error_response?: TopError }).error_response
  if (!err) return { kind: 'ok' }
  const code = String(err.code ?? '')
  const sub = typeof err.sub_code === 'string' && err.sub_code ? err.sub_code : undefined
  const detail = { vendorCode: sub ?? code, message: [err.msg, err.sub_msg].filter(Boolean).join(': ') }
  if (RATE_LIMITED_CODES.has(code) || (sub && RATE_LIMITED_SUB.test(sub))) return { kind: 'rate_limited', ...detail, waitSeconds: banSeconds(err.sub_msg) ?? 1 }
  if (AUTH_CODES.has(code) || (sub && AUTH_SUB.test(sub))) return { kind: 'auth_failed', ...detail }
  if (sub?.startsWith('isp.') || (!sub && UNAVAILABLE_CODES.has(code))) return { kind: 'retryable', ...detail }
  return { kind: 'permanent', ...detail }
}

/**
 * The `classify` of the HTTP policy. TOP says how long a flow-control ban lasts only in `sub_msg`; the shared client
 * reads waits from headers, so the ban is handed to it as a Retry-After on the response it classifies (a framework
 * `retryAfterMs` on Classified would say this more plainly).
 */
export const classifyTop: NonNullable<HttpPolicy['classify']> = (res) => {
  if (res.status >= 400) return undefined
  const { waitSeconds, ...verdict } = classifyTopAnswer(res.data)
  if (verdict.kind === 'rate_limited' && waitSeconds !== undefined && res.headers['retry-after'] === undefined) res.headers['retry-after'] = String(waitSeconds)
  return verdict
}

export type TopParams = Record<string, string | number | boolean | undefined>

/** The signed form of one call: the common parameters, the method's own, and `sign`. */
export function signedParams(config: TaobaoConfig, method: string, params: TopParams, now: Date): Record<string, string> {
  const all: Record<string, string> = {
    method,
    app_key: config.appKey,
    session: config.sessionKey,
    timestamp: gmt8(now),
    v: '2.0',
    sign_method: config.signMethod,
    format: 'json',
    simplify: 'true',
  }
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') all[k] = String(v)
  all.sign = topSign(all, config.appSecret, config.signMethod)
  return all
}

/**
 * Calls `method` and returns the answer object (errors are thrown by the shared client as classified
 * ConnectorErrors). `idempotent`: the call may be sent again after a timeout or an isp.* failure.
 */
export async function callTop<T>(ctx: ConnectorContext<TaobaoConfig>, method: string, params: TopParams, opts: { operation: string; idempotent: boolean }): Promise<T> {
  const res = await ctx.http.request<T>({
    method: 'POST',
    url: ctx.config.gatewayUrl,
    data: new URLSearchParams(signedParams(ctx.config, method, params, ctx.now())),
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    responseType: 'json',
    operation: opts.operation,
    idempotent: opts.idempotent,
    signal: ctx.signal,
  })
  return res.data
}
