// Exports of one voucher to one connection, asked for at once (twice by hand, or by hand while the queued job runs),
// deliver it once: the others answer with the delivery already recorded.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { smtpSandbox } from '../../src/sandboxes/vendors/smtp.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-21'

describe('voucher export writes one remote record once', () => {
  const hub = useTestHub()
  const smtp = smtpSandbox()
  beforeAll(() => smtp.start())
  afterAll(() => smtp.stop())

  async function day() {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: `V${Date.now() % 100000}`, openSession: false })
    const item = await seedProduct(hub, store, { price: 1130, cost: 600, stock: 100 })
    const admin = createApi(hub).as(m.adminToken)
    hub.setNow(at(`${DAY} 09:00:00`))
    try {
      await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })
      for (const kind of ['wechat', 'cash']) expect((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind, amount: 1130 }] })).status).toBe(201)
    } finally {
      hub.setNow(undefined)
    }
    const mail = await admin.post('/api/v1/connections', {
      connectorId: 'voucher-file',
      name: 'Finance mailbox',
      config: { smtpHost: '127.0.0.1', smtpPort: smtp.port, secure: false, from: 'hub@shop.example', recipients: ['finance@shop.example'] },
    })
    expect(mail.status, JSON.stringify(mail.body)).toBe(201)
    const built = await admin.post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY })
    expect(built.status, JSON.stringify(built.body)).toBe(200)
    return { admin, mailId: mail.body.id as string, voucherId: built.body.voucher.id as string, reference: built.body.voucher.reference as string }
  }

  it('two exports of the same voucher at once send it once', async () => {
    const { admin, mailId, voucherId, reference } = await day()
    const before = smtp.state.messages.length
    const rs = await Promise.all([0, 1, 2].map(() => admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId })))
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200])
    expect(rs.map((r) => r.body.sent).sort()).toEqual([false, false, true])
    expect(rs.map((r) => r.body.export?.status)).toEqual(['exported', 'exported', 'exported'])
    const sent = smtp.state.messages.slice(before)
    expect(sent.length).toBe(1)
    expect(JSON.stringify(sent[0])).toContain(reference)
  })

  it('a manual export racing the queued export job sends it once', async () => {
    const { admin, mailId, voucherId } = await day()
    const before = smtp.state.messages.length
    expect((await admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId, queue: true })).status).toBe(200)
    await Promise.all([drainJobs(hub), admin.post(`/api/v1/vouchers/${voucherId}/export`, { connectionId: mailId })])
    const sent = smtp.state.messages.slice(before)
    expect(sent.length).toBe(1)
  })
})
