// Campaign runs that do not go straight through, with the simulated Alibaba Cloud SMS: recipients sent again
// (throttled per number, or refused before sending) keep one coupon, nobody is sent an empty coupon code, a batch the
// vendor refused with a 503 is sent again (one it may have taken stays unknown), and a run cancelled while sending stops.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { http, HttpResponse } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { aliyunSmsSandbox } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'

const AK_ID = 'LTAI5tCampaignTest03'
const AK_SECRET = 'campaign-test-access-key-secret-03'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000012'
const PLAIN = 'SMS_480000013'
const TOKEN = 'receipt-token-campaign-retries-01'

describe('campaign runs that do not go straight through', () => {
  const hub = useTestHub()
  const sim = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好，送您优惠券${coupon}，拒收请回复R', [PLAIN]: '${name}您好，新茶上市，拒收请回复R' }, clock: () => hub.clock() })
  const server = useMockServer(...sim.handlers)

  let n = 0
  async function world(opts: { members: number; coupon?: boolean; ratePerSecond?: number; perMemberLimit?: number }) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-4) + String(++n % 10)
    const phones: string[] = []
    const memberIds: string[] = []
    for (let i = 0; i < opts.members; i++) {
      const phone = `+86137${stamp}${String(i).padStart(3, '0')}`
      const r = await admin.post('/api/v1/members', { phone, name: `会员${i}`, consents: [{ channel: 'sms', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      phones.push(r.body.phone)
      memberIds.push(r.body.id)
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN, callbackToken: TOKEN } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    let templateId: string | undefined
    if (opts.coupon) {
      const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30, ...(opts.perMemberLimit ? { perMemberLimit: opts.perMemberLimit } : {}) })
      expect(template.status, JSON.stringify(template.body)).toBe(201)
      templateId = template.body.id
    }
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    expect(segment.status, JSON.stringify(segment.body)).toBe(201)
    const mk = async (name: string) => {
      const campaign = await admin.post('/api/v1/campaigns', {
        name,
        segmentId: segment.body.id,
        connectionId: conn.body.id,
        message: { templateCode: templateId ? TEMPLATE : PLAIN, signName: SIGN },
        ...(templateId ? { couponTemplateId: templateId } : {}),
        ratePerSecond: opts.ratePerSecond ?? 1000,
        quietStart: '00:00',
        quietEnd: '00:00',
      })
      expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
      return { id: campaign.body.id as string, ref: { merchantId: m.merchantId, campaignId: campaign.body.id as string, runKey: 'once' } }
    }
    const c = await mk('Winter tea')
    return { m, store, admin, phones, memberIds, connectionId: conn.body.id as string, templateId, mk, ...c }
  }
  const couponsOf = async (merchantId: string) =>
    (await hub.database.db.execute<{ member_id: string; n: number }>(sql`select member_id, count(*)::int as n from coupons where merchant_id = ${merchantId} group by 1`)).rows

  it('a number under per-number flow control that is retried later gets only one coupon', async () => {
    const w = await world({ members: 2, coupon: true })
    const limited = w.phones[1]!.replace('+86', '')
    sim.state.flowControlled.add(limited)
    await sendCampaign(hub, w.ref)
    sim.state.flowControlled.delete(limited)
    hub.setNow(new Date(Date.now() + 2 * 60_000))
    try {
      const later = await sendCampaign(hub, w.ref)
      expect(later.done).toBe(true)
    } finally {
      hub.setNow(undefined)
    }
    const coupons = await couponsOf(w.m.merchantId)
    const mine = coupons.find((c) => c.member_id === w.memberIds[1])
    expect(mine?.n).toBe(1)
  })

  it('a member already at the template per-member limit is skipped, not sent a message with an empty coupon code', async () => {
    const w = await world({ members: 1, coupon: true, perMemberLimit: 1 })
    const pre = await w.admin.post('/api/v1/coupons/issue', { templateId: w.templateId, memberIds: [w.memberIds[0]] })
    expect(pre.status, JSON.stringify(pre.body)).toBeLessThan(300)
    const s = await sendCampaign(hub, w.ref)
    expect(s.done).toBe(true)
    const sent = sim.sentTo(w.phones[0]!)
    // Already at the limit: no message with an empty code; the delivery says why.
    expect(sent).toEqual([])
    const results = (await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.results
    expect(results.counts.skipped).toBe(1)
    expect(results.couponsIssued).toBe(0)
  })
  it('an account out of service (a refusal: nothing sent) fails the run and leaves every recipient to be sent once it is back', async () => {
    // More recipients than one batch (100): the run's senders work side by side, and the first refusal comes back
    // while another's call is still out. The run ends only when that one is back too, every recipient still to be
    // sent (none left claimed by a sender still at work).
    const w = await world({ members: 101 })
    sim.state.outOfService = true
    let calls = 0
    server.use(
      http.post('https://dysmsapi.aliyuncs.com/', async () => {
        if (calls++ > 0) await new Promise((r) => setTimeout(r, 300))
      }),
    )
    await expect(sendCampaign(hub, w.ref)).rejects.toThrow(/OUT_OF_SERVICE|service/i)
    const waiting = await hub.database.db.execute<{ status: string; n: number }>(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${w.id} group by 1`)
    expect(waiting.rows).toEqual([{ status: 'pending', n: 101 }])
    sim.state.outOfService = false
    let again = await sendCampaign(hub, w.ref)
    for (let i = 0; i < 3 && !again.done; i++) again = await sendCampaign(hub, w.ref)
    expect(again.done).toBe(true)
    expect(new Set(w.phones.map((p) => sim.sentTo(p).length))).toEqual(new Set([1]))
  })
  // Aliyun documents 503 ServiceUnavailable as the server being unable to handle the request (a 500 InternalError as
  // processing that failed partway), and our HTTP client reports a 503 as not acted on (ConnectorError.notSent).
  it('a batch refused with a 503 (Aliyun took nothing) goes back to pending, the run pauses, and it is sent once when Aliyun is back', async () => {
    const w = await world({ members: 3, ratePerSecond: 1, coupon: true })
    sim.state.down = true
    let first
    try {
      first = await sendCampaign(hub, w.ref)
    } finally {
      sim.state.down = false
    }
    expect(first.done).toBe(false)
    expect(first.resumeAt!.getTime()).toBeGreaterThanOrEqual(Date.now() + 50_000)
    const during = await hub.database.db.execute<{ status: string; n: number }>(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${w.id} group by 1 order by 1`)
    expect(during.rows).toEqual([{ status: 'pending', n: 3 }])
    let again = await sendCampaign(hub, w.ref)
    for (let i = 0; i < 5 && !again.done; i++) again = await sendCampaign(hub, w.ref)
    expect(again.done).toBe(true)
    expect(w.phones.map((p) => sim.sentTo(p).length)).toEqual([1, 1, 1])
    // The recipient refused first keeps the coupon it was issued then: one each.
    expect((await couponsOf(w.m.merchantId)).map((c) => c.n)).toEqual([1, 1, 1])
  }, 20_000)

  it('a vendor outage answering 500 pauses the run: the batch in flight stays unknown (never resent), the rest wait and go once it is back', async () => {
    const w = await world({ members: 3, ratePerSecond: 1 })
    let failing = true
    server.use(
      http.post('https://dysmsapi.aliyuncs.com/', async ({ request }) => {
        if (!failing || !(await request.clone().text()).includes('SendBatchSms')) return undefined
        return HttpResponse.json({ Code: 'InternalError', Message: 'The request processing has failed due to some unknown error, exception or failure.' }, { status: 500 })
      }),
    )
    const first = await sendCampaign(hub, w.ref)
    expect(first.done).toBe(false)
    expect(first.resumeAt).toBeDefined()
    const during = await hub.database.db.execute<{ status: string; n: number }>(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${w.id} group by 1 order by 1`)
    expect(during.rows).toEqual([
      { status: 'pending', n: 2 },
      { status: 'unknown', n: 1 },
    ])
    failing = false
    let again = await sendCampaign(hub, w.ref)
    for (let i = 0; i < 5 && !again.done; i++) again = await sendCampaign(hub, w.ref)
    expect(again.done).toBe(true)
    expect(w.phones.map((p) => sim.sentTo(p).length).sort()).toEqual([0, 1, 1])
  })

  it('a campaign cancelled while its run is sending sends nothing more and stays cancelled', async () => {
    const w = await world({ members: 4, ratePerSecond: 1 })
    let calls = 0
    server.use(
      http.post('https://dysmsapi.aliyuncs.com/', async ({ request }) => {
        if ((await request.clone().text()).includes('SendBatchSms') && calls++ === 0) expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
        return undefined
      }),
    )
    const s = await sendCampaign(hub, w.ref)
    expect(s.done).toBe(true)
    expect(w.phones.map((p) => sim.sentTo(p).length).reduce((a, b) => a + b, 0)).toBe(1)
    expect((await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.status).toBe('cancelled')
  }, 20_000)
})
