import { describe, expect, it } from 'vitest'
import { http, HttpResponse } from 'msw'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { aliyunSmsSandbox, type AliyunPush } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import { campaignTraitsOf, type CampaignRecipient, type SendOutcome } from '../../src/connectors/framework/campaign.ts'
import type { InboundRequest } from '../../src/connectors/framework/define.ts'
import { aliyunSms } from '../../src/connectors/campaign/aliyun-sms/index.ts'
import type { AliyunSmsConfig } from '../../src/connectors/campaign/aliyun-sms/config.ts'

const AK_ID = 'LTAI5tTillbridgeSim0001'
const AK_SECRET = 'kQ7vT2nX9pL4sR8wZ1yB6cF3hJ5mN0'
const TOKEN = 'push_5f3a9c1e7b2d4068a1c3e5f7'
const SIGN = '茶语轩'
const TEMPLATE = 'SMS_460915001'
const TEMPLATE_TEXT = '亲爱的${name}，您的优惠券${coupon}已到账，拒收请回复R'
const HUB = 'https://hub.example.com'
const caps = aliyunSms.capabilities
const webhook = aliyunSms.webhook!

describe('Alibaba Cloud SMS campaign connector', () => {
  const hub = useTestHub()
  const sim = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: TEMPLATE_TEXT, SMS_INTL_001: { content: 'Dear ${name}, your coupon ${coupon} is ready', scope: 'international' } } })
  const vendor = useVendorServer(hub, ...sim.handlers)

  const connectAliyun = connectWith(hub, vendor, 'aliyun-sms', { name: 'Aliyun', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN, callbackToken: TOKEN } })
  async function connect(config: Record<string, unknown> = {}) {
    const c = await connectAliyun(config)
    return { ...c, config: c.loaded.config as AliyunSmsConfig }
  }

  let deliverySeq = 0
  const recipient = (address: string, name = '会员', coupon = `CP${deliverySeq + 1}`): CampaignRecipient => ({ deliveryId: `d-${++deliverySeq}`, memberId: `m-${deliverySeq}`, address, params: { name, coupon } })
  const send = (ctx: Awaited<ReturnType<typeof connect>>['ctx'], recipients: CampaignRecipient[], campaignKey = 'spring-sale:once') =>
    caps.sendBatch(ctx, { campaignKey, message: { templateCode: TEMPLATE }, recipients })
  const accepted = (o: SendOutcome) => (o.status === 'accepted' ? o.vendorMessageId : null)

  describe('connection', () => {
    it('declares SMS to phone numbers, 100 a call, at the configured pace', async () => {
      const { config } = await connect({ maxPerSecond: 800 })
      expect(campaignTraitsOf(caps, config)).toEqual({ channel: 'sms', addressKind: 'phone', maxBatch: 100, maxPerSecond: 800 })
      expect(campaignTraitsOf(caps, (await connect()).config).maxPerSecond).toBe(500)
    })

    it('checks the key pair with a signed call and that the default signature is approved', async () => {
      expect(await runCheck(hub, (await connect()).loaded)).toMatchObject({ ok: true, message: expect.stringContaining('approved') })
      sim.state.signs.set('新店开业', 0)
      expect(await runCheck(hub, (await connect({ signName: '新店开业' })).loaded)).toMatchObject({ ok: false, message: expect.stringContaining('under review') })
      const wrong = await connect({ accessKeySecret: 'x'.repeat(30) })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('SignatureDoesNotMatch') })
    })

    it('refuses a wrong secret (SignatureDoesNotMatch) and an unknown AccessKey as auth_failed, without sending', async () => {
      const before = sim.messages().length
      const wrong = await connect({ accessKeySecret: 'y'.repeat(30) })
      expect(await rejection(send(wrong.ctx, [recipient('+8613800138000')]), ConnectorError)).toMatchObject({ kind: 'auth_failed', vendorCode: 'SignatureDoesNotMatch', status: 400 })
      const unknown = await connect({ accessKeyId: 'LTAI5tNobodyKnowsThis' })
      expect(await rejection(send(unknown.ctx, [recipient('+8613800138000')]), ConnectorError)).toMatchObject({ kind: 'auth_failed', vendorCode: 'InvalidAccessKeyId.NotFound', status: 404 })
      expect(sim.messages().length).toBe(before)
    })
  })

  describe('sending', () => {
    it('sends a batch as one signed SendBatchSms call with a signature and the params of each number, and names each message by BizId and number', async () => {
      const { ctx } = await connect()
      const recipients = [recipient('+8613800138001', '王芳', 'TEA-8801'), recipient('+86 138 0013 8002', '李雷', 'TEA-8802'), recipient('+8619912345678', '韩梅梅', 'TEA-8803')]
      const outcomes = await send(ctx, recipients)
      const call = sim.requestsFor('SendBatchSms').at(-1)!
      expect(call).toMatchObject({ method: 'POST', status: 200, code: 'OK', accessKeyId: AK_ID })
      expect(call.params).toMatchObject({
        Version: '2017-05-25',
        SignatureMethod: 'HMAC-SHA1',
        SignatureVersion: '1.0',
        Format: 'JSON',
        TemplateCode: TEMPLATE,
        OutId: 'spring-sale:once',
        PhoneNumberJson: JSON.stringify(['13800138001', '13800138002', '19912345678']),
        SignNameJson: JSON.stringify([SIGN, SIGN, SIGN]),
        TemplateParamJson: JSON.stringify(recipients.map((r) => r.params)),
      })
      expect(call.params.Timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/)
      const bizId = sim.sentTo('13800138001')[0]!.bizId
      expect(bizId).toMatch(/^\d+\^0$/)
      expect(outcomes).toEqual([
        { deliveryId: recipients[0]!.deliveryId, status: 'accepted', vendorMessageId: `${bizId}:+8613800138001` },
        { deliveryId: recipients[1]!.deliveryId, status: 'accepted', vendorMessageId: `${bizId}:+8613800138002` },
        { deliveryId: recipients[2]!.deliveryId, status: 'accepted', vendorMessageId: `${bizId}:+8619912345678` },
      ])
      expect(sim.sentTo('+8613800138001').map((m) => m.content)).toEqual(['【茶语轩】亲爱的王芳，您的优惠券TEA-8801已到账，拒收请回复R'])
      expect(sim.sentTo('+8613800138002').map((m) => m.content)).toEqual(['【茶语轩】亲爱的李雷，您的优惠券TEA-8802已到账，拒收请回复R'])
    })

    it('uses the message’s own signature over the connection’s default', async () => {
      const { ctx } = await connect()
      sim.state.signs.set('茶语轩旗舰店', 1)
      const r = recipient('+8613800138021')
      await caps.sendBatch(ctx, { campaignKey: 'k', message: { templateCode: TEMPLATE, signName: '茶语轩旗舰店' }, recipients: [r] })
      expect(sim.sentTo(r.address)[0]).toMatchObject({ signName: '茶语轩旗舰店', content: expect.stringMatching(/^【茶语轩旗舰店】/) })
    })

    it('sends two members sharing a number in separate calls, so each message has its own id', async () => {
      const { ctx } = await connect()
      const both = [recipient('+8613800138031', '母亲'), recipient('+8613800138031', '女儿')]
      const outcomes = await send(ctx, both)
      const ids = outcomes.map(accepted)
      expect(ids.every((id) => id?.endsWith(':+8613800138031'))).toBe(true)
      expect(new Set(ids).size).toBe(2)
      expect(sim.sentTo('+8613800138031').map((m) => m.params.name)).toEqual(['母亲', '女儿'])
    })

    it('gives each recipient its own outcome: bad numbers are not sent, and a call refused for one number is split until that number is alone', async () => {
      const { ctx } = await connect()
      sim.state.invalidNumbers.add('13900000013')
      sim.state.optedOut.add('13900000014')
      sim.state.flowControlled.add('13900000015')
      const recipients = [
        recipient('+8613900000011'),
        recipient('+86123'),
        recipient('+8613900000013'),
        recipient('+861088888888'),
        recipient('+8613900000014'),
        recipient('+85291234567'),
        recipient('+8613900000015'),
        recipient('+8613900000016'),
      ]
      const calls = sim.requestsFor('SendBatchSms').length
      const outcomes = await send(ctx, recipients)
      expect(outcomes.map((o) => (o.status === 'accepted' ? 'accepted' : o))).toEqual([
        'accepted',
        { deliveryId: recipients[1]!.deliveryId, status: 'failed', code: 'invalid_number', message: expect.any(String), invalidAddress: true },
        { deliveryId: recipients[2]!.deliveryId, status: 'failed', code: 'isv.MOBILE_NUMBER_ILLEGAL', message: expect.stringContaining('手机号码格式错误'), invalidAddress: true },
        { deliveryId: recipients[3]!.deliveryId, status: 'failed', code: 'invalid_number', message: expect.stringContaining('fixed_line'), invalidAddress: true },
        { deliveryId: recipients[4]!.deliveryId, status: 'failed', code: 'isv.CUSTOMER_REFUSED', message: expect.any(String), optedOut: true },
        // A good number all the same, which this connection's domestic templates cannot reach.
        { deliveryId: recipients[5]!.deliveryId, status: 'failed', code: 'unsupported_destination', message: expect.stringContaining('outside mainland China') },
        { deliveryId: recipients[6]!.deliveryId, status: 'failed', code: 'isv.BUSINESS_LIMIT_CONTROL', message: expect.any(String), retryable: true },
        'accepted',
      ])
      // The two good numbers got one message each; no refused number got any; malformed numbers never left.
      expect(sim.sentTo('+8613900000011')).toHaveLength(1)
      expect(sim.sentTo('+8613900000016')).toHaveLength(1)
      for (const n of ['13900000013', '13900000014', '13900000015']) expect(sim.sentTo(n)).toEqual([])
      const made = sim.requestsFor('SendBatchSms').slice(calls)
      for (const c of made) expect(JSON.parse(c.params.PhoneNumberJson!)).not.toContain('123')
      expect(made.filter((c) => c.code === 'OK').flatMap((c) => JSON.parse(c.params.PhoneNumberJson!))).toEqual(['13900000011', '13900000016'])
      expect(made.length).toBeLessThanOrEqual(12)
    })

    it('sends international templates to numbers outside the mainland, with the country code and no plus', async () => {
      const { ctx } = await connect({ templateScope: 'international' })
      const recipients = [recipient('+85291234567', 'Ann', 'HK-1'), recipient('+8613800138041')]
      const outcomes = await caps.sendBatch(ctx, { campaignKey: 'intl', message: { templateCode: 'SMS_INTL_001' }, recipients })
      expect(outcomes[0]).toMatchObject({ status: 'accepted', vendorMessageId: expect.stringMatching(/:\+85291234567$/) })
      expect(outcomes[1]).toMatchObject({ status: 'failed', code: 'unsupported_destination' })
      expect(sim.sentTo('85291234567').map((m) => m.content)).toEqual([`【${SIGN}】Dear Ann, your coupon HK-1 is ready`])
    })

    it('refuses a message without a template before calling Aliyun', async () => {
      const { ctx } = await connect()
      const calls = sim.state.requests.length
      expect(await rejection(caps.sendBatch(ctx, { campaignKey: 'k', message: { body: 'hello' }, recipients: [recipient('+8613800138051')] }), ConnectorError)).toMatchObject({ kind: 'permanent' })
      expect(sim.state.requests.length).toBe(calls)
    })
  })

  describe('limits and outages', () => {
    it('waits out Throttling.User, each attempt signed afresh (a nonce is never used twice)', async () => {
      const { ctx, connectionId } = await connect()
      sim.state.throttleNext = 2
      const r = recipient('+8613800138061')
      const [outcome] = await send(ctx, [r])
      expect(outcome).toMatchObject({ status: 'accepted' })
      const attempts = sim.requestsFor('SendBatchSms').slice(-3)
      expect(attempts.map((a) => a.code)).toEqual(['Throttling.User', 'Throttling.User', 'OK'])
      expect(new Set(attempts.map((a) => a.params.SignatureNonce)).size).toBe(3)
      expect(sim.sentTo(r.address)).toHaveLength(1)
      const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))
      expect(log.map((c) => [c.operation, c.statusCode, c.outcome])).toEqual([
        ['SendBatchSms', 400, 'rate_limited'],
        ['SendBatchSms', 400, 'rate_limited'],
        ['SendBatchSms', 200, 'ok'],
      ])
    })

    it('reports throttling that does not end as rate_limited, having sent nothing', async () => {
      const { ctx } = await connect()
      sim.state.throttleNext = 10
      try {
        const r = recipient('+8613800138062')
        expect(await rejection(send(ctx, [r]), ConnectorError)).toMatchObject({ kind: 'rate_limited', vendorCode: 'Throttling.User' })
        expect(sim.sentTo(r.address)).toEqual([])
      } finally {
        sim.state.throttleNext = 0
      }
    })

    it('reports the console’s daily cap as rate_limited until midnight Beijing time, and a stopped account as permanent', async () => {
      const { ctx } = await connect()
      sim.state.dayLimit = 0
      try {
        const e = await rejection(send(ctx, [recipient('+8613800138071')]), ConnectorError)
        expect(e).toMatchObject({ kind: 'rate_limited', vendorCode: 'isv.DAY_LIMIT_CONTROL' })
        const midnight = Math.ceil((Date.now() + 8 * 3_600_000) / 86_400_000) * 86_400_000 - 8 * 3_600_000
        expect(Math.abs(Date.now() + e.retryAfterMs! - midnight)).toBeLessThan(60_000)
      } finally {
        sim.state.dayLimit = Infinity
      }
      sim.state.outOfService = true
      try {
        expect(await rejection(send(ctx, [recipient('+8613800138072')]), ConnectorError)).toMatchObject({ kind: 'permanent', vendorCode: 'isv.OUT_OF_SERVICE' })
      } finally {
        sim.state.outOfService = false
      }
    })

    it('does not send again during an outage (Aliyun may have taken the call) and reports it retryable', async () => {
      const { ctx } = await connect()
      const calls = sim.state.requests.length
      sim.state.down = true
      try {
        expect(await rejection(send(ctx, [recipient('+8613800138081')]), ConnectorError)).toMatchObject({ kind: 'retryable', status: 503, vendorCode: 'ServiceUnavailable' })
      } finally {
        sim.state.down = false
      }
      expect(sim.state.requests.length).toBe(calls + 1)
    })

    it('keeps the outcomes of numbers already taken when a later call of the batch is refused unread (a 503): the rest go again', async () => {
      const { ctx } = await connect()
      // One number three times: three calls; Aliyun goes down after the first.
      const three = [recipient('+8613800138091'), recipient('+8613800138091'), recipient('+8613800138091')]
      sim.state.downAfter = 1
      let outcomes: SendOutcome[]
      try {
        outcomes = await send(ctx, three)
      } finally {
        sim.state.down = false
      }
      expect(outcomes).toEqual([
        { deliveryId: three[0]!.deliveryId, status: 'accepted', vendorMessageId: expect.stringMatching(/:\+8613800138091$/) },
        { deliveryId: three[1]!.deliveryId, status: 'failed', code: 'not_sent', message: expect.stringContaining('ServiceUnavailable'), retryable: true },
        { deliveryId: three[2]!.deliveryId, status: 'failed', code: 'not_sent', message: expect.any(String), retryable: true },
      ])
      expect(sim.sentTo('+8613800138091')).toHaveLength(1)
    })

    it('a later call of the batch that fails after Aliyun may have acted on it (a 500) is unknown, never sent again', async () => {
      const { ctx } = await connect()
      const three = [recipient('+8613800138092'), recipient('+8613800138092'), recipient('+8613800138092')]
      let calls = 0
      vendor.server.use(
        http.post('https://dysmsapi.aliyuncs.com/', () => {
          if (++calls === 2) return HttpResponse.json({ RequestId: 'E2B6D6D4-0000-4000-8000-000000000500', Code: 'InternalError', Message: 'The request processing has failed due to some unknown error.' }, { status: 500 })
          return undefined
        }),
      )
      let outcomes: SendOutcome[]
      try {
        outcomes = await send(ctx, three)
      } finally {
        vendor.server.resetHandlers()
      }
      expect(outcomes).toEqual([
        { deliveryId: three[0]!.deliveryId, status: 'accepted', vendorMessageId: expect.stringMatching(/:\+8613800138092$/) },
        { deliveryId: three[1]!.deliveryId, status: 'failed', code: 'outcome_unknown', message: expect.stringContaining('settle it from receipts'), retryable: false },
        { deliveryId: three[2]!.deliveryId, status: 'failed', code: 'not_sent', message: expect.any(String), retryable: true },
      ])
    })
  })

  describe('receipts and replies', () => {
    it('settles deliveries with QuerySendDetails on the Beijing send date', async () => {
      const { ctx } = await connect()
      sim.state.unreachable.add('13700000002')
      const rs = [recipient('+8613700000001'), recipient('+8613700000002')]
      const outcomes = await send(ctx, rs)
      const sentAt = new Date().toISOString()
      const deliveries = rs.map((r, i) => ({ deliveryId: r.deliveryId, vendorMessageId: accepted(outcomes[i]!), address: r.address, sentAt }))
      // Before the carriers answer, nothing is known.
      expect(await caps.queryStatus!(ctx, { deliveries })).toEqual([])
      const at = new Date('2030-05-01T02:03:04Z')
      sim.settle({ at })
      const events = await caps.queryStatus!(ctx, { deliveries: [...deliveries, { deliveryId: 'lost', vendorMessageId: null, address: '+8613700000003', sentAt }] })
      expect(events).toEqual([
        { kind: 'status', deliveryId: rs[0]!.deliveryId, vendorMessageId: deliveries[0]!.vendorMessageId, status: 'delivered', code: 'DELIVERED', at: at.toISOString() },
        { kind: 'status', deliveryId: rs[1]!.deliveryId, vendorMessageId: deliveries[1]!.vendorMessageId, status: 'failed', code: 'MN:0001', at: at.toISOString() },
      ])
      const query = sim.requestsFor('QuerySendDetails').at(-1)!
      const beijingDay = new Date(Date.parse(sentAt) + 8 * 3_600_000).toISOString().slice(0, 10).replace(/-/g, '')
      expect(query.params).toMatchObject({ PhoneNumber: '13700000002', SendDate: beijingDay, BizId: deliveries[1]!.vendorMessageId!.split(':')[0] })
    })

    it('accepts a push only with the connection’s token in its URL', async () => {
      const { config } = await connect()
      const push = sim.push(`${HUB}/webhooks/c1?token=${TOKEN}`, [sim.reply('+8613800138000', '好的')])
      const req = (url: string): InboundRequest => ({ rawBody: Buffer.from(push.body), headers: push.headers, url })
      const now = new Date()
      expect(webhook.verify(req(`/webhooks/c1?token=${TOKEN}`), config, now)).toBe(true)
      expect(webhook.verify(req(`/webhooks/c1?token=${TOKEN.slice(0, -1)}x`), config, now)).toBe(false)
      expect(webhook.verify(req('/webhooks/c1?token='), config, now)).toBe(false)
      expect(webhook.verify(req('/webhooks/c1'), config, now)).toBe(false)
      const { callbackToken: _, ...withoutToken } = config
      expect(webhook.verify(req(`/webhooks/c1?token=${TOKEN}`), withoutToken as AliyunSmsConfig, now)).toBe(false)
    })

    it('reads receipts as statuses matched by BizId and number, with an event id the same on every push', async () => {
      const { ctx } = await connect()
      sim.state.unreachable.add('13700000012')
      const rs = [recipient('+8613700000011'), recipient('+8613700000012')]
      const outcomes = await send(ctx, rs)
      const at = new Date('2030-05-02T10:00:00Z')
      const records = sim.settle({ at, bizId: sim.sentTo(rs[0]!.address)[0]!.bizId })
      const push = sim.push(`${HUB}/webhooks/x?token=${TOKEN}`, records)
      const req: InboundRequest = { rawBody: Buffer.from(push.body), headers: push.headers, url: `/webhooks/x?token=${TOKEN}` }
      const event = webhook.parse(req)
      expect(event.topic).toBe('SmsReport')
      expect(webhook.parse({ ...req, url: '/webhooks/x' }).eventId).toBe(event.eventId)
      expect(JSON.parse(push.body)[0]).toMatchObject({ phone_number: '13700000011', success: true, err_code: 'DELIVERED', report_time: '2030-05-02 18:00:00', out_id: 'spring-sale:once' })
      expect(caps.interpretWebhook!(event, {} as AliyunSmsConfig)).toEqual([
        { kind: 'status', deliveryId: null, vendorMessageId: accepted(outcomes[0]!), status: 'delivered', code: 'DELIVERED', at: at.toISOString() },
        { kind: 'status', deliveryId: null, vendorMessageId: accepted(outcomes[1]!), status: 'failed', code: 'MN:0001', at: at.toISOString() },
      ])
    })

    it('reads TD, T, R and 退订 replies as opt-outs of the number, and other replies as nothing; Aliyun then refuses the number', async () => {
      const { ctx } = await connect()
      const at = new Date('2030-05-03T01:00:00Z')
      const interpret = (records: Parameters<typeof sim.push>[1]) => {
        const push = sim.push(`${HUB}/webhooks/x?token=${TOKEN}`, records)
        const event = webhook.parse({ rawBody: Buffer.from(push.body), headers: push.headers, url: '/webhooks/x' })
        expect(event.topic).toBe('SmsUp')
        return caps.interpretWebhook!(event, {} as AliyunSmsConfig)
      }
      expect(interpret([sim.reply('+8613600000001', 'TD', { at }), sim.reply('+8613600000002', ' ｔｄ。', { at }), sim.reply('+8613600000003', '退订', { at }), sim.reply('+8613600000004', 'r', { at })])).toEqual([
        { kind: 'opt_out', address: '+8613600000001', keyword: 'TD', at: at.toISOString() },
        { kind: 'opt_out', address: '+8613600000002', keyword: 'TD', at: at.toISOString() },
        { kind: 'opt_out', address: '+8613600000003', keyword: '退订', at: at.toISOString() },
        { kind: 'opt_out', address: '+8613600000004', keyword: 'R', at: at.toISOString() },
      ])
      expect(interpret([sim.reply('+8613600000005', '请问几点开门？'), sim.reply('+8613600000006', 'TD一下是什么意思')])).toEqual([])
      const [refused] = await send(ctx, [recipient('+8613600000001')])
      expect(refused).toMatchObject({ status: 'failed', code: 'isv.CUSTOMER_REFUSED', optedOut: true })
    })

    it('is received by the hub once per push, acknowledged as Aliyun expects, and refused without the token', async () => {
      const { connectionId } = await connect()
      const api = createApi(hub)
      const push: AliyunPush = sim.push(`${HUB}/webhooks/${connectionId}?token=${TOKEN}`, [sim.reply('+8613600000011', 'T')])
      const post = (path: string) => api.request('POST', path, undefined, { raw: push.body, headers: push.headers })
      const first = await post(`/webhooks/${connectionId}?token=${TOKEN}`)
      expect(first.status).toBe(200)
      expect(first.body).toEqual({ code: 0, msg: '接收成功' })
      expect((await post(`/webhooks/${connectionId}?token=${TOKEN}`)).status).toBe(200)
      expect((await post(`/webhooks/${connectionId}?token=wrong-token-0000000000`)).status).toBe(401)
      expect((await post(`/webhooks/${connectionId}`)).status).toBe(401)
      const rows = (await hub.database.db.execute<{ topic: string; deliveries: number }>(sql`select topic, deliveries from inbound_webhooks where connection_id = ${connectionId}`)).rows
      expect(rows).toEqual([{ topic: 'SmsUp', deliveries: 2 }])
    })
  })

  it('never writes the AccessKey secret, the push token or a signature into the call log or the logs', async () => {
    const { ctx, connectionId } = await connect()
    await send(ctx, [recipient('+8613800138099')])
    await caps.queryStatus!(ctx, { deliveries: [{ deliveryId: 'x', vendorMessageId: `1^0:+8613800138099`, address: '+8613800138099', sentAt: new Date().toISOString() }] })
    const log = await hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId))
    expect(log.map((c) => c.operation)).toEqual(['SendBatchSms', 'QuerySendDetails'])
    const text = JSON.stringify(log)
    expect(text).not.toContain(AK_SECRET)
    expect(text).not.toContain(TOKEN)
    expect(log[0]!.requestExcerpt).toContain('Signature=[REDACTED]')
    expect(hub.logs.text).not.toContain(AK_SECRET)
    expect(hub.logs.text).not.toContain(TOKEN)
  })
})
