// A campaign cancelled in the middle of a run: the recipients it never messaged end as not sent, the coupons issued
// for them are void and not counted, and (Mailchimp, which emails a run only when it ends) members accepted batch by
// batch are taken back: no email, no coupon, no sale attributed. With the simulated Alibaba Cloud SMS and Mailchimp.
import { afterEach, describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { http, HttpResponse } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { aliyunSmsSandbox } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { mailchimpSandbox } from '../../src/sandboxes/vendors/mailchimp.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'

const AK_ID = 'LTAI5tCampaignCancel01'
const AK_SECRET = 'campaign-cancel-access-key-secret-01'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000131'
const API_KEY = '5d1e7a3c9b0f4e2a81c6d7e8f9a0b1c2-us21'
const LIST_ID = 'c4d5e6f7a8'

describe('a campaign cancelled mid-run', () => {
  const hub = useTestHub()
  const sms = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好，送您优惠券${coupon}，拒收请回复R' }, clock: () => hub.clock() })
  const mail = mailchimpSandbox({ apiKey: API_KEY, listId: LIST_ID })
  const server = useMockServer(...sms.handlers, ...mail.handlers)
  afterEach(() => hub.setNow(undefined))

  let n = 0
  async function world(channel: 'sms' | 'email', members: number, ratePerSecond: number) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-4) + String(++n % 10)
    const list: { id: string; phone: string; email: string }[] = []
    for (let i = 0; i < members; i++) {
      const email = `cancel${stamp}.${i}@example.com`
      const r = await admin.post('/api/v1/members', { phone: `+86139${stamp}${String(i).padStart(3, '0')}`, name: `会员${i}`, email, consents: [{ channel, granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      list.push({ id: r.body.id, phone: r.body.phone, email })
    }
    const config = channel === 'sms' ? { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN } } : { connectorId: 'mailchimp', name: 'MC', config: { apiKey: API_KEY, listId: LIST_ID, fromName: 'Tea House', replyTo: 'hello@teahouse.example' } }
    const conn = await admin.post('/api/v1/connections', config)
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
    expect(template.status, JSON.stringify(template.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'Winter tea',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: channel === 'sms' ? { templateCode: TEMPLATE, signName: SIGN } : { subject: 'Hi {name}', body: 'Hello {name}, your coupon {coupon}' },
      couponTemplateId: template.body.id,
      ratePerSecond,
      quietStart: '00:00',
      quietEnd: '00:00',
    })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const id = campaign.body.id as string
    const results = async () => (await admin.get(`/api/v1/campaigns/${id}`)).body.results
    const liveCoupons = async () =>
      (await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from coupons where merchant_id = ${m.merchantId} and status = 'issued'`)).rows[0]!.n
    const deliveries = async () => (await hub.database.db.execute<{ member_id: string; status: string; reason: string | null }>(sql`select member_id, status, reason from campaign_deliveries where campaign_id = ${id}`)).rows
    return { m, store, admin, members: list, id, ref: { merchantId: m.merchantId, campaignId: id, runKey: 'once' }, results, liveCoupons, deliveries }
  }

  it('a recipient throttled per number and then the campaign cancelled ends not sent, and its coupon is void and not counted', async () => {
    const w = await world('sms', 2, 1000)
    const limited = w.members[1]!.phone.replace('+86', '')
    sms.state.flowControlled.add(limited)
    const first = await sendCampaign(hub, w.ref)
    expect(first.done).toBe(false)
    expect(sms.sentTo(w.members[1]!.phone)).toHaveLength(0)
    expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
    // The cancel itself settles it: nobody waits for the run's next job to see the report right.
    expect((await w.results()).couponsIssued).toBe(1)
    expect(await w.liveCoupons()).toBe(1)
    expect((await w.deliveries()).find((d) => d.member_id === w.members[1]!.id)).toMatchObject({ status: 'skipped', reason: 'campaign_cancelled' })
    sms.state.flowControlled.delete(limited)
    hub.setNow(new Date(Date.now() + 2 * 60_000))
    const after = await sendCampaign(hub, w.ref)
    expect(after.done).toBe(true)
    expect(sms.sentTo(w.members[1]!.phone)).toHaveLength(0)
    const results = await w.results()
    expect([results.couponsIssued, results.counts.accepted, results.counts.skipped, results.counts.pending]).toEqual([1, 1, 1, 0])
    const coupons = (await w.admin.get(`/api/v1/members/${w.members[1]!.id}/coupons`)).body
    expect((coupons.items ?? coupons).filter((c: { status: string }) => c.status === 'issued')).toHaveLength(0)
  })

  it('a whole call throttled and then the campaign cancelled leaves no coupon issued to members never messaged', async () => {
    const w = await world('sms', 3, 1000)
    sms.state.throttleNext = 10
    try {
      const first = await sendCampaign(hub, w.ref)
      expect(first.sent).toBe(0)
    } finally {
      sms.state.throttleNext = 0
    }
    expect(await w.liveCoupons()).toBe(3)
    expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
    const after = await sendCampaign(hub, w.ref)
    expect(after.done).toBe(true)
    expect(w.members.map((x) => sms.sentTo(x.phone).length)).toEqual([0, 0, 0])
    const results = await w.results()
    expect([results.couponsIssued, results.counts.skipped, results.counts.pending]).toEqual([0, 3, 0])
    expect(await w.liveCoupons()).toBe(0)
    expect((await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.status).toBe('cancelled')
  })

  it('a batch throttled after the cancel (the call was in flight) ends not sent when the run sees the cancel', async () => {
    const w = await world('sms', 2, 1000)
    // The cancel lands while Aliyun holds the batch's call, and Aliyun then throttles it: back to pending after the
    // cancel, so the run itself must settle it.
    let cancelled = false
    server.use(
      http.post('https://dysmsapi.aliyuncs.com/', async ({ request }) => {
        if (cancelled || !(await request.clone().text()).includes('SendBatchSms')) return undefined
        cancelled = true
        expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
        sms.state.throttleNext = 10
        return undefined
      }),
    )
    let s
    try {
      s = await sendCampaign(hub, w.ref)
    } finally {
      sms.state.throttleNext = 0
    }
    expect(s.done).toBe(true)
    const results = await w.results()
    expect([results.couponsIssued, results.counts.skipped, results.counts.pending, results.counts.claimed]).toEqual([0, 2, 0, 0])
    expect(await w.liveCoupons()).toBe(0)
    // The run is over on the jobs page too: its progress is finished, not left running (and later "stalled").
    const progress = await hub.database.db.execute<{ finished_at: Date | null }>(sql`select finished_at from job_progress where task = 'campaigns.send' and key = ${`${w.id}:once`}`)
    expect(progress.rows).toHaveLength(1)
    expect(progress.rows[0]!.finished_at).not.toBeNull()
  })

  it('a Mailchimp run cancelled after a batch was accepted but before the run went out emails nobody, voids its coupons and is credited with no sale', async () => {
    const w = await world('email', 2, 1)
    let batches = 0
    server.use(
      http.post(`https://us21.api.mailchimp.com/3.0/lists/${LIST_ID}`, () => {
        if (batches++ >= 1) return HttpResponse.json({ type: 'x', title: 'Too Many Requests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.' }, { status: 429 })
        return undefined
      }),
    )
    const first = await sendCampaign(hub, w.ref)
    expect([first.done, first.sent]).toEqual([false, 1])
    const accepted = (await w.deliveries()).find((d) => d.status === 'accepted')!
    const tag = `tb-${w.id}:once`
    expect(mail.tagged(tag)).toHaveLength(1)
    server.resetHandlers()
    expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
    // The cancel queues the run's job, which takes the accepted member back from Mailchimp.
    await drainJobs(hub)
    expect(mail.tagged(tag)).toEqual([])
    expect(w.members.map((x) => mail.sentTo(x.email).length)).toEqual([0, 0])
    expect((await w.deliveries()).find((d) => d.member_id === accepted.member_id)).toMatchObject({ status: 'skipped', reason: 'campaign_cancelled' })
    // The member who was accepted buys: no email went out, so the campaign brought no sale.
    const item = await seedProduct(hub, w.store, { price: 2500, stock: 10 })
    expect((await w.admin.post('/api/v1/cash-sessions', { registerId: w.store.registerId, openingFloat: 0 })).status).toBeLessThan(300)
    const sale = await w.admin.post('/api/v1/sales', { registerId: w.store.registerId, memberId: accepted.member_id, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 2500 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    const results = await w.results()
    expect({ accepted: results.counts.accepted, skipped: results.counts.skipped, couponsIssued: results.couponsIssued, attributedSales: results.attributedSales, attributedRevenue: results.attributedRevenue }).toEqual({
      accepted: 0,
      skipped: 2,
      couponsIssued: 0,
      attributedSales: 0,
      attributedRevenue: 0,
    })
    expect(await w.liveCoupons()).toBe(0)
    // A later job of the run (a retry) sends nothing.
    const again = await sendCampaign(hub, w.ref)
    expect(again.done).toBe(true)
    expect(w.members.map((x) => mail.sentTo(x.email).length)).toEqual([0, 0])
  }, 20_000)

  it('a Mailchimp run that went out though its send failed here, then cancelled, keeps its recipients as sent with their coupons', async () => {
    const w = await world('email', 2, 100)
    server.use(http.post(/\/3\.0\/campaigns\/[^/]+\/actions\/send$/, () => new HttpResponse('<html>503</html>', { status: 503, headers: { 'content-type': 'text/html' } })))
    await expect(sendCampaign(hub, w.ref)).rejects.toThrow()
    server.resetHandlers()
    // Someone sends the prepared campaign from Mailchimp's own screens before the job's retry.
    const prepared = mail.campaignByTitle(`tb-${w.id}:once`)!
    const sent = await fetch(`https://us21.api.mailchimp.com/3.0/campaigns/${prepared.id}/actions/send`, { method: 'POST', headers: { authorization: `Basic ${Buffer.from(`any:${API_KEY}`).toString('base64')}` } })
    expect(sent.status).toBe(204)
    expect(w.members.map((x) => mail.sentTo(x.email).length)).toEqual([1, 1])
    expect((await w.admin.post(`/api/v1/campaigns/${w.id}/cancel`, {})).status).toBe(200)
    await drainJobs(hub)
    const results = await w.results()
    expect([results.counts.accepted, results.counts.skipped, results.couponsIssued]).toEqual([2, 0, 2])
    expect(await w.liveCoupons()).toBe(2)
  }, 20_000)
})
