// The dashboard in one language at a time, in a real headless Chromium: English, Simplified and Traditional Chinese
// by the user's choice or their merchant's, switched through the header's form; the sign-in page by the browser's.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import type { Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'

describe('the dashboard in the reader’s language', () => {
  const hub = useTestHub()
  let day: ReconDay

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'i18n-',
    before: async () => {
      day = await seedReconDay(hub)
      // A merchant that speaks Simplified Chinese, as new merchants do.
      await hub.database.db.execute(sql`update merchants set locale = 'zh-CN' where id = ${day.m.merchantId}`)
    },
  })

  const setUserLocale = (locale: string | null) => hub.database.db.execute(sql`update users set locale = ${locale} where id = ${day.m.adminId}`)
  const nav = (page: Page) => page.locator('header.top > a').allTextContents()
  const lang = (page: Page) => page.locator('html').getAttribute('lang')
  const heading = (page: Page) => page.locator('h1').textContent()

  async function signIn(browserLocale = 'en-US') {
    const { context, page } = await ui.openLogin('/dashboard/reconciliation', day.m.adminEmail, day.m.password, browserLocale)
    await page.click('form.login button[type=submit]')
    await page.waitForURL(`${ui.base}/dashboard/reconciliation`)
    return { context, page }
  }

  it('shows the same page in English, Simplified and Traditional Chinese, one language at a time', async () => {
    await setUserLocale('en')
    const { context, page } = await signIn()
    expect(await lang(page)).toBe('en')
    expect(await heading(page)).toBe('Settlement reconciliation')
    expect(await nav(page)).toContain('Reconciliation')
    const en = (await page.locator('body').textContent())!
    // Only the names the merchant gave things are in Chinese (the connection's: WeChat Pay 微信支付).
    expect(en).not.toMatch(/对账|导出|未处理|退出/)
    expect(await page.locator('.chip').first().textContent()).toMatch(/^[a-z ]+/)
    await ui.shot(page, 'en')

    // No language of their own: the merchant's (Simplified).
    await setUserLocale(null)
    await page.reload()
    expect(await lang(page)).toBe('zh-CN')
    expect(await heading(page)).toBe('渠道对账')
    expect(await nav(page)).toContain('对账')
    const zhCN = (await page.locator('main').textContent())!
    expect(zhCN).toContain('导出')
    expect(zhCN).not.toContain('Settlement reconciliation')
    expect(zhCN).not.toContain('Export')
    await ui.shot(page, 'zh-CN')

    // Traditional: derived from the Simplified text.
    await setUserLocale('zh-TW')
    await page.reload()
    expect(await lang(page)).toBe('zh-TW')
    expect(await heading(page)).toBe('渠道對賬')
    const navTW = await nav(page)
    expect(navTW).toContain('對賬')
    expect(navTW).not.toContain('对账')
    expect(navTW).toContain('庫存同步')
    const zhTW = (await page.locator('body').textContent())!
    expect(zhTW).not.toMatch(/对账|导出|库存|凭证/)
    expect(zhTW).toContain('匯出')
    // Amounts stay the merchant's currency, written the same for every reader.
    expect(await page.locator(`td[data-connection="${day.connectionId}"][data-date="${day.date}"]`).textContent()).toContain('¥51.60')
    await ui.shot(page, 'zh-TW')

    // The day's page (labels from tables: outcomes, states) follows too.
    await page.goto(`${ui.base}/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    const short = page.locator('tr[data-outcome="amount_diff"]')
    expect(await short.textContent()).toContain('金額差異')
    expect(await short.locator('[data-testid=state]').textContent()).toContain('未處理')
    await context.close()
  })

  it('switches language through the header’s form and comes back to the same page', async () => {
    await setUserLocale(null)
    const { context, page } = await signIn()
    const dayPath = `/dashboard/reconciliation/${day.connectionId}/${day.date}`
    await page.goto(`${ui.base}${dayPath}`)
    expect(await lang(page)).toBe('zh-CN')
    const form = page.locator('[data-testid=language]')
    expect(await form.locator('select option:checked').getAttribute('value')).toBe('')
    expect(await form.locator('select option').allTextContents()).toEqual(['商户默认', '简体中文', '繁體中文', 'English'])

    await form.locator('select').selectOption('zh-TW')
    await form.locator('button').click()
    await page.waitForURL(`${ui.base}${dayPath}`)
    expect(await lang(page)).toBe('zh-TW')
    expect(await nav(page)).toContain('對賬')
    expect(await page.locator('[data-testid=language] select option:checked').getAttribute('value')).toBe('zh-TW')
    expect(await page.locator('[data-testid=language] select option').first().textContent()).toBe('商戶預設')

    await page.locator('[data-testid=language] select').selectOption('en')
    await page.locator('[data-testid=language] button').click()
    await page.waitForURL(`${ui.base}${dayPath}`)
    expect(await lang(page)).toBe('en')
    expect(await nav(page)).toContain('Reconciliation')
    const stored = await hub.database.db.execute<{ locale: string | null }>(sql`select locale from users where id = ${day.m.adminId}`)
    expect(stored.rows[0]!.locale).toBe('en')

    // Back to the merchant's language.
    await page.locator('[data-testid=language] select').selectOption('')
    await page.locator('[data-testid=language] button').click()
    await page.waitForURL(`${ui.base}${dayPath}`)
    expect(await lang(page)).toBe('zh-CN')
    expect((await hub.database.db.execute<{ locale: string | null }>(sql`select locale from users where id = ${day.m.adminId}`)).rows[0]!.locale).toBeNull()

    // The switch is a form like the others: without the session's CSRF token it changes nothing.
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    expect(csrf).toBeTruthy()
    const forged = await context.request.post(`${ui.base}/dashboard/locale`, { form: { locale: 'en', next: dayPath }, maxRedirects: 0 })
    expect(forged.status()).toBe(403)
    const unknown = await context.request.post(`${ui.base}/dashboard/locale`, { form: { _csrf: csrf!, locale: 'fr', next: dayPath }, maxRedirects: 0 })
    expect(unknown.status()).toBe(400)
    // Never sends the browser to another site afterwards.
    const away = await context.request.post(`${ui.base}/dashboard/locale`, { form: { _csrf: csrf!, locale: 'zh-CN', next: 'https://evil.example/' }, maxRedirects: 0 })
    expect(away.status()).toBe(303)
    expect(away.headers()['location']).toBe('/dashboard')
    expect((await hub.database.db.execute<{ locale: string | null }>(sql`select locale from users where id = ${day.m.adminId}`)).rows[0]!.locale).toBe('zh-CN')
    await context.close()
  })

  it('shows the sign-in page in the language the browser asks for', async () => {
    for (const [browserLocale, htmlLang, title] of [
      ['zh-TW', 'zh-TW', '登入'],
      ['zh-HK', 'zh-TW', '登入'],
      ['zh-CN', 'zh-CN', '登录'],
      ['en-GB', 'en', 'Sign in'],
    ] as const) {
      const context = await ui.browser.newContext({ locale: browserLocale })
      const page = await context.newPage()
      await page.goto(`${ui.base}/dashboard/login`)
      expect(await lang(page), browserLocale).toBe(htmlLang)
      expect(await heading(page), browserLocale).toBe(title)
      await context.close()
    }
  })
})
