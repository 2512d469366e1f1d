// A campaign end to end: members with and without consent, a segment, an SMS campaign with a coupon through the
// Alibaba Cloud SMS sandbox, quiet hours, throttling, a crash mid-batch, receipts and STOP replies as webhooks, and
// the results with attributed revenue.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { aliyunPhone, aliyunSmsSandbox, beijingTime } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { sendCampaign } from '../../src/jobs/campaigns.ts'
import { applyCampaignEvents, claimBatch, getCampaign, recordOutcomes, snapshotAudience, type ClaimedDelivery } from '../../src/core/campaigns/service.ts'
import { vendorMessageIdOf } from '../../src/connectors/campaign/aliyun-sms/phone.ts'
import { drainJobs } from '../helpers/jobs.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const AK_ID = 'LTAI5tCampaignTest01'
const AK_SECRET = 'campaign-test-access-key-secret-01'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000001'
const TOKEN = 'receipt-token-0123456789'

describe('campaign sends through Alibaba Cloud SMS', () => {
  const hub = useTestHub()
  // The vendor's clock is the hub's, so a test that moves the hub's time moves Aliyun's too (signatures carry it).
  const sim = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好，送您优惠券${coupon}，拒收请回复R' }, clock: () => hub.clock() })
  useMockServer(...sim.handlers)

  let n = 0
  async function world(opts: { members: number; noConsent?: number; optedOutAtVendor?: number; invalid?: number }) {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-4) + String(++n % 10)
    const phones: string[] = []
    for (let i = 0; i < opts.members; i++) {
      const phone = `+86139${stamp}${String(i).padStart(3, '0')}`
      const consent = i >= (opts.noConsent ?? 0)
      const r = await admin.post('/api/v1/members', { phone, name: `会员${i}`, consents: [{ channel: 'sms', granted: consent, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      phones.push(r.body.phone)
    }
    for (let i = 0; i < (opts.optedOutAtVendor ?? 0); i++) sim.state.optedOut.add(phones[opts.members - 1 - i]!.replace('+86', ''))
    for (let i = 0; i < (opts.invalid ?? 0); i++) sim.state.invalidNumbers.add(phones[(opts.noConsent ?? 0) + i]!.replace('+86', ''))
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN, callbackToken: TOKEN } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const template = await admin.post('/api/v1/coupon-templates', { name: '满100减10', kind: 'amount_off', amount: 1000, minSpend: 10000, validDays: 30 })
    expect(template.status, JSON.stringify(template.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    expect(segment.status, JSON.stringify(segment.body)).toBe(201)
    const campaign = await admin.post('/api/v1/campaigns', {
      name: 'Winter tea',
      segmentId: segment.body.id,
      connectionId: conn.body.id,
      message: { templateCode: TEMPLATE, signName: SIGN },
      couponTemplateId: template.body.id,
      ratePerSecond: 1000,
    })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    const ref = { merchantId: m.merchantId, campaignId: campaign.body.id as string, runKey: 'once' }
    return { m, store, admin, phones, connectionId: conn.body.id as string, ref, campaignId: campaign.body.id as string }
  }

  const sentTo = (phones: string[]) => phones.map((p) => sim.sentTo(p).length)

  it('quiet hours defer the send; then each consenting member gets one message with a coupon, also when sent twice', async () => {
    const w = await world({ members: 5, noConsent: 1 })
    hub.setNow(at('2026-11-20 22:30:00'))
    try {
      const night = await sendCampaign(hub, w.ref)
      expect(night.resumeAt).toEqual(at('2026-11-21 09:00:00'))
      expect(sentTo(w.phones)).toEqual([0, 0, 0, 0, 0])
    } finally {
      hub.setNow(undefined)
    }
    hub.setNow(at('2026-11-21 09:30:00'))
    try {
      const first = await sendCampaign(hub, w.ref)
      expect(first).toMatchObject({ done: true, added: 5, sent: 4, suppressed: 1 })
      const again = await sendCampaign(hub, w.ref)
      expect(again).toMatchObject({ added: 0, sent: 0 })
    } finally {
      hub.setNow(undefined)
    }
    expect(sentTo(w.phones)).toEqual([0, 1, 1, 1, 1])
    // The coupon issued to each recipient travelled in the template's params.
    const coupons = await hub.database.db.execute<{ code: string; member_id: string }>(sql`select c.code, c.member_id from coupons c join campaign_deliveries d on d.coupon_id = c.id where d.campaign_id = ${w.campaignId}`)
    expect(coupons.rows).toHaveLength(4)
    expect(sim.sentTo(w.phones[1]!)[0]!.params).toMatchObject({ coupon: expect.any(String) })
    expect(coupons.rows.map((c) => c.code)).toContain((sim.sentTo(w.phones[1]!)[0]!.params as Record<string, string>).coupon)
    const results = (await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results
    expect(results).toMatchObject({ counts: { accepted: 4, suppressed: 1 }, couponsIssued: 4 })
  })

  it('vendor opt-outs and invalid numbers are failed, the opt-out withdraws consent, and throttling loses nobody', async () => {
    const w = await world({ members: 6, optedOutAtVendor: 1, invalid: 1 })
    sim.state.throttleNext = 2
    let s = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    let rounds = 0
    while (!s.done && rounds++ < 5) s = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    expect(s.done).toBe(true)
    const byStatus = await hub.database.db.execute<{ status: string; n: number }>(sql`select status, count(*)::int as n from campaign_deliveries where campaign_id = ${w.campaignId} group by 1 order by 1`)
    expect(Object.fromEntries(byStatus.rows.map((r) => [r.status, r.n]))).toEqual({ accepted: 4, failed: 2 })
    const member = await hub.database.db.execute<{ consent_sms: boolean }>(sql`select consent_sms from members where phone = ${w.phones[5]}`)
    expect(member.rows[0]!.consent_sms).toBe(false)
    const sup = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from suppressions where merchant_id = ${w.m.merchantId}`)
    expect(sup.rows[0]!.n).toBe(2)
    expect(sentTo(w.phones).reduce((a, b) => a + b, 0)).toBe(4)
  })

  it('a number the vendor throttles rests and is tried again later, once it may; nobody gets two', async () => {
    const w = await world({ members: 3 })
    const limited = w.phones[1]!.replace('+86', '')
    sim.state.flowControlled.add(limited)
    const first = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    expect(first.done).toBe(false)
    expect(first.resumeAt).not.toBeNull()
    expect(sentTo(w.phones)).toEqual([1, 0, 1])
    sim.state.flowControlled.delete(limited)
    // Right away nothing is due; after the rest it goes.
    expect((await sendCampaign(hub, w.ref, { ignoreQuietHours: true })).sent).toBe(0)
    hub.setNow(new Date(Date.now() + 2 * 60_000))
    try {
      const later = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
      expect(later).toMatchObject({ done: true, sent: 1 })
    } finally {
      hub.setNow(undefined)
    }
    expect(sentTo(w.phones)).toEqual([1, 1, 1])
  })

  it('a batch claimed by a worker that crashed is not sent again; the rest are sent once', async () => {
    const w = await world({ members: 4 })
    // The worker snapshotted and claimed, then died before (or after — nobody knows) calling the vendor.
    await sendCampaign(hub, w.ref, { dryRun: true })
    const campaign = await getCampaign(hub.database.db, w.m.merchantId, w.campaignId)
    const lost = await hub.database.db.transaction((tx) => claimBatch(tx, campaign, 'once', 2, new Date()))
    expect(lost).toHaveLength(2)
    const s = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    expect(s).toMatchObject({ done: true, sent: 2 })
    expect(sentTo(w.phones).reduce((a, b) => a + b, 0)).toBe(2)
    const claimed = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from campaign_deliveries where campaign_id = ${w.campaignId} and status = 'claimed'`)
    expect(claimed.rows[0]!.n).toBe(2)
  })

  it('receipts and STOP replies arrive as webhooks and update deliveries and consent; purchases are attributed', async () => {
    const w = await world({ members: 3 })
    const s = await sendCampaign(hub, w.ref, { ignoreQuietHours: true })
    expect(s.sent).toBe(3)
    const webhook = (d: { url: string; headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${w.connectionId}?token=${TOKEN}`, undefined, { raw: d.body, headers: d.headers })
    const receipts = sim.settle()
    expect((await webhook(sim.push('x', receipts))).status).toBe(200)
    expect((await webhook(sim.push('x', [sim.reply(w.phones[0]!, 'R')]))).status).toBe(200)
    const forged = await createApi(hub).request('POST', `/webhooks/${w.connectionId}?token=wrong-token-000000000`, undefined, { raw: JSON.stringify(receipts), headers: { 'content-type': 'application/json' } })
    expect(forged.status).toBe(401)
    await drainJobs(hub)
    const statuses = await hub.database.db.execute<{ status: string }>(sql`select status from campaign_deliveries where campaign_id = ${w.campaignId}`)
    expect(statuses.rows.map((r) => r.status)).toEqual(['delivered', 'delivered', 'delivered'])
    const member = await hub.database.db.execute<{ consent_sms: boolean }>(sql`select consent_sms from members where phone = ${w.phones[0]}`)
    expect(member.rows[0]!.consent_sms).toBe(false)
    // A recipient buys within the attribution window; a purchase by someone else does not count.
    const item = await seedProduct(hub, w.store, { price: 2500, stock: 10 })
    await w.admin.post('/api/v1/cash-sessions', { registerId: w.store.registerId, openingFloat: 0 })
    const recipient = (await w.admin.get(`/api/v1/members?q=${encodeURIComponent(w.phones[1]!)}`)).body.items?.[0]?.id
    expect(recipient).toBeTruthy()
    expect((await w.admin.post('/api/v1/sales', { registerId: w.store.registerId, memberId: recipient, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 2500 }] })).status).toBe(201)
    expect((await w.admin.post('/api/v1/sales', { registerId: w.store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 2500 }] })).status).toBe(201)
    const results = (await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results
    expect(results).toMatchObject({ counts: { delivered: 3 }, attributedSales: 1, attributedRevenue: 2500 })
    // The recipient turns out to be registered twice, and is merged, then merged again: the same person, whose
    // purchase counted and whose next one counts too.
    const second = (await w.admin.post('/api/v1/members', { phone: '+8613900009901' })).body.id
    const third = (await w.admin.post('/api/v1/members', { phone: '+8613900009902' })).body.id
    expect((await w.admin.post(`/api/v1/members/${second}/merge`, { sourceId: recipient })).status).toBe(200)
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results).toMatchObject({ attributedSales: 1, attributedRevenue: 2500 })
    expect((await w.admin.post(`/api/v1/members/${third}/merge`, { sourceId: second })).status).toBe(200)
    const later = (await w.admin.post('/api/v1/sales', { registerId: w.store.registerId, memberId: third, lines: [{ sku: item.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 5000 }] })).body
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results).toMatchObject({ attributedSales: 2, attributedRevenue: 7500 })
    // Revenue the campaign brought is net of what was given back: one of the two units is returned.
    expect((await w.admin.post(`/api/v1/sales/${later.id}/refunds`, { registerId: w.store.registerId, lines: [{ saleLineId: later.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results).toMatchObject({ attributedSales: 2, attributedRevenue: 5000 })
    // A cash sale rounded to the jiao (12.34 due as 12.30) and then returned whole brought nothing: what it took went back.
    expect((await w.admin.patch('/api/v1/merchant/settings', { cashRounding: { unit: 10, mode: 'half_up' } })).status).toBe(200)
    const odd = await seedProduct(hub, w.store, { price: 1234, stock: 10 })
    const rounded = (await w.admin.post('/api/v1/sales', { registerId: w.store.registerId, memberId: third, lines: [{ sku: odd.sku }], tenders: [{ kind: 'cash', amount: 1230 }] })).body
    expect(rounded.roundingAdjustment).toBe(-4)
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results).toMatchObject({ attributedSales: 3, attributedRevenue: 5000 + 1230 })
    expect((await w.admin.post(`/api/v1/sales/${rounded.id}/refunds`, { registerId: w.store.registerId, lines: [{ saleLineId: rounded.lines[0].id, quantity: 1 }] })).status).toBe(201)
    expect((await w.admin.get(`/api/v1/campaigns/${w.campaignId}`)).body.results).toMatchObject({ attributedSales: 3, attributedRevenue: 5000 })
  })

  it('a receipt that arrives before the send’s answer is recorded is kept and applied then; a recorded answer never undoes a receipt', async () => {
    const w = await world({ members: 3 })
    const now = hub.clock()
    const campaign = await hub.database.db.transaction((tx) => getCampaign(tx, w.m.merchantId, w.campaignId))
    const claimed = await hub.database.db.transaction(async (tx) => {
      await snapshotAudience(tx, campaign, 'race', now)
      return claimBatch(tx, campaign, 'race', 10, now)
    })
    expect(claimed).toHaveLength(3)
    const [a, b, c] = claimed as [ClaimedDelivery, ClaimedDelivery, ClaimedDelivery]
    // Aliyun took the call (BizId 900…) and the carriers answered for a and b before the hub wrote down that answer.
    const bizId = '900012345678^0'
    const record = (d: ClaimedDelivery, success: boolean) => ({
      phone_number: aliyunPhone(d.address), send_time: beijingTime(now), report_time: beijingTime(now), success,
      err_code: success ? 'DELIVERED' : 'MN:0001', err_msg: success ? '用户接收成功' : '空号', sms_size: '1', biz_id: bizId, out_id: '',
    })
    const webhook = (d: { url: string; headers: Record<string, string>; body: string }) => createApi(hub).request('POST', `/webhooks/${w.connectionId}?token=${TOKEN}`, undefined, { raw: d.body, headers: d.headers })
    expect((await webhook(sim.push('x', [record(a, true), record(b, false)]))).status).toBe(200)
    await drainJobs(hub)
    // A receipt naming the delivery itself (as Twilio's do) reaches c before its answer too.
    await hub.database.db.transaction((tx) => applyCampaignEvents(tx, w.m.merchantId, 'sms', [{ kind: 'status', deliveryId: c.id, vendorMessageId: null, status: 'delivered', at: now.toISOString() }], now))
    await hub.database.db.transaction((tx) =>
      recordOutcomes(tx, campaign, claimed.map((d) => ({ deliveryId: d.id, status: 'accepted' as const, vendorMessageId: vendorMessageIdOf(bizId, d.address) })), now),
    )
    const rows = await hub.database.db.execute<{ id: string; status: string; vendor_code: string | null }>(sql`select id, status, vendor_code from campaign_deliveries where campaign_id = ${w.campaignId} and run_key = 'race'`)
    const byId = new Map(rows.rows.map((r) => [r.id, [r.status, r.vendor_code]]))
    expect([byId.get(a.id), byId.get(b.id), byId.get(c.id)]).toEqual([['delivered', 'DELIVERED'], ['failed', 'MN:0001'], ['delivered', null]])
    const kept = await hub.database.db.execute(sql`select count(*)::int as n from campaign_receipts where merchant_id = ${w.m.merchantId}`)
    expect(kept.rows[0]).toEqual({ n: 0 })
  })

  /** A run's audience claimed for sending, as a batch of the send job is before the vendor is called. */
  async function claimRun(w: Awaited<ReturnType<typeof world>>, runKey: string) {
    const now = hub.clock()
    const campaign = await hub.database.db.transaction((tx) => getCampaign(tx, w.m.merchantId, w.campaignId))
    const claimed = await hub.database.db.transaction(async (tx) => {
      await snapshotAudience(tx, campaign, runKey, now)
      return claimBatch(tx, campaign, runKey, 10, now)
    })
    const statuses = async () => (await hub.database.db.execute<{ status: string }>(sql`select status from campaign_deliveries where campaign_id = ${w.campaignId} and run_key = ${runKey}`)).rows.map((r) => r.status)
    return { now, campaign, delivery: claimed[0]!, statuses }
  }

  it('no answer to the send undoes a receipt that came first: not a timeout, not a throttled call (which would send it again)', async () => {
    const w = await world({ members: 1 })
    for (const [runKey, answer] of [
      ['timeout', { status: 'unknown', message: 'timeout' }],
      ['throttled', { status: 'failed', code: 'Throttling', message: 'throttled', retryable: true }],
    ] as const) {
      const { now, campaign, delivery, statuses } = await claimRun(w, runKey)
      await hub.database.db.transaction((tx) => applyCampaignEvents(tx, w.m.merchantId, 'sms', [{ kind: 'status', deliveryId: delivery.id, vendorMessageId: null, status: 'delivered', at: now.toISOString() }], now))
      await hub.database.db.transaction((tx) => recordOutcomes(tx, campaign, [{ deliveryId: delivery.id, ...answer }], now))
      expect(await statuses(), runKey).toEqual(['delivered'])
    }
  })

  it('a receipt that arrives while the send’s answer is being recorded waits for it, and is applied', async () => {
    const w = await world({ members: 1 })
    const { now, campaign, delivery, statuses } = await claimRun(w, 'race')
    const message = vendorMessageIdOf('900099999999^0', delivery.address)
    let release!: () => void
    const held = new Promise<void>((r) => (release = r))
    let written!: () => void
    const answerWritten = new Promise<void>((r) => (written = r))
    const answer = hub.database.db.transaction(async (tx) => {
      await recordOutcomes(tx, campaign, [{ deliveryId: delivery.id, status: 'accepted', vendorMessageId: message }], now)
      written()
      await held // not committed yet
    })
    await answerWritten
    const receipt = hub.database.db.transaction((tx) => applyCampaignEvents(tx, w.m.merchantId, 'sms', [{ kind: 'status', deliveryId: null, vendorMessageId: message, status: 'delivered', at: now.toISOString() }], now))
    await new Promise((r) => setTimeout(r, 50))
    release()
    await Promise.all([answer, receipt])
    expect(await statuses()).toEqual(['delivered'])
    const kept = await hub.database.db.execute(sql`select count(*)::int as n from campaign_receipts where merchant_id = ${w.m.merchantId}`)
    expect(kept.rows[0]).toEqual({ n: 0 })
  })
})
