import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'

describe('dashboard reconciliation forms: refusals in the reader’s language, other merchants, roles, odd input', () => {
  const hub = useTestHub()
  let app: App
  let day: ReconDay
  const itemOf = async (outcome: string) =>
    (await hub.database.db.execute<{ id: string; state: string; resolution: string | null; resolution_note: string | null }>(sql`
      select id, state, resolution, resolution_note from recon_items where merchant_id = ${day.m.merchantId} and outcome = ${outcome}`)).rows[0]!
  const signedIn = async (email: string) => {
    const c = formClient(app)
    const r = await c.login(email, day.m.password)
    expect(r.status).toBe(303)
    const page = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    return { c, page, csrf: c.hidden(page.text, '_csrf')! }
  }

  beforeAll(async () => {
    app = createApp(hub)
    day = await seedReconDay(hub)
  })

  it('odd form fields give pages, not 500s, and change nothing', async () => {
    const { c, csrf } = await signedIn(day.m.adminEmail)
    const item = await itemOf('amount_diff')
    const base = `/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`
    const cases: Record<string, string>[] = [
      { action: 'write_off', accountCode: 'x'.repeat(5000) },
      { action: 'match', counterpartId: 'not-a-uuid' },
      { action: 'match', counterpartId: crypto.randomUUID() },
      { action: 'nope' },
      {},
      { action: 'ignore', note: 'a\u0000b' },
      { action: 'expect_next_day' },
    ]
    for (const f of cases) {
      const r = await c.post(base, { ...f, _csrf: csrf })
      expect(r.status, JSON.stringify(f).slice(0, 80) + ' ' + r.text.slice(-400)).toBeLessThan(500)
    }
    expect((await itemOf('amount_diff')).state).toBe('open')
    const lone = await itemOf('unknown_merchant_ref')
    const other = await seedMerchant(hub)
    const [otherStore] = (await hub.database.db.execute<{ id: string }>(sql`insert into stores (merchant_id, code, name) values (${other.merchantId}, 'X1', 'x') returning id`).catch(() => ({ rows: [] as { id: string }[] }))).rows
    for (const storeId of ['abc', crypto.randomUUID(), ...(otherStore ? [otherStore.id] : [])]) {
      const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${lone.id}/resolve`, { action: 'accept_channel', storeId, _csrf: csrf })
      expect(r.status, storeId).toBe(404)
    }
    expect((await itemOf('unknown_merchant_ref')).state).toBe('open')
  })

  it('a resolve posted under a malformed date in the URL answers without a 500', async () => {
    const { c, csrf } = await signedIn(day.m.adminEmail)
    const item = await itemOf('amount_diff')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}%0D%0AX-Evil:%201/items/${item.id}/resolve`, { action: 'accept_pos', note: 'crlf', _csrf: csrf })
    const after = await itemOf('amount_diff')
    if (after.state === 'resolved') {
      await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/reopen`, { _csrf: csrf })
    }
    // Either refused (nothing changed) or done and redirected: never a 500 after the change was committed.
    expect({ status: r.status, state: after.state }).toEqual({ status: 404, state: 'open' })
  })

  it('another merchant cannot resolve, export or download this merchant’s data', async () => {
    const other = await seedMerchant(hub)
    const c = formClient(app)
    await c.login(other.adminEmail, other.password)
    const home = await c.get('/dashboard/reconciliation')
    const csrf = c.hidden(home.text, '_csrf')!
    const item = await itemOf('amount_diff')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'accept_pos', _csrf: csrf })
    expect(r.status).toBe(404)
    expect((await itemOf('amount_diff')).state).toBe('open')
    const ex = await c.get(`/dashboard/reconciliation/export?what=exceptions&format=csv&connection=${day.connectionId}`)
    expect(ex.status).toBe(404)
    const [st] = (await hub.database.db.execute<{ id: string }>(sql`select id from settlement_statements where merchant_id = ${day.m.merchantId} limit 1`)).rows
    if (st) expect((await c.get(`/dashboard/reconciliation/statements/${st.id}/file`)).status).toBe(404)
  })

  it('a cashier cannot download a statement', async () => {
    const cashier = await day.m.staff('cashier')
    const c = formClient(app)
    await c.login(cashier.email, day.m.password)
    const [st] = (await hub.database.db.execute<{ id: string }>(sql`select id from settlement_statements where merchant_id = ${day.m.merchantId} limit 1`)).rows
    expect((await c.get(`/dashboard/reconciliation/statements/${st!.id}/file`)).status).toBe(403)
    expect((await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)).status).toBe(403)
  })

  it('a Chinese reader gets the engine’s refusal in Chinese, as the API gives it', async () => {
    const fin = await day.m.staff('finance')
    // The API in Chinese for the same refusal.
    const api = createApi(hub).as(fin.token)
    expect((await api.patch('/api/v1/me', { locale: 'zh-CN' })).status).toBe(200)
    const item = await itemOf('amount_diff')
    const viaApi = await api.post(`/api/v1/reconciliation/items/${item.id}/resolve`, { action: 'write_off', accountCode: 'bad code!' })
    expect(viaApi.status).toBe(422)
    const { c, page, csrf } = await signedIn(fin.email)
    expect(page.text).toContain('<html lang="zh-CN">')
    const ig = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'ignore', note: ' ', _csrf: csrf })
    expect(ig.status).toBe(422)
    expect(/data-testid="flash">([^<]*)</.exec(ig.text)?.[1]).toBe('请填写原因')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'write_off', accountCode: 'bad code!', _csrf: csrf })
    expect(r.status).toBe(422)
    expect(/data-testid="flash">([^<]*)</.exec(r.text)?.[1]).toBe(viaApi.body.error.message)
  })

  it('sign-in never follows an outside next, and the language form neither', async () => {
    for (const next of ['//evil.example/x', '/\\evil.example', 'https://evil.example', '/dashboard@evil.example', '/dashboard/../..//evil.example', '/dashboard\t//evil.example']) {
      const c = formClient(app)
      const page = await c.get('/dashboard/login')
      const r = await c.post('/dashboard/login', { _login: c.hidden(page.text, '_login')!, next, email: day.m.adminEmail, password: day.m.password })
      expect(r.status).toBe(303)
      const loc = new URL(r.location!, 'https://hub.example')
      expect(loc.origin, next).toBe('https://hub.example')
    }
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const g = await c.get('/dashboard/reconciliation')
    const csrf = c.hidden(g.text, '_csrf')!
    const r = await c.post('/dashboard/locale', { _csrf: csrf, locale: 'xx', next: '/dashboard' })
    expect(r.status).toBe(400)
    const r2 = await c.post('/dashboard/locale', { _csrf: csrf, locale: '', next: '//evil.example' })
    expect(r2.status).toBe(303)
    expect(r2.location).toBe('/dashboard')
    const r3 = await c.post('/dashboard/locale', { locale: 'en', next: '/dashboard' })
    expect(r3.status).toBe(403)
  })

  it('non-ASCII next after sign-in does not 500', async () => {
    const c = formClient(app)
    const page = await c.get('/dashboard/login')
    const r = await c.post('/dashboard/login', { _login: c.hidden(page.text, '_login')!, next: '/dashboard/对账\u2603?x=\u{1F600}', email: day.m.adminEmail, password: day.m.password })
    expect(r.status).toBe(303)
    const c2 = formClient(app)
    await c2.login(day.m.adminEmail, day.m.password)
    const g = await c2.get('/dashboard/reconciliation')
    const r2 = await c2.post('/dashboard/locale', { _csrf: c2.hidden(g.text, '_csrf')!, locale: '', next: '/dashboard/\u00e9\r\nx' })
    expect(r2.status).toBeLessThan(500)
  })
})
