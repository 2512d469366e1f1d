// WeChat Pay API v3 (REST): the request signature, the check of WeChat's answer signature, and the bill pair
// `GET /v3/bill/tradebill` | `/v3/bill/fundflowbill` → `{hash_type:"SHA1", hash_value, download_url}` → the file.
// - Request: `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",timestamp="…",serial_no="…"`,
//   the signature being RSA-SHA256 (PKCS#1 v1.5) with the merchant's private key over
//   "METHOD\nPATH?QUERY\ntimestamp\nnonce\nbody\n" (body empty for GET).
// - Answer: `Wechatpay-Timestamp/-Nonce/-Signature/-Serial`, RSA-SHA256 over "timestamp\nnonce\nbody\n" with the
//   platform certificate's or WeChat Pay public key; checked when the connection has that key.
// - The download itself is not signed by WeChat: its SHA-1, taken over the decompressed bill, is what proves it.
// - Errors are JSON `{code, message}`: 400 NO_STATEMENT_EXIST (nothing that day), 400 STATEMENT_CREATING (come back
//   after 10:00), 400 PARAM_ERROR / INVALID_REQUEST, 401 SIGN_ERROR, 403 NO_AUTH, 429 FREQUENCY_LIMITED, 500 SYSTEM_ERROR.
import fs from 'node:fs'
import { createPrivateKey, createPublicKey, createSign, createVerify, randomBytes } from 'node:crypto'
import type { FetchedStatement, StatementFile } from '../../framework/define.ts'
import type { Classified, ConnectorHttp, HttpResponse } from '../../framework/http-types.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { contentOnDisk, isGzip } from '../../../core/reconciliation/file.ts'
import { downloadedBillSha1 } from './bill-text.ts'

export const V3_AUTH_SCHEME = 'WECHATPAY2-SHA256-RSA2048'
/** WeChat refuses requests whose timestamp is further than this from its clock; we hold its answers to the same. */
export const V3_CLOCK_SKEW_SECONDS = 300

export const v3SigningString = (method: string, pathAndQuery: string, timestamp: string, nonce: string, body: string): string =>
  `${method}\n${pathAndQuery}\n${timestamp}\n${nonce}\n${body}\n`

export interface V3Signer {
  mchId: string
  serialNo: string
  privateKey: string
}

export function v3Authorization(signer: V3Signer, req: { method: string; pathAndQuery: string; body?: string; timestamp: number; nonce?: string }): string {
  const nonce = req.nonce ?? randomBytes(16).toString('hex').toUpperCase()
  const timestamp = String(req.timestamp)
  const signature = createSign('RSA-SHA256')
    .update(v3SigningString(req.method, req.pathAndQuery, timestamp, nonce, req.body ?? ''))
    .sign(createPrivateKey(signer.privateKey), 'base64')
  return `${V3_AUTH_SCHEME} mchid="${signer.mchId}",nonce_str="${nonce}",signature="${signature}",timestamp="${timestamp}",serial_no="${signer.serialNo}"`
}

/** The fields of a v3 Authorization header, or null when it is not one. */
export function parseV3Authorization(header: string | null | undefined): Record<string, string> | null {
  if (!header?.startsWith(`${V3_AUTH_SCHEME} `)) return null
  const out: Record<string, string> = {}
  for (const m of header.slice(V3_AUTH_SCHEME.length + 1).matchAll(/(\w+)="([^"]*)"/g)) out[m[1]!] = m[2]!
  return out
}

export interface V3ResponseKey {
  publicKey: string
  /** When set, the answer must name this key (a certificate serial or a `PUB_KEY_ID_…`). */
  serial?: string
}

/** True when WeChat's answer carries a valid signature of `body`, made within the allowed clock skew. */
export function verifyV3Response(headers: Record<string, string>, body: string, key: V3ResponseKey, now: Date): boolean {
  const ts = headers['wechatpay-timestamp']
  const nonce = headers['wechatpay-nonce']
  const signature = headers['wechatpay-signature']
  if (!ts || !nonce || !signature || !/^\d+$/.test(ts)) return false
  if (key.serial && headers['wechatpay-serial'] !== key.serial) return false
  if (Math.abs(now.getTime() / 1000 - Number(ts)) > V3_CLOCK_SKEW_SECONDS) return false
  try {
    return createVerify('RSA-SHA256').update(`${ts}\n${nonce}\n${body}\n`).verify(createPublicKey(key.publicKey), signature, 'base64')
  } catch {
    return false
  }
}

const jsonOf = (data: unknown): Record<string, unknown> | null => {
  try {
    const v: unknown = typeof data === 'string' ? JSON.parse(data) : Buffer.isBuffer(data) ? JSON.parse(data.toString('utf8')) : data
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null
  } catch {
    return null
  }
}

const EXPECTED_400 = new Set(['NO_STATEMENT_EXIST', 'STATEMENT_CREATING'])

/** The v3 connection's classifier: "no bill" and "not yet" come back as answers; other codes keep their status's kind. */
export function classifyV3(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status < 400) return undefined
  const body = jsonOf(res.data)
  const code = typeof body?.code === 'string' ? body.code : undefined
  const message = typeof body?.message === 'string' ? body.message : undefined
  if (res.status === 400 && code && EXPECTED_400.has(code)) return { kind: 'ok' }
  const kind = res.status === 401 || res.status === 403 ? 'auth_failed' : res.status === 429 ? 'rate_limited' : res.status >= 500 ? 'retryable' : 'permanent'
  return { kind, vendorCode: code, message }
}

export interface V3Config extends V3Signer {
  baseUrl: string
  subMchId?: string
  platformPublicKey?: string
  platformSerial?: string
}

export type V3Bill = { kind: 'trade'; billType: 'ALL' | 'SUCCESS' | 'REFUND' } | { kind: 'fundflow'; accountType: 'BASIC' | 'OPERATION' | 'FEES' }

interface BillLink {
  hash_type: string
  hash_value: string
  download_url: string
}

export interface V3Call {
  http: ConnectorHttp
  config: V3Config
  now(): Date
  operation?: string
  signal?: AbortSignal
}

/** A signed GET; `url` is a path under the base URL or an absolute URL of the same origin. */
async function signedGet<T>(call: V3Call, url: URL, responseType: 'text' | 'file', timeoutMs?: number): Promise<HttpResponse<T>> {
  const pathAndQuery = `${url.pathname}${url.search}`
  const authorization = v3Authorization(call.config, { method: 'GET', pathAndQuery, timestamp: Math.floor(call.now().getTime() / 1000) })
  return call.http.request<T>({
    method: 'GET',
    url: url.toString(),
    headers: { authorization, accept: responseType === 'text' ? 'application/json' : '*/*' },
    responseType,
    operation: call.operation,
    timeoutMs,
    signal: call.signal,
  })
}

function checkAnswer(call: V3Call, res: HttpResponse<string>, what: string) {
  if (!call.config.platformPublicKey) return
  const key = { publicKey: call.config.platformPublicKey, serial: call.config.platformSerial }
  if (!verifyV3Response(res.headers, res.data ?? '', key, call.now())) {
    throw new ConnectorError('auth_failed', `the answer to ${what} does not carry a valid WeChat Pay signature (check the platform public key and its serial)`, {
      status: res.status,
      vendorCode: 'RESPONSE_SIGNATURE_INVALID',
    })
  }
}

export type BillLinkAnswer = { status: 'empty' | 'not_ready'; message: string } | { status: 'link'; link: BillLink }

/** Asks for the download link of one bill of `billDate` (YYYY-MM-DD); "no bill" and "not yet" are answers. */
export async function requestBillLink(call: V3Call, bill: V3Bill, billDate: string): Promise<BillLinkAnswer> {
  const base = call.config.baseUrl.replace(/\/+$/, '')
  const query = new URLSearchParams({ bill_date: billDate })
  if (bill.kind === 'trade') {
    if (call.config.subMchId) query.set('sub_mchid', call.config.subMchId)
    query.set('bill_type', bill.billType)
  } else query.set('account_type', bill.accountType)
  query.set('tar_type', 'GZIP')
  const path = bill.kind === 'trade' ? '/v3/bill/tradebill' : '/v3/bill/fundflowbill'
  const res = await signedGet<string>(call, new URL(`${base}${path}?${query}`), 'text')
  checkAnswer(call, res, path)
  const body = jsonOf(res.data)
  if (res.status === 400) {
    const message = `WeChat Pay: ${String(body?.message ?? body?.code)}`
    return body?.code === 'NO_STATEMENT_EXIST' ? { status: 'empty', message } : { status: 'not_ready', message }
  }
  const link = body as Partial<BillLink> | null
  if (!link || link.hash_type?.toUpperCase() !== 'SHA1' || !/^[0-9a-f]{40}$/i.test(link.hash_value ?? '') || typeof link.download_url !== 'string') {
    throw new ConnectorError('permanent', `${path} answered without a SHA1 hash_value and a download_url`, { status: res.status })
  }
  let download: URL
  try {
    download = new URL(link.download_url)
  } catch {
    throw new ConnectorError('permanent', `${path} answered a download_url that is not a URL`, { status: res.status })
  }
  // The signed Authorization goes only to WeChat's own host.
  if (download.origin !== new URL(base).origin) {
    throw new ConnectorError('permanent', `${path} gave a download URL on another host (${download.host}); refused`, { status: res.status })
  }
  return { status: 'link', link: link as BillLink }
}

/**
 * Fetches one bill of `billDate` (YYYY-MM-DD): asks for its link, downloads it gzipped and checks its SHA-1 over
 * the decompressed bytes; a file that does not match is refused.
 */
export async function fetchBillV3(call: V3Call, bill: V3Bill, billDate: string): Promise<FetchedStatement> {
  const answer = await requestBillLink(call, bill, billDate)
  if (answer.status !== 'link') return answer
  const { link } = answer
  // Written to a file as it arrives (a bill of any size is never held whole), then checked from there.
  const file = await signedGet<Buffer>(call, new URL(link.download_url), 'file', 300_000)
  const saved = file.file!
  const discard = () => fs.promises.rm(saved.path, { force: true })
  const content = contentOnDisk(saved.path)
  let actual: string
  try {
    // SHA-1 of the bill as WeChat hashed it: after gunzip, streamed.
    actual = await downloadedBillSha1(content, `${bill.kind} bill`)
  } catch (e) {
    await discard()
    throw e
  }
  const expected = link.hash_value.toLowerCase()
  if (actual !== expected) {
    await discard()
    throw new ConnectorError('retryable', `the downloaded ${bill.kind} bill does not match its SHA-1 (expected ${expected}, got ${actual}); refused`, { vendorCode: 'HASH_MISMATCH' })
  }
  const owner = call.config.subMchId ?? call.config.mchId
  const gz = isGzip(Buffer.from(file.data))
  const statement: StatementFile = {
    format: bill.kind === 'trade' ? 'wechat_trade' : 'wechat_fundflow',
    name: `wechatpay-${owner}-${billDate}-${bill.kind === 'trade' ? `trade-${bill.billType}` : `fundflow-${bill.accountType}`}.csv${gz ? '.gz' : ''}`,
    contentType: gz ? 'application/gzip' : 'text/csv; charset=utf-8',
    content,
    discard,
    vendorHash: { algorithm: 'sha1', value: expected, over: 'decompressed' },
  }
  return { status: 'ready', files: [statement] }
}
