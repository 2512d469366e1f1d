// Mailchimp (Marketing API 3.0): email campaigns to an audience. Batches upsert the recipients as members tagged for
// the campaign (params in merge fields, the delivery id in TBDELIVERY), `finish` sends one regular campaign to the
// tag, unsubscribes and cleaned addresses come back by list webhook, and the email activity report settles deliveries.
import { z } from 'zod'
import { defineConnector, secret } from '../../framework/define.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import { dataCenterOf, mailchimpPolicy, mailchimpRequest } from './api.ts'
import { finish, MAILCHIMP_MAX_BATCH, queryStatus, sendBatch, withdraw } from './send.ts'
import { interpretMailchimpWebhook, parseMailchimpWebhook, verifyMailchimpWebhook } from './webhook.ts'

const MailchimpConfig = z.object({
  apiKey: secret(
    z
      .string()
      .trim()
      .regex(/^\S+-[a-z]+\d+$/i, 'a Mailchimp API key ends with its data center, like …-us21'),
  ).describe('Marketing API key (Account → Extras → API keys); its suffix names the data center'),
  listId: z.string().trim().min(1).describe('The audience (list) id the campaigns go to'),
  fromName: z.string().trim().min(1).optional().describe('Sender name of the campaigns; default: the audience’s'),
  replyTo: z.email().optional().describe('Reply-to address of the campaigns; default: the audience’s from address'),
  webhookToken: secret(z.string().min(16, 'use at least 16 random characters').regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, - and _ only (it goes in a URL)'))
    .optional()
    .describe('A random token you choose; give Mailchimp the webhook URL with ?token=<it>, since Mailchimp does not sign its webhooks'),
  baseUrl: z.url().optional().describe('Only changed for a sandbox; default https://{dc}.api.mailchimp.com/3.0'),
})

type Config = z.infer<typeof MailchimpConfig>

export const mailchimp = defineConnector({
  id: 'mailchimp',
  family: 'campaign',
  title: 'Mailchimp',
  description: 'Email campaigns through the Mailchimp Marketing API: members upserted with their personal fields, one campaign per send, unsubscribes by webhook.',
  config: MailchimpConfig,
  http: (config: Config) => mailchimpPolicy(config),
  webhook: {
    verify: (req, config) => verifyMailchimpWebhook(req, config),
    parse: parseMailchimpWebhook,
    // Mailchimp GETs the address once when the webhook is added: a 200 from the right URL (with its token) is enough.
    challenge: (req, config) => (verifyMailchimpWebhook({ rawBody: Buffer.alloc(0), headers: req.headers, url: req.url }, config) ? { status: 200, contentType: 'text/plain', body: '' } : null),
  },
  async check(ctx) {
    if (!dataCenterOf(ctx.config.apiKey)) return { ok: false, message: 'The API key has no data center suffix (like -us21)' }
    try {
      const { data } = await mailchimpRequest<{ id: string; name: string; stats?: { member_count?: number } }>(ctx, {
        method: 'GET',
        url: `/lists/${encodeURIComponent(ctx.config.listId)}`,
        params: { fields: 'id,name,stats.member_count' },
        operation: 'checkList',
      })
      return { ok: true, message: `Connected to the Mailchimp audience ${data.name} (${data.stats?.member_count ?? 0} subscribed members)`, details: { listId: data.id } }
    } catch (e) {
      if (e instanceof ConnectorError && e.kind === 'auth_failed') return { ok: false, message: 'Mailchimp refused the API key: check it and its data center suffix' }
      if (e instanceof ConnectorError && e.status === 404) return { ok: false, message: `Mailchimp has no audience ${ctx.config.listId} in this account` }
      if (e instanceof ConnectorError) return { ok: false, message: `Mailchimp could not be reached: ${e.message}`, details: { kind: e.kind, status: e.status } }
      throw e
    }
  },
  capabilities: {
    // Mailchimp's own limit is 10 simultaneous connections (kept in api.ts); 500 members per batch call.
    traits: { channel: 'email', addressKind: 'email', maxBatch: MAILCHIMP_MAX_BATCH, maxPerSecond: 100 },
    sendBatch: (ctx, input) => sendBatch(ctx, input),
    finish: (ctx, input) => finish(ctx, input),
    withdraw: (ctx, input) => withdraw(ctx, input),
    queryStatus: (ctx, input) => queryStatus(ctx, input),
    interpretWebhook: (event, config) => interpretMailchimpWebhook(event, config),
  },
})
