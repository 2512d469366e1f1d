// Ids another table holds without a declared foreign key (a voucher's cash movements, a stock count's watermarks in
// the stock ledger) move with their rows when a merchant is copied beside itself (--as-new-merchant), so the copy's
// drill-downs and reports read the copy's own records, as the original's read its own.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedProduct, seedStore } from '../helpers/pos.ts'
import { exportMerchant } from '../../src/ops/backup/export.ts'
import { importArchive } from '../../src/ops/backup/import.ts'
import { readCatalog } from '../../src/ops/backup/catalog.ts'

const at = (local: string) => new Date(`${local.replace(' ', 'T')}+08:00`)
const DAY = '2026-11-21'

describe('a copied merchant: voucher sources', { timeout: 300_000 }, () => {
  const hub = useTestHub()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-copy-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('the paid-in line of the copy drills down to the copy’s own cash movement, not the original merchant’s', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: 'CP1', openSession: false })
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    let session: any
    try {
      hub.setNow(at(`${DAY} 09:00:00`))
      const admin = createApi(hub).as(await m.adminTokenNow())
      session = ok(await admin.post('/api/v1/cash-sessions', { registerId: store.registerId, openingFloat: 10_000 }))
      ok(await admin.post(`/api/v1/cash-sessions/${session.id}/movements`, { kind: 'paid_in', amount: 5000, reason: 'float top-up from the safe' }))
      hub.setNow(at('2026-11-22 09:00:00'))
      ok(await createApi(hub).as(await m.adminTokenNow()).post('/api/v1/vouchers/build', { storeId: store.storeId, date: DAY }), 200)
    } finally {
      hub.setNow(undefined)
    }
    const file = path.join(dir, 'a.zip')
    await exportMerchant(hub, { merchantId: m.merchantId, out: file })
    const r = await importArchive(hub, { file, asNewMerchant: true, name: 'copy' })
    expect(r.idOffsets.cash_movements).toBeGreaterThan(0)

    const login = await createApi(hub).post('/api/v1/auth/login', { email: r.usersRenamed[0]!.to, password: m.password })
    expect(login.status).toBe(200)
    const copy = createApi(hub).as(login.body.token)
    const vouchers = ok(await copy.get(`/api/v1/vouchers?from=${DAY}&to=${DAY}`), 200).items
    expect(vouchers).toHaveLength(1)
    const voucher = ok(await copy.get(`/api/v1/vouchers/${vouchers[0].id}`), 200)
    const line = voucher.lines.find((l: any) => l.kind === 'cash_paid_in')
    const records = ok(await copy.get(`/api/v1/vouchers/${voucher.id}/lines/${line.lineNo}/sources`), 200).records
    const copySessions = ok(await copy.get('/api/v1/cash-sessions'), 200).items.map((s: any) => s.id)
    expect(copySessions).toHaveLength(1)
    expect(copySessions[0]).not.toBe(session.id)
    // One record, the copy's own paid-in (its session is the copy's session, never the original merchant's).
    expect(records.map((x: any) => [x.type, x.ref, x.amount])).toEqual([['cash_movement', 'float top-up from the safe', 5000]])
    expect(records[0].detail.sessionId).toBe(copySessions[0])
    expect(records[0].detail.sessionId).not.toBe(session.id)
  })
})

describe('a copied merchant: a posted stock count', { timeout: 300_000 }, () => {
  const hub = useTestHub()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-copy-'))
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  it('its variance report in the copy equals the original’s (sales during the count still counted)', async () => {
    const m = await seedMerchant(hub, { timeZone: 'Asia/Shanghai' })
    const store = await seedStore(hub, m.merchantId, { code: 'PC1' })
    const tea = await seedProduct(hub, store, { name: 'tea', price: 1200, cost: 500, stock: 50 })
    const admin = createApi(hub).as(m.adminToken)
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    const countId = ok(await admin.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [tea.variantId] })).id
    // Sold during the count, after its snapshot: the count expects 47, finds 45.
    ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 3600 }] }))
    ok(await admin.post(`/api/v1/stock/counts/${countId}/entries`, { lines: [{ sku: tea.sku, quantity: 45 }] }), 200)
    const posted = await admin.post(`/api/v1/stock/counts/${countId}/post`, {})
    expect(posted.status, JSON.stringify(posted.body)).toBeLessThan(300)
    const original = ok(await admin.get(`/api/v1/stock/counts/${countId}/variance`), 200)
    expect(original.lines[0]).toMatchObject({ expected: 47, variance: -2 })

    const file = path.join(dir, 'b.zip')
    await exportMerchant(hub, { merchantId: m.merchantId, out: file })
    const r = await importArchive(hub, { file, asNewMerchant: true, name: 'copy' })
    expect(r.idOffsets.stock_movements).toBeGreaterThan(0)
    const login = await createApi(hub).post('/api/v1/auth/login', { email: r.usersRenamed[0]!.to, password: m.password })
    const copy = createApi(hub).as(login.body.token)
    const counts = ok(await copy.get('/api/v1/stock/counts'), 200).items
    expect(counts).toHaveLength(1)
    const copied = ok(await copy.get(`/api/v1/stock/counts/${counts[0].id}/variance`), 200)
    const idless = (v: unknown) => JSON.parse(JSON.stringify(v).replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>'))
    expect(copied.lines[0]).toMatchObject({ expected: 47, variance: -2 })
    expect(idless(copied)).toEqual(idless(original))
  })
})

describe('the backup catalog', () => {
  const hub = useTestHub()

  it('moves every bigint id column that names rows of another table: a declared foreign key or a reference it lists', async () => {
    const client = await hub.database.pool.connect()
    try {
      const catalog = await readCatalog(client)
      // An id of a bigint-keyed table is a bigint named *_id, or an array of them.
      const unmoved = catalog.tables.flatMap((t) =>
        t.columns
          .filter((c) => (c.type === 'int8' && c.name.endsWith('_id')) || c.type === '_int8')
          .filter((c) => c.name !== t.identity && !t.bigintRefs.some((r) => r.column === c.name))
          .map((c) => `${t.name}.${c.name}`),
      )
      expect(unmoved).toEqual([])
    } finally {
      client.release()
    }
  })
})
