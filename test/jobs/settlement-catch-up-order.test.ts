// A catch-up after downtime in which one day's bill comes in late (a short WeChat outage) reconciles the later days
// first: a till payment that late bill carries is not "missing in the channel" meanwhile (it was carried through no
// bill that could have shown it), and no day keeps a status its open exceptions no longer have.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http } from 'msw'
import { sql } from 'drizzle-orm'
import { useTestHubWithDataDir } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, makeDue } from '../helpers/jobs.ts'
import { wechatPaySandbox } from '../../src/sandboxes/vendors/wechatpay.ts'
import { scheduleFetches } from '../../src/jobs/reconciliation.ts'

const MCH = '1900000109'
const APPID = 'wx8888888888888888'
const API_KEY = 'k'.repeat(32)
const sh = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)

describe('settlement catch-up with a bill that comes in late', () => {
  const { hub } = useTestHubWithDataDir('catch-up-order')
  let vendorNow = sh('2026-11-08 10:35:00')
  const sandbox = wechatPaySandbox({ mchId: MCH, appId: APPID, apiKey: API_KEY, feeRateBp: 60, clock: () => vendorNow })
  const server = setupServer(...sandbox.handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => {
    hub.setNow(undefined)
    server.resetHandlers()
  })
  afterAll(() => server.close())

  it('the later days reconciled first leave the payment timing; the late bill matches it and every day is balanced', async () => {
    await hub.database.db.execute(sql`delete from graphile_worker._private_jobs`)
    hub.setNow(sh('2026-11-04 09:00:00'))
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1, stock: 1_000_000 })
    const admin = createApi(hub).as(m.adminToken)
    const conn = await admin.post('/api/v1/connections', { connectorId: 'wechatpay', name: 'WeChat', config: { mchId: MCH, apiVersion: 'v2', appId: APPID, apiKey: API_KEY, feeRateBp: 60 } })
    expect(conn.status).toBe(201)
    const connectionId = conn.body.id as string
    // A sale at 23:59:55 on the 4th; WeChat lists it on the 5th.
    hub.setNow(sh('2026-11-04 23:59:55'))
    const sale = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 300 }], tenders: [{ kind: 'wechat', amount: 300 }] })
    expect(sale.status).toBe(201)
    sandbox.state.days.set('2026-11-05', { rows: [{ kind: 'payment', at: '2026-11-05 00:00:03', outTradeNo: sale.body.tenders[0].paymentNo, amount: 300 }] })

    // The hub was down from the 4th; back on the 8th at 10:35. WeChat answers "system error" to the first four asks
    // for the 5th's bill (the client's own retries), so the job's retry fetches it a little later.
    let failures = 0
    server.use(
      http.post('https://api.mch.weixin.qq.com/pay/downloadbill', async ({ request }) => {
        if ((await request.clone().text()).includes('20261105') && failures++ < 4) {
          return new Response('<xml><return_code><![CDATA[FAIL]]></return_code><return_msg><![CDATA[system error]]></return_msg><error_code><![CDATA[20007]]></error_code></xml>', { status: 200 })
        }
        return undefined
      }),
    )
    vendorNow = sh('2026-11-08 10:35:00')
    hub.setNow(sh('2026-11-08 10:35:00'))
    const q = await scheduleFetches(hub, { now: sh('2026-11-08 10:35:00') })
    expect(q.queued.filter((p) => p.connectionId === connectionId).map((p) => p.businessDate)).toEqual(['2026-11-03', '2026-11-04', '2026-11-05', '2026-11-06', '2026-11-07'])
    await drainJobs(hub)
    await makeDue(hub)
    await drainJobs(hub)

    // Every day fetched once and the sale matched by the 5th's bill.
    const items = await hub.database.db.execute<{ outcome: string; state: string }>(sql`select outcome, state from recon_items where connection_id = ${connectionId}`)
    expect(items.rows).toEqual([{ outcome: 'matched', state: 'auto' }])
    const sum = await admin.get(`/api/v1/reconciliation/summary?from=2026-11-03&to=2026-11-07&connectionId=${connectionId}`)
    const chips = (sum.body.items as any[]).map((r) => [r.businessDate, r.runStatus, r.openExceptions]).sort()
    // The day chip agrees with the open exceptions: none is open on any day.
    expect(chips).toEqual([
      ['2026-11-03', 'balanced', 0],
      ['2026-11-04', 'balanced', 0],
      ['2026-11-05', 'balanced', 0],
      ['2026-11-06', 'balanced', 0],
      ['2026-11-07', 'balanced', 0],
    ])
    // Nothing was ever missing: finance must not have been told of an exception.
    const ev = await hub.database.db.execute(sql`select type from events where merchant_id = ${m.merchantId} and type = 'settlement.exception'`)
    expect(ev.rows).toEqual([])
  })
})
