// A merchant with a real history (sales in cash and by card, a refund, a top-up and stored-value spending, points, a
// stock adjustment, an open stock count, a registered printer with its jobs, a connection with sealed credentials, a
// webhook subscription with its deliveries, an API key) is exported and imported into fresh databases and beside
// itself, and nothing may be lost or changed: every row, the ledgers, the reports, the balances, the logins.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import yauzl from 'yauzl'
import yazl from 'yazl'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, hubOn, TEST_SECRET_KEY, useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant, type Api, type SeededMerchant } from '../helpers/api.ts'
import { ledgerMismatches, seedProduct, seedStore, type SeededStore } from '../helpers/pos.ts'
import { lastJsonLine, runCli } from '../helpers/processes.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { fanout } from '../../src/jobs/webhooks-outbound.ts'
import type { Hub } from '../../src/runtime.ts'
import { exportMerchant } from '../../src/ops/backup/export.ts'
import { importArchive } from '../../src/ops/backup/import.ts'
import { openArchive, migrationTags } from '../../src/ops/backup/archive.ts'

const DAY = '2026-11-20'
const at = (time: string) => new Date(`${DAY}T${time}+08:00`)
const OTHER_KEY = Buffer.alloc(32, 9).toString('base64')
const CLI_TIMEOUT = 240_000
const UUIDS = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi

/** Children without merchant_id, and how their rows belong to a merchant: written out here, apart from the code. */
const CHILDREN: Record<string, string> = {
  statement_files: 'statement_id in (select id from settlement_statements where merchant_id = $1)',
  voucher_sources: 'voucher_id in (select id from vouchers where merchant_id = $1)',
  channel_stock_changes: 'connection_id in (select id from connections where merchant_id = $1)',
}
const NOT_CARRIED = ['sessions', 'worker_heartbeats', 'sign_in_throttle']

async function merchantTables(hub: Hub): Promise<Record<string, string>> {
  const r = await hub.database.pool.query<{ table_name: string; has_merchant: boolean }>(`
    select t.table_name, exists (select 1 from information_schema.columns c where c.table_schema = 'public' and c.table_name = t.table_name and c.column_name = 'merchant_id') as has_merchant
      from information_schema.tables t where t.table_schema = 'public' and t.table_type = 'BASE TABLE'`)
  const out: Record<string, string> = {}
  for (const { table_name: t, has_merchant } of r.rows) {
    if (NOT_CARRIED.includes(t)) continue
    if (t === 'merchants') out[t] = 'id = $1'
    else if (has_merchant) out[t] = 'merchant_id = $1'
    else if (CHILDREN[t]) out[t] = CHILDREN[t]
    else throw new Error(`table ${t} is neither a merchant table nor a known child: the test must learn it`)
  }
  return out
}

/**
 * Every row of the merchant, per table, as PostgreSQL renders it (row_to_json), sorted. The transaction that wrote
 * an event (events.xid) is the importing one in the other database, as it must be (the feed reads by it).
 */
async function snapshot(hub: Hub, merchantId: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {}
  for (const [t, where] of Object.entries(await merchantTables(hub))) {
    const r = await hub.database.pool.query<{ j: string }>(`select (row_to_json(x)::jsonb - 'xid')::text as j from public."${t}" x where ${where}`, [merchantId])
    out[t] = r.rows.map((x) => x.j).sort()
  }
  return out
}

async function readZip(file: string): Promise<Map<string, Buffer>> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true, autoClose: false })
  const out = new Map<string, Buffer>()
  for await (const e of zip.eachEntry()) {
    const chunks: Buffer[] = []
    for await (const c of await zip.openReadStreamPromise(e)) chunks.push(c as Buffer)
    out.set(e.fileName, Buffer.concat(chunks))
  }
  zip.close()
  return out
}

async function writeZip(file: string, entries: Map<string, Buffer>): Promise<void> {
  const zip = new yazl.ZipFile()
  for (const [name, data] of entries) zip.addBuffer(data, name)
  zip.end()
  await new Promise<void>((resolve, reject) => zip.outputStream.pipe(fs.createWriteStream(file)).on('close', resolve).on('error', reject))
}

const count = async (hub: Hub, q: string, params: unknown[] = []) => Number((await hub.database.pool.query<{ n: string }>(q, params)).rows[0]!.n)

describe('merchant export and import', { timeout: 600_000 }, () => {
  const hub = useTestHub()
  let dir: string
  let archive: string
  let m: SeededMerchant
  let store: SeededStore
  let admin: Api
  let memberId: string
  let memberPhone: string
  let countId: string
  let apiKey: string
  let teaSku: string
  let exported: any
  const targets: { close(): Promise<void> }[] = []

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillbridge-backup-'))
    archive = path.join(dir, 'merchant.zip')
    m = await seedMerchant(hub, { name: '小店 Backup', timeZone: 'Asia/Shanghai' })
    store = await seedStore(hub, m.merchantId, { code: 'BK1' })
    admin = createApi(hub).as(m.adminToken)
    const tea = await seedProduct(hub, store, { name: '乌龙茶', price: 1200, cost: 500, stock: 50 })
    const cake = await seedProduct(hub, store, { name: 'Cake', price: 3500, cost: 1800, stock: 20 })
    teaSku = tea.sku
    const ok = (r: { status: number; body: any }, status = 201) => {
      expect(r.status, JSON.stringify(r.body)).toBe(status)
      return r.body
    }
    ok(await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Till printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: '192.168.1.50', paperWidth: 80 }))
    ok(await admin.post('/api/v1/connections', { connectorId: 'stripe', name: 'Stripe', config: { secretKey: 'sk_test_51BackupTestKey000000000', webhookSecret: 'whsec_c2VjcmV0LXNpZ25pbmcta2V5LWZvci10ZXN0cw' } }))
    ok(await admin.post('/api/v1/webhook-subscriptions', { url: 'https://hooks.example.com/tillbridge', eventTypes: ['sale.completed', 'stock.changed'] }))
    apiKey = ok(await admin.post('/api/v1/api-keys', { name: 'reporting', role: 'finance' })).key
    ok(await admin.post('/api/v1/topup-bonus-rules', { threshold: 10000, bonus: 1000 }))
    memberPhone = '13700009999'
    memberId = ok(await admin.post('/api/v1/members', { phone: memberPhone, name: '王芳' })).id

    hub.setNow(at('10:00:00'))
    try {
      ok(await admin.post(`/api/v1/members/${memberId}/topups`, { registerId: store.registerId, amount: 10000, tenders: [{ kind: 'cash', amount: 10000 }] }))
      ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku, quantity: 3 }], tenders: [{ kind: 'cash', amount: 5000 }] }))
      const withMember = ok(
        await admin.post('/api/v1/sales', { registerId: store.registerId, memberId, lines: [{ sku: tea.sku }, { sku: cake.sku, quantity: 2 }], tenders: [{ kind: 'card', amount: 8200 }] }),
      )
      ok(await admin.post('/api/v1/sales', { registerId: store.registerId, memberId, lines: [{ sku: cake.sku }], tenders: [{ kind: 'stored_value', amount: 3500 }] }))
      const cakeLine = withMember.lines.find((l: any) => l.sku === cake.sku)
      ok(await admin.post(`/api/v1/sales/${withMember.id}/refunds`, { registerId: store.registerId, lines: [{ saleLineId: cakeLine.id, quantity: 1 }] }))
      ok(await admin.post('/api/v1/stock/adjustments', { locationId: store.locationId, lines: [{ sku: tea.sku, quantity: -2, reason: 'damaged' }] }))
      countId = ok(await admin.post('/api/v1/stock/counts', { locationId: store.locationId, variantIds: [tea.variantId, cake.variantId] })).id
      // Sold after the count's snapshot: still counted, by the movement ids after the snapshot's watermark.
      ok(await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: tea.sku, quantity: 2 }], tenders: [{ kind: 'cash', amount: 2400 }] }))
      ok(await admin.post(`/api/v1/stock/counts/${countId}/entries`, { lines: [{ sku: tea.sku, quantity: 40 }] }), 200)
      // A bank file of the day, reconciled: the card payment billed 1.00 short and a line the till never saw. The
      // items' history names settlement lines inside its documents (ids a copy must move with the lines).
      const bank = ok(
        await admin.post('/api/v1/connections', {
          connectorId: 'mapped',
          name: 'Bank card file',
          config: { columns: { ourRef: '商户订单号', channelTxnId: '流水号', amount: '交易金额', fee: '手续费', time: '交易时间' } },
        }),
      )
      const bill = ['交易时间,商户订单号,流水号,交易金额,手续费', `${DAY} 10:00:05,${withMember.tenders[0].paymentNo},B1,81.00,0.49`, `${DAY} 11:00:00,ONLINE-77,B2,12.00,0.07`].join('\n')
      ok(await admin.request('POST', `/api/v1/reconciliation/statements?connectionId=${bank.id}&date=${DAY}&fileName=bank.csv`, undefined, { raw: Buffer.from(bill), headers: { 'content-type': 'text/csv' } }))
      ok(await admin.post('/api/v1/reconciliation/runs', { connectionId: bank.id, date: DAY }), 200)
      // A resolution over the merchant's limit, asked with the finance key, waits for a manager's approval.
      ok(await admin.patch('/api/v1/merchant/settings', { approvals: { reconResolutionAbove: 50 } }), 200)
      const short = ok(await admin.get('/api/v1/reconciliation/exceptions?outcome=amount_diff'), 200).items[0]
      ok(await createApi(hub).as(apiKey).post(`/api/v1/reconciliation/items/${short.id}/resolve`, { action: 'accept_pos', note: 'the bank owes us' }), 202)
    } finally {
      hub.setNow(undefined)
    }
    // Deliveries to the subscription (their sending is left queued: queued jobs are not part of an archive).
    await drainJobs(hub, { tasks: [fanout], rounds: 3 })
  })

  afterAll(async () => {
    for (const t of targets) await t.close()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  it('exports through the command line into one versioned archive with a manifest and one JSON-lines file per table', async () => {
    const r = await runCli(['export', '--merchant', m.merchantId, '--out', archive, '--json'], { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
    expect(r.code, r.stderr).toBe(0)
    exported = lastJsonLine(r.stdout)
    expect(exported).toMatchObject({ merchantId: m.merchantId, file: archive })
    expect(r.stderr).toContain('sales: 4 rows')

    const a = await openArchive(archive)
    a.close()
    const tags = migrationTags()
    expect(a.manifest).toMatchObject({ format: 'tillbridge-merchant-archive', version: 1, migration: tags[tags.length - 1], merchant: { id: m.merchantId, name: '小店 Backup' } })
    const names = a.manifest.tables.map((t) => t.name)
    expect(names[0]).toBe('merchants')
    expect(names).not.toContain('sessions')
    expect(Object.keys(await merchantTables(hub)).sort()).toEqual([...names].sort())
    const before = await snapshot(hub, m.merchantId)
    for (const t of a.manifest.tables) expect(t.rows, t.name).toBe(before[t.name]!.length)
    expect(exported.rows).toBe(Object.values(before).reduce((n, rows) => n + rows.length, 0))
    // Password hashes travel (logins survive the move); session tokens do not.
    const files = await readZip(archive)
    expect(files.get('tables/users.jsonl')!.toString()).toContain('"password_hash":"$argon2')
    // An open sale leaves its parents first: a parent's file comes before its children's in the manifest.
    expect(names.indexOf('sales')).toBeLessThan(names.indexOf('sale_lines'))
    expect(names.indexOf('events')).toBeLessThan(names.indexOf('webhook_deliveries'))
  })

  it('imports through the command line into an empty hub: every row identical, ledgers, reports, balances and logins the same', async () => {
    const target = await createTestDatabase({ empty: true })
    targets.push({ close: target.drop })
    // Another hub, another secret key: the connection's credentials cannot be opened there.
    const r = await runCli(['import', '--in', archive, '--json'], { DATABASE_URL: target.url, TILLBRIDGE_SECRET_KEY: OTHER_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
    expect(r.code, r.stderr).toBe(0)
    const result = lastJsonLine(r.stdout)
    expect(result).toMatchObject({ merchantId: m.merchantId, asNewMerchant: false, rows: exported.rows, idOffsets: {} })
    expect(result.secretsUnreadable).toEqual([
      expect.objectContaining({ kind: 'connection', name: 'Bank card file' }),
      expect.objectContaining({ kind: 'connection', name: 'Stripe' }),
      expect.objectContaining({ kind: 'webhook_subscription', name: 'https://hooks.example.com/tillbridge' }),
    ])
    expect(r.stdout).toMatch(/connections "Bank card file" \([0-9a-f-]+\), "Stripe" \(/)
    expect(r.stdout).toContain('need their credentials entered again')
    expect(r.stderr).toMatch(/wrote sales: 4 rows/)

    const there = hubOn(target.url, OTHER_KEY)
    targets.push(there)
    const before = await snapshot(hub, m.merchantId)
    const after = await snapshot(there, m.merchantId)
    for (const t of ['sales', 'sale_lines', 'refunds', 'stock_movements', 'stock_count_lines', 'events', 'audit_log', 'device_jobs', 'points_ledger', 'stored_value_ledger', 'webhook_deliveries', 'connections', 'api_keys', 'users']) {
      expect(before[t]!.length, `${t} has rows to compare`).toBeGreaterThan(0)
    }
    expect(after).toEqual(before)
    expect(await count(there, 'select count(*) as n from sessions')).toBe(0)
    expect(await ledgerMismatches(there, m.merchantId)).toEqual([])

    // The admin signs in on the new hub with the same password.
    const login = await createApi(there).post('/api/v1/auth/login', { email: m.adminEmail, password: m.password })
    expect(login.status).toBe(200)
    const targetAdmin = createApi(there).as(login.body.token)
    for (const q of [`/api/v1/reports/daily-sales?date=${DAY}`, `/api/v1/reports/stock-valuation`, `/api/v1/reports/members?from=${DAY}&to=${DAY}`, `/api/v1/members/${memberId}`, `/api/v1/stock/counts/${countId}/variance`]) {
      const [a, b] = [await admin.get(q), await targetAdmin.get(q)]
      expect(a.status, `${q}: ${JSON.stringify(a.body)}`).toBe(200)
      expect(b.body, q).toEqual(a.body)
    }
    const member = (await targetAdmin.get(`/api/v1/members/${memberId}`)).body
    expect(member.storedValue.total).toBeGreaterThan(0)
    expect(member.points.balance).toBeGreaterThan(0)
    // The API key works on the new hub too.
    expect((await createApi(there).as(apiKey).get(`/api/v1/reports/daily-sales?date=${DAY}`)).status).toBe(200)

    // An integrator's feed cursor from before the move: the events were written again by the import (another
    // transaction), and the cursor still stands after the last event it read.
    const feed = async (api: typeof admin, after: string) => (await api.get(`/api/v1/events?limit=500${after ? `&after=${after}` : ''}`)).body.items
    const seen = await feed(admin, '')
    expect(seen.length).toBeGreaterThan(2)
    const cursor = seen.at(-1).cursor
    expect(await feed(targetAdmin, cursor)).toEqual([])
    expect((await feed(targetAdmin, seen.at(-3).cursor)).map((e: any) => e.id)).toEqual(seen.slice(-2).map((e: any) => e.id))

    // The till carries on: the open cash session takes a new sale, whose ids come after the imported ones.
    const maxEvent = await count(there, 'select max(id) as n from events')
    const sale = await targetAdmin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: teaSku }], tenders: [{ kind: 'card', amount: 1200 }] })
    expect(sale.status, JSON.stringify(sale.body)).toBe(201)
    expect(await count(there, 'select min(id) as n from events where id > $1', [maxEvent])).toBeGreaterThan(maxEvent)
    // The integrator's old cursor reads the new sale's events, and nothing before them.
    const next = await feed(targetAdmin, cursor)
    expect(next.length).toBeGreaterThan(0)
    expect(next.every((e: any) => e.id > maxEvent)).toBe(true)
    expect(await ledgerMismatches(there, m.merchantId)).toEqual([])
  })

  it('refuses a tampered archive before writing anything, and the same archive twice', async () => {
    const target = await createTestDatabase()
    targets.push({ close: target.drop })
    const there = hubOn(target.url)
    targets.push(there)

    const files = await readZip(archive)
    const sales = files.get('tables/sales.jsonl')!.toString().split('\n')
    sales[0] = sales[0]!.replace(/"total":(\d+)/, (_, n) => `"total":${Number(n) + 100}`)
    expect(sales.join('\n')).not.toBe(files.get('tables/sales.jsonl')!.toString())
    const tampered = path.join(dir, 'tampered.zip')
    await writeZip(tampered, new Map([...files, ['tables/sales.jsonl', Buffer.from(sales.join('\n'))]]))
    await expect(importArchive(there, { file: tampered })).rejects.toMatchObject({ code: 'checksum_mismatch' })
    expect(await count(there, 'select count(*) as n from merchants')).toBe(0)
    expect(await count(there, 'select count(*) as n from events')).toBe(0)

    const cli = await runCli(['import', '--in', tampered], { DATABASE_URL: target.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
    expect(cli.code).not.toBe(0)
    expect(cli.stderr).toContain('(checksum_mismatch)')

    // A table taken out of the archive (its manifest entry too, so every checksum still holds): stock levels
    // without the ledger they sum would be written. Refused, naming the table.
    const manifest = JSON.parse(files.get('manifest.json')!.toString())
    const lacking = (name: string, at: string = manifest.migration) =>
      new Map([...files].filter(([f]) => f !== `tables/${name}.jsonl`).map(([f, b]) => [f, f === 'manifest.json' ? Buffer.from(JSON.stringify({ ...manifest, migration: at, tables: manifest.tables.filter((t: { name: string }) => t.name !== name) })) : b]))
    const noLedger = path.join(dir, 'no-ledger.zip')
    await writeZip(noLedger, lacking('stock_movements'))
    await expect(importArchive(there, { file: noLedger })).rejects.toMatchObject({ code: 'archive_invalid', details: { missing: ['stock_movements'] } })
    expect(await count(there, 'select count(*) as n from merchants')).toBe(0)
    // An archive of a hub before migration 0028 has no campaign receipts table: that one is taken.
    const tags = migrationTags()
    const older = path.join(dir, 'older.zip')
    await writeZip(older, lacking('campaign_receipts', tags[tags.indexOf('0028_campaign_receipts_kept_for_their_send') - 1]!))
    const olderTarget = await createTestDatabase()
    targets.push({ close: olderTarget.drop })
    const olderHub = hubOn(olderTarget.url)
    targets.push(olderHub)
    expect((await importArchive(olderHub, { file: older })).merchantId).toBe(m.merchantId)
    expect(await ledgerMismatches(olderHub, m.merchantId)).toEqual([])

    const notZip = path.join(dir, 'not-a-zip.zip')
    fs.writeFileSync(notZip, 'hello')
    await expect(importArchive(there, { file: notZip })).rejects.toMatchObject({ code: 'archive_invalid' })

    // With the hub's own key every secret opens.
    const first = await importArchive(there, { file: archive })
    expect(first).toMatchObject({ merchantId: m.merchantId, secretsUnreadable: [], pinsUnreadable: [] })
    const rows = await snapshot(there, m.merchantId)
    await expect(importArchive(there, { file: archive })).rejects.toMatchObject({ code: 'merchant_exists' })
    expect(await snapshot(there, m.merchantId)).toEqual(rows)
    expect(await count(there, 'select count(*) as n from merchants')).toBe(1)
  })

  it('refuses an archive damaged inside a table\'s compressed data with a classified error naming the entry, writing nothing', async () => {
    const target = await createTestDatabase()
    targets.push({ close: target.drop })
    const there = hubOn(target.url)
    targets.push(there)
    // One byte flipped in the middle of the compressed bytes of tables/sales.jsonl: where the damaged bytes no longer
    // inflate to the entry's size (zlib or yauzl's size check fails) the error names the entry as a checksum does;
    // where they still inflate, the checksum catches them. A few bytes around the middle, so both are met.
    const bytes = fs.readFileSync(archive)
    const zip = await yauzl.openPromise(archive, { lazyEntries: true, autoClose: false })
    let middle = -1
    for await (const e of zip.eachEntry()) {
      if (e.fileName !== 'tables/sales.jsonl') continue
      const header = e.relativeOffsetOfLocalHeader
      middle = header + 30 + bytes.readUInt16LE(header + 26) + bytes.readUInt16LE(header + 28) + Math.floor(e.compressedSize / 2)
    }
    zip.close()
    expect(middle).toBeGreaterThan(0)
    const damaged = path.join(dir, 'damaged.zip')
    const codes: string[] = []
    for (let at = middle - 6; at <= middle + 6; at++) {
      const flipped = Buffer.from(bytes)
      flipped[at]! ^= 0x10
      fs.writeFileSync(damaged, flipped)
      const err = await importArchive(there, { file: damaged }).then(
        () => null,
        (e: unknown) => e as { code?: string; message: string },
      )
      expect(err, `byte ${at - middle} from the middle`).not.toBeNull()
      expect(err!.code, err!.message).toMatch(/^(archive_invalid|checksum_mismatch)$/)
      expect(err!.message).toContain('tables/sales.jsonl')
      expect(err!.message).toContain('the archive was changed or damaged; nothing was written')
      expect(await count(there, 'select count(*) as n from merchants')).toBe(0)
      expect(await count(there, 'select count(*) as n from users')).toBe(0)
      // The command line says the same (once is enough).
      if (err!.code === 'archive_invalid' && !codes.includes('archive_invalid')) {
        const cli = await runCli(['import', '--in', damaged], { DATABASE_URL: target.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
        expect(cli.code).not.toBe(0)
        expect(cli.stderr).toContain('(archive_invalid)')
        expect(cli.stderr).toContain('tables/sales.jsonl cannot be read')
      }
      codes.push(err!.code!)
    }
    expect(codes).toContain('archive_invalid')
  })

  it('imports --as-new-merchant beside the original: a second merchant with the same reports and no id shared with the first', async () => {
    // A blank name is refused before anything is written, as the API refuses one.
    const merchantsBefore = await count(hub, 'select count(*) as n from merchants')
    const blank = await runCli(['import', '--in', archive, '--as-new-merchant', '--name', '   '], { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
    expect(blank.code).not.toBe(0)
    expect(blank.stderr).toContain('invalid_merchant_name')
    expect(await count(hub, 'select count(*) as n from merchants')).toBe(merchantsBefore)
    const progress: string[] = []
    const r = await importArchive(hub, { file: archive, asNewMerchant: true, name: '  Backup copy ', onProgress: (p) => progress.push(p) })
    expect(r.merchantId).not.toBe(m.merchantId)
    expect(r.sourceMerchantId).toBe(m.merchantId)
    // Every bigint-id table of the original overlaps itself here, so each moved up, references and all.
    expect(r.idOffsets.stock_movements).toBeGreaterThan(0)
    expect(r.idOffsets.events).toBeGreaterThan(0)
    expect(r.apiKeysRevoked).toEqual([expect.objectContaining({ name: 'reporting' })])
    expect(r.usersRenamed).toEqual([expect.objectContaining({ from: m.adminEmail })])
    expect(progress.some((p) => p.startsWith('wrote sales'))).toBe(true)

    const original = await snapshot(hub, m.merchantId)
    const copy = await snapshot(hub, r.merchantId)
    for (const t of Object.keys(original)) expect(copy[t]!.length, t).toBe(original[t]!.length)
    // No row of the copy names any uuid of the original's rows: every key, reference and document was renewed.
    const originalIds = new Set(Object.values(original).flatMap((rows) => rows.flatMap((row) => (JSON.parse(row).id ? [String(JSON.parse(row).id)] : []))))
    const leaks = Object.entries(copy).flatMap(([t, rows]) => rows.flatMap((row) => (row.match(UUIDS) ?? []).filter((u) => originalIds.has(u.toLowerCase())).map((u) => `${t}: ${u}`)))
    expect(leaks).toEqual([])
    expect(await count(hub, `select count(*) as n from webhook_deliveries d where d.merchant_id = $1 and not exists (select 1 from events e where e.id = d.event_id and e.merchant_id = $1)`, [r.merchantId])).toBe(0)
    // Settlement line ids moved inside the reconciliation history too: each names a line of the copy.
    const namedLine = `coalesce(e.details->>'lineId', e.details#>>'{after,lineId}', e.details#>>'{before,lineId}')`
    const historyNamingLines = `select count(*) as n from recon_item_events e where e.merchant_id = $1 and ${namedLine} is not null`
    expect(await count(hub, historyNamingLines, [r.merchantId])).toBe(await count(hub, historyNamingLines, [m.merchantId]))
    expect(await count(hub, historyNamingLines, [r.merchantId])).toBeGreaterThan(0)
    expect(await count(hub, `${historyNamingLines} and not exists (select 1 from settlement_lines l where l.merchant_id = $1 and l.id = (${namedLine})::bigint)`, [r.merchantId])).toBe(0)
    expect(await ledgerMismatches(hub, r.merchantId)).toEqual([])
    expect(await ledgerMismatches(hub, m.merchantId)).toEqual([])

    // The renamed admin signs in with the same password; the copy's reports equal the original's, ids aside.
    const login = await createApi(hub).post('/api/v1/auth/login', { email: r.usersRenamed[0]!.to, password: m.password })
    expect(login.status).toBe(200)
    const copyAdmin = createApi(hub).as(login.body.token)
    expect((await copyAdmin.get('/api/v1/me')).body.merchant).toMatchObject({ id: r.merchantId, name: 'Backup copy' })
    const newMember = (await copyAdmin.get(`/api/v1/members/lookup?phone=${memberPhone}`)).body
    const newCount = JSON.parse(copy.stock_counts![0]!).id as string
    const idless = (v: unknown) => JSON.parse(JSON.stringify(v).replace(UUIDS, '<id>'))
    for (const [a, b] of [
      [`/api/v1/reports/daily-sales?date=${DAY}`, `/api/v1/reports/daily-sales?date=${DAY}`],
      ['/api/v1/reports/stock-valuation', '/api/v1/reports/stock-valuation'],
      [`/api/v1/members/${memberId}`, `/api/v1/members/${newMember.id}`],
      [`/api/v1/stock/counts/${countId}/variance`, `/api/v1/stock/counts/${newCount}/variance`],
    ]) {
      const [x, y] = [await admin.get(a!), await copyAdmin.get(b!)]
      expect(x.status, a).toBe(200)
      expect(idless(y.body), b).toEqual(idless(x.body))
    }
    // The original's API key still opens the original only; the copy holds it revoked.
    expect((await createApi(hub).as(apiKey).get('/api/v1/me')).body.merchant.id).toBe(m.merchantId)
    expect(await count(hub, 'select count(*) as n from api_keys where merchant_id = $1 and revoked_at is null', [r.merchantId])).toBe(0)
    // The resolution waiting for approval saw the item's line by its id, moved with it: a manager of the copy
    // approves it, and it settles the copy's item (with the ids unmoved it would fail as item_changed).
    const waiting = (await copyAdmin.get('/api/v1/approvals?status=pending')).body.items.filter((a: any) => a.action === 'recon_item.resolve')
    expect(waiting).toHaveLength(1)
    const decided = await copyAdmin.post(`/api/v1/approvals/${waiting[0].id}/approve`, {})
    expect(decided.body, JSON.stringify(decided.body)).toMatchObject({ status: 'approved', result: { resolution: 'accept_pos' } })
  })

  it('refuses an archive from a newer hub and bad arguments with clear errors', async () => {
    const files = await readZip(archive)
    const manifest = JSON.parse(files.get('manifest.json')!.toString())
    const newer = path.join(dir, 'newer.zip')
    await writeZip(newer, new Map([...files, ['manifest.json', Buffer.from(JSON.stringify({ ...manifest, migration: '9999_from_the_future' }))]]))
    await expect(importArchive(hub, { file: newer })).rejects.toMatchObject({ code: 'archive_too_new' })
    const v2 = path.join(dir, 'v2.zip')
    await writeZip(v2, new Map([...files, ['manifest.json', Buffer.from(JSON.stringify({ ...manifest, version: 2 }))]]))
    await expect(importArchive(hub, { file: v2 })).rejects.toMatchObject({ code: 'archive_version' })

    await expect(exportMerchant(hub, { merchantId: m.merchantId, out: archive })).rejects.toMatchObject({ code: 'file_exists' })
    // Into a folder that does not exist, or onto a folder: refused at once, not left hanging with nowhere to write.
    await expect(exportMerchant(hub, { merchantId: m.merchantId, out: path.join(dir, 'no-such-dir', 'x.zip') })).rejects.toMatchObject({ code: 'no_such_directory' })
    await expect(exportMerchant(hub, { merchantId: m.merchantId, out: dir, force: true })).rejects.toMatchObject({ code: 'file_exists' })
    await expect(exportMerchant(hub, { merchantId: '00000000-0000-7000-8000-000000000000', out: path.join(dir, 'none.zip') })).rejects.toMatchObject({ code: 'merchant_not_found' })
    expect(fs.existsSync(path.join(dir, 'none.zip'))).toBe(false)
    const bad = await runCli(['export', '--merchant', 'nope', '--out', path.join(dir, 'x.zip')], { DATABASE_URL: hub.url, TILLBRIDGE_SECRET_KEY: TEST_SECRET_KEY, TILLBRIDGE_DATA_DIR: dir }, CLI_TIMEOUT)
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain('must be a merchant id')
  })
})
