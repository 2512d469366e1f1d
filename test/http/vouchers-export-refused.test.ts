// A voucher the target refused (its books closed, a lock date) goes through once finance fixes it there, exported
// again through the API: QuickBooks and Xero replay a refusal under its idempotency key, so the refusal is recorded
// with the export and the next attempt sends a new key — kept in the database, so any hub process sends the same.
import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { useVendors } from '../helpers/voucher-vendors.ts'

describe('a voucher refused by its target and exported again once fixed there', () => {
  const hub = useTestHub()
  const v = useVendors(hub)
  const qboHeld = (code: string) => [...v.qbo.state.journalEntries.values()].filter((je) => je.PrivateNote?.startsWith(`[TB-${code}-`))
  const xeroHeld = (code: string) => [...v.xero.state.manualJournals.values()].filter((j) => j.Narration.startsWith(`[TB-${code}-`))

  it('QuickBooks: refused for closed books, booked once they are reopened', async () => {
    const d = await v.day()
    const c = await d.connect('quickbooks')
    const built = await d.build()
    v.qbo.state.bookCloseDate = '2026-11-30'
    try {
      const refused = await d.exportTo(built.voucher.id, c)
      expect([refused.status, refused.body.error?.details?.reason], JSON.stringify(refused.body)).toEqual([422, 'period_closed'])
    } finally {
      v.qbo.state.bookCloseDate = null
    }
    const ok = await d.exportTo(built.voucher.id, c)
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(qboHeld(d.code)).toHaveLength(1)
    // Once more: already there, nothing sent.
    expect((await d.exportTo(built.voucher.id, c)).status).toBe(200)
    expect(qboHeld(d.code)).toHaveLength(1)
  }, 60_000)

  it('Xero: refused for a lock date, saved once the lock is lifted', async () => {
    const d = await v.day()
    const c = await d.connect('xero')
    const built = await d.build()
    v.xero.state.periodLockDate = '2026-11-30'
    try {
      const refused = await d.exportTo(built.voucher.id, c)
      expect([refused.status, refused.body.error?.details?.reason], JSON.stringify(refused.body)).toEqual([422, 'period_closed'])
    } finally {
      v.xero.state.periodLockDate = null
    }
    const ok = await d.exportTo(built.voucher.id, c)
    expect(ok.status, JSON.stringify(ok.body)).toBe(200)
    expect(xeroHeld(d.code)).toHaveLength(1)
  }, 60_000)

  it('QuickBooks: a second connection to the company, used first once the books are reopened, is not answered with the refusal of the first', async () => {
    const d = await v.day()
    const a = await d.connect('quickbooks')
    const built = await d.build()
    v.qbo.state.bookCloseDate = '2026-11-30'
    try {
      expect((await d.exportTo(built.voucher.id, a)).status).toBe(422)
    } finally {
      v.qbo.state.bookCloseDate = null
    }
    const b = await d.connect('quickbooks')
    const viaB = await d.exportTo(built.voucher.id, b)
    expect(viaB.status, JSON.stringify(viaB.body)).toBe(200)
    expect((await d.exportTo(built.voucher.id, a)).status).toBe(200)
    expect(qboHeld(d.code)).toHaveLength(1)
  }, 60_000)
})
