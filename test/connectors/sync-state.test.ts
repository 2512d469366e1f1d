import { describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { seedMerchant } from '../helpers/api.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { createConnection } from '../../src/connectors/framework/connections.ts'
import { bind, commitBatch, findBinding, getCheckpoint, markError, markPushed, markSeen, withSyncRun } from '../../src/connectors/framework/sync-state.ts'

describe('sync state', () => {
  const hub = useTestHub()

  async function connection() {
    const m = await seedMerchant(hub)
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, m.merchantId, { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_abcdef123456' } }, new Date())
    await hub.database.db.execute(sql`create table if not exists sync_test_records (connection_id uuid, external_id text, primary key (connection_id, external_id))`)
    return { merchantId: m.merchantId, connectionId: row.id }
  }

  it('moves a checkpoint only together with the data it covers', async () => {
    const c = await connection()
    const ref = { ...c, stream: 'balance_transactions' }
    const store = (ids: string[]) => async (tx: any) => {
      for (const id of ids) await tx.execute(sql`insert into sync_test_records values (${c.connectionId}, ${id})`)
    }
    await commitBatch(hub.database.db, ref, { startingAfter: 'txn_2' }, store(['txn_1', 'txn_2']))
    expect(await getCheckpoint(hub.database.db, c.connectionId, ref.stream)).toEqual({ startingAfter: 'txn_2' })

    // The next batch fails half way (a duplicate row): neither its rows nor its checkpoint are kept.
    await expect(commitBatch(hub.database.db, ref, { startingAfter: 'txn_4' }, store(['txn_3', 'txn_2']))).rejects.toThrow()
    expect(await getCheckpoint(hub.database.db, c.connectionId, ref.stream)).toEqual({ startingAfter: 'txn_2' })
    const rows = await hub.database.db.execute<{ external_id: string }>(sql`select external_id from sync_test_records where connection_id = ${c.connectionId} order by 1`)
    expect(rows.rows.map((r) => r.external_id)).toEqual(['txn_1', 'txn_2'])

    // The store function sees the checkpoint it continues from.
    const seen = await commitBatch(hub.database.db, ref, { startingAfter: 'txn_3' }, async (tx, previous) => {
      await store(['txn_3'])(tx)
      return previous
    })
    expect(seen).toEqual({ startingAfter: 'txn_2' })
  })

  it('records each run with its counts, and a failed run with its error, without the secret', async () => {
    const c = await connection()
    const ref = { ...c, stream: 'payouts', jobId: '42', secretValues: ['sk_test_abcdef123456'] }
    await withSyncRun(hub.database.db, ref, () => new Date(), async (run) => {
      run.count('fetched', 3)
      run.count('stored', 2)
      run.count('skipped')
    })
    await expect(
      withSyncRun(hub.database.db, ref, () => new Date(), async (run) => {
        run.count('fetched', 1)
        throw new Error('request with key sk_test_abcdef123456 was refused')
      }),
    ).rejects.toThrow()
    const runs = await hub.database.db.execute<any>(sql`select status, counts, error, job_id, finished_at from sync_runs where connection_id = ${c.connectionId} order by started_at, id`)
    expect(runs.rows.map((r) => [r.status, r.counts, r.job_id])).toEqual([
      ['succeeded', { fetched: 3, stored: 2, skipped: 1 }, '42'],
      ['failed', { fetched: 1 }, '42'],
    ])
    expect(runs.rows.every((r) => r.finished_at !== null)).toBe(true)
    expect(runs.rows[1].error).toContain('[REDACTED]')
    expect(runs.rows[1].error).not.toContain('sk_test_abcdef123456')
  })

  it('keeps what was pushed and seen per binding, and reports drift when the vendor holds something else', async () => {
    const c = await connection()
    const at = new Date('2026-11-30T02:00:00Z')
    const key = { ...c, entityType: 'variant_location', localId: 'var-1:loc-1' }
    const unmapped = await bind(hub.database.db, key, { externalId: null }, at)
    expect(unmapped.status).toBe('unmapped')
    const b = await bind(hub.database.db, key, { externalId: 'gid://shopify/InventoryItem/1', externalIds: { locationId: 'gid://shopify/Location/9' } }, at)
    expect(b.id).toBe(unmapped.id)
    expect(b.status).toBe('pending')

    await markPushed(hub.database.db, b.id, { available: 7 }, at)
    expect(await markSeen(hub.database.db, b.id, { available: 7 }, at)).toBe('ok')
    expect(await markSeen(hub.database.db, b.id, { available: 5 }, at)).toBe('drift')
    await markError(hub.database.db, b.id, 'THROTTLED', at)

    const byExternal = await findBinding(hub.database.db, c.connectionId, 'variant_location', { externalId: 'gid://shopify/InventoryItem/1' })
    expect(byExternal).toMatchObject({ localId: 'var-1:loc-1', status: 'error', lastError: 'THROTTLED', lastPushed: { available: 7 }, lastSeen: { available: 5 }, externalIds: { locationId: 'gid://shopify/Location/9' } })
    await markPushed(hub.database.db, b.id, { available: 5 }, at)
    expect((await findBinding(hub.database.db, c.connectionId, 'variant_location', { localId: 'var-1:loc-1' }))?.status).toBe('ok')
  })
})
