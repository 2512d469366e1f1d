// What a received webhook does once it is stored: a handler per connector and topic. Later integrations add theirs
// here (Shopify `orders/create`, WooCommerce `product.updated`, …); a topic without a handler is marked 'ignored'.
//
// A handler runs inside the transaction that marks the event processed, so its database effects and the status
// commit together. It must still be idempotent: a replay (or a worker that died after committing) runs it again.
import type { Tx } from '../db/client.ts'
import type { LoadedConnection } from '../connectors/framework/connections.ts'
import type { ParsedWebhook } from '../connectors/framework/define.ts'
import type { Hub } from '../runtime.ts'
import { marketplaceInboundHandlers } from './stock-sync.ts'
import { campaignEvent } from './campaigns.ts'

export interface InboundHandlerContext {
  hub: Hub
  tx: Tx
  merchantId: string
  connection: LoadedConnection
  event: ParsedWebhook
  inbound: { id: string; receivedAt: Date; deliveries: number; attempts: number }
  signal?: AbortSignal
}

/** Returns 'ignored' when the event turns out to need nothing (say, an order of another shop); otherwise it is 'processed'. */
export type InboundHandler = (ctx: InboundHandlerContext) => Promise<void | 'ignored'>

/** Handlers by connector id, then by the vendor's topic. */
export type InboundHandlerRegistry = Readonly<Record<string, Readonly<Record<string, InboundHandler>>>>

export const inboundHandlers: InboundHandlerRegistry = {
  ...marketplaceInboundHandlers,
  'aliyun-sms': { SmsReport: campaignEvent, SmsUp: campaignEvent },
  twilio: { 'message.status': campaignEvent, 'message.inbound': campaignEvent },
  mailchimp: { unsubscribe: campaignEvent, cleaned: campaignEvent, upemail: campaignEvent },
  'wechat-messages': { TEMPLATESENDJOBFINISH: campaignEvent, subscribe_msg_sent_event: campaignEvent, subscribe_msg_popup_event: campaignEvent, subscribe_msg_change_event: campaignEvent, unsubscribe: campaignEvent, subscribe: campaignEvent },
}

/** The handler of a connector's topic, if there is one (own properties only: a topic named "constructor" is just a topic). */
export function findInboundHandler(registry: InboundHandlerRegistry, connectorId: string, topic: string): InboundHandler | undefined {
  const byTopic = Object.hasOwn(registry, connectorId) ? registry[connectorId] : undefined
  return byTopic && Object.hasOwn(byTopic, topic) ? byTopic[topic] : undefined
}
