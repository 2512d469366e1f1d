import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'

const sh = (local: string) => new Date(`${local}+08:00`)

describe('the time clock over the API', () => {
  const hub = useTestHub()

  async function shop() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const ann = await m.staff('cashier')
    const bob = await m.staff('cashier')
    const admin = createApi(hub).as(m.adminToken)
    await admin.put(`/api/v1/users/${ann.id}/pin`, { pin: '3852' })
    await admin.put(`/api/v1/users/${bob.id}/pin`, { pin: '7391' })
    const api = createApi(hub)
    const at = async (local: string, pin: string, action: string) => {
      hub.setNow(sh(local))
      try {
        return await api.post('/api/v1/timeclock', { registerId: store.registerId, pin, action })
      } finally {
        hub.setNow(undefined)
      }
    }
    return { m, store, ann, bob, admin, at }
  }

  it('records a day with a break, refusing actions out of order with 409', async () => {
    const { ann, at } = await shop()
    expect((await at('2025-03-03T08:55:00', '3852', 'clock_out')).body.error).toMatchObject({ code: 'not_clocked_in' })
    expect((await at('2025-03-03T08:55:00', '3852', 'break_start')).status).toBe(409)
    const first = await at('2025-03-03T09:00:00', '3852', 'clock_in')
    expect(first.status).toBe(201)
    expect(first.body).toMatchObject({ state: 'working', user: { id: ann.id }, entry: { kind: 'clock_in', at: sh('2025-03-03T09:00:00').toISOString() } })
    expect((await at('2025-03-03T09:01:00', '3852', 'clock_in')).body.error).toMatchObject({ code: 'already_clocked_in' })
    expect((await at('2025-03-03T10:00:00', '3852', 'break_end')).body.error).toMatchObject({ code: 'not_on_break' })
    expect((await at('2025-03-03T12:00:00', '3852', 'break_start')).body.state).toBe('on_break')
    expect((await at('2025-03-03T12:10:00', '3852', 'break_start')).body.error).toMatchObject({ code: 'already_on_break' })
    expect((await at('2025-03-03T12:45:00', '3852', 'break_end')).body.state).toBe('working')
    expect((await at('2025-03-03T18:00:00', '3852', 'clock_out')).body.state).toBe('off')
  })

  it('a wrong PIN records nothing and counts toward the register’s PIN lock', async () => {
    const { store, admin, at } = await shop()
    for (let i = 0; i < 4; i++) expect((await at('2025-03-03T09:00:00', '9043', 'clock_in')).status).toBe(401)
    expect((await at('2025-03-03T09:00:00', '9044', 'clock_in')).status).toBe(429)
    expect((await at('2025-03-03T09:01:00', '3852', 'clock_in')).status).toBe(429)
    const audit = await admin.get(`/api/v1/audit?action=auth.pin_failed&entityId=${store.registerId}`)
    expect(audit.body.items.every((e: any) => e.details.purpose === 'timeclock')).toBe(true)
    const hours = await admin.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')
    expect(hours.body.people).toEqual([])
  })

  it('a shift open now is in the periods it began before the end of, not in an earlier one', async () => {
    const { ann, admin, at } = await shop()
    await at('2025-03-10T09:00:00', '3852', 'clock_in')
    expect((await admin.get('/api/v1/timeclock/hours?from=2025-03-01&to=2025-03-02')).body.people).toEqual([])
    const since = (await admin.get('/api/v1/timeclock/hours?from=2025-03-10&to=2025-03-10')).body.people
    expect(since.map((p: any) => [p.userId, p.open?.clockedInAt])).toEqual([[ann.id, '2025-03-10T01:00:00.000Z']])
  })

  it('reports hours per person as JSON and CSV: anyone their own, reports.read everyone’s', async () => {
    const { m, ann, bob, admin, at } = await shop()
    await at('2025-03-03T09:00:00', '3852', 'clock_in')
    await at('2025-03-03T12:00:00', '3852', 'break_start')
    await at('2025-03-03T12:30:00', '3852', 'break_end')
    await at('2025-03-03T17:00:00', '3852', 'clock_out')
    await at('2025-03-03T22:00:00', '7391', 'clock_in')
    await at('2025-03-04T02:00:00', '7391', 'clock_out')

    const all = await admin.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')
    expect(all.status).toBe(200)
    expect(all.body.timeZone).toBe('Asia/Shanghai')
    const by = Object.fromEntries(all.body.people.map((p: any) => [p.userId, p]))
    expect(by[ann.id]).toMatchObject({ workedMinutes: 450, breakMinutes: 30, shifts: 1 })
    expect(by[bob.id]).toMatchObject({ workedMinutes: 120, shifts: 1 })
    const twoDays = await admin.get(`/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-04&userId=${bob.id}`)
    expect(twoDays.body.people[0]).toMatchObject({ workedMinutes: 240, days: [{ date: '2025-03-03', workedMinutes: 120 }, { date: '2025-03-04', workedMinutes: 120 }] })

    const csv = await admin.get('/api/v1/timeclock/hours.csv?from=2025-03-03&to=2025-03-03')
    expect(csv.status).toBe(200)
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/)
    const lines = (csv.body as string).trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines.find((l) => l.startsWith(ann.id))).toContain(',450,7.50,30,1,')
    expect(lines[0]!.replace(/^\ufeff/, '').trim()).toBe('user_id,name,email,role,from,to,worked_minutes,worked_hours,break_minutes,shifts,open_shift_since')
    // Named in Chinese for a reader asking for it.
    const zh = await admin.get('/api/v1/timeclock/hours.csv?from=2025-03-03&to=2025-03-03', { headers: { 'accept-language': 'zh-CN' } })
    expect((zh.body as string).replace(/^\ufeff/, '').split('\r\n')[0]).toBe('用户 ID,姓名,邮箱,角色,开始日期,结束日期,工作分钟,工作小时,休息分钟,班次数,未结束班次开始于')

    const annApi = createApi(hub).as(ann.token)
    const own = await annApi.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')
    expect(own.body.people.map((p: any) => p.userId)).toEqual([ann.id])
    expect((await annApi.get(`/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03&userId=${ann.id}`)).status).toBe(200)
    expect((await annApi.get(`/api/v1/timeclock/hours.csv?from=2025-03-03&to=2025-03-03&userId=${bob.id}`)).status).toBe(403)
    const manager = createApi(hub).as((await m.staff('manager')).token)
    expect((await manager.get(`/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03&userId=${bob.id}`)).body.people[0].userId).toBe(bob.id)
    expect((await admin.get('/api/v1/timeclock/hours?from=2025-03-04&to=2025-03-03')).status).toBe(422)
    expect((await admin.get('/api/v1/timeclock/hours?from=2025-3-4&to=2025-03-03')).status).toBe(400)
  })

  it('an open shift is reported as open, not counted as ending now', async () => {
    const { ann, admin, at } = await shop()
    await at('2025-03-03T09:00:00', '3852', 'clock_in')
    hub.setNow(sh('2025-03-03T15:00:00'))
    try {
      const r = await admin.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')
      expect(r.body.people).toEqual([expect.objectContaining({ userId: ann.id, workedMinutes: 0, shifts: 0, open: { clockedInAt: sh('2025-03-03T09:00:00').toISOString(), onBreak: false } })])
    } finally {
      hub.setNow(undefined)
    }
  })

  it('a manager corrects the time clock: a forgotten clock-out added, a mistaken entry voided, each with a reason, audited, and kept in order', async () => {
    const { m, ann, bob, admin, at } = await shop()
    const manager = await m.staff('manager')
    const boss = createApi(hub).as(manager.token)
    await at('2025-03-03T09:00:00', '3852', 'clock_in')
    await at('2025-03-03T09:02:00', '7391', 'clock_in')
    await at('2025-03-03T12:00:00', '7391', 'break_start')
    await at('2025-03-03T18:00:00', '7391', 'clock_out')
    // Ann forgot to clock out: her shift is open and counts nothing.
    const before = (await admin.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')).body.people
    expect(before.find((p: any) => p.userId === ann.id)).toMatchObject({ workedMinutes: 0, open: { clockedInAt: sh('2025-03-03T09:00:00').toISOString() } })

    const add = (body: object, api = boss) => api.post('/api/v1/timeclock/entries', body)
    hub.setNow(sh('2025-03-04T10:00:00'))
    try {
      // Refused: out of order, in the future, without permission, for oneself, for another merchant's user.
      expect((await add({ userId: ann.id, entries: [{ action: 'clock_in', at: sh('2025-03-03T10:00:00').toISOString() }], reason: 'x' })).body.error.code).toBe('time_entries_out_of_order')
      expect((await add({ userId: ann.id, entries: [{ action: 'clock_out', at: sh('2025-03-03T08:00:00').toISOString() }], reason: 'x' })).body.error.code).toBe('time_entries_out_of_order')
      expect((await add({ userId: ann.id, entries: [{ action: 'clock_out', at: sh('2025-03-05T08:00:00').toISOString() }], reason: 'x' })).body.error.code).toBe('time_entry_in_future')
      expect((await add({ userId: bob.id, entries: [{ action: 'clock_out', at: sh('2025-03-03T18:00:00').toISOString() }], reason: 'x' }, createApi(hub).as(ann.token))).status).toBe(403)
      expect((await add({ userId: manager.id, entries: [{ action: 'clock_in', at: sh('2025-03-03T08:00:00').toISOString() }], reason: 'x' })).body.error.code).toBe('own_time_entry')
      const stranger = await seedMerchant(hub)
      expect((await add({ userId: (await stranger.staff('cashier')).id, entries: [{ action: 'clock_in', at: sh('2025-03-03T08:00:00').toISOString() }], reason: 'x' })).status).toBe(404)
      expect((await add({ userId: ann.id, entries: [{ action: 'clock_out', at: sh('2025-03-03T17:30:00').toISOString() }] })).status).toBe(400)

      const added = await add({ userId: ann.id, entries: [{ action: 'clock_out', at: sh('2025-03-03T17:30:00').toISOString() }], reason: 'forgot to clock out; left at 17:30' })
      expect(added.status, JSON.stringify(added.body)).toBe(201)
      expect(added.body.items).toMatchObject([{ kind: 'clock_out', userId: ann.id, addedBy: manager.id, reason: 'forgot to clock out; left at 17:30', voidedAt: null }])
      // A whole shift missed before later entries goes in as its clock-in and clock-out together; either alone is refused.
      const shift = [
        { action: 'clock_in', at: sh('2025-03-02T10:00:00').toISOString() },
        { action: 'clock_out', at: sh('2025-03-02T14:00:00').toISOString() },
      ]
      expect((await add({ userId: ann.id, entries: [shift[0]], reason: 'x' })).body.error.code).toBe('time_entries_out_of_order')
      expect((await add({ userId: ann.id, entries: [shift[1]], reason: 'x' })).body.error.code).toBe('time_entries_out_of_order')
      const whole = await add({ userId: ann.id, entries: [shift[1], shift[0]], reason: 'worked Sunday, clock was down' })
      expect(whole.status, JSON.stringify(whole.body)).toBe(201)
      expect(whole.body.items.map((e: any) => e.kind)).toEqual(['clock_in', 'clock_out'])

      // Bob's break was never ended: the break runs to his clock-out. The manager voids the break start instead.
      const entries = (await boss.get(`/api/v1/timeclock/entries?userId=${bob.id}&from=2025-03-03&to=2025-03-03`)).body.items
      expect(entries.map((e: any) => e.kind)).toEqual(['clock_in', 'break_start', 'clock_out'])
      const breakStart = entries[1]
      // Voiding his clock-in would leave a break and a clock-out with no shift: refused.
      expect((await boss.post(`/api/v1/timeclock/entries/${entries[0].id}/void`, { reason: 'x' })).body.error.code).toBe('time_entries_out_of_order')
      const voided = await boss.post(`/api/v1/timeclock/entries/${breakStart.id}/void`, { reason: 'no break taken; the till was left signed in' })
      expect(voided.status, JSON.stringify(voided.body)).toBe(200)
      expect(voided.body).toMatchObject({ id: breakStart.id, voidedBy: manager.id, voidReason: 'no break taken; the till was left signed in' })
      expect((await boss.post(`/api/v1/timeclock/entries/${breakStart.id}/void`, { reason: 'again' })).body.error.code).toBe('time_entry_voided')
      const listed = (await boss.get(`/api/v1/timeclock/entries?userId=${bob.id}&from=2025-03-03&to=2025-03-03`)).body.items
      expect(listed.map((e: any) => [e.kind, e.voidedAt !== null])).toEqual([
        ['clock_in', false],
        ['break_start', true],
        ['clock_out', false],
      ])
    } finally {
      hub.setNow(undefined)
    }
    const hours = (await admin.get('/api/v1/timeclock/hours?from=2025-03-03&to=2025-03-03')).body.people
    expect(hours.find((p: any) => p.userId === ann.id)).toMatchObject({ workedMinutes: 8 * 60 + 30, breakMinutes: 0, shifts: 1, open: null })
    expect(hours.find((p: any) => p.userId === bob.id)).toMatchObject({ workedMinutes: 8 * 60 + 58, breakMinutes: 0, shifts: 1 })
    expect((await admin.get('/api/v1/timeclock/hours?from=2025-03-02&to=2025-03-02')).body.people.find((p: any) => p.userId === ann.id)).toMatchObject({ workedMinutes: 4 * 60 })
    const audit = (await admin.get('/api/v1/audit?action=timeclock.entry_added')).body.items
    expect(audit.map((e: any) => [e.details.at, e.actorId, e.details.userId, e.details.kind, e.details.reason]).sort()).toEqual([
      [sh('2025-03-02T10:00:00').toISOString(), manager.id, ann.id, 'clock_in', 'worked Sunday, clock was down'],
      [sh('2025-03-02T14:00:00').toISOString(), manager.id, ann.id, 'clock_out', 'worked Sunday, clock was down'],
      [sh('2025-03-03T17:30:00').toISOString(), manager.id, ann.id, 'clock_out', 'forgot to clock out; left at 17:30'],
    ])
    expect((await admin.get('/api/v1/audit?action=timeclock.entry_voided')).body.items).toHaveLength(1)
    // A clock action at the till after the correction goes on from it.
    expect((await at('2025-03-04T09:00:00', '3852', 'clock_in')).status).toBe(201)
  })
})
