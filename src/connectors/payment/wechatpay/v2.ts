// WeChat Pay API v2 (XML): the request signature and `POST /pay/downloadbill`.
// Signature (v2 安全规范, 签名算法): the non-empty parameters
// except `sign`, sorted by name (ASCII), joined as `k=v&…`, then `&key=<API key>`; MD5 or HMAC-SHA256 (keyed with
// the API key) of that, in upper-case hex. downloadbill answers the bill itself (text, or gzip with tar_type=GZIP)
// or, on failure, `<xml><return_code>FAIL</return_code><return_msg>…</return_msg><error_code>…</error_code></xml>`.
import fs from 'node:fs'
import { createHash, createHmac, randomBytes } from 'node:crypto'
import xml2js from 'xml2js'
import type { FetchedStatement } from '../../framework/define.ts'
import type { Classified, ConnectorHttp, ErrorKind } from '../../framework/http-types.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { contentOnDisk, isGzip } from '../../../core/reconciliation/file.ts'
import { downloadedBillSha1 } from './bill-text.ts'

export type V2SignType = 'MD5' | 'HMAC-SHA256'

export function v2SigningString(params: Record<string, string | undefined>, apiKey: string): string {
  const pairs = Object.keys(params)
    .filter((k) => k !== 'sign' && params[k] !== undefined && params[k] !== '')
    .sort()
    .map((k) => `${k}=${params[k]}`)
  return `${pairs.join('&')}&key=${apiKey}`
}

export function v2Sign(params: Record<string, string | undefined>, apiKey: string, signType: V2SignType): string {
  const text = v2SigningString(params, apiKey)
  const digest = signType === 'HMAC-SHA256' ? createHmac('sha256', apiKey).update(text, 'utf8').digest('hex') : createHash('md5').update(text, 'utf8').digest('hex')
  return digest.toUpperCase()
}

const builder = new xml2js.Builder({ rootName: 'xml', headless: true, cdata: true, renderOpts: { pretty: false } })

export const toV2Xml = (params: Record<string, string>): string => builder.buildObject(params)

/** The flat `<xml>` object of a v2 message, or null when the text is not one. xml2js parses synchronously. */
export function fromV2Xml(text: string): Record<string, string> | null {
  let out: Record<string, string> | null = null
  xml2js.parseString(text, { explicitArray: false, trim: true }, (err, value: { xml?: unknown }) => {
    if (!err && value && typeof value.xml === 'object' && value.xml !== null) out = value.xml as Record<string, string>
  })
  return out
}

const looksLikeXml = (data: unknown): string | null => {
  const buf = Buffer.isBuffer(data) ? data : typeof data === 'string' ? Buffer.from(data) : null
  if (!buf || isGzip(buf)) return null
  const head = buf.subarray(0, 64).toString('utf8').trimStart()
  return head.startsWith('<xml>') ? buf.toString('utf8') : null
}

export type V2Failure = { outcome: 'empty' | 'not_ready'; message: string } | { outcome: 'error'; classified: Classified & { kind: ErrorKind } }

/** What a `return_code=FAIL` answer means: a value for "no bill" and "not yet", a classified error otherwise. */
export function v2Failure(reply: Record<string, string>): V2Failure {
  const message = reply.return_msg ?? reply.err_code_des ?? 'FAIL'
  const code = reply.error_code ?? reply.err_code ?? ''
  const both = `${code} ${message}`
  if (/no ?bill ?exist|NO_BILL_EXIST/i.test(both)) return { outcome: 'empty', message }
  if (/bill ?creating|BILL_CREATING/i.test(both)) return { outcome: 'not_ready', message }
  const kind: ErrorKind = /sign|签名/i.test(both)
    ? 'auth_failed'
    : /权限|NOAUTH|invalid appid|mch_?id/i.test(both)
      ? 'auth_failed'
      : /system ?error|SYSTEMERROR|gzip error|FREQUENCY_LIMITED/i.test(both)
        ? 'retryable'
        : 'permanent'
  return { outcome: 'error', classified: { kind, vendorCode: code || message, message } }
}

/** The v2 connection's classifier: the bill or an expected "no bill / not yet" is ok; other FAIL replies are errors. */
export function classifyV2(res: { status: number; data: unknown }): Classified | undefined {
  if (res.status !== 200) return undefined
  const xml = looksLikeXml(res.data)
  if (!xml) return { kind: 'ok' }
  const reply = fromV2Xml(xml)
  if (!reply || reply.return_code === 'SUCCESS') return { kind: 'ok' }
  const failure = v2Failure(reply)
  return failure.outcome === 'error' ? failure.classified : { kind: 'ok' }
}

export interface V2Config {
  mchId: string
  appId: string
  apiKey?: string
  signType: V2SignType
  subMchId?: string
}

/** Downloads the trade bill of `billDate` (YYYY-MM-DD) as gzip through `POST /pay/downloadbill`. */
export async function downloadBillV2(http: ConnectorHttp, config: V2Config, billDate: string, billType: 'ALL' | 'SUCCESS' | 'REFUND' = 'ALL', operation = 'fetchStatement', signal?: AbortSignal): Promise<FetchedStatement> {
  if (!config.apiKey) throw new ConnectorError('auth_failed', 'WeChat Pay v2 needs the API key (apiKey) of the merchant')
  const params: Record<string, string> = {
    appid: config.appId,
    mch_id: config.mchId,
    ...(config.subMchId ? { sub_mch_id: config.subMchId } : {}),
    nonce_str: randomBytes(16).toString('hex'),
    sign_type: config.signType,
    bill_date: billDate.replaceAll('-', ''),
    bill_type: billType,
    tar_type: 'GZIP',
  }
  params.sign = v2Sign(params, config.apiKey, config.signType)
  // The bill is written to a file as it arrives (a bill of any size is never held whole); `data` is its head.
  const res = await http.request<Buffer>({
    method: 'POST',
    url: '/pay/downloadbill',
    data: toV2Xml(params),
    headers: { 'content-type': 'text/xml; charset=utf-8' },
    responseType: 'file',
    operation,
    // Reading a bill changes nothing on WeChat's side: safe to send again after a timeout.
    idempotent: true,
    timeoutMs: 120_000,
    signal,
  })
  const saved = res.file!
  const discard = () => fs.promises.rm(saved.path, { force: true })
  const head = Buffer.from(res.data)
  // An XML reply is short: the head is all of it.
  const xml = looksLikeXml(head)
  if (xml) {
    const reply = fromV2Xml(xml)
    if (reply && reply.return_code !== 'SUCCESS') {
      await discard()
      const failure = v2Failure(reply)
      if (failure.outcome === 'error') throw new ConnectorError(failure.classified.kind, `WeChat Pay downloadbill: ${failure.classified.message}`, { vendorCode: failure.classified.vendorCode })
      return { status: failure.outcome, message: `WeChat Pay: ${failure.message}` }
    }
  }
  const content = contentOnDisk(saved.path)
  if (isGzip(head)) {
    try {
      await downloadedBillSha1(content, 'trade bill')
    } catch (e) {
      await discard()
      throw e
    }
  }
  return {
    status: 'ready',
    files: [
      {
        format: 'wechat_trade',
        name: `wechatpay-${config.subMchId ?? config.mchId}-${billDate}-trade-${billType}.csv${isGzip(head) ? '.gz' : ''}`,
        contentType: isGzip(head) ? 'application/gzip' : 'text/csv; charset=utf-8',
        content,
        discard,
      },
    ],
  }
}
