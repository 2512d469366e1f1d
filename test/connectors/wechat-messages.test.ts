import { describe, expect, it } from 'vitest'
import { asc, eq, sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { useVendorServer, connectWith, rejection } from '../helpers/connections.ts'
import { wechatMessagesSandbox, type PushDelivery } from '../../src/sandboxes/vendors/wechat-messages.ts'
import { runCheck } from '../../src/connectors/framework/context.ts'
import { connectorCalls } from '../../src/connectors/framework/schema.ts'
import { ConnectorError } from '../../src/connectors/framework/http-types.ts'
import type { InboundRequest } from '../../src/connectors/framework/define.ts'
import { campaignTraitsOf, type CampaignRecipient } from '../../src/connectors/framework/campaign.ts'
import { wechatMessages } from '../../src/connectors/campaign/wechat/index.ts'
import { templateData } from '../../src/connectors/campaign/wechat/send.ts'
import { pushSignature, wechatServerEcho } from '../../src/connectors/campaign/wechat/push.ts'

const APP_ID = 'wx8a5c0e9f1b2d3c4e'
const APP_SECRET = '5f1e2d3c4b5a69788796a5b4c3d2e1f0'
const SERVER_TOKEN = 'TeaHousePush2026'
const TEMPLATE = 'ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY'
const SUB_TEMPLATE = 'VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc'
const caps = wechatMessages.capabilities
const templateMessage = { templateCode: TEMPLATE, page: 'https://teahouse.example/coupons' }
const dataMap = { thing1: '{firstName}，您的会员礼券已到账，请尽快到门店使用哦', character_string2: '{coupon}' }

const inbound = (d: PushDelivery, query: string = d.query, body: string = d.body): InboundRequest => ({ rawBody: Buffer.from(body), headers: d.headers, url: `/webhooks/x?${query}` })

describe('WeChat messages campaign connector', () => {
  const hub = useTestHub()
  const sim = wechatMessagesSandbox({ appId: APP_ID, appSecret: APP_SECRET, token: SERVER_TOKEN, templates: [TEMPLATE, SUB_TEMPLATE] })
  const vendor = useVendorServer(hub, ...sim.handlers)

  const connect = connectWith(hub, vendor, 'wechat-messages', { name: 'WeChat', config: { appId: APP_ID, appSecret: APP_SECRET, token: SERVER_TOKEN } })

  let n = 0
  const openid = () => `oTea${String(++n).padStart(6, '0')}_${'x'.repeat(17)}`
  const recipient = (address: string, params: Record<string, string> = {}): CampaignRecipient => ({ deliveryId: `0190a5b2-1111-7000-8000-${String(++n).padStart(12, '0')}`, memberId: `m-${n}`, address, params })
  const callLog = (connectionId: string) => hub.database.db.select().from(connectorCalls).where(eq(connectorCalls.connectionId, connectionId)).orderBy(asc(connectorCalls.id))

  describe('connection', () => {
    it('checks the AppID and AppSecret by fetching a token, and names a wrong secret', async () => {
      const { loaded } = await connect()
      expect(await runCheck(hub, loaded)).toMatchObject({ ok: true, message: expect.stringContaining(APP_ID) })
      const wrong = await connect({ appSecret: 'ffffffffffffffffffffffffffffffff' })
      expect(await runCheck(hub, wrong.loaded)).toMatchObject({ ok: false, message: expect.stringContaining('AppSecret was refused (40125)') })
    })

    it('declares one openid a call, paced at the configured rate', async () => {
      const { loaded } = await connect({ maxPerSecond: 20 })
      expect(campaignTraitsOf(caps, loaded.config as never)).toEqual({ channel: 'wechat', addressKind: 'openid', maxBatch: 1, maxPerSecond: 20 })
    })
  })

  describe('template messages', () => {
    it('sends with a stable access token, the params filled into the template data and the delivery id as client_msg_id', async () => {
      const { ctx, connectionId } = await connect({ data: dataMap })
      const who = openid()
      sim.addUser(who)
      const r = recipient(who, { firstName: '王芳', coupon: 'TEA-8K2P' })
      const tokenCalls = sim.state.tokenCalls.stable
      const before = sim.state.requests.length
      const [outcome] = await caps.sendBatch(ctx, { campaignKey: 'spring-1', message: templateMessage, recipients: [r] })
      const [sent] = sim.sentTo(who)
      expect(outcome).toEqual({ deliveryId: r.deliveryId, status: 'accepted', vendorMessageId: sent!.msgid })
      const [tokenCall, sendCall] = sim.state.requests.slice(before)
      expect(tokenCall).toMatchObject({ method: 'POST', path: '/cgi-bin/stable_token', body: { grant_type: 'client_credential', appid: APP_ID, secret: '***', force_refresh: false } })
      expect(sendCall).toMatchObject({ method: 'POST', path: '/cgi-bin/message/template/send', token: 'ok', errcode: 0 })
      expect(sendCall!.body).toEqual({
        touser: who,
        template_id: TEMPLATE,
        url: 'https://teahouse.example/coupons',
        // thing values are cut to WeChat's 20 characters.
        data: { thing1: { value: '王芳，您的会员礼券已到账，请尽快到门店使' }, character_string2: { value: 'TEA-8K2P' } },
        client_msg_id: r.deliveryId,
      })
      expect(sim.state.tokenCalls.stable).toBe(tokenCalls + 1)

      // The token is kept for the next sends.
      const other = openid()
      sim.addUser(other)
      await caps.sendBatch(ctx, { campaignKey: 'spring-1', message: templateMessage, recipients: [recipient(other, { firstName: '李伟', coupon: 'TEA-3J7Q' })] })
      expect(sim.state.tokenCalls.stable).toBe(tokenCalls + 1)

      const log = JSON.stringify(await callLog(connectionId))
      expect(log).not.toContain(APP_SECRET)
      expect(log).not.toContain(sim.state.stable!.token)
      expect(hub.logs.text).not.toContain(APP_SECRET)
      expect(hub.logs.text).not.toContain(sim.state.stable!.token)
    })

    it('takes each param as its own keyword without a data map, and opens a mini program page when given one', async () => {
      const { ctx } = await connect({ miniprogramAppId: 'wx0123456789abcdef' })
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'plain-1', message: { templateCode: TEMPLATE, page: 'pages/coupon/index?c=1' }, recipients: [recipient(who, { thing1: '春季礼券', time2: '2026-05-01 10:00' })] })
      expect(sim.sentTo(who)[0]).toMatchObject({ data: { thing1: { value: '春季礼券' }, time2: { value: '2026-05-01 10:00' } }, miniprogram: { appid: 'wx0123456789abcdef', pagepath: 'pages/coupon/index?c=1' } })
    })

    it('fetches a token with a changed app secret, where the old token would have gone on working', async () => {
      const { ctx } = await connect()
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'secret-1', message: templateMessage, recipients: [recipient(who, { thing1: 'a' })] })
      const before = sim.state.requests.length
      const changed = { ...ctx, config: { ...ctx.config, appSecret: 'a-wrong-new-secret-0000000000000' } }
      const sent = await caps.sendBatch(changed, { campaignKey: 'secret-1', message: templateMessage, recipients: [recipient(who, { thing1: 'b' })] }).then(
        () => 'sent',
        (e) => e.kind,
      )
      expect(sent).toBe('auth_failed')
      expect(sim.state.requests.slice(before).map((r) => r.path)).toEqual(['/cgi-bin/stable_token'])
    })

    it('refreshes an expired token once and sends', async () => {
      const { ctx } = await connect()
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'expiry-1', message: templateMessage, recipients: [recipient(who, { thing1: 'a' })] })
      sim.expireTokens()
      const before = sim.state.requests.length
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'expiry-1', message: templateMessage, recipients: [recipient(who, { thing1: 'b' })] })
      expect(o).toMatchObject({ status: 'accepted' })
      expect(sim.state.requests.slice(before).map((r) => [r.path, r.errcode])).toEqual([
        ['/cgi-bin/message/template/send', 42001],
        ['/cgi-bin/stable_token', 0],
        ['/cgi-bin/message/template/send', 0],
      ])
    })

    it('reports each refused openid: an unknown openid, one who unfollowed, one accepted, in order', async () => {
      const { ctx } = await connect()
      const [stranger, leaver, fan] = [sim.strangerOpenid(), openid(), openid()]
      sim.addUser(fan)
      sim.unfollow(leaver)
      const recipients = [recipient(stranger, { thing1: 'x' }), recipient(leaver, { thing1: 'x' }), recipient(fan, { thing1: 'x' })]
      const outcomes = await caps.sendBatch(ctx, { campaignKey: 'mixed-1', message: templateMessage, recipients })
      expect(outcomes).toEqual([
        { deliveryId: recipients[0]!.deliveryId, status: 'failed', code: '40003', message: expect.stringContaining('invalid openid'), invalidAddress: true },
        { deliveryId: recipients[1]!.deliveryId, status: 'failed', code: '43004', message: expect.stringContaining('require subscribe'), optedOut: true },
        { deliveryId: recipients[2]!.deliveryId, status: 'accepted', vendorMessageId: sim.sentTo(fan)[0]!.msgid },
      ])
      expect(sim.sentTo(leaver)).toEqual([])
    })

    it('repeats a send that met "system busy" under the same client_msg_id, so WeChat sends it once', async () => {
      const { ctx } = await connect()
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'warm', message: templateMessage, recipients: [recipient(who, { thing1: 'warm' })] })
      sim.state.busyNext = 1
      const r = recipient(who, { thing1: 'busy' })
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'busy-1', message: templateMessage, recipients: [r] })
      expect(o).toMatchObject({ status: 'accepted' })
      expect(sim.sentTo(who).filter((m) => m.clientMsgId === r.deliveryId)).toHaveLength(1)
    })

    it('reports a used-up daily quota as retryable for that recipient', async () => {
      const { ctx } = await connect()
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'warm', message: templateMessage, recipients: [recipient(who, { thing1: 'warm' })] })
      sim.state.dailyQuota = sim.state.sentToday
      try {
        const [o] = await caps.sendBatch(ctx, { campaignKey: 'quota-1', message: templateMessage, recipients: [recipient(who, { thing1: 'late' })] })
        expect(o).toMatchObject({ status: 'failed', code: '45009', retryable: true })
      } finally {
        sim.state.dailyQuota = Infinity
      }
    })

    it('paces its calls at maxPerSecond', async () => {
      const { ctx } = await connect({ maxPerSecond: 10 })
      const users = Array.from({ length: 25 }, () => openid())
      for (const u of users) sim.addUser(u)
      const started = performance.now()
      const outcomes = await Promise.all(users.map((u) => caps.sendBatch(ctx, { campaignKey: 'paced-1', message: templateMessage, recipients: [recipient(u, { thing1: 'x' })] })))
      // A burst of 10, then 10 a second: the token call and 25 sends need at least 1.6 s.
      expect(performance.now() - started).toBeGreaterThanOrEqual(1500)
      expect(outcomes.flat().every((o) => o.status === 'accepted')).toBe(true)
    })

    it('retries an outage (client_msg_id makes the send safe to repeat) and then reports it as retryable', async () => {
      const { ctx } = await connect()
      const who = openid()
      sim.addUser(who)
      await caps.sendBatch(ctx, { campaignKey: 'warm', message: templateMessage, recipients: [recipient(who, { thing1: 'warm' })] })
      const before = sim.state.requests.length
      sim.state.down = true
      try {
        const e = await rejection(caps.sendBatch(ctx, { campaignKey: 'down-1', message: templateMessage, recipients: [recipient(who, { thing1: 'down' })] }), ConnectorError)
        expect(e).toMatchObject({ kind: 'retryable', status: 502 })
      } finally {
        sim.state.down = false
      }
      expect(sim.state.requests.slice(before).map((r) => r.path)).toEqual(Array(4).fill('/cgi-bin/message/template/send'))
      expect(sim.sentTo(who)).toHaveLength(1)
    })
  })

  describe('subscribe messages', () => {
    it('sends one message per credit the popup granted, keeps the 64-bit msgid whole, and reports the next as opted out', async () => {
      const { ctx } = await connect({ kind: 'subscribe', miniprogramState: 'trial', data: dataMap })
      const who = openid()
      sim.popup(who, [{ templateId: SUB_TEMPLATE, accept: true }])
      const message = { templateCode: SUB_TEMPLATE, page: 'pages/coupon/index' }
      const first = recipient(who, { firstName: '赵磊', coupon: 'TEA-AAAA' })
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'sub-1', message, recipients: [first] })
      const [sent] = sim.sentTo(who)
      expect(sent!.msgid).toMatch(/^\d{19}$/)
      expect(o).toEqual({ deliveryId: first.deliveryId, status: 'accepted', vendorMessageId: sent!.msgid })
      expect(sim.requestsTo('/cgi-bin/message/subscribe/send').at(-1)!.body).toEqual({
        touser: who,
        template_id: SUB_TEMPLATE,
        page: 'pages/coupon/index',
        data: { thing1: { value: '赵磊，您的会员礼券已到账，请尽快到门店使' }, character_string2: { value: 'TEA-AAAA' } },
        miniprogram_state: 'trial',
        lang: 'zh_CN',
      })
      const [second] = await caps.sendBatch(ctx, { campaignKey: 'sub-1', message, recipients: [recipient(who, { firstName: '赵磊', coupon: 'TEA-BBBB' })] })
      expect(second).toMatchObject({ status: 'failed', code: '43101', optedOut: true })
    })

    it('does not repeat a subscribe send that met "system busy": it has no request id, so it is reported retryable', async () => {
      const { ctx } = await connect({ kind: 'subscribe' })
      const who = openid()
      sim.popup(who, [{ templateId: SUB_TEMPLATE, accept: true }])
      sim.state.busyNext = 1
      const before = sim.requestsTo('/cgi-bin/message/subscribe/send').length
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'sub-busy', message: { templateCode: SUB_TEMPLATE }, recipients: [recipient(who, { thing1: 'x' })] })
      expect(o).toMatchObject({ status: 'failed', code: '-1', retryable: true })
      expect(sim.requestsTo('/cgi-bin/message/subscribe/send').length).toBe(before + 1)
    })
  })

  describe('server pushes', () => {
    const config = { token: SERVER_TOKEN }
    const webhook = wechatMessages.webhook!

    it('accepts a push signed with the server token and recent, and nothing else', () => {
      const d = sim.follow(openid())
      const now = new Date()
      expect(webhook.verify(inbound(d), config as never, now)).toBe(true)
      const q = new URLSearchParams(d.query)
      const tampered = new URLSearchParams(q)
      tampered.set('nonce', String(Number(q.get('nonce')) + 1))
      expect(webhook.verify(inbound(d, tampered.toString()), config as never, now)).toBe(false)
      expect(webhook.verify(inbound(d), { token: 'SomeoneElsesToken' } as never, now)).toBe(false)
      expect(webhook.verify(inbound(d, ''), config as never, now)).toBe(false)
      expect(webhook.verify(inbound(d), config as never, new Date(now.getTime() + 3_600_000))).toBe(false)
    })

    it('answers the server check with echostr when the signature is right', () => {
      const now = new Date()
      const timestamp = String(Math.floor(now.getTime() / 1000))
      const signature = pushSignature(SERVER_TOKEN, timestamp, '7788')
      expect(wechatServerEcho(`/webhooks/x?signature=${signature}&timestamp=${timestamp}&nonce=7788&echostr=4821907311`, config, now)).toBe('4821907311')
      expect(wechatServerEcho(`/webhooks/x?signature=${signature}&timestamp=${timestamp}&nonce=7789&echostr=4821907311`, config, now)).toBeNull()
    })

    it('turns template receipts into status events by msgid, the same event on every redelivery', async () => {
      const { ctx } = await connect()
      const [fan, blocker, unlucky] = [openid(), openid(), openid()]
      for (const u of [fan, blocker, unlucky]) sim.addUser(u)
      sim.block(blocker)
      sim.state.systemFailures.add(unlucky)
      const at = new Date('2026-05-01T02:00:00Z')
      const ids: string[] = []
      for (const u of [fan, blocker, unlucky]) {
        const [o] = await caps.sendBatch(ctx, { campaignKey: 'receipts-1', message: templateMessage, recipients: [recipient(u, { thing1: 'x' })] })
        ids.push((o as { vendorMessageId: string }).vendorMessageId)
      }
      const read = (d: PushDelivery) => caps.interpretWebhook!(webhook.parse(inbound(d)), {} as never)
      const ok = sim.receipt(ids[0]!, { at })
      expect(webhook.parse(inbound(ok))).toMatchObject({ eventId: `${ids[0]}:TEMPLATESENDJOBFINISH`, topic: 'TEMPLATESENDJOBFINISH', occurredAt: at })
      expect(webhook.parse(inbound(sim.receipt(ids[0]!, { at }))).eventId).toBe(`${ids[0]}:TEMPLATESENDJOBFINISH`)
      expect(read(ok)).toEqual([{ kind: 'status', deliveryId: null, vendorMessageId: ids[0], status: 'delivered', at: at.toISOString() }])
      expect(read(sim.receipt(ids[1]!, { at }))).toEqual([
        { kind: 'status', deliveryId: null, vendorMessageId: ids[1], status: 'failed', code: 'user block', at: at.toISOString() },
        { kind: 'opt_out', address: blocker, keyword: 'user block', at: at.toISOString() },
      ])
      expect(read(sim.receipt(ids[2]!, { at }))).toEqual([{ kind: 'status', deliveryId: null, vendorMessageId: ids[2], status: 'failed', code: 'system failed', at: at.toISOString() }])
    })

    it('reads subscribe popups, unfollows and subscribe-message receipts, in XML and in JSON', async () => {
      const at = new Date('2026-05-01T03:00:00Z')
      const read = (d: PushDelivery) => caps.interpretWebhook!(webhook.parse(inbound(d)), {} as never)
      const who = openid()
      expect(read(sim.popup(who, [{ templateId: SUB_TEMPLATE, accept: true }, { templateId: TEMPLATE, accept: false }], { at }))).toEqual([
        { kind: 'opt_in', address: who, keyword: `template:${SUB_TEMPLATE}`, at: at.toISOString() },
        { kind: 'opt_out', address: who, keyword: `template:${TEMPLATE}`, at: at.toISOString() },
      ])
      expect(read(sim.popup(who, [{ templateId: SUB_TEMPLATE, accept: false }], { format: 'json', at }))).toEqual([{ kind: 'opt_out', address: who, keyword: `template:${SUB_TEMPLATE}`, at: at.toISOString() }])
      expect(read(sim.unfollow(who, { at }))).toEqual([{ kind: 'opt_out', address: who, keyword: 'unsubscribe', at: at.toISOString() }])

      const { ctx } = await connect({ kind: 'subscribe' })
      const fan = openid()
      sim.popup(fan, [{ templateId: SUB_TEMPLATE, accept: true }])
      const [o] = await caps.sendBatch(ctx, { campaignKey: 'sub-receipt', message: { templateCode: SUB_TEMPLATE }, recipients: [recipient(fan, { thing1: 'x' })] })
      const msgid = (o as { vendorMessageId: string }).vendorMessageId
      // JSON pushes write the 64-bit MsgID as a bare number: it is read without rounding.
      expect(read(sim.sentEvent(msgid, { format: 'json', at }))).toEqual([{ kind: 'status', deliveryId: null, vendorMessageId: msgid, status: 'delivered', at: at.toISOString() }])
      expect(read(sim.sentEvent(msgid, { errorCode: 43101, at }))).toEqual([
        { kind: 'status', deliveryId: null, vendorMessageId: msgid, status: 'failed', code: '43101', at: at.toISOString() },
        { kind: 'opt_out', address: fan, keyword: `template:${SUB_TEMPLATE}`, at: at.toISOString() },
      ])
    })

    it('refuses an encrypted (safe mode) push as unreadable', () => {
      const d = sim.follow(openid())
      const body = `<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><Encrypt><![CDATA[bXkgc2VjcmV0IG1lc3NhZ2U=]]></Encrypt></xml>`
      expect(() => webhook.parse(inbound(d, d.query, body))).toThrow(/safe mode/)
    })

    it('is received by the hub once per event with the plain "success" WeChat expects, and a tampered push is refused', async () => {
      const { connectionId } = await connect()
      const api = createApi(hub)
      const d = sim.unfollow(openid())
      const post = (query: string) => api.request('POST', `/webhooks/${connectionId}?${query}`, undefined, { raw: d.body, headers: d.headers })
      const first = await post(d.query)
      expect(first.status).toBe(200)
      expect(first.body).toBe('success')
      expect(first.headers.get('content-type')).toContain('text/plain')
      expect((await post(d.query)).status).toBe(200)
      expect((await post(d.query.replace(/signature=[0-9a-f]{4}/, 'signature=0000'))).status).toBe(401)
      const rows = (await hub.database.db.execute<{ topic: string; deliveries: number }>(sql`select topic, deliveries from inbound_webhooks where connection_id = ${connectionId}`)).rows
      expect(rows).toEqual([{ topic: 'unsubscribe', deliveries: 2 }])
      expect(hub.logs.text).not.toContain(SERVER_TOKEN)
    })
  })
})

describe('WeChat template data', () => {
  it('a placeholder names a member field or nothing: one named like a built-in of JavaScript objects is empty', () => {
    const member = { name: '王小明', cardNo: 'C1', points: '10', tier: '', coupon: 'SAVE10' }
    const d = templateData({ data: { thing1: '{constructor}', thing2: '{toString}', keyword3: '{hasOwnProperty}', thing4: '{name} {cardNo}' } } as Parameters<typeof templateData>[0], member)
    expect([d.thing1!.value, d.thing2!.value, d.keyword3!.value, d.thing4!.value]).toEqual(['', '', '', '王小明 C1'])
  })
})
