// Member campaigns: segments (rules, preview count and sample), campaigns (segment + channel connection + message +
// coupon + schedule + quiet hours + rate), sending a run, its deliveries and its results. Needs campaigns.manage,
// reading also members.read.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import { and, desc, eq, lt } from 'drizzle-orm'
import { campaignTraitsOf, type CampaignCapabilities } from '../../connectors/framework/campaign.ts'
import { getConnectionRow } from '../../connectors/framework/connections.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { campaignDeliveries } from '../../core/campaigns/schema.ts'
import { parseSegmentRule } from '../../core/campaigns/rules.ts'
import { assertRuleReferences, campaignResults, cancelCampaign, createCampaign, createSegment, getCampaign, getSegment, listCampaigns, listSegments, previewSegment, type Campaign } from '../../core/campaigns/service.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import { startCampaignSend } from '../../jobs/campaigns.ts'
import { keysetPage } from '../../db/page.ts'
import { invalid } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody, PageQuery } from '../route.ts'

const tags = ['Campaigns']
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a local time HH:MM')
const RuleSchema = z.unknown().openapi({ description: 'A segment rule: { all | any: [rules] }, { not: rule }, { tier: [ids or codes] }, { tags: [..], match }, { store: [ids] }, { birthdayMonth: "current" | 1–12 }, { lastPurchase: { before, after (days), never } }, { spend | frequency: { days, min, max } }, { rfm: { r, f, m: [lo, hi] } }, { points: { min, max } }, { hasCoupon: true | false | { templateId } }' })

const SegmentSchema = z.object({ id: uuid(), name: z.string(), rule: z.unknown(), createdAt: z.string() }).openapi('Segment')
const PreviewSchema = z.object({ count: z.number().int(), sample: z.array(z.object({ id: uuid(), name: z.string().nullable(), phone: z.string(), cardNo: z.string() })) })
const ResultsSchema = z.object({
  counts: z.record(z.string(), z.number().int()),
  couponsIssued: z.number().int(),
  couponsRedeemed: z.number().int(),
  attributedSales: z.number().int(),
  attributedRevenue: z.number().int().openapi({ description: 'Minor units: sales of recipients within attributionDays after their message, less what their refunds gave back' }),
})
const CampaignSchema = z
  .object({
    id: uuid(),
    name: z.string(),
    segmentId: uuid(),
    connectionId: uuid(),
    channel: z.enum(['sms', 'email', 'wechat']),
    message: z.record(z.string(), z.string()),
    couponTemplateId: uuid().nullable(),
    schedule: z.enum(['now', 'at', 'daily']),
    sendAt: z.string().nullable(),
    dailyAt: z.string().nullable(),
    quietStart: z.string(),
    quietEnd: z.string(),
    ratePerSecond: z.number().int(),
    attributionDays: z.number().int(),
    status: z.enum(['draft', 'scheduled', 'sending', 'sent', 'cancelled']),
    lastRunKey: z.string().nullable(),
    createdAt: z.string(),
    results: ResultsSchema.optional(),
  })
  .openapi('Campaign')

const campaignOut = (c: Campaign): z.infer<typeof CampaignSchema> => ({
  id: c.id,
  name: c.name,
  segmentId: c.segmentId,
  connectionId: c.connectionId,
  channel: c.channel,
  message: c.message,
  couponTemplateId: c.couponTemplateId,
  schedule: c.schedule,
  sendAt: c.sendAt?.toISOString() ?? null,
  dailyAt: c.dailyAt,
  quietStart: c.quietStart,
  quietEnd: c.quietEnd,
  ratePerSecond: c.ratePerSecond,
  attributionDays: c.attributionDays,
  status: c.status,
  lastRunKey: c.lastRunKey,
  createdAt: c.createdAt.toISOString(),
})

const createSegmentRoute = defineRoute({
  method: 'post',
  path: '/api/v1/segments',
  tags,
  summary: 'Save a segment',
  access: 'campaigns.manage',
  request: { body: jsonBody(z.object({ name: z.string().min(1).max(100), rule: RuleSchema })) },
  responses: { 201: json(SegmentSchema.extend({ preview: PreviewSchema }), 'Saved') },
})
const listSegmentsRoute = defineRoute({ method: 'get', path: '/api/v1/segments', tags, summary: 'Saved segments', access: 'members.read', responses: { 200: json(z.object({ items: z.array(SegmentSchema) })) } })
const previewRoute = defineRoute({
  method: 'post',
  path: '/api/v1/segments/preview',
  tags,
  summary: 'Count a rule’s members now, with a sample',
  access: 'members.read',
  request: { body: jsonBody(z.object({ rule: RuleSchema, sample: z.number().int().min(0).max(100).default(20) })) },
  responses: { 200: json(PreviewSchema) },
})
const createCampaignRoute = defineRoute({
  method: 'post',
  path: '/api/v1/campaigns',
  tags,
  summary: 'Create a campaign',
  description:
    'message: for SMS templates `templateCode` and `signName` (Aliyun) or `body` with {name}, {coupon}, {points}, {tier}, {cardNo} (Twilio); for email `subject` and `body`; for WeChat `templateCode` (template id) and `page`. quietStart/quietEnd are local times of the merchant (default 21:00–09:00): a send inside waits for the end. couponTemplateId names one of the merchant\'s coupon templates (404 `coupon_template_not_found` otherwise): each recipient is issued one as their message is sent; a coupon issued for a message that is then never sent (consent withdrawn, the member merged into another meanwhile) is voided.',
  access: 'campaigns.manage',
  request: {
    body: jsonBody(
      z.object({
        name: z.string().min(1).max(100),
        segmentId: uuid(),
        connectionId: uuid(),
        message: z.record(z.string(), z.string().max(2000)),
        couponTemplateId: uuid().nullable().optional(),
        schedule: z.enum(['now', 'at', 'daily']).default('now'),
        sendAt: z.iso.datetime({ offset: true }).optional(),
        dailyAt: HHMM.optional(),
        quietStart: HHMM.optional(),
        quietEnd: HHMM.optional(),
        ratePerSecond: z.number().int().min(1).max(10_000).optional(),
        attributionDays: z.number().int().min(1).max(90).optional(),
      }),
    ),
  },
  responses: { 201: json(CampaignSchema, 'Created') },
})
const listCampaignsRoute = defineRoute({ method: 'get', path: '/api/v1/campaigns', tags, summary: 'Campaigns, newest first', access: 'members.read', request: { query: PageQuery }, responses: { 200: json(z.object({ items: z.array(CampaignSchema), nextCursor: z.string().nullable() })) } })
const getCampaignRoute = defineRoute({ method: 'get', path: '/api/v1/campaigns/{id}', tags, summary: 'A campaign with its results', access: 'members.read', request: { params: IdParam }, responses: { 200: json(CampaignSchema) } })
const sendRoute = defineRoute({
  method: 'post',
  path: '/api/v1/campaigns/{id}/send',
  tags,
  summary: 'Send the campaign now (queued), or count it (dryRun)',
  description: 'Each member of the segment gets one delivery per run, also when sending again or after a crash; quiet hours defer it. dryRun counts the audience the segment selects now, without taking it or sending. A member merged into another while the run sends is skipped (`member_merged`), or, when the run already messaged it, the member it was merged into is (`already_sent_to_merged`): one person, one message.',
  access: 'campaigns.manage',
  request: { params: IdParam, body: jsonBody(z.object({ dryRun: z.boolean().default(false) })) },
  responses: { 202: json(z.object({ runKey: z.string(), queued: z.boolean(), audience: z.number().int().nullable() }), 'Queued') },
})
const cancelRoute = defineRoute({ method: 'post', path: '/api/v1/campaigns/{id}/cancel', tags, summary: 'Cancel the campaign (nothing more is sent)', description: 'A one-off campaign already sent is 409 `campaign_sent`.', access: 'campaigns.manage', request: { params: IdParam }, responses: { 200: json(CampaignSchema) } })
const deliveriesRoute = defineRoute({
  method: 'get',
  path: '/api/v1/campaigns/{id}/deliveries',
  tags,
  summary: 'Per-recipient results',
  access: 'members.read',
  request: { params: IdParam, query: PageQuery.extend({ status: z.enum(['pending', 'claimed', 'accepted', 'delivered', 'failed', 'unknown', 'suppressed', 'skipped']).optional() }) },
  responses: {
    200: json(
      z.object({
        items: z.array(z.object({ id: uuid(), memberId: uuid(), runKey: z.string(), address: z.string().nullable(), status: z.string(), reason: z.string().nullable(), vendorCode: z.string().nullable(), vendorMessageId: z.string().nullable(), sentAt: z.string().nullable() })),
        nextCursor: z.string().nullable(),
      }),
    ),
  },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(createSegmentRoute, async (c) => {
    const b = c.req.valid('json')
    const s = await createSegment(c.var.db, c.var.principal.merchantId, b, c.var.hub.clock())
    const preview = await previewSegment(c.var.db, c.var.principal.merchantId, s.rule, c.var.hub.clock())
    return c.json({ id: s.id, name: s.name, rule: s.rule, createdAt: s.createdAt.toISOString(), preview }, 201)
  })
  app.openapi(listSegmentsRoute, async (c) => c.json({ items: (await listSegments(c.var.db, c.var.principal.merchantId)).map((s) => ({ id: s.id, name: s.name, rule: s.rule, createdAt: s.createdAt.toISOString() })) }, 200))
  app.openapi(previewRoute, async (c) => {
    const b = c.req.valid('json')
    const rule = parseSegmentRule(b.rule)
    await assertRuleReferences(c.var.db, c.var.principal.merchantId, rule)
    return c.json(await previewSegment(c.var.db, c.var.principal.merchantId, rule, c.var.hub.clock(), b.sample), 200)
  })
  app.openapi(createCampaignRoute, async (c) => {
    const b = c.req.valid('json')
    const merchantId = c.var.principal.merchantId
    const conn = await getConnectionRow(c.var.db, merchantId, b.connectionId)
    const connector = connectorRegistry.get(conn.connectorId)
    if (connector?.family !== 'campaign') throw invalid('not_a_campaign_connection', `connection ${conn.name} cannot send campaigns`)
    const caps = connector.capabilities as CampaignCapabilities<any>
    const channel = campaignTraitsOf(caps, conn.config as never).channel
    await getSegment(c.var.db, merchantId, b.segmentId)
    const row = await createCampaign(c.var.db, merchantId, { ...b, channel, sendAt: b.sendAt ? new Date(b.sendAt) : null, dailyAt: b.dailyAt ?? null }, c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: 'campaign.created', entityType: 'campaign', entityId: row.id, details: { name: row.name, channel } })
    return c.json(campaignOut(row), 201)
  })
  app.openapi(listCampaignsRoute, async (c) => {
    const q = c.req.valid('query')
    const page = await listCampaigns(c.var.db, c.var.principal.merchantId, { before: q.cursor, limit: q.limit })
    return c.json({ items: page.items.map(campaignOut), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(getCampaignRoute, async (c) => {
    const row = await getCampaign(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    return c.json({ ...campaignOut(row), results: await campaignResults(c.var.db, row) }, 200)
  })
  app.openapi(sendRoute, async (c) => {
    const { id } = c.req.valid('param')
    const { dryRun } = c.req.valid('json')
    const merchantId = c.var.principal.merchantId
    const { campaign, runKey } = await startCampaignSend(c.var.db, c.var.principal, id, c.var.hub.clock(), { dryRun })
    if (dryRun) {
      const seg = await getSegment(c.var.db, merchantId, campaign.segmentId)
      return c.json({ runKey, queued: false, audience: (await previewSegment(c.var.db, merchantId, seg.rule, c.var.hub.clock(), 0)).count }, 202)
    }
    return c.json({ runKey, queued: true, audience: null }, 202)
  })
  app.openapi(cancelRoute, async (c) => {
    const row = await cancelCampaign(c.var.db, c.var.principal.merchantId, c.req.valid('param').id, c.var.hub.clock())
    return c.json(campaignOut({ ...row, status: 'cancelled' }), 200)
  })
  app.openapi(deliveriesRoute, async (c) => {
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    await getCampaign(c.var.db, c.var.principal.merchantId, id)
    const rows = await c.var.db
      .select()
      .from(campaignDeliveries)
      .where(and(eq(campaignDeliveries.campaignId, id), q.status ? eq(campaignDeliveries.status, q.status) : undefined, q.cursor ? lt(campaignDeliveries.id, q.cursor) : undefined))
      .orderBy(desc(campaignDeliveries.id))
      .limit(q.limit + 1)
    const page = keysetPage(rows, q.limit, (d) => d.id)
    return c.json(
      {
        items: page.items.map((d) => ({ id: d.id, memberId: d.memberId, runKey: d.runKey, address: d.address, status: d.status, reason: d.reason, vendorCode: d.vendorCode, vendorMessageId: d.vendorMessageId, sentAt: d.sentAt?.toISOString() ?? null })),
        nextCursor: page.nextCursor,
      },
      200,
    )
  })
}
