import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { drizzle } from 'drizzle-orm/node-postgres'
import pg from 'pg'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore } from '../helpers/pos.ts'
import { toErrorResponse } from '../../src/http/errors.ts'
import { createApp } from '../../src/http/app.ts'
import { formClient } from '../helpers/form-client.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// The database lost in the middle of a request (a restart, a failover, the connection cut) is not a fault of ours the
// caller can do nothing about: the answer is 503 `database_unavailable` with a Retry-After, and a write retried with
// its Idempotency-Key is recorded once.
describe('the database lost during a request', () => {
  const hub = useTestHub({ poolSize: 6 })

  /**
   * Another connection holds `hold` (a lock statement), so `request` waits inside its transaction; that waiting
   * connection is then cut, as a database restart would. Answers the request's response.
   */
  async function cutWhileWaiting<T>(hold: [string, unknown[]?], request: () => Promise<T>): Promise<T> {
    const holder = new pg.Client({ connectionString: hub.url })
    await holder.connect()
    try {
      await holder.query('begin')
      await holder.query(hold[0], hold[1])
      const answer = request()
      let cut = 0
      for (let i = 0; i < 100 && cut === 0; i++) {
        await sleep(50)
        cut = (await holder.query(`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`)).rowCount ?? 0
      }
      expect(cut).toBe(1)
      const r = await answer
      await holder.query('rollback')
      return r
    } finally {
      await holder.end()
    }
  }

  it('answers 503 database_unavailable, writes nothing, and the keyed retry records the sale once', async () => {
    const m = await seedMerchant(hub)
    const store = await seedStore(hub, m.merchantId)
    const item = await seedProduct(hub, store, { price: 1000, stock: 5 })
    const api = createApi(hub).as(m.adminToken)

    // The sale waits on the item's stock row, held by another connection, and its connection is cut.
    const sale = { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1000 }] }
    const r = await cutWhileWaiting(['select 1 from stock_levels where variant_id = $1 for update', [item.variantId]], () => api.post('/api/v1/sales', sale, { headers: { 'idempotency-key': 'till-7-sale-1' } }))
    expect([r.status, r.body.error.code, r.headers.get('retry-after')]).toEqual([503, 'database_unavailable', '1'])
    const none = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(none.rows[0]!.n).toBe(0)

    const retry = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1000 }] }, { headers: { 'idempotency-key': 'till-7-sale-1' } })
    expect(retry.status).toBe(201)
    const again = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'cash', amount: 1000 }] }, { headers: { 'idempotency-key': 'till-7-sale-1' } })
    expect(again.body.id).toBe(retry.body.id)
    const one = await hub.database.db.execute(sql`select count(*)::int as n from sales where merchant_id = ${m.merchantId}`)
    expect(one.rows[0]!.n).toBe(1)
    const level = await api.get(`/api/v1/stock/levels?variantId=${item.variantId}`)
    expect(level.status).toBe(200)
    expect(await ledgerMismatches(hub)).toEqual([])
  }, 20_000)

  it('a database that refuses connections is a 503, as is a connection that cannot be queried any more', async () => {
    // A real refusal: nothing listens on port 1.
    const pool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 2000 })
    try {
      const refused = await drizzle({ client: pool }).execute(sql`select 1`).catch((e: unknown) => e)
      expect(toErrorResponse(refused)).toMatchObject({ status: 503, body: { error: { code: 'database_unavailable' } }, headers: { 'Retry-After': '1' } })
    } finally {
      await pool.end()
    }
    // A client whose server went away: its own later query fails without a PostgreSQL code.
    const client = new pg.Client({ connectionString: hub.url })
    await client.connect()
    client.on('error', () => undefined)
    const killer = new pg.Client({ connectionString: hub.url })
    await killer.connect()
    const pid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid
    await killer.query('select pg_terminate_backend($1)', [pid])
    await killer.end()
    await sleep(100)
    const gone = await client.query('select 1').catch((e: unknown) => e)
    expect(toErrorResponse(gone)).toMatchObject({ status: 503, body: { error: { code: 'database_unavailable' } } })
    await client.end().catch(() => undefined)
    // A query the database refused is still the request's error, not an outage.
    const bad = await hub.database.db.execute(sql`select 'x'::int`).catch((e: unknown) => e)
    expect(toErrorResponse(bad)?.status).toBe(400)
  })

  it('a dashboard page whose query is cut answers a 503 page with Retry-After', async () => {
    const m = await seedMerchant(hub)
    const c = formClient(createApp(hub))
    expect((await c.login(m.adminEmail, m.password)).status).toBe(303)
    expect((await c.get('/dashboard/vouchers')).status).toBe(200)
    const r = await cutWhileWaiting(['lock table vouchers in access exclusive mode'], () => c.get('/dashboard/vouchers'))
    expect([r.status, r.headers.get('retry-after')]).toEqual([503, '1'])
    expect(r.headers.get('content-type')).toContain('text/html')
  }, 20_000)
})
