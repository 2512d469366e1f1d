import { describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'

// The vouchers, the device jobs and the cash sessions page like the product's other lists: a page and its nextCursor,
// each row once however many share a sort key, and a cursor that is not a row of this list of this merchant is a 400.

type Api = ReturnType<ReturnType<typeof createApi>['as']>

/** Every page of a list, one row at a time: the ids in the order read. */
async function readAll(api: Api, path: string): Promise<string[]> {
  const ids: string[] = []
  let cursor: string | null = null
  for (let pages = 0; pages < 50; pages++) {
    const sep = path.includes('?') ? '&' : '?'
    const res: { status: number; body: any } = await api.get(`${path}${sep}limit=1${cursor ? `&cursor=${cursor}` : ''}`)
    expect(res.status, JSON.stringify(res.body)).toBe(200)
    ids.push(...res.body.items.map((r: { id: string }) => r.id))
    cursor = res.body.nextCursor
    if (cursor === null) return ids
  }
  throw new Error(`${path} did not end`)
}

describe('list cursors', () => {
  const hub = useTestHub()
  const at = (local: string) => new Date(`${local}+08:00`)

  it('vouchers: several stores on one business day and several days, each voucher once, newest day first', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const admin = createApi(hub).as(m.adminToken)
    const stores = [await seedStore(hub, m.merchantId, { openSession: false }), await seedStore(hub, m.merchantId, { openSession: false }), await seedStore(hub, m.merchantId, { openSession: false })]
    const days = ['2026-11-18', '2026-11-19']
    try {
      for (const store of stores) {
        const item = await seedProduct(hub, store, { price: 1000, stock: 10 })
        hub.setNow(at(`${days[0]}T09:00:00`))
        expect((await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 0 })).status).toBe(201)
        for (const day of days) {
          hub.setNow(at(`${day}T10:00:00`))
          expect((await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku }], tenders: [{ kind: 'cash', amount: 1000 }] })).status).toBe(201)
        }
      }
      hub.setNow(at('2026-11-20T09:00:00'))
      for (const day of days) for (const store of stores) expect((await admin.post('/api/v1/vouchers/build', { date: day, storeId: store.storeId })).body.outcome).toBe('created')
    } finally {
      hub.setNow(undefined)
    }
    const whole = (await admin.get('/api/v1/vouchers')).body
    expect(whole.items).toHaveLength(6)
    expect(whole.nextCursor).toBeNull()
    const paged = await readAll(admin, '/api/v1/vouchers')
    expect(paged).toEqual(whole.items.map((v: { id: string }) => v.id))
    expect(new Set(paged).size).toBe(6)
    expect(whole.items.map((v: { businessDate: string }) => v.businessDate)).toEqual(['2026-11-19', '2026-11-19', '2026-11-19', '2026-11-18', '2026-11-18', '2026-11-18'])
    // Filters hold across pages.
    expect(await readAll(admin, `/api/v1/vouchers?date=2026-11-18`)).toEqual(paged.slice(3))
    expect(await readAll(admin, `/api/v1/vouchers?storeId=${stores[1]!.storeId}`)).toHaveLength(2)

    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    const foreign = await other.get(`/api/v1/vouchers?cursor=${paged[0]}`)
    expect(foreign.status).toBe(400)
    expect(foreign.body.error.code).toBe('invalid_cursor')
    expect((await admin.get('/api/v1/vouchers?cursor=not-a-cursor')).status).toBe(400)
  })

  it('cash sessions: sessions opened at the same instant are each read once', async () => {
    const m = await seedMerchant(hub)
    const admin = createApi(hub).as(m.adminToken)
    const opened = at('2026-11-20T08:00:00')
    for (let i = 0; i < 4; i++) await seedStore(hub, m.merchantId, { openedAt: opened })
    const whole = (await admin.get('/api/v1/cash-sessions')).body
    expect(whole.items).toHaveLength(4)
    expect(whole.nextCursor).toBeNull()
    const paged = await readAll(admin, '/api/v1/cash-sessions')
    expect(paged).toEqual(whole.items.map((s: { id: string }) => s.id))
    expect(new Set(paged).size).toBe(4)

    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    const foreign = await other.get(`/api/v1/cash-sessions?cursor=${paged[0]}`)
    expect(foreign.status).toBe(400)
    expect(foreign.body.error.code).toBe('invalid_cursor')
  })

  it('device jobs: each job once, newest first, the cursor a job of this merchant', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const admin = createApi(hub).as(m.adminToken)
    const printer = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Till printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.1.50', paperWidth: 80 })
    expect(printer.status).toBe(201)
    const made: string[] = []
    for (let i = 0; i < 5; i++) {
      const job = await admin.post(`/api/v1/devices/${printer.body.id}/jobs`, { action: 'test_print' })
      expect(job.status).toBe(202)
      made.push(job.body.id)
    }
    const paged = await readAll(admin, '/api/v1/device-jobs')
    expect(paged).toEqual([...made].reverse())
    expect(await readAll(admin, `/api/v1/device-jobs?deviceId=${printer.body.id}&state=queued`)).toEqual([...made].reverse())

    const other = createApi(hub).as((await seedMerchant(hub)).adminToken)
    const firstPage = (await admin.get('/api/v1/device-jobs?limit=1')).body
    const foreign = await other.get(`/api/v1/device-jobs?cursor=${firstPage.nextCursor}`)
    expect(foreign.status).toBe(400)
    expect(foreign.body.error.code).toBe('invalid_cursor')
  })
})
