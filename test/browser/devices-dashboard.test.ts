// The devices dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no
// browser is ever downloaded): each device's status badge and job counts, the store filter, the receipts as the
// printer printed them (the preview decoded from the ESC/POS bytes of real sales), the jobs needing a person, settling
// an unknown outcome and reprinting, a device named with HTML, and what a cashier (devices.use without
// devices.manage) and finance (neither) may do. The cashier's test comes first: it needs the unknown job unsettled.
import { describe, expect, it } from 'vitest'
import { and, eq, sql } from 'drizzle-orm'
import type { BrowserContext, Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { DISPLAY_MESSAGE, EVIL_DEVICE_NAME, LOST_MESSAGE, PAPER_MESSAGE, PRODUCT_NAME, seedDevices, type DevicesState } from '../helpers/devices-dashboard.ts'
import { getJob } from '../../src/core/devices/jobs.ts'
import { deviceJobs } from '../../src/core/devices/schema.ts'
import { auditLog } from '../../src/core/staff/schema.ts'

describe('the devices dashboard in Chromium', () => {
  const hub = useTestHub()
  let s: DevicesState

  const ui = useDashboardBrowser(hub, {
    shotPrefix: 'devices-',
    before: async () => {
      s = await seedDevices(hub)
    },
  })
  const { shot } = ui

  /** Signs in through the form on the way to the devices page; every console error and page error is collected. */
  async function signIn(email: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const { context, page } = await ui.openLogin('/dashboard/devices', email, s.m.password)
    const errors: string[] = []
    page.on('console', (msg) => {
      if (msg.type() === 'error') errors.push(msg.text())
    })
    page.on('pageerror', (err) => errors.push(err.message))
    await page.click('button[type=submit]')
    await page.waitForURL((u) => !u.pathname.startsWith('/dashboard/login'))
    expect(new URL(page.url()).pathname).toBe('/dashboard/devices')
    return { context, page, errors }
  }

  const deviceRow = (page: Page, id: string) => page.locator(`#devices tr[data-device="${id}"]`)
  const attentionRow = (page: Page, id: string) => page.locator(`#attention tr[data-job="${id}"]`)
  const receiptCard = (page: Page, id: string) => page.locator(`#receipts .receipt[data-job="${id}"]`)
  const count = async (page: Page, id: string, what: string) => deviceRow(page, id).locator(`[data-count="${what}"]`).textContent()
  const reprintsOf = async (jobId: string) => hub.database.db.select().from(deviceJobs).where(and(eq(deviceJobs.merchantId, s.m.merchantId), eq(deviceJobs.reprintOf, jobId)))

  it('shows a cashier the devices, receipts and failures, lets them reprint but not settle', async () => {
    const cashier = await s.m.staff('cashier')
    const { context, page, errors } = await signIn(cashier.email)
    const unknown = s.sales[1]!.receipt
    expect(await deviceRow(page, s.printer).getAttribute('data-badge')).toBe('paper_end')
    expect(await page.locator('[data-testid=read-only]').textContent()).toContain('devices.manage')
    expect(await attentionRow(page, unknown.id).getAttribute('data-state')).toBe('unknown')
    expect(await page.locator('[data-testid=settle-form], form[action$="/settle"]').count()).toBe(0)
    expect(await attentionRow(page, unknown.id).locator('button[data-action=reprint]').count()).toBe(1)
    expect(await page.locator('#receipts .receipt').count()).toBe(2)

    // Even with a valid CSRF token of their own session, settling is refused and changes nothing.
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    const refused = await context.request.post(`${ui.base}/dashboard/devices/jobs/${unknown.id}/settle`, { form: { _csrf: csrf!, printed: 'yes' }, maxRedirects: 0 })
    expect(refused.status()).toBe(403)
    expect(await refused.text()).toContain('devices.manage')
    // And a form without the token is refused before anything else, a reprint included.
    const forged = await context.request.post(`${ui.base}/dashboard/devices/jobs/${s.sales[0]!.receipt.id}/reprint`, { form: {}, maxRedirects: 0 })
    expect(forged.status()).toBe(403)
    expect(await reprintsOf(s.sales[0]!.receipt.id)).toHaveLength(1)
    expect((await getJob(hub.database.db, s.m.merchantId, unknown.id)).state).toBe('unknown')
    await shot(page, '0-cashier')
    expect(errors).toEqual([])
    await context.close()

    // Finance sees no devices at all (no devices.use).
    const finance = await s.m.staff('finance')
    const f = await ui.openLogin('/dashboard/devices', finance.email, s.m.password)
    const [response] = await Promise.all([f.page.waitForResponse((r) => new URL(r.url()).pathname === '/dashboard/devices'), f.page.click('button[type=submit]')])
    expect(response.status()).toBe(403)
    expect(await f.page.locator('[data-testid=error]').textContent()).toContain('devices.use')
    expect(await f.page.locator('#devices').count()).toBe(0)
    await f.context.close()
  }, 120_000)

  it('shows each device’s status and jobs, the receipts as printed, settles an unknown job and reprints a receipt', async () => {
    const { context, page, errors } = await signIn(s.m.adminEmail)

    // Every device of both stores with the badge its last status read comes to, and when it was read.
    expect(await page.locator('#devices tbody tr').count()).toBe(7)
    const badges = {
      [s.printer]: 'paper_end',
      [s.display]: 'unreachable',
      [s.others.kitchen]: 'paper_near_end',
      [s.others.labels]: 'cover_open',
      [s.others.back]: 'offline',
      [s.others.scale]: 'ok',
      [s.others.evil]: 'unknown',
    }
    for (const [id, badge] of Object.entries(badges)) {
      expect(await deviceRow(page, id).getAttribute('data-badge'), badge).toBe(badge)
      expect(await deviceRow(page, id).locator('[data-testid=status] .chip').getAttribute('data-status'), badge).toBe(badge)
    }
    const printerRow = deviceRow(page, s.printer)
    expect(await printerRow.locator('[data-testid=status]').textContent()).toContain('paper end')
    expect(await printerRow.locator('[data-testid=status] time').getAttribute('datetime')).toBe(s.statusAt.toISOString())
    expect(await deviceRow(page, s.others.evil).locator('[data-testid=status]').textContent()).toContain('never read')
    expect(await printerRow.locator('[data-testid=driver]').textContent()).toBe('escpos_tcp')
    expect(await printerRow.locator('[data-testid=address]').textContent()).toBe('192.168.1.50:9100')
    expect(await printerRow.textContent()).toContain('receipt printer')
    expect(await printerRow.textContent()).toContain('80 mm · 48')
    expect(await printerRow.textContent()).toContain('store bridge')
    expect(await deviceRow(page, s.others.back).textContent()).toContain('hub')

    // Jobs: the printer's paper-end failure and its lost outcome; the display's failure (its later screen was dropped).
    const counts = async (id: string) => [await count(page, id, 'open'), await count(page, id, 'failed'), await count(page, id, 'unknown')]
    expect(await counts(s.printer)).toEqual(['0', '1', '1'])
    expect(await counts(s.display)).toEqual(['0', '1', '0'])
    expect(await counts(s.others.evil)).toEqual(['0', '0', '0'])

    // A device's name is the manager's text, shown as text: no element of it reaches the page.
    expect(await deviceRow(page, s.others.evil).locator('[data-testid=name]').textContent()).toBe(EVIL_DEVICE_NAME)
    expect(await page.locator('main script, main b').count()).toBe(0)

    // The last receipts, newest first: the reprint (marked) and the original, each exactly as the printer got it.
    const [original, reprint] = [s.sales[0]!.receipt, s.reprint]
    expect(await page.locator('#receipts .receipt').evaluateAll((els) => els.map((e) => e.getAttribute('data-job')))).toEqual([reprint.id, original.id])
    const preview = receiptCard(page, original.id).locator('pre[data-testid=preview]')
    expect(original.preview).not.toBeNull()
    expect(await preview.textContent()).toBe(original.preview)
    expect(original.preview).toContain(s.sales[0]!.receiptNo)
    for (const text of [s.sales[0]!.receiptNo, '谢谢惠顾', '合计 TOTAL', '找零 Change', PRODUCT_NAME.split(' ')[0]!]) expect(await preview.textContent(), text).toContain(text)
    expect(await preview.getAttribute('data-columns')).toBe('48')
    // Laid out as paper: monospace, lines kept as printed (the tests' TypeScript has no DOM types, hence the any).
    const [font, whiteSpace] = await preview.evaluate((e: any) => {
      const style = e.ownerDocument.defaultView.getComputedStyle(e)
      return [style.fontFamily as string, style.whiteSpace as string]
    })
    expect(font).toContain('monospace')
    expect(whiteSpace).toBe('pre')
    expect(await receiptCard(page, original.id).getAttribute('data-reprint')).toBe('false')
    expect(await receiptCard(page, original.id).locator('[data-testid=doc-no]').textContent()).toBe(s.sales[0]!.receiptNo)
    const reprintCard = receiptCard(page, reprint.id)
    expect(await reprintCard.getAttribute('data-reprint')).toBe('true')
    expect(await reprintCard.locator('.chip-reprint').textContent()).toContain('REPRINT')
    expect(await reprintCard.locator('pre').textContent()).toBe(reprint.preview)
    expect(reprint.preview).toContain('重印 REPRINT')
    expect(reprint.preview).toContain(s.sales[0]!.receiptNo)

    // Needing a person: the lost outcome, the paper-end failure and the unreachable display, newest first.
    const [lost, paper, screen] = [s.sales[1]!.receipt, s.sales[2]!.receipt, s.sales[1]!.display]
    expect(await page.locator('#attention tbody tr').evaluateAll((els) => els.map((e) => e.getAttribute('data-job')))).toEqual([paper.id, screen.id, lost.id])
    const paperRow = attentionRow(page, paper.id)
    expect(await paperRow.getAttribute('data-state')).toBe('failed')
    expect(await paperRow.locator('[data-reason]').getAttribute('data-reason')).toBe('paper_end')
    expect(await paperRow.locator('[data-testid=message]').textContent()).toBe(PAPER_MESSAGE)
    expect(await paperRow.locator('[data-testid=doc-no]').textContent()).toBe(s.sales[2]!.receiptNo)
    expect(await paperRow.locator('form[action$="/settle"]').count()).toBe(0)
    expect(await paperRow.locator('button[data-action=reprint]').count()).toBe(1)
    expect(await attentionRow(page, screen.id).locator('[data-testid=message]').textContent()).toBe(DISPLAY_MESSAGE)
    expect(await attentionRow(page, screen.id).locator('form').count()).toBe(0)
    const lostRow = attentionRow(page, lost.id)
    expect(await lostRow.getAttribute('data-state')).toBe('unknown')
    expect(await lostRow.locator('[data-reason]').getAttribute('data-reason')).toBe('link_lost')
    expect(await lostRow.locator('[data-testid=message]').textContent()).toBe(LOST_MESSAGE)
    await shot(page, '1-all')

    // The store filter: the second store has only statuses, no work.
    await page.selectOption('[data-testid=store-filter]', s.store2.storeId)
    await page.click('#store-filter button[type=submit]')
    await page.waitForURL(new RegExp(`store=${s.store2.storeId}`))
    expect((await page.locator('#devices tbody tr').evaluateAll((els) => els.map((e) => e.getAttribute('data-device')))).sort()).toEqual(Object.values(s.others).sort())
    expect(await page.locator('[data-testid=no-attention]').count()).toBe(1)
    expect(await page.locator('[data-testid=no-receipts]').count()).toBe(1)
    expect(await page.locator('main script, main b').count()).toBe(0)
    await page.selectOption('[data-testid=store-filter]', s.store.storeId)
    await page.click('#store-filter button[type=submit]')
    await page.waitForURL(new RegExp(`store=${s.store.storeId}`))
    expect(await page.locator('#devices tbody tr').count()).toBe(2)
    await shot(page, '2-store')

    // Settle the lost receipt as printed: it leaves the list, is done (by a person) and shows among the receipts.
    await lostRow.locator('input[name=note]').fill('customer has the receipt')
    await lostRow.locator('button[data-action=printed]').click()
    await page.waitForURL(/done=printed/)
    expect(new URL(page.url()).searchParams.get('store')).toBe(s.store.storeId)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('Marked as printed')
    expect(await attentionRow(page, lost.id).count()).toBe(0)
    expect(await counts(s.printer)).toEqual(['0', '1', '0'])
    const settled = await getJob(hub.database.db, s.m.merchantId, lost.id)
    expect(settled).toMatchObject({ state: 'done', settledBy: 'person', message: 'customer has the receipt' })
    const audit = await hub.database.db.select().from(auditLog).where(and(eq(auditLog.merchantId, s.m.merchantId), eq(auditLog.action, 'device_job.settled'), eq(auditLog.entityId, lost.id)))
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ actorType: 'user', actorId: s.m.adminId, details: { printed: true, note: 'customer has the receipt' } })
    expect(await receiptCard(page, lost.id).locator('pre').textContent()).toBe(lost.preview)
    expect(lost.preview).toContain(s.sales[1]!.receiptNo)
    expect(await receiptCard(page, lost.id).textContent()).toContain('confirmed by a person')
    // Settling it again (another tab) is refused with the reason, and changes nothing.
    const csrf = await page.locator('header form input[name=_csrf]').getAttribute('value')
    const again = await context.request.post(`${ui.base}/dashboard/devices/jobs/${lost.id}/settle`, { form: { _csrf: csrf!, printed: 'no' }, maxRedirects: 0 })
    expect(again.status()).toBe(409)
    expect(await again.text()).toContain('only an unknown outcome is settled by hand')
    expect((await getJob(hub.database.db, s.m.merchantId, lost.id)).state).toBe('done')
    await shot(page, '3-settled')

    // Reprint the original receipt: a new job marked as its reprint, queued for the printer; the same form sent twice
    // makes one.
    expect(await reprintsOf(original.id)).toHaveLength(1)
    const form = receiptCard(page, original.id).locator('form[action$="/reprint"]')
    const key = await form.locator('input[name=key]').getAttribute('value')
    await form.locator('button[data-action=reprint]').click()
    await page.waitForURL(/done=reprinted/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('reprint is queued')
    const reprints = await reprintsOf(original.id)
    expect(reprints).toHaveLength(2)
    const made = reprints.find((j) => j.id !== reprint.id)!
    expect(made).toMatchObject({ state: 'queued', source: 'reprint', action: 'print', deviceId: s.printer, document: original.document, requestedBy: s.m.adminId })
    expect(await counts(s.printer)).toEqual(['1', '1', '0'])
    const twice = await context.request.post(`${ui.base}/dashboard/devices/jobs/${original.id}/reprint`, { form: { _csrf: csrf!, key: key!, store: s.store.storeId }, maxRedirects: 0 })
    expect(twice.status()).toBe(303)
    expect(twice.headers().location).toContain('done=reprint_exists')
    expect(await reprintsOf(original.id)).toHaveLength(2)
    const reprinted = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from audit_log where merchant_id = ${s.m.merchantId} and action = 'receipt.reprinted' and entity_id = ${made.id}`)
    expect(reprinted.rows[0]!.n).toBe(1)

    // Reprinting the paper-end failure answers it: it leaves the list.
    await attentionRow(page, paper.id).locator('button[data-action=reprint]').click()
    await page.waitForURL(/done=reprinted/)
    expect(await attentionRow(page, paper.id).count()).toBe(0)
    expect(await reprintsOf(paper.id)).toHaveLength(1)
    expect(await counts(s.printer)).toEqual(['2', '0', '0'])
    await shot(page, '4-reprinted')

    expect(errors).toEqual([])
    await context.close()
  }, 120_000)
})
