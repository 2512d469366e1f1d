// settings.vouchers.noStoreTo changed after the day was exported: corrections move the fee of no store between the
// stores' vouchers exactly once, and a store whose day moved away wholly is cleared by its reversal alone.
import { sql } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { setSettings } from '../helpers/pos.ts'
import { balanceTxn, stripeBalanceShop } from '../helpers/stripe-balance.ts'
import { useVendors } from '../helpers/voucher-vendors.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'
import { buildDay } from '../../src/jobs/vouchers.ts'

const chargeSrc = (id: string, paymentNo: string) => ({ id: `ch_${id}`, object: 'charge', payment_intent: `pi_${id}`, metadata: { payment_no: paymentNo } })
const usdCharge = (id: string, created: Date, amount: number, fee: number, paymentNo: string) =>
  balanceTxn({ id, created, amount, fee, currency: 'usd', type: 'charge', category: 'charge', source: chargeSrc(id, paymentNo) })
const stripeFee = (id: string, created: Date, amount: number) => balanceTxn({ id, created, amount: -amount, fee: 0, currency: 'usd', type: 'stripe_fee', category: 'fee', source: null })
const ny = (d: string, hms: string) => new Date(`${d}T${hms}-04:00`)

const net = (entries: { account: string; debit: number; credit: number }[]) => {
  const out: Record<string, number> = {}
  for (const e of entries) out[e.account] = (out[e.account] ?? 0) + e.debit - e.credit
  return Object.fromEntries(Object.entries(out).filter(([, n]) => n !== 0))
}

describe('noStoreTo changed after export', () => {
  const hub = useTestHub()
  const v = useVendors(hub)

  for (const correction of ['reversal', 'difference'] as const) {
    it(`${correction}: moving noStoreTo b -> a -> null leaves each store's books at Kingdee equal to its preview`, async () => {
      const t = await stripeBalanceShop(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'store', stores: 2, openedAt: new Date('2026-03-19T00:00:00Z') })
      const [a, b] = [t.stores[0]!.storeId, t.stores[1]!.storeId]
      const codes: Record<string, string> = {}
      for (const s of [a, b]) codes[s] = (await t.api.get(`/api/v1/stores/${s}`)).body.code
      const mappings = (await t.api.get('/api/v1/vouchers/mappings')).body.items as { code: string; name: string }[]
      for (const m of mappings) if (m.code) v.registerAccount(m.code, m.name)
      const kd = await t.api.post('/api/v1/connections', { connectorId: 'kingdee', name: 'KD', config: { serverUrl: 'https://kd.vendors.test', acctId: '6523f1a4b0e8vx', username: 'tb-api', password: 'Kd!vx-pass', accountBook: '001', currencies: { USD: 'PRE001' } } })
      expect(kd.status, JSON.stringify(kd.body)).toBe(201)
      await setSettings(hub, t.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, grouping: 'store', correction, storeDimension: null, exportTo: [kd.body.id], noStoreTo: b } } as never)

      const D = '2026-03-20'
      await t.sell(ny(D, '10:00:00'), 10000, 'MV-0001')
      await t.upload(D, [usdCharge('V1', ny(D, '10:00:05'), 10000, 320, 'MV-0001'), stripeFee('V2', ny(D, '18:00:00'), 500)])
      expect((await t.run(D)).totals.channel_fee_milli).toBe(820_000)

      const held = (store: string) => net(v.kd.vouchers().filter((x) => x.entries[0]!.explanation.startsWith(`TB-${codes[store]}-`)).flatMap((x) => x.entries))
      const preview = async (store: string) => net(((await t.api.post('/api/v1/vouchers/preview', { storeId: store, date: D })).body.lines as any[]).map((l) => ({ account: l.accountCode, debit: l.debit, credit: l.credit })))
      const check = async (label: string) => {
        await buildDay(hub, t.m.merchantId, D)
        await drainJobs(hub)
        const pa = await preview(a)
        const pb = await preview(b)
        expect({ label, a: held(a), b: held(b) }).toEqual({ label, a: pa, b: pb })
        return { pa, pb }
      }
      const r1 = await check('noStoreTo b')
      expect(Object.keys(r1.pb).length).toBeGreaterThan(0)
      expect((await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: a } })).status).toBe(200)
      const r2 = await check('noStoreTo a')
      expect(r2.pb).toEqual({})
      expect((await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: null } })).status).toBe(200)
      await check('noStoreTo null')
    }, 120_000)
  }
  it('reversal: a store whose day moved away wholly (noStoreTo b -> a) gets only the reversal; no empty revision is built and sent to be refused', async () => {
    const t = await stripeBalanceShop(hub, { currency: 'USD', timeZone: 'America/New_York', grouping: 'store', stores: 2, openedAt: new Date('2026-03-19T00:00:00Z') })
    const [a, b] = [t.stores[0]!.storeId, t.stores[1]!.storeId]
    const mappings = (await t.api.get('/api/v1/vouchers/mappings')).body.items as { code: string; name: string }[]
    for (const m of mappings) if (m.code) v.registerAccount(m.code, m.name)
    const kd = await t.api.post('/api/v1/connections', { connectorId: 'kingdee', name: 'KD', config: { serverUrl: 'https://kd.vendors.test', acctId: '6523f1a4b0e8vx', username: 'tb-api', password: 'Kd!vx-pass', accountBook: '001', currencies: { USD: 'PRE001' } } })
    expect(kd.status, JSON.stringify(kd.body)).toBe(201)
    await setSettings(hub, t.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, grouping: 'store', correction: 'reversal', storeDimension: null, exportTo: [kd.body.id], noStoreTo: b } } as never)
    const D = '2026-03-20'
    await t.sell(ny(D, '10:00:00'), 10000, 'MW-0001')
    await t.upload(D, [usdCharge('W1', ny(D, '10:00:05'), 10000, 320, 'MW-0001'), stripeFee('W2', ny(D, '18:00:00'), 500)])
    await t.run(D)
    await buildDay(hub, t.m.merchantId, D)
    await drainJobs(hub)
    expect((await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: a } })).status).toBe(200)
    await buildDay(hub, t.m.merchantId, D)
    await drainJobs(hub)
    const ofB = (await t.api.get(`/api/v1/vouchers?from=${D}&to=${D}&storeId=${b}`)).body.items as any[]
    // B's day is empty now: its R1 reversed is all B's books need.
    expect(ofB.map((x) => [x.kind, x.revision, x.status, x.totalDebit]).sort()).toEqual([['daily', 1, 'corrected', 500], ['reversal', 1, 'exported', 500]])
    const refused = (await hub.database.db.execute(sql`select v.reference, e.last_error from voucher_exports e join vouchers v on v.id = e.voucher_id where v.merchant_id = ${t.m.merchantId} and e.status = 'rejected'`)).rows
    expect(refused).toEqual([])
    // Moved back: the store's day is booked again by a new revision, as a day is after its reversal.
    expect((await t.api.patch('/api/v1/merchant/settings', { vouchers: { noStoreTo: b } })).status).toBe(200)
    await buildDay(hub, t.m.merchantId, D)
    await drainJobs(hub)
    const again = (await t.api.get(`/api/v1/vouchers?from=${D}&to=${D}&storeId=${b}`)).body.items as any[]
    expect(again.map((x) => [x.kind, x.revision, x.status, x.totalDebit]).sort()).toEqual([['daily', 1, 'corrected', 500], ['daily', 2, 'exported', 500], ['reversal', 1, 'exported', 500]])
    const code = (await t.api.get(`/api/v1/stores/${b}`)).body.code
    const held = v.kd.vouchers().filter((x) => x.entries[0]!.explanation.startsWith(`TB-${code}-`))
    expect(held.map((x) => x.entries[0]!.explanation.split(' ')[0]).sort()).toEqual([`TB-${code}-20260320-R1`, `TB-${code}-20260320-R1-X`, `TB-${code}-20260320-R2`])
  }, 120_000)
})
