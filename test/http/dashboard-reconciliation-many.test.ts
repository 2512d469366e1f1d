// A day of more exceptions than its page shows (200): the page lists the open ones first, from all of the day's
// items, so that every open one can be resolved there (resolved ones fill what room is left).
import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp } from '../../src/http/app.ts'
import { reconcileDay } from '../../src/core/reconciliation/match.ts'
import { addDays, businessDate } from '../../src/lib/time.ts'
import { at, importLines, line, openShop, sell, TZ } from '../core/reconciliation/helpers.ts'

describe('the reconciliation day page with more exceptions than it shows', () => {
  const hub = useTestHub()

  it('lists the open exceptions before the resolved ones, taken from the whole day', async () => {
    const shop = await openShop(hub)
    const date = addDays(businessDate(new Date(), TZ), -1)
    // 11 sales of 20 WeChat payments each: the channel's bill has only the first.
    const sales = []
    for (let s = 0; s < 11; s++) sales.push(await sell(hub, shop, at(`${date} 10:${String(s).padStart(2, '0')}:00`), Array.from({ length: 20 }, (_, k) => ({ amount: 100 + k }))))
    const first = sales[0]!.tenders[0]!
    expect((await importLines(hub, shop, date, [line({ ourRef: first.paymentNo!, amount: first.amount, feeMilli: 600, occurredAt: at(`${date} 10:00:01`) })])).status).toBe('imported')
    await reconcileDay(hub.database.db, { merchantId: shop.m.merchantId, connectionId: shop.connectionId, businessDate: date, tenderKinds: ['wechat'], timeZone: TZ })
    const open = (await hub.database.db.execute<{ id: string }>(sql`
      select id from recon_items where merchant_id = ${shop.m.merchantId} and state = 'open' order by business_date desc, id desc`)).rows
    expect(open).toHaveLength(219)
    // Finance resolved the ten the list would show first.
    for (const { id } of open.slice(0, 10)) expect((await shop.api.post(`/api/v1/reconciliation/items/${id}/resolve`, { action: 'accept_pos', note: 'paid later' })).status).toBe(200)

    const c = formClient(createApp(hub))
    expect((await c.login(shop.m.adminEmail, shop.m.password)).status).toBe(303)
    const page = await c.get(`/dashboard/reconciliation/${shop.connectionId}/${date}`)
    expect(page.status).toBe(200)
    const rows = [...page.text.matchAll(/data-item="([0-9a-f-]{36})" data-outcome="[a-z_]+" data-state="([a-z]+)"/g)].map((m) => m[2])
    expect(rows).toHaveLength(200)
    expect(rows.every((s) => s === 'open')).toBe(true)
    expect(page.text).toContain('仅显示前 200 条')
  }, 60_000)
})
