// Campaign operations: segments (saved, previewed), campaigns, and the delivery ledger that makes sending safe —
// the audience is snapshotted into one delivery row per (campaign, run, member, channel) (unique, so a second send
// or a re-run adds nobody twice), each batch is claimed before the vendor is called, consent and the suppression
// list are checked at claim time, and an outcome nobody knows (a timeout) stays 'unknown' until a receipt or a
// status query settles it: never sent again blindly. A cancelled campaign's recipients not messaged end 'skipped'
// (campaign_cancelled) with their coupons void; an email run delivers once per address.
import { and, desc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { enqueue } from '../../db/enqueue.ts'
import { keysetPage } from '../../db/page.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { addDays, businessDate, localInstant, localTimeOfDay } from '../../lib/time.ts'
import { assertIssuable, getTemplate, issueCoupons } from '../members/coupons.ts'
import { recordConsents } from '../members/members.ts'
import { members } from '../members/schema.ts'
import { getSettings } from '../merchants/settings.ts'
import type { Actor } from '../staff/actor.ts'
import { systemActor } from '../staff/actor.ts'
import { parseSegmentRule, ruleReferences, segmentQuery, type SegmentRule } from './rules.ts'
import { campaignDeliveries, campaignReceipts, campaigns, segments, suppressions, type DeliveryStatus } from './schema.ts'

export type Segment = typeof segments.$inferSelect
export type Campaign = typeof campaigns.$inferSelect
export type Delivery = typeof campaignDeliveries.$inferSelect
type Channel = 'sms' | 'email' | 'wechat'

const addressColumn = (channel: Channel) => (channel === 'sms' ? sql`m.phone` : channel === 'email' ? sql`m.email` : sql`m.wechat_open_id`)
const consentColumn = (channel: Channel, member = 'm') =>
  sql`${sql.identifier(member)}.${sql.identifier(channel === 'sms' ? 'consent_sms' : channel === 'email' ? 'consent_email' : 'consent_wechat')}`

// ---------------------------------------------------------------------------------------------------------------
// Segments

/**
 * A rule naming a tier, store or coupon template the merchant does not have is a mistake (a typo would otherwise be
 * a segment of nobody): 422 invalid_rule naming it.
 */
export async function assertRuleReferences(tx: Tx, merchantId: string, rule: SegmentRule): Promise<void> {
  const refs = ruleReferences(rule)
  const { rows } = await tx.execute<{ kind: string; missing: string }>(sql`
    select 'tier' as kind, x as missing from unnest(${sql.param(refs.tiers)}::text[]) as x
     where not exists (select 1 from tiers t where t.merchant_id = ${merchantId} and (t.code = x or t.id::text = lower(x)))
    union all
    select 'store', x from unnest(${sql.param(refs.stores)}::text[]) as x
     where not exists (select 1 from stores s where s.merchant_id = ${merchantId} and s.id::text = x)
    union all
    select 'coupon template', x from unnest(${sql.param(refs.templates)}::text[]) as x
     where not exists (select 1 from coupon_templates c where c.merchant_id = ${merchantId} and c.id::text = x)`)
  if (rows.length) {
    throw invalid('invalid_rule', `the segment rule is not valid: it names ${rows.map((r) => `${r.kind} ${r.missing}`).join(', ')}, which this merchant does not have`, { unknown: rows })
  }
}

export async function createSegment(tx: Tx, merchantId: string, input: { name: string; rule: unknown }, at: Date): Promise<Segment> {
  const rule = parseSegmentRule(input.rule)
  await assertRuleReferences(tx, merchantId, rule)
  const [row] = await tx.insert(segments).values({ id: newId(), merchantId, name: input.name, rule, createdAt: at, updatedAt: at }).returning()
  return row!
}

export async function getSegment(tx: Tx, merchantId: string, id: string): Promise<Segment> {
  const [s] = await tx.select().from(segments).where(and(eq(segments.id, id), eq(segments.merchantId, merchantId)))
  if (!s) throw notFound('segment', id)
  return s
}

export const listSegments = (tx: Tx, merchantId: string) => tx.select().from(segments).where(eq(segments.merchantId, merchantId)).orderBy(desc(segments.createdAt))

/** How many members match now, and a sample of them. */
export async function previewSegment(tx: Tx, merchantId: string, rule: SegmentRule, at: Date, sample = 20) {
  const { timeZone } = await getSettings(tx, merchantId)
  const ctx = { merchantId, now: at, timeZone }
  const [{ n }] = (await tx.execute<{ n: number }>(segmentQuery(rule, ctx, sql`count(*)::int as n`))).rows as [{ n: number }]
  const rows = await tx.execute<{ id: string; name: string | null; phone: string; card_no: string }>(segmentQuery(rule, ctx, sql`m.id, m.name, m.phone, m.card_no`, sql`order by m.id limit ${sample}`))
  return { count: n, sample: rows.rows.map((r) => ({ id: r.id, name: r.name, phone: r.phone, cardNo: r.card_no })) }
}

// ---------------------------------------------------------------------------------------------------------------
// Campaigns

export interface CampaignInput {
  name: string
  segmentId: string
  connectionId: string
  channel: Channel
  message: Record<string, string>
  couponTemplateId?: string | null
  schedule: 'now' | 'at' | 'daily'
  sendAt?: Date | null
  dailyAt?: string | null
  quietStart?: string
  quietEnd?: string
  ratePerSecond?: number
  attributionDays?: number
}

export async function createCampaign(tx: Tx, merchantId: string, input: CampaignInput, at: Date): Promise<Campaign> {
  await getSegment(tx, merchantId, input.segmentId)
  // Checked now: a template missing or closed when the run issues coupons would stop the campaign halfway.
  if (input.couponTemplateId) assertIssuable(await getTemplate(tx, merchantId, input.couponTemplateId), at)
  if (input.schedule === 'at' && !input.sendAt) throw invalid('send_at_required', 'a campaign scheduled "at" needs sendAt')
  if (input.schedule === 'daily' && !input.dailyAt) throw invalid('daily_at_required', 'a daily campaign needs dailyAt (HH:MM local time)')
  const [row] = await tx
    .insert(campaigns)
    .values({
      id: newId(),
      merchantId,
      name: input.name,
      segmentId: input.segmentId,
      connectionId: input.connectionId,
      channel: input.channel,
      message: input.message,
      couponTemplateId: input.couponTemplateId ?? null,
      schedule: input.schedule,
      sendAt: input.sendAt ?? null,
      dailyAt: input.dailyAt ?? null,
      quietStart: input.quietStart ?? '21:00',
      quietEnd: input.quietEnd ?? '09:00',
      ratePerSecond: input.ratePerSecond ?? 50,
      attributionDays: input.attributionDays ?? 7,
      status: input.schedule === 'now' ? 'draft' : 'scheduled',
      createdAt: at,
      updatedAt: at,
    })
    .returning()
  return row!
}

export async function getCampaign(tx: Tx, merchantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<Campaign> {
  const q = tx.select().from(campaigns).where(and(eq(campaigns.id, id), eq(campaigns.merchantId, merchantId)))
  const [c] = opts.forUpdate ? await q.for('update') : await q
  if (!c) throw notFound('campaign', id)
  return c
}

export async function listCampaigns(tx: Tx, merchantId: string, f: { before?: string; limit: number }) {
  const rows = await tx
    .select()
    .from(campaigns)
    .where(and(eq(campaigns.merchantId, merchantId), f.before ? sql`${campaigns.id} < ${f.before}` : undefined))
    .orderBy(desc(campaigns.id))
    .limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5))

/**
 * When a message may go: now, or the end of the quiet hours (merchant's local time) if now is inside them. Quiet
 * hours may wrap midnight (21:00–09:00).
 */
export function nextSendTime(now: Date, timeZone: string, quietStart: string, quietEnd: string): Date {
  const nowMin = minutesOf(localTimeOfDay(now, timeZone))
  const s = minutesOf(quietStart)
  const e = minutesOf(quietEnd)
  if (s === e) return now
  const quiet = s < e ? nowMin >= s && nowMin < e : nowMin >= s || nowMin < e
  if (!quiet) return now
  // The next time the local clock reads the end (a day of 23 or 25 hours counts its own hours; a time shown twice
  // the night the clocks go back may be next at its second showing).
  const today = businessDate(now, timeZone)
  const first = localInstant(today, quietEnd, timeZone)
  const again = new Date(first.getTime() + 3600_000)
  const shownAgain = localTimeOfDay(again, timeZone) === quietEnd && businessDate(again, timeZone) === today
  return [first, ...(shownAgain ? [again] : []), localInstant(addDays(today, 1), quietEnd, timeZone)].find((t) => t > now)!
}

/**
 * Snapshots the campaign's audience for a run: one pending delivery per member of the segment now (members already
 * holding a delivery of this run are left alone). Returns how many were added.
 */
export async function snapshotAudience(tx: Tx, campaign: Campaign, runKey: string, at: Date): Promise<number> {
  const segment = await getSegment(tx, campaign.merchantId, campaign.segmentId)
  const { timeZone } = await getSettings(tx, campaign.merchantId)
  const ctx = { merchantId: campaign.merchantId, now: at, timeZone }
  const select = segmentQuery(
    segment.rule,
    ctx,
    sql`gen_random_uuid(), ${campaign.merchantId}::uuid, ${campaign.id}::uuid, ${runKey}, m.id, ${campaign.channel}, ${addressColumn(campaign.channel)}, 'pending', ${at}::timestamptz, ${at}::timestamptz`,
  )
  const res = await tx.execute(sql`
    insert into campaign_deliveries (id, merchant_id, campaign_id, run_key, member_id, channel, address, status, created_at, updated_at)
    ${select}
    on conflict (campaign_id, run_key, member_id, channel) do nothing`)
  return res.rowCount ?? 0
}

/** How long a recipient the vendor throttled waits before it is tried again. */
export const RETRY_REST_MS = 60_000

/** Deliveries of a run still waiting to be sent (including ones resting after throttling). */
export async function pendingCount(tx: Tx, campaignId: string, runKey: string): Promise<number> {
  const { rows } = await tx.execute<{ n: number }>(sql`select count(*)::int as n from campaign_deliveries where campaign_id = ${campaignId} and run_key = ${runKey} and status = 'pending'`)
  return rows[0]!.n
}

export interface ClaimedDelivery {
  id: string
  memberId: string
  address: string
  params: Record<string, string>
  couponId: string | null
}

/** Deliveries that went to the vendor, or are going now: the member's message of the run is out (or may be). */
const SENT = sql`('claimed', 'accepted', 'delivered', 'unknown')`

/**
 * Whether a member merged into the delivery's member (`d`) since the audience was taken already has the run's
 * message (sent or being sent): the survivor of a merge is the same person. A merge points every member merged
 * before into the one that stands, so one step finds them all. A scalar subquery, so it stays one probe of
 * members_merged_into_idx per recipient (an EXISTS may be planned as a scan of every message sent).
 */
const sentToMergedIn = sql`coalesce((
  select true from members x join campaign_deliveries o on o.member_id = x.id
   where x.merged_into = d.member_id and o.campaign_id = d.campaign_id and o.run_key = d.run_key and o.channel = d.channel and o.status in ${SENT}
   limit 1), false)`

/**
 * Why a recipient is not sent the message, or null. One person gets one message at most: a member merged into
 * another since the audience was taken is skipped (the survivor has the person's own delivery, or none: the merge
 * moved the address) unless its message already is the person's (`carried`, see acceptedNotToSend); so is a member
 * into whom one already messaged in the run was merged (`sent_to_merged`, see sentToMergedIn). Then one without an
 * address, consent or with a suppressed address.
 */
function notToSend(
  r: { member_status: string; address: string | null; consent: boolean; suppressed: boolean; sent_to_merged?: boolean; carried?: boolean },
  channel: Channel,
): { status: 'skipped' | 'suppressed'; reason: string } | null {
  if (r.member_status !== 'active' && !r.carried) return { status: 'skipped', reason: `member_${r.member_status}` }
  if (r.sent_to_merged) return { status: 'skipped', reason: 'already_sent_to_merged' }
  if (!r.address) return { status: 'skipped', reason: `no ${channel} address` }
  if (!r.consent) return { status: 'suppressed', reason: 'no_consent' }
  if (r.suppressed) return { status: 'suppressed', reason: 'suppressed' }
  return null
}

/** Recipients of a run the vendor accepted (or may have: unknown), whose message has not gone out while it waits. */
export async function acceptedCount(tx: Tx, campaignId: string, runKey: string): Promise<number> {
  const { rows } = await tx.execute<{ n: number }>(
    sql`select count(*)::int as n from campaign_deliveries where campaign_id = ${campaignId} and run_key = ${runKey} and status in ('accepted', 'unknown', 'delivered')`,
  )
  return rows[0]!.n
}

/**
 * For vendors that send the run as a whole at its end (Mailchimp): recipients accepted by an earlier batch who must
 * not get the message after all, by the rule claimBatch applies (consent withdrawn, address suppressed, member merged
 * since). The address is the one the vendor was given. A member merged since into one whose own delivery claimBatch
 * then skipped for it (already_sent_to_merged) is the person's message and stays (the first such, if several), with
 * the person's consent as the survivor holds it now.
 */
export async function acceptedNotToSend(tx: Tx, campaign: Campaign, runKey: string): Promise<{ deliveryId: string; address: string; status: 'skipped' | 'suppressed'; reason: string }[]> {
  const channel = campaign.channel as Channel
  const { rows } = await tx.execute<{ id: string; address: string; member_status: string; consent: boolean; suppressed: boolean; carried: boolean }>(sql`
    select d.id, d.address, m.status as member_status, ${consentColumn(channel, 'p')} as consent,
           exists (select 1 from suppressions x where x.merchant_id = d.merchant_id and x.channel = d.channel and x.address = d.address) as suppressed,
           m.merged_into is not null
             and exists (select 1 from campaign_deliveries s
                          where s.campaign_id = d.campaign_id and s.run_key = d.run_key and s.channel = d.channel and s.member_id = m.merged_into
                            and s.status = 'skipped' and s.reason = 'already_sent_to_merged')
             and not exists (select 1 from members x join campaign_deliveries o on o.member_id = x.id
                              where x.merged_into = m.merged_into and o.campaign_id = d.campaign_id and o.run_key = d.run_key and o.channel = d.channel
                                and o.status in ('accepted', 'unknown', 'delivered') and o.id < d.id) as carried
      from campaign_deliveries d join members m on m.id = d.member_id
      -- The person: the member, or the one it was merged into.
      join members p on p.id = coalesce(m.merged_into, m.id)
     where d.campaign_id = ${campaign.id} and d.run_key = ${runKey} and d.status in ('accepted', 'unknown') and d.address is not null`)
  return rows.flatMap((r) => {
    const not = notToSend(r, channel)
    return not ? [{ deliveryId: r.id, address: r.address, ...not }] : []
  })
}

/**
 * Recipients of a run the vendor accepted (or may have: unknown), by id after `after`: for a vendor that sends the run
 * at its end, not emailed yet.
 */
export async function acceptedOf(tx: Tx, campaign: Campaign, runKey: string, page: { after: string | null; limit: number }): Promise<Delivery[]> {
  return tx
    .select()
    .from(campaignDeliveries)
    .where(
      and(
        eq(campaignDeliveries.campaignId, campaign.id),
        eq(campaignDeliveries.runKey, runKey),
        inArray(campaignDeliveries.status, ['accepted', 'unknown']),
        page.after ? sql`${campaignDeliveries.id} > ${page.after}` : undefined,
      ),
    )
    .orderBy(campaignDeliveries.id)
    .limit(page.limit)
}

/**
 * Records recipients taken back from the vendor before the run went out (see acceptedNotToSend, and a run cancelled
 * before it went out): never sent after all, so their coupons are void and no sale is credited to them.
 */
export async function recordWithdrawn(tx: Tx, withdrawn: { deliveryId: string; status: string; reason: string }[], at: Date): Promise<void> {
  if (withdrawn.length === 0) return
  const { rows } = await tx.execute<{ id: string }>(sql`
    update campaign_deliveries d set status = x.status, reason = x.reason, sent_at = null, updated_at = ${at}
      from jsonb_to_recordset(${JSON.stringify(withdrawn)}::jsonb) as x("deliveryId" uuid, status text, reason text)
     where d.id = x."deliveryId" and d.status in ('accepted', 'unknown')
    returning d.id`)
  await voidUnsentCoupons(tx, rows.map((r) => r.id), at)
}

/** Class of the advisory lock that has an email run claim one batch at a time (see sharedAddresses). */
const EMAIL_CLAIM_LOCK_CLASS = 74_620_302

/** An email address as the vendor keys it: case and surrounding blanks do not make another address. */
const addressKey = (address: SQL) => sql`lower(regexp_replace(${address}, ${'^\\s+|\\s+$'}, '', 'g'))`

/**
 * Email only: recipients whose address (by addressKey) another recipient of the run already has, in this batch or
 * claimed before (sent, or being sent). Mailchimp keeps one list member per address and emails it once, with the
 * merge fields (the coupon) of whoever was upserted last: a second member there would be counted and given a coupon
 * for an email they share with the first. Ones the first was never sent to (no consent, refused) do not count.
 * Callers hold the run's EMAIL_CLAIM_LOCK_CLASS lock, so batches of the run are checked one after the other.
 */
async function sharedAddresses(tx: Tx, campaign: Campaign, runKey: string, rows: { id: string; address_key: string }[]): Promise<Set<string>> {
  const keys = [...new Set(rows.map((r) => r.address_key))]
  const { rows: taken } = await tx.execute<{ k: string }>(sql`
    select distinct ${addressKey(sql`d.address`)} as k from campaign_deliveries d
     where d.campaign_id = ${campaign.id} and d.run_key = ${runKey} and d.status in ('claimed', 'accepted', 'delivered', 'unknown')
       and d.address is not null and ${addressKey(sql`d.address`)} = any(${sql.param(keys)}::text[])`)
  const seen = new Set(taken.map((r) => r.k))
  const shared = new Set<string>()
  for (const r of rows) {
    if (seen.has(r.address_key)) shared.add(r.id)
    else seen.add(r.address_key)
  }
  return shared
}

/**
 * Claims the next pending deliveries of a run (at most `limit`): consent and suppression are checked now, so a
 * member who opted out since the snapshot is suppressed, not messaged; a member merged into another since, or one
 * into whom a member already messaged in the run was merged, is skipped (see notToSend); on email, a second
 * recipient of one address is skipped (duplicate_address); a coupon is issued per recipient; the rest are 'claimed'
 * and returned with their template params. Claimed rows left by a crash are never claimed again.
 */
export async function claimBatch(tx: Tx, campaign: Campaign, runKey: string, limit: number, at: Date): Promise<ClaimedDelivery[]> {
  const channel = campaign.channel as Channel
  // An email run claims one batch at a time (a Mailchimp run has one sender anyway), so sharedAddresses sees every
  // address claimed before.
  if (channel === 'email') await tx.execute(sql`select pg_advisory_xact_lock(${EMAIL_CLAIM_LOCK_CLASS}, hashtext(${`${campaign.id}:${runKey}`}))`)
  const { rows } = await tx.execute<{
    id: string
    member_id: string
    member_status: string
    address: string | null
    consent: boolean
    suppressed: boolean
    sent_to_merged: boolean
    name: string | null
    card_no: string
    points: string
    tier: string | null
    coupon_id: string | null
    coupon_code: string | null
    address_key: string | null
  }>(sql`
    select d.id, d.member_id, m.status as member_status, ${addressColumn(channel)} as address, ${consentColumn(channel)} as consent,
           ${addressKey(addressColumn(channel))} as address_key, ${sentToMergedIn} as sent_to_merged,
           exists (select 1 from suppressions x where x.merchant_id = d.merchant_id and x.channel = d.channel and x.address = ${addressColumn(channel)}) as suppressed,
           m.name, m.card_no, m.points_balance::text as points, (select t.name from tiers t where t.id = m.tier_id) as tier,
           d.coupon_id, (select c.code from coupons c where c.id = d.coupon_id) as coupon_code
      from campaign_deliveries d join members m on m.id = d.member_id
     where d.campaign_id = ${campaign.id} and d.run_key = ${runKey} and d.status = 'pending'
       -- A campaign cancelled while its run sends: nothing more is claimed.
       and exists (select 1 from campaigns c where c.id = d.campaign_id and c.status <> 'cancelled')
       -- A recipient the vendor throttled (per-number flow control) rests a minute before the next try.
       and (d.claimed_at is null or d.claimed_at < ${new Date(at.getTime() - RETRY_REST_MS)})
     order by d.id limit ${limit}
     for update of d skip locked`)
  if (rows.length === 0) return []
  const skip: { id: string; address: string | null; status: 'skipped' | 'suppressed'; reason: string }[] = rows.flatMap((r) => {
    const not = notToSend(r, channel)
    return not ? [{ id: r.id, address: r.address, ...not }] : []
  })
  let go = rows.filter((r) => !skip.some((x) => x.id === r.id))
  if (channel === 'email' && go.length) {
    const shared = await sharedAddresses(tx, campaign, runKey, go as { id: string; address_key: string }[])
    for (const r of go) if (shared.has(r.id)) skip.push({ id: r.id, address: r.address, status: 'skipped', reason: 'duplicate_address' })
    go = go.filter((r) => !shared.has(r.id))
  }
  if (skip.length) {
    await tx.execute(sql`
      update campaign_deliveries d set status = x.status, reason = x.reason, address = x.address, updated_at = ${at}
        from jsonb_to_recordset(${JSON.stringify(skip)}::jsonb) as x(id uuid, address text, status text, reason text)
       where d.id = x.id`)
    // A coupon issued on an earlier try (the vendor throttled the call) went with a message that is now never sent.
    await voidUnsentCoupons(tx, skip.map((r) => r.id), at)
  }
  if (go.length === 0) return claimBatch(tx, campaign, runKey, limit, at)
  // A recipient tried before (throttled, or refused before sending) keeps the coupon it was issued then.
  const coupons = new Map<string, { id: string; code: string }>(go.filter((r) => r.coupon_id && r.coupon_code).map((r) => [r.member_id, { id: r.coupon_id!, code: r.coupon_code! }]))
  if (campaign.couponTemplateId) {
    const need = go.filter((r) => !coupons.has(r.member_id)).map((r) => r.member_id)
    if (need.length) {
      const issued = await issueCoupons(tx, systemActor(campaign.merchantId, `campaign ${campaign.name}`), { templateId: campaign.couponTemplateId, memberIds: need, source: `campaign:${campaign.id}`, at })
      for (const c of issued.issued) coupons.set(c.memberId!, { id: c.id, code: c.code })
    }
    // A member at the template's limit gets no coupon: not a message promising one with an empty code.
    const without = go.filter((r) => !coupons.has(r.member_id))
    if (without.length) {
      await tx.execute(sql`
        update campaign_deliveries set status = 'skipped', reason = 'coupon_limit', updated_at = ${at}
         where id = any(${sql.param(without.map((r) => r.id))}::uuid[])`)
      go = go.filter((r) => coupons.has(r.member_id))
      if (go.length === 0) return claimBatch(tx, campaign, runKey, limit, at)
    }
  }
  await tx.execute(sql`
    update campaign_deliveries d set status = 'claimed', claimed_at = ${at}, address = x.address, coupon_id = x.coupon, updated_at = ${at}
      from jsonb_to_recordset(${JSON.stringify(go.map((r) => ({ id: r.id, address: r.address, coupon: coupons.get(r.member_id)?.id ?? null })))}::jsonb) as x(id uuid, address text, coupon uuid)
     where d.id = x.id`)
  return go.map((r) => ({
    id: r.id,
    memberId: r.member_id,
    address: r.address!,
    couponId: coupons.get(r.member_id)?.id ?? null,
    params: { name: r.name ?? '', cardNo: r.card_no, points: r.points, tier: r.tier ?? '', coupon: coupons.get(r.member_id)?.code ?? '' },
  }))
}

export type Outcome =
  | { deliveryId: string; status: 'accepted'; vendorMessageId: string | null }
  | { deliveryId: string; status: 'failed'; code: string; message: string; optedOut?: boolean; invalidAddress?: boolean; retryable?: boolean }
  /** The vendor call's fate is not known (a timeout): settled later by a receipt or a status query. */
  | { deliveryId: string; status: 'unknown'; message: string }
  /** Not sent (the vendor throttled the whole call): back to pending. */
  | { deliveryId: string; status: 'pending' }

/**
 * Voids the coupons issued with deliveries whose message was never sent (skipped, suppressed, refused by the vendor),
 * so a member does not hold a campaign coupon nobody told them of and the campaign does not count it. A delivery a
 * receipt or an answer has since marked sent keeps its coupon.
 */
async function voidUnsentCoupons(tx: Tx, deliveryIds: string[], at: Date): Promise<void> {
  if (deliveryIds.length === 0) return
  await tx.execute(sql`
    update coupons c set status = 'void', void_reason = 'campaign message not sent', updated_at = ${at}
      from campaign_deliveries d
     where d.id = any(${sql.param(deliveryIds)}::uuid[]) and d.coupon_id = c.id and c.status = 'issued'
       and d.status in ('skipped', 'suppressed', 'failed') and d.sent_at is null`)
}

/** Records a batch's outcomes; an opt-out the vendor reports withdraws the member's consent and suppresses the address. */
export async function recordOutcomes(tx: Tx, campaign: Campaign, outcomes: Outcome[], at: Date): Promise<void> {
  if (outcomes.length === 0) return
  const rows = outcomes.map((o) => ({
    id: o.deliveryId,
    status: o.status === 'failed' && o.retryable ? 'pending' : o.status,
    vendor: o.status === 'accepted' ? o.vendorMessageId : null,
    code: o.status === 'failed' ? o.code : null,
    reason: o.status === 'failed' ? o.message.slice(0, 500) : o.status === 'unknown' ? o.message.slice(0, 500) : null,
    sent: o.status === 'accepted' || o.status === 'unknown',
    rest: o.status === 'failed' && o.retryable === true,
  }))
  const named = outcomes.flatMap((o) => (o.status === 'accepted' && o.vendorMessageId ? [o.vendorMessageId] : []))
  await lockMessages(tx, named)
  // A receipt that came in first (the carrier's answer beating ours to the database) stays: no answer undoes it (nor
  // sends the message again); the answer only adds the vendor's message id and when it was sent.
  await tx.execute(sql`
    update campaign_deliveries d set status = case when d.status in ('delivered', 'failed') then d.status else x.status end,
           vendor_message_id = coalesce(x.vendor, d.vendor_message_id),
           vendor_code = case when d.status in ('delivered', 'failed') then d.vendor_code else x.code end,
           reason = case when d.status in ('delivered', 'failed') then d.reason else x.reason end,
           sent_at = case when x.sent then ${at} else d.sent_at end, updated_at = ${at},
           claimed_at = case when d.status in ('delivered', 'failed') then d.claimed_at when x.status = 'pending' and x.rest then ${at} when x.status = 'pending' then null else d.claimed_at end
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id uuid, status text, vendor text, code text, reason text, sent boolean, rest boolean)
     where d.id = x.id and d.campaign_id = ${campaign.id}`)
  await applyKeptReceipts(tx, campaign, named, at)
  // Refused for good (a number that cannot take SMS, an opt-out): the message was never sent, nor is its coupon.
  await voidUnsentCoupons(tx, outcomes.filter((o) => o.status === 'failed' && !o.retryable).map((o) => o.deliveryId), at)
  const optedOut = outcomes.filter((o): o is Extract<Outcome, { status: 'failed' }> => o.status === 'failed' && (o.optedOut === true || o.invalidAddress === true))
  if (optedOut.length) {
    const ds = await tx.select({ id: campaignDeliveries.id, address: campaignDeliveries.address }).from(campaignDeliveries).where(inArray(campaignDeliveries.id, optedOut.map((o) => o.deliveryId)))
    const byId = new Map(ds.map((d) => [d.id, d.address]))
    for (const o of optedOut) {
      const address = byId.get(o.deliveryId)
      if (address) await suppress(tx, campaign.merchantId, campaign.channel as Channel, address, o.optedOut ? `vendor_opt_out:${o.code}` : `invalid_address:${o.code}`, at, o.optedOut === true)
    }
  }
}

/** Class of the advisory locks that order a vendor message's receipts and the send's answer naming it. */
const MESSAGE_LOCK_CLASS = 74_620_301

/**
 * Takes the locks of vendor messages (in one order, so two holders never wait on each other): a receipt naming a
 * message and the answer naming it run one after the other, so the receipt finds the answer's message id, or the
 * answer finds the receipt kept for it; never both missing each other.
 */
async function lockMessages(tx: Tx, vendorMessageIds: string[]): Promise<void> {
  const ids = [...new Set(vendorMessageIds)].sort()
  if (ids.length === 0) return
  await tx.execute(sql`select pg_advisory_xact_lock(${MESSAGE_LOCK_CLASS}, hashtext(m)) from unnest(${sql.param(ids)}::text[]) with ordinality as x(m, n) order by n`)
}

/** The receipts kept for messages the vendor has now named (see campaignReceipts), applied in the order they happened. */
async function applyKeptReceipts(tx: Tx, campaign: Campaign, vendorMessageIds: string[], at: Date): Promise<void> {
  if (vendorMessageIds.length === 0) return
  const kept = await tx
    .delete(campaignReceipts)
    .where(and(eq(campaignReceipts.merchantId, campaign.merchantId), inArray(campaignReceipts.vendorMessageId, vendorMessageIds)))
    .returning()
  if (kept.length === 0) return
  kept.sort((a, b) => a.at.getTime() - b.at.getTime() || a.id - b.id)
  const events = kept.map((r): CampaignEventInput => ({ kind: 'status', deliveryId: null, vendorMessageId: r.vendorMessageId, status: r.status, ...(r.vendorCode ? { code: r.vendorCode } : {}), at: r.at.toISOString() }))
  await applyCampaignEvents(tx, campaign.merchantId, campaign.channel as Channel, events, at)
}

/** Suppresses an address on a channel; an opt-out also withdraws the consent of the members holding it. */
export async function suppress(tx: Tx, merchantId: string, channel: Channel, address: string, reason: string, at: Date, withdrawConsent: boolean): Promise<number> {
  await tx.insert(suppressions).values({ merchantId, channel, address, reason, createdAt: at }).onConflictDoNothing()
  if (!withdrawConsent) return 0
  const holders = await tx
    .select({ id: members.id })
    .from(members)
    .where(and(eq(members.merchantId, merchantId), eq(channel === 'sms' ? members.phone : channel === 'email' ? members.email : members.wechatOpenId, address)))
  for (const h of holders) await recordConsents(tx, systemActor(merchantId, 'vendor opt-out'), h.id, [{ channel, granted: false, source: 'vendor_opt_out', evidence: reason }])
  return holders.length
}

/** A receipt or an opt-out from a vendor. */
export type CampaignEventInput =
  | { kind: 'status'; deliveryId: string | null; vendorMessageId: string | null; status: 'sent' | 'delivered' | 'failed'; code?: string; at: string }
  | { kind: 'opt_out' | 'opt_in'; address: string; keyword?: string; at: string }

/** Applies receipts and opt-outs. A receipt moves a delivery forward only (a late 'sent' never undoes 'delivered'). */
export async function applyCampaignEvents(tx: Tx, merchantId: string, channel: Channel, events: CampaignEventInput[], at: Date): Promise<{ updated: number; optOuts: number }> {
  let updated = 0
  let optOuts = 0
  await lockMessages(tx, events.flatMap((e) => (e.kind === 'status' && !e.deliveryId && e.vendorMessageId ? [e.vendorMessageId] : [])))
  for (const e of events) {
    if (e.kind === 'status') {
      const target = e.status === 'delivered' ? 'delivered' : e.status === 'failed' ? 'failed' : 'accepted'
      const res = await tx.execute(sql`
        update campaign_deliveries set status = ${target}, vendor_code = coalesce(${e.code ?? null}, vendor_code), updated_at = ${at}
         where merchant_id = ${merchantId}
           and ${e.deliveryId ? sql`id = ${e.deliveryId}::uuid` : sql`vendor_message_id = ${e.vendorMessageId}`}
           and status in ${target === 'accepted' ? sql`('claimed', 'unknown')` : sql`('claimed', 'accepted', 'unknown')`}`)
      updated += res.rowCount ?? 0
      // Named by the vendor's message id alone, which no delivery carries yet: kept until the send's answer is recorded.
      if (!res.rowCount && !e.deliveryId && e.vendorMessageId) {
        const [known] = await tx
          .select({ id: campaignDeliveries.id })
          .from(campaignDeliveries)
          .where(and(eq(campaignDeliveries.merchantId, merchantId), eq(campaignDeliveries.vendorMessageId, e.vendorMessageId)))
          .limit(1)
        const time = new Date(e.at)
        if (!known) await tx.insert(campaignReceipts).values({ merchantId, vendorMessageId: e.vendorMessageId, status: e.status, vendorCode: e.code ?? null, at: Number.isNaN(time.getTime()) ? at : time, receivedAt: at })
      }
    } else if (e.kind === 'opt_out') {
      optOuts += await suppress(tx, merchantId, channel, e.address, `reply:${e.keyword ?? 'STOP'}`, at, true)
    } else {
      await tx.delete(suppressions).where(and(eq(suppressions.merchantId, merchantId), eq(suppressions.channel, channel), eq(suppressions.address, e.address)))
      const holders = await tx.select({ id: members.id }).from(members).where(and(eq(members.merchantId, merchantId), eq(channel === 'sms' ? members.phone : channel === 'email' ? members.email : members.wechatOpenId, e.address)))
      for (const h of holders) await recordConsents(tx, systemActor(merchantId, 'vendor opt-in'), h.id, [{ channel, granted: true, source: 'vendor_opt_in', evidence: e.keyword }])
    }
  }
  return { updated, optOuts }
}

// ---------------------------------------------------------------------------------------------------------------
// Results

export interface CampaignResults {
  counts: Record<DeliveryStatus, number>
  couponsIssued: number
  couponsRedeemed: number
  /** Sales of recipients within the attribution window after their message. */
  attributedSales: number
  /** What those sales took (with the cash rounding), less what their refunds gave back. */
  attributedRevenue: number
}

export async function campaignResults(tx: Tx, campaign: Campaign): Promise<CampaignResults> {
  const counts = Object.fromEntries(['pending', 'claimed', 'accepted', 'delivered', 'failed', 'unknown', 'suppressed', 'skipped'].map((k) => [k, 0])) as Record<DeliveryStatus, number>
  const byStatus = await tx.execute<{ status: DeliveryStatus; n: number }>(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${campaign.id} group by 1`)
  for (const r of byStatus.rows) counts[r.status] = r.n
  const coupons = await tx.execute<{ issued: number; redeemed: number }>(sql`
    select count(c.id)::int as issued, count(c.id) filter (where c.status = 'redeemed')::int as redeemed
      from campaign_deliveries d join coupons c on c.id = d.coupon_id and c.status <> 'void' where d.campaign_id = ${campaign.id}`)
  const sales = await tx.execute<{ n: number; revenue: string }>(sql`
    select count(distinct s.id)::int as n,
           coalesce(sum(s.total + s.rounding_adjustment + s.tender_difference - (select coalesce(sum(r.total), 0) from refunds r where r.sale_id = s.id and r.kind = 'refund')), 0)::text as revenue
      from sales s
     where s.merchant_id = ${campaign.merchantId} and s.status = 'completed'
       -- The recipient's purchases, also once merged into another member (the same person registered twice).
       and exists (select 1 from campaign_deliveries d join members dm on dm.id = d.member_id
                    where d.campaign_id = ${campaign.id} and s.member_id in (d.member_id, dm.merged_into)
                     and d.status in ('accepted', 'delivered') and s.occurred_at >= d.sent_at
                     and s.occurred_at < d.sent_at + make_interval(days => ${campaign.attributionDays}))`)
  return { counts, couponsIssued: coupons.rows[0]!.issued, couponsRedeemed: coupons.rows[0]!.redeemed, attributedSales: sales.rows[0]!.n, attributedRevenue: Number(sales.rows[0]!.revenue) }
}

export async function setCampaignStatus(tx: Tx, campaign: Campaign, status: Campaign['status'], runKey: string | null, at: Date): Promise<void> {
  await tx.update(campaigns).set({ status, lastRunKey: runKey ?? campaign.lastRunKey, updatedAt: at }).where(eq(campaigns.id, campaign.id))
}

export async function deliveriesToSettle(tx: Tx, campaign: Campaign, limit: number) {
  return tx
    .select()
    .from(campaignDeliveries)
    .where(and(eq(campaignDeliveries.campaignId, campaign.id), inArray(campaignDeliveries.status, ['unknown', 'claimed'])))
    .limit(limit)
}

export const SEND_TASK = 'campaigns.send'

/** Queues (or brings forward: one job per run) the job that sends a run of a campaign. */
export const queueSend = (tx: Tx, ref: { merchantId: string; campaignId: string; runKey: string }, runAt?: Date) =>
  enqueue(tx, SEND_TASK, ref, { jobKey: `${SEND_TASK}:${ref.campaignId}:${ref.runKey}`, queueName: `campaign:${ref.campaignId}`, runAt, maxAttempts: 25 })

/**
 * Recipients of a cancelled campaign (of one run, or of all) still waiting to be sent — also ones resting after the
 * vendor throttled them, whose coupon was issued then — end 'skipped' (campaign_cancelled), and those coupons are
 * void: a coupon whose message is never sent is voided, as POST /campaigns promises.
 */
export async function skipUnsent(tx: Tx, campaignId: string, runKey: string | null, at: Date): Promise<number> {
  const { rows } = await tx.execute<{ id: string }>(sql`
    update campaign_deliveries set status = 'skipped', reason = 'campaign_cancelled', updated_at = ${at}
     where campaign_id = ${campaignId} and status = 'pending' ${runKey === null ? sql`` : sql`and run_key = ${runKey}`}
    returning id`)
  await voidUnsentCoupons(tx, rows.map((r) => r.id), at)
  return rows.length
}

/**
 * Cancels a campaign: nothing more is claimed or sent, and the recipients not sent yet end not sent with their
 * coupons void (skipUnsent), in the cancel's transaction. A run sending now is queued to end at once: a batch in
 * flight comes back to it, and a vendor that holds accepted recipients until the run ends (Mailchimp) is told to drop
 * them. A one-off campaign already sent stays on record as sent (409 campaign_sent); a daily one is cancelled for its
 * next runs. Returns the campaign as it was.
 */
export async function cancelCampaign(tx: Tx, merchantId: string, id: string, at: Date): Promise<Campaign> {
  const row = await getCampaign(tx, merchantId, id, { forUpdate: true })
  if (row.status === 'sent') throw conflict('campaign_sent', 'the campaign was sent: there is nothing left to cancel')
  await setCampaignStatus(tx, row, 'cancelled', null, at)
  await skipUnsent(tx, row.id, null, at)
  if (row.status === 'sending' && row.lastRunKey) await queueSend(tx, { merchantId, campaignId: row.id, runKey: row.lastRunKey })
  return row
}

export function assertSendable(c: Campaign) {
  if (c.status === 'cancelled') throw conflict('campaign_cancelled', 'the campaign was cancelled')
}
