// A request that meets a row another transaction holds answers 409 busy once the database's lock_timeout passes,
// with an Idempotency-Key as without one: the key's own wait for a first request with it does not stay in force for
// the rest of the request.
import { afterAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { openDatabase, type Database } from '../../src/db/client.ts'
import type { Hub } from '../../src/runtime.ts'

describe('lock timeouts under an Idempotency-Key', () => {
  const hub = useTestHub()
  const opened: Database[] = []
  afterAll(async () => {
    for (const d of opened) await d.close()
  })

  it('a sale meeting a locked stock row answers 409 busy after the lock_timeout the hub’s connections run with, keyed or not, and writes nothing', async () => {
    // The operator's lock_timeout, given to every connection of a second hub pool.
    const url = new URL(hub.url)
    url.searchParams.set('options', '-c lock_timeout=300ms')
    const database = openDatabase(url.toString(), { logger: hub.logger, max: 4 })
    opened.push(database)
    const h: Hub = { config: hub.config, logger: hub.logger, database, secrets: hub.secrets, clock: hub.clock }
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 5 })
    const api = createApi(h).as(m.adminToken)
    const body = { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 1000 }] }
    const holder = new pg.Client({ connectionString: hub.url })
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query('select * from stock_levels where variant_id = $1 for update', [item.variantId])
      const plain = await api.post('/api/v1/sales', body)
      const keyed = await api.post('/api/v1/sales', body, { headers: { 'idempotency-key': `lock-${Date.now()}` } })
      expect([plain.status, plain.body.error?.code]).toEqual([409, 'busy'])
      expect([keyed.status, keyed.body.error?.code]).toEqual([409, 'busy'])
      await holder.query('rollback')
      const sales = await hub.database.db.execute<{ n: number }>(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
      expect(sales.rows[0]!.n).toBe(0)
      expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])
    } finally {
      await holder.query('rollback').catch(() => undefined)
      await holder.end()
    }
  })
})
