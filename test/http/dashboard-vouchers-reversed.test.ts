// The vouchers dashboard's day cell follows what each target still needs: a delivery that failed for a voucher the
// target no longer needs (reversed before it took it; the day's new revision holds the day) is not a failure to act on.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { DAY, useVendors } from '../helpers/voucher-vendors.ts'
import { formClient } from '../helpers/form-client.ts'
import { createApp } from '../../src/http/app.ts'

describe('the vouchers dashboard after a reversal', () => {
  const hub = useTestHub()
  const v = useVendors(hub)

  it('a day whose second target failed the first revision and then took the new one is not shown failed', async () => {
    const d = await v.day({ correction: 'reversal' })
    const a = await d.connect('quickbooks')
    const b = await d.connect('kingdee')
    const r1 = (await d.build()).voucher
    expect((await d.exportTo(r1.id, a)).status).toBe(200)
    v.kd.state.down = true
    try {
      expect((await d.exportTo(r1.id, b)).status).toBe(502)
    } finally {
      v.kd.state.down = false
    }
    const app = createApp(hub)
    const fc = formClient(app)
    await fc.login(d.m.adminEmail, d.m.password)
    const chip = async () => {
      const grid = await fc.get(`/dashboard/vouchers?from=${DAY}&to=${DAY}`)
      expect(grid.status).toBe(200)
      return /chip-(\w+)/.exec(grid.text.slice(grid.text.indexOf(`data-cell="${d.store.storeId}|${DAY}"`)))![1]
    }
    // Kingdee still needs the day: someone must act.
    expect(await chip()).toBe('failed')
    await d.lateSale()
    const built = await d.build()
    expect(built.outcome).toBe('corrected')
    const all = (await d.admin.get(`/api/v1/vouchers?date=${DAY}&storeId=${d.store.storeId}`)).body.items
    const reversal = all.find((x: { kind: string }) => x.kind === 'reversal')
    expect((await d.exportTo(reversal.id, a)).status).toBe(200)
    expect((await d.exportTo(built.voucher.id, a)).status).toBe(200)
    expect((await d.exportTo(built.voucher.id, b)).status).toBe(200)
    // The first revision is not Kingdee's to take any more, and both targets hold the whole day.
    expect((await d.exportTo(r1.id, b)).status).toBe(409)
    expect(await chip()).toBe('corrected')
  }, 120_000)
})
