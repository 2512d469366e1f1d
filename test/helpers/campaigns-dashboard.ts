// A member campaign in every delivery state the campaigns dashboard shows: a tea shop in Shanghai with seven VIP
// members registered through the API (six consenting to SMS, one not) and one member outside the segment, a saved
// segment, a ¥5 coupon template and two campaigns on an Alibaba Cloud SMS connection through the API (one with HTML
// in its name), and a run snapshotted, claimed and recorded with the campaign core as a send job would record
// Aliyun's answers and receipts — delivered, accepted, failed, unknown and suppressed —, after which one recipient
// bought with the campaign's coupon. Nothing is sent to Aliyun.
// api.ts first: it loads the app, whose zod (with .openapi) the schemas of the core must be made with.
import { createApi, seedMerchant, type Api, type SeededMerchant } from './api.ts'
import { expect } from 'vitest'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { applyCampaignEvents, claimBatch, getCampaign, recordOutcomes, snapshotAudience, type Campaign } from '../../src/core/campaigns/service.ts'
import type { TestHub } from './db.ts'
import { seedProduct, seedStore } from './pos.ts'

export const TZ = 'Asia/Shanghai'
export const EVIL_CAMPAIGN_NAME = '<script>alert("x")</script><b>Mid-autumn</b> & friends'
export const CONNECTION_NAME = 'Aliyun SMS 阿里云短信'
export const FAILED_CODE = 'isv.MOBILE_NUMBER_ILLEGAL'
export const FAILED_REASON = 'The mobile number is not valid'

/** The members' phones as typed (national), by their role in the run. */
export const PHONES = {
  delivered1: '13900000001',
  delivered2: '13900000002',
  accepted1: '13900000003',
  failed: '13900000004',
  unknown: '13900000005',
  accepted2: '13900000006',
  noConsent: '13900000007',
  outside: '13900000008',
} as const

export interface CampaignsState {
  m: SeededMerchant
  api: Api
  segment: { id: string; name: string }
  campaign: Campaign
  evil: Campaign
  /** The total of the sale the delivered recipient made with the campaign's coupon (minor units). */
  saleTotal: number
}

export async function seedCampaigns(hub: TestHub): Promise<CampaignsState> {
  const m = await seedMerchant(hub, { timeZone: TZ, currency: 'CNY', locale: 'en' })
  // Signed in at the hub's clock, which a page may have moved.
  const api = createApi(hub).as(await m.adminTokenNow())
  const store = await seedStore(hub, m.merchantId)
  const tea = await seedProduct(hub, store, { sku: `TEA-${m.merchantId.slice(0, 8)}`, name: 'Longjing tea', price: 3000, stock: 50 })

  const members = new Map<string, string>()
  for (const [role, phone] of Object.entries(PHONES)) {
    const r = await api.post('/api/v1/members', {
      phone,
      name: `Member ${role}`,
      tags: role === 'outside' ? ['regular'] : ['vip'],
      consents: [{ channel: 'sms', granted: role !== 'noConsent', source: 'till', evidence: 'ticked on the tablet' }],
    })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.phone).toBe(`+86${phone}`)
    expect(r.body.consents.sms).toBe(role !== 'noConsent')
    members.set(r.body.phone, r.body.id)
  }

  const segmentName = 'VIP 会员'
  const seg = await api.post('/api/v1/segments', { name: segmentName, rule: { all: [{ tags: ['vip'] }, { points: { min: 0 } }] } })
  expect(seg.status, JSON.stringify(seg.body)).toBe(201)
  expect(seg.body.preview.count).toBe(7)

  const template = await api.post('/api/v1/coupon-templates', { name: '¥5 off', kind: 'amount_off', amount: 500, validDays: 30 })
  expect(template.status, JSON.stringify(template.body)).toBe(201)

  const db = hub.database.db
  const connection = await createConnection(
    db,
    connectorRegistry,
    hub.secrets,
    m.merchantId,
    { connectorId: 'aliyun-sms', name: CONNECTION_NAME, config: { accessKeyId: 'LTAI5tDemoKey0001', accessKeySecret: 'demo-secret-0123456789abcdef', signName: '茶社' } },
    hub.clock(),
  )
  const created = async (body: object) => {
    const r = await api.post('/api/v1/campaigns', { segmentId: seg.body.id, connectionId: connection.id, ...body })
    expect(r.status, JSON.stringify(r.body)).toBe(201)
    expect(r.body.channel).toBe('sms')
    return getCampaign(db, m.merchantId, r.body.id)
  }
  const campaign = await created({ name: 'Spring tea 春茶上新', message: { templateCode: 'SMS_123456', signName: '茶社' }, couponTemplateId: template.body.id, schedule: 'now' })
  const evil = await created({ name: EVIL_CAMPAIGN_NAME, message: { templateCode: 'SMS_654321' }, schedule: 'daily', dailyAt: '10:00' })

  // The run went out two hours before the hub's now (a page may have set its clock); the sale below comes after it, inside the attribution window.
  const sentAt = new Date(hub.clock().getTime() - 2 * 3600_000)

  const coupon = await db.transaction(async (tx) => {
    expect(await snapshotAudience(tx, campaign, 'once', sentAt)).toBe(7)
    const claimed = await claimBatch(tx, campaign, 'once', 100, sentAt)
    expect(claimed).toHaveLength(6)
    const of = (phone: string) => claimed.find((d) => d.address === `+86${phone}`)!
    await recordOutcomes(
      tx,
      campaign,
      [
        { deliveryId: of(PHONES.delivered1).id, status: 'accepted', vendorMessageId: 'biz-1' },
        { deliveryId: of(PHONES.delivered2).id, status: 'accepted', vendorMessageId: 'biz-2' },
        { deliveryId: of(PHONES.accepted1).id, status: 'accepted', vendorMessageId: 'biz-3' },
        { deliveryId: of(PHONES.accepted2).id, status: 'accepted', vendorMessageId: 'biz-6' },
        { deliveryId: of(PHONES.failed).id, status: 'failed', code: FAILED_CODE, message: FAILED_REASON },
        { deliveryId: of(PHONES.unknown).id, status: 'unknown', message: 'timeout: no answer within 10 s' },
      ],
      sentAt,
    )
    const receipt = (id: string) => ({ kind: 'status' as const, deliveryId: id, vendorMessageId: null, status: 'delivered' as const, code: 'DELIVERED', at: sentAt.toISOString() })
    expect(await applyCampaignEvents(tx, m.merchantId, 'sms', [receipt(of(PHONES.delivered1).id), receipt(of(PHONES.delivered2).id)], sentAt)).toEqual({ updated: 2, optOuts: 0 })
    return of(PHONES.delivered1).params.coupon!
  })
  expect(coupon).not.toBe('')

  const sale = await api.post('/api/v1/sales', {
    registerId: store.registerId,
    memberId: members.get(`+86${PHONES.delivered1}`),
    lines: [{ sku: tea.sku }],
    couponCodes: [coupon],
    tenders: [{ kind: 'cash', amount: 2500 }],
  })
  expect(sale.status, JSON.stringify(sale.body)).toBe(201)
  expect(sale.body.total).toBe(2500)

  return { m, api, segment: { id: seg.body.id, name: segmentName }, campaign, evil, saleTotal: sale.body.total }
}
