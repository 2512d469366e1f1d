import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'
import { decimalHours, hoursCsv, recordClockAction, staffHours, type ClockAction } from '../../../src/core/staff/timeclock.ts'

/** Shanghai wall-clock time (UTC+8, no DST) as an instant. */
const sh = (local: string) => new Date(`${local}+08:00`)

describe('hours from the time clock', () => {
  const hub = useTestHub()

  async function punch(merchantId: string, userId: string, list: [ClockAction, string][]) {
    for (const [action, at] of list) {
      await hub.database.db.transaction((tx) => recordClockAction(tx, systemActor(merchantId), { userId, registerId: null, action, at: sh(at) }))
    }
  }

  it('counts clocked time less breaks, to the minute, split at midnight and at the edges of the period', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const day = await m.staff('cashier', `day-${Date.now()}@example.com`)
    const breakAtClose = await m.staff('cashier', `close-${Date.now()}@example.com`)
    const open = await m.staff('cashier', `open-${Date.now()}@example.com`)
    const before = await m.staff('cashier', `before-${Date.now()}@example.com`)
    const early = await m.staff('cashier', `early-${Date.now()}@example.com`)

    // Seconds are dropped: 09:00:40 counts from 09:00, 17:30:59 until 17:30.
    await punch(m.merchantId, day.id, [
      ['clock_in', '2024-03-01T09:00:40'],
      ['break_start', '2024-03-01T12:00:00'],
      ['break_end', '2024-03-01T12:30:00'],
      ['clock_out', '2024-03-01T17:30:59'],
      // A night shift across midnight, with its break after midnight.
      ['clock_in', '2024-03-02T22:00:00'],
      ['break_start', '2024-03-03T02:00:00'],
      ['break_end', '2024-03-03T02:15:00'],
      ['clock_out', '2024-03-03T06:00:00'],
    ])
    // Clocking out during a break ends the break there.
    await punch(m.merchantId, breakAtClose.id, [
      ['clock_in', '2024-03-02T10:00:00'],
      ['break_start', '2024-03-02T13:00:00'],
      ['clock_out', '2024-03-02T14:00:00'],
    ])
    await punch(m.merchantId, open.id, [
      ['clock_in', '2024-03-02T08:00:00'],
      ['break_start', '2024-03-02T12:00:00'],
    ])
    await punch(m.merchantId, before.id, [
      ['clock_in', '2024-02-28T09:00:00'],
      ['clock_out', '2024-02-28T17:00:00'],
    ])
    // Begun before the period: only the part inside counts.
    await punch(m.merchantId, early.id, [
      ['clock_in', '2024-02-29T20:00:00'],
      ['clock_out', '2024-03-01T04:00:00'],
    ])

    const r = await staffHours(hub.database.db, m.merchantId, { from: '2024-03-01', to: '2024-03-02' })
    const by = Object.fromEntries(r.people.map((p) => [p.userId, p]))
    expect(Object.keys(by).sort()).toEqual([day.id, breakAtClose.id, open.id, early.id].sort())
    expect(by[day.id]).toMatchObject({
      workedMinutes: 480 + 120,
      breakMinutes: 30,
      shifts: 2,
      open: null,
      days: [
        { date: '2024-03-01', workedMinutes: 480, breakMinutes: 30 },
        { date: '2024-03-02', workedMinutes: 120, breakMinutes: 0 },
      ],
    })
    expect(by[breakAtClose.id]).toMatchObject({ workedMinutes: 180, breakMinutes: 60, shifts: 1 })
    expect(by[open.id]).toMatchObject({ workedMinutes: 0, breakMinutes: 0, shifts: 0, open: { clockedInAt: sh('2024-03-02T08:00:00').toISOString(), onBreak: true } })
    expect(by[early.id]).toMatchObject({ workedMinutes: 240, shifts: 1, days: [{ date: '2024-03-01', workedMinutes: 240, breakMinutes: 0 }] })

    const next = await staffHours(hub.database.db, m.merchantId, { from: '2024-03-03', to: '2024-03-03', userIds: [day.id] })
    expect(next.people).toEqual([expect.objectContaining({ userId: day.id, workedMinutes: 345, breakMinutes: 15, shifts: 1 })])

    const csv = new TextDecoder().decode(hoursCsv(r).bytes).trim().split('\r\n')
    expect(csv[0]).toBe('user_id,name,email,role,from,to,worked_minutes,worked_hours,break_minutes,shifts,open_shift_since')
    expect(csv.find((l) => l.startsWith(day.id))).toBe(`${day.id},cashier,${day.email},cashier,2024-03-01,2024-03-02,600,10.00,30,2,`)
    expect(csv.find((l) => l.startsWith(open.id))).toContain(`,0,0.00,0,0,${sh('2024-03-02T08:00:00').toISOString()}`)
  })

  it('a person asked for by id is listed even without time in the period', async () => {
    const m = await seedMerchant(hub)
    const idle = await m.staff('cashier')
    const r = await staffHours(hub.database.db, m.merchantId, { from: '2024-05-01', to: '2024-05-31', userIds: [idle.id] })
    expect(r.people).toEqual([expect.objectContaining({ userId: idle.id, workedMinutes: 0, shifts: 0, open: null, days: [] })])
  })

  it('shows minutes as decimal hours by integer arithmetic', () => {
    expect([0, 1, 20, 30, 59, 60, 450, 601].map(decimalHours)).toEqual(['0.00', '0.02', '0.33', '0.50', '0.98', '1.00', '7.50', '10.02'])
  })
})
