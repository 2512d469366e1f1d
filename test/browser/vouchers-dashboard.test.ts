// The voucher dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser is ever downloaded): building a store's day with the grid's Build button, the voucher's lines in yuan with
// their balancing totals, a line's drill-down to the sales, export by email through the form (once only), the CSV
// download, and who may see and do what.
import fs from 'node:fs'
import { describe, expect, it } from 'vitest'
import iconv from 'iconv-lite'
import type { BrowserContext, Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { EVIL_STORE_NAME, FINANCE_MAILBOX, seedVoucherDay, type VoucherDay } from '../helpers/vouchers-dashboard.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'
import { buildVoucher, exportsOf, getVoucher } from '../../src/core/vouchers/service.ts'

/** Yuan with two decimals and grouped thousands, as the voucher's amount cells show them. */
const YUAN = /^-?\d{1,3}(,\d{3})*\.\d{2}$/
const toMinor = (text: string) => Number(text.replace(/,/g, '').replace('.', ''))

describe('the voucher dashboard in Chromium', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  let d: VoucherDay

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'vouchers-',
    before: async () => {
      await smtp.start()
      d = await seedVoucherDay(hub, smtp)
    },
    after: async () => {
      await smtp.stop()
    },
  })
  const { shot } = ui

  /** Signs in through the form on the way to `next`; returns the response of the page signed in to. */
  async function signIn(email: string, next = '/dashboard/vouchers'): Promise<{ context: BrowserContext; page: Page; status: number }> {
    const { context, page } = await ui.openLogin(next, email, d.m.password)
    const [response] = await Promise.all([page.waitForResponse((r) => new URL(r.url()).pathname === new URL(`${ui.base}${next}`).pathname), page.click('button[type=submit]')])
    return { context, page, status: response.status() }
  }

  const cell = (page: Page) => page.locator(`#voucher-grid td[data-store="${d.store.storeId}"][data-date="${d.date}"]`)
  const lineOf = (page: Page, code: string) => page.locator('#voucher-lines tbody tr[data-line]').filter({ has: page.locator(`[data-testid=account-code]:text-is("${code}")`) })

  it('builds the day with the Build button, shows balanced lines in yuan with their sources, exports once by email and downloads the CSV', async () => {
    const { context, page, status } = await signIn(d.m.adminEmail)
    expect(status).toBe(200)
    expect(new URL(page.url()).pathname).toBe('/dashboard/vouchers')

    // Days × stores: the last 14 days, the store's column; a store's name is its owner's text, shown as text.
    expect(await page.locator('#voucher-grid tbody tr').count()).toBe(14)
    const evilHeader = page.locator(`#voucher-grid thead th[data-store="${d.evilStore.storeId}"]`)
    expect(await evilHeader.locator('.small').textContent()).toBe(EVIL_STORE_NAME)
    expect(await evilHeader.locator('script, b').count()).toBe(0)
    expect(await page.locator('main script').count()).toBe(0)
    expect(await cell(page).locator('.chip').getAttribute('data-status')).toBe('none')
    await shot(page, '1-grid-empty')

    // Build the store's day.
    await cell(page).locator('button[data-action=build]').click()
    await page.waitForURL(/done=created/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('The voucher is built')
    const reference = (await page.locator('[data-testid=flash] a').textContent())!
    expect(reference).toBe(`TB-${d.store.code}-${d.date.replaceAll('-', '')}-R1`)
    const chip = cell(page).locator('.chip')
    expect(await chip.getAttribute('data-status')).toBe('built')
    expect(await chip.textContent()).toContain('built')
    expect(await cell(page).locator('[data-testid=reference]').textContent()).toBe(reference)
    await shot(page, '2-grid-built')

    // The voucher: its head and lines, debits and credits in yuan with two decimals, the totals row balancing.
    await cell(page).locator('a.cell').click()
    await page.waitForURL(/\/dashboard\/vouchers\/[0-9a-f-]{36}$/)
    const voucherId = new URL(page.url()).pathname.split('/').pop()!
    expect(await page.locator('#voucher-reference').textContent()).toBe(reference)
    expect(await page.locator('#voucher-status .chip').getAttribute('data-status')).toBe('built')
    expect(await page.locator('[data-testid=business-date]').textContent()).toBe(d.date)
    expect(await page.locator('[data-testid=store]').textContent()).toContain(d.store.code)
    expect(await page.locator('[data-testid=kind]').textContent()).toContain('daily')
    expect(await page.locator('[data-testid=problems]').count()).toBe(0)

    expect(await lineOf(page, '1001').locator('[data-testid=debit]').textContent()).toBe('25.60')
    expect(await lineOf(page, '1001').locator('[data-testid=summary]').textContent()).toContain('现金收款')
    expect(await lineOf(page, '1012.01').locator('[data-testid=debit]').textContent()).toBe('35.50')
    const amounts = async (side: 'debit' | 'credit') => (await page.locator(`#voucher-lines tbody [data-testid=${side}]`).allTextContents()).filter((t) => t !== '')
    const debits = await amounts('debit')
    const credits = await amounts('credit')
    expect(debits.length).toBeGreaterThan(2)
    expect(credits.length).toBeGreaterThan(2)
    for (const a of [...debits, ...credits]) expect(a).toMatch(YUAN)
    const totalDebit = (await page.locator('[data-testid=total-debit]').textContent())!
    const totalCredit = (await page.locator('[data-testid=total-credit]').textContent())!
    expect(totalDebit).toMatch(YUAN)
    expect(totalCredit).toBe(totalDebit)
    expect(toMinor(totalDebit)).toBe(debits.reduce((n, a) => n + toMinor(a), 0))
    expect(toMinor(totalCredit)).toBe(credits.reduce((n, a) => n + toMinor(a), 0))
    expect(await page.locator('#voucher-lines tr.totals').getAttribute('data-balanced')).toBe('true')
    // What the page shows is what was kept.
    const kept = await getVoucher(hub.database.db, d.m.merchantId, voucherId)
    expect(toMinor(totalDebit)).toBe(kept.totalDebit)
    expect(await page.locator('[data-testid=head-debit]').textContent()).toBe(`${totalDebit} CNY`)
    await shot(page, '3-voucher')

    // Drill down from the WeChat line to the sale it summarises.
    await lineOf(page, '1012.01').locator('a[data-action=sources]').click()
    await page.waitForURL(/line=\d+/)
    const sources = page.locator('#line-sources tbody tr')
    expect(await sources.count()).toBe(1)
    expect(await sources.getAttribute('data-type')).toBe('sale_tender')
    expect(await sources.locator('[data-testid=source-ref]').textContent()).toBe(d.receipts.wechat)
    expect(await sources.textContent()).toContain('35.50')
    expect(await sources.textContent()).not.toContain(d.receipts.cash)
    await shot(page, '4-drilldown')

    // Export by email through the form: sent once, recorded, and the voucher is exported.
    expect(await page.locator('[data-testid=no-deliveries]').count()).toBe(1)
    await page.locator('#export-form select[name=connectionId]').selectOption(d.connection.id)
    await page.locator('#export-form button[data-action=export]').click()
    await page.waitForURL(/done=sent/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain(`Exported to ${d.connection.name}`)
    expect(await page.locator('#voucher-status .chip').getAttribute('data-status')).toBe('exported')
    const delivery = page.locator(`#deliveries tr[data-connection="${d.connection.id}"]`)
    expect(await delivery.getAttribute('data-status')).toBe('exported')
    expect(await delivery.textContent()).toContain(d.connection.name)
    expect(await delivery.locator('[data-testid=external-number]').textContent()).toBe(`<${reference}@tillbridge>`)
    expect(await delivery.locator('[data-testid=last-error]').textContent()).toBe('')
    const mails = smtp.messagesTo(FINANCE_MAILBOX)
    expect(mails).toHaveLength(1)
    expect(mails[0]!.subject).toContain(reference)
    await shot(page, '5-exported')

    // Exporting again says it was delivered already, and nothing more is sent.
    await page.locator('#export-form select[name=connectionId]').selectOption(d.connection.id)
    expect(await page.locator(`#export-form option[value="${d.connection.id}"]`).textContent()).toContain('delivered')
    await page.locator('#export-form button[data-action=export]').click()
    await page.waitForURL(/done=already/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('Already delivered')
    expect(smtp.messagesTo(FINANCE_MAILBOX)).toHaveLength(1)
    expect((await exportsOf(hub.database.db, voucherId)).map((e) => [e.status, e.attempts])).toEqual([['exported', 1]])

    // The CSV as finance software imports it (GBK, as Chinese Excel opens it), with the voucher's reference.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-testid=download-csv]').click()])
    expect(download.suggestedFilename()).toBe(`voucher-${d.store.code}-${d.date}-R1.csv`)
    const csv = iconv.decode(fs.readFileSync((await download.path())!), 'gbk')
    expect(csv).toContain(reference)
    expect(csv).toContain('35.50')
    expect(csv).toContain('摘要')

    // Back on the grid the day is exported.
    await page.locator('a[data-testid=back]').click()
    await page.waitForURL(`${ui.base}/dashboard/vouchers`)
    expect(await cell(page).locator('.chip').getAttribute('data-status')).toBe('exported')
    expect(await cell(page).locator('.chip').textContent()).toContain('exported')
    await shot(page, '6-grid-exported')
    await context.close()
  }, 120_000)

  it('lets a manager read without the forms and refuses their build, and refuses a cashier every page', async () => {
    const { voucher } = await hub.database.db.transaction((tx) => buildVoucher(tx, { merchantId: d.m.merchantId, storeId: d.store.storeId, businessDate: d.date }, new Date()))
    const voucherPage = `/dashboard/vouchers/${voucher!.id}`

    const manager = await d.m.staff('manager')
    const { context, page, status } = await signIn(manager.email, voucherPage)
    expect(status).toBe(200)
    expect(await page.locator('#voucher-reference').textContent()).toBe(voucher!.reference)
    expect(await page.locator('[data-testid=read-only]').textContent()).toContain('finance.export')
    expect(await page.locator('main form[method=post]').count()).toBe(0)
    await page.goto(`${ui.base}/dashboard/vouchers`)
    expect(await cell(page).locator('.chip').count()).toBe(1)
    expect(await page.locator('button[data-action=build]').count()).toBe(0)
    // Even with a valid CSRF token of their own session, building is refused.
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    const built = await context.request.post(`${ui.base}/dashboard/vouchers/build`, { form: { _csrf: csrf!, date: d.date, storeId: d.store.storeId }, maxRedirects: 0 })
    expect(built.status()).toBe(403)
    expect(await built.text()).toContain('finance.export')
    // And a form without the token is refused before anything else.
    const forged = await context.request.post(`${ui.base}/dashboard/vouchers/${voucher!.id}/export`, { form: { connectionId: d.connection.id }, maxRedirects: 0 })
    expect(forged.status()).toBe(403)
    await context.close()

    const cashier = await d.m.staff('cashier')
    const c2 = await signIn(cashier.email)
    expect(c2.status).toBe(403)
    expect(await c2.page.locator('[data-testid=error]').textContent()).toContain('finance.export or reports.read')
    expect(await c2.page.locator('#voucher-grid').count()).toBe(0)
    for (const p of [voucherPage, `${voucherPage}/file?format=csv`]) {
      const r = await c2.context.request.get(`${ui.base}${p}`, { maxRedirects: 0 })
      expect(r.status(), p).toBe(403)
      expect(await r.text(), p).not.toContain(voucher!.reference)
    }
    await c2.context.close()
  }, 120_000)
})
