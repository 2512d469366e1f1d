// Mailchimp list webhooks: form-encoded POSTs (`type`, `fired_at`, `data[email]`, `data[reason]`, …) that Mailchimp
// does not sign. The URL given to Mailchimp carries a secret token (`/webhooks/{connectionId}?token=…`), compared
// in constant time with the connection's `webhookToken`; that token is the only proof a delivery came from Mailchimp.
// Mailchimp also checks the URL with a GET when it is added: the hub must answer that GET with 200 (see the report
// of this connector: the inbound route takes POST only).
// https://mailchimp.com/developer/marketing/guides/sync-audience-data-webhooks/
import { createHash } from 'node:crypto'
import type { CampaignEvent } from '../../framework/campaign.ts'
import type { InboundRequest, ParsedWebhook } from '../../framework/define.ts'
import { safeEqual } from '../../framework/signatures.ts'

/** The query parameter of the webhook URL that carries the secret token. */
export const TOKEN_PARAM = 'token'

export interface MailchimpWebhookData {
  type: string
  firedAt: string
  /** The `data[…]` fields by their inner name: `email`, `reason`, `list_id`, `merges][EMAIL`… */
  data: Record<string, string>
}

export function verifyMailchimpWebhook(req: InboundRequest, config: { webhookToken?: string }): boolean {
  if (!config.webhookToken) return false
  const q = req.url.indexOf('?')
  if (q < 0) return false
  const token = new URLSearchParams(req.url.slice(q + 1)).get(TOKEN_PARAM)
  return token !== null && safeEqual(token, config.webhookToken)
}

/** `fired_at` is `YYYY-MM-DD HH:MM:SS` in UTC. */
function firedAtOf(value: string): Date | undefined {
  const d = new Date(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(value) ? `${value.replace(' ', 'T')}Z` : value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

export function parseMailchimpWebhook(req: InboundRequest): ParsedWebhook {
  const form = new URLSearchParams(req.rawBody.toString('utf8'))
  const type = form.get('type')
  const firedAt = form.get('fired_at') ?? ''
  if (!type) throw new Error('a Mailchimp webhook carries a type')
  const data: Record<string, string> = {}
  for (const [k, v] of form) {
    const m = /^data\[(.+)\]$/.exec(k)
    if (m) data[m[1]!] = v
  }
  const email = (data.email ?? data.new_email ?? '').trim().toLowerCase()
  // Mailchimp gives no event id: type, address and time name one event, the same on every retry.
  const eventId = createHash('sha256').update(`${type}\n${email}\n${firedAt}`).digest('hex').slice(0, 40)
  const parsed: MailchimpWebhookData = { type, firedAt, data }
  return { eventId: `mc_${eventId}`, topic: type, occurredAt: firedAtOf(firedAt), data: parsed }
}

/**
 * An unsubscribe → opt_out (keyword: unsubscribe, or abuse for a spam complaint); cleaned (hard bounce or abuse
 * report: Mailchimp will not email the address again) → opt_out with keyword cleaned; subscribe → opt_in. Events of
 * another audience, profile and address changes say nothing about consent.
 */
export function interpretMailchimpWebhook(event: ParsedWebhook, config: { listId: string }): CampaignEvent[] {
  const { type, data } = event.data as MailchimpWebhookData
  if (data.list_id && data.list_id !== config.listId) return []
  const address = (data.email ?? '').trim().toLowerCase()
  if (!address) return []
  const at = (event.occurredAt ?? new Date()).toISOString()
  switch (type) {
    case 'unsubscribe':
      return [{ kind: 'opt_out', address, keyword: data.reason === 'abuse' ? 'abuse' : 'unsubscribe', at }]
    case 'cleaned':
      return [{ kind: 'opt_out', address, keyword: 'cleaned', at }]
    case 'subscribe':
      return [{ kind: 'opt_in', address, at }]
    default:
      return []
  }
}
