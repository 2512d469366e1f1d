// The hourly voucher schedule builds each day once its export time (settings.vouchers.exportAt, the merchant's clock,
// the next day) has passed, whatever minute of the hour it runs at, and a hub that was down catches up every day it
// missed, in order, however long it was down; recheckDays only says how far back built days are looked at again.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedProduct, seedStore, setSettings } from '../helpers/pos.ts'
import { createApi } from '../helpers/api.ts'
import { at, DAY, useVendors } from '../helpers/voucher-vendors.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'
import { DEFAULT_ACCOUNTS } from '../../src/core/vouchers/accounts.ts'
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

  it('one store whose exported day cannot be corrected (an account not mapped) does not hold up the other stores of the day', async () => {
    const d = await v.day({})
    const kd = await d.connect('kingdee')
    const first = await d.build()
    expect((await d.exportTo(first.voucher.id, kd)).status).toBe(200)
    // From now on the merchant's own chart only, without an account for card payments.
    const accounts = Object.entries(DEFAULT_ACCOUNTS).filter(([k]) => k !== 'tender:card').map(([key, a]) => ({ key, code: a.code, name: a.name }))
    expect((await d.admin.put('/api/v1/vouchers/mappings', { accounts })).status).toBe(200)
    await withSettings(d, { useDefaultAccounts: false })
    // Uploaded the next morning from offline tills: a card sale at the exported store, a WeChat sale at another.
    const other = await seedStore(hub, d.m.merchantId, { openSession: false })
    const otherItem = await seedProduct(hub, other, { price: 1130, stock: 10 })
    hub.setNow(at('2026-11-21 08:00:00'))
    expect((await createApi(hub).as(await d.m.adminTokenNow()).post('/api/v1/cash-sessions', { registerId: other.registerId, openingFloat: 0 })).status).toBe(201)
    hub.setNow(at('2026-11-22 01:00:00'))
    const admin = createApi(hub).as(await d.m.adminTokenNow())
    const offline = (registerId: string, sku: string, kind: string) => ({ id: crypto.randomUUID(), occurredAt: at(`${DAY} 15:00:00`).toISOString(), registerId, lines: [{ sku, quantity: 1 }], tenders: [{ kind, amount: 1130 }] })
    const up = await admin.post('/api/v1/sales/batch', { sales: [offline(d.store.registerId, d.item.sku, 'card'), offline(other.registerId, otherItem.sku, 'wechat')] })
    expect(up.body.results.map((r: any) => r.status)).toEqual(['accepted', 'accepted'])
    hub.setNow(undefined)

    await run('2026-11-22 03:07:00')
    const day = async () => ((await d.admin.get(`/api/v1/vouchers?date=${DAY}`)).body.items as any[]).map((x) => ({ store: x.storeId, kind: x.kind, status: x.status }))
    expect(await day()).toEqual(expect.arrayContaining([{ store: other.storeId, kind: 'daily', status: 'built' }, { store: d.store.storeId, kind: 'daily', status: 'exported' }]))
    expect(await day()).toHaveLength(2)
    // The day is not done while the exported store's correction waits: the mapping mended, the next run builds it.
    const mark = async () => (await hub.database.db.execute<{ through: string }>(sql`select through::text from daily_marks where merchant_id = ${d.m.merchantId} and task = 'vouchers'`)).rows[0]?.through ?? null
    expect(await mark()).not.toBe(DAY)
    expect((await d.admin.put('/api/v1/vouchers/mappings', { accounts: [{ key: 'tender:card', code: DEFAULT_ACCOUNTS['tender:card']!.code, name: DEFAULT_ACCOUNTS['tender:card']!.name }] })).status).toBe(200)
    await run('2026-11-22 04:07:00')
    expect((await day()).filter((x) => x.store === d.store.storeId).map((x) => x.status).sort()).toContain('corrected')
    expect(await mark()).toBe(DAY)
  })
})
