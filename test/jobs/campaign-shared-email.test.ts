// Members sharing one email address (a family, a shop's own address): Mailchimp keeps one list member per address and
// emails it once, so a run delivers to one of them; the others are skipped as a duplicate address, with no coupon.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { mailchimpSandbox } from '../../src/sandboxes/vendors/mailchimp.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'

const API_KEY = '7b2c4d6e8f0a1b3c5d7e9f1a2b4c6d8e-us21'
const LIST_ID = 'd9e8f7a6b5'

describe('members sharing one email address in a campaign run', () => {
  const hub = useTestHub()
  const sim = mailchimpSandbox({ apiKey: API_KEY, listId: LIST_ID })
  useMockServer(...sim.handlers)

  let seq = 0
  async function world(emails: string[], ratePerSecond: number) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-5) + String(++seq % 10)
    const members: { id: string }[] = []
    for (let i = 0; i < emails.length; i++) {
      const r = await admin.post('/api/v1/members', { phone: `+86134${stamp.slice(-5)}${String(i).padStart(3, '0')}`, name: `M${i}`, email: `m${stamp}.${i}@example.com`, consents: [{ channel: 'email', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      // Stored as typed at the till, spelling and all: the run must still see one address.
      await hub.database.db.execute(sql`update members set email = ${emails[i]!.replace('{s}', stamp)} where id = ${r.body.id}`)
      members.push({ id: r.body.id })
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'mailchimp', name: 'MC', config: { apiKey: API_KEY, listId: LIST_ID, fromName: 'Tea House', replyTo: 'hello@teahouse.example' } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'Spring',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: { subject: 'Hi {name}', body: 'Hello {name}, your coupon {coupon}' },
      couponTemplateId: template.body.id,
      ratePerSecond,
      quietStart: '00:00',
      quietEnd: '00:00',
    })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const id = campaign.body.id as string
    const run = async () => {
      let s = await sendCampaign(hub, { merchantId: m.merchantId, campaignId: id, runKey: 'once' })
      for (let i = 0; i < 5 && !s.done; i++) s = await sendCampaign(hub, { merchantId: m.merchantId, campaignId: id, runKey: 'once' })
      return s
    }
    const liveCodes = async () =>
      Promise.all(members.map(async (x) => ((await admin.get(`/api/v1/members/${x.id}/coupons`)).body.items ?? []).filter((c: { status: string }) => c.status === 'issued').map((c: { code: string }) => c.code as string)))
    return { m, admin, members, id, stamp, run, liveCodes }
  }

  it('two members sharing an address in one batch: one email goes out with its coupon, the other is skipped as a duplicate address with no coupon', async () => {
    const w = await world(['family{s}@example.com', '  Family{s}@Example.COM '], 100)
    expect((await w.run()).done).toBe(true)
    const mails = sim.sentTo(`family${w.stamp}@example.com`)
    expect(mails).toHaveLength(1)
    const results = (await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.results
    expect([results.counts.accepted, results.counts.skipped, results.couponsIssued]).toEqual([1, 1, 1])
    const deliveries = (await w.admin.get(`/api/v1/campaigns/${w.id}/deliveries`)).body.items as { status: string; reason: string | null }[]
    expect(deliveries.find((d) => d.status === 'skipped')).toMatchObject({ reason: 'duplicate_address' })
    // Every live coupon of the campaign is in the email that went out.
    const codes = (await w.liveCodes()).flat()
    expect(codes).toHaveLength(1)
    expect(mails[0]!.html).toContain(codes[0])
  }, 20_000)

  it('two members sharing an address in different batches: the later batch skips it, and only one email and one coupon go out', async () => {
    const w = await world(['one{s}@example.com', 'shared{s}@example.com', 'SHARED{s}@example.com'], 1)
    expect((await w.run()).done).toBe(true)
    expect(sim.sentTo(`shared${w.stamp}@example.com`)).toHaveLength(1)
    expect(sim.sentTo(`one${w.stamp}@example.com`)).toHaveLength(1)
    const results = (await w.admin.get(`/api/v1/campaigns/${w.id}`)).body.results
    expect([results.counts.accepted, results.counts.skipped, results.couponsIssued]).toEqual([2, 1, 2])
    const codes = await w.liveCodes()
    expect(codes[0]).toHaveLength(1)
    expect(codes[1]!.length + codes[2]!.length).toBe(1)
  }, 30_000)
})
