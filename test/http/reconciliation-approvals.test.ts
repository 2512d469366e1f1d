import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { seedReconDay, type ReconDay } from '../helpers/recon-dashboard.ts'
import { DEFAULT_ROLE_PERMISSIONS } from '../../src/core/staff/permissions.ts'
import { wechatBill, type WechatBillRow } from '../../src/sandboxes/vendors/wechatpay.ts'
import { formClient } from '../helpers/form-client.ts'

describe('two-person approval of reconciliation resolutions', () => {
  const hub = useTestHub()

  /**
   * seedReconDay's day (an amount difference of ¥1.00, a ¥5.60 sale the channel lacks, and the channel's ¥5.60 line
   * under the terminal's own number) at a merchant that wants a manager to approve resolutions settling over ¥3.00.
   */
  async function shop() {
    const day = await seedReconDay(hub)
    const admin = day.api
    const settings = await admin.patch('/api/v1/merchant/settings', { approvals: { reconResolutionAbove: 300 } })
    expect(settings.status, JSON.stringify(settings.body)).toBe(200)
    expect(settings.body.approvals.reconResolutionAbove).toBe(300)
    const financeUser = await day.m.staff('finance')
    const managerUser = await day.m.staff('manager')
    const itemOf = async (outcome: string) =>
      (await hub.database.db.execute<{ id: string }>(sql`select id from recon_items where merchant_id = ${day.m.merchantId} and outcome = ${outcome}`)).rows[0]!.id
    const items = { diff: await itemOf('amount_diff'), timing: await itemOf('timing'), unknown: await itemOf('unknown_merchant_ref') }
    return {
      day,
      admin,
      items,
      financeUser,
      managerUser,
      finance: createApi(hub).as(financeUser.token),
      manager: createApi(hub).as(managerUser.token),
      item: async (id: string) => (await admin.get(`/api/v1/reconciliation/items/${id}`)).body,
      resolve: (api: ReturnType<typeof createApi>, id: string, body: Record<string, unknown>, headers?: Record<string, string>) =>
        api.post(`/api/v1/reconciliation/items/${id}/resolve`, body, { headers }),
    }
  }

  /** The day's bill again, corrected: the ¥5.60 sale billed under our number, for ¥5.50; then the day run again. */
  async function rerunCorrected(day: ReconDay) {
    const at = (time: string) => new Date(`${day.date}T${time}+08:00`)
    const rows: WechatBillRow[] = [
      { kind: 'payment', at: at('10:00:02'), outTradeNo: day.refs.exact, amount: 1200 },
      { kind: 'payment', at: at('11:30:01'), outTradeNo: day.refs.short, amount: 3300 },
      { kind: 'payment', at: at('15:45:12'), outTradeNo: day.refs.unbilled, amount: 550 },
    ]
    const q = new URLSearchParams({ connectionId: day.connectionId, date: day.date, format: 'wechat_trade', fileName: `wechat-${day.date}-ALL-2.csv.gz` })
    const up = await day.api.post(`/api/v1/reconciliation/statements?${q}`, undefined, {
      raw: new Uint8Array(wechatBill({ rows, gzip: true, feeRateBp: 60 })),
      headers: { 'content-type': 'application/gzip' },
    })
    expect(up.status, JSON.stringify(up.body)).toBe(201)
    const ran = await day.api.post('/api/v1/reconciliation/runs', { connectionId: day.connectionId, date: day.date })
    expect(ran.status, JSON.stringify(ran.body)).toBe(200)
  }

  it('a resolution settling no more than the limit takes effect at once', async () => {
    const s = await shop()
    const r = await s.resolve(s.finance, s.items.diff, { action: 'write_off', accountCode: '6603.02', note: 'terminal rounding' })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ state: 'resolved', resolution: 'write_off', resolvedBy: s.financeUser.id })
    // Exactly the limit is not above it: the ¥5.60 item at a limit of ¥5.60.
    await s.admin.patch('/api/v1/merchant/settings', { approvals: { reconResolutionAbove: 560 } })
    expect((await s.resolve(s.finance, s.items.timing, { action: 'accept_pos' })).status).toBe(200)
    expect((await s.admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('over the limit, finance gets 202 and the item stays open; a manager approves and it is resolved with both people on record', async () => {
    const s = await shop()
    const held = await s.resolve(s.finance, s.items.timing, { action: 'write_off', accountCode: '6603.02', note: 'lost at the terminal' })
    expect(held.status, JSON.stringify(held.body)).toBe(202)
    expect(held.body.approval).toMatchObject({ action: 'recon_item.resolve', status: 'pending', requestedBy: s.financeUser.id, payload: { itemId: s.items.timing, input: { action: 'write_off' } } })
    expect(held.body.approval.summary).toContain('settling 560')
    // While it waits, no second resolution of the item is asked for by someone who may not decide.
    const second = await s.resolve(s.finance, s.items.timing, { action: 'ignore', reason: 'asked twice' })
    expect(second.status).toBe(409)
    expect(second.body.error).toMatchObject({ code: 'resolution_pending', details: { approvalId: held.body.approval.id } })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', resolution: null, resolvedBy: null })
    expect((await s.item(s.items.timing)).history.map((h: any) => h.action)).toEqual(['created'])
    expect((await s.admin.get(`/api/v1/audit?action=recon_item.resolved&entityId=${s.items.timing}`)).body.items).toEqual([])
    // The requester sees their own request.
    expect((await s.finance.get('/api/v1/approvals')).body.items.map((a: any) => a.id)).toEqual([held.body.approval.id])

    const approved = await s.manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, { note: 'checked the terminal log' })
    expect(approved.status, JSON.stringify(approved.body)).toBe(200)
    expect(approved.body).toMatchObject({ status: 'approved', decidedBy: s.managerUser.id, result: { itemId: s.items.timing, resolution: 'write_off', settled: 560 } })
    const item = await s.item(s.items.timing)
    expect(item).toMatchObject({ state: 'resolved', manual: true, resolution: 'write_off', resolutionNote: 'account 6603.02: lost at the terminal', resolvedBy: s.financeUser.id })
    expect(item.history.map((h: any) => h.action)).toEqual(['created', 'resolved'])
    expect(item.history[1]).toMatchObject({ actorId: s.financeUser.id, details: { resolution: 'write_off', approvedBy: s.managerUser.id } })
    const audit = await s.admin.get(`/api/v1/audit?action=recon_item.resolved&entityId=${s.items.timing}`)
    expect(audit.body.items).toEqual([expect.objectContaining({ actorId: s.financeUser.id, approverId: s.managerUser.id })])
    const decision = await s.admin.get(`/api/v1/audit?action=approval.approved&entityId=${held.body.approval.id}`)
    expect(decision.body.items).toEqual([expect.objectContaining({ actorId: s.managerUser.id, details: expect.objectContaining({ requestedBy: s.financeUser.id, action: 'recon_item.resolve' }) })])
  })

  it('a hand match is weighed by the larger of its two items, and approved, pairs them', async () => {
    const s = await shop()
    const held = await s.resolve(s.finance, s.items.unknown, { action: 'match', counterpartId: s.items.timing, note: 'terminal used its own number' })
    expect(held.status, JSON.stringify(held.body)).toBe(202)
    expect(await s.item(s.items.unknown)).toMatchObject({ state: 'open' })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open' })
    // The counterpart is spoken for as well while the match waits.
    const other = await s.resolve(s.finance, s.items.timing, { action: 'accept_channel' })
    expect(other.status).toBe(409)
    expect(other.body.error).toMatchObject({ code: 'resolution_pending', details: { itemId: s.items.timing, approvalId: held.body.approval.id } })
    const approved = await s.manager.post(`/api/v1/approvals/${held.body.approval.id}/approve`, {})
    expect(approved.body).toMatchObject({ status: 'approved', result: { itemId: s.items.unknown, resolution: 'merged', settled: 560 } })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'resolved', resolution: 'matched_by_hand', outcome: 'matched', difference: 0, resolvedBy: s.financeUser.id })
    expect(await s.item(s.items.unknown)).toMatchObject({ state: 'resolved', resolution: 'merged', resolvedBy: s.financeUser.id })
  })

  it('a rejected resolution never happens: the item stays open and can be resolved otherwise', async () => {
    const s = await shop()
    const held = (await s.resolve(s.finance, s.items.timing, { action: 'ignore', reason: 'test payment' })).body.approval
    const rejected = await s.manager.post(`/api/v1/approvals/${held.id}/reject`, { note: 'it was a real sale' })
    expect(rejected.body).toMatchObject({ status: 'rejected', decidedBy: s.managerUser.id, result: null })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', resolution: null })
    expect((await s.manager.post(`/api/v1/approvals/${held.id}/approve`, {})).status).toBe(409)
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', resolution: null })
    expect((await s.item(s.items.timing)).history.map((h: any) => h.action)).toEqual(['created'])
  })

  it('whoever may decide approvals resolves over the limit at once: a manager, an admin, finance with a manager’s PIN', async () => {
    const s = await shop()
    // Managers do not resolve by default: the merchant gives them the right.
    await s.admin.put('/api/v1/roles/manager', { permissions: [...DEFAULT_ROLE_PERMISSIONS.manager, 'finance.export'] })
    const byManager = await s.resolve(s.manager, s.items.timing, { action: 'accept_pos', note: 'the till is right' })
    expect(byManager.status, JSON.stringify(byManager.body)).toBe(200)
    expect(byManager.body).toMatchObject({ state: 'resolved', resolution: 'accept_pos', resolvedBy: s.managerUser.id })
    expect(byManager.body.history[1].details.approvedBy).toBeUndefined()

    const byAdmin = await s.resolve(s.admin, s.items.unknown, { action: 'ignore', reason: 'paid in the online shop' })
    expect(byAdmin.status).toBe(200)
    expect(byAdmin.body).toMatchObject({ state: 'resolved', resolution: 'ignored' })

    await s.admin.post(`/api/v1/reconciliation/items/${s.items.timing}/reopen`, {})
    await s.admin.put(`/api/v1/users/${s.managerUser.id}/pin`, { pin: '4096' })
    const withPin = await s.resolve(s.finance, s.items.timing, { action: 'accept_channel' }, { 'X-Approver-Pin': '4096' })
    expect(withPin.status, JSON.stringify(withPin.body)).toBe(200)
    expect(withPin.body).toMatchObject({ state: 'resolved', resolution: 'accept_channel', resolvedBy: s.financeUser.id })
    const audit = await s.admin.get(`/api/v1/audit?action=recon_item.resolved&entityId=${s.items.timing}`)
    expect(audit.body.items[0]).toMatchObject({ actorId: s.financeUser.id, approverId: s.managerUser.id })
    expect(audit.body.items[1]).toMatchObject({ actorId: s.managerUser.id, approverId: null })
    expect((await s.admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('expecting an item the next day settles nothing and is never held', async () => {
    const s = await shop()
    const r = await s.resolve(s.finance, s.items.timing, { action: 'expect_next_day', note: 'after the cut-off' })
    expect(r.status, JSON.stringify(r.body)).toBe(200)
    expect(r.body).toMatchObject({ state: 'open', resolution: 'expect_next_day' })
    expect((await s.admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('a resolution that cannot be made is refused at once, not held', async () => {
    const s = await shop()
    const bad = await s.resolve(s.finance, s.items.timing, { action: 'write_off', accountCode: 'no such account!' })
    expect(bad.status).toBe(422)
    expect(bad.body.error.code).toBe('invalid_account_code')
    const wrong = await s.resolve(s.finance, s.items.timing, { action: 'match', counterpartId: s.items.diff })
    expect(wrong.status).toBe(422)
    expect((await s.admin.get('/api/v1/approvals')).body.items).toEqual([])
  })

  it('approval after the item was resolved otherwise fails cleanly and leaves the other resolution as it is', async () => {
    const s = await shop()
    const held = (await s.resolve(s.finance, s.items.timing, { action: 'write_off', accountCode: '6603.02' })).body.approval
    expect((await s.resolve(s.admin, s.items.timing, { action: 'accept_pos', note: 'found the slip' })).status).toBe(200)
    const r = await s.manager.post(`/api/v1/approvals/${held.id}/approve`, {})
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ status: 'failed', result: null, error: { code: 'item_not_open' } })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'resolved', resolution: 'accept_pos', resolutionNote: 'found the slip', resolvedBy: s.day.m.adminId })
    expect((await s.item(s.items.timing)).history.map((h: any) => h.action)).toEqual(['created', 'resolved'])
    expect((await s.admin.get(`/api/v1/audit?action=approval.failed&entityId=${held.id}`)).body.items).toHaveLength(1)
  })

  it('approval after a re-run changed the item fails cleanly and resolves nothing stale', async () => {
    const s = await shop()
    const held = (await s.resolve(s.finance, s.items.timing, { action: 'write_off', accountCode: '6603.02' })).body.approval
    // The corrected bill has the sale after all, 10 fen short: the item is open still, now an amount difference.
    await rerunCorrected(s.day)
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', outcome: 'amount_diff', difference: -10 })
    const r = await s.manager.post(`/api/v1/approvals/${held.id}/approve`, {})
    expect(r.body).toMatchObject({ status: 'failed', result: null, error: { code: 'item_changed', details: { itemId: s.items.timing } } })
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', outcome: 'amount_diff', resolution: null })
    expect((await s.item(s.items.timing)).history.map((h: any) => h.action)).not.toContain('resolved')
    // Asked again on what the item is now (10 fen), the resolution goes through at once.
    expect((await s.resolve(s.finance, s.items.timing, { action: 'write_off', accountCode: '6603.02' })).body).toMatchObject({ state: 'resolved', resolution: 'write_off' })
  })

  it('the dashboard says a held resolution awaits a manager’s approval and leaves the item open', async () => {
    const s = await shop()
    const c = formClient(s.admin.app)
    expect((await c.login(s.financeUser.email, s.day.m.password)).status).toBe(303)
    const dayPath = `/dashboard/reconciliation/${s.day.connectionId}/${s.day.date}`
    const page = await c.get(dayPath)
    const r = await c.post(`${dayPath}/items/${s.items.timing}/resolve`, { action: 'accept_pos', note: 'the till is right', _csrf: c.hidden(page.text, '_csrf')! })
    expect(r.status).toBe(303)
    expect(r.location).toBe(`${dayPath}?done=held#item-${s.items.timing}`)
    const after = await c.get(r.location!)
    expect(after.text).toContain('Awaiting a manager’s approval')
    expect(after.text).not.toContain('Resolved.')
    const row = new RegExp(`<tr id="item-${s.items.timing}"[\\s\\S]*?</tr>`).exec(after.text)![0]
    expect(row).toContain('data-state="open"')
    expect(row).toContain('data-testid="awaiting-approval"')
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'open', resolution: null })
    // The overview lists what waits for a manager, across days, each linking to the day where it is decided.
    const overview = await c.get('/dashboard/reconciliation')
    const waiting = new RegExp(`<tr data-approval="[0-9a-f-]{36}" data-item="${s.items.timing}">[\\s\\S]*?</tr>`).exec(overview.text)![0]
    expect(waiting).toContain(`href="${dayPath}#item-${s.items.timing}"`)
    expect(waiting).toContain('Accept POS')
    expect(waiting).toContain(s.financeUser.email)
    expect(waiting).toContain(s.day.date)

    // Below the limit the dashboard resolves as before.
    const small = await c.post(`${dayPath}/items/${s.items.diff}/resolve`, { action: 'accept_pos', _csrf: c.hidden(page.text, '_csrf')! })
    expect(small.location).toBe(`${dayPath}?done=resolved#item-${s.items.diff}`)
    expect(await s.item(s.items.diff)).toMatchObject({ state: 'resolved', resolution: 'accept_pos' })

    // Finance sees no decision buttons, and cannot post one.
    const approval = /data-approval="([0-9a-f-]{36})"/.exec(row)![1]!
    expect(row).not.toContain('data-decision=')
    expect((await c.post(`${dayPath}/approvals/${approval}/approve`, { _csrf: c.hidden(after.text, '_csrf')! })).status).toBe(403)

    // A manager approves it from the day's page: the resolution takes effect as finance asked it.
    const m = formClient(s.admin.app)
    expect((await m.login(s.managerUser.email, s.day.m.password)).status).toBe(303)
    const seen = await m.get(dayPath)
    const managerRow = new RegExp(`<tr id="item-${s.items.timing}"[\\s\\S]*?</tr>`).exec(seen.text)![0]
    expect(managerRow).toContain(`action="${dayPath}/approvals/${approval}/approve"`)
    expect(managerRow).toContain(`action="${dayPath}/approvals/${approval}/reject"`)
    const approved = await m.post(`${dayPath}/approvals/${approval}/approve`, { note: 'slip found', _csrf: m.hidden(seen.text, '_csrf')! })
    expect(approved.location).toBe(`${dayPath}?done=approved#item-${s.items.timing}`)
    expect((await m.get(approved.location!)).text).toContain('Approved: the resolution took effect.')
    expect(await s.item(s.items.timing)).toMatchObject({ state: 'resolved', resolution: 'accept_pos', resolvedBy: s.financeUser.id })
    // Deciding it again is refused on the page, not a server error.
    const again = await m.post(`${dayPath}/approvals/${approval}/reject`, { _csrf: m.hidden(seen.text, '_csrf')! })
    expect(again.status).toBe(409)

    // Another one, rejected: the item stays open.
    const held = await s.resolve(s.finance, s.items.unknown, { action: 'ignore', reason: 'online order' })
    expect(held.status).toBe(202)
    const rejected = await m.post(`${dayPath}/approvals/${held.body.approval.id}/reject`, { note: 'it is ours', _csrf: m.hidden(seen.text, '_csrf')! })
    expect(rejected.location).toBe(`${dayPath}?done=rejected#item-${s.items.unknown}`)
    expect(await s.item(s.items.unknown)).toMatchObject({ state: 'open', resolution: null })
    expect((await s.manager.get(`/api/v1/approvals/${held.body.approval.id}`)).body).toMatchObject({ status: 'rejected', decisionNote: 'it is ours' })
    // Nothing waits any more: the overview's list is gone.
    expect((await m.get('/dashboard/reconciliation')).text).not.toContain('id="recon-waiting"')
  })
})
