// Twilio Messaging (REST API 2010-04-01): member SMS campaigns, one message per request with a StatusCallback that
// names the delivery, message fetches to settle the unknown, and signed webhooks for statuses and STOP/START replies.
import { defineConnector } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { TwilioConfig } from './config.ts'
import { sendTwilioBatch } from './send.ts'
import { queryTwilioStatus } from './status.ts'
import { interpretTwilioWebhook, parseTwilioWebhook, TWILIO_ACK, verifyTwilioSignature } from './webhook.ts'

interface TwilioAccount {
  sid: string
  friendly_name: string
  status: 'active' | 'suspended' | 'closed'
}

export const twilio = defineConnector({
  id: 'twilio',
  family: 'campaign',
  title: 'Twilio Messaging',
  description: 'Member SMS campaigns through Twilio Programmable Messaging: delivery status callbacks and STOP/START opt-outs.',
  config: TwilioConfig,
  http: (config) => ({
    baseURL: config.baseUrl,
    headers: { authorization: `Basic ${Buffer.from(`${config.accountSid}:${config.authToken}`).toString('base64')}`, accept: 'application/json' },
    timeoutMs: 15_000,
    // A 429 (20429, refused unsent) is waited out; a 5xx of a send is not repeated (Twilio may have queued it).
    retry: { maxAttempts: 4, baseDelayMs: 500, maxDelayMs: 30_000 },
    rateLimit: { perSecond: config.maxPerSecond },
    breaker: { threshold: 5, halfOpenAfterMs: 30_000 },
  }),
  webhook: {
    verify: (req, config) => verifyTwilioSignature(req, config),
    parse: parseTwilioWebhook,
    ack: TWILIO_ACK,
  },
  async check(ctx) {
    try {
      const res = await ctx.http.request<TwilioAccount>({ method: 'GET', url: `/2010-04-01/Accounts/${ctx.config.accountSid}.json`, operation: 'fetchAccount' })
      if (res.data.status !== 'active') return { ok: false, message: `The Twilio account ${res.data.friendly_name} is ${res.data.status}`, details: { status: res.data.status } }
      return { ok: true, message: `Connected to the Twilio account ${res.data.friendly_name}`, details: { status: res.data.status } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'Twilio refused the Account SID and Auth Token (20003): check both, and that the token was not rotated' }
      if (e instanceof ConnectorError) return { ok: false, message: `Twilio could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    traits: (config) => ({ channel: 'sms', addressKind: 'phone', maxBatch: 1, maxPerSecond: config.maxPerSecond }),
    sendBatch: (ctx, input) => sendTwilioBatch(ctx, input),
    queryStatus: (ctx, input) => queryTwilioStatus(ctx, input),
    interpretWebhook: (event) => interpretTwilioWebhook(event),
  },
})
