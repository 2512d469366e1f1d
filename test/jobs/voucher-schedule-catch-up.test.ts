// The hourly voucher schedule builds each day once its export time (settings.vouchers.exportAt, the merchant's clock,
// the next day) has passed, whatever minute of the hour it runs at, and a hub that was down catches up every day it
// missed, in order, however long it was down; recheckDays only says how far back built days are looked at again.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { setSettings } from '../helpers/pos.ts'
import { at, DAY, useVendors } from '../helpers/voucher-vendors.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'
import { schedule } from '../../src/jobs/vouchers.ts'

describe('the daily voucher schedule', () => {
  const hub = useTestHub()
  const v = useVendors(hub)
  afterEach(() => hub.setNow(undefined))
  const run = async (local: string) => {
    hub.setNow(at(local))
    try {
      await schedule.run({}, { hub, signal: new AbortController().signal } as never)
    } finally {
      hub.setNow(undefined)
    }
  }
  const built = async (d: { admin: any }, date = DAY) => ((await d.admin.get(`/api/v1/vouchers?date=${date}`)).body.items as any[]).length
  const withSettings = async (d: { m: { merchantId: string } }, vouchers: object) => setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, ...vouchers } })

  it('an export time late in the evening (23:30) is met by the first run after it, past midnight', async () => {
    const d = await v.day({})
    await withSettings(d, { exportAt: '23:30' })
    await run('2026-11-22 22:07:00')
    await run('2026-11-22 23:07:00')
    expect(await built(d)).toBe(0)
    await run('2026-11-23 00:07:00')
    expect(await built(d)).toBe(1)
  })

  it('a hub down for longer than recheckDays builds the days it missed when it comes back', async () => {
    const d = await v.day({})
    await run('2026-11-21 03:07:00')
    // Down until the 30th: the 21st is nine days back, two past the default recheck of seven.
    await run('2026-11-30 02:07:00')
    expect(await built(d)).toBe(1)
  })

  it('with recheckDays 0, a hub down for the whole next day builds the day on its return', async () => {
    const d = await v.day({})
    await withSettings(d, { recheckDays: 0 })
    await run('2026-11-21 03:07:00')
    await run('2026-11-23 02:07:00')
    expect(await built(d)).toBe(1)
    // The day after is looked at once too: run again, nothing more is built.
    await run('2026-11-23 03:07:00')
    expect(await built(d)).toBe(1)
    const mark = await hub.database.db.execute<{ through: string }>(sql`select through::text from daily_marks where merchant_id = ${d.m.merchantId} and task = 'vouchers'`)
    expect(mark.rows[0]?.through).toBe('2026-11-22')
  })
})
