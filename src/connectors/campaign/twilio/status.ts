// Settling deliveries by fetching their messages (GET Messages/{Sid}.json), and Twilio's statuses as receipts.
import type { ConnectorContext } from '../../framework/define.ts'
import type { CampaignEvent } from '../../framework/campaign.ts'
import { ConnectorError } from '../../framework/http-types.ts'
import type { TwilioConfig } from './config.ts'
import type { TwilioMessage } from './send.ts'

/** Twilio's message statuses as receipts; queued, accepted, scheduled and sending are not news. */
export function statusEventOf(status: string): 'sent' | 'delivered' | 'failed' | null {
  switch (status) {
    case 'sent':
      return 'sent'
    case 'delivered':
    case 'read':
      return 'delivered'
    case 'failed':
    case 'undelivered':
    case 'canceled':
      return 'failed'
    default:
      return null
  }
}

/** RFC 2822 (`Thu, 30 Jul 2015 20:12:33 +0000`) as ISO 8601; null when unreadable. */
const rfc2822ToIso = (v: string | null) => {
  const t = v ? Date.parse(v) : NaN
  return Number.isNaN(t) ? null : new Date(t).toISOString()
}

/**
 * Fetches each message that has a SID (a send whose answer was lost has none and stays unknown). A failed fetch ends
 * the round: the events found so far are returned and the rest are asked about next time.
 */
export async function queryTwilioStatus(
  ctx: ConnectorContext<TwilioConfig>,
  input: { deliveries: { deliveryId: string; vendorMessageId: string | null; address: string; sentAt: string }[] },
): Promise<CampaignEvent[]> {
  const events: CampaignEvent[] = []
  for (const d of input.deliveries) {
    if (!d.vendorMessageId || !/^(SM|MM)[0-9a-f]{32}$/.test(d.vendorMessageId)) continue
    let message: TwilioMessage
    try {
      const res = await ctx.http.request<TwilioMessage>({ method: 'GET', url: `/2010-04-01/Accounts/${ctx.config.accountSid}/Messages/${d.vendorMessageId}.json`, operation: 'fetchMessage', signal: ctx.signal })
      message = res.data
    } catch (e) {
      if (e instanceof ConnectorError && e.vendorCode === '20404') {
        events.push({ kind: 'status', deliveryId: d.deliveryId, vendorMessageId: d.vendorMessageId, status: 'failed', code: '20404', at: ctx.now().toISOString() })
        continue
      }
      if (e instanceof ConnectorError && events.length > 0) break
      throw e
    }
    const status = statusEventOf(message.status)
    if (!status) continue
    events.push({
      kind: 'status',
      deliveryId: d.deliveryId,
      vendorMessageId: message.sid,
      status,
      ...(message.error_code ? { code: String(message.error_code) } : {}),
      at: rfc2822ToIso(message.date_updated) ?? ctx.now().toISOString(),
    })
  }
  return events
}
