// Sending with the Messages resource: one POST per message, form-encoded, with the body filled in for the
// recipient and a StatusCallback that carries the delivery id (`?d=…`), so status callbacks name their delivery.
// The calls of a batch run side by side, at most `maxPerSecond` at once (the client's token bucket paces them).
import type { ConnectorContext } from '../../framework/define.ts'
import type { CampaignMessage, CampaignRecipient, SendOutcome } from '../../framework/campaign.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { TwilioConfig } from './config.ts'

/** The Message resource, as far as we read it. */
export interface TwilioMessage {
  sid: string
  status: string
  to: string
  error_code: number | null
  error_message: string | null
  date_updated: string | null
}

const messagesPath = (accountSid: string) => `/2010-04-01/Accounts/${accountSid}/Messages.json`

/** Refusals about one recipient; anything else refused (a bad From, a missing body) is the campaign's problem. */
const PER_RECIPIENT: Record<string, (r: CampaignRecipient, message: string) => SendOutcome> = {
  // Invalid 'To' Phone Number.
  '21211': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21211', message, invalidAddress: true }),
  // 'To' number is not a valid mobile number.
  '21614': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21614', message, invalidAddress: true }),
  // Attempt to send to unsubscribed recipient: the number replied STOP.
  '21610': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21610', message, optedOut: true }),
  // 'To' phone number cannot be reached from this From; permission to send to the region is not enabled.
  '21612': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21612', message }),
  '21408': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21408', message }),
  // The filled-in body is longer than 1 600 characters.
  '21617': (r, message) => ({ deliveryId: r.deliveryId, status: 'failed', code: '21617', message }),
}

/** The body with `{name}` placeholders replaced by the recipient's params, and the names that had no value. */
export function fillBody(body: string, params: Record<string, string>): { text: string; missing: string[] } {
  const missing: string[] = []
  const text = body.replace(/\{(\w+)\}/g, (whole, name: string) => {
    if (Object.hasOwn(params, name)) return params[name]!
    missing.push(name)
    return whole
  })
  return { text, missing }
}

/** The StatusCallback of a delivery: the configured URL (or the connection's webhook URL) with `d=<deliveryId>`. */
export function statusCallbackOf(ctx: ConnectorContext<TwilioConfig>, deliveryId: string): string {
  const url = new URL(ctx.config.statusCallbackUrl ?? `${ctx.config.webhookBaseUrl}/webhooks/${ctx.connectionId}`)
  url.searchParams.set('d', deliveryId)
  return url.toString()
}

const vendorText = (e: ConnectorError) => e.message.replace(/^.*?\((\d+: )?(.*)\)\s*$/, '$2')

export async function sendTwilioBatch(ctx: ConnectorContext<TwilioConfig>, input: { campaignKey: string; message: CampaignMessage; recipients: CampaignRecipient[] }): Promise<SendOutcome[]> {
  const { config } = ctx
  const body = input.message.body
  if (!body?.trim()) throw new ConnectorError('permanent', 'the campaign message has no body')
  const recipients = input.recipients
  const outcomes: (SendOutcome | undefined)[] = new Array(recipients.length)
  /** Calls that failed as a whole, by recipient index. */
  const failures = new Map<number, ConnectorError>()
  let accepted = 0
  let next = 0

  const sendOne = async (i: number) => {
    const r = recipients[i]!
    const filled = fillBody(body, r.params)
    if (filled.missing.length > 0) {
      outcomes[i] = { deliveryId: r.deliveryId, status: 'failed', code: 'missing_param', message: `no value for ${filled.missing.map((n) => `{${n}}`).join(', ')}` }
      return
    }
    const form = new URLSearchParams({ To: r.address.trim(), Body: filled.text, StatusCallback: statusCallbackOf(ctx, r.deliveryId) })
    if (config.messagingServiceSid) form.set('MessagingServiceSid', config.messagingServiceSid)
    else form.set('From', config.from!)
    try {
      const res = await ctx.http.request<TwilioMessage>({ method: 'POST', url: messagesPath(config.accountSid), data: form, operation: 'createMessage', idempotent: false, signal: ctx.signal })
      outcomes[i] = { deliveryId: r.deliveryId, status: 'accepted', vendorMessageId: res.data.sid }
      accepted++
    } catch (e) {
      if (!(e instanceof ConnectorError)) throw e
      const perRecipient = e.kind === 'permanent' && e.vendorCode ? PER_RECIPIENT[e.vendorCode] : undefined
      if (perRecipient) outcomes[i] = perRecipient(r, vendorText(e))
      else failures.set(i, e)
    }
  }

  // Workers take the next recipient until all are sent or a call failed as a whole (then the rest wait).
  const worker = async () => {
    while (failures.size === 0 && next < recipients.length) await sendOne(next++)
  }
  await Promise.all(Array.from({ length: Math.min(config.maxPerSecond, recipients.length) }, worker))

  if (failures.size > 0) {
    const first = failures.values().next().value!
    // Nothing was taken: the batch failed as a whole, and the caller may send it again as it is.
    if (accepted === 0) throw first
    recipients.forEach((r, i) => {
      if (outcomes[i]) return
      const e = failures.get(i)
      if (!e) outcomes[i] = { deliveryId: r.deliveryId, status: 'failed', code: 'not_sent', message: `not sent after another message of the batch failed: ${first.message}`, retryable: true }
      // A 5xx or a timeout of a POST: Twilio may have queued it. It is settled from the status callback, not resent.
      else if (e.kind === 'retryable') outcomes[i] = { deliveryId: r.deliveryId, status: 'failed', code: 'outcome_unknown', message: `${e.message}; Twilio may have queued it`, retryable: false }
      else outcomes[i] = { deliveryId: r.deliveryId, status: 'failed', code: e.vendorCode ?? e.kind, message: e.message, retryable: e.transient }
    })
  }
  return outcomes as SendOutcome[]
}
