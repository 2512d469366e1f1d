// WeChat server API plumbing (api.weixin.qq.com): answers are HTTP 200 with `{errcode, errmsg}` whatever happened,
// so the error is classified from the body; bodies are read as text, because the msgid of a subscribe message is a
// 64-bit integer that JSON.parse would round.
// https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html
import type { Classified, HttpPolicy } from '../../framework/http-types.ts'

export const WECHAT_API = 'https://api.weixin.qq.com'

/** The access token was refused: fetch another and try once more. */
export const TOKEN_REFUSED = new Set(['40001', '40014', '41001', '42001'])
/** The app's credentials or permissions: nothing a retry fixes. */
const AUTH_FAILED = new Set(['40013', '40125', '40164', '40243', '41002', '41004', '48001', '50001', '50002', '61024'])
/** Quotas: 45009 the daily call quota, 45011 the per-minute frequency limit. */
export const THROTTLED = new Set(['45009', '45011', '45047'])

/** The JSON object of an answer read as text (or already parsed), or null. */
export function wechatJson(data: unknown): Record<string, unknown> | null {
  if (data && typeof data === 'object' && !Array.isArray(data) && !Buffer.isBuffer(data)) return data as Record<string, unknown>
  const text = Buffer.isBuffer(data) ? data.toString('utf8') : typeof data === 'string' ? data : null
  if (!text) return null
  try {
    const v: unknown = JSON.parse(text)
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null
  } catch {
    return null
  }
}

/** The msgid of a send as written in the answer, digits intact. */
export function msgIdOf(data: unknown): string | null {
  const text = typeof data === 'string' ? data : Buffer.isBuffer(data) ? data.toString('utf8') : data ? JSON.stringify(data) : ''
  return /"msgid"\s*:\s*"?(\d+)"?/.exec(text)?.[1] ?? null
}

export function classifyWechat(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status >= 400) return undefined
  const body = wechatJson(res.data)
  // A 200 that is not JSON is a gateway page, not WeChat's answer.
  if (!body) return { kind: 'retryable', message: 'the answer is not a WeChat JSON object' }
  const code = Number(body.errcode ?? 0)
  if (!code) return { kind: 'ok' }
  const vendorCode = String(code)
  const message = typeof body.errmsg === 'string' ? body.errmsg : undefined
  // -1: "system busy, try again later".
  if (code === -1) return { kind: 'retryable', vendorCode, message }
  if (TOKEN_REFUSED.has(vendorCode) || AUTH_FAILED.has(vendorCode)) return { kind: 'auth_failed', vendorCode, message }
  if (THROTTLED.has(vendorCode)) return { kind: 'rate_limited', vendorCode, message }
  return { kind: 'permanent', vendorCode, message }
}

export function wechatPolicy(config: { maxPerSecond: number; baseUrl?: string }): HttpPolicy {
  return {
    baseURL: config.baseUrl ?? WECHAT_API,
    headers: { 'content-type': 'application/json; charset=utf-8', accept: 'application/json' },
    timeoutMs: 10_000,
    retry: { maxAttempts: 4, baseDelayMs: 300, maxDelayMs: 30_000 },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
    rateLimit: { perSecond: config.maxPerSecond, burst: config.maxPerSecond },
    classify: classifyWechat,
  }
}
