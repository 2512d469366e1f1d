import { beforeAll, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp, type App } from '../../src/http/app.ts'
import { recordRunOutcome } from '../../src/core/reconciliation/match.ts'
import { addDays } from '../../src/lib/time.ts'

describe('the dashboard over HTTP', () => {
  const hub = useTestHub()
  let app: App
  let day: ReconDay
  const itemOf = async (outcome: string) =>
    (await hub.database.db.execute<{ id: string; state: string; resolution: string | null }>(sql`
      select id, state, resolution from recon_items where merchant_id = ${day.m.merchantId} and outcome = ${outcome}`)).rows[0]!

  beforeAll(async () => {
    app = createApp(hub)
    day = await seedReconDay(hub)
  })

  it('sends a visitor without a session to the sign-in form and back', async () => {
    const r = await formClient(app).get('/dashboard/reconciliation?from=2026-01-01&to=2026-01-05')
    expect(r.status).toBe(303)
    expect(r.location).toBe(`/dashboard/login?next=${encodeURIComponent('/dashboard/reconciliation?from=2026-01-01&to=2026-01-05')}`)
    // Only the dashboard's own paths are followed after signing in.
    const login = await formClient(app).get('/dashboard/login?next=https://evil.example/x')
    expect(login.text).toContain('name="next" value="/dashboard"')
  })

  it('refuses a wrong password with the form again, and sets no session', async () => {
    const c = formClient(app)
    const r = await c.login(day.m.adminEmail, 'wrong-password')
    expect(r.status).toBe(401)
    expect(r.text).toContain('Email or password is wrong')
    expect(r.setCookies.some((s) => s.startsWith('tb_dashboard='))).toBe(false)
    expect((await c.get('/dashboard/reconciliation')).status).toBe(303)
  })

  it('refuses a sign-in post that did not come from its own form', async () => {
    const c = formClient(app)
    const r = await c.post('/dashboard/login', { _login: 'x'.repeat(32), email: day.m.adminEmail, password: day.m.password })
    expect(r.status).toBe(403)
    expect(r.setCookies.some((s) => s.startsWith('tb_dashboard='))).toBe(false)
  })

  it('answers a form body it cannot read (multipart without its boundary, or cut short) with a 400 page', async () => {
    for (const [type, body] of [['multipart/form-data', 'email=a'], ['multipart/form-data; boundary=b', '--b\r\ngarbage']]) {
      const r = await app.request('/dashboard/login', { method: 'POST', headers: { 'content-type': type! }, body })
      expect([type, r.status]).toEqual([type, 400])
      expect(r.headers.get('content-type')).toContain('text/html')
    }
  })

  it('signs in with an HttpOnly SameSite=Lax session cookie and shows the day with its exceptions', async () => {
    const c = formClient(app)
    const r = await c.login(day.m.adminEmail, day.m.password)
    expect(r.status).toBe(303)
    expect(r.location).toBe('/dashboard/reconciliation')
    const cookie = r.setCookies.find((s) => s.startsWith('tb_dashboard='))!
    expect(cookie).toMatch(/HttpOnly/)
    expect(cookie).toMatch(/SameSite=Lax/)
    expect(cookie).toMatch(/Path=\/dashboard/)
    expect(cookie).toMatch(/^tb_dashboard=tbs_/)
    expect(cookie).not.toMatch(/Secure/) // a hub on plain http (PUBLIC_URL unset: http://localhost)

    const grid = await c.get('/dashboard/reconciliation')
    expect(grid.status).toBe(200)
    expect(grid.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    const cell = new RegExp(`<td data-connection="${day.connectionId}" data-date="${day.date}">[\\s\\S]*?</td>`).exec(grid.text)![0]
    expect(cell).toContain('data-status="exceptions"')
    // Both sides in yuan from fen: the till rang up 12.00 + 34.00 + 5.60, the channel billed 12.00 + 33.00 + 5.60.
    expect(cell).toContain('¥51.60')
    expect(cell).toContain('¥50.60')
    expect(cell).toContain('-¥1.00')
    // Δ fee: the bill charges 0.60 %, the contract says 0.55 %: 7.2 − 6.6 fen on 12.00 and 19.8 − 18.15 fen on the
    // 33.00 the channel took for the short payment; the payment the till never saw has no contracted fee.
    expect(cell).toMatch(/<div class="small neg" data-fee-difference="2250">Δ fee 0\.02250<\/div>/)
    const page = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain(day.refs.short)
    expect(page.text).toContain(day.foreignRef)
    expect(page.text).toContain('data-outcome="amount_diff"')
    expect(page.text).toContain('data-outcome="unknown_merchant_ref"')
  })

  it('refuses a resolve post without the session’s CSRF token, or with another session’s', async () => {
    const mine = formClient(app)
    await mine.login(day.m.adminEmail, day.m.password)
    const other = formClient(app)
    await other.login(day.m.adminEmail, day.m.password)
    const otherPage = await other.get('/dashboard/reconciliation')
    const otherToken = other.hidden(otherPage.text, '_csrf')!
    const item = await itemOf('amount_diff')
    const path = `/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`

    const none = await mine.post(path, { action: 'accept_pos', note: 'no token' })
    expect(none.status).toBe(403)
    expect(none.text).toContain('did not come from this dashboard')
    const foreign = await mine.post(path, { action: 'accept_pos', _csrf: otherToken })
    expect(foreign.status).toBe(403)
    expect((await itemOf('amount_diff')).state).toBe('open')

    // The same post with the right token goes through and comes back to the day.
    const page = await mine.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    const ok = await mine.post(path, { action: 'accept_pos', note: 'the till is right', _csrf: mine.hidden(page.text, '_csrf')! })
    expect(ok.status).toBe(303)
    expect(ok.location).toBe(`/dashboard/reconciliation/${day.connectionId}/${day.date}?done=resolved#item-${item.id}`)
    expect(await itemOf('amount_diff')).toMatchObject({ state: 'resolved', resolution: 'accept_pos' })
    // Reopened again for the tests after this one.
    const again = await mine.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/reopen`, { _csrf: mine.hidden(page.text, '_csrf')! })
    expect(again.status).toBe(303)
    expect((await itemOf('amount_diff')).state).toBe('open')
  })

  it('accepts a line of no store into the store chosen on the page, and says so when none is chosen', async () => {
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const dayPath = `/dashboard/reconciliation/${day.connectionId}/${day.date}`
    const page = await c.get(dayPath)
    const item = await itemOf('unknown_merchant_ref')
    const [store] = (await hub.database.db.execute<{ id: string; code: string }>(sql`select id, code from stores where merchant_id = ${day.m.merchantId} order by code limit 1`)).rows
    expect(page.text).toContain(`id="store-${item.id}"`)
    expect(page.text).toContain(`<option value="${store!.id}">${store!.code}`)
    const csrf = c.hidden(page.text, '_csrf')!
    // Posted to another connection's page, it changes nothing.
    const elsewhere = await c.post(`/dashboard/reconciliation/${crypto.randomUUID()}/${day.date}/items/${item.id}/resolve`, { action: 'accept_channel', storeId: store!.id, _csrf: csrf })
    expect(elsewhere.status).toBe(404)
    expect((await itemOf('unknown_merchant_ref')).state).toBe('open')
    const none = await c.post(`${dayPath}/items/${item.id}/resolve`, { action: 'accept_channel', storeId: '', _csrf: csrf })
    expect(none.status).toBe(422)
    expect(none.text).toContain('say which store’s books take it')
    const ok = await c.post(`${dayPath}/items/${item.id}/resolve`, { action: 'accept_channel', storeId: store!.id, note: 'our terminal', _csrf: csrf })
    expect(ok.status).toBe(303)
    const row = (await hub.database.db.execute<{ state: string; store_id: string }>(sql`select state, store_id from recon_items where id = ${item.id}`)).rows[0]!
    expect(row).toEqual({ state: 'resolved', store_id: store!.id })
    // Reopened again for the tests after this one.
    expect((await c.post(`${dayPath}/items/${item.id}/reopen`, { _csrf: csrf })).status).toBe(303)
  })

  it('shows what the engine refuses on the day’s page and changes nothing', async () => {
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const page = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    const item = await itemOf('amount_diff')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'write_off', accountCode: '', _csrf: c.hidden(page.text, '_csrf')! })
    expect(r.status).toBe(422)
    expect(r.text).toContain('The account code must be')
    const ignore = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'ignore', note: '  ', _csrf: c.hidden(page.text, '_csrf')! })
    expect(ignore.status).toBe(422)
    expect(ignore.text).toContain('Say why the item is ignored')
    expect((await itemOf('amount_diff')).state).toBe('open')
  })

  it('lets a cashier sign in but neither see nor resolve reconciliation', async () => {
    const cashier = await day.m.staff('cashier')
    const c = formClient(app)
    expect((await c.login(cashier.email, day.m.password)).status).toBe(303)
    const grid = await c.get('/dashboard/reconciliation')
    expect(grid.status).toBe(403)
    expect(grid.text).toContain('Role cashier lacks permission finance.export or reports.read')
    // A valid token of the cashier's own session (from the sign-out form): the permission check still refuses.
    const token = c.hidden(grid.text, '_csrf')!
    expect(token).toBeTruthy()
    const item = await itemOf('amount_diff')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'accept_channel', _csrf: token })
    expect(r.status).toBe(403)
    expect(r.text).toContain('Role cashier lacks permission finance.export')
    expect((await itemOf('amount_diff')).state).toBe('open')
    expect((await c.get(`/dashboard/reconciliation/export?what=exceptions&format=csv`)).status).toBe(403)
  })

  it('lets a manager (reports.read) look at the day but not resolve it', async () => {
    const manager = await day.m.staff('manager')
    const c = formClient(app)
    await c.login(manager.email, day.m.password)
    const page = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    expect(page.status).toBe(200)
    expect(page.text).toContain('data-outcome="amount_diff"')
    expect(page.text).toContain('data-testid="read-only"')
    expect(page.text).not.toContain('/resolve"')
    const item = await itemOf('amount_diff')
    const r = await c.post(`/dashboard/reconciliation/${day.connectionId}/${day.date}/items/${item.id}/resolve`, { action: 'accept_channel', _csrf: c.hidden(page.text, '_csrf')! })
    expect(r.status).toBe(403)
    expect(r.text).toContain('Role manager lacks permission finance.export')
    expect((await itemOf('amount_diff')).state).toBe('open')
  })

  it('never shows one merchant’s connection to another merchant’s finance staff', async () => {
    const other = await seedMerchant(hub)
    const c = formClient(app)
    await c.login(other.adminEmail, other.password)
    const r = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    expect(r.status).toBe(404)
    expect(r.text).not.toContain(day.refs.short)
    const grid = await c.get('/dashboard/reconciliation')
    expect(grid.text).not.toContain(day.connectionId)
  })

  it('exports the day’s exceptions as CSV with exact amounts', async () => {
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const r = await c.get(`/dashboard/reconciliation/export?what=exceptions&format=csv&from=${day.date}&to=${day.date}&connection=${day.connectionId}&state=all&timing=include`)
    expect(r.status).toBe(200)
    expect(r.headers.get('content-type')).toBe('text/csv; charset=utf-8')
    expect(r.headers.get('content-disposition')).toBe(`attachment; filename="reconciliation-exceptions-${day.date}-${day.date}.csv"`)
    const lines = r.text.replace(/^\ufeff/, '').trim().split(/\r?\n/)
    const short = lines.find((l) => l.includes(day.refs.short))!
    expect(short).toContain('amount_diff')
    expect(short).toContain(',34.00,33.00,-1.00,')
    expect(lines.some((l) => l.includes(day.refs.unbilled) && l.includes('timing'))).toBe(true)
    const xlsx = await c.get(`/dashboard/reconciliation/export?what=summary&format=xlsx&from=${day.date}&to=${day.date}`)
    expect(xlsx.status).toBe(200)
    expect(xlsx.headers.get('content-type')).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
    // By terminal: WeChat's lines name none, so the terminal is empty on the store's row and on that of the line no store was told for; a bad grouping is a 400.
    const grid = await c.get('/dashboard/reconciliation')
    expect(grid.text).toContain('by=terminal&amp;format=csv')
    const terminals = await c.get(`/dashboard/reconciliation/export?what=summary&by=terminal&format=csv&from=${day.date}&to=${day.date}`)
    expect(terminals.headers.get('content-disposition')).toBe(`attachment; filename="reconciliation-summary-terminals-${day.date}-${day.date}.csv"`)
    const rows = terminals.text.replace(/^\ufeff/, '').trim().split(/\r?\n/)
    expect(rows[0]).toMatch(/^business_date,connection_id,store,terminal,status,/)
    expect(rows.filter((l) => l.includes(day.connectionId))).toEqual([
      expect.stringMatching(new RegExp(`^${day.date},${day.connectionId},[^,]+,,exceptions,CNY,3,51\\.60,2,45\\.00,-6\\.60,0\\.27000,0\\.24750,0\\.02250,`)),
      expect.stringMatching(new RegExp(`^${day.date},${day.connectionId},,,exceptions,CNY,0,0\\.00,1,5\\.60,5\\.60,0\\.03360,0\\.00000,,`)),
    ])
    expect((await c.get(`/dashboard/reconciliation/export?what=summary&by=till&format=csv`)).status).toBe(400)
  })

  it('marks its cookies Secure when PUBLIC_URL is https, though the proxy in front speaks plain http to the hub', async () => {
    const before = hub.config.publicUrl
    hub.config.publicUrl = 'https://till.example.com'
    try {
      const c = formClient(app)
      const form = await c.get('/dashboard/login')
      expect(form.setCookies.find((s) => s.startsWith('tb_dashboard_login='))).toMatch(/; Secure/)
      const r = await c.login(day.m.adminEmail, day.m.password)
      expect(r.status).toBe(303)
      expect(r.setCookies.find((s) => s.startsWith('tb_dashboard='))).toMatch(/; Secure/)
    } finally {
      hub.config.publicUrl = before
    }
  })

  it('signs out: the session is revoked, the cookie cleared, and sign-out needs the token too', async () => {
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const cookie = c.jar.get('tb_dashboard')!
    const page = await c.get('/dashboard/reconciliation')
    expect((await c.post('/dashboard/logout', {})).status).toBe(403)
    const r = await c.post('/dashboard/logout', { _csrf: c.hidden(page.text, '_csrf')! })
    expect(r.status).toBe(303)
    expect(r.location).toBe('/dashboard/login')
    expect(c.jar.has('tb_dashboard')).toBe(false)
    // The old cookie no longer opens anything.
    c.jar.set('tb_dashboard', cookie)
    expect((await c.get('/dashboard/reconciliation')).status).toBe(303)
  })

  it('tells a bill not ready, a failed fetch and a day never run apart', async () => {
    const notReady = addDays(day.date, -1)
    const failed = addDays(day.date, -2)
    await hub.database.db.transaction(async (tx) => {
      await recordRunOutcome(tx, { merchantId: day.m.merchantId, connectionId: day.connectionId, businessDate: notReady, status: 'not_ready', error: 'Bill Creating' })
      await recordRunOutcome(tx, { merchantId: day.m.merchantId, connectionId: day.connectionId, businessDate: failed, status: 'fetch_failed', error: 'SIGN ERROR' })
    })
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const grid = await c.get('/dashboard/reconciliation')
    const chipOf = (date: string) => new RegExp(`data-connection="${day.connectionId}" data-date="${date}">[\\s\\S]*?data-status="([a-z_]+)"`).exec(grid.text)?.[1]
    expect(chipOf(notReady)).toBe('not_ready')
    expect(chipOf(failed)).toBe('fetch_failed')
    expect(chipOf(addDays(day.date, -3))).toBe('not_run')
    expect(grid.text).toContain('bill not ready')
    const failedDay = await c.get(`/dashboard/reconciliation/${day.connectionId}/${failed}`)
    expect(failedDay.text).toContain('SIGN ERROR')
    // A range is chosen with from/to, up to 92 days.
    const range = await c.get(`/dashboard/reconciliation?from=${addDays(day.date, -400)}&to=${day.date}`)
    expect(range.text.match(/<tr data-date=/g)).toHaveLength(92)
  })

  it('hands out the stored original of a statement', async () => {
    const c = formClient(app)
    await c.login(day.m.adminEmail, day.m.password)
    const page = await c.get(`/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    const href = /href="(\/dashboard\/reconciliation\/statements\/[^"]+\/file)"/.exec(page.text)![1]!
    const res = await app.request(href, { headers: { cookie: `tb_dashboard=${c.jar.get('tb_dashboard')}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="wechat-${day.date}-ALL.csv.gz"`)
    const bytes = Buffer.from(await res.arrayBuffer())
    expect(bytes.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]))
  })

  it('answers an unknown page and an oversized form with pages, not JSON', async () => {
    const c = formClient(app)
    const missing = await c.get('/dashboard/nowhere')
    expect(missing.status).toBe(404)
    expect(missing.headers.get('content-type')).toMatch(/^text\/html/)
    const big = await c.post('/dashboard/login', { email: 'a@example.com', password: 'x'.repeat(70_000) })
    expect(big.status).toBe(413)
    expect(big.text).toContain('The form is too large')
  })

  it('keeps the dashboard out of the OpenAPI document', async () => {
    const doc = (await (await app.request('/openapi.json')).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths).filter((p) => p.startsWith('/dashboard'))).toEqual([])
    expect(Object.keys(doc.paths).length).toBeGreaterThan(10)
  })
})
