// The stock sync dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser is ever downloaded): the counts and SKU rows of a Shopify connection, the status filter, binding a listing
// by SKU, queueing an audit, and what read-only and cashier users may see.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import type { BrowserContext, Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { EVIL_TITLE, PUSH_ERROR, seedStockSync, type StockSyncState } from '../helpers/stock-sync-dashboard.ts'
import { queuedJobs } from '../helpers/jobs.ts'

describe('the stock sync dashboard in Chromium', () => {
  const hub = useTestHub()
  let s: StockSyncState

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'stock-sync-',
    before: async () => {
      s = await seedStockSync(hub)
    },
  })
  const { shot } = ui

  /** Signs in through the form and lands on the stock sync page. */
  async function signIn(email: string): Promise<{ context: BrowserContext; page: Page }> {
    const { context, page } = await ui.openLogin('/dashboard/stock-sync', email, s.m.password)
    await page.click('button[type=submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login'))
    return { context, page }
  }

  const count = (page: Page, what: string) => page.locator(`#sync-connections tr[data-connection="${s.ref.connectionId}"] [data-count="${what}"]`).textContent()

  it('shows the counts and SKU rows, filters by status, binds a listing by SKU and queues an audit', async () => {
    const { context, page } = await signIn(s.m.adminEmail)
    expect(new URL(page.url()).pathname).toBe('/dashboard/stock-sync')

    // The picker: the Shopify connection with its counts per status.
    const picked = page.locator(`#sync-connections tr[data-connection="${s.ref.connectionId}"]`)
    expect(await picked.textContent()).toContain(s.connectionName)
    expect(await picked.textContent()).toContain('Shopify')
    const counts = { ok: '1', pending: '0', error: '1', drift: '1', unmapped: '2', 'open-drift': '1', 'needs-person': '2' }
    for (const [what, n] of Object.entries(counts)) expect(await count(page, what), what).toBe(n)
    expect(await picked.locator('[data-testid=last-push]').textContent()).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
    expect(await picked.locator('[data-testid=oldest-pending]').textContent()).toMatch(/\d+ (s|min)/)

    // One row per SKU and remote location, with its status, what was pushed, what Shopify holds and the error.
    const row = (sku: string) => page.locator(`#sku-status tr[data-sku="${sku}"]`)
    expect(await page.locator('#sku-status tbody tr').count()).toBe(3)
    expect(await row(s.sku.ok).getAttribute('data-status')).toBe('ok')
    expect(await row(s.sku.ok).locator('[data-testid=pushed] .qty').textContent()).toBe('10')
    expect(await row(s.sku.ok).locator('[data-testid=remote] .qty').textContent()).toBe('10')
    expect(await row(s.sku.ok).textContent()).toContain('Shop warehouse')
    expect(await row(s.sku.error).getAttribute('data-status')).toBe('error')
    expect(await row(s.sku.error).locator('[data-testid=error]').textContent()).toBe(PUSH_ERROR)
    expect(await row(s.sku.drift).getAttribute('data-status')).toBe('drift')
    expect(await row(s.sku.drift).locator('.chip').textContent()).toContain('drift')
    expect(await row(s.sku.drift).locator('[data-testid=target]').textContent()).toBe('3')
    expect(await row(s.sku.drift).locator('[data-testid=remote] .qty').textContent()).toBe('7')

    // The drift the audit found, and the order Shopify sold without our stock to hold.
    const drift = page.locator(`#drift tr[data-sku="${s.sku.drift}"]`)
    expect(await drift.locator('td').allTextContents()).toEqual(expect.arrayContaining(['Shop warehouse', '3', '7']))
    expect(await drift.getAttribute('data-repaired')).toBe('false')
    const order = page.locator('#flagged-orders tbody tr')
    expect(await order.count()).toBe(1)
    expect(await order.getAttribute('data-flag')).toBe('insufficient_stock')
    expect(await order.textContent()).toContain(s.orderName)
    expect(await order.textContent()).toContain('insufficient stock')
    expect(await order.textContent()).toContain('open')

    // A listing's title is the marketplace's text, shown as text: no element of it reaches the page.
    const unknown = page.locator(`#needs-person tr[data-listing="${s.listings.unknown}"]`)
    expect(await unknown.getAttribute('data-state')).toBe('unmapped')
    expect(await unknown.locator('[data-testid=title]').textContent()).toBe(EVIL_TITLE)
    expect(await unknown.locator('[data-testid=title] script, [data-testid=title] b').count()).toBe(0)
    expect(await page.locator('main script').count()).toBe(0)
    const ambiguous = page.locator(`#needs-person tr[data-listing="${s.listings.ambiguous}"]`)
    expect(await ambiguous.getAttribute('data-state')).toBe('ambiguous')
    expect(await ambiguous.textContent()).toContain(s.sku.ok)
    await shot(page, '1-overview')

    // Filter: only the SKU in error.
    await page.click('a[data-filter="error"]')
    await page.waitForURL(/status=error/)
    expect(await page.locator('#sku-status tbody tr').count()).toBe(1)
    expect(await page.locator('#sku-status tbody tr').getAttribute('data-sku')).toBe(s.sku.error)
    expect(await page.locator('a[data-filter="error"]').getAttribute('class')).toBe('active')
    // And by SKU within all statuses.
    await page.click('a[data-filter="all"]')
    await page.fill('input[name=sku]', s.sku.drift)
    await page.click('nav.filter button[type=submit]')
    await page.waitForURL(/sku=/)
    expect(await page.locator('#sku-status tbody tr').count()).toBe(1)
    expect(await page.locator('#sku-status tbody tr').getAttribute('data-sku')).toBe(s.sku.drift)
    await shot(page, '2-filtered')

    // Binding to a SKU no variant has is refused on the page, and nothing changes.
    await page.click('a[data-filter="all"]')
    const submitBind = async (sku: string) => {
      const form = page.locator(`#needs-person tr[data-listing="${s.listings.unknown}"] form`)
      await form.locator('input[name=sku]').fill(sku)
      const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/bind')), form.locator('button[type=submit]').click()])
      return response
    }
    const refused = await submitBind('NO-SUCH-SKU')
    expect(refused.status()).toBe(422)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('No product variant has the SKU "NO-SUCH-SKU"')
    expect(await page.locator('[data-testid=flash]').getAttribute('class')).toContain('alert-error')
    expect(await unknown.getAttribute('data-state')).toBe('unmapped')

    // Bound to the bag by its SKU: it leaves "Needs a person", the bag is no longer unmapped and waits for its push.
    await submitBind(s.sku.spare)
    await page.waitForURL(/done=bound/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('The listing is bound')
    expect(await page.locator(`#needs-person tr[data-listing="${s.listings.unknown}"]`).count()).toBe(0)
    expect(await page.locator('#needs-person tbody tr').count()).toBe(1)
    expect(await count(page, 'unmapped')).toBe('1')
    expect(await count(page, 'pending')).toBe('1')
    expect(await count(page, 'needs-person')).toBe('1')
    expect(await row(s.sku.spare).getAttribute('data-status')).toBe('pending')
    const bound = await hub.database.db.execute<{ variant_id: string; matched_by: string; state: string }>(sql`select variant_id, matched_by, state from channel_listings where id = ${s.listings.unknown}`)
    expect(bound.rows).toEqual([{ variant_id: s.variantIds.spare, matched_by: 'manual', state: 'bound' }])
    await shot(page, '3-bound')

    // "Run audit now" queues the listings job as an audit.
    expect(await queuedJobs(hub, 'stock.listings')).toEqual([])
    await page.click('button[data-action="audit"]')
    await page.waitForURL(/done=audit/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('An audit is queued')
    const jobs = await queuedJobs(hub, 'stock.listings')
    expect(jobs.map((j) => j.payload)).toEqual([{ merchantId: s.m.merchantId, connectionId: s.ref.connectionId, audit: true }])
    await context.close()
  }, 120_000)

  it('lets a finance user read without the action forms, refuses their actions, and refuses a cashier the page', async () => {
    const finance = await s.m.staff('finance')
    const { context, page } = await signIn(finance.email)
    expect(new URL(page.url()).pathname).toBe('/dashboard/stock-sync')
    expect(await page.locator('#sku-status tbody tr').count()).toBeGreaterThan(0)
    expect(await page.locator('[data-testid=read-only]').textContent()).toContain('connections.manage')
    expect(await page.locator('main form[method=post]').count()).toBe(0)
    expect(await page.locator('button[data-action]').count()).toBe(0)

    // Even with a valid CSRF token of their own session, the action is refused.
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    const audit = await context.request.post(`${ui.base}/dashboard/stock-sync/${s.ref.connectionId}/audit`, { form: { _csrf: csrf! }, maxRedirects: 0 })
    expect(audit.status()).toBe(403)
    expect(await audit.text()).toContain('connections.manage')
    const bind = await context.request.post(`${ui.base}/dashboard/stock-sync/${s.ref.connectionId}/listings/${s.listings.ambiguous}/bind`, { form: { _csrf: csrf!, sku: s.sku.soldOut }, maxRedirects: 0 })
    expect(bind.status()).toBe(403)
    const listing = await hub.database.db.execute<{ state: string }>(sql`select state from channel_listings where id = ${s.listings.ambiguous}`)
    expect(listing.rows[0]!.state).toBe('ambiguous')
    expect(await queuedJobs(hub, 'stock.recover')).toEqual([])
    await context.close()

    const cashier = await s.m.staff('cashier')
    const c2 = await ui.browser.newContext({ locale: 'zh-CN' })
    const p2 = await c2.newPage()
    await p2.goto(`${ui.base}/dashboard/login?next=${encodeURIComponent('/dashboard/stock-sync')}`)
    await p2.fill('#email', cashier.email)
    await p2.fill('#password', s.m.password)
    const [response] = await Promise.all([p2.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard/stock-sync'), p2.click('button[type=submit]')])
    expect(response.status()).toBe(403)
    expect(await p2.locator('[data-testid=error]').textContent()).toContain('connections.read')
    expect(await p2.locator('#sku-status').count()).toBe(0)
    await c2.close()
  }, 120_000)
})
