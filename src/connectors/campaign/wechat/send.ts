// Sending WeChat messages, one openid per call: official-account template messages
// (`POST /cgi-bin/message/template/send`, with our delivery id as client_msg_id, which WeChat keeps to drop a repeat
// for ten minutes) or mini-program subscribe messages (`POST /cgi-bin/message/subscribe/send`, one per credit the
// user granted). The msgid WeChat returns is the vendorMessageId receipts carry.
// https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Template_Message_Interface.html,
// https://developers.weixin.qq.com/miniprogram/dev/OpenApiDoc/mp-message-management/subscribe-message/sendMessage.html
import type { CampaignMessage, CampaignRecipient, SendOutcome } from '../../framework/campaign.ts'
import type { ConnectorContext } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { msgIdOf, THROTTLED, TOKEN_REFUSED } from './api.ts'
import { accessToken, type TokenConfig } from './token.ts'

export interface WechatSendConfig extends TokenConfig {
  kind: 'template' | 'subscribe'
  miniprogramState: 'developer' | 'trial' | 'formal'
  miniprogramAppId?: string
  data?: Record<string, string>
}

type Ctx = ConnectorContext<WechatSendConfig>

// Longest value of a template keyword by its type (the key's prefix), in characters; longer values are refused
// with 47003, so they are cut here.
const VALUE_LIMITS: [RegExp, number][] = [
  [/^thing\d*$/, 20],
  [/^(character_string|number|letter)\d*$/, 32],
  [/^(phrase|symbol)\d*$/, 5],
  [/^name\d*$/, 10],
  [/^phone_number\d*$/, 17],
  [/^car_number\d*$/, 8],
]

const fill = (text: string, params: Record<string, string>) => text.replace(/\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}/g, (_m, name: string) => (Object.hasOwn(params, name) ? params[name]! : ''))

/**
 * The template's data: with a `data` map on the connection, each keyword's text with the recipient's
 * {placeholders} filled in; without one, each param as the keyword of the same name.
 */
export function templateData(config: Pick<WechatSendConfig, 'data'>, params: Record<string, string>): Record<string, { value: string }> {
  const entries = config.data ? Object.entries(config.data).map(([k, text]) => [k, fill(text, params)] as const) : Object.entries(params)
  const out: Record<string, { value: string }> = {}
  for (const [key, raw] of entries) {
    const limit = VALUE_LIMITS.find(([re]) => re.test(key))?.[1]
    const chars = Array.from(String(raw ?? ''))
    out[key] = { value: limit && chars.length > limit ? chars.slice(0, limit).join('') : chars.join('') }
  }
  return out
}

function requestOf(config: WechatSendConfig, message: CampaignMessage, r: CampaignRecipient) {
  const template_id = message.templateCode
  if (!template_id) throw new ConnectorError('permanent', 'the message has no templateCode (the WeChat template_id)')
  const data = templateData(config, r.params)
  if (config.kind === 'subscribe') {
    return {
      url: '/cgi-bin/message/subscribe/send',
      operation: 'sendSubscribeMessage',
      // No request id to deduplicate by: never repeated blindly.
      idempotent: false,
      body: { touser: r.address, template_id, ...(message.page ? { page: message.page } : {}), data, miniprogram_state: config.miniprogramState, lang: 'zh_CN' },
    }
  }
  const page = message.page
  const target = !page ? {} : /^https?:\/\//i.test(page) ? { url: page } : config.miniprogramAppId ? { miniprogram: { appid: config.miniprogramAppId, pagepath: page } } : {}
  return {
    url: '/cgi-bin/message/template/send',
    operation: 'sendTemplateMessage',
    // WeChat sends one message per (openid, client_msg_id) within ten minutes: a repeat is harmless.
    idempotent: true,
    body: { touser: r.address, template_id, ...target, data, client_msg_id: r.deliveryId },
  }
}

/** The outcome of a refusal that concerns this recipient only; null when the whole call failed. */
function refusal(deliveryId: string, e: ConnectorError): SendOutcome | null {
  const code = e.vendorCode
  if (!code) return null
  const message = e.message
  switch (code) {
    // 43101: the user refused, or used up the one-time subscription; 43004: does not follow the account;
    // 43019: the account blacklisted the user.
    case '43101':
    case '43004':
    case '43019':
      return { deliveryId, status: 'failed', code, message, optedOut: true }
    case '40003':
      return { deliveryId, status: 'failed', code, message, invalidAddress: true }
    case '-1':
      return { deliveryId, status: 'failed', code, message, retryable: true }
  }
  if (THROTTLED.has(code)) return { deliveryId, status: 'failed', code, message, retryable: true }
  if (e.kind === 'permanent') return { deliveryId, status: 'failed', code, message }
  return null
}

async function sendOne(ctx: Ctx, message: CampaignMessage, r: CampaignRecipient): Promise<SendOutcome> {
  const req = requestOf(ctx.config, message, r)
  let refused: string | undefined
  for (let attempt = 1; ; attempt++) {
    const token = await accessToken(ctx, refused)
    try {
      const res = await ctx.http.request({ method: 'POST', url: req.url, params: { access_token: token }, data: req.body, responseType: 'text', idempotent: req.idempotent, operation: req.operation, signal: ctx.signal })
      return { deliveryId: r.deliveryId, status: 'accepted', vendorMessageId: msgIdOf(res.data) }
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e
      // The token expired or was replaced elsewhere: once more with a fresh one.
      if (attempt === 1 && e.vendorCode && TOKEN_REFUSED.has(e.vendorCode)) {
        refused = token
        continue
      }
      const outcome = refusal(r.deliveryId, e)
      if (outcome) return outcome
      throw e
    }
  }
}

/**
 * Sends to each recipient, all at once (the shared client's token bucket paces them). A failure that is not about
 * one recipient (auth, outage, timeout) fails the call: the outcome of the others is then unknown to the caller.
 */
export async function sendBatch(ctx: Ctx, input: { campaignKey: string; message: CampaignMessage; recipients: CampaignRecipient[] }): Promise<SendOutcome[]> {
  const settled = await Promise.allSettled(input.recipients.map((r) => sendOne(ctx, input.message, r)))
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
  if (failed) throw failed.reason
  return settled.map((s) => (s as PromiseFulfilledResult<SendOutcome>).value)
}
