// A Twilio Programmable Messaging simulator for msw: the 2010-04-01 REST API with HTTP basic auth (Account SID and
// Auth Token), the Messages resource (create form-encoded, fetch), the Account fetch, Twilio's JSON error envelope
// and codes (20003, 20404, 20429 with Retry-After, 21211, 21602, 21603, 21606, 21610, 21614, 21617), an
// account request rate, outages, the message lifecycle (queued/accepted → sent → delivered or undelivered), and
// signed webhook deliveries (X-Twilio-Signature) of status callbacks and inbound messages, with Twilio's own
// STOP/START handling of the numbers that reply. State is kept in Maps for benchmarks.
// https://www.twilio.com/docs/messaging/api/message-resource, https://www.twilio.com/docs/usage/webhooks/webhooks-security,
// https://www.twilio.com/docs/api/errors
import { createHmac, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export interface TwilioSandboxOptions {
  baseUrl?: string
  accountSid: string
  authToken: string
  friendlyName?: string
  /** Numbers (or alphanumeric sender IDs) the account may send from. */
  senders?: string[]
  messagingServiceSids?: string[]
  /** API requests per second before 429 / 20429 (default 100). */
  ratePerSecond?: number
  latencyMs?: number
  /** Requests kept in `state.requests`, newest last (default 100 000; older ones are dropped). */
  requestLogLimit?: number
  clock?: () => Date
}

export type SimMessageStatus = 'accepted' | 'queued' | 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed'

export interface SimMessage {
  sid: string
  to: string
  from: string | null
  messagingServiceSid: string | null
  body: string
  status: SimMessageStatus
  statusCallback: string | null
  errorCode: number | null
  createdAt: Date
  updatedAt: Date
}

export interface SimTwilioRequest {
  at: Date
  method: string
  path: string
  /** The form of a POST. */
  form: Record<string, string>
  status: number
  code: number | null
}

/** A webhook as Twilio would POST it: the absolute `url`, and `path` (path and query) to POST to the hub. */
export interface TwilioWebhookDelivery {
  url: string
  path: string
  headers: Record<string, string>
  body: string
}

const OPT_OUT = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'REVOKE', 'OPTOUT'])
const OPT_IN = new Set(['START', 'UNSTOP', 'YES'])
const E164 = /^\+[1-9]\d{6,14}$/

/** Twilio's signature: base64 HMAC-SHA1 with the Auth Token over the URL and the sorted parameters (name + value). */
export function twilioSign(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, k) => acc + k + params[k], url)
  return createHmac('sha1', authToken).update(data, 'utf8').digest('base64')
}

/** RFC 2822 as Twilio writes dates: `Thu, 30 Jul 2015 20:12:31 +0000`. */
const rfc2822 = (d: Date) => d.toUTCString().replace('GMT', '+0000')
/** `RawDlrDoneDate`: YYMMDDhhmm in UTC. */
const dlrDate = (d: Date) => d.toISOString().replace(/^\d{2}(\d{2})-(\d{2})-(\d{2})T(\d{2}):(\d{2}).*$/, '$1$2$3$4$5')

export function twilioSandbox(opts: TwilioSandboxOptions) {
  const base = (opts.baseUrl ?? 'https://api.twilio.com').replace(/\/+$/, '')
  const now = opts.clock ?? (() => new Date())
  const logLimit = Math.max(1, opts.requestLogLimit ?? 100_000)
  const sid = opts.accountSid
  const state = {
    down: false,
    /** Answers this many more requests, then goes down (an outage in the middle of a batch); null: never. */
    downAfter: null as number | null,
    latencyMs: opts.latencyMs ?? 0,
    ratePerSecond: opts.ratePerSecond ?? 100,
    /** The next this many requests are refused with 429 whatever the rate. */
    rateLimitNext: 0,
    retryAfterSeconds: 1,
    authToken: opts.authToken,
    accountStatus: 'active' as 'active' | 'suspended' | 'closed',
    senders: new Set(opts.senders ?? []),
    messagingServiceSids: new Set(opts.messagingServiceSids ?? []),
    /** Numbers Twilio calls invalid (21211) although they look like E.164. */
    invalidNumbers: new Set<string>(),
    /** Landlines and other numbers that cannot take SMS (21614). */
    landlines: new Set<string>(),
    /** Numbers that replied STOP (21610); START takes them off. */
    optedOut: new Set<string>(),
    /** Numbers taken but never delivered: the carrier reports them unreachable (30003, undelivered). */
    unreachable: new Set<string>(),
    requests: [] as SimTwilioRequest[],
    /** Requests being answered now, and the most at once so far (reset it to measure a period). */
    inFlight: 0,
    maxInFlight: 0,
    messages: new Map<string, SimMessage>(),
    byTo: new Map<string, SimMessage[]>(),
    bucket: { tokens: opts.ratePerSecond ?? 100, at: performance.now() },
  }

  const error = (status: number, code: number, message: string, headers: Record<string, string> = {}) =>
    HttpResponse.json({ code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, { status, headers: { 'twilio-request-id': `RQ${randomBytes(16).toString('hex')}`, ...headers } })

  function takeToken(): boolean {
    const t = performance.now()
    const b = state.bucket
    b.tokens = Math.min(state.ratePerSecond, b.tokens + ((t - b.at) / 1000) * state.ratePerSecond)
    b.at = t
    if (b.tokens < 1) return false
    b.tokens -= 1
    return true
  }

  const resource = (m: SimMessage) => ({
    account_sid: sid,
    api_version: '2010-04-01',
    body: m.body,
    date_created: rfc2822(m.createdAt),
    date_sent: m.status === 'sent' || m.status === 'delivered' || m.status === 'undelivered' ? rfc2822(m.updatedAt) : null,
    date_updated: rfc2822(m.updatedAt),
    direction: 'outbound-api',
    error_code: m.errorCode,
    error_message: m.errorCode ? 'Unreachable destination handset' : null,
    from: m.from,
    messaging_service_sid: m.messagingServiceSid,
    num_media: '0',
    num_segments: String(Math.max(1, Math.ceil(m.body.length / 153))),
    price: null,
    price_unit: 'USD',
    sid: m.sid,
    status: m.status,
    subresource_uris: { media: `/2010-04-01/Accounts/${sid}/Messages/${m.sid}/Media.json` },
    to: m.to,
    uri: `/2010-04-01/Accounts/${sid}/Messages/${m.sid}.json`,
  })

  function createMessage(form: Record<string, string>): Response {
    const to = (form.To ?? '').trim()
    if (!to) return error(400, 21604, "A 'To' phone number is required.")
    if (!form.From && !form.MessagingServiceSid) return error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
    if (form.MessagingServiceSid && !state.messagingServiceSids.has(form.MessagingServiceSid)) return error(400, 21705, 'The Messaging Service Sid is invalid.')
    if (!form.MessagingServiceSid && !state.senders.has(form.From!)) return error(400, 21606, `The From phone number ${form.From} is not a valid, SMS-capable inbound phone number or short code for your account.`)
    if (!form.Body) return error(400, 21602, 'Message body is required.')
    if (form.Body.length > 1600) return error(400, 21617, 'The concatenated message body exceeds the 1600 character limit.')
    if (!E164.test(to) || state.invalidNumbers.has(to)) return error(400, 21211, `Invalid 'To' Phone Number: ${to}`)
    if (state.landlines.has(to)) return error(400, 21614, `'To' number ${to} is not a valid mobile number`)
    if (state.optedOut.has(to)) return error(400, 21610, 'Attempt to send to unsubscribed recipient')
    if (form.StatusCallback && !/^https?:\/\//.test(form.StatusCallback)) return error(400, 21609, 'Invalid StatusCallback')
    const at = now()
    const m: SimMessage = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      to,
      from: form.From ?? null,
      messagingServiceSid: form.MessagingServiceSid ?? null,
      body: form.Body,
      // A Messaging Service takes the message first and picks the sender later.
      status: form.MessagingServiceSid ? 'accepted' : 'queued',
      statusCallback: form.StatusCallback ?? null,
      errorCode: null,
      createdAt: at,
      updatedAt: at,
    }
    state.messages.set(m.sid, m)
    let list = state.byTo.get(to)
    if (!list) state.byTo.set(to, (list = []))
    list.push(m)
    return HttpResponse.json(resource(m), { status: 201 })
  }

  async function handle(request: Request, path: string, route: (form: Record<string, string>) => Response): Promise<Response> {
    state.maxInFlight = Math.max(state.maxInFlight, ++state.inFlight)
    try {
      return await answer(request, path, route)
    } finally {
      state.inFlight--
    }
  }

  async function answer(request: Request, path: string, route: (form: Record<string, string>) => Response): Promise<Response> {
    if (state.latencyMs > 0) await delay(state.latencyMs)
    const form = request.method === 'POST' ? Object.fromEntries(new URLSearchParams(await request.text())) : {}
    const entry: SimTwilioRequest = { at: now(), method: request.method, path, form, status: 0, code: null }
    state.requests.push(entry)
    if (state.requests.length > logLimit * 1.25) state.requests.splice(0, state.requests.length - logLimit)
    if (state.downAfter !== null && state.downAfter-- <= 0) {
      state.down = true
      state.downAfter = null
    }
    const res = (() => {
      if (state.down) return error(503, 20503, 'Service Unavailable')
      const auth = request.headers.get('authorization') ?? ''
      const [user, pass] = Buffer.from(auth.replace(/^Basic\s+/i, ''), 'base64').toString('utf8').split(':')
      if (!auth.startsWith('Basic ') || user !== sid || pass !== state.authToken) return error(401, 20003, 'Authenticate')
      if (state.rateLimitNext > 0 || !takeToken()) {
        if (state.rateLimitNext > 0) state.rateLimitNext--
        return error(429, 20429, 'Too Many Requests', { 'retry-after': String(state.retryAfterSeconds) })
      }
      return route(form)
    })()
    entry.status = res.status
    if (res.status >= 400) entry.code = ((await res.clone().json()) as { code: number }).code
    return res
  }

  const notFound = (path: string) => error(404, 20404, `The requested resource ${path} was not found`)
  const accountPath = `/2010-04-01/Accounts/${sid}`

  const handlers = [
    http.post(`${base}/2010-04-01/Accounts/:account/Messages.json`, ({ request, params }) => {
      const path = `/2010-04-01/Accounts/${String(params.account)}/Messages.json`
      return handle(request, path, (form) => (params.account === sid ? createMessage(form) : notFound(path)))
    }),
    http.get(`${base}/2010-04-01/Accounts/:account/Messages/:file`, ({ request, params }) => {
      const path = `/2010-04-01/Accounts/${String(params.account)}/Messages/${String(params.file)}`
      const m = params.account === sid ? state.messages.get(String(params.file).replace(/\.json$/, '')) : undefined
      return handle(request, path, () => (m ? HttpResponse.json(resource(m)) : notFound(path)))
    }),
    http.get(`${base}/2010-04-01/Accounts/:file`, ({ request, params }) => {
      const path = `/2010-04-01/Accounts/${String(params.file)}`
      return handle(request, path, () =>
        params.file === `${sid}.json`
          ? HttpResponse.json({ sid, friendly_name: opts.friendlyName ?? 'Tillbridge test account', status: state.accountStatus, type: 'Full', uri: `${accountPath}.json` })
          : notFound(path),
      )
    }),
  ]

  /** A signed POST of `params` to the absolute `url`, as Twilio delivers webhooks. */
  function signedDelivery(url: string, params: Record<string, string>): TwilioWebhookDelivery {
    const u = new URL(url)
    return {
      url,
      path: `${u.pathname}${u.search}`,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilioSign(state.authToken, url, params), 'i-twilio-idempotency-token': randomBytes(16).toString('hex') },
      body: new URLSearchParams(params).toString(),
    }
  }

  /** The status callback of a message in its current status (null when it has no StatusCallback). */
  function statusCallback(m: SimMessage): TwilioWebhookDelivery | null {
    if (!m.statusCallback) return null
    const params: Record<string, string> = {
      AccountSid: sid,
      ApiVersion: '2010-04-01',
      MessageSid: m.sid,
      MessageStatus: m.status,
      SmsSid: m.sid,
      SmsStatus: m.status,
      To: m.to,
      From: m.from ?? '+15005550006',
      ...(m.messagingServiceSid ? { MessagingServiceSid: m.messagingServiceSid } : {}),
      ...(m.errorCode ? { ErrorCode: String(m.errorCode) } : {}),
      ...(m.status === 'delivered' || m.status === 'undelivered' ? { RawDlrDoneDate: dlrDate(m.updatedAt) } : {}),
    }
    return signedDelivery(m.statusCallback, params)
  }

  /** Moves a message on (to `status`, or to its next step) and returns its status callback. */
  function advance(messageSid: string, status?: SimMessageStatus, options: { errorCode?: number; at?: Date } = {}): TwilioWebhookDelivery | null {
    const m = state.messages.get(messageSid)
    if (!m) throw new Error(`no message ${messageSid}`)
    const next: SimMessageStatus = status ?? (m.status === 'accepted' || m.status === 'queued' || m.status === 'sending' ? 'sent' : state.unreachable.has(m.to) ? 'undelivered' : 'delivered')
    m.status = next
    m.updatedAt = options.at ?? now()
    m.errorCode = options.errorCode ?? (next === 'undelivered' ? 30003 : next === 'failed' ? 30008 : null)
    return statusCallback(m)
  }

  /** The carriers answer: every message not final goes to sent, then delivered (undelivered when unreachable). */
  function settle(options: { at?: Date } = {}): TwilioWebhookDelivery[] {
    const out: TwilioWebhookDelivery[] = []
    for (const m of state.messages.values()) {
      if (m.status === 'delivered' || m.status === 'undelivered' || m.status === 'failed') continue
      for (const d of [m.status === 'sent' ? null : advance(m.sid, 'sent', options), advance(m.sid, undefined, options)]) if (d) out.push(d)
    }
    return out
  }

  /**
   * A member texts `body` from `from` to one of the account's numbers; Twilio's default opt-out handling applies
   * (STOP and its synonyms block the number, START/UNSTOP/YES unblock it). `url` is the number's incoming webhook.
   */
  function inbound(url: string, from: string, body: string, options: { to?: string; advancedOptOut?: boolean } = {}): TwilioWebhookDelivery {
    const keyword = body.trim().toUpperCase()
    if (OPT_OUT.has(keyword)) state.optedOut.add(from)
    if (OPT_IN.has(keyword)) state.optedOut.delete(from)
    const messageSid = `SM${randomBytes(16).toString('hex')}`
    const optOutType = OPT_OUT.has(keyword) ? 'STOP' : OPT_IN.has(keyword) ? 'START' : keyword === 'HELP' ? 'HELP' : null
    return signedDelivery(url, {
      ToCountry: 'US',
      ToState: 'CA',
      SmsMessageSid: messageSid,
      NumMedia: '0',
      SmsSid: messageSid,
      SmsStatus: 'received',
      Body: body,
      FromCountry: 'US',
      To: options.to ?? [...state.senders][0] ?? '+15005550006',
      NumSegments: '1',
      MessageSid: messageSid,
      AccountSid: sid,
      From: from,
      ApiVersion: '2010-04-01',
      ...(options.advancedOptOut && optOutType ? { OptOutType: optOutType } : {}),
    })
  }

  return {
    handlers,
    state,
    advance,
    settle,
    inbound,
    statusCallback,
    signedDelivery,
    /** The messages sent to a number, oldest first. */
    sentTo: (to: string): SimMessage[] => state.byTo.get(to) ?? [],
    /** Requests to the Messages list (sends), oldest first. */
    sends: () => state.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/Messages.json')),
    /** Forgets every message and request (knobs and number sets are kept). */
    reset() {
      state.requests.length = 0
      state.messages.clear()
      state.byTo.clear()
    },
  }
}

export type TwilioSandbox = ReturnType<typeof twilioSandbox>
