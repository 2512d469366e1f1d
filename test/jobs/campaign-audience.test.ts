// A campaign's audience changing while its run sends: members merged, consent withdrawn; and a campaign naming a
// coupon template that does not exist.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { aliyunPhone, aliyunSmsSandbox } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { createApp } from '../../src/http/app.ts'
import { formClient } from '../helpers/form-client.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'
import { drainJobs } from '../helpers/jobs.ts'

const AK_ID = 'LTAI5tCampaignAudience'
const AK_SECRET = 'campaign-audience-access-key-secret-01'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000009'
const TEMPLATE2 = 'SMS_480000010'
const TOKEN = 'receipt-token-audience-0123456789'

describe('campaign runs while their audience changes', () => {
  const hub = useTestHub()
  const sim = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好，送您优惠券${coupon}，拒收请回复R', [TEMPLATE2]: '${name}您好，新茶上市，拒收请回复R' }, clock: () => hub.clock() })
  useMockServer(...sim.handlers)

  let n = 0
  async function world(opts: { members: number; coupon?: boolean | string; rate?: number }) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-4) + String(++n % 10)
    const phones: string[] = []
    const ids: string[] = []
    for (let i = 0; i < opts.members; i++) {
      const phone = `+86138${stamp}${String(i).padStart(3, '0')}`
      const r = await admin.post('/api/v1/members', { phone, name: `王小明${i}`, consents: [{ channel: 'sms', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      phones.push(r.body.phone)
      ids.push(r.body.id)
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN, callbackToken: TOKEN } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    let couponTemplateId: string | undefined
    if (opts.coupon === true) {
      const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
      expect(template.status, JSON.stringify(template.body)).toBe(201)
      couponTemplateId = template.body.id
    } else if (typeof opts.coupon === 'string') couponTemplateId = opts.coupon
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    expect(segment.status, JSON.stringify(segment.body)).toBe(201)
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'New tea',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: { templateCode: opts.coupon ? TEMPLATE : TEMPLATE2, signName: SIGN },
      ...(couponTemplateId ? { couponTemplateId } : {}),
      ratePerSecond: opts.rate ?? 1000,
    })
    const ref = { merchantId: m.merchantId, campaignId: campaign.body.id as string, runKey: 'once' }
    return { m, admin, phones, ids, campaign, ref, campaignId: campaign.body.id as string, connectionId: conn.body.id as string }
  }
  const sentTo = (phones: string[]) => phones.map((p) => sim.sentTo(p).length)
  const statuses = async (campaignId: string) =>
    (await hub.database.db.execute<{ member_id: string; status: string; reason: string | null; coupon_id: string | null }>(sql`select member_id, status, reason, coupon_id from campaign_deliveries where campaign_id = ${campaignId} order by member_id`)).rows

  const run = async (ref: { merchantId: string; campaignId: string; runKey: string }) => {
    let s = await sendCampaign(hub, ref, { ignoreQuietHours: true })
    for (let i = 0; i < 3 && !s.done; i++) s = await sendCampaign(hub, ref, { ignoreQuietHours: true })
    return s
  }

  it('members merged while a run is under way: the person gets one message, the merged-away member none', async () => {
    const w = await world({ members: 2 })
    expect(w.campaign.status).toBe(201)
    // The vendor throttles the first calls: the run snapshots its audience and stops with everyone pending.
    sim.state.throttleNext = 50
    const first = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    sim.state.throttleNext = 0
    expect(first.added).toBe(2)
    expect(sentTo(w.phones)).toEqual([0, 0])
    // The shop finds both are the same person and merges the second into the first.
    expect((await w.admin.post(`/api/v1/members/${w.ids[0]}/merge`, { sourceId: w.ids[1] })).status).toBe(200)
    expect((await run(w.ref)).done).toBe(true)
    expect(sentTo(w.phones)).toEqual([1, 0])
    const rows = await statuses(w.campaignId)
    expect(rows.find((r) => r.member_id === w.ids[0])).toMatchObject({ status: 'accepted' })
    expect(rows.find((r) => r.member_id === w.ids[1])).toMatchObject({ status: 'skipped', reason: 'member_merged' })
  })

  it('a campaign naming a coupon template that does not exist, or is another merchant’s, is refused at creation', async () => {
    const w = await world({ members: 1, coupon: '0195d1c1-0000-7000-8000-000000000001' })
    expect(w.campaign.status).toBe(404)
    expect(w.campaign.body.error.code).toBe('coupon_template_not_found')
    const other = await world({ members: 1, coupon: true })
    const theirs = (await other.admin.get(`/api/v1/campaigns/${other.campaignId}`)).body.couponTemplateId
    const mine = await world({ members: 1, coupon: theirs })
    expect(mine.campaign.status).toBe(404)
    expect((await mine.admin.get('/api/v1/campaigns')).body.items).toEqual([])
  })

  it('a member who withdraws consent after a throttled try is not messaged, and the coupon issued then is voided', async () => {
    const w = await world({ members: 2, coupon: true })
    // Coupons are issued as a batch is claimed; the vendor then throttles the call, so nobody got a message yet.
    sim.state.throttleNext = 50
    await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    sim.state.throttleNext = 0
    expect((await statuses(w.campaignId)).every((r) => r.coupon_id !== null)).toBe(true)
    expect((await w.admin.patch(`/api/v1/members/${w.ids[1]}`, { consents: [{ channel: 'sms', granted: false, source: 'till' }] })).status).toBe(200)
    expect((await run(w.ref)).done).toBe(true)
    expect(sentTo(w.phones)).toEqual([1, 0])
    const withdrawn = (await statuses(w.campaignId)).find((r) => r.member_id === w.ids[1])!
    expect(withdrawn).toMatchObject({ status: 'suppressed', reason: 'no_consent' })
    const coupon = (await hub.database.db.execute<{ status: string }>(sql`select status from coupons where id = ${withdrawn.coupon_id}`)).rows[0]
    expect(coupon).toEqual({ status: 'void' })
    const results = (await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results
    expect(results).toMatchObject({ couponsIssued: 1, counts: { accepted: 1, suppressed: 1 } })
    // Sent, it stays on record as sent, by the API and by the dashboard.
    const cancel = await w.admin.post(`/api/v1/campaigns/${w.campaignId}/cancel`)
    expect([cancel.status, cancel.body.error?.code]).toEqual([409, 'campaign_sent'])
    const browser = formClient(createApp(hub))
    expect((await browser.login(w.m.adminEmail, w.m.password)).status).toBe(303)
    const page = await browser.get(`/dashboard/campaigns/${w.campaignId}`)
    const viaDashboard = await browser.post(`/dashboard/campaigns/${w.campaignId}/cancel`, { _csrf: browser.hidden(page.text, '_csrf')! })
    expect(viaDashboard.status).toBe(409)
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.status).toBe('sent')
  })

  it('a message the vendor refuses for good is never sent, and the coupon issued with it is voided', async () => {
    const w = await world({ members: 2, coupon: true })
    sim.state.invalidNumbers.add(aliyunPhone(w.phones[1]!))
    expect((await run(w.ref)).done).toBe(true)
    expect(sentTo(w.phones)).toEqual([1, 0])
    const refused = (await statuses(w.campaignId)).find((r) => r.member_id === w.ids[1])!
    expect(refused.status).toBe('failed')
    expect((await hub.database.db.execute<{ status: string }>(sql`select status from coupons where id = ${refused.coupon_id}`)).rows).toEqual([{ status: 'void' }])
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results.couponsIssued).toBe(1)
  })

  it('a campaign naming a coupon template that is switched off or over is refused at creation', async () => {
    const w = await world({ members: 1, coupon: true })
    const first = (await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body
    const again = (over: Record<string, unknown> = {}) =>
      w.admin.post('/api/v1/campaigns', { name: 'Again', segmentId: first.segmentId, connectionId: first.connectionId, message: first.message, couponTemplateId: first.couponTemplateId, ...over })
    expect((await w.admin.patch(`/api/v1/coupon-templates/${first.couponTemplateId}`, { active: false })).status).toBe(200)
    const off = await again()
    expect([off.status, off.body.error?.code]).toEqual([409, 'template_inactive'])
    const ended = await w.admin.post('/api/v1/coupon-templates', { name: 'Autumn', kind: 'amount_off', amount: 500, validTo: '2020-01-01T00:00:00Z' })
    expect(ended.status, JSON.stringify(ended.body)).toBe(201)
    const over = await again({ couponTemplateId: ended.body.id })
    expect([over.status, over.body.error?.code]).toEqual([409, 'template_expired'])
    expect((await w.admin.get('/api/v1/campaigns')).body.items).toHaveLength(1)
  })
})
