// Member campaigns: saved segments (rules over member data and purchase history), campaigns (segment + channel
// connection + message + optional coupon + schedule + quiet hours + rate), one delivery per (campaign, run, member,
// channel) claimed before the vendor is called, and the addresses suppressed per channel.
import { sql } from 'drizzle-orm'
import { bigint, index, integer, jsonb, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, timestamptz, updatedAt } from '../../db/columns.ts'
import type { SegmentRule } from './rules.ts'

export const segments = pgTable(
  'segments',
  {
    id: id(),
    merchantId: merchantId(),
    name: text('name').notNull(),
    rule: jsonb('rule').$type<SegmentRule>().notNull(),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('segments_merchant_idx').on(t.merchantId)],
)

export type CampaignStatus = 'draft' | 'scheduled' | 'sending' | 'sent' | 'cancelled'

export const campaigns = pgTable(
  'campaigns',
  {
    id: id(),
    merchantId: merchantId(),
    name: text('name').notNull(),
    segmentId: uuid('segment_id')
      .notNull()
      .references(() => segments.id),
    connectionId: uuid('connection_id').notNull(),
    channel: text('channel').$type<'sms' | 'email' | 'wechat'>().notNull(),
    /** The vendor-side message: template code and sign name, subject and body with {placeholders}, page. */
    message: jsonb('message').$type<Record<string, string>>().notNull(),
    couponTemplateId: uuid('coupon_template_id'),
    /** 'now' | 'at' (sendAt) | 'daily' (dailyAt, local time: birthday sends and the like). */
    schedule: text('schedule').$type<'now' | 'at' | 'daily'>().notNull(),
    sendAt: timestamptz('send_at'),
    dailyAt: text('daily_at'),
    /** No message between these local times (HH:MM); a send inside waits for the end. */
    quietStart: text('quiet_start').notNull().default('21:00'),
    quietEnd: text('quiet_end').notNull().default('09:00'),
    /** Messages per second at most (below the vendor's own limit). */
    ratePerSecond: integer('rate_per_second').notNull().default(50),
    /** Days after a message in which a recipient's purchases count for the campaign. */
    attributionDays: integer('attribution_days').notNull().default(7),
    status: text('status').$type<CampaignStatus>().notNull().default('draft'),
    lastRunKey: text('last_run_key'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [index('campaigns_merchant_idx').on(t.merchantId, t.status)],
)

export type DeliveryStatus = 'pending' | 'claimed' | 'accepted' | 'delivered' | 'failed' | 'unknown' | 'suppressed' | 'skipped'

export const campaignDeliveries = pgTable(
  'campaign_deliveries',
  {
    id: id(),
    merchantId: merchantId(),
    campaignId: uuid('campaign_id')
      .notNull()
      .references(() => campaigns.id),
    /** 'once' for a one-off campaign, the local date for a daily one. */
    runKey: text('run_key').notNull(),
    memberId: uuid('member_id').notNull(),
    channel: text('channel').notNull(),
    address: text('address'),
    status: text('status').$type<DeliveryStatus>().notNull(),
    reason: text('reason'),
    vendorMessageId: text('vendor_message_id'),
    vendorCode: text('vendor_code'),
    couponId: uuid('coupon_id'),
    claimedAt: timestamptz('claimed_at'),
    sentAt: timestamptz('sent_at'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [
    uniqueIndex('campaign_deliveries_key').on(t.campaignId, t.runKey, t.memberId, t.channel),
    // The claim order: pending deliveries of a run by id, read straight from the index.
    index('campaign_deliveries_pending_idx').on(t.campaignId, t.runKey, t.id).where(sql`${t.status} = 'pending'`),
    index('campaign_deliveries_run_idx').on(t.campaignId, t.runKey, t.status),
    index('campaign_deliveries_vendor_idx').on(t.vendorMessageId).where(sql`${t.vendorMessageId} is not null`),
    index('campaign_deliveries_member_idx').on(t.merchantId, t.memberId),
  ],
)

/**
 * A vendor's receipt that named a message no delivery carries yet: the carrier answered before the hub wrote down
 * the vendor's answer to the send (which names the message). Applied, then forgotten, when that answer is recorded;
 * purged after RECEIPT_RETENTION_DAYS if no delivery ever names it (a message another system sent).
 */
export const campaignReceipts = pgTable(
  'campaign_receipts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId(),
    vendorMessageId: text('vendor_message_id').notNull(),
    status: text('status').$type<'sent' | 'delivered' | 'failed'>().notNull(),
    vendorCode: text('vendor_code'),
    at: timestamptz('at').notNull(),
    receivedAt: createdAt(),
  },
  (t) => [index('campaign_receipts_message_idx').on(t.merchantId, t.vendorMessageId), index('campaign_receipts_received_idx').on(t.receivedAt)],
)

export const RECEIPT_RETENTION_DAYS = 7

/** Addresses never to message on a channel: opted out with the vendor, bounced, or blocked by hand. */
export const suppressions = pgTable(
  'suppressions',
  {
    merchantId: merchantId(),
    channel: text('channel').notNull(),
    address: text('address').notNull(),
    reason: text('reason').notNull(),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('suppressions_key').on(t.merchantId, t.channel, t.address)],
)
