// WeChat messages to members by openid: official-account template messages or mini-program subscribe messages
// (`kind`), with the app's access_token kept by token.ts, one call per recipient paced at `maxPerSecond`, receipts
// and consent events from the account's server push (plain mode, signed with the server token).
// Template messages are for service notices: WeChat does not allow advertising or marketing in them.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { wechatPolicy } from './api.ts'
import { ACK, interpretWechatPush, parseWechatPush, verifyWechatPush, wechatServerEcho } from './push.ts'
import { sendBatch } from './send.ts'
import { accessToken, forgetToken } from './token.ts'

const WechatMessagesConfig = z.object({
  kind: z.enum(['template', 'subscribe']).default('template').describe('template: official-account template messages; subscribe: mini-program subscribe messages'),
  appId: z
    .string()
    .trim()
    .regex(/^wx[0-9a-f]{16}$/, 'an AppID looks like wx followed by 16 hex digits')
    .describe('AppID of the official account (template) or the mini program (subscribe)'),
  appSecret: secret(z.string().trim().min(16, 'the AppSecret has 32 characters')).describe('AppSecret of that app'),
  token: secret(z.string().regex(/^[A-Za-z0-9]{3,32}$/, 'the server token is 3 to 32 letters and digits'))
    .optional()
    .describe('The Token of the server configuration (消息推送), which signs the pushes; plain mode only'),
  miniprogramState: z.enum(['developer', 'trial', 'formal']).default('formal').describe('Which version of the mini program a subscribe message opens'),
  miniprogramAppId: z.string().regex(/^wx[0-9a-f]{16}$/).optional().describe('Template messages only: a mini program the message opens at the message’s page'),
  data: z
    .record(z.string().regex(/^[a-z_]+\d*$/, 'a template keyword like thing1 or character_string2'), z.string())
    .optional()
    .describe('Template keyword → text with {placeholders} of the recipient’s params; default: each param as the keyword of its name'),
  maxPerSecond: z.number().int().min(1).max(1000).default(50).describe('Calls per second at most'),
  tokenEndpoint: z.enum(['stable', 'classic']).default('stable').describe('stable: /cgi-bin/stable_token (shared by every caller); classic: /cgi-bin/token'),
  baseUrl: z.url().optional().describe('Only changed for a sandbox; default https://api.weixin.qq.com'),
})

type Config = z.infer<typeof WechatMessagesConfig>

export const wechatMessages = defineConnector({
  id: 'wechat-messages',
  family: 'campaign',
  title: 'WeChat messages',
  description: 'Template messages of an official account or subscribe messages of a mini program, by openid, with send receipts and subscription events from the server push.',
  config: WechatMessagesConfig,
  http: (config: Config) => wechatPolicy(config),
  webhook: {
    verify: (req, config, now) => verifyWechatPush(req, config, now),
    parse: parseWechatPush,
    ack: ACK,
    challenge(req, config, now) {
      const echo = wechatServerEcho(req.url, config, now)
      return echo === null ? null : { status: 200, contentType: 'text/plain', body: echo }
    },
  },
  async check(ctx) {
    forgetToken(ctx)
    try {
      await accessToken(ctx)
      return { ok: true, message: `Signed in to WeChat as app ${ctx.config.appId} (${ctx.config.kind === 'template' ? 'official-account template messages' : 'mini-program subscribe messages'})` }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') {
        const why = e.vendorCode === '40164' ? 'the hub’s IP address is not on the app’s IP whitelist' : e.vendorCode === '40013' ? 'the AppID is not valid' : 'the AppSecret was refused'
        return { ok: false, message: `WeChat refused the sign-in: ${why} (${e.vendorCode ?? e.status})`, details: { vendorCode: e.vendorCode } }
      }
      if (e instanceof ConnectorError) return { ok: false, message: `WeChat could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: (config: Config) => ({ channel: 'wechat', addressKind: 'openid', maxBatch: 1, maxPerSecond: config.maxPerSecond }),
    sendBatch: (ctx, input) => sendBatch(ctx, input),
    interpretWebhook: (event) => interpretWechatPush(event),
  },
})
