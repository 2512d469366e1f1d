// The campaigns dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser is ever downloaded): the list with each campaign's counts, coupons and attributed revenue, a campaign's
// results, segment rule and masked recipients with the status filter and paging, Send now queueing the send job,
// Cancel, a campaign name with HTML in it, and what a cashier (members.read without campaigns.manage) may do.
import { describe, expect, it } from 'vitest'
import type { BrowserContext, Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { CONNECTION_NAME, EVIL_CAMPAIGN_NAME, FAILED_CODE, FAILED_REASON, PHONES, seedCampaigns, type CampaignsState } from '../helpers/campaigns-dashboard.ts'
import { queuedJobs } from '../helpers/jobs.ts'
import { getCampaign } from '../../src/core/campaigns/service.ts'

/** 13900000004 as staff see it. */
const masked = (phone: string) => `${phone.slice(0, 3)}****${phone.slice(-4)}`

describe('the campaigns dashboard in Chromium', () => {
  const hub = useTestHub()
  let s: CampaignsState

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'campaigns-',
    before: async () => {
      s = await seedCampaigns(hub)
    },
  })
  const { shot } = ui

  /** Signs in through the form on the way to the campaigns list. */
  async function signIn(email: string): Promise<{ context: BrowserContext; page: Page }> {
    const { context, page } = await ui.openLogin('/dashboard/campaigns', email, s.m.password)
    await page.click('button[type=submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login'))
    expect(new URL(page.url()).pathname).toBe('/dashboard/campaigns')
    return { context, page }
  }

  const listRow = (page: Page, id: string) => page.locator(`#campaigns tr[data-campaign="${id}"]`)
  const addresses = (page: Page) => page.locator('#deliveries tbody [data-testid=address]').allTextContents()
  const sendJobs = async (campaignId: string) => (await queuedJobs(hub, 'campaigns.send')).filter((j) => j.payload.campaignId === campaignId)

  it('lists campaigns with their counts and revenue, shows the results, rule and masked recipients, filters and pages them, and queues a send', async () => {
    const { context, page } = await signIn(s.m.adminEmail)

    // The list: both campaigns, newest first; the run's counts, coupons and the sale made with a coupon, in yuan.
    expect(await page.locator('#campaigns tbody tr').count()).toBe(2)
    const row = listRow(page, s.campaign.id)
    expect(await row.locator('[data-testid=name]').textContent()).toBe('Spring tea 春茶上新')
    expect(await row.getAttribute('data-status')).toBe('draft')
    expect(await row.textContent()).toContain('SMS')
    expect(await row.textContent()).toContain('on demand')
    expect(await row.textContent()).toContain(CONNECTION_NAME)
    // The failed recipient's message never went out, so neither did its coupon (voided): 5 of the 6 issued count.
    const counts = { sent: '6', delivered: '2', failed: '1', suppressed: '1', 'coupons-issued': '5', 'coupons-redeemed': '1' }
    for (const [what, n] of Object.entries(counts)) expect(await row.locator(`[data-count="${what}"]`).textContent(), what).toBe(n)
    expect(s.saleTotal).toBe(2500)
    expect(await row.locator('[data-testid=revenue]').textContent()).toContain('¥25.00')
    const evilRow = listRow(page, s.evil.id)
    expect(await evilRow.textContent()).toContain('daily at')
    expect(await evilRow.textContent()).toContain('10:00')
    expect(await evilRow.locator('[data-count=sent]').textContent()).toBe('0')
    expect(await evilRow.locator('[data-testid=revenue]').textContent()).toContain('¥0.00')

    // A campaign's name is its author's text, shown as text: no element of it reaches the page.
    expect(await evilRow.locator('[data-testid=name]').textContent()).toBe(EVIL_CAMPAIGN_NAME)
    expect(await evilRow.locator('script, b').count()).toBe(0)
    expect(await page.locator('main script').count()).toBe(0)
    await shot(page, '1-list')

    // The campaign: its results per status, the segment's rule in words with its count now.
    await row.locator('[data-testid=name]').click()
    await page.waitForURL(`${ui.base}/dashboard/campaigns/${s.campaign.id}`)
    expect(await page.locator('#campaign-name').textContent()).toBe('Spring tea 春茶上新')
    expect(await page.locator('#campaign-status .chip').getAttribute('data-status')).toBe('draft')
    const results = { sent: '6', pending: '0', claimed: '0', accepted: '2', delivered: '2', failed: '1', unknown: '1', suppressed: '1', skipped: '0', 'coupons-issued': '5', 'coupons-redeemed': '1', 'attributed-sales': '1' }
    for (const [what, n] of Object.entries(results)) expect(await page.locator(`#results [data-count="${what}"]`).textContent(), what).toBe(n)
    expect(await page.locator('#results [data-testid=revenue]').textContent()).toContain('¥25.00')
    expect(await page.locator('[data-testid=segment-name]').textContent()).toBe(s.segment.name)
    expect(await page.locator('[data-testid=segment-rule]').textContent()).toBe('tagged vip and points balance at least 0')
    expect(await page.locator('[data-testid=segment-count]').textContent()).toBe('7')
    expect(await page.locator('[data-testid=message]').textContent()).toContain('SMS_123456')
    expect(await page.locator('[data-testid=channel]').textContent()).toContain(CONNECTION_NAME)
    expect(await page.locator('[data-testid=channel]').textContent()).toContain('Alibaba Cloud SMS')

    // Every recipient, its address masked: no full number anywhere on the page.
    const all = await addresses(page)
    const expected = Object.entries(PHONES).filter(([role]) => role !== 'outside').map(([, p]) => masked(p))
    expect(all.sort()).toEqual(expected.sort())
    expect(masked(PHONES.failed)).toBe('139****0004')
    const text = (await page.locator('body').textContent())!
    for (const phone of Object.values(PHONES)) expect(text).not.toContain(phone)
    await shot(page, '2-campaign')

    // Filter: the failed one with the vendor's code and reason; the one who never consented, suppressed.
    await page.click('a[data-filter="failed"]')
    await page.waitForURL(/status=failed/)
    const failed = page.locator('#deliveries tbody tr')
    expect(await failed.count()).toBe(1)
    expect(await failed.getAttribute('data-status')).toBe('failed')
    expect(await failed.locator('[data-testid=address]').textContent()).toBe(masked(PHONES.failed))
    expect(await failed.locator('[data-testid=vendor-code]').textContent()).toBe(FAILED_CODE)
    expect(await failed.locator('[data-testid=reason]').textContent()).toBe(FAILED_REASON)
    expect(await page.locator('a[data-filter="failed"]').getAttribute('class')).toBe('active')
    await page.click('a[data-filter="suppressed"]')
    await page.waitForURL(/status=suppressed/)
    expect(await addresses(page)).toEqual([masked(PHONES.noConsent)])
    expect(await page.locator('#deliveries tbody [data-testid=reason]').textContent()).toBe('no_consent')
    await page.click('a[data-filter="claimed"]')
    await page.waitForURL(/status=claimed/)
    expect(await page.locator('[data-testid=no-deliveries]').count()).toBe(1)
    await page.click('a[data-filter="delivered"]')
    await page.waitForURL(/status=delivered/)
    expect((await addresses(page)).sort()).toEqual([masked(PHONES.delivered1), masked(PHONES.delivered2)])
    await shot(page, '3-filtered')

    // Pages of three: 3 + 3 + 1, each recipient once.
    await page.goto(`${ui.base}/dashboard/campaigns/${s.campaign.id}?limit=3`)
    const seen: string[] = []
    for (const size of [3, 3, 1]) {
      const shown = await addresses(page)
      expect(shown).toHaveLength(size)
      seen.push(...shown)
      if (size === 3) {
        await page.click('a[data-testid=next-page]')
        await page.waitForURL(/after=/)
      }
    }
    expect(await page.locator('a[data-testid=next-page]').count()).toBe(0)
    expect(await page.locator('a[data-testid=first-page]').count()).toBe(1)
    expect(seen.sort()).toEqual(expected.sort())

    // Send now: the campaign is sending and its run's send job is queued, once however often it is pressed.
    expect(await sendJobs(s.campaign.id)).toHaveLength(0)
    await page.goto(`${ui.base}/dashboard/campaigns/${s.campaign.id}`)
    await page.locator('button[data-action=send]').click()
    await page.waitForURL(/done=queued/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('queued to send')
    expect(await page.locator('#campaign-status .chip').getAttribute('data-status')).toBe('sending')
    const jobs = await sendJobs(s.campaign.id)
    expect(jobs).toHaveLength(1)
    expect(jobs[0]!.payload).toEqual({ merchantId: s.m.merchantId, campaignId: s.campaign.id, runKey: 'once' })
    await page.locator('button[data-action=send]').click()
    await page.waitForURL(/done=queued/)
    expect(await sendJobs(s.campaign.id)).toHaveLength(1)
    expect((await getCampaign(hub.database.db, s.m.merchantId, s.campaign.id)).status).toBe('sending')
    await shot(page, '4-queued')

    // Cancel the other one: nothing more may be sent, and a forged Send now is refused with the reason.
    await page.goto(`${ui.base}/dashboard/campaigns/${s.evil.id}`)
    expect(await page.locator('#campaign-name').textContent()).toBe(EVIL_CAMPAIGN_NAME)
    expect(await page.locator('#campaign-name b, main script').count()).toBe(0)
    expect(await page.title()).toContain(EVIL_CAMPAIGN_NAME)
    await page.locator('button[data-action=cancel]').click()
    await page.waitForURL(/done=cancelled/)
    expect(await page.locator('#campaign-status .chip').getAttribute('data-status')).toBe('cancelled')
    expect(await page.locator('button[data-action=send]').count()).toBe(0)
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    const refused = await context.request.post(`${ui.base}/dashboard/campaigns/${s.evil.id}/send`, { form: { _csrf: csrf! }, maxRedirects: 0 })
    expect(refused.status()).toBe(409)
    expect(await refused.text()).toContain('cancelled')
    expect(await sendJobs(s.evil.id)).toHaveLength(0)
    expect((await getCampaign(hub.database.db, s.m.merchantId, s.evil.id)).status).toBe('cancelled')
    await shot(page, '5-cancelled')
    await context.close()
  }, 120_000)

  it('shows a cashier the campaigns without any form and refuses their Send now and Cancel', async () => {
    const cashier = await s.m.staff('cashier')
    const { context, page } = await signIn(cashier.email)
    expect(await listRow(page, s.campaign.id).locator('[data-count=delivered]').textContent()).toBe('2')
    expect(await page.locator('[data-testid=read-only]').textContent()).toContain('campaigns.manage')

    await page.goto(`${ui.base}/dashboard/campaigns/${s.campaign.id}`)
    expect(await page.locator('#campaign-name').textContent()).toBe('Spring tea 春茶上新')
    expect(await page.locator('#deliveries tbody tr').count()).toBe(7)
    expect(await page.locator('[data-testid=read-only]').textContent()).toContain('campaigns.manage')
    expect(await page.locator('main form[method=post]').count()).toBe(0)
    expect(await page.locator('button[data-action=send], button[data-action=cancel]').count()).toBe(0)

    // Even with a valid CSRF token of their own session, the actions are refused and change nothing.
    const before = await queuedJobs(hub, 'campaigns.send')
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    for (const action of ['send', 'cancel']) {
      const r = await context.request.post(`${ui.base}/dashboard/campaigns/${s.campaign.id}/${action}`, { form: { _csrf: csrf! }, maxRedirects: 0 })
      expect(r.status(), action).toBe(403)
      expect(await r.text(), action).toContain('campaigns.manage')
    }
    // And a form without the token is refused before anything else.
    const forged = await context.request.post(`${ui.base}/dashboard/campaigns/${s.campaign.id}/send`, { form: {}, maxRedirects: 0 })
    expect(forged.status()).toBe(403)
    expect(await queuedJobs(hub, 'campaigns.send')).toEqual(before)
    expect((await getCampaign(hub.database.db, s.m.merchantId, s.campaign.id)).status).toBe('sending')
    await context.close()
  }, 120_000)
})
