// Mailchimp sends a run as a whole when it ends (finish): the members accepted batch by batch get the email only then.
// A run whose finish failed sends it on the job's retry; a member who withdrew consent in between is taken back.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { http, HttpResponse } from 'msw'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { mailchimpSandbox } from '../../src/sandboxes/vendors/mailchimp.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'

const API_KEY = '3f9a6c1e8b2d4a7f90c5e1d2b3a4f5e6-us21'
const LIST_ID = 'b7c3e91f2a'

describe('Mailchimp campaign runs', () => {
  const hub = useTestHub()
  const sim = mailchimpSandbox({ apiKey: API_KEY, listId: LIST_ID })
  const server = useMockServer(...sim.handlers)

  async function world(n: number, ratePerSecond: number, opts: { coupon?: boolean } = {}) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const members: { id: string; email: string }[] = []
    const stamp = String(Date.now()).slice(-6)
    for (let i = 0; i < n; i++) {
      const email = `run${stamp}.${i}@example.com`
      const r = await admin.post('/api/v1/members', { phone: `+86138${stamp.slice(-5)}${String(i).padStart(3, '0')}`, name: `M${i}`, email, consents: [{ channel: 'email', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      members.push({ id: r.body.id, email })
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mailchimp', name: 'MC', config: { apiKey: API_KEY, listId: LIST_ID, fromName: 'Tea House', replyTo: 'hello@teahouse.example' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const template = opts.coupon ? await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 }) : null
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'Spring',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: { subject: 'Hi {name}', body: template ? 'Hello {name}, your coupon {coupon}' : 'Hello {name}' },
      ...(template ? { couponTemplateId: template.body.id } : {}),
      ratePerSecond,
      quietStart: '00:00',
      quietEnd: '00:00',
    })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const id = campaign.body.id as string
    const run = async () => {
      let s = await sendCampaign(hub, { merchantId: m.merchantId, campaignId: id, runKey: 'once' })
      for (let i = 0; i < 3 && !s.done; i++) s = await sendCampaign(hub, { merchantId: m.merchantId, campaignId: id, runKey: 'once' })
      return s
    }
    return { m, admin, members, id, run }
  }

  it('a run whose send failed at the end sends on the retry, to every member accepted before', async () => {
    const w = await world(2, 100)
    // Mailchimp fails the campaign's send action once (an outage): the members were upserted and tagged before.
    let failures = 1
    server.use(
      http.post(/\/3\.0\/campaigns\/[^/]+\/actions\/send$/, () => {
        if (failures-- > 0) return new HttpResponse('<html>503</html>', { status: 503, headers: { 'content-type': 'text/html' } })
        return undefined
      }),
    )
    await expect(sendCampaign(hub, { merchantId: w.m.merchantId, campaignId: w.id, runKey: 'once' })).rejects.toThrow()
    expect(w.members.map((x) => sim.sentTo(x.email).length)).toEqual([0, 0])
    // The job's retry accepts nobody new (both were accepted by the first try), and still sends the run.
    const s = await w.run()
    expect([s.done, s.sent]).toEqual([true, 0])
    const results = (await w.admin.get(`/api/v1/campaigns/${w.id}`)).body
    expect([results.status, results.results.counts.accepted]).toEqual(['sent', 2])
    expect(w.members.map((x) => sim.sentTo(x.email).length)).toEqual([1, 1])
    // Another retry sends nothing more.
    await sendCampaign(hub, { merchantId: w.m.merchantId, campaignId: w.id, runKey: 'once' })
    expect(w.members.map((x) => sim.sentTo(x.email).length)).toEqual([1, 1])
  })

  it('a member accepted by an earlier batch who withdraws email consent before the run goes out gets nothing, and the coupon issued with it is void', async () => {
    // One member per batch; Mailchimp takes the first batch, then throttles the next for a while.
    const w = await world(2, 1, { coupon: true })
    let batches = 0
    let throttle = true
    server.use(
      http.post(`https://us21.api.mailchimp.com/3.0/lists/${LIST_ID}`, () => {
        if (batches++ >= 1 && throttle) return HttpResponse.json({ type: 'x', title: 'Too Many Requests', status: 429, detail: 'You have exceeded the limit of 10 simultaneous connections.' }, { status: 429 })
        return undefined
      }),
    )
    const first = await sendCampaign(hub, { merchantId: w.m.merchantId, campaignId: w.id, runKey: 'once' })
    expect([first.done, first.sent]).toEqual([false, 1])
    const deliveries = (await w.admin.get(`/api/v1/campaigns/${w.id}/deliveries`)).body.items as { id: string; memberId: string; status: string }[]
    const accepted = deliveries.find((d) => d.status === 'accepted')!
    const withdrawn = w.members.find((x) => x.id === accepted.memberId)!
    const other = w.members.find((x) => x.id !== accepted.memberId)!
    // The accepted member withdraws email consent at the till; nothing has been emailed yet.
    const patch = await w.admin.patch(`/api/v1/members/${withdrawn.id}`, { consents: [{ channel: 'email', granted: false, source: 'till' }] })
    expect(patch.status, JSON.stringify(patch.body)).toBe(200)
    throttle = false
    expect((await w.run()).done).toBe(true)
    expect([sim.sentTo(other.email).length, sim.sentTo(withdrawn.email).length]).toEqual([1, 0])
    // The tag came off that member in Mailchimp, and the delivery reads as not sent, for want of consent.
    expect(sim.tagged(`tb-${w.id}:once`)).toEqual([other.email])
    const after = (await w.admin.get(`/api/v1/campaigns/${w.id}/deliveries`)).body.items as { id: string; status: string }[]
    expect(after.find((d) => d.id === accepted.id)).toMatchObject({ status: 'suppressed' })
    const results = (await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.results
    expect([results.counts.accepted, results.counts.suppressed, results.couponsIssued]).toEqual([1, 1, 1])
    const held = (await w.admin.get(`/api/v1/members/${withdrawn.id}/coupons`)).body.items as { status: string }[]
    expect(held.filter((c) => c.status === 'issued')).toEqual([])
  })
})
