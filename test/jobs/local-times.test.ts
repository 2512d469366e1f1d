// Work scheduled at a local time happens at that local time on the days the clocks change (23- and 25-hour days),
// once: the settlement fetch from 10:30, the not-ready deadline at 18:00, the nightly stock recovery at 02:00.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { createShopifyConnection } from '../helpers/channels.ts'
import { queuedJobs } from '../helpers/jobs.ts'
import { notReadyDeadline, scheduleFetches } from '../../src/jobs/reconciliation.ts'
import { schedule as stockSchedule } from '../../src/jobs/stock-sync.ts'

const NY = 'America/New_York'
const SYD = 'Australia/Sydney'
const ctx = (hub: any) => ({ hub, signal: new AbortController().signal, job: { id: '1', attempts: 1, maxAttempts: 1, key: null } }) as any

describe('local times on the days the clocks change', () => {
  const hub = useTestHub()
  afterEach(() => hub.setNow(undefined))
  const clear = () => hub.database.db.execute(sql`delete from graphile_worker._private_jobs`)

  async function wechatMerchant(timeZone: string) {
    const m = await seedMerchant(hub, { timeZone })
    await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: '1900000109', apiVersion: 'v2', appId: 'wx8888888888888888', apiKey: 'k'.repeat(32), feeRateBp: 60 } })
    expect(conn.status, JSON.stringify(conn.body)).toBe(201)
    return { m, connectionId: conn.body.id as string }
  }

  it('settlement fetch waits for 10:30 local on the 25-hour day (New York, 2026-11-01)', async () => {
    const s = await wechatMerchant(NY)
    await clear()
    // 09:35 EST on the day the clocks went back = 14:35Z: before 10:30 local, nothing is fetched yet.
    const early = await scheduleFetches(hub, { now: new Date('2026-11-01T14:35:00Z') })
    expect(early.queued.filter((q) => q.connectionId === s.connectionId)).toEqual([])
    const due = await scheduleFetches(hub, { now: new Date('2026-11-01T15:30:00Z') })
    expect(due.queued.filter((q) => q.connectionId === s.connectionId).map((q) => q.businessDate)).toEqual(['2026-10-31'])
  })

  it('settlement fetch starts at 10:35 local on the 23-hour day (New York, 2026-03-08)', async () => {
    const s = await wechatMerchant(NY)
    await clear()
    // 10:35 EDT = 14:35Z
    const r = await scheduleFetches(hub, { now: new Date('2026-03-08T14:35:00Z') })
    expect(r.queued.filter((q) => q.connectionId === s.connectionId).map((q) => q.businessDate)).toEqual(['2026-03-07'])
  })

  it('the not-ready deadline is 18:00 local also when the next day is a DST day', () => {
    // 2026-11-01 18:00 EST = 23:00Z ; 2026-03-08 18:00 EDT = 22:00Z
    expect(notReadyDeadline('2026-10-31', NY).toISOString()).toBe('2026-11-01T23:00:00.000Z')
    expect(notReadyDeadline('2026-03-07', NY).toISOString()).toBe('2026-03-08T22:00:00.000Z')
  })

  async function recoversOverNight(timeZone: string, fromUtc: string, hours: number) {
    const m = await seedMerchant(hub, { timeZone })
    const connectionId = await createShopifyConnection(hub, m.merchantId)
    await clear()
    let recovers = 0
    for (let t = Date.parse(fromUtc); t < Date.parse(fromUtc) + hours * 3600_000; t += 5 * 60_000) {
      hub.setNow(new Date(t))
      await stockSchedule.run({}, ctx(hub))
      const jobs = await queuedJobs(hub, 'stock.recover')
      recovers += jobs.filter((j) => j.payload.connectionId === connectionId).length
      await clear()
    }
    return recovers
  }

  it('nightly stock audit runs once on the night the clocks go forward (New York 2026-03-08, 02:00 does not exist)', async () => {
    // 2026-03-08 00:00 EST = 05:00Z ; cover until 06:00 EDT
    expect(await recoversOverNight(NY, '2026-03-08T05:00:00Z', 5)).toBe(1)
  }, 120_000)

  it('nightly stock audit runs once on the night the clocks go back (Sydney 2026-04-05, 02:00–02:59 twice)', async () => {
    // 2026-04-05 00:00 AEDT = 2026-04-04T13:00Z; cover 6 hours
    expect(await recoversOverNight(SYD, '2026-04-04T13:00:00Z', 6)).toBe(1)
  }, 120_000)

  it("a night's stock audit missed while the hub was down runs at its first schedule after 02:00, once", async () => {
    const m = await seedMerchant(hub, { timeZone: NY })
    const connectionId = await createShopifyConnection(hub, m.merchantId)
    await clear()
    const recoversAt = async (iso: string) => {
      hub.setNow(new Date(iso))
      await stockSchedule.run({}, ctx(hub))
      const n = (await queuedJobs(hub, 'stock.recover')).filter((j) => j.payload.connectionId === connectionId).length
      await clear()
      return n
    }
    // 2026-06-10 02:00 EDT = 06:00Z: audited that night; down from 01:55 the next night until 03:10.
    expect(await recoversAt('2026-06-10T06:00:00Z')).toBe(1)
    expect(await recoversAt('2026-06-11T05:55:00Z')).toBe(0)
    expect(await recoversAt('2026-06-11T07:10:00Z')).toBe(1)
    expect(await recoversAt('2026-06-11T07:15:00Z')).toBe(0)
    expect(await recoversAt('2026-06-12T06:00:00Z')).toBe(1)
  })
})
