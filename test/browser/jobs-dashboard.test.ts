// The jobs page in a real headless Chromium: running jobs with their progress bars (a known total as a percentage,
// an unknown one as an indeterminate bar, a job that stopped reporting as stalled), what finished lately (a failed
// run with its error), the jobs that failed in the queue, the nav link to the page, and that a role without
// jobs.manage is refused.
import { describe, expect, it } from 'vitest'
import type { Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant, type SeededMerchant } from '../helpers/api.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { enqueue } from '../../src/db/enqueue.ts'
import { finishProgress, reportProgress, startProgress, type ProgressRef } from '../../src/jobs/progress.ts'

describe('the jobs dashboard in Chromium', () => {
  const hub = useTestHub()
  let m: SeededMerchant
  let other: SeededMerchant
  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'jobs-',
    before: async () => {
      m = await seedMerchant(hub)
      other = await seedMerchant(hub)
      const db = hub.database.db
      const now = Date.now()
      const ago = (ms: number) => new Date(now - ms)
      const ref = (task: string, key: string, label: string, unit: string): ProgressRef => ({ merchantId: m.merchantId, task, key, label, unit, jobId: '42' })
      const statement = ref('settlement.fetch', 'c1:2026-11-10', 'WeChat <b>门店</b> 2026-11-10', 'rows')
      await startProgress(db, statement, { done: 0, total: 5000 }, { now: ago(30_000) })
      await reportProgress(db, statement, { done: 1200, total: 5000 }, { now: ago(1000) })
      const audit = ref('stock.listings', 'c2', 'Shopify stock audit', 'listings')
      await startProgress(db, audit, { done: 0 }, { now: ago(20_000) })
      await reportProgress(db, audit, { done: 340 }, { now: ago(2000) })
      const stalled = ref('campaigns.send', 'camp:once', '双十一 (once)', 'recipients')
      await startProgress(db, stalled, { done: 10, total: 100 }, { now: ago(3600_000) })
      const done = ref('settlement.fetch', 'c1:2026-11-09', 'WeChat 2026-11-09', 'rows')
      await startProgress(db, done, { done: 0 }, { now: ago(7200_000) })
      await finishProgress(db, done, { done: 800, total: 800 }, { now: ago(7100_000) })
      const broken = ref('stock.listings', 'c3', 'Woo stock audit', 'listings')
      await startProgress(db, broken, { done: 0, total: 50 }, { now: ago(600_000) })
      await finishProgress(db, broken, { done: 20, total: 50 }, { now: ago(590_000), error: 'WooCommerce answered 503' })
      // Another merchant's run is not shown.
      await startProgress(db, { ...statement, merchantId: other.merchantId, label: 'Not yours' }, { done: 1, total: 2 }, { now: ago(1000) })
      // A job that failed in the queue: a campaign send whose campaign is gone, with one attempt.
      await enqueue(db, 'campaigns.send', { merchantId: m.merchantId, campaignId: '00000000-0000-7000-8000-000000000001', runKey: 'once' }, { maxAttempts: 1 })
      await drainJobs(hub)
    },
  })

  async function open(path: string, email: string) {
    const { context, page } = await ui.openLogin(path, email, m.password)
    const errors: string[] = []
    page.on('pageerror', (err) => errors.push(err.message))
    await page.click('button[type=submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login'))
    return { context, page, errors }
  }
  const running = (page: Page, key: string) => page.locator(`[data-testid=running] tr[data-key="${key}"]`)

  it('shows the running jobs with their progress, the stalled one, what finished and the failed jobs', async () => {
    const { context, page, errors } = await open('/dashboard/jobs', m.adminEmail)
    expect(new URL(page.url()).pathname).toBe('/dashboard/jobs')
    await ui.shot(page, 'page')

    const statement = running(page, 'c1:2026-11-10')
    expect(await statement.locator('progress').getAttribute('value')).toBe('24')
    expect(await statement.locator('progress').getAttribute('max')).toBe('100')
    expect(await statement.locator('[data-testid=count]').textContent()).toMatch(/^1200 \/ 5000 /)
    expect(await statement.locator('[data-testid=percent]').textContent()).toBe('24%')
    expect(await statement.locator('.chip').getAttribute('data-status')).toBe('running')
    // The label is shown as text, never as markup.
    expect(await statement.locator('td').nth(1).textContent()).toBe('WeChat <b>门店</b> 2026-11-10')

    const audit = running(page, 'c2')
    expect(await audit.locator('progress').getAttribute('value')).toBeNull()
    expect(await audit.locator('[data-testid=count]').textContent()).toMatch(/^340 /)
    expect(await audit.locator('[data-testid=percent]').count()).toBe(0)

    expect(await running(page, 'camp:once').locator('.chip').getAttribute('data-status')).toBe('stalled')
    expect(await page.locator('[data-testid=running] tr[data-testid=running-job]').count()).toBe(3)
    expect(await page.getByText('Not yours').count()).toBe(0)

    const finished = page.locator('[data-testid=finished] tr[data-testid=finished-job]')
    expect(await finished.count()).toBe(2)
    const broken = page.locator('[data-testid=finished] tr[data-key=c3]')
    expect(await broken.locator('.chip').getAttribute('data-status')).toBe('failed')
    expect(await broken.locator('[data-testid=error]').textContent()).toBe('WooCommerce answered 503')
    expect(await broken.locator('progress').getAttribute('value')).toBe('40')
    expect(await page.locator('[data-testid=finished] tr[data-key="c1:2026-11-09"] .chip').getAttribute('data-status')).toBe('done')

    const failed = page.locator('[data-testid=failed] tr[data-testid=failed-job]')
    expect(await failed.count()).toBe(1)
    expect(await failed.locator('td').nth(2).textContent()).toBe('1 / 1')
    expect(await failed.locator('[data-testid=error]').textContent()).toContain('campaign')
    expect(errors).toEqual([])
    await context.close()
  })

  it('is linked from the other pages, and refused to a role without jobs.manage', async () => {
    const { context, page } = await open('/dashboard/reconciliation', m.adminEmail)
    await page.click('header.top a[href="/dashboard/jobs"]')
    await page.waitForURL((u) => u.pathname === '/dashboard/jobs')
    expect(await page.locator('[data-testid=running]').count()).toBe(1)
    await context.close()

    const cashier = await m.staff('cashier')
    const c = await open('/dashboard/jobs', cashier.email)
    expect(await c.page.locator('[data-testid=error]').count()).toBe(1)
    expect(await c.page.locator('[data-testid=running]').count()).toBe(0)
    await c.context.close()
  })
})
