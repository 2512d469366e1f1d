// What every campaign connector offers the campaign sender (Alibaba Cloud SMS, Twilio, Mailchimp, WeChat): sending a
// batch of personalised messages, settling deliveries whose outcome is not known, and turning the vendor's
// receipts and opt-outs (webhooks) into events. The hub decides who gets what and when; a connector only speaks the
// vendor's API.
//
// Terms: a *delivery* is one message to one member on one channel of one campaign, claimed by the hub before the
// vendor is called; its id goes to the vendor as the correlation id where the vendor keeps one (Aliyun OutId,
// Twilio StatusCallback query, Mailchimp merge field), so receipts find it again.
import type { ConnectorContext, ParsedWebhook } from './define.ts'

export type CampaignChannel = 'sms' | 'email' | 'wechat'

export interface CampaignTraits {
  channel: CampaignChannel
  /** What an address is: an E.164 phone number, an email address, or a WeChat openid. */
  addressKind: 'phone' | 'email' | 'openid'
  /** Most recipients per sendBatch call (Aliyun 100, Twilio 1, Mailchimp 500, WeChat 1). */
  maxBatch: number
  /** Messages per second the vendor takes from one account (the sender paces itself below it). */
  maxPerSecond: number
}

/** The message of a campaign for one channel; the connector fills each recipient's params in. */
export interface CampaignMessage {
  /** SMS templates as the vendor requires them (Aliyun TemplateCode + SignName; WeChat template_id). */
  templateCode?: string
  signName?: string
  /** Subject and body with {placeholders} (email, Twilio SMS). */
  subject?: string
  body?: string
  /** WeChat: the page or URL the message opens. */
  page?: string
}

export interface CampaignRecipient {
  deliveryId: string
  memberId: string
  address: string
  /** Template parameters: member fields and the coupon code, by name. */
  params: Record<string, string>
}

export type SendOutcome =
  /** The vendor took it (not yet delivered); its own id when it gives one. */
  | { deliveryId: string; status: 'accepted'; vendorMessageId: string | null }
  /**
   * The vendor refused this recipient: `optedOut` (the address unsubscribed/blocked: consent is withdrawn),
   * `invalidAddress` (never valid), otherwise a failure worth reporting; `retryable` for throttling of this one.
   */
  | { deliveryId: string; status: 'failed'; code: string; message: string; optedOut?: boolean; invalidAddress?: boolean; retryable?: boolean }

/** A receipt or an opt-out, from a webhook or a status query. */
export type CampaignEvent =
  | { kind: 'status'; deliveryId: string | null; vendorMessageId: string | null; status: 'sent' | 'delivered' | 'failed'; code?: string; at: string }
  | { kind: 'opt_out' | 'opt_in'; address: string; keyword?: string; at: string }

type Cap<C, I, O> = (ctx: ConnectorContext<C>, input: I) => Promise<O>

export interface CampaignCapabilities<C> {
  traits: CampaignTraits | ((config: C) => CampaignTraits)
  /**
   * Sends one message to at most `maxBatch` recipients; one outcome per recipient, in order. A failure of the
   * whole call throws ConnectorError; a timeout leaves the outcome unknown to the caller (never blindly resent). A
   * `permanent` or `auth_failed` error means the vendor refused the call and sent none of it (the recipients are
   * sent again later): a connector whose batch is several requests throws one only before any of them went out.
   */
  sendBatch: Cap<C, { campaignKey: string; message: CampaignMessage; recipients: CampaignRecipient[] }, SendOutcome[]>
  /** After the last batch: vendors that send a campaign as a whole (Mailchimp: create and send to the tagged members). */
  finish?: Cap<C, { campaignKey: string; message: CampaignMessage; recipients: number }, { vendorCampaignId: string | null }>
  /**
   * Before `finish`: takes back recipients accepted by an earlier batch who must not get the message after all (their
   * consent withdrawn since). Safe to repeat; a recipient the vendor no longer knows is already taken back.
   */
  withdraw?: Cap<C, { campaignKey: string; recipients: { deliveryId: string; address: string }[] }, void>
  /** The status of deliveries whose outcome is unknown or not final (Aliyun QuerySendDetails, Twilio Message fetch). */
  queryStatus?: Cap<C, { deliveries: { deliveryId: string; vendorMessageId: string | null; address: string; sentAt: string }[] }, CampaignEvent[]>
  /** Receipts and opt-outs in a verified webhook (Twilio StatusCallback and STOP replies, Mailchimp unsubscribes, WeChat events). */
  interpretWebhook?: (event: ParsedWebhook, config: C) => CampaignEvent[]
}

export const campaignTraitsOf = <C>(caps: CampaignCapabilities<C>, config: C): CampaignTraits => (typeof caps.traits === 'function' ? caps.traits(config) : caps.traits)
