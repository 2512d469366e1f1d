import { describe, expect, it } from 'vitest'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { twilioSandbox, type TwilioWebhookDelivery } from '../../src/sandboxes/vendors/twilio.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { campaignTraitsOf, type CampaignRecipient, type SendOutcome } from '../../src/connectors/framework/campaign.ts'
import type { InboundRequest } from '../../src/connectors/framework/define.ts'
import { twilio } from '../../src/connectors/campaign/twilio/index.ts'
import type { TwilioConfig } from '../../src/connectors/campaign/twilio/config.ts'

const ACCOUNT_SID = 'AC7d3f0c9a1b2e4f5a6b7c8d9e0f1a2b3c'
const AUTH_TOKEN = '5e8c1f7a2b9d4c6e0a3f8b1d7c2e9a4f'
const FROM = '+14155550142'
const SERVICE = 'MG0a1b2c3d4e5f60718293a4b5c6d7e8f9'
const HUB = 'https://hub.example.com'
const BODY = 'Hi {name}, your coupon {coupon} is waiting at the store. Reply STOP to opt out.'
const caps = twilio.capabilities
const webhook = twilio.webhook!

const inbound = (d: TwilioWebhookDelivery, body: string = d.body, headers: Record<string, string> = d.headers, url = d.path): InboundRequest => ({ rawBody: Buffer.from(body), headers, url })

describe('Twilio Messaging campaign connector', () => {
  const hub = useTestHub()
  const sim = twilioSandbox({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, senders: [FROM], messagingServiceSids: [SERVICE], friendlyName: 'Tea House' })
  const vendor = useVendorServer(hub, ...sim.handlers)

  const connectTwilio = connectWith(hub, vendor, 'twilio', { name: 'Twilio', config: { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, from: FROM, webhookBaseUrl: `${HUB}/` } })
  async function connect(config: Record<string, unknown> = {}) {
    const c = await connectTwilio(config)
    return { ...c, config: c.loaded.config as TwilioConfig }
  }

  let deliverySeq = 0
  const recipient = (address: string, name = 'Ann', coupon = `TEA-${deliverySeq + 1}`): CampaignRecipient => ({ deliveryId: `d-${++deliverySeq}`, memberId: `m-${deliverySeq}`, address, params: { name, coupon } })
  const send = (ctx: Awaited<ReturnType<typeof connect>>['ctx'], recipients: CampaignRecipient[], body = BODY) => caps.sendBatch(ctx, { campaignKey: 'spring:once', message: { body }, recipients })
  const sidOf = (o: SendOutcome | undefined) => (o?.status === 'accepted' ? o.vendorMessageId! : '')

  describe('connection', () => {
    it('declares one SMS per call at the configured throughput, and needs a From or a Messaging Service', async () => {
      expect(campaignTraitsOf(caps, (await connect()).config)).toEqual({ channel: 'sms', addressKind: 'phone', maxBatch: 1, maxPerSecond: 10 })
      expect(campaignTraitsOf(caps, (await connect({ maxPerSecond: 30 })).config).maxPerSecond).toBe(30)
      await expect(connect({ from: undefined })).rejects.toMatchObject({ code: 'invalid_config' })
    })

    it('checks the account, and refuses a wrong Auth Token as auth_failed (20003)', async () => {
      expect(await runCheck(hub, (await connect()).loaded)).toMatchObject({ ok: true, message: 'Connected to the Twilio account Tea House' })
      const wrong = await connect({ authToken: 'f'.repeat(32) })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('refused') })
      expect(await rejection(send(wrong.ctx, [recipient('+14155550100')]), ConnectorError)).toMatchObject({ kind: 'auth_failed', status: 401, vendorCode: '20003' })
    })
  })

  describe('sending', () => {
    it('sends one form-encoded message per recipient with basic auth, the body filled in and the delivery id in the StatusCallback', async () => {
      const { ctx, connectionId } = await connect()
      const r = recipient('+14155550101', 'Ann', 'TEA-0101')
      const [outcome] = await send(ctx, [r])
      const message = sim.sentTo('+14155550101').at(-1)!
      expect(outcome).toEqual({ deliveryId: r.deliveryId, status: 'accepted', vendorMessageId: message.sid })
      expect(message.sid).toMatch(/^SM[0-9a-f]{32}$/)
      expect(sim.sends().at(-1)).toMatchObject({
        path: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`,
        status: 201,
        form: {
          To: '+14155550101',
          From: FROM,
          Body: 'Hi Ann, your coupon TEA-0101 is waiting at the store. Reply STOP to opt out.',
          StatusCallback: `${HUB}/webhooks/${connectionId}?d=${r.deliveryId}`,
        },
      })
      expect(message.status).toBe('queued')
    })

    it('sends through a Messaging Service and to a configured status callback URL when given', async () => {
      const { ctx } = await connect({ from: undefined, messagingServiceSid: SERVICE, statusCallbackUrl: `${HUB}/twilio/status?src=tb` })
      const r = recipient('+14155550102')
      await send(ctx, [r])
      const form = sim.sends().at(-1)!.form
      expect(form).toMatchObject({ MessagingServiceSid: SERVICE, StatusCallback: `${HUB}/twilio/status?src=tb&d=${r.deliveryId}` })
      expect(form.From).toBeUndefined()
      expect(sim.sentTo(r.address).at(-1)!.status).toBe('accepted')
    })

    it('sends the recipients of a larger batch side by side, at most maxPerSecond at once', async () => {
      sim.state.latencyMs = 150
      try {
        for (const [maxPerSecond, expected] of [
          [5, 5],
          [2, 2],
        ] as const) {
          const { ctx } = await connect({ maxPerSecond })
          sim.state.maxInFlight = 0
          const rs = Array.from({ length: 5 }, (_, i) => recipient(`+1415555${maxPerSecond}20${i}`))
          const outcomes = await send(ctx, rs)
          expect(sim.state.maxInFlight).toBe(expected)
          expect(outcomes.every((o) => o.status === 'accepted')).toBe(true)
          for (const r of rs) expect(sim.sentTo(r.address)).toHaveLength(1)
        }
      } finally {
        sim.state.latencyMs = 0
      }
    })

    it('turns Twilio’s refusals of a recipient into outcomes: invalid number, not a mobile, unsubscribed, missing parameter', async () => {
      const { ctx } = await connect()
      sim.state.landlines.add('+14155550302')
      sim.state.optedOut.add('+14155550303')
      const rs = [recipient('+14155550301'), recipient('555-0100'), recipient('+14155550302'), recipient('+14155550303'), { ...recipient('+14155550304'), params: { name: 'Bo' } }]
      const outcomes = await send(ctx, rs)
      expect(outcomes).toEqual([
        { deliveryId: rs[0]!.deliveryId, status: 'accepted', vendorMessageId: expect.stringMatching(/^SM/) },
        { deliveryId: rs[1]!.deliveryId, status: 'failed', code: '21211', message: "Invalid 'To' Phone Number: 555-0100", invalidAddress: true },
        { deliveryId: rs[2]!.deliveryId, status: 'failed', code: '21614', message: expect.stringContaining('not a valid mobile number'), invalidAddress: true },
        { deliveryId: rs[3]!.deliveryId, status: 'failed', code: '21610', message: 'Attempt to send to unsubscribed recipient', optedOut: true },
        { deliveryId: rs[4]!.deliveryId, status: 'failed', code: 'missing_param', message: 'no value for {coupon}' },
      ])
      expect(sim.sentTo('+14155550304')).toEqual([])
    })

    it('fails the batch as a whole when the sender is not the account’s (21606)', async () => {
      const { ctx } = await connect({ from: '+14155559999' })
      expect(await rejection(send(ctx, [recipient('+14155550401')]), ConnectorError)).toMatchObject({ kind: 'permanent', vendorCode: '21606' })
    })
  })

  describe('limits and outages', () => {
    it('waits out a 429 for its Retry-After', async () => {
      const { ctx, connectionId } = await connect()
      sim.state.rateLimitNext = 1
      sim.state.retryAfterSeconds = 1
      const started = Date.now()
      const r = recipient('+14155550501')
      const [outcome] = await send(ctx, [r])
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000)
      expect(outcome).toMatchObject({ status: 'accepted' })
      expect(sim.sentTo(r.address)).toHaveLength(1)
      const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
      expect(log.map((c) => [c.operation, c.statusCode, c.outcome])).toEqual([
        ['createMessage', 429, 'rate_limited'],
        ['createMessage', 201, 'ok'],
      ])
    })

    it('reports a 429 asking for more than 30 s as rate_limited with the wait, having sent nothing', async () => {
      const { ctx } = await connect()
      sim.state.rateLimitNext = 1
      sim.state.retryAfterSeconds = 120
      try {
        const r = recipient('+14155550502')
        expect(await rejection(send(ctx, [r]), ConnectorError)).toMatchObject({ kind: 'rate_limited', vendorCode: '20429', retryAfterMs: 120_000 })
        expect(sim.sentTo(r.address)).toEqual([])
      } finally {
        sim.state.retryAfterSeconds = 1
      }
    })

    it('does not resend after a 5xx (Twilio may have queued it) and reports it retryable', async () => {
      const { ctx } = await connect()
      const before = sim.sends().length
      sim.state.down = true
      try {
        expect(await rejection(send(ctx, [recipient('+14155550601')]), ConnectorError)).toMatchObject({ kind: 'retryable', status: 503, vendorCode: '20503' })
      } finally {
        sim.state.down = false
      }
      expect(sim.sends().length).toBe(before + 1)
    })

    it('keeps the outcomes of messages already taken when a later one of the batch fails', async () => {
      const { ctx } = await connect({ maxPerSecond: 1 })
      const rs = [recipient('+14155550701'), recipient('+14155550702'), recipient('+14155550703')]
      sim.state.downAfter = 1
      let outcomes: SendOutcome[]
      try {
        outcomes = await send(ctx, rs)
      } finally {
        sim.state.down = false
      }
      expect(outcomes).toEqual([
        { deliveryId: rs[0]!.deliveryId, status: 'accepted', vendorMessageId: expect.stringMatching(/^SM/) },
        { deliveryId: rs[1]!.deliveryId, status: 'failed', code: 'outcome_unknown', message: expect.any(String), retryable: false },
        { deliveryId: rs[2]!.deliveryId, status: 'failed', code: 'not_sent', message: expect.any(String), retryable: true },
      ])
    })
  })

  describe('statuses and replies', () => {
    it('settles deliveries by fetching their messages', async () => {
      const { ctx } = await connect()
      sim.state.unreachable.add('+14155550802')
      const rs = [recipient('+14155550801'), recipient('+14155550802'), recipient('+14155550803')]
      const outcomes = await send(ctx, rs)
      const sentAt = new Date().toISOString()
      const deliveries = rs.map((r, i) => ({ deliveryId: r.deliveryId, vendorMessageId: sidOf(outcomes[i]), address: r.address, sentAt }))
      expect(await caps.queryStatus!(ctx, { deliveries })).toEqual([])
      const at = new Date('2030-06-01T08:00:00Z')
      sim.advance(deliveries[0]!.vendorMessageId, 'sent', { at })
      sim.advance(deliveries[0]!.vendorMessageId, 'delivered', { at })
      sim.advance(deliveries[1]!.vendorMessageId, 'sent', { at })
      sim.advance(deliveries[1]!.vendorMessageId, undefined, { at })
      sim.advance(deliveries[2]!.vendorMessageId, 'sent', { at })
      const events = await caps.queryStatus!(ctx, { deliveries: [...deliveries, { deliveryId: 'lost', vendorMessageId: null, address: '+14155550804', sentAt }, { deliveryId: 'gone', vendorMessageId: `SM${'0'.repeat(32)}`, address: '+14155550805', sentAt }] })
      expect(events).toEqual([
        { kind: 'status', deliveryId: rs[0]!.deliveryId, vendorMessageId: deliveries[0]!.vendorMessageId, status: 'delivered', at: at.toISOString() },
        { kind: 'status', deliveryId: rs[1]!.deliveryId, vendorMessageId: deliveries[1]!.vendorMessageId, status: 'failed', code: '30003', at: at.toISOString() },
        { kind: 'status', deliveryId: rs[2]!.deliveryId, vendorMessageId: deliveries[2]!.vendorMessageId, status: 'sent', at: at.toISOString() },
        { kind: 'status', deliveryId: 'gone', vendorMessageId: `SM${'0'.repeat(32)}`, status: 'failed', code: '20404', at: expect.any(String) },
      ])
    })

    it('verifies X-Twilio-Signature over the full URL and the sorted parameters with the Auth Token', async () => {
      const { ctx, config } = await connect()
      const [outcome] = await send(ctx, [recipient('+14155550901')])
      const d = sim.advance(sidOf(outcome), 'sent')!
      const now = new Date()
      expect(d.url.startsWith(`${HUB}/webhooks/`)).toBe(true)
      expect(webhook.verify(inbound(d), config, now)).toBe(true)
      expect(webhook.verify(inbound(d, d.body.replace('MessageStatus=sent', 'MessageStatus=delivered')), config, now)).toBe(false)
      expect(webhook.verify(inbound(d, d.body, d.headers, d.path.replace(/d=[^&]+/, 'd=d-other')), config, now)).toBe(false)
      expect(webhook.verify(inbound(d), { ...config, authToken: 'a'.repeat(32) }, now)).toBe(false)
      expect(webhook.verify(inbound(d), { ...config, webhookBaseUrl: 'https://elsewhere.example.com' }, now)).toBe(false)
      const { ['x-twilio-signature']: _, ...unsigned } = d.headers
      expect(webhook.verify(inbound(d, d.body, unsigned), config, now)).toBe(false)
    })

    it('reads a status callback as a status of the delivery named in its URL, one event per status', async () => {
      const { ctx } = await connect()
      sim.state.unreachable.add('+14155551002')
      const rs = [recipient('+14155551001'), recipient('+14155551002')]
      const outcomes = await send(ctx, rs)
      const at = new Date('2030-06-02T09:30:00Z')
      const read = (d: TwilioWebhookDelivery) => {
        const event = webhook.parse(inbound(d))
        return { event, meaning: caps.interpretWebhook!(event, {} as TwilioConfig) }
      }
      const sent = read(sim.advance(sidOf(outcomes[0]), 'sent', { at })!)
      const delivered = read(sim.advance(sidOf(outcomes[0]), 'delivered', { at })!)
      expect(sent.event).toMatchObject({ topic: 'message.status', eventId: `${sidOf(outcomes[0])}:sent` })
      expect(delivered.event.eventId).toBe(`${sidOf(outcomes[0])}:delivered`)
      expect(sent.meaning).toEqual([{ kind: 'status', deliveryId: rs[0]!.deliveryId, vendorMessageId: sidOf(outcomes[0]), status: 'sent', at: expect.any(String) }])
      expect(delivered.meaning).toEqual([{ kind: 'status', deliveryId: rs[0]!.deliveryId, vendorMessageId: sidOf(outcomes[0]), status: 'delivered', at: at.toISOString() }])
      sim.advance(sidOf(outcomes[1]), 'sent', { at })
      expect(read(sim.advance(sidOf(outcomes[1]), undefined, { at })!).meaning).toEqual([
        { kind: 'status', deliveryId: rs[1]!.deliveryId, vendorMessageId: sidOf(outcomes[1]), status: 'failed', code: '30003', at: at.toISOString() },
      ])
      // Without the query (as the hub's worker re-reads a stored event) the message SID still names the message.
      const d = sim.advance(sidOf(outcomes[0]), 'delivered', { at })!
      expect(caps.interpretWebhook!(webhook.parse(inbound(d, d.body, d.headers, new URL(d.url).pathname)), {} as TwilioConfig)).toEqual([
        { kind: 'status', deliveryId: null, vendorMessageId: sidOf(outcomes[0]), status: 'delivered', at: at.toISOString() },
      ])
      // Statuses that are not news give nothing.
      expect(read(sim.advance(sidOf(outcomes[0]), 'queued')!).meaning).toEqual([])
    })

    it('reads STOP and its synonyms as opt-outs and START/UNSTOP as opt-ins; Twilio then refuses and accepts the number', async () => {
      const { ctx } = await connect()
      const url = `${HUB}/webhooks/inbound`
      const meaning = (d: TwilioWebhookDelivery) => {
        const event = webhook.parse(inbound(d))
        expect(event).toMatchObject({ topic: 'message.inbound', eventId: new URLSearchParams(d.body).get('MessageSid') })
        return caps.interpretWebhook!(event, {} as TwilioConfig)
      }
      expect(meaning(sim.inbound(url, '+14155551101', 'STOP'))).toEqual([{ kind: 'opt_out', address: '+14155551101', keyword: 'STOP', at: expect.any(String) }])
      for (const word of ['unsubscribe', ' End ', 'QUIT.', 'stopall', 'Revoke', 'OPTOUT', 'cancel']) expect(meaning(sim.inbound(url, '+14155551102', word))).toMatchObject([{ kind: 'opt_out', address: '+14155551102' }])
      expect(meaning(sim.inbound(url, '+14155551103', 'Stop', { advancedOptOut: true }))).toMatchObject([{ kind: 'opt_out', keyword: 'STOP' }])
      expect(meaning(sim.inbound(url, '+14155551104', 'What time do you open?'))).toEqual([])
      expect(meaning(sim.inbound(url, '+14155551104', 'Please stop sending these'))).toEqual([])
      expect(meaning(sim.inbound(url, '+14155551104', 'HELP'))).toEqual([])

      const [refused] = await send(ctx, [recipient('+14155551101')])
      expect(refused).toMatchObject({ status: 'failed', code: '21610', optedOut: true })
      expect(meaning(sim.inbound(url, '+14155551101', 'start'))).toEqual([{ kind: 'opt_in', address: '+14155551101', keyword: 'START', at: expect.any(String) }])
      expect(meaning(sim.inbound(url, '+14155551102', 'UNSTOP'))).toMatchObject([{ kind: 'opt_in', address: '+14155551102' }])
      const [again] = await send(ctx, [recipient('+14155551101')])
      expect(again).toMatchObject({ status: 'accepted' })
    })

    it('is received by the hub once per status, answered with empty TwiML, and a tampered callback is refused', async () => {
      const { ctx, connectionId } = await connect()
      const [outcome] = await send(ctx, [recipient('+14155551201')])
      const d = sim.advance(sidOf(outcome), 'sent')!
      expect(d.path).toMatch(new RegExp(`^/webhooks/${connectionId}\\?d=d-\\d+$`))
      const api = createApi(hub)
      const post = (body: string, path = d.path) => api.request('POST', path, undefined, { raw: body, headers: d.headers })
      const first = await post(d.body)
      expect(first.status).toBe(200)
      expect(first.headers.get('content-type')).toContain('text/xml')
      expect(first.body).toBe('<?xml version="1.0" encoding="UTF-8"?><Response></Response>')
      expect((await post(d.body)).status).toBe(200)
      expect((await post(d.body.replace('MessageStatus=sent', 'MessageStatus=delivered'))).status).toBe(401)
      const stop = sim.inbound(`${HUB}/webhooks/${connectionId}`, '+14155551202', 'STOP')
      expect((await api.request('POST', stop.path, undefined, { raw: stop.body, headers: stop.headers })).status).toBe(200)
      const rows = (await hub.database.db.execute<{ topic: string; vendor_event_id: string; deliveries: number }>(sql`select topic, vendor_event_id, deliveries from inbound_webhooks where connection_id = ${connectionId} order by received_at`)).rows
      expect(rows).toEqual([
        { topic: 'message.status', vendor_event_id: `${sidOf(outcome)}:sent`, deliveries: 2 },
        { topic: 'message.inbound', vendor_event_id: new URLSearchParams(stop.body).get('MessageSid'), deliveries: 1 },
      ])
    })
  })

  it('never writes the Auth Token (or the basic credentials made of it) into the call log or the logs', async () => {
    const { ctx, connectionId } = await connect()
    const [outcome] = await send(ctx, [recipient('+14155551301')])
    await caps.queryStatus!(ctx, { deliveries: [{ deliveryId: 'x', vendorMessageId: sidOf(outcome), address: '+14155551301', sentAt: new Date().toISOString() }] })
    const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId))
    expect(log.map((c) => c.operation)).toEqual(['createMessage', 'fetchMessage'])
    const basic = Buffer.from(`${ACCOUNT_SID}:${AUTH_TOKEN}`).toString('base64')
    for (const text of [JSON.stringify(log), hub.logs.text]) {
      expect(text).not.toContain(AUTH_TOKEN)
      expect(text).not.toContain(basic)
    }
  })
})
