// Alibaba Cloud's RPC-style API (dysmsapi 2017-05-25): every call is a set of parameters signed with HMAC-SHA1
// (SignatureVersion 1.0) and sent as a form to the endpoint's root, and every answer carries a `Code` ('OK' or the
// error), also with HTTP 200 for business errors. https://help.aliyun.com/document_detail/315526.html
import { createHmac, randomUUID } from 'node:crypto'
import type { ConnectorContext } from '../../framework/define.ts'
import type { Classified, ErrorKind, HttpResponse } from '../../framework/http-types.ts'

export const ALIYUN_SMS_ENDPOINT = 'https://dysmsapi.aliyuncs.com'
export const ALIYUN_SMS_VERSION = '2017-05-25'

export interface AliyunCredentials {
  accessKeyId: string
  accessKeySecret: string
}

/** Every answer: `Code` 'OK' on success; errors add `Message` (and from the gateway `HostId`, `Recommend`). */
export interface AliyunAnswer {
  Code: string
  Message?: string
  RequestId?: string
}

/** RFC 3986 percent-encoding as the signature spec wants it: only A-Z a-z 0-9 - _ . ~ stay, space is %20. */
export const percentEncode = (s: string): string => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/** The parameters sorted by name (code unit order) and joined as `k=v&…`, both percent-encoded. */
export const canonicalQuery = (params: Record<string, string>): string =>
  Object.keys(params)
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k]!)}`)
    .join('&')

/** StringToSign = METHOD&%2F&encode(canonical query); Signature = base64 HMAC-SHA1 keyed with `secret&`. */
export function rpcSignature(method: string, params: Record<string, string>, accessKeySecret: string): string {
  const stringToSign = `${method}&${percentEncode('/')}&${percentEncode(canonicalQuery(params))}`
  return createHmac('sha1', `${accessKeySecret}&`).update(stringToSign, 'utf8').digest('base64')
}

/** `2017-05-25T12:00:00Z`: ISO 8601 in UTC without milliseconds. */
export const rpcTimestamp = (at: Date): string => at.toISOString().replace(/\.\d{3}Z$/, 'Z')

/** The signed form body of one call: the common parameters, the action's own, and the Signature. */
export function signedForm(action: string, params: Record<string, string>, creds: AliyunCredentials, at: Date, nonce: string = randomUUID()): string {
  const all: Record<string, string> = {
    AccessKeyId: creds.accessKeyId,
    Action: action,
    Format: 'JSON',
    RegionId: 'cn-hangzhou',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: nonce,
    SignatureVersion: '1.0',
    Timestamp: rpcTimestamp(at),
    Version: ALIYUN_SMS_VERSION,
    ...params,
  }
  const signature = rpcSignature('POST', all, creds.accessKeySecret)
  return `${canonicalQuery(all)}&Signature=${percentEncode(signature)}`
}

// Codes of the gateway and of dysmsapi, by what a caller can do about them.
const THROTTLED = /^Throttling(\.|$)/
const AUTH_CODES = new Set([
  'InvalidAccessKeyId.NotFound',
  'InvalidAccessKeyId.Inactive',
  'SignatureDoesNotMatch',
  'IncompleteSignature',
  'Forbidden.RAM',
  'isp.RAM_PERMISSION_DENY',
  'isv.ACCOUNT_NOT_EXISTS',
  'isv.ACCOUNT_ABNORMAL',
  'isv.PRODUCT_UN_SUBSCRIPT',
  'isv.PRODUCT_UNSUBSCRIBE',
  'isv.DENY_IP_RANGE',
])
const TRANSIENT_CODES = new Set(['isp.SYSTEM_ERROR', 'ServiceUnavailable', 'InternalError', 'isp.GATEWAY_ERROR'])

/** What a caller can do about an answer's Code. */
export function aliyunErrorKind(code: string, status: number): ErrorKind {
  if (THROTTLED.test(code)) return 'rate_limited'
  if (AUTH_CODES.has(code)) return 'auth_failed'
  if (TRANSIENT_CODES.has(code) || status >= 500) return 'retryable'
  return 'permanent'
}

/** Classifies by the answer's Code, whatever the HTTP status (business errors come with 200). */
export function classifyAliyun(res: { status: number; data: unknown }): Classified | undefined {
  const d = res.data && typeof res.data === 'object' ? (res.data as Partial<AliyunAnswer>) : undefined
  const code = typeof d?.Code === 'string' ? d.Code : undefined
  if (!code) return res.status < 300 ? { kind: 'permanent', message: 'the answer has no Code' } : undefined
  if (code === 'OK' && res.status < 300) return { kind: 'ok' }
  return { kind: aliyunErrorKind(code, res.status), vendorCode: code, message: d?.Message }
}

/**
 * A form that signs itself each time it is serialised. The shared client sends the same body on every attempt
 * (a throttled call waited out, a query retried), but Aliyun refuses a SignatureNonce it has seen and a stale
 * Timestamp: axios serialises URLSearchParams with toString() per attempt, so each attempt gets its own.
 */
class FreshlySignedForm extends URLSearchParams {
  readonly #sign: () => string
  constructor(sign: () => string) {
    super()
    this.#sign = sign
  }
  override toString(): string {
    return this.#sign()
  }
}

/** One signed call. A query is safe to repeat; a send is not (SendBatchSms has no idempotency). */
export async function aliyunRpc<T extends AliyunAnswer>(
  ctx: ConnectorContext<AliyunCredentials>,
  action: string,
  params: Record<string, string>,
  opts: { idempotent: boolean },
): Promise<HttpResponse<T>> {
  return ctx.http.request<T>({
    method: 'POST',
    url: '/',
    headers: { accept: 'application/json' },
    data: new FreshlySignedForm(() => signedForm(action, params, ctx.config, ctx.now())),
    operation: action,
    idempotent: opts.idempotent,
    signal: ctx.signal,
  })
}
