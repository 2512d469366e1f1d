import { describe, expect, it } from 'vitest'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { mailchimpSandbox, type WebhookDelivery } from '../../src/sandboxes/vendors/mailchimp.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { InboundRequest } from '../../src/connectors/framework/define.ts'
import type { CampaignRecipient } from '../../src/connectors/framework/campaign.ts'
import { mailchimp } from '../../src/connectors/campaign/mailchimp/index.ts'

const API_KEY = '3f9a6c1e8b2d4a7f90c5e1d2b3a4f5e6-us21'
const WEBHOOK_TOKEN = 'mc-hook-7Qx2LmP9vR4sT8wZ'
const LIST_ID = 'b7c3e91f2a'
const caps = mailchimp.capabilities
const message = { subject: 'A gift for you, {firstName}', body: 'Dear {firstName},\n\nYour coupon {coupon} is waiting at the counter.' }

const inbound = (d: WebhookDelivery, query: string = d.query, body: string = d.body): InboundRequest => ({ rawBody: Buffer.from(body), headers: d.headers, url: `/webhooks/x?${query}` })

describe('Mailchimp campaign connector', () => {
  const hub = useTestHub()
  const sim = mailchimpSandbox({ apiKey: API_KEY, listId: LIST_ID, webhookToken: WEBHOOK_TOKEN })
  const vendor = useVendorServer(hub, ...sim.handlers)

  const connect = connectWith(hub, vendor, 'mailchimp', { name: 'Mailchimp', config: { apiKey: API_KEY, listId: LIST_ID, webhookToken: WEBHOOK_TOKEN } })

  let n = 0
  /** A recipient with a fresh delivery id. */
  const recipient = (address: string, params: Record<string, string> = {}): CampaignRecipient => ({ deliveryId: `0190a5b2-0000-7000-8000-${String(++n).padStart(12, '0')}`, memberId: `m-${n}`, address, params })
  const callLog = (connectionId: string) => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))

  describe('connection', () => {
    it('checks the key against the audience and refuses a wrong key', async () => {
      const { loaded } = await connect()
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: expect.stringContaining('Tea House members') })
      const wrong = await connect({ apiKey: '00000000000000000000000000000000-us21' })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('refused the API key') })
      const noList = await connect({ listId: 'ffffffffff' })
      expect(await runCheck(hub, noList.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('no audience ffffffffff') })
    })

    it('refuses a key without its data center', async () => {
      await expect(connect({ apiKey: '3f9a6c1e8b2d4a7f90c5e1d2b3a4f5e6' })).rejects.toMatchObject({ code: 'invalid_config' })
    })

    it('declares email traits: 500 members a batch', () => {
      expect(caps.traits).toEqual({ channel: 'email', addressKind: 'email', maxBatch: 500, maxPerSecond: 100 })
    })
  })

  describe('sending', () => {
    it('upserts a batch as subscribed members with their params in merge fields, the delivery id in TBDELIVERY and the campaign tag', async () => {
      const { ctx, connectionId } = await connect()
      const before = sim.state.requests.length
      const recipients = [recipient('li.wei@example.com', { firstName: 'Wei', coupon: 'TEA-8K2P' }), recipient('Zhang.Min@Example.com', { firstName: 'Min', coupon: 'TEA-3J7Q' })]
      const outcomes = await caps.sendBatch(ctx, { campaignKey: 'spring-1', message, recipients })
      expect(outcomes).toEqual([
        { deliveryId: recipients[0]!.deliveryId, status: 'accepted', vendorMessageId: `spring-1:${sim.subscriberHash('li.wei@example.com')}` },
        { deliveryId: recipients[1]!.deliveryId, status: 'accepted', vendorMessageId: `spring-1:${sim.subscriberHash('zhang.min@example.com')}` },
      ])

      const calls = sim.state.requests.slice(before)
      // Basic auth with the key as the password, on the key's data center.
      expect(calls.every((c) => c.auth === 'ok')).toBe(true)
      // The merge fields the list lacked were created first.
      expect(calls.filter((c) => c.path.endsWith('/merge-fields') && c.method === 'POST').map((c) => (c.body as { tag: string }).tag).sort()).toEqual(['COUPON', 'TBDELIVERY'])
      const batch = calls.find((c) => c.path === `/3.0/lists/${LIST_ID}` && c.method === 'POST')!
      expect(batch.query.get('skip_merge_validation')).toBe('true')
      expect(batch.body).toEqual({
        members: [
          { email_address: 'li.wei@example.com', email_type: 'html', status: 'subscribed', status_if_new: 'subscribed', merge_fields: { FNAME: 'Wei', COUPON: 'TEA-8K2P', TBDELIVERY: recipients[0]!.deliveryId }, tags: ['tb-spring-1'] },
          { email_address: 'Zhang.Min@Example.com', email_type: 'html', status: 'subscribed', status_if_new: 'subscribed', merge_fields: { FNAME: 'Min', COUPON: 'TEA-3J7Q', TBDELIVERY: recipients[1]!.deliveryId }, tags: ['tb-spring-1'] },
        ],
        update_existing: true,
        sync_tags: false,
      })
      expect(sim.member('zhang.min@example.com')).toMatchObject({ status: 'subscribed', merge_fields: { FNAME: 'Min', COUPON: 'TEA-3J7Q', TBDELIVERY: recipients[1]!.deliveryId } })
      expect(sim.tagged('tb-spring-1').sort()).toEqual(['Zhang.Min@Example.com', 'li.wei@example.com'])

      // Another batch of the same connection does not look at the merge fields again.
      await caps.sendBatch(ctx, { campaignKey: 'spring-1', message, recipients: [recipient('chen.jie@example.com', { firstName: 'Jie', coupon: 'TEA-9X1A' })] })
      expect(sim.state.requests.slice(before).filter((c) => c.path.endsWith('/merge-fields')).length).toBe(3)

      const log = await callLog(connectionId)
      expect(log.map((r) => r.operation)).toEqual(['listMergeFields', 'createMergeField', 'createMergeField', 'batchSubscribe', 'batchSubscribe'])
      const text = JSON.stringify(log)
      expect(text).not.toContain(API_KEY)
      expect(text).not.toContain(Buffer.from(`tillbridge:${API_KEY}`).toString('base64'))
    })

    it('reports each refused member: an invalid address, a fake one and an unsubscribed one', async () => {
      const { ctx } = await connect()
      sim.markInvalid('test@mailinator.example')
      sim.addMember('gone@example.com', { status: 'unsubscribed' })
      const recipients = [recipient('not-an-email'), recipient('ok.one@example.com', { firstName: 'One' }), recipient('gone@example.com'), recipient('test@mailinator.example')]
      const [invalid, ok, gone, fake] = await caps.sendBatch(ctx, { campaignKey: 'mixed-1', message, recipients })
      expect(invalid).toMatchObject({ deliveryId: recipients[0]!.deliveryId, status: 'failed', code: 'ERROR_GENERIC', invalidAddress: true })
      expect(ok).toMatchObject({ deliveryId: recipients[1]!.deliveryId, status: 'accepted' })
      expect(gone).toMatchObject({ deliveryId: recipients[2]!.deliveryId, status: 'failed', optedOut: true, message: expect.stringContaining('compliance state') })
      expect(gone).not.toHaveProperty('invalidAddress')
      expect(fake).toMatchObject({ status: 'failed', invalidAddress: true })
      // The unsubscribed member stays unsubscribed and untagged.
      expect(sim.member('gone@example.com')!.status).toBe('unsubscribed')
      expect(sim.tagged('tb-mixed-1')).toEqual(['ok.one@example.com'])
    })

    it('finishes with one campaign to the tag, each member’s fields filled in, sent once however often finish runs', async () => {
      const { ctx } = await connect({ fromName: 'Tea House', replyTo: 'hello@teahouse.example' })
      const a = recipient('wang.fang@example.com', { firstName: 'Fang', coupon: 'TEA-AAAA' })
      const b = recipient('zhao.lei@example.com', { firstName: 'Lei', coupon: 'TEA-BBBB' })
      sim.addMember('bystander@example.com', { merge_fields: { FNAME: 'Nobody' } })
      await caps.sendBatch(ctx, { campaignKey: 'autumn-7', message, recipients: [a] })
      await caps.sendBatch(ctx, { campaignKey: 'autumn-7', message, recipients: [b] })

      const { vendorCampaignId } = await caps.finish!(ctx, { campaignKey: 'autumn-7', message, recipients: 2 })
      expect(vendorCampaignId).toMatch(/^[0-9a-f]{10}$/)
      const create = sim.requestsTo('/campaigns', 'POST').at(-1)!
      const tagId = sim.state.lists.get(LIST_ID)!.tags.get('tb-autumn-7')
      expect(create.body).toEqual({
        type: 'regular',
        recipients: { list_id: LIST_ID, segment_opts: { match: 'all', conditions: [{ condition_type: 'StaticSegment', field: 'static_segment', op: 'static_is', value: tagId }] } },
        settings: { subject_line: 'A gift for you, *|FNAME|*', title: 'tb-autumn-7', from_name: 'Tea House', reply_to: 'hello@teahouse.example' },
      })
      const [mail] = sim.sentTo('wang.fang@example.com')
      expect(mail).toMatchObject({ campaignId: vendorCampaignId, subject: 'A gift for you, Fang', from: 'Tea House <hello@teahouse.example>' })
      expect(mail!.html).toContain('<p>Dear Fang,</p>')
      expect(mail!.html).toContain('Your coupon TEA-AAAA is waiting at the counter.')
      expect(mail!.html).toContain('/unsubscribe?')
      expect(sim.sentTo('zhao.lei@example.com')[0]!.html).toContain('TEA-BBBB')
      expect(sim.sentTo('bystander@example.com')).toEqual([])

      // Again (a worker retried the job): the campaign is found by its title, nothing is sent twice.
      const sends = sim.requestsTo(/\/actions\/send$/).length
      expect(await caps.finish!(ctx, { campaignKey: 'autumn-7', message, recipients: 2 })).toEqual({ vendorCampaignId })
      expect(sim.requestsTo(/\/actions\/send$/).length).toBe(sends)
      expect(sim.sentTo('wang.fang@example.com')).toHaveLength(1)
      expect([...sim.state.campaigns.values()].filter((c) => c.settings.title === 'tb-autumn-7')).toHaveLength(1)
    })

    it('takes the audience’s default sender, and sends nothing when no member was accepted', async () => {
      const { ctx } = await connect()
      await caps.sendBatch(ctx, { campaignKey: 'defaults-1', message, recipients: [recipient('sun.li@example.com', { firstName: 'Li' })] })
      const { vendorCampaignId } = await caps.finish!(ctx, { campaignKey: 'defaults-1', message, recipients: 1 })
      expect(sim.state.campaigns.get(vendorCampaignId!)!.settings).toMatchObject({ from_name: 'Tea House', reply_to: 'news@teahouse.example' })
      expect(sim.sentTo('sun.li@example.com')).toHaveLength(1)

      const campaigns = sim.state.campaigns.size
      expect(await caps.finish!(ctx, { campaignKey: 'nobody-1', message, recipients: 0 })).toEqual({ vendorCampaignId: null })
      expect(sim.state.campaigns.size).toBe(campaigns)
    })

    it('settles deliveries from the email activity report: bounce → failed, open → delivered, nothing yet → sent', async () => {
      const { ctx } = await connect()
      const [opened, bounced, quiet] = [recipient('opened@example.com'), recipient('bounced@example.com'), recipient('quiet@example.com')]
      const outcomes = await caps.sendBatch(ctx, { campaignKey: 'report-1', message, recipients: [opened, bounced, quiet] })
      const { vendorCampaignId } = await caps.finish!(ctx, { campaignKey: 'report-1', message, recipients: 3 })
      sim.addActivity(vendorCampaignId!, 'opened@example.com', 'open', undefined, new Date('2026-05-01T09:30:00Z'))
      sim.addActivity(vendorCampaignId!, 'bounced@example.com', 'bounce', 'hard', new Date('2026-05-01T09:01:00Z'))
      const vendorIds = outcomes.map((o) => (o.status === 'accepted' ? o.vendorMessageId : null))
      const deliveries = [opened, bounced, quiet].map((r, i) => ({ deliveryId: r.deliveryId, vendorMessageId: vendorIds[i]!, address: r.address, sentAt: '2026-05-01T09:00:00.000Z' }))
      const events = await caps.queryStatus!(ctx, { deliveries })
      expect(events).toEqual([
        { kind: 'status', deliveryId: opened.deliveryId, vendorMessageId: vendorIds[0], status: 'delivered', at: '2026-05-01T09:30:00.000Z' },
        { kind: 'status', deliveryId: bounced.deliveryId, vendorMessageId: vendorIds[1], status: 'failed', code: 'bounce:hard', at: '2026-05-01T09:01:00.000Z' },
        { kind: 'status', deliveryId: quiet.deliveryId, vendorMessageId: vendorIds[2], status: 'sent', at: expect.any(String) },
      ])
      // A campaign not sent yet says nothing.
      const pending = recipient('later@example.com')
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'report-2', message, recipients: [pending] })
      expect(await caps.queryStatus!(ctx, { deliveries: [{ deliveryId: pending.deliveryId, vendorMessageId: (o as { vendorMessageId: string }).vendorMessageId, address: pending.address, sentAt: '2026-05-01T09:00:00.000Z' }] })).toEqual([])
    })
  })

  describe('limits and failures', () => {
    it('keeps at most 10 calls in flight, Mailchimp’s limit of simultaneous connections', async () => {
      const { ctx } = await connect()
      await caps.sendBatch(ctx, { campaignKey: 'warm-up', message, recipients: [recipient('warm@example.com')] })
      sim.state.latencyMs = 25
      sim.state.maxInFlight = 0
      const before = sim.state.requests.length
      try {
        const all = await Promise.all(Array.from({ length: 30 }, (_, i) => caps.sendBatch(ctx, { campaignKey: 'burst-1', message, recipients: [recipient(`burst${i}@example.com`)] })))
        expect(all.flat().every((o) => o.status === 'accepted')).toBe(true)
      } finally {
        sim.state.latencyMs = 0
      }
      expect(sim.state.maxInFlight).toBe(10)
      expect(sim.state.requests.slice(before).every((r) => r.status === 200)).toBe(true)
    })

    it('waits out a 429 and a bare 403, and reports throttling that lasts as rate_limited', async () => {
      const { ctx, connectionId } = await connect()
      await caps.sendBatch(ctx, { campaignKey: 'warm-up', message, recipients: [recipient('warm@example.com')] })
      sim.state.rateLimitNext = 1
      sim.state.bareForbiddenNext = 1
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'throttled-1', message, recipients: [recipient('patient@example.com')] })
      expect(o).toMatchObject({ status: 'accepted' })
      expect((await callLog(connectionId)).slice(-3).map((r) => [r.statusCode, r.outcome])).toEqual([
        [429, 'rate_limited'],
        [403, 'rate_limited'],
        [200, 'ok'],
      ])

      sim.state.bareForbiddenNext = 10
      try {
        const e = await rejection(caps.sendBatch(ctx, { campaignKey: 'throttled-1', message, recipients: [recipient('impatient@example.com')] }), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', status: 403 })
        expect(e.transient).toBe(true)
      } finally {
        sim.state.bareForbiddenNext = 0
      }
    })

    it('retries an outage (the upsert is safe to repeat) and then reports it as retryable', async () => {
      const { ctx } = await connect()
      await caps.sendBatch(ctx, { campaignKey: 'warm-up', message, recipients: [recipient('warm@example.com')] })
      const before = sim.state.requests.length
      sim.state.down = true
      try {
        const e = await rejection(caps.sendBatch(ctx, { campaignKey: 'down-1', message, recipients: [recipient('waiting@example.com')] }), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 503 })
      } finally {
        sim.state.down = false
      }
      expect(sim.state.requests.slice(before).map((r) => r.status)).toEqual([503, 503, 503, 503])
      expect(sim.member('waiting@example.com')).toBeUndefined()
      expect(hub.logs.text).not.toContain(API_KEY)
    })
  })

  describe('webhooks', () => {
    const config = { apiKey: API_KEY, listId: LIST_ID, webhookToken: WEBHOOK_TOKEN }
    const webhook = mailchimp.webhook!
    const now = new Date()

    it('accepts a delivery carrying the webhook token in its URL, and nothing else', () => {
      const d = sim.webhookDelivery('unsubscribe', { email: 'x@example.com', list_id: LIST_ID, reason: 'manual' })
      expect(webhook.verify(inbound(d), config, now)).toBe(true)
      expect(webhook.verify(inbound(d, 'token=mc-hook-7Qx2LmP9vR4sT8wX'), config, now)).toBe(false)
      expect(webhook.verify(inbound(d, ''), config, now)).toBe(false)
      expect(webhook.verify(inbound(d), { ...config, webhookToken: undefined }, now)).toBe(false)
    })

    it('names an event by its type, address and time, the same on every redelivery', () => {
      const firedAt = new Date('2026-04-02T08:15:30Z')
      const d = sim.webhookDelivery('unsubscribe', { email: 'Ann@Example.com', list_id: LIST_ID, reason: 'manual' }, { firedAt })
      const parsed = webhook.parse(inbound(d))
      expect(parsed).toMatchObject({ topic: 'unsubscribe', occurredAt: firedAt })
      expect(webhook.parse(inbound(sim.webhookDelivery('unsubscribe', { email: 'ann@example.com', list_id: LIST_ID, reason: 'manual' }, { firedAt }))).eventId).toBe(parsed.eventId)
      expect(webhook.parse(inbound(sim.webhookDelivery('cleaned', { email: 'ann@example.com', list_id: LIST_ID, reason: 'hard' }, { firedAt }))).eventId).not.toBe(parsed.eventId)
    })

    it('reads an unsubscribe and a cleaned address as opt-outs, and ignores profile changes and other audiences', () => {
      const at = new Date('2026-04-02T08:15:30Z')
      const interpret = (d: WebhookDelivery) => caps.interpretWebhook!(webhook.parse(inbound(d)), config)
      expect(interpret(sim.unsubscribe('leaver@example.com', { firedAt: at }))).toEqual([{ kind: 'opt_out', address: 'leaver@example.com', keyword: 'unsubscribe', at: at.toISOString() }])
      expect(interpret(sim.unsubscribe('angry@example.com', { reason: 'abuse', firedAt: at }))).toEqual([{ kind: 'opt_out', address: 'angry@example.com', keyword: 'abuse', at: at.toISOString() }])
      expect(interpret(sim.clean('bounced@example.com', { firedAt: at }))).toEqual([{ kind: 'opt_out', address: 'bounced@example.com', keyword: 'cleaned', at: at.toISOString() }])
      expect(interpret(sim.webhookDelivery('subscribe', { email: 'back@example.com', list_id: LIST_ID }, { firedAt: at }))).toEqual([{ kind: 'opt_in', address: 'back@example.com', at: at.toISOString() }])
      expect(interpret(sim.webhookDelivery('profile', { email: 'leaver@example.com', list_id: LIST_ID }))).toEqual([])
      expect(interpret(sim.webhookDelivery('unsubscribe', { email: 'other@example.com', list_id: '0000000000', reason: 'manual' }))).toEqual([])
    })

    it('is received by the hub once per event, and a delivery without the token is refused', async () => {
      const { connectionId } = await connect()
      const api = createApi(hub)
      const d = sim.unsubscribe('hub.leaver@example.com')
      const post = (query: string) => api.request('POST', `/webhooks/${connectionId}?${query}`, undefined, { raw: d.body, headers: d.headers })
      expect((await post(d.query)).status).toBe(200)
      expect((await post(d.query)).status).toBe(200)
      expect((await post('token=guessed-token-000000')).status).toBe(401)
      const rows = (await hub.database.db.execute<{ topic: string; deliveries: number }>(sql`select topic, deliveries from inbound_webhooks where connection_id = ${connectionId}`)).rows
      expect(rows).toEqual([{ topic: 'unsubscribe', deliveries: 2 }])
      expect(hub.logs.text).not.toContain(WEBHOOK_TOKEN)
    })
  })
})
