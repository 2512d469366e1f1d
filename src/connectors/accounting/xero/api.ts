// The one way the Xero capabilities call the Accounting API: /api.xro/2.0/… with the tenant header and a bearer token
// from the shared OAuth module, the ValidationException envelope read as an answer, and Xero's dates.
// https://developer.xero.com/documentation/api/accounting/requests-and-responses
import type { ConnectorContext } from '../../framework/define.ts'
import type { Classified, HttpResponse } from '../../framework/http-types.ts'
import { classifyTokenError, withAccessToken, type OAuthClient } from '../quickbooks/oauth.ts'
import type { XeroConfig } from './config.ts'

type Ctx = ConnectorContext<XeroConfig>

export interface XeroValidationError {
  Message: string
}

/** A 400 answer: `{ ErrorNumber: 10, Type: 'ValidationException', Message, Elements: [{ …, ValidationErrors }] }`. */
export interface XeroException {
  ErrorNumber?: number
  Type?: string
  Message?: string
  Elements?: ({ ValidationErrors?: XeroValidationError[]; JournalLines?: { ValidationErrors?: XeroValidationError[] }[] } & Record<string, unknown>)[]
}

/** The problem-details shape of 401/403 (`{ Title: 'Unauthorized', Status: 401, Detail: 'TokenExpired: …' }`). */
interface XeroProblem {
  Title?: string
  Detail?: string
  Type?: string | null
  Message?: string
}

/**
 * The HTTP policy's classifier. A ValidationException is Xero's verdict on what we sent (an unknown account code, a
 * lock date), so it reaches the capability as an answer to read; other failures keep their status's kind.
 */
export function classifyXero(res: { status: number; headers: Record<string, string>; data: unknown }): Classified | undefined {
  const token = classifyTokenError(res)
  if (token) return token
  const d = res.data && typeof res.data === 'object' ? (res.data as XeroProblem) : undefined
  if (res.status === 400 && d?.Type === 'ValidationException') return { kind: 'ok' }
  if (res.status === 401 || res.status === 403) return { kind: 'auth_failed', vendorCode: d?.Title, message: d?.Detail }
  // X-Rate-Limit-Problem says which limit: minute, day, concurrent or appminute. The wait is Retry-After's.
  if (res.status === 429) return { kind: 'rate_limited', vendorCode: res.headers['x-rate-limit-problem'] ? `${res.headers['x-rate-limit-problem']} limit` : undefined }
  // Other exceptions ({ Type, Message }) and problem details ({ Title, Detail }: a reused Idempotency-Key, a 404).
  const message = typeof d?.Message === 'string' ? d.Message : typeof d?.Detail === 'string' ? d.Detail : undefined
  if (res.status >= 400 && message) return { kind: res.status >= 500 ? 'retryable' : 'permanent', vendorCode: d?.Type ?? d?.Title ?? undefined, message }
  return undefined
}

export const oauthClient = (config: XeroConfig): OAuthClient => ({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret, refreshToken: config.refreshToken })

export interface XeroRequest {
  method: 'GET' | 'PUT'
  /** Below /api.xro/2.0/, e.g. `ManualJournals`. */
  path: string
  params?: Record<string, string>
  headers?: Record<string, string>
  /** A JSON text (bodies with exact decimals are serialised by the caller). */
  data?: string
  operation: string
}

export function xeroRequest<T>(ctx: Ctx, req: XeroRequest): Promise<HttpResponse<T>> {
  return withAccessToken(ctx, oauthClient(ctx.config), (token) =>
    ctx.http.request<T>({
      method: req.method,
      url: `/api.xro/2.0/${req.path}`,
      params: req.params,
      headers: { ...req.headers, authorization: `Bearer ${token}` },
      data: req.data,
      operation: req.operation,
      signal: ctx.signal,
    }),
  )
}

/** A Xero JSON date (`/Date(1795132800000+0000)/`) as YYYY-MM-DD; Xero keeps dates at midnight UTC. */
export function xeroDate(value: unknown): string | null {
  if (typeof value !== 'string') return null
  const m = /^\/Date\((-?\d+)([+-]\d{4})?\)\/$/.exec(value)
  if (m) return new Date(Number(m[1])).toISOString().slice(0, 10)
  return /^\d{4}-\d{2}-\d{2}/.test(value) ? value.slice(0, 10) : null
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/** A date as Xero writes it in messages (`31-Jul-2013`) as YYYY-MM-DD. */
export function messageDate(day: string, month: string, year: string): string | null {
  const m = MONTHS.findIndex((x) => x.toLowerCase() === month.toLowerCase())
  return m < 0 ? null : `${year}-${String(m + 1).padStart(2, '0')}-${day.padStart(2, '0')}`
}
