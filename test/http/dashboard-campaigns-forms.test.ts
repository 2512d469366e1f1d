import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { seedCampaigns, type CampaignsState } from '../helpers/campaigns-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'

describe('dashboard campaigns forms: refusals in the reader’s language, other merchants, roles, odd input', () => {
  const hub = useTestHub()
  let app: App
  let s: CampaignsState
  beforeAll(async () => {
    app = createApp(hub)
    s = await seedCampaigns(hub)
  })

  it('refusing to cancel a sent campaign speaks the reader’s language, as the API does', async () => {
    await hub.database.db.execute(sql`update campaigns set status = 'sent' where id = ${s.campaign.id}`)
    const mgr = await s.m.staff('manager')
    const api = createApi(hub).as(mgr.token)
    expect((await api.patch('/api/v1/me', { locale: 'zh-CN' })).status).toBe(200)
    const viaApi = await api.post(`/api/v1/campaigns/${s.campaign.id}/cancel`, {})
    expect(viaApi.status).toBe(409)
    const c = formClient(app)
    await c.login(mgr.email, s.m.password)
    const page = await c.get(`/dashboard/campaigns/${s.campaign.id}`)
    expect(page.text).toContain('<html lang="zh-CN">')
    const r = await c.post(`/dashboard/campaigns/${s.campaign.id}/cancel`, { _csrf: c.hidden(page.text, '_csrf')! })
    expect(r.status).toBe(409)
    expect(/data-testid="flash">([^<]*)</.exec(r.text)?.[1]).toBe(viaApi.body.error.message)
  })

  it('odd inputs and a cashier', async () => {
    const c = formClient(app)
    await c.login(s.m.adminEmail, s.m.password)
    for (const p of [`/dashboard/campaigns?before=x`, `/dashboard/campaigns/${s.campaign.id}?limit=1e2`, `/dashboard/campaigns/${s.campaign.id}?after=${crypto.randomUUID()}&status=failed`, `/dashboard/campaigns/${crypto.randomUUID()}`]) {
      expect((await c.get(p)).status, p).toBeLessThan(500)
    }
    const cashier = await s.m.staff('cashier')
    const cc = formClient(app)
    await cc.login(cashier.email, s.m.password)
    const pg = await cc.get(`/dashboard/campaigns/${s.evil.id}`)
    expect(pg.status).toBe(200)
    expect((await cc.post(`/dashboard/campaigns/${s.evil.id}/send`, { _csrf: cc.hidden(pg.text, '_csrf')! })).status).toBe(403)
    expect((await cc.post(`/dashboard/campaigns/${s.evil.id}/cancel`, { _csrf: cc.hidden(pg.text, '_csrf')! })).status).toBe(403)
  })
})
