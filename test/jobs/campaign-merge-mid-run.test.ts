// Members merged while a campaign run is under way, after one of them was already messaged: the person gets one
// message and one campaign coupon per run, whichever of them waited and however many merges it took.
import { afterEach, describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { http, HttpResponse } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { aliyunPhone, aliyunSmsSandbox } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { mailchimpSandbox } from '../../src/sandboxes/vendors/mailchimp.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'

const AK_ID = 'LTAI5tMergeMidRun'
const AK_SECRET = 'merge-mid-run-access-key-secret-0001'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000091'
const TOKEN = 'receipt-token-merge-mid-run-0123456'
const MC_KEY = '5a1b2c3d4e5f60718293a4b5c6d7e8f9-us21'
const MC_LIST = 'c4d2e81a9b'

describe('members merged in the middle of a campaign run', () => {
  const hub = useTestHub()
  const sms = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好，送您优惠券${coupon}，拒收请回复R' }, clock: () => hub.clock() })
  const mc = mailchimpSandbox({ apiKey: MC_KEY, listId: MC_LIST })
  const server = useMockServer(...sms.handlers, ...mc.handlers)
  afterEach(() => hub.setNow(undefined))

  let n = 0
  /** An SMS campaign with one coupon per recipient to `count` members who all consented; the numbers in `resting` are under the vendor's flow control for the first part of the run. */
  async function smsRun(count: number, resting: number[]) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-4) + String(++n % 10)
    const phones: string[] = []
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const r = await admin.post('/api/v1/members', { phone: `+86136${stamp}${String(i).padStart(3, '0')}`, name: `陈${i}`, consents: [{ channel: 'sms', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      phones.push(r.body.phone)
      ids.push(r.body.id)
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN, callbackToken: TOKEN } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
    expect(template.status, JSON.stringify(template.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const campaign = await admin.post('/api/v1/campaigns', { name: 'Autumn tea', segmentId: segment.body.id, connectionId: conn.body.id, message: { templateCode: TEMPLATE, signName: SIGN }, couponTemplateId: template.body.id, ratePerSecond: 1000 })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const ref = { merchantId: m.merchantId, campaignId: campaign.body.id as string, runKey: 'once' }

    for (const i of resting) sms.state.flowControlled.add(aliyunPhone(phones[i]!))
    const first = await sendCampaign(hub, ref, { ignoreQuietHours: true })
    expect(first.done).toBe(false)
    for (const i of resting) sms.state.flowControlled.delete(aliyunPhone(phones[i]!))
    expect(phones.map((p) => sms.sentTo(p).length)).toEqual(phones.map((_, i) => (resting.includes(i) ? 0 : 1)))

    const merge = async (target: number, source: number) => {
      const r = await admin.post(`/api/v1/members/${ids[target]}/merge`, { sourceId: ids[source] })
      expect(r.status, JSON.stringify(r.body)).toBe(200)
    }
    /** The rest of the run, once the resting recipients may be tried again. */
    const finish = async () => {
      hub.setNow(new Date(Date.now() + 2 * 60_000))
      let s = await sendCampaign(hub, ref, { ignoreQuietHours: true })
      for (let i = 0; i < 3 && !s.done; i++) s = await sendCampaign(hub, ref, { ignoreQuietHours: true })
      expect(s.done).toBe(true)
    }
    const outcome = async () => {
      const rows = (await hub.database.db.execute<{ member_id: string; status: string; reason: string | null }>(sql`select member_id, status, reason from campaign_deliveries where campaign_id = ${ref.campaignId}`)).rows
      const held = (await hub.database.db.execute<{ member_id: string; n: number }>(sql`
        select member_id, count(*)::int as n from coupons where template_id = ${template.body.id} and status <> 'void' group by member_id`)).rows
      return {
        messages: phones.map((p) => sms.sentTo(p).length),
        deliveries: ids.map((id) => {
          const r = rows.find((x) => x.member_id === id)!
          return { status: r.status, reason: r.reason }
        }),
        coupons: ids.map((id) => held.find((h) => h.member_id === id)?.n ?? 0),
        couponsIssued: (await admin.get(`/api/v1/campaigns/${ref.campaignId}`)).body.results.couponsIssued,
      }
    }
    return { merge, finish, outcome }
  }

  it.each([
    { waits: 1, sent: 0 },
    { waits: 0, sent: 1 },
  ])('a member already messaged is merged into one still waiting (member $waits): the survivor is skipped, no second message nor coupon', async ({ waits, sent }) => {
    const run = await smsRun(2, [waits])
    await run.merge(waits, sent)
    await run.finish()
    const out = await run.outcome()
    const expected = [0, 0].map((_, i) =>
      i === sent
        ? { message: 1, delivery: { status: 'accepted', reason: null }, coupons: 0 }
        : { message: 0, delivery: { status: 'skipped', reason: 'already_sent_to_merged' }, coupons: 1 },
    )
    // The coupon the person holds is the one their message named (it moved with the merge); the one issued to the
    // survivor on its throttled try is void.
    expect(out).toEqual({ messages: expected.map((e) => e.message), deliveries: expected.map((e) => e.delivery), coupons: expected.map((e) => e.coupons), couponsIssued: 1 })
  })

  it('a member still waiting is merged into one already messaged: it is skipped as merged, and the person keeps one coupon', async () => {
    const run = await smsRun(2, [1])
    await run.merge(0, 1)
    await run.finish()
    expect(await run.outcome()).toEqual({
      messages: [1, 0],
      deliveries: [
        { status: 'accepted', reason: null },
        { status: 'skipped', reason: 'member_merged' },
      ],
      coupons: [1, 0],
      couponsIssued: 1,
    })
  })

  it('merged twice (first into second, second into third) with the first already messaged: the third is not messaged either', async () => {
    const run = await smsRun(3, [1, 2])
    await run.merge(1, 0)
    await run.merge(2, 1)
    await run.finish()
    expect(await run.outcome()).toEqual({
      messages: [1, 0, 0],
      deliveries: [
        { status: 'accepted', reason: null },
        { status: 'skipped', reason: 'member_merged' },
        { status: 'skipped', reason: 'already_sent_to_merged' },
      ],
      coupons: [0, 0, 1],
      couponsIssued: 1,
    })
  })

  it('merged twice with the middle one already messaged: neither of the others is messaged', async () => {
    const run = await smsRun(3, [0, 2])
    await run.merge(1, 0)
    await run.merge(2, 1)
    await run.finish()
    expect(await run.outcome()).toEqual({
      messages: [0, 1, 0],
      deliveries: [
        { status: 'skipped', reason: 'member_merged' },
        { status: 'accepted', reason: null },
        { status: 'skipped', reason: 'already_sent_to_merged' },
      ],
      coupons: [0, 0, 1],
      couponsIssued: 1,
    })
  })

  it('Mailchimp (emails the run at its end): a member accepted by an earlier batch and merged into one still waiting gets the one email, with the one coupon', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-6)
    const members: { id: string; email: string }[] = []
    for (let i = 0; i < 2; i++) {
      const email = `merge${stamp}.${i}@example.com`
      const r = await admin.post('/api/v1/members', { phone: `+86135${stamp.slice(-5)}${String(i).padStart(3, '0')}`, name: `M${i}`, email, consents: [{ channel: 'email', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      members.push({ id: r.body.id, email })
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mailchimp', name: 'MC', config: { apiKey: MC_KEY, listId: MC_LIST, fromName: 'Tea House', replyTo: 'hello@teahouse.example' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'Spring',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: { subject: 'Hi {name}', body: 'Hello {name}, your coupon {coupon}' },
      couponTemplateId: template.body.id,
      // One member per batch.
      ratePerSecond: 1,
      quietStart: '00:00',
      quietEnd: '00:00',
    })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const ref = { merchantId: m.merchantId, campaignId: campaign.body.id as string, runKey: 'once' }
    // Mailchimp takes the first batch, then throttles the next for a while.
    let batches = 0
    let throttle = true
    server.use(
      http.post(`https://us21.api.mailchimp.com/3.0/lists/${MC_LIST}`, () => {
        if (batches++ >= 1 && throttle) return HttpResponse.json({ type: 'x', title: 'Too Many Requests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.' }, { status: 429 })
        return undefined
      }),
    )
    const first = await sendCampaign(hub, ref)
    expect([first.done, first.sent]).toEqual([false, 1])
    const deliveries = (await admin.get(`/api/v1/campaigns/${ref.campaignId}/deliveries`)).body.items as { memberId: string; status: string }[]
    const accepted = members.find((x) => x.id === deliveries.find((d) => d.status === 'accepted')!.memberId)!
    const waiting = members.find((x) => x !== accepted)!
    // Nothing has been emailed yet: the accepted member is merged into the waiting one.
    expect((await admin.post(`/api/v1/members/${waiting.id}/merge`, { sourceId: accepted.id })).status).toBe(200)
    throttle = false
    let s = await sendCampaign(hub, ref)
    for (let i = 0; i < 3 && !s.done; i++) s = await sendCampaign(hub, ref)
    expect(s.done).toBe(true)
    // The email already tagged is the person's; the survivor's own is skipped, as on a vendor that sends at once.
    expect([mc.sentTo(accepted.email).length, mc.sentTo(waiting.email).length]).toEqual([1, 0])
    const after = (await admin.get(`/api/v1/campaigns/${ref.campaignId}/deliveries`)).body.items as { memberId: string; status: string; reason: string | null }[]
    expect(after.find((d) => d.memberId === waiting.id)).toMatchObject({ status: 'skipped', reason: 'already_sent_to_merged' })
    const held = (await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from coupons where template_id = ${template.body.id} and status <> 'void' and member_id = ${waiting.id}`)).rows[0]!.n
    const results = (await admin.get(`/api/v1/campaigns/${ref.campaignId}`)).body.results
    expect({ held, issued: results.couponsIssued, accepted: results.counts.accepted }).toEqual({ held: 1, issued: 1, accepted: 1 })
  })
})
