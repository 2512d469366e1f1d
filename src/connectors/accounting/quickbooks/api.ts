// The one way the QuickBooks capabilities call the Accounting API: /v3/company/{realmId}/… with the pinned minor
// version and a bearer token from oauth.ts, the Fault envelope read for its codes, and the query endpoint.
// https://developer.intuit.com/app/developer/qbo/docs/develop/troubleshooting/error-codes
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type Classified, type HttpResponse } from '../../framework/http-types.ts'
import { classifyTokenError, withAccessToken, type OAuthClient } from './oauth.ts'
import { QBO_MINOR_VERSION, type QuickBooksConfig } from './config.ts'

type Ctx = ConnectorContext<QuickBooksConfig>

export interface QboError {
  Message: string
  Detail?: string
  code: string
  element?: string
}

/** The Fault envelope; 401s come in the lower-case variant ({ fault: { error: [{ message, detail, code }] } }). */
export interface QboFault {
  Error: QboError[]
  type: string
}

/** The Fault of an answer in either spelling, normalised. */
export function faultOf(data: unknown): QboFault | undefined {
  if (!data || typeof data !== 'object') return undefined
  const d = data as { Fault?: QboFault; fault?: { error?: { message?: string; detail?: string; code?: string; element?: string }[]; type?: string } }
  if (d.Fault && Array.isArray(d.Fault.Error)) return d.Fault
  if (d.fault && Array.isArray(d.fault.error)) {
    return { type: d.fault.type ?? 'Fault', Error: d.fault.error.map((e) => ({ Message: e.message ?? '', Detail: e.detail ?? undefined, code: String(e.code ?? ''), element: e.element ?? undefined })) }
  }
  return undefined
}

export const faultText = (fault: QboFault) => fault.Error.map((e) => (e.Detail && e.Detail !== e.Message ? `${e.Message}: ${e.Detail}` : e.Message)).join('; ')

/**
 * The HTTP policy's classifier. A ValidationFault is QuickBooks' verdict on what we sent (an unknown account, a closed
 * period), so it reaches the capability as an answer to read; the other faults keep their status's kind with the
 * vendor's code and text.
 */
export function classifyQbo(res: { status: number; data: unknown }): Classified | undefined {
  const token = classifyTokenError(res)
  if (token) return token
  const fault = faultOf(res.data)
  if (!fault) return undefined
  if (res.status === 400 && fault.type === 'ValidationFault') return { kind: 'ok' }
  const kind = res.status === 401 || res.status === 403 ? 'auth_failed' : res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'retryable' : 'permanent'
  return { kind, vendorCode: fault.Error[0]?.code || fault.type, message: faultText(fault) }
}

export const oauthClient = (config: QuickBooksConfig): OAuthClient => ({ tokenUrl: config.tokenUrl, clientId: config.clientId, clientSecret: config.clientSecret, refreshToken: config.refreshToken })

export interface QboRequest {
  method: 'GET' | 'POST'
  /** Below /v3/company/{realmId}/, e.g. `journalentry`. */
  path: string
  params?: Record<string, string>
  /** A JSON text (bodies with exact decimals are serialised by the caller). */
  data?: string
  operation: string
  idempotent?: boolean
}

export function qboRequest<T>(ctx: Ctx, req: QboRequest): Promise<HttpResponse<T>> {
  return withAccessToken(ctx, oauthClient(ctx.config), (token) =>
    ctx.http.request<T>({
      method: req.method,
      url: `/v3/company/${encodeURIComponent(ctx.config.realmId)}/${req.path}`,
      params: { ...req.params, minorversion: String(QBO_MINOR_VERSION) },
      headers: { authorization: `Bearer ${token}` },
      data: req.data,
      operation: req.operation,
      idempotent: req.idempotent,
      signal: ctx.signal,
    }),
  )
}

/** A string literal of the query language: single quotes, backslash escapes. */
export const qboLiteral = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`

/** `select * from {entity} where {where}`: the entities found (an empty QueryResponse when none). */
export async function qboQuery<E>(ctx: Ctx, entity: string, where: string, operation: string): Promise<E[]> {
  const res = await qboRequest<{ QueryResponse?: Record<string, unknown> }>(ctx, { method: 'GET', path: 'query', params: { query: `select * from ${entity} where ${where}` }, operation })
  const fault = faultOf(res.data)
  if (fault) throw new ConnectorError('permanent', `QuickBooks refused the ${entity} query: ${faultText(fault)}`, { status: res.status, vendorCode: fault.Error[0]?.code })
  const found = res.data.QueryResponse?.[entity]
  return Array.isArray(found) ? (found as E[]) : []
}
