// A corrected day reaches every export target whole: a target that missed the day's first voucher gets what it lacks
// (the voucher and its difference, or only the new revision after a reversal, never a reversal of a voucher it never
// took); a correction refused because its period closed is built again on the first open day once closedThrough says
// so, and then goes through.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { drainJobs, makeDue, queuedJobs } from '../helpers/jobs.ts'
import { setSettings } from '../helpers/pos.ts'
import { at, DAY, useVendors } from '../helpers/voucher-vendors.ts'
import { parseSettings } from '../../src/core/merchants/settings.ts'
import { EXPORT_TASK, schedule } from '../../src/jobs/vouchers.ts'

describe('corrected days delivered to every target', () => {
  const hub = useTestHub()
  const v = useVendors(hub)
  const runSchedule = async (when: string) => {
    hub.setNow(at(when))
    try {
      await schedule.run({}, { hub, signal: new AbortController().signal } as never)
    } finally {
      hub.setNow(undefined)
    }
  }
  const net = (entries: { account: string; debit: number; credit: number }[]) => {
    const out: Record<string, number> = {}
    for (const e of entries) out[e.account] = (out[e.account] ?? 0) + e.debit - e.credit
    return Object.fromEntries(Object.entries(out).filter(([, n]) => n !== 0))
  }
  const kingdeeOf = (storeCode: string) => v.kd.vouchers().filter((x) => x.entries[0]!.explanation.startsWith(`TB-${storeCode}-`))
  const qboNet = (storeCode: string) => {
    const byId = new Map([...v.qbo.state.accounts.values()].map((a) => [a.Id, a.AcctNum!]))
    return net(
      [...v.qbo.state.journalEntries.values()]
        .filter((je) => je.PrivateNote?.startsWith(`[TB-${storeCode}-`))
        .flatMap((je) => je.Line.map((l) => ({ account: byId.get(l.JournalEntryLineDetail.AccountRef.value)!, debit: l.JournalEntryLineDetail.PostingType === 'Debit' ? Math.round(l.Amount * 100) : 0, credit: l.JournalEntryLineDetail.PostingType === 'Credit' ? Math.round(l.Amount * 100) : 0 }))),
    )
  }
  const dayNet = async (d: { admin: any; store: any }) => net((await d.admin.post('/api/v1/vouchers/preview', { storeId: d.store.storeId, date: DAY })).body.lines.map((l: any) => ({ account: l.accountCode, debit: l.debit, credit: l.credit })))

  it('a target deleted since the settings named it gets nothing queued (its exports would fail for ever); the others get the day', async () => {
    const d = await v.day({})
    const a = await d.connect('quickbooks')
    const b = await d.connect('kingdee')
    await setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, exportTo: [a, b], exportAt: '02:00' } })
    expect((await d.admin.delete(`/api/v1/connections/${b}`)).status).toBe(204)
    await runSchedule('2026-11-22 02:10:00')
    const queued = (await queuedJobs(hub, EXPORT_TASK)).filter((j) => (j.payload as { merchantId: string }).merchantId === d.m.merchantId)
    expect(queued.map((j) => (j.payload as { connectionId: string }).connectionId)).toEqual([a])
    await drainJobs(hub)
    expect(qboNet(d.code)).toEqual(await dayNet(d))
    expect(kingdeeOf(d.code)).toEqual([])
  })

  for (const correction of ['reversal', 'difference'] as const) {
    it(`${correction}: a target that missed the day's first voucher ends up holding the whole day after the correction`, async () => {
      const d = await v.day({ correction })
      const a = await d.connect('quickbooks')
      const b = await d.connect('kingdee')
      await setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction, exportTo: [a, b], exportAt: '02:00', recheckDays: 2 } })
      const r1 = (await d.build()).voucher
      expect((await d.exportTo(r1.id, a)).status).toBe(200)
      v.kd.state.down = true
      expect((await d.exportTo(r1.id, b)).status).toBe(502)
      v.kd.state.down = false
      await d.lateSale()
      await runSchedule('2026-11-22 02:10:00')
      await drainJobs(hub)
      const want = await dayNet(d)
      expect(qboNet(d.code)).toEqual(want)
      const held = kingdeeOf(d.code)
      expect(net(held.flatMap((x) => x.entries))).toEqual(want)
      const refs = held.map((x) => x.entries[0]!.explanation.split(' ')[0]).sort()
      expect(refs).toEqual(correction === 'reversal' ? [`TB-${d.code}-20261121-R2`] : [`TB-${d.code}-20261121-D2`, `TB-${d.code}-20261121-R1`])
      if (correction === 'reversal') {
        // Asked for by hand, the reversal of what Kingdee never took is refused, naming why.
        const list = (await d.admin.get(`/api/v1/vouchers?date=${DAY}&storeId=${d.store.storeId}`)).body.items
        const reversal = list.find((x: any) => x.kind === 'reversal')
        const refused = await d.exportTo(reversal.id, b)
        expect([refused.status, refused.body.error.code]).toEqual([409, 'voucher_not_held'])
        const old = await d.exportTo(r1.id, b)
        expect([old.status, old.body.error.code]).toEqual([409, 'voucher_reversed'])
      }
    }, 120_000)

    it(`${correction}: a correction refused for a closed period is built again on the first open day, and then goes through`, async () => {
      const d = await v.day({ correction })
      const kd = await d.connect('kingdee')
      const r1 = (await d.build()).voucher
      expect((await d.exportTo(r1.id, kd)).status).toBe(200)
      await d.lateSale()
      const c = await d.build()
      expect(c.outcome).toBe('corrected')
      v.kd.state.closedThrough = '2026-11'
      try {
        const refused = await d.exportTo(c.corrections[0].id, kd)
        expect(refused.body.error?.details?.reason).toBe('period_closed')
        await setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction, closedThrough: '2026-11-30' } })
        expect((await d.build()).outcome).toBe('corrected')
        const list = (await d.admin.get(`/api/v1/vouchers?date=${DAY}&storeId=${d.store.storeId}`)).body.items
        const waiting = list.filter((x: any) => x.status === 'built').sort((x: any, y: any) => x.createdAt.localeCompare(y.createdAt) || (x.kind === 'reversal' ? 0 : 1) - (y.kind === 'reversal' ? 0 : 1))
        expect(waiting.map((x: any) => [x.kind, x.postingDate])).toEqual(correction === 'reversal' ? [['reversal', '2026-12-01'], ['daily', '2026-12-01']] : [['difference', '2026-12-01']])
        for (const x of waiting) expect((await d.exportTo(x.id, kd)).status).toBe(200)
        // Kingdee holds the day once: the first voucher and the correction built again, nothing of the refused one.
        expect(net(kingdeeOf(d.code).flatMap((x) => x.entries))).toEqual(await dayNet(d))
        expect((await d.build()).outcome).toBe('unchanged')
      } finally {
        v.kd.state.closedThrough = null
      }
    }, 120_000)
  }

  // A voucher sent once without a clear answer may be at the target: it is never replaced by a new revision the target
  // would hold beside it; the day's change goes as a difference to it, and the voucher is sent again (looked up first).
  const u8Of = (storeCode: string) => v.u8.vouchers().filter((x) => x.reserve2.startsWith(`TB-${storeCode}-`))
  for (const vendor of ['kingdee', 'yonyou-u8'] as const) {
    it(`${vendor}: a voucher saved at the target whose answer was lost is corrected by a difference when the day changes, not replaced`, async () => {
      const d = await v.day({ correction: 'reversal' })
      const c = await d.connect(vendor)
      const lines = (entries: { account: string; debit: number; credit: number }[]) => entries.map(({ account, debit, credit }) => ({ account, debit, credit }))
      const held = () =>
        vendor === 'kingdee'
          ? kingdeeOf(d.code).map((x) => ({ ref: x.entries[0]!.explanation.split(' ')[0], entries: lines(x.entries) }))
          : u8Of(d.code).map((x) => ({ ref: x.reserve2, entries: lines(x.entries) }))
      const r1 = (await d.build()).voucher
      if (vendor === 'kingdee') v.kd.state.loseNextSaveReply = 1
      else v.u8.state.loseNextReply = 1
      expect((await d.exportTo(r1.id, c)).status).toBe(502)
      expect(held().map((x) => x.ref)).toEqual([`TB-${d.code}-20261121-R1`])
      await d.lateSale()
      const b = await d.build()
      expect([b.outcome, b.corrections.map((x: any) => [x.kind, x.reference])]).toEqual(['corrected', [['difference', `TB-${d.code}-20261121-D2`]]])
      const list = (await d.admin.get(`/api/v1/vouchers?date=${DAY}&storeId=${d.store.storeId}`)).body.items
      expect(list.map((x: any) => [x.reference, x.status]).sort()).toEqual([
        [`TB-${d.code}-20261121-D2`, 'built'],
        [`TB-${d.code}-20261121-R1`, 'corrected'],
      ])
      // Both sent (the first again: found at the target, not saved twice): the target holds the day once.
      for (const id of [r1.id, b.corrections[0].id]) expect((await d.exportTo(id, c)).status).toBe(200)
      expect(held().map((x) => x.ref).sort()).toEqual([`TB-${d.code}-20261121-D2`, `TB-${d.code}-20261121-R1`])
      expect(net(held().flatMap((x) => x.entries))).toEqual(await dayNet(d))
      expect((await d.build()).outcome).toBe('unchanged')
    }, 120_000)
  }

  it('the daily schedule: an export that lost its answer, then a late sale, leaves the target holding the day once', async () => {
    const d = await v.day()
    const kd = await d.connect('kingdee')
    await setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, exportTo: [kd], exportAt: '02:00', recheckDays: 2 } })
    v.kd.state.loseNextSaveReply = 1
    await runSchedule('2026-11-22 02:10:00')
    await drainJobs(hub)
    expect(kingdeeOf(d.code)).toHaveLength(1)
    await d.lateSale()
    await runSchedule('2026-11-22 03:10:00')
    await makeDue(hub)
    await drainJobs(hub)
    expect(kingdeeOf(d.code).map((x) => x.entries[0]!.explanation.split(' ')[0]).sort()).toEqual([`TB-${d.code}-20261121-D2`, `TB-${d.code}-20261121-R1`])
    expect(net(kingdeeOf(d.code).flatMap((x) => x.entries))).toEqual(await dayNet(d))
  }, 120_000)

  it('reversal: a target whose delivery of the first voucher had no answer gets it again, then its reversal and the new revision; the other target as usual', async () => {
    const d = await v.day({ correction: 'reversal' })
    const a = await d.connect('quickbooks')
    const b = await d.connect('kingdee')
    const r1 = (await d.build()).voucher
    expect((await d.exportTo(r1.id, a)).status).toBe(200)
    v.kd.state.loseNextSaveReply = 1
    expect((await d.exportTo(r1.id, b)).status).toBe(502)
    await d.lateSale()
    await setSettings(hub, d.m.merchantId, { vouchers: { ...parseSettings({}).vouchers, correction: 'reversal', exportTo: [a, b], exportAt: '02:00', recheckDays: 2 } })
    await runSchedule('2026-11-22 02:10:00')
    for (let i = 0; i < 3; i++) {
      await drainJobs(hub)
      await makeDue(hub)
    }
    const want = await dayNet(d)
    expect(qboNet(d.code)).toEqual(want)
    const refs = kingdeeOf(d.code).map((x) => x.entries[0]!.explanation.split(' ')[0]).sort()
    expect(refs).toEqual([`TB-${d.code}-20261121-R1`, `TB-${d.code}-20261121-R1-X`, `TB-${d.code}-20261121-R2`])
    expect(net(kingdeeOf(d.code).flatMap((x) => x.entries))).toEqual(want)
  }, 120_000)

  it('a voucher whose first send got no answer stays unsettled after a later send is refused outright (a 503): the day changes by a difference', async () => {
    const d = await v.day({ correction: 'reversal' })
    const c = await d.connect('kingdee')
    const r1 = (await d.build()).voucher
    v.kd.state.loseNextSaveReply = 1
    expect((await d.exportTo(r1.id, c)).status).toBe(502)
    v.kd.state.down = true
    try {
      expect((await d.exportTo(r1.id, c)).status).toBe(502)
    } finally {
      v.kd.state.down = false
    }
    await d.lateSale()
    const b = await d.build()
    expect([b.outcome, b.corrections.map((x: any) => x.kind)]).toEqual(['corrected', ['difference']])
    for (const id of [r1.id, b.corrections[0].id]) expect((await d.exportTo(id, c)).status).toBe(200)
    expect(kingdeeOf(d.code).map((x) => x.entries[0]!.explanation.split(' ')[0]).sort()).toEqual([`TB-${d.code}-20261121-D2`, `TB-${d.code}-20261121-R1`])
    expect(net(kingdeeOf(d.code).flatMap((x) => x.entries))).toEqual(await dayNet(d))
  }, 120_000)
})
