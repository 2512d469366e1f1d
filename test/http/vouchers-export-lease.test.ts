// One export of a voucher to a connection at a time, under a sending lease: the others wait without holding a database
// connection, so exports of one voucher piling up while the target hangs never take the whole pool (a hub with a pool
// of 3 here) from the export that must record what the target said.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-21'
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const poolSize = 3
describe('voucher exports waiting on each other, with a small connection pool', () => {
  const hub = useTestHub({ poolSize })
  const smtp = smtpSandbox()
  beforeAll(() => smtp.start())
  afterAll(() => smtp.stop())

  it('five exports of one voucher while the mail server hangs all get an answer, and the voucher is sent once', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `VX${poolSize}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1130, cost: 600, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    hub.setNow(at(`${DAY} 09:00:00`))
    try {
      await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      expect((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'wechat', amount: 1130 }] })).status).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
    const mail = await admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Finance mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'], timeoutMs: 1500 },
    })
    expect(mail.status, JSON.stringify(mail.body)).toBe(201)
    const built = await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })
    expect(built.status, JSON.stringify(built.body)).toBe(200)
    const voucherId = built.body.voucher.id

    const before = smtp.state.messages.length
    smtp.state.stall = true
    const first = admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mail.body.id })
    await sleep(300)
    const others = [1, 2, 3, 4].map(() => admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mail.body.id }))
    await sleep(300)
    smtp.state.stall = false
    const all = Promise.all([first, ...others])
    const outcome = await Promise.race([all.then((rs) => rs.map((r) => r.status)), sleep(15_000).then(() => 'deadlocked' as const)])
    if (outcome === 'deadlocked') {
      // Free the pool so the file can finish: end the backends waiting on the export lock.
      const c = new pg.Client({ connectionString: hub.url })
      await c.connect()
      await c.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`)
      await c.end()
      await all.catch(() => undefined)
    }
    // Each request answers: the first, cut off by the hanging target, with 502; one of the others then sends it, and
    // the rest find it delivered.
    expect(outcome).not.toBe('deadlocked')
    expect([...(outcome as number[])].sort()).toEqual([200, 200, 200, 200, 502])
    expect(smtp.state.messages.length - before).toBe(1)
  }, 40_000)
})
