// A WeChat message API simulator for msw, kept in Maps for a 200 000-recipient benchmark: access tokens from
// `GET /cgi-bin/token` and `POST /cgi-bin/stable_token` (expiry, a new classic token retiring the old one after five
// minutes, force_refresh), official-account template messages (followers only: 43004; client_msg_id dropping a
// repeat for ten minutes; a user who blocked the account gets `failed:user block` in the receipt) and mini-program
// subscribe messages (one per credit granted by the subscribe popup: 43101 without one; 64-bit msgids), unknown
// openids (40003) and templates (40037), value lengths (47003), system busy (-1), a per-second frequency limit
// (45011) and a daily quota (45009), `{errcode, errmsg}` answers with a rid, and the server pushes in plain mode
// (XML or JSON) signed through the query with the server token.
// https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html,
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html,
// https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/getStableAccessToken.html
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import { http, HttpResponse } from 'msw'

export interface WechatMessagesSandboxOptions {
  appId: string
  appSecret: string
  /** The server configuration token that signs pushes. */
  token?: string
  /** The account's original id (gh_…), the ToUserName of pushes. */
  originalId?: string
  /** Template ids the account has. */
  templates?: string[]
  latencyMs?: number
  /** Send calls per second before 45011 (default: no limit). */
  ratePerSecond?: number
  /** Send calls per day before 45009 (default: no limit). */
  dailyQuota?: number
  /** Lifetime of an access token, in seconds (7200). */
  tokenTtlSeconds?: number
  /** Keep request bodies in the log (a benchmark may turn this off). */
  keepBodies?: boolean
}

export interface SimUser {
  openid: string
  /** Follows the official account (template messages need it). */
  follows: boolean
  /** Blocked the account's template messages: sends are accepted, receipts say `failed:user block`. */
  blocked: boolean
  /** Subscribe-message credits per template id. */
  credits: Map<string, number>
}

export interface SimMessage {
  msgid: string
  kind: 'template' | 'subscribe'
  openid: string
  templateId: string
  data: Record<string, { value: string }>
  url?: string
  miniprogram?: { appid: string; pagepath: string }
  page?: string
  miniprogramState?: string
  clientMsgId?: string
  at: Date
}

export interface SimRequest {
  at: Date
  method: string
  path: string
  /** The query without secret and access_token values. */
  query: Record<string, string>
  /** How the access_token fared: ok, expired, invalid, missing (n/a for token calls). */
  token?: 'ok' | 'expired' | 'invalid' | 'missing'
  body?: unknown
  errcode: number
}

export interface PushDelivery {
  headers: Record<string, string>
  body: string
  /** The signed query WeChat adds to the server URL: signature, timestamp, nonce, openid. */
  query: string
}

const rid = () => `${randomBytes(4).toString('hex')}-${randomBytes(2).toString('hex')}-${randomBytes(2).toString('hex')}`
const ERRMSG: Record<number, string> = {
  [-1]: 'system error',
  40001: 'invalid credential, access_token is invalid or not latest, could get access_token by getStableAccessToken, more details at https://mmbizurl.cn/s/JtxxFh33r',
  40002: 'invalid grant_type',
  40003: 'invalid openid',
  40013: 'invalid appid',
  40037: 'invalid template_id',
  40125: 'invalid appsecret',
  41001: 'access_token missing',
  42001: 'access_token expired',
  43004: 'require subscribe',
  43101: 'user refuse to accept the msg',
  45009: 'reach max api daily quota limit',
  45011: 'api minute-quota reach limit  mustslower  retry next minute',
  47001: 'data format error',
  47003: 'argument invalid!',
}

const LIMITS: [RegExp, number][] = [
  [/^thing\d*$/, 20],
  [/^(character_string|number|letter)\d*$/, 32],
  [/^(phrase|symbol)\d*$/, 5],
  [/^name\d*$/, 10],
]

export function wechatMessagesSandbox(opts: WechatMessagesSandboxOptions) {
  const base = 'https://api.weixin.qq.com'
  const originalId = opts.originalId ?? 'gh_7f083739789a'
  const ttl = opts.tokenTtlSeconds ?? 7200
  let serial = 0
  let templateMsgId = 3_147_480_000
  let subscribeMsgId = 1_700_827_132_819_554_304n

  const state = {
    requests: [] as SimRequest[],
    down: false,
    latencyMs: opts.latencyMs ?? 0,
    ratePerSecond: opts.ratePerSecond ?? Infinity,
    dailyQuota: opts.dailyQuota ?? Infinity,
    /** The next this many send calls answer -1 (system busy). */
    busyNext: 0,
    keepBodies: opts.keepBodies ?? true,
    window: { second: 0, count: 0 },
    sentToday: 0,
    /** Token calls by endpoint. */
    tokenCalls: { classic: 0, stable: 0, forced: 0 },
    /** Issued tokens and when each stops working (epoch ms). */
    tokens: new Map<string, number>(),
    stable: null as { token: string; expiresAt: number } | null,
    templates: new Set(opts.templates ?? []),
    users: new Map<string, SimUser>(),
    messages: new Map<string, SimMessage>(),
    byOpenid: new Map<string, SimMessage[]>(),
    clientMsgIds: new Map<string, { msgid: string; at: number }>(),
    /** Openids whose next template receipt says `failed: system failed`. */
    systemFailures: new Set<string>(),
  }

  const issue = (): { token: string; expiresAt: number } => {
    const token = `${++serial}_${randomBytes(48).toString('base64url')}`
    const expiresAt = Date.now() + ttl * 1000
    state.tokens.set(token, expiresAt)
    return { token, expiresAt }
  }
  /** A replaced token keeps working for five minutes, as WeChat does. */
  const retire = (token: string) => {
    const until = state.tokens.get(token)
    if (until !== undefined) state.tokens.set(token, Math.min(until, Date.now() + 5 * 60_000))
  }

  const answer = (entry: SimRequest, errcode: number, extra: Record<string, unknown> = {}, raw?: string) => {
    entry.errcode = errcode
    if (raw !== undefined) return new HttpResponse(raw, { status: 200, headers: { 'content-type': 'application/json; encoding=utf-8' } })
    const body = errcode === 0 ? { errcode: 0, errmsg: 'ok', ...extra } : { errcode, errmsg: `${ERRMSG[errcode] ?? 'error'} rid: ${rid()}` }
    return HttpResponse.json(body, { headers: { 'content-type': 'application/json; encoding=utf-8' } })
  }

  function logEntry(request: Request, url: URL): SimRequest {
    const query = Object.fromEntries([...url.searchParams].map(([k, v]) => [k, k === 'secret' || k === 'access_token' ? '***' : v]))
    const entry: SimRequest = { at: new Date(), method: request.method, path: url.pathname, query, errcode: 0 }
    state.requests.push(entry)
    return entry
  }

  async function readJson(request: Request): Promise<Record<string, unknown> | null> {
    try {
      const v: unknown = JSON.parse(await request.text())
      return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null
    } catch {
      return null
    }
  }

  const unavailable = () => new HttpResponse('<html><head><title>502 Bad Gateway</title></head><body>502 Bad Gateway</body></html>', { status: 502, headers: { 'content-type': 'text/html' } })

  /** Checks the access_token; an errcode when it does not work. */
  function tokenCheck(entry: SimRequest, url: URL): number {
    const token = url.searchParams.get('access_token')
    if (!token) return (entry.token = 'missing'), 41001
    const until = state.tokens.get(token)
    if (until === undefined) return (entry.token = 'invalid'), 40001
    if (until <= Date.now()) return (entry.token = 'expired'), 42001
    entry.token = 'ok'
    return 0
  }

  /** The frequency limit and daily quota of send calls; an errcode when exceeded. */
  function quota(): number {
    const second = Math.floor(Date.now() / 1000)
    if (state.window.second !== second) state.window = { second, count: 0 }
    if (++state.window.count > state.ratePerSecond) return 45011
    if (state.sentToday >= state.dailyQuota) return 45009
    state.sentToday++
    return 0
  }

  function badData(data: unknown): string | null {
    if (!data || typeof data !== 'object') return 'data'
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) {
      const value = (v as { value?: unknown } | null)?.value
      if (typeof value !== 'string') return `data.${k}.value`
      const limit = LIMITS.find(([re]) => re.test(k))?.[1]
      if (limit && Array.from(value).length > limit) return `data.${k}.value`
    }
    return null
  }

  function record(m: SimMessage) {
    state.messages.set(m.msgid, m)
    const box = state.byOpenid.get(m.openid)
    if (box) box.push(m)
    else state.byOpenid.set(m.openid, [m])
  }

  async function send(request: Request, kind: 'template' | 'subscribe'): Promise<Response> {
    const url = new URL(request.url)
    const entry = logEntry(request, url)
    if (state.latencyMs > 0) await delay(state.latencyMs)
    if (state.down) return unavailable()
    const tokenError = tokenCheck(entry, url)
    if (tokenError) return answer(entry, tokenError)
    const body = await readJson(request)
    if (state.keepBodies) entry.body = body
    if (!body) return answer(entry, 47001)
    if (state.busyNext > 0) {
      state.busyNext--
      return answer(entry, -1)
    }
    const limited = quota()
    if (limited) return answer(entry, limited)
    const openid = typeof body.touser === 'string' ? body.touser : ''
    const templateId = typeof body.template_id === 'string' ? body.template_id : ''
    if (!state.templates.has(templateId)) return answer(entry, 40037)
    const user = state.users.get(openid)
    if (!user) return answer(entry, 40003)
    const bad = badData(body.data)
    if (bad) {
      entry.errcode = 47003
      return HttpResponse.json({ errcode: 47003, errmsg: `argument invalid! ${bad} invalid rid: ${rid()}` })
    }
    const data = body.data as Record<string, { value: string }>
    if (kind === 'template') {
      if (!user.follows) return answer(entry, 43004)
      const clientMsgId = typeof body.client_msg_id === 'string' ? body.client_msg_id : undefined
      if (clientMsgId) {
        const seen = state.clientMsgIds.get(`${openid}/${clientMsgId}`)
        if (seen && Date.now() - seen.at < 10 * 60_000) return answer(entry, 0, { msgid: Number(seen.msgid) })
      }
      const msgid = String(++templateMsgId)
      const mp = body.miniprogram as { appid: string; pagepath: string } | undefined
      record({ msgid, kind, openid, templateId, data, ...(typeof body.url === 'string' ? { url: body.url } : {}), ...(mp ? { miniprogram: mp } : {}), ...(clientMsgId ? { clientMsgId } : {}), at: new Date() })
      if (clientMsgId) state.clientMsgIds.set(`${openid}/${clientMsgId}`, { msgid, at: Date.now() })
      return answer(entry, 0, { msgid: Number(msgid) })
    }
    const state_ = body.miniprogram_state
    if (state_ !== undefined && state_ !== 'developer' && state_ !== 'trial' && state_ !== 'formal') {
      entry.errcode = 47003
      return HttpResponse.json({ errcode: 47003, errmsg: `argument invalid! miniprogram_state invalid rid: ${rid()}` })
    }
    const credits = user.credits.get(templateId) ?? 0
    if (credits <= 0) return answer(entry, 43101)
    user.credits.set(templateId, credits - 1)
    const msgid = String(++subscribeMsgId)
    record({ msgid, kind, openid, templateId, data, ...(typeof body.page === 'string' ? { page: body.page } : {}), miniprogramState: String(state_ ?? 'formal'), at: new Date() })
    // The msgid is a 64-bit integer, written as a bare number as WeChat does.
    return answer(entry, 0, {}, `{"errcode":0,"errmsg":"ok","msgid":${msgid}}`)
  }

  const handlers = [
    http.get(`${base}/cgi-bin/token`, async ({ request }) => {
      const url = new URL(request.url)
      const entry = logEntry(request, url)
      if (state.latencyMs > 0) await delay(state.latencyMs)
      if (state.down) return unavailable()
      state.tokenCalls.classic++
      const q = url.searchParams
      if (q.get('grant_type') !== 'client_credential') return answer(entry, 40002)
      if (q.get('appid') !== opts.appId) return answer(entry, 40013)
      if (q.get('secret') !== opts.appSecret) return answer(entry, 40125)
      // Each classic token replaces the previous ones.
      for (const t of state.tokens.keys()) if (t !== state.stable?.token) retire(t)
      const t = issue()
      entry.errcode = 0
      return HttpResponse.json({ access_token: t.token, expires_in: ttl })
    }),
    http.post(`${base}/cgi-bin/stable_token`, async ({ request }) => {
      const url = new URL(request.url)
      const entry = logEntry(request, url)
      if (state.latencyMs > 0) await delay(state.latencyMs)
      if (state.down) return unavailable()
      state.tokenCalls.stable++
      const body = await readJson(request)
      if (!body) return answer(entry, 47001)
      if (state.keepBodies) entry.body = { ...body, secret: '***' }
      if (body.grant_type !== 'client_credential') return answer(entry, 40002)
      if (body.appid !== opts.appId) return answer(entry, 40013)
      if (body.secret !== opts.appSecret) return answer(entry, 40125)
      const now = Date.now()
      if (body.force_refresh === true) {
        state.tokenCalls.forced++
        if (state.stable) retire(state.stable.token)
        state.stable = null
      }
      if (!state.stable || state.stable.expiresAt <= now || (state.tokens.get(state.stable.token) ?? 0) <= now) state.stable = issue()
      entry.errcode = 0
      return HttpResponse.json({ access_token: state.stable.token, expires_in: Math.floor((state.stable.expiresAt - now) / 1000) })
    }),
    http.post(`${base}/cgi-bin/message/template/send`, ({ request }) => send(request, 'template')),
    http.post(`${base}/cgi-bin/message/subscribe/send`, ({ request }) => send(request, 'subscribe')),
  ]

  // ---- users ----

  /** A user of the account (following it by default) with subscribe-message credits per template. */
  function addUser(openid: string, u: { follows?: boolean; blocked?: boolean; credits?: Record<string, number> } = {}): SimUser {
    const user: SimUser = state.users.get(openid) ?? { openid, follows: true, blocked: false, credits: new Map() }
    user.follows = u.follows ?? user.follows
    user.blocked = u.blocked ?? user.blocked
    for (const [t, n] of Object.entries(u.credits ?? {})) user.credits.set(t, n)
    state.users.set(openid, user)
    return user
  }

  /** An openid that looks real and that no user has (WeChat answers 40003). */
  const strangerOpenid = () => `o${randomBytes(20).toString('base64url').slice(0, 27)}`

  // ---- pushes ----

  function sign(fromUser: string, at = new Date()): string {
    const timestamp = String(Math.floor(at.getTime() / 1000))
    const nonce = String(100_000_000 + Math.floor(Math.random() * 900_000_000))
    const signature = createHash('sha1').update([opts.token ?? '', timestamp, nonce].sort().join('')).digest('hex')
    return new URLSearchParams({ signature, timestamp, nonce, openid: fromUser }).toString()
  }

  const cdata = (v: string) => `<![CDATA[${v}]]>`

  /** A push in plain mode: XML (official accounts, and mini programs set to XML) or JSON. */
  function push(fromUser: string, fields: Record<string, string | number>, o: { format?: 'xml' | 'json'; list?: { holder: string; items: Record<string, string>[] }; at?: Date } = {}): PushDelivery {
    const at = o.at ?? new Date()
    const head = { ToUserName: originalId, FromUserName: fromUser, CreateTime: Math.floor(at.getTime() / 1000), MsgType: 'event', ...fields }
    if (o.format === 'json') {
      const obj: Record<string, unknown> = { ...head, ...(o.list ? { List: o.list.items } : {}) }
      // WeChat writes the 64-bit MsgID as a bare number in JSON too.
      return { headers: { 'content-type': 'application/json' }, body: JSON.stringify(obj).replace(/"MsgID":"(\d+)"/g, '"MsgID":$1'), query: sign(fromUser, at) }
    }
    // Numbers (CreateTime, a 64-bit MsgID, an ErrorCode) are written bare, text in CDATA.
    const el = (k: string, v: string | number) => `<${k}>${typeof v === 'number' || /^-?\d+$/.test(v) ? v : cdata(v)}</${k}>`
    let xml = '<xml>' + Object.entries(head).map(([k, v]) => el(k, v)).join('')
    if (o.list) xml += `<${o.list.holder}>${o.list.items.map((i) => `<List>${Object.entries(i).map(([k, v]) => el(k, v)).join('')}</List>`).join('')}</${o.list.holder}>`
    xml += '</xml>'
    return { headers: { 'content-type': 'text/xml' }, body: xml, query: sign(fromUser, at) }
  }

  /** The TEMPLATESENDJOBFINISH receipt of a template message, its status as the user's state makes it. */
  function receipt(msgid: string, o: { status?: string; at?: Date } = {}): PushDelivery {
    const m = state.messages.get(msgid)
    if (!m) throw new Error(`no message ${msgid}`)
    const user = state.users.get(m.openid)
    const status = o.status ?? (user?.blocked ? 'failed:user block' : state.systemFailures.delete(m.openid) ? 'failed: system failed' : 'success')
    // The MsgID is written as a bare number.
    const d = push(m.openid, { Event: 'TEMPLATESENDJOBFINISH' }, { at: o.at })
    return { ...d, body: d.body.replace('</xml>', `<MsgID>${msgid}</MsgID><Status>${cdata(status)}</Status></xml>`) }
  }

  /** The subscribe_msg_sent_event of a subscribe message. */
  function sentEvent(msgid: string, o: { errorCode?: number; format?: 'xml' | 'json'; at?: Date } = {}): PushDelivery {
    const m = state.messages.get(msgid)
    if (!m) throw new Error(`no message ${msgid}`)
    const code = o.errorCode ?? 0
    return push(m.openid, { Event: 'subscribe_msg_sent_event' }, { format: o.format, at: o.at, list: { holder: 'SubscribeMsgSentEvent', items: [{ TemplateId: m.templateId, MsgID: msgid, ErrorCode: String(code), ErrorStatus: code === 0 ? 'success' : 'fail' }] } })
  }

  /** The user answers the subscribe popup: an accepted template gives one credit. */
  function popup(openid: string, choices: { templateId: string; accept: boolean }[], o: { format?: 'xml' | 'json'; at?: Date } = {}): PushDelivery {
    const user = addUser(openid)
    for (const c of choices) if (c.accept) user.credits.set(c.templateId, (user.credits.get(c.templateId) ?? 0) + 1)
    return push(openid, { Event: 'subscribe_msg_popup_event' }, { ...o, list: { holder: 'SubscribeMsgPopupEvent', items: choices.map((c) => ({ TemplateId: c.templateId, SubscribeStatusString: c.accept ? 'accept' : 'reject', PopupScene: '0' })) } })
  }

  /** The user stops following the account (template messages then fail with 43004). */
  function unfollow(openid: string, o: { at?: Date } = {}): PushDelivery {
    addUser(openid).follows = false
    return push(openid, { Event: 'unsubscribe' }, o)
  }

  function follow(openid: string, o: { at?: Date } = {}): PushDelivery {
    addUser(openid).follows = true
    return push(openid, { Event: 'subscribe' }, o)
  }

  return {
    handlers,
    state,
    addUser,
    strangerOpenid,
    /** Blocks the user's template messages from the account (the receipt says `failed:user block`). */
    block: (openid: string) => void (addUser(openid).blocked = true),
    /** Makes every issued token expire now (the next call gets 42001). */
    expireTokens: () => {
      for (const t of state.tokens.keys()) state.tokens.set(t, Date.now())
    },
    /** The messages sent to an openid, in order. */
    sentTo: (openid: string): SimMessage[] => state.byOpenid.get(openid) ?? [],
    message: (msgid: string) => state.messages.get(msgid),
    receipt,
    sentEvent,
    popup,
    unfollow,
    follow,
    /** Calls to a path, e.g. '/cgi-bin/message/template/send'. */
    requestsTo: (path: string) => state.requests.filter((r) => r.path === path),
  }
}

export type WechatMessagesSandbox = ReturnType<typeof wechatMessagesSandbox>
