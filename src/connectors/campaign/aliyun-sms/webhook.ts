// Aliyun's HTTP batch pushes: delivery receipts (SmsReport) and replies (SmsUp), each a JSON array of records.
// https://help.aliyun.com/document_detail/101867.html
//
// Aliyun signs no push. A connection is given its push URL with a secret token in the query
// (`/webhooks/{connectionId}?token=…`, set as the receipt and reply URLs in the SMS console); the token is compared in
// constant time. Aliyun pushes again after a failure with the same records, so the event id is a hash of the body.
import { createHash } from 'node:crypto'
import type { InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import type { CampaignEvent } from '../../framework/campaign.ts'
import { safeEqual } from '../../framework/signatures.ts'
import type { AliyunSmsConfig } from './config.ts'
import { e164FromVendor, vendorMessageIdOf } from './phone.ts'
import { beijingTimeToIso } from './status.ts'

/** A delivery receipt as pushed. */
export interface SmsReportRecord {
  phone_number: string
  send_time: string
  report_time: string
  success: boolean
  err_code: string
  err_msg: string
  sms_size: string
  biz_id: string
  out_id: string
}

/** A reply as pushed. */
export interface SmsUpRecord {
  phone_number: string
  send_time: string
  content: string
  sign_name: string
  dest_code: string
  sequence_id: number
}

export const CALLBACK_TOKEN_PARAM = 'token'
/** Aliyun only checks that `code` is a number; anything but HTTP 200 makes it push again (1, 5, 10 minutes later). */
export const ALIYUN_PUSH_ACK = { status: 200, contentType: 'application/json', body: JSON.stringify({ code: 0, msg: '接收成功' }) }

/** Replies that unsubscribe: marketing SMS in China end with "回T退订" / "拒收请回复R". */
const OPT_OUT_WORDS = new Set(['TD', 'T', 'R', '退订'])

export function verifyAliyunPush(req: InboundRequest, config: AliyunSmsConfig): boolean {
  if (!config.callbackToken) return false
  const q = req.url.indexOf('?')
  if (q < 0) return false
  const given = new URLSearchParams(req.url.slice(q + 1)).get(CALLBACK_TOKEN_PARAM)
  return given !== null && safeEqual(given, config.callbackToken)
}

const isReport = (r: Record<string, unknown>) => typeof r.biz_id === 'string' && typeof r.phone_number === 'string' && 'success' in r
const isReply = (r: Record<string, unknown>) => typeof r.content === 'string' && typeof r.phone_number === 'string' && !('biz_id' in r)

export function parseAliyunPush(req: InboundRequest): ParsedWebhook {
  const records = JSON.parse(req.rawBody.toString('utf8')) as unknown
  if (!Array.isArray(records) || records.length === 0 || !records.every((r) => r && typeof r === 'object')) throw new Error('an Aliyun push is a non-empty JSON array of records')
  const rows = records as Record<string, unknown>[]
  const topic = rows.every(isReport) ? 'SmsReport' : rows.every(isReply) ? 'SmsUp' : null
  if (!topic) throw new Error('the records are neither SmsReport receipts nor SmsUp replies')
  return { eventId: createHash('sha256').update(req.rawBody).digest('hex'), topic, data: rows }
}

/** A reply's words without case, width or surrounding punctuation: `ｔｄ。` reads TD. */
const keywordOf = (content: string) =>
  content
    .normalize('NFKC')
    .trim()
    .replace(/^[\p{P}\s]+|[\p{P}\s]+$/gu, '')
    .toUpperCase()

export function interpretAliyunPush(event: ParsedWebhook): CampaignEvent[] {
  const now = new Date().toISOString()
  if (event.topic === 'SmsReport') {
    return (event.data as SmsReportRecord[]).map((r) => ({
      kind: 'status',
      // Receipts of SendBatchSms carry the call's OutId, not the delivery's: they are matched by BizId + number.
      deliveryId: null,
      vendorMessageId: vendorMessageIdOf(r.biz_id, e164FromVendor(r.phone_number)),
      status: r.success === true ? 'delivered' : 'failed',
      ...(r.err_code ? { code: r.err_code } : {}),
      at: beijingTimeToIso(r.report_time) ?? now,
    }))
  }
  if (event.topic === 'SmsUp') {
    const out: CampaignEvent[] = []
    for (const r of event.data as SmsUpRecord[]) {
      const keyword = keywordOf(String(r.content))
      if (OPT_OUT_WORDS.has(keyword)) out.push({ kind: 'opt_out', address: e164FromVendor(r.phone_number), keyword, at: beijingTimeToIso(r.send_time) ?? now })
    }
    return out
  }
  return []
}
