// The 云星空 WebAPI wire: every call is `POST {server}/k3cloud/Kingdee.BOS.WebApi.ServicesStub.<Service>.<Method>.common.kdsvc`
// with JSON; login (ValidateUser or LoginByAppSecret) sets session cookies that later calls replay. The session is
// kept per connection in this process's memory and renewed once when a reply says 会话信息已丢失 (MsgCode 1).
// Errors come back with HTTP 200 and a ResponseStatus, either as `{Result:{ResponseStatus}}` (Save) or as
// `[[{Result:{ResponseStatus}}]]` (a failed ExecuteBillQuery).
import { createHash } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError, type Classified, type ErrorKind } from '../../framework/http-types.ts'
import type { KingdeeConfig } from './config.ts'

const STUB = 'Kingdee.BOS.WebApi.ServicesStub'

/** Service paths, relative to `{server}/k3cloud/`. */
export const SERVICES = {
  validateUser: `${STUB}.AuthService.ValidateUser.common.kdsvc`,
  loginByAppSecret: `${STUB}.AuthService.LoginByAppSecret.common.kdsvc`,
  save: `${STUB}.DynamicFormService.Save.common.kdsvc`,
  executeBillQuery: `${STUB}.DynamicFormService.ExecuteBillQuery.common.kdsvc`,
} as const

export interface ResponseStatus {
  ErrorCode?: number | string
  IsSuccess: boolean
  Errors?: { FieldName?: string | null; Message?: string | null; DIndex?: number }[]
  SuccessEntitys?: { Id: number | string; Number?: string | null; DIndex?: number }[]
  /** 0 default, 1 上下文丢失, 2 没有权限, 4 异常, 6 数据库操作失败, 7 许可错误, 9 字段/值不存在, 11 验证失败, 13 网控冲突, 14 调用限制. */
  MsgCode?: number
}

export interface LoginReply {
  Message?: string | null
  MessageCode?: string | null
  /** 1 when signed in; the SDKs treat anything else as a failure. */
  LoginResultType?: number
  KDSVCSessionId?: string | null
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The ResponseStatus of a reply, in either of its two wrappings; undefined for a query's rows or a login reply. */
export function responseStatusOf(data: unknown): ResponseStatus | undefined {
  const wrapped = Array.isArray(data) && Array.isArray(data[0]) && data.length === 1 && data[0].length === 1 ? data[0][0] : data
  if (!isObject(wrapped) || !isObject(wrapped.Result)) return undefined
  const status = wrapped.Result.ResponseStatus
  return isObject(status) && typeof status.IsSuccess === 'boolean' ? (status as unknown as ResponseStatus) : undefined
}

/** The error messages of a status, one line each, with the field they concern. */
export const statusMessage = (s: ResponseStatus): string =>
  (s.Errors ?? [])
    .map((e) => (e.FieldName ? `${e.FieldName}: ${e.Message ?? ''}` : (e.Message ?? '')))
    .filter(Boolean)
    .join('; ')
    .slice(0, 1000) || `Kingdee refused the call (MsgCode ${s.MsgCode ?? '?'}, ErrorCode ${s.ErrorCode ?? '?'})`

export type StatusMeaning = { kind: 'ok' } | { kind: 'session_lost' } | { kind: 'rejected'; reason: 'period_closed' | 'invalid' } | { kind: ErrorKind }

const SESSION_LOST = /会话信息已丢失|会话已失效|请重新登录/
/** 期间已结账 (closed), 不在当前期间 (before the current period), 未启用 (before the book's first period). */
const PERIOD_CLOSED = /已结账|不在当前(会计)?期间|期间.{0,12}(已关闭|未启用|已结束)|早于.{0,12}启用期间/
/** What a voucher itself can get wrong: base data that does not exist or is not audited, a missing field, imbalance. */
const VOUCHER_FAULT = /不存在|未审核|已禁用|禁用|不平衡|必录|必填|不能为空|不合法|无效|不允许|超出/

/** What a failed status means for the hub. Rejections are about the voucher; the other kinds are thrown. */
export function interpretStatus(s: ResponseStatus): StatusMeaning {
  if (s.IsSuccess) return { kind: 'ok' }
  const text = (s.Errors ?? []).map((e) => e.Message ?? '').join(' ')
  if (s.MsgCode === 1 || SESSION_LOST.test(text)) return { kind: 'session_lost' }
  if (PERIOD_CLOSED.test(text)) return { kind: 'rejected', reason: 'period_closed' }
  switch (s.MsgCode) {
    case 2: // 没有权限
    case 7: // 许可错误
    case 15: // 禁止管理员登录
      return { kind: 'auth_failed' }
    case 14: // 调用限制: refused before acting
      return { kind: 'rate_limited' }
    case 6: // 数据库操作失败
    case 13: // 网控冲突: someone else holds the record
      return { kind: 'retryable' }
    case 4: // 异常: a voucher fault when the message says so, otherwise a server-side failure
      return VOUCHER_FAULT.test(text) ? { kind: 'rejected', reason: 'invalid' } : { kind: 'retryable' }
    default:
      return { kind: 'rejected', reason: 'invalid' }
  }
}

const bytesToText = (data: unknown): string | undefined =>
  Buffer.isBuffer(data) ? data.toString('utf8') : data instanceof ArrayBuffer ? Buffer.from(data).toString('utf8') : typeof data === 'string' ? data : undefined

/** A login reply, read from the bytes it is fetched as (so the call log keeps only its length, not its session). */
export function parseLoginReply(data: unknown): LoginReply | undefined {
  const text = bytesToText(data)
  if (text === undefined) return isObject(data) ? (data as LoginReply) : undefined
  try {
    const parsed: unknown = JSON.parse(text)
    return isObject(parsed) && 'LoginResultType' in parsed ? (parsed as LoginReply) : undefined
  } catch {
    return undefined
  }
}

/** The connection's classifier: failed logins and statuses that are not about the voucher become error kinds. */
export function classifyKingdee(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status !== 200) return undefined
  if (Buffer.isBuffer(res.data) || res.data instanceof ArrayBuffer) {
    const login = parseLoginReply(res.data)
    if (!login) return { kind: 'retryable', message: 'the login answer is not a Kingdee LoginResponse' }
    if (login.LoginResultType === 1) return { kind: 'ok' }
    return { kind: 'auth_failed', vendorCode: `LoginResultType ${login.LoginResultType ?? '?'}`, message: login.Message ?? 'the login was refused' }
  }
  if (typeof res.data === 'string') return { kind: 'retryable', message: 'the answer is not JSON (an error page of the web server?)' }
  const status = responseStatusOf(res.data)
  if (!status) return { kind: 'ok' }
  const meaning = interpretStatus(status)
  // Session loss is renewed by the caller, rejections are returned as values: both are answers to read.
  if (meaning.kind === 'ok' || meaning.kind === 'session_lost' || meaning.kind === 'rejected') return { kind: 'ok' }
  return { kind: meaning.kind, vendorCode: `MsgCode ${status.MsgCode ?? '?'}`, message: statusMessage(status) }
}

// ---- the session -----------------------------------------------------------------------------------------------

interface Session {
  /** Who the session belongs to: a changed server, data centre, user or credential signs in again. */
  owner: string
  cookie: Promise<string>
}

const sessions = new Map<string, Session>()

// The credentials count as a digest (the map holds no secret): a changed password or app secret signs in with it,
// where the old session would have gone on working until it expired.
const ownerOf = (c: KingdeeConfig) =>
  [c.serverUrl, c.acctId, c.username, c.appId ?? '', createHash('sha256').update(`${c.password ?? ''}\n${c.appSecret ?? ''}`).digest('hex')].join('\n')

/** `name=value` of each Set-Cookie (axios hands them over as an array; joined, they are split at each new cookie). */
export function cookiePairs(setCookie: string | string[] | undefined): string[] {
  if (!setCookie) return []
  const all = Array.isArray(setCookie) ? setCookie : setCookie.split(/,\s*(?=[^;,=\s]+=)/)
  return all.map((c) => c.split(';')[0]!.trim()).filter((p) => /^[^=\s]+=/.test(p))
}

async function login(ctx: ConnectorContext<KingdeeConfig>): Promise<string> {
  const c = ctx.config
  const byApp = Boolean(c.appId && c.appSecret)
  const parameters = byApp ? [c.acctId, c.username, c.appId, c.appSecret, c.lcid] : [c.acctId, c.username, c.password, c.lcid]
  const res = await ctx.http.request({
    method: 'POST',
    url: byApp ? SERVICES.loginByAppSecret : SERVICES.validateUser,
    data: { format: 1, useragent: 'ApiClient', rid: {}, parameters, timestamp: ctx.now().toISOString().slice(0, 10), v: '1.0' },
    // The reply carries the session id and the user token: as bytes, the call log records only its length.
    responseType: 'arraybuffer',
    operation: 'login',
    idempotent: true,
    signal: ctx.signal,
  })
  const reply = parseLoginReply(res.data)
  if (reply?.LoginResultType !== 1) throw new ConnectorError('auth_failed', `Kingdee refused the login: ${reply?.Message ?? 'no LoginResponse'}`)
  // kdservice-sessionid and ASP.NET_SessionId; older servers only name the session in the body.
  const pairs = cookiePairs(res.headers['set-cookie'])
  if (!pairs.some((p) => p.toLowerCase().startsWith('kdservice-sessionid=')) && reply.KDSVCSessionId) pairs.push(`kdservice-sessionid=${reply.KDSVCSessionId}`)
  if (pairs.length === 0) throw new ConnectorError('permanent', 'Kingdee accepted the login but set no session cookie')
  return pairs.join('; ')
}

function sessionFor(ctx: ConnectorContext<KingdeeConfig>): Session {
  const owner = ownerOf(ctx.config)
  const current = sessions.get(ctx.connectionId)
  if (current && current.owner === owner) return current
  // Concurrent callers share one login.
  const session: Session = { owner, cookie: login(ctx) }
  sessions.set(ctx.connectionId, session)
  session.cookie.catch(() => forget(ctx.connectionId, session))
  return session
}

function forget(connectionId: string, session: Session) {
  if (sessions.get(connectionId) === session) sessions.delete(connectionId)
}

/** Signs in now (a connection check), replacing any session the connection had. */
export async function freshSession(ctx: ConnectorContext<KingdeeConfig>): Promise<void> {
  const current = sessions.get(ctx.connectionId)
  if (current) forget(ctx.connectionId, current)
  await sessionFor(ctx).cookie
}

/**
 * Calls a service with the connection's session, signing in first when there is none. A reply saying the session
 * is lost means the call was not executed: it signs in once more and replays it; lost again, the call fails as
 * retryable.
 */
export async function kdCall<T = unknown>(ctx: ConnectorContext<KingdeeConfig>, service: string, data: unknown, opts: { operation: string; idempotent: boolean }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const session = sessionFor(ctx)
    const cookie = await session.cookie
    const res = await ctx.http.request<T>({ method: 'POST', url: service, data, headers: { cookie }, operation: opts.operation, idempotent: opts.idempotent, signal: ctx.signal })
    const status = responseStatusOf(res.data)
    if (!status || interpretStatus(status).kind !== 'session_lost') return res.data
    forget(ctx.connectionId, session)
    if (attempt >= 2) throw new ConnectorError('retryable', `Kingdee lost the session again right after a new login (${opts.operation})`, { vendorCode: 'MsgCode 1' })
  }
}
