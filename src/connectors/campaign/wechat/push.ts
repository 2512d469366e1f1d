// WeChat server pushes (消息推送) to the URL configured for the account: XML (or JSON, for a mini program set to
// it), signed only through the query: signature = sha1 of the sorted [token, timestamp, nonce], joined. Plain mode
// only: in safe mode (EncodingAESKey, `encrypt_type=aes`) the body is encrypted and refused here as unreadable.
// The body is not covered by the signature, so the timestamp must be recent too. WeChat expects `success` back.
// https://developers.weixin.qq.com/doc/offiaccount/Basic_Information/Access_Overview.html,
// https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html (TEMPLATESENDJOBFINISH),
// https://developers.weixin.qq.com/miniprogram/dev/framework/open-ability/subscribe-message.html (subscribe_msg_* events)
import { createHash } from 'node:crypto'
import xml2js from 'xml2js'
import type { CampaignEvent } from '../../framework/campaign.ts'
import type { InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import { safeEqual } from '../../framework/signatures.ts'

/** How far a push's timestamp may be from our clock. */
export const PUSH_TOLERANCE_SECONDS = 600

export const ACK = { status: 200, contentType: 'text/plain', body: 'success' }

export const pushSignature = (token: string, timestamp: string, nonce: string): string => createHash('sha1').update([token, timestamp, nonce].sort().join('')).digest('hex')

const queryOf = (url: string) => new URLSearchParams(url.includes('?') ? url.slice(url.indexOf('?') + 1) : '')

function signedQuery(url: string, config: { token?: string }, now: Date): URLSearchParams | null {
  if (!config.token) return null
  const q = queryOf(url)
  const signature = q.get('signature')
  const timestamp = q.get('timestamp')
  const nonce = q.get('nonce')
  if (!signature || !timestamp || !nonce || !/^\d{1,12}$/.test(timestamp)) return null
  if (Math.abs(now.getTime() / 1000 - Number(timestamp)) > PUSH_TOLERANCE_SECONDS) return null
  return safeEqual(signature.toLowerCase(), pushSignature(config.token, timestamp, nonce)) ? q : null
}

export const verifyWechatPush = (req: InboundRequest, config: { token?: string }, now: Date): boolean => signedQuery(req.url, config, now) !== null

/**
 * The answer to WeChat's server check (a GET with signature, timestamp, nonce and echostr when the URL is saved in
 * the console): the echostr when the signature is right, else null. For a GET route on the inbound endpoint.
 */
export function wechatServerEcho(url: string, config: { token?: string }, now: Date): string | null {
  return signedQuery(url, config, now)?.get('echostr') ?? null
}

/** A push as read: the flat fields (all text) and, for subscribe-message events, their List entries. */
export interface WechatPush {
  ToUserName?: string
  FromUserName?: string
  CreateTime?: string
  MsgType?: string
  Event?: string
  MsgID?: string
  MsgId?: string
  Status?: string
  List: Record<string, string>[]
}

const LIST_HOLDERS = ['SubscribeMsgPopupEvent', 'SubscribeMsgChangeEvent', 'SubscribeMsgSentEvent']

const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined)

const flat = (o: Record<string, unknown>): Record<string, string> => Object.fromEntries(Object.entries(o).flatMap(([k, v]) => (text(v) !== undefined ? [[k, text(v)!]] : [])))

function readXml(body: string): Record<string, unknown> {
  let out: Record<string, unknown> | null = null
  let failure: unknown = null
  // xml2js parses synchronously when given a string.
  xml2js.parseString(body, { explicitArray: false, trim: true }, (err, value: { xml?: unknown }) => {
    if (err) failure = err
    else if (value?.xml && typeof value.xml === 'object') out = value.xml as Record<string, unknown>
  })
  if (!out) throw new Error(`not a WeChat XML push${failure ? `: ${String(failure)}` : ''}`)
  return out
}

export function readPush(raw: Buffer): WechatPush {
  const body = raw.toString('utf8').trim()
  let o: Record<string, unknown>
  if (body.startsWith('<')) o = readXml(body)
  else {
    // A mini program's JSON push may write the 64-bit MsgID as a bare number: quoted before parsing, digits intact.
    const parsed: unknown = JSON.parse(body.replace(/"(MsgI[Dd])"\s*:\s*(\d+)/g, '"$1":"$2"'))
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a WeChat JSON push')
    o = parsed as Record<string, unknown>
  }
  if (o.Encrypt !== undefined && o.MsgType === undefined) throw new Error('an encrypted (safe mode) push: only plain mode is supported')
  const holder = LIST_HOLDERS.map((k) => o[k]).find((v) => v && typeof v === 'object') as Record<string, unknown> | undefined
  const rawList = holder?.List ?? o.List
  const list = (Array.isArray(rawList) ? rawList : rawList ? [rawList] : []).filter((x): x is Record<string, unknown> => !!x && typeof x === 'object').map(flat)
  const fields = flat(o)
  if (!fields.FromUserName || !fields.MsgType) throw new Error('a WeChat push carries FromUserName and MsgType')
  return { ...fields, List: list }
}

export function parseWechatPush(req: InboundRequest): ParsedWebhook {
  const push = readPush(req.rawBody)
  const topic = push.Event ?? push.MsgType!
  const msgId = push.MsgID ?? push.MsgId
  // A send's receipt is one per msgid; other events are one per user, time and kind.
  const eventId = push.Event === 'TEMPLATESENDJOBFINISH' && msgId ? `${msgId}:${push.Event}` : !push.Event && msgId ? `msg:${msgId}` : `${push.FromUserName}:${push.CreateTime ?? ''}:${topic}`
  const created = Number(push.CreateTime)
  return { eventId, topic, occurredAt: Number.isFinite(created) && created > 0 ? new Date(created * 1000) : undefined, data: push }
}

const templateKeyword = (templateId: string | undefined) => `template:${templateId ?? ''}`

/**
 * Receipts: TEMPLATESENDJOBFINISH (success → delivered; `failed:user block` → failed, and the user blocked the
 * account's messages: opt_out; `failed: system failed` → failed) and subscribe_msg_sent_event, by msgid. Consent:
 * subscribe_msg_popup_event and subscribe_msg_change_event (accept → opt_in, reject → opt_out, keyword
 * `template:<id>`), and following / unfollowing the account (subscribe → opt_in, unsubscribe → opt_out).
 */
export function interpretWechatPush(event: ParsedWebhook): CampaignEvent[] {
  const push = event.data as WechatPush
  const openid = push.FromUserName ?? ''
  const at = (event.occurredAt ?? new Date()).toISOString()
  const status = (vendorMessageId: string | null, s: 'delivered' | 'failed', code?: string): CampaignEvent => ({ kind: 'status', deliveryId: null, vendorMessageId, status: s, ...(code ? { code } : {}), at })
  switch (push.Event) {
    case 'TEMPLATESENDJOBFINISH': {
      const msgId = push.MsgID ?? push.MsgId ?? null
      const s = (push.Status ?? '').trim()
      if (s === 'success') return [status(msgId, 'delivered')]
      const code = s.replace(/^failed:\s*/i, '') || 'failed'
      const out = [status(msgId, 'failed', code)]
      if (code === 'user block' && openid) out.push({ kind: 'opt_out', address: openid, keyword: 'user block', at })
      return out
    }
    case 'subscribe_msg_sent_event':
      return push.List.flatMap((l): CampaignEvent[] => {
        const msgId = l.MsgID ?? l.MsgId ?? null
        if (l.ErrorCode === '0') return [status(msgId, 'delivered')]
        const out = [status(msgId, 'failed', l.ErrorCode ?? l.ErrorStatus ?? 'failed')]
        if (l.ErrorCode === '43101' && openid) out.push({ kind: 'opt_out', address: openid, keyword: templateKeyword(l.TemplateId), at })
        return out
      })
    case 'subscribe_msg_popup_event':
    case 'subscribe_msg_change_event':
      if (!openid) return []
      return push.List.flatMap((l): CampaignEvent[] => {
        const choice = l.SubscribeStatusString
        if (choice === 'accept') return [{ kind: 'opt_in', address: openid, keyword: templateKeyword(l.TemplateId), at }]
        if (choice === 'reject') return [{ kind: 'opt_out', address: openid, keyword: templateKeyword(l.TemplateId), at }]
        return []
      })
    case 'unsubscribe':
      return openid ? [{ kind: 'opt_out', address: openid, keyword: 'unsubscribe', at }] : []
    case 'subscribe':
      return openid ? [{ kind: 'opt_in', address: openid, keyword: 'subscribe', at }] : []
    default:
      return []
  }
}
