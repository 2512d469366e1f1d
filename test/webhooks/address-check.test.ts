// Vendors check a webhook address with a GET before they deliver to it: WeChat signs the check and wants its
// echostr back; Mailchimp wants a 200 from the address it was given (token included).
import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'

describe('webhook address checks', () => {
  const hub = useTestHub()

  it('answers WeChat’s signed echostr, and refuses a check signed with another token', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const token = 'TeaHouseCheck2026'
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechat-messages', name: 'WeChat', config: { appId: 'wx1234567890abcdef', appSecret: 'a'.repeat(32), token } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    const timestamp = String(Math.floor(Date.now() / 1000))
    const nonce = '182736'
    const sign = (t: string) => createHash('sha1').update([t, timestamp, nonce].sort().join('')).digest('hex')
    const ok = await admin.app.request(`/webhooks/${conn.body.id}?signature=${sign(token)}&timestamp=${timestamp}&nonce=${nonce}&echostr=5838479218127813673`)
    expect(ok.status).toBe(200)
    expect(await ok.text()).toBe('5838479218127813673')
    const forged = await admin.app.request(`/webhooks/${conn.body.id}?signature=${sign('other-token')}&timestamp=${timestamp}&nonce=${nonce}&echostr=1`)
    expect(forged.status).toBe(401)
  })

  it('answers Mailchimp’s validation GET at the address with its token, and 404 for a connector without a check', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const mc = await admin.post('/api/v1/connections', { connectorId: 'mailchimp', name: 'Mailchimp', config: { apiKey: `${'f'.repeat(32)}-us21`, listId: 'a1b2c3d4e5', webhookToken: 'mailchimp-hook-token-0001' } })
    expect(mc.status, JSON.stringify(mc.body)).toBe(201)
    expect((await admin.app.request(`/webhooks/${mc.body.id}?token=mailchimp-hook-token-0001`)).status).toBe(200)
    expect((await admin.app.request(`/webhooks/${mc.body.id}?token=wrong`)).status).toBe(401)
    const stripe = await admin.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_abc123', webhookSecret: 'whsec_abc' } })
    expect((await admin.app.request(`/webhooks/${stripe.body.id}`)).status).toBe(404)
  })
})
