// Work that was waiting in the queue when a merchant was exported (queued jobs are not part of an archive) is queued
// again by the import, so a restored hub sends what the old one would have: pending outbound webhook deliveries and
// the fanout of events recorded just before the export.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { setupServer } from 'msw/node'
import { http, HttpResponse } from 'msw'
import { createTestDatabase, hubOn, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs, queuedJobs } from '../helpers/jobs.ts'
import { fanout } from '../../src/jobs/webhooks-outbound.ts'
import { exportMerchant } from '../../src/ops/backup/export.ts'
import { importArchive } from '../../src/ops/backup/import.ts'

const RECEIVER = 'https://receiver.example/restored'

describe('an imported merchant picks up the work that was queued at export', { timeout: 300_000 }, () => {
  const hub = useTestHub()
  const received: { messageId: string; type: string }[] = []
  const server = setupServer(
    http.post(RECEIVER, async ({ request }) => {
      const body = JSON.parse(await request.text()) as { type: string }
      received.push({ messageId: request.headers.get('webhook-id')!, type: body.type })
      return HttpResponse.json({ ok: true })
    }),
  )
  let dir: string
  const closers: (() => Promise<void>)[] = []
  beforeAll(() => {
    server.listen({ onUnhandledFrame: 'error' })
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-restore-queues-'))
  })
  afterAll(async () => {
    server.close()
    for (const c of closers.reverse()) await c()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('pending deliveries are sent, a scheduled retry keeps its time, and events not yet fanned out get their deliveries', async () => {
    const m = await seedMerchant(hub, { name: 'Restore queues' })
    const store = await seedStore(hub, m.merchantId, { code: 'RQ1' })
    const tea = await seedProduct(hub, store, { name: 'Tea', price: 1200, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const sub = await admin.post('/api/v1/webhook-subscriptions', { url: RECEIVER, eventTypes: ['sale.completed'] })
    expect(sub.status, JSON.stringify(sub.body)).toBe(201)
    const sell = async () => {
      const r = await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku }], tenders: [{ kind: 'cash', amount: 1200 }] })
      expect(r.status, JSON.stringify(r.body)).toBe(201)
    }
    // Three sales fanned out (their sending left queued), one of them waiting for a retry tomorrow; one sale more
    // whose fanout is still queued at export.
    await sell()
    await sell()
    await sell()
    await drainJobs(hub, { tasks: [fanout], rounds: 3 })
    const pool = hub.database.pool
    const deliveries = (await pool.query<{ id: string; message_id: string }>(`select id, message_id from webhook_deliveries where merchant_id = $1 and status = 'pending' order by id`, [m.merchantId])).rows
    expect(deliveries).toHaveLength(3)
    const retryAt = new Date(Date.now() + 86_400_000)
    await pool.query(`update webhook_deliveries set attempts = 1, last_error = 'receiver answered HTTP 503', next_attempt_at = $2 where id = $1`, [deliveries[2]!.id, retryAt])
    await sell()
    expect((await queuedJobs(hub, 'webhooks.fanout')).length).toBeGreaterThan(0)

    const archive = path.join(dir, 'a.zip')
    await exportMerchant(hub, { merchantId: m.merchantId, out: archive })
    const target = await createTestDatabase()
    closers.push(target.drop)
    const there = hubOn(target.url)
    closers.push(there.close)
    await importArchive(there, { file: archive })

    await drainJobs(there)
    // Each pending delivery due now was sent once; the fourth sale got its delivery, sent too.
    const sent = received.map((r) => r.messageId).sort()
    expect(sent).toEqual([...new Set(sent)])
    expect(sent).toEqual(expect.arrayContaining([deliveries[0]!.message_id, deliveries[1]!.message_id]))
    expect(sent).not.toContain(deliveries[2]!.message_id)
    expect(sent).toHaveLength(3)
    const statuses = (await there.database.pool.query<{ status: string; n: number }>(`select status, count(*)::int as n from webhook_deliveries where merchant_id = $1 group by status order by status`, [m.merchantId])).rows
    expect(statuses).toEqual([
      { status: 'pending', n: 1 },
      { status: 'succeeded', n: 3 },
    ])
    // The retry waits for its own time, with a job to send it then.
    const waiting = await queuedJobs(there, 'webhooks.deliver')
    expect(waiting.map((j) => j.payload.deliveryId)).toEqual([deliveries[2]!.id])
    expect(Math.abs(waiting[0]!.runAt.getTime() - retryAt.getTime())).toBeLessThan(1000)
  })
})
