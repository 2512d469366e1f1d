import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedVoucherDay, type VoucherDay } from '../helpers/vouchers-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'

const CJK = /[\u4e00-\u9fff]/

describe('dashboard vouchers forms: refusals in the reader’s language, other merchants, roles, odd input', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  let app: App
  let d: VoucherDay
  let voucherId: string

  beforeAll(async () => {
    await smtp.start()
    app = createApp(hub)
    d = await seedVoucherDay(hub, smtp)
    const c = formClient(app)
    await c.login(d.m.adminEmail, d.m.password)
    const grid = await c.get('/dashboard/vouchers')
    const r = await c.post('/dashboard/vouchers/build', { _csrf: c.hidden(grid.text, '_csrf')!, date: d.date, storeId: d.store.storeId })
    expect(r.status).toBe(303)
    voucherId = new URL(r.location!, 'http://x').searchParams.get('voucher')!
    expect(voucherId).toBeTruthy()
  })
  afterAll(async () => smtp.stop())

  it('another merchant sees, downloads and exports nothing of it', async () => {
    const other = await seedMerchant(hub)
    const c = formClient(app)
    await c.login(other.adminEmail, other.password)
    const grid = await c.get('/dashboard/vouchers')
    expect(grid.status).toBe(200)
    const csrf = c.hidden(grid.text, '_csrf')!
    expect((await c.get(`/dashboard/vouchers/${voucherId}`)).status).toBe(404)
    expect((await c.get(`/dashboard/vouchers/${voucherId}?line=1`)).status).toBe(404)
    expect((await c.get(`/dashboard/vouchers/${voucherId}/file?format=csv`)).status).toBe(404)
    const ex = await c.post(`/dashboard/vouchers/${voucherId}/export`, { _csrf: csrf, connectionId: d.connection.id, mode: 'now' })
    expect(ex.status).toBe(404)
    const b = await c.post('/dashboard/vouchers/build', { _csrf: csrf, date: d.date, storeId: d.store.storeId })
    expect(b.status).toBe(404)
    expect(smtp.messagesTo('finance@tea-house.cn')).toHaveLength(0)
  })

  it('cashier gets nothing; manager reads but cannot build or export', async () => {
    const cashier = await d.m.staff('cashier')
    const c = formClient(app)
    await c.login(cashier.email, d.m.password)
    const g = await c.get('/dashboard/vouchers')
    expect(g.status).toBe(403)
    const csrf = c.hidden(g.text, '_csrf')!
    expect((await c.get(`/dashboard/vouchers/${voucherId}`)).status).toBe(403)
    expect((await c.get(`/dashboard/vouchers/${voucherId}/file?format=xlsx`)).status).toBe(403)
    expect((await c.post('/dashboard/vouchers/build', { _csrf: csrf, date: d.date, storeId: d.store.storeId })).status).toBe(403)
    expect((await c.post(`/dashboard/vouchers/${voucherId}/export`, { _csrf: csrf, connectionId: d.connection.id, mode: 'now' })).status).toBe(403)
    const manager = await d.m.staff('manager')
    const mc = formClient(app)
    await mc.login(manager.email, d.m.password)
    const mg = await mc.get(`/dashboard/vouchers/${voucherId}`)
    expect(mg.status).toBe(200)
    expect((await mc.post(`/dashboard/vouchers/${voucherId}/export`, { _csrf: mc.hidden(mg.text, '_csrf')!, connectionId: d.connection.id, mode: 'queue' })).status).toBe(403)
  })

  it('odd inputs give pages, not 500s', async () => {
    const c = formClient(app)
    await c.login(d.m.adminEmail, d.m.password)
    const g = await c.get('/dashboard/vouchers')
    const csrf = c.hidden(g.text, '_csrf')!
    const gets = [
      `/dashboard/vouchers?from=2026-02-30&to=x`,
      `/dashboard/vouchers?from=0001-01-01&to=9999-12-31`,
      `/dashboard/vouchers?done=created&voucher=${crypto.randomUUID()}`,
      `/dashboard/vouchers/${voucherId}?line=999999`,
      `/dashboard/vouchers/${voucherId}?line=-1`,
      `/dashboard/vouchers/${voucherId}?done=sent&connection=${'x'.repeat(3000)}`,
      `/dashboard/vouchers/${voucherId}/file?format=pdf`,
      `/dashboard/vouchers/${voucherId}/file?format=csv&layout=kingdee`,
      `/dashboard/vouchers/${voucherId}/file?format=csv&encoding=latin1`,
      `/dashboard/vouchers/${voucherId.toUpperCase()}`,
    ]
    for (const p of gets) {
      const r = await c.get(p)
      expect(r.status, p.slice(0, 100)).toBeLessThan(500)
    }
    const posts: [string, Record<string, string>][] = [
      ['/dashboard/vouchers/build', { date: '2026-13-01', storeId: d.store.storeId }],
      ['/dashboard/vouchers/build', { date: d.date, storeId: 'x' }],
      ['/dashboard/vouchers/build', { date: d.date, storeId: crypto.randomUUID() }],
      ['/dashboard/vouchers/build', { date: '1900-01-01', storeId: d.store.storeId }],
      ['/dashboard/vouchers/build?from=bad&to=bad', { date: d.date, storeId: d.store.storeId }],
      [`/dashboard/vouchers/${voucherId}/export`, { connectionId: '' }],
      [`/dashboard/vouchers/${voucherId}/export`, { connectionId: crypto.randomUUID(), mode: 'now' }],
      [`/dashboard/vouchers/${crypto.randomUUID()}/export`, { connectionId: d.connection.id, mode: 'queue' }],
    ]
    for (const [p, f] of posts) {
      const r = await c.post(p, { ...f, _csrf: csrf })
      expect(r.status, `${p} ${JSON.stringify(f)} ${r.text.slice(-300)}`).toBeLessThan(500)
    }
  })

  it('the export flash is in the reader’s language only', async () => {
    const fin = await d.m.staff('finance')
    const api = createApi(hub).as(fin.token)
    const c = formClient(app)
    await c.login(fin.email, d.m.password)
    // Switch to Chinese through the header's language form.
    const page0 = await c.get(`/dashboard/vouchers/${voucherId}`)
    const sw = await c.post('/dashboard/locale', { _csrf: c.hidden(page0.text, '_csrf')!, locale: 'zh-CN', next: `/dashboard/vouchers/${voucherId}` })
    expect(sw.status).toBe(303)
    const page = await c.get(`/dashboard/vouchers/${voucherId}`)
    expect(page.text).toContain('<html lang="zh-CN">')
    const r = await c.post(`/dashboard/vouchers/${voucherId}/export`, { _csrf: c.hidden(page.text, '_csrf')!, connectionId: d.connection.id, mode: 'now' })
    expect(r.status).toBe(303)
    const done = await c.get(r.location!)
    const flash = /data-testid="flash">([^<]*)</.exec(done.text)?.[1] ?? ''
    expect(flash).toContain('已导出到')
    expect(flash.replaceAll(d.connection.name, '')).not.toMatch(/Exported to/)
    void api
  })
})
