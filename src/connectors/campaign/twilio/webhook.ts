// Twilio's webhooks for a campaign: status callbacks of our messages and messages members send back (STOP, START).
// Both are form POSTs signed with X-Twilio-Signature: base64 HMAC-SHA1, keyed with the Auth Token, over the full
// URL Twilio called followed by every POST parameter as name + value, sorted by name.
// https://www.twilio.com/docs/usage/webhooks/webhooks-security
import { createHmac } from 'node:crypto'
import type { InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import type { CampaignEvent } from '../../framework/campaign.ts'
import { safeEqual } from '../../framework/signatures.ts'
import type { TwilioConfig } from './config.ts'
import { statusEventOf } from './status.ts'

/** An empty TwiML answer: Twilio replies nothing to the member (its own STOP/START replies are sent by Twilio). */
export const TWILIO_ACK = { status: 200, contentType: 'text/xml', body: '<?xml version="1.0" encoding="UTF-8"?><Response></Response>' }

// Twilio's default keywords (long codes and toll-free; Advanced Opt-Out may add others and says so in OptOutType).
const OPT_OUT_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'])
const OPT_IN_WORDS = new Set(['START', 'UNSTOP', 'YES'])

export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const pairs = [...params].sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
  let data = url
  for (const [name, value] of pairs) data += name + value
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64')
}

/** The URL Twilio called: the hub's public base and the path and query the request arrived with. */
export const calledUrl = (config: Pick<TwilioConfig, 'webhookBaseUrl'>, path: string): string => `${config.webhookBaseUrl.replace(/\/+$/, '')}${path}`

const formOf = (req: InboundRequest) => new URLSearchParams(req.rawBody.toString('utf8'))

export function verifyTwilioSignature(req: InboundRequest, config: TwilioConfig): boolean {
  const given = req.headers['x-twilio-signature']
  if (!given || !config.authToken) return false
  // JSON bodies are signed another way (bodySHA256); Twilio's messaging webhooks are forms.
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return false
  return safeEqual(given, twilioSignature(config.authToken, calledUrl(config, req.url), formOf(req)))
}

export interface TwilioWebhookData {
  params: Record<string, string>
  /** Our delivery id from the StatusCallback's query, when the URL still has it. */
  deliveryId: string | null
}

export function parseTwilioWebhook(req: InboundRequest): ParsedWebhook {
  const params = Object.fromEntries(formOf(req))
  const sid = params.MessageSid ?? params.SmsSid
  if (!sid) throw new Error('a Twilio messaging webhook carries a MessageSid')
  const q = req.url.indexOf('?')
  const deliveryId = q < 0 ? null : new URLSearchParams(req.url.slice(q + 1)).get('d')
  const data: TwilioWebhookData = { params, deliveryId }
  // A message to us has a Body and SmsStatus "received"; a status callback has MessageStatus and no Body.
  const inbound = params.Body !== undefined && (params.SmsStatus === 'received' || params.MessageStatus === undefined)
  if (inbound) return { eventId: sid, topic: 'message.inbound', data }
  const status = params.MessageStatus ?? params.SmsStatus
  if (!status) throw new Error('a Twilio status callback carries a MessageStatus')
  return { eventId: `${sid}:${status}`, topic: 'message.status', data }
}

/** `RawDlrDoneDate` (YYMMDDhhmm, UTC, the carrier's time of the receipt) as ISO 8601. */
function dlrDoneAt(value: string | undefined): string | null {
  const m = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(value ?? '')
  if (!m) return null
  const t = Date.UTC(2000 + Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]))
  return Number.isNaN(t) ? null : new Date(t).toISOString()
}

const keywordOf = (body: string) =>
  body
    .normalize('NFKC')
    .trim()
    .replace(/^[\p{P}\s]+|[\p{P}\s]+$/gu, '')
    .toUpperCase()

export function interpretTwilioWebhook(event: ParsedWebhook): CampaignEvent[] {
  const { params, deliveryId } = event.data as TwilioWebhookData
  const now = new Date().toISOString()
  if (event.topic === 'message.status') {
    const status = statusEventOf(params.MessageStatus ?? params.SmsStatus ?? '')
    if (!status) return []
    const out: CampaignEvent[] = [
      {
        kind: 'status',
        deliveryId,
        vendorMessageId: params.MessageSid ?? params.SmsSid ?? null,
        status,
        ...(params.ErrorCode ? { code: params.ErrorCode } : {}),
        at: dlrDoneAt(params.RawDlrDoneDate) ?? now,
      },
    ]
    // A Messaging Service refuses a number that replied STOP with 21610 after accepting the message.
    if (params.ErrorCode === '21610' && params.To) out.push({ kind: 'opt_out', address: params.To, keyword: 'STOP', at: now })
    return out
  }
  if (event.topic === 'message.inbound' && params.From) {
    // With Advanced Opt-Out Twilio tells which of its (possibly custom) keywords matched.
    const type = params.OptOutType?.toUpperCase()
    const keyword = keywordOf(params.Body ?? '')
    if (type === 'STOP' || (!type && OPT_OUT_WORDS.has(keyword))) return [{ kind: 'opt_out', address: params.From, keyword, at: now }]
    if (type === 'START' || (!type && OPT_IN_WORDS.has(keyword))) return [{ kind: 'opt_in', address: params.From, keyword, at: now }]
  }
  return []
}
