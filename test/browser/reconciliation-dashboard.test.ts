// The reconciliation dashboard in a real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
// no browser is ever downloaded): sign in, find the day with exceptions, resolve them, watch the chip turn balanced.
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import type { Page } from 'playwright-core'
import { useDashboardBrowser } from '../helpers/browser.ts'
import { useTestHub } from '../helpers/db.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'

describe('the reconciliation dashboard in Chromium', () => {
  const hub = useTestHub()
  let day: ReconDay

  const ui = useDashboardBrowser(hub, {
    before: async () => {
      day = await seedReconDay(hub)
    },
  })
  const { shot } = ui
  const itemId = async (outcome: string) =>
    (await hub.database.db.execute<{ id: string }>(sql`select id from recon_items where merchant_id = ${day.m.merchantId} and outcome = ${outcome}`)).rows[0]!.id

  it('signs in, opens the day with exceptions, resolves them and sees the chip turn balanced', async () => {
    const cell = (p: Page) => p.locator(`td[data-connection="${day.connectionId}"][data-date="${day.date}"]`)

    // Without a session the dashboard asks for one, then comes back.
    const { context, page } = await ui.openLogin('/dashboard/reconciliation', day.m.adminEmail, 'not-the-password')
    await page.click('button[type=submit]')
    await expect.poll(() => page.locator('[data-testid=login-error]').textContent()).toContain('Email or password is wrong')
    await page.fill('#password', day.m.password)
    await page.click('button[type=submit]')
    await page.waitForURL(`${ui.base}/dashboard/reconciliation`)
    const cookies = await context.cookies()
    const session = cookies.find((c) => c.name === 'tb_dashboard')!
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/dashboard' })
    // The page's scripts cannot read the session.
    expect(await page.evaluate('document.cookie')).not.toContain('tb_dashboard')

    // Days × channels: the connection's column, yesterday's chip says exceptions (2 open), with both sides' totals.
    await expect.poll(() => page.locator('#recon-grid thead th').allTextContents()).toContainEqual(expect.stringContaining(day.connectionName))
    expect(await page.locator('#recon-grid tbody tr').count()).toBe(14)
    const chip = cell(page).locator('.chip')
    expect(await chip.getAttribute('data-status')).toBe('exceptions')
    expect(await chip.textContent()).toContain('exceptions')
    expect(await chip.textContent()).toContain('2')
    const cellText = (await cell(page).textContent())!
    expect(cellText).toContain('¥51.60')
    expect(cellText).toContain('¥50.60')
    expect(cellText).toContain('-¥1.00')
    const ages = page.locator(`#recon-ages tr[data-connection="${day.connectionId}"]`)
    expect(await ages.locator('[data-age="0-1"]').textContent()).toBe('2')
    await shot(page, '1-grid')

    // The day: two open exceptions and the carried-over sale.
    await cell(page).locator('a').click()
    await page.waitForURL(`${ui.base}/dashboard/reconciliation/${day.connectionId}/${day.date}`)
    const short = page.locator('tr[data-outcome="amount_diff"]')
    expect(await short.getAttribute('data-state')).toBe('open')
    expect(await short.textContent()).toContain(day.refs.short)
    expect(await short.locator('[data-testid=state]').textContent()).toContain('open')
    expect(await page.locator('tr[data-outcome="unknown_merchant_ref"]').textContent()).toContain(day.foreignRef)
    expect(await page.locator('tr[data-outcome="timing"]').textContent()).toContain(day.refs.unbilled)
    await shot(page, '2-day')

    // Write the 1.00 short settlement off to an account.
    await short.locator('summary').click()
    await short.locator('input[name=accountCode]').fill('6603.02')
    await short.locator('input[name=note]').fill('terminal rounding')
    await short.locator('button[value=write_off]').click()
    await page.waitForURL(/done=resolved/)
    expect(await page.locator('[data-testid=flash]').textContent()).toContain('Resolved')
    const after = page.locator('tr[data-outcome="amount_diff"]')
    expect(await after.getAttribute('data-state')).toBe('resolved')
    expect(await after.locator('[data-testid=state]').textContent()).toContain('written off')
    expect(await after.textContent()).toContain('account 6603.02: terminal rounding')
    expect(await after.textContent()).toContain(day.m.adminEmail)
    expect(await page.locator('#day-status .chip').getAttribute('data-status')).toBe('exceptions')
    await shot(page, '3-written-off')

    // The line under the terminal's own number is the carried-over sale: match them by hand.
    const foreign = page.locator('tr[data-outcome="unknown_merchant_ref"]')
    await foreign.locator('summary').click()
    await foreign.locator('select[name=counterpartId]').selectOption(await itemId('timing'))
    await foreign.locator('input[name=note]').fill('terminal used its own order number')
    await foreign.locator('button[value=match]').click()
    await page.waitForURL(/done=resolved/)
    expect(await page.locator('#day-status .chip').getAttribute('data-status')).toBe('balanced')
    expect(await page.locator('tr[data-state="open"]').count()).toBe(0)
    expect(await page.locator('#hand-matches').textContent()).toContain(day.refs.unbilled)
    await shot(page, '4-matched')

    // Back on the calendar the day is balanced now.
    await page.click('text=All days')
    await page.waitForURL(/\/dashboard\/reconciliation\?/)
    expect(await cell(page).locator('.chip').getAttribute('data-status')).toBe('balanced')
    expect(await cell(page).locator('.chip').textContent()).toContain('balanced')
    expect(await ages.locator('[data-age="0-1"]').textContent()).toBe('0')
    await shot(page, '5-grid-balanced')

    // What the browser did is what the engine recorded, under the signed-in user.
    const rows = (
      await hub.database.db.execute<{ outcome: string; state: string; resolution: string | null; resolved_by: string | null }>(sql`
        select outcome, state, resolution, resolved_by from recon_items
         where merchant_id = ${day.m.merchantId} and (outcome <> 'matched' or manual) and coalesce(resolution, '') <> 'merged'`)
    ).rows
    expect(rows.sort((a, b) => a.outcome.localeCompare(b.outcome))).toEqual([
      { outcome: 'amount_diff', state: 'resolved', resolution: 'write_off', resolved_by: day.m.adminId },
      { outcome: 'matched', state: 'resolved', resolution: 'matched_by_hand', resolved_by: day.m.adminId },
    ])
    await context.close()
  }, 120_000)
})
