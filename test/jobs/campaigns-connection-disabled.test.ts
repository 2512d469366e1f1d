// A campaign's connection switched off: nothing goes out through it (a run already queued waits, a new one is
// refused), and once it is on again the queued run goes on.
import { describe, expect, it } from 'vitest'
import { useMockServer } from '../helpers/connections.ts'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { aliyunSmsSandbox } from '../../src/sandboxes/vendors/aliyun-sms.ts'
import { drainJobs, makeDue, queuedJobs } from '../helpers/jobs.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp } from '../../src/http/app.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const AK_ID = 'LTAI5tCampaignTest01'
const AK_SECRET = 'campaign-test-access-key-secret-01'
const SIGN = '茶语小铺'
const TEMPLATE = 'SMS_480000001'

describe('a disabled campaign connection sends nothing', () => {
  const hub = useTestHub()
  const sim = aliyunSmsSandbox({ accessKeys: { [AK_ID]: AK_SECRET }, signNames: [SIGN], templates: { [TEMPLATE]: '${name}您好' }, clock: () => hub.clock() })
  useMockServer(...sim.handlers)

  it('a send queued before the connection was disabled does not reach the vendor', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    await seedStore(hub, m.merchantId, { openSession: false })
    const admin = createApi(hub).as(m.adminToken)
    const stamp = String(Date.now()).slice(-5)
    const phones: string[] = []
    for (let i = 0; i < 3; i++) {
      const r = await admin.post('/api/v1/members', { phone: `+86139${stamp}${String(i).padStart(3, '0')}`, name: `会员${i}`, consents: [{ channel: 'sms', granted: true, source: 'till' }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
      phones.push(r.body.phone)
    }
    const conn = await admin.post('/api/v1/connections', { connectorId: 'aliyun-sms', name: 'SMS', config: { accessKeyId: AK_ID, accessKeySecret: AK_SECRET, signName: SIGN } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const segment = await admin.post('/api/v1/segments', { name: 'everyone', rule: { points: { min: 0 } } })
    const campaign = await admin.post('/api/v1/campaigns', { name: 'Winter tea', segmentId: segment.body.id, connectionId: conn.body.id, message: { templateCode: TEMPLATE, signName: SIGN }, ratePerSecond: 100 })
    expect(campaign.status, JSON.stringify(campaign.body)).toBe(201)
    hub.setNow(at('2026-11-21 10:00:00'))
    try {
      const api = createApi(hub).as(await m.adminTokenNow())
      const send = await api.post(`/api/v1/campaigns/${campaign.body.id}/send`, {})
      expect(send.status, JSON.stringify(send.body)).toBeLessThan(300)
      // The merchant switches the SMS connection off before the worker picks the send up.
      const off = await api.patch(`/api/v1/connections/${conn.body.id}`, { enabled: false })
      expect(off.body.enabled).toBe(false)
      await makeDue(hub)
      await drainJobs(hub)
      expect(phones.map((p) => sim.sentTo(p).length)).toEqual([0, 0, 0])
      const waiting = (await queuedJobs(hub, 'campaigns.send')).filter((j) => j.payload.campaignId === campaign.body.id)
      expect(waiting).toHaveLength(1)
      expect(waiting[0]!.lastError).toContain('is disabled')
      // A new run is refused while it is off.
      const again = await api.post(`/api/v1/campaigns/${campaign.body.id}/send`, {})
      expect([again.status, again.body.error?.code]).toEqual([409, 'connection_disabled'])
      // The dashboard's Send now refuses it with the same rule, in the merchant's language, and queues nothing.
      const ui = formClient(createApp(hub))
      await ui.login(m.adminEmail, m.password)
      const page = await ui.get(`/dashboard/campaigns/${campaign.body.id}`)
      const refused = await ui.post(`/dashboard/campaigns/${campaign.body.id}/send`, { _csrf: ui.hidden(page.text, '_csrf')! })
      expect(refused.status).toBe(409)
      expect(refused.text).toContain('连接 SMS 已停用')
      expect(refused.text).not.toContain('is disabled')
      expect((await queuedJobs(hub, 'campaigns.send')).filter((j) => j.payload.campaignId === campaign.body.id)).toHaveLength(1)
      // Switched on again, the queued run sends, once to each.
      expect((await api.patch(`/api/v1/connections/${conn.body.id}`, { enabled: true })).body.enabled).toBe(true)
      await makeDue(hub)
      await drainJobs(hub)
      expect(phones.map((p) => sim.sentTo(p).length)).toEqual([1, 1, 1])
    } finally {
      hub.setNow(undefined)
    }
  })
})
