// Reads a merchant archive (format: ./archive.ts) into this hub: everything is checked before anything is written,
// then every row goes in inside one transaction, so an import either lands whole or leaves no trace.
//
// 1. Check: the manifest (format, version, a migration this hub has), every table known to this hub with the
//    archive's columns, and every file's SHA-256 and row count. This first pass also gathers what the write needs:
//    the range of each table's bigint ids, the users' emails and API key hashes, and with --as-new-merchant every
//    uuid primary key of the archive.
// 2. Write, in one transaction, parents before children, with `session_replication_role = replica`: the rows already
//    hold what the triggers would add (device jobs of a sale, channel stock changes, outbound deliveries), so no
//    trigger fires (nor the foreign keys' own checks, which step 3 redoes).
// 3. Before committing: the files are hashed again as they are written, every table must hold exactly the archive's
//    rows for the merchant, every foreign key of those rows must find its parent, and the identity sequences are
//    moved past the ids written. Then connection and webhook secrets are tried with this hub's key: rows this hub
//    cannot open are kept and reported so a person enters the credentials again.
//
// Ids. A plain import keeps every id: the merchant must not exist yet (`merchant_exists`). --as-new-merchant gives
// each uuid primary key of the archive a fresh UUIDv7 (in the old ids' order) and replaces every occurrence of those
// uuids anywhere in a row's JSON text — foreign keys, jsonb documents, text entity ids — through that map. Bigint
// identity ids (events, ledgers, device job seq, …) are kept when no row of this hub uses any id in the archive's
// range; otherwise the whole table moves up by one offset past the ids this hub has used (reserved on the sequence
// first, so concurrent inserts never take them), which keeps their order, and every reference follows: declared
// foreign keys, the references listed in catalog.ts (recon item → settlement line, delivery → event, a stock
// count's snapshot movement watermark) and the settlement line ids inside reconciliation documents (an item's history,
// a held resolution's figures). Bigint ids quoted in other history documents (event payloads, audit details, stored
// idempotent responses) keep their original numbers.
//
// Logins are global on a hub: an email names one user, an API key hash one key. A plain import refuses an archive
// whose emails or keys this hub already has (`email_taken`, `api_key_taken`); --as-new-merchant gives such users the
// address local+<merchant prefix>@domain (same password) and keeps such keys revoked, and reports both.
//
// A copy (--as-new-merchant) has the original's vendors and receivers: the same shop, books, SMS account and webhook
// URLs and printers, with the same credentials. Its connections, webhook subscriptions and the devices the hub drives
// come in switched off, its pending deliveries parked, and the result lists them: a person switches on what the copy
// may really use. A plain import is the merchant itself and keeps them as they were.
import type pg from 'pg'
import { drizzle } from 'drizzle-orm/node-postgres'
import { sql } from 'drizzle-orm'
import type { Hub } from '../../runtime.ts'
import type { Tx } from '../../db/client.ts'
import { queueSend } from '../../core/campaigns/service.ts'
import { queueProcessing } from '../../webhooks/inbound-events.ts'
import { queueSettle } from '../../jobs/campaigns.ts'
import { requeueRestored } from '../../webhooks/outbound.ts'
import { queueReconcile } from '../../jobs/reconciliation.ts'
import { queueChannelPush } from '../../core/channel-stock/levels.ts'
import { conflict, forbidden, invalid } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { archiveError, migrationTags, jsonLines, openArchive, sha256, tablesThrough, type Manifest, type ManifestTable, type OpenArchive } from './archive.ts'
import { SKIPPED_TABLES, qualified, quoteIdent, quoteLiteral, readCatalog, scopeSql, uuidKey, type MerchantCatalog, type OwnedTable } from './catalog.ts'

export interface ImportOptions {
  file: string
  /** Give every uuid of the archive a new value, so the merchant can sit beside its original. */
  asNewMerchant?: boolean
  /** Rename the merchant on the way in. */
  name?: string
  onProgress?: (message: string) => void
  /** Rows per INSERT (default 1000). */
  batchRows?: number
}

export interface UnreadableSecret {
  kind: 'connection' | 'webhook_subscription'
  id: string
  name: string
}

export interface ImportResult {
  merchantId: string
  sourceMerchantId: string
  asNewMerchant: boolean
  tables: number
  rows: number
  /** Sealed with a key this hub does not hold: enter the credentials (or rotate the signing secret) again. */
  secretsUnreadable: UnreadableSecret[]
  /** Till PINs MACed under a key this hub does not hold: set them again. */
  pinsUnreadable: { id: string; email: string }[]
  usersRenamed: { id: string; from: string; to: string }[]
  apiKeysRevoked: { id: string; name: string }[]
  /** A copy's connections that were on in the original, imported switched off. */
  connectionsDisabled: { id: string; name: string; connectorId: string }[]
  /** A copy's devices the hub drives itself (the original's printers, at their addresses), imported switched off. */
  devicesDisabled: { id: string; name: string }[]
  /** A copy's webhook subscriptions that were on in the original, imported switched off. */
  webhookSubscriptionsDisabled: { id: string; url: string }[]
  /** A copy's deliveries pending at export, parked (failed) rather than sent: a replay sends one. */
  webhookDeliveriesParked: number
  /** What was added to each table's bigint ids (tables whose ids were kept are absent). */
  idOffsets: Record<string, number>
}

interface Plan {
  table: OwnedTable
  entry: ManifestTable
  columns: string[]
}

interface Facts {
  /** min/max of each table's identity column in the archive. */
  ranges: Map<string, { min: number; max: number }>
  /** old uuid → new uuid (--as-new-merchant only). */
  uuids: Map<string, string>
  users: { id: string; email: string; pin: string | null }[]
  apiKeys: { id: string; name: string; tokenHash: string }[]
}

const UUID_IN_TEXT = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi
const MAX_BATCH_BYTES = 8 * 1024 * 1024

export async function importArchive(hub: Pick<Hub, 'database' | 'secrets'>, o: ImportOptions): Promise<ImportResult> {
  const progress = o.onProgress ?? (() => {})
  const asNew = o.asNewMerchant ?? false
  // A new name is held to a merchant's own rule (1–200 characters, not blank), before anything is read.
  const name = o.name?.trim()
  if (o.name !== undefined && (!name || name.length > 200)) throw invalid('invalid_merchant_name', 'the merchant name must be 1 to 200 characters, not blank; nothing was written')
  o = { ...o, name }
  const archive = await openArchive(o.file)
  try {
    const { manifest } = archive
    const tags = migrationTags()
    if (!tags.includes(manifest.migration)) {
      throw invalid(
        'archive_too_new',
        `the archive was written at database migration ${manifest.migration}, which this hub does not have (its last is ${tags[tags.length - 1]}): upgrade this hub first; nothing was written`,
      )
    }
    const catalog = await withClient(hub.database.pool, readCatalog)
    const plan = planOf(catalog, manifest)
    progress(`checking ${o.file}: merchant ${manifest.merchant.name} (${manifest.merchant.id}), ${plan.length} tables, exported ${manifest.exportedAt} at migration ${manifest.migration}`)
    const facts = await check(archive, plan, asNew)
    const rows = plan.reduce((n, p) => n + p.entry.rows, 0)
    progress(`checked: ${rows} rows, every checksum matches`)
    return await write(hub, archive, catalog, plan, facts, { ...o, asNewMerchant: asNew }, progress)
  } finally {
    archive.close()
  }
}

async function withClient<T>(pool: pg.Pool, f: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await pool.connect()
  try {
    return await f(c)
  } finally {
    c.release()
  }
}

const schemaMismatch = (message: string) => invalid('schema_mismatch', `${message}; nothing was written`)

/** The archive's tables in this hub's parents-first order, each checked against this hub's schema. */
function planOf(catalog: MerchantCatalog, manifest: Manifest): Plan[] {
  const entries = new Map(manifest.tables.map((t) => [t.name, t]))
  for (const t of manifest.tables) {
    const table = catalog.byName.get(t.name)
    if (!table) throw schemaMismatch(t.name in SKIPPED_TABLES ? `the archive holds ${t.name}, which is never carried` : `the archive holds table ${t.name}, which is not a merchant table of this hub`)
    const known = new Set(table.columns.filter((c) => !c.generated).map((c) => c.name))
    const unknown = t.columns.filter((c) => !known.has(c))
    if (unknown.length) throw schemaMismatch(`table ${t.name} of the archive has columns this hub's table lacks: ${unknown.join(', ')}`)
  }
  // Export writes every table, empty or not: one the archive's migration had and the archive lacks was taken out of it
  // (stock levels without the ledger they sum). A table created by a later migration is not in an older archive.
  const expected = tablesThrough(manifest.migration)
  const missing = catalog.tables.filter((t) => expected.has(t.name) && !entries.has(t.name)).map((t) => t.name)
  if (missing.length) {
    throw archiveError(`the archive lacks ${missing.length === 1 ? 'table' : 'tables'} ${missing.join(', ')}, which every archive written at migration ${manifest.migration} holds; nothing was written`, { missing })
  }
  const merchants = entries.get('merchants')
  if (!merchants || merchants.rows !== 1) throw invalid('archive_invalid', 'the archive must hold exactly one merchants row')
  return catalog.tables.filter((t) => entries.has(t.name)).map((table) => ({ table, entry: entries.get(table.name)!, columns: entries.get(table.name)!.columns }))
}

/** Pass 1: every checksum and count, and the facts the write needs. Writes nothing. */
async function check(archive: OpenArchive, plan: Plan[], asNew: boolean): Promise<Facts> {
  const facts: Facts = { ranges: new Map(), uuids: new Map(), users: [], apiKeys: [] }
  const source = archive.manifest.merchant.id
  for (const { table, entry } of plan) {
    const key = asNew ? uuidKey(table) : null
    const parse = key !== null || table.identity !== null || ['merchants', 'users', 'api_keys'].includes(table.name)
    const digest = sha256()
    let count = 0
    let problem: string | null = null
    let min = Infinity
    let max = -Infinity
    // A damaged entry (bytes that do not inflate) fails classified, naming it, like a checksum that does not match.
    for await (const line of jsonLines(await archive.open(entry.file), digest, entry.file)) {
      count++
      if (!parse || problem) continue
      let row: Record<string, unknown>
      try {
        row = JSON.parse(line) as Record<string, unknown>
      } catch {
        problem = `line ${count} is not JSON`
        continue
      }
      if (table.identity) {
        const v = row[table.identity]
        if (typeof v === 'number' && Number.isSafeInteger(v)) {
          if (v < min) min = v
          if (v > max) max = v
        } else if (v !== null) problem = `line ${count}: ${table.identity} ${String(v)} is not an integer this hub can carry`
      }
      if (key) {
        const id = String(row[key]).toLowerCase()
        if (!facts.uuids.has(id)) facts.uuids.set(id, newId())
      }
      if (table.name === 'merchants' && row.id !== source) problem = `its merchant ${String(row.id)} is not the manifest's ${source}`
      if (table.name === 'users') facts.users.push({ id: String(row.id), email: String(row.email), pin: typeof row.pin_hmac === 'string' ? row.pin_hmac : null })
      if (table.name === 'api_keys') facts.apiKeys.push({ id: String(row.id), name: String(row.name), tokenHash: String(row.token_hash) })
    }
    const got = digest.digest('hex')
    if (got !== entry.sha256) {
      throw invalid('checksum_mismatch', `${entry.file} does not match its checksum in the manifest: the archive was changed or damaged; nothing was written`, { table: table.name, expected: entry.sha256, actual: got })
    }
    if (count !== entry.rows) throw invalid('row_count_mismatch', `${entry.file} holds ${count} rows, its manifest says ${entry.rows}; nothing was written`, { table: table.name })
    if (problem) throw invalid('archive_invalid', `${entry.file}: ${problem}; nothing was written`, { table: table.name })
    if (table.identity && count > 0 && min <= max) facts.ranges.set(table.name, { min, max })
  }
  return facts
}

/** Pass 2 and the checks before commit. */
async function write(
  hub: Pick<Hub, 'database' | 'secrets'>,
  archive: OpenArchive,
  catalog: MerchantCatalog,
  plan: Plan[],
  facts: Facts,
  o: ImportOptions & { asNewMerchant: boolean },
  progress: (m: string) => void,
): Promise<ImportResult> {
  const asNew = o.asNewMerchant
  const source = archive.manifest.merchant.id
  const merchantId = asNew ? facts.uuids.get(source)! : source
  const merchant = quoteLiteral(merchantId)
  const client = await hub.database.pool.connect()
  let broken = false
  try {
    await client.query('begin')
    try {
      await client.query('set local session_replication_role = replica')
    } catch (e) {
      if ((e as { code?: string }).code === '42501') {
        throw forbidden(
          'replication_role_denied',
          'importing needs a database role that may set session_replication_role (a superuser, or on PostgreSQL 15+ `GRANT SET ON PARAMETER session_replication_role TO <role>`); nothing was written',
        )
      }
      throw e
    }
    const exists = await client.query('select 1 from public.merchants where id = $1', [merchantId])
    if (exists.rowCount) {
      throw conflict('merchant_exists', `merchant ${merchantId} already exists on this hub; nothing was written (to add a copy beside it, import with --as-new-merchant)`, { merchantId })
    }

    // Logins are unique across the hub.
    const emails = facts.users.map((u) => u.email.toLowerCase())
    const takenEmails = new Set((await client.query<{ e: string }>('select lower(email) as e from public.users where lower(email) = any($1::text[])', [emails])).rows.map((r) => r.e))
    const takenKeys = new Set((await client.query<{ h: string }>('select token_hash as h from public.api_keys where token_hash = any($1::text[])', [facts.apiKeys.map((k) => k.tokenHash)])).rows.map((r) => r.h))
    if (!asNew && takenEmails.size) throw conflict('email_taken', `users with these emails already exist on this hub: ${[...takenEmails].join(', ')}; nothing was written`, { emails: [...takenEmails] })
    if (!asNew && takenKeys.size) throw conflict('api_key_taken', `${takenKeys.size} API keys of the archive are already keys of this hub; nothing was written`)
    const usersRenamed = asNew ? await renameTaken(client, facts, takenEmails, merchantId) : []
    const apiKeysRevoked = facts.apiKeys.filter((k) => takenKeys.has(k.tokenHash)).map((k) => ({ id: facts.uuids.get(k.id.toLowerCase()) ?? k.id, name: k.name }))

    const offsets = await reserveIds(client, plan, facts)
    for (const [t, off] of offsets) if (off) progress(`${t}: ids already used on this hub; moving them up by ${off}`)

    let done = 0
    const total = plan.reduce((n, p) => n + p.entry.rows, 0)
    const digests = new Map<string, string>()
    for (const p of plan) {
      const params: unknown[] = []
      const exprs = p.columns.map((c) => expressionOf(p.table, c, offsets, { params, asNew, name: o.name, usersRenamed, takenKeys }).sql)
      const sql = `insert into ${qualified(p.table.name)} (${p.columns.map(quoteIdent).join(', ')}) overriding system value select ${exprs.join(', ')} from json_populate_recordset(null::${qualified(p.table.name)}, $1::json) r`
      const digest = sha256()
      let batch: string[] = []
      let bytes = 0
      let written = 0
      const flush = async () => {
        if (!batch.length) return
        const r = await insertBatch(client, p.table.name, sql, [`[${batch.join(',')}]`, ...params])
        if (r !== batch.length) throw invalid('archive_invalid', `table ${p.table.name}: ${batch.length - r} rows were not written; nothing was written`)
        written += batch.length
        if (p.entry.rows >= 50_000 && Math.floor(written / 50_000) !== Math.floor((written - batch.length) / 50_000)) progress(`  ${p.table.name}: ${written}/${p.entry.rows} rows`)
        batch = []
        bytes = 0
      }
      for await (const raw of jsonLines(await archive.open(p.entry.file), digest, p.entry.file)) {
        const line = asNew ? raw.replace(UUID_IN_TEXT, (u) => facts.uuids.get(u.toLowerCase()) ?? u) : raw
        batch.push(line)
        bytes += line.length
        if (batch.length >= (o.batchRows ?? 1000) || bytes >= MAX_BATCH_BYTES) await flush()
      }
      await flush()
      digests.set(p.table.name, digest.digest('hex'))
      done += written
      if (written) progress(`wrote ${p.table.name}: ${written} rows (${done}/${total})`)
    }

    // The file may not change between the check and the write.
    for (const p of plan) {
      if (digests.get(p.table.name) !== p.entry.sha256) throw invalid('checksum_mismatch', `${p.entry.file} changed while it was being imported; nothing was written`, { table: p.table.name })
    }
    await checkWritten(client, catalog, plan, merchant)
    await fixSequences(client, plan)
    const secretsUnreadable = await unreadableSecrets(client, hub, merchantId)
    const pinsUnreadable = unreadablePins(hub, facts, usersRenamed)
    const switchedOff = asNew ? await switchOff(client, merchantId) : { connectionsDisabled: [], webhookSubscriptionsDisabled: [], devicesDisabled: [] }
    const { webhookDeliveriesParked } = await requeueWork(client, merchantId, progress, { copy: asNew })
    await client.query('commit')
    progress(`imported merchant ${merchantId}${asNew ? ` (a copy of ${source})` : ''}: ${total} rows in ${plan.length} tables`)
    return {
      merchantId,
      sourceMerchantId: source,
      asNewMerchant: asNew,
      tables: plan.length,
      rows: total,
      secretsUnreadable,
      pinsUnreadable,
      usersRenamed,
      apiKeysRevoked,
      ...switchedOff,
      webhookDeliveriesParked,
      idOffsets: Object.fromEntries([...offsets].filter(([, off]) => off !== 0)),
    }
  } catch (e) {
    await client.query('rollback').catch(() => (broken = true))
    throw e
  } finally {
    client.release(broken)
  }
}

async function insertBatch(client: pg.PoolClient, table: string, sql: string, params: unknown[]): Promise<number> {
  try {
    return (await client.query(sql, params)).rowCount ?? 0
  } catch (e) {
    const pgErr = e as { code?: string; constraint?: string; message: string }
    if (pgErr.code === '23505' && table === 'merchants') throw conflict('merchant_exists', 'the merchant was created on this hub while importing; nothing was written')
    if (pgErr.code === '23505') {
      throw conflict('id_collision', `rows of ${table} collide with rows already on this hub (${pgErr.constraint ?? 'a unique key'}); nothing was written (import with --as-new-merchant to give the copy new ids)`, { table, constraint: pgErr.constraint })
    }
    if (pgErr.code && /^(22|23)/.test(pgErr.code)) throw invalid('archive_invalid', `table ${table}: ${pgErr.message}; nothing was written`, { table })
    throw e
  }
}

/** With --as-new-merchant, users whose email the hub already has get local+<prefix>@domain. */
async function renameTaken(client: pg.PoolClient, facts: Facts, taken: Set<string>, merchantId: string): Promise<ImportResult['usersRenamed']> {
  const out: ImportResult['usersRenamed'] = []
  const used = new Set<string>()
  for (const u of facts.users) {
    if (!taken.has(u.email.toLowerCase())) continue
    const at = u.email.lastIndexOf('@')
    const [local, domain] = at > 0 ? [u.email.slice(0, at), u.email.slice(at)] : [u.email, '']
    for (let n = 0; ; n++) {
      const candidate = `${local}+${merchantId.replace(/-/g, '').slice(0, 12 + n * 4)}${domain}`
      const clash = used.has(candidate.toLowerCase()) || facts.users.some((x) => x.email.toLowerCase() === candidate.toLowerCase())
      if (!clash && !(await client.query('select 1 from public.users where lower(email) = lower($1)', [candidate])).rowCount) {
        used.add(candidate.toLowerCase())
        out.push({ id: facts.uuids.get(u.id.toLowerCase()) ?? u.id, from: u.email, to: candidate })
        break
      }
    }
  }
  return out
}

/**
 * The offset for each table's bigint ids: 0 when no row of this hub has an id in the archive's range, else past every
 * id this hub has used. The sequence is moved past the ids to be written at once (sequences ignore the transaction),
 * so rows inserted meanwhile by the running hub never take them.
 */
async function reserveIds(client: pg.PoolClient, plan: Plan[], facts: Facts): Promise<Map<string, number>> {
  const offsets = new Map<string, number>()
  for (const { table } of plan) {
    const range = facts.ranges.get(table.name)
    if (!table.identity || !range) continue
    const col = quoteIdent(table.identity)
    const seq = await sequenceOf(client, table)
    const overlap = await client.query(`select 1 from ${qualified(table.name)} where ${col} between $1 and $2 limit 1`, [range.min, range.max])
    const used = await usedIds(client, table, seq)
    const offset = overlap.rowCount ? used : 0
    if (offset) {
      const blocked = plan.flatMap((p) => p.table.unmovableRefs.filter((r) => r.endsWith(`→ ${table.name}`)))
      if (blocked.length) throw conflict('ids_cannot_move', `the ids of ${table.name} are taken on this hub and ${blocked.join(', ')} cannot follow them; nothing was written`)
    }
    offsets.set(table.name, offset)
    if (seq && range.max + offset > used) await client.query('select setval($1::regclass, $2::bigint, true)', [seq, range.max + offset])
  }
  return offsets
}

async function sequenceOf(client: pg.PoolClient, table: OwnedTable): Promise<string | null> {
  const r = await client.query<{ seq: string | null }>('select pg_get_serial_sequence($1, $2) as seq', [`public.${quoteIdent(table.name)}`, table.identity])
  return r.rows[0]?.seq ?? null
}

/** The largest id the table holds or its sequence has handed out. */
async function usedIds(client: pg.PoolClient, table: OwnedTable, seq: string | null): Promise<number> {
  const col = quoteIdent(table.identity!)
  const fromSeq = seq ? `(select case when is_called then last_value else last_value - 1 end from ${seq})` : '0'
  const r = await client.query<{ used: number }>(`select greatest(coalesce((select max(${col}) from ${qualified(table.name)}), 0), ${fromSeq})::bigint as used`)
  return r.rows[0]!.used
}

function expressionOf(
  table: OwnedTable,
  column: string,
  offsets: Map<string, number>,
  ctx: { params: unknown[]; asNew: boolean; name?: string; usersRenamed: ImportResult['usersRenamed']; takenKeys: Set<string> },
): { sql: string } {
  const c = `r.${quoteIdent(column)}`
  const param = (v: unknown) => {
    ctx.params.push(v)
    return `$${ctx.params.length + 1}`
  }
  if (table.name === 'merchants' && column === 'name' && ctx.name !== undefined) return { sql: `${param(ctx.name)}::text` }
  if (table.name === 'users' && column === 'email' && ctx.usersRenamed.length) {
    const map = Object.fromEntries(ctx.usersRenamed.map((u) => [u.from.toLowerCase(), u.to]))
    return { sql: `coalesce(${param(JSON.stringify(map))}::jsonb ->> lower(${c}), ${c})` }
  }
  if (table.name === 'api_keys' && ctx.takenKeys.size && (column === 'token_hash' || column === 'revoked_at')) {
    const taken = `r.token_hash = any(${param([...ctx.takenKeys])}::text[])`
    // A key hash names one key on a hub: the copy keeps the key's record, revoked, under an unusable hash.
    return { sql: column === 'token_hash' ? `case when ${taken} then 'revoked:' || gen_random_uuid()::text else ${c} end` : `case when ${taken} then coalesce(${c}, now()) else ${c} end` }
  }
  if (column === table.identity && offsets.get(table.name)) return { sql: `${c} + ${offsets.get(table.name)}` }
  const refs = table.bigintRefs.filter((ref) => ref.column === column && offsets.get(ref.parent))
  const whole = refs.find((ref) => !ref.jsonPath)
  const type = table.columns.find((x) => x.name === column)?.type
  // An array of ids: each moved, in its order.
  if (whole && type === '_int8') return { sql: `array(select x + ${offsets.get(whole.parent)} from unnest(${c}) with ordinality as u(x, n) order by n)` }
  if (whole) return { sql: `${c} + ${offsets.get(whole.parent)}` }
  if (refs.length === 0) return { sql: c }
  // Ids inside a document: each path moved where it holds a number, one after the other.
  let doc = `(${c})::jsonb`
  for (const ref of refs) doc = movedAt(doc, ref.jsonPath!, offsets.get(ref.parent)!)
  return { sql: `(${doc})::${type}` }
}

/**
 * SQL for the document `doc` with the bigint at `path` moved up by `off`, where it is a number; `*` in the path stands
 * for every member of an object (`seen.*.lineId`: the line of each item a held resolution saw). Each level reads its
 * document once, through a subquery of its own.
 */
function movedAt(doc: string, path: string[], off: number, depth = 0): string {
  const d = `d${depth}`
  const [key, ...rest] = path
  const inner =
    key === '*'
      ? `case when jsonb_typeof(${d}) = 'object' then (select coalesce(jsonb_object_agg(e.key, ${movedAt('e.value', rest, off, depth + 1)}), ${d}) from jsonb_each(${d}) e) else ${d} end`
      : rest.length === 0
        ? `case when jsonb_typeof(${d} -> ${quoteLiteral(key!)}) = 'number' then jsonb_set(${d}, array[${quoteLiteral(key!)}], to_jsonb((${d} ->> ${quoteLiteral(key!)})::bigint + ${off})) else ${d} end`
        : `case when jsonb_typeof(${d} -> ${quoteLiteral(key!)}) = 'object' then jsonb_set(${d}, array[${quoteLiteral(key!)}], ${movedAt(`${d} -> ${quoteLiteral(key!)}`, rest, off, depth + 1)}) else ${d} end`
  return `(select ${inner} from (select ${doc} as ${d}) x${depth})`
}

/**
 * A copy's connections, webhook subscriptions and the devices the hub drives itself (at their network address: the
 * original's printers) that are on are switched off (deleted ones are off already). Devices behind a store's bridge
 * stay: the copy's stores are its own and the original's bridge keys are revoked in it.
 */
async function switchOff(client: pg.PoolClient, merchantId: string): Promise<Pick<ImportResult, 'connectionsDisabled' | 'webhookSubscriptionsDisabled' | 'devicesDisabled'>> {
  const conns = await client.query<{ id: string; name: string; connector_id: string }>(
    `update public.connections set enabled = false where merchant_id = $1 and enabled and deleted_at is null returning id, name, connector_id`,
    [merchantId],
  )
  const subs = await client.query<{ id: string; url: string }>(
    `update public.webhook_subscriptions set enabled = false where merchant_id = $1 and enabled and deleted_at is null returning id, url`,
    [merchantId],
  )
  const devs = await client.query<{ id: string; name: string }>(
    `update public.devices set enabled = false where merchant_id = $1 and enabled and route = 'hub' returning id, name`,
    [merchantId],
  )
  const byName = <T extends { id: string }>(key: (x: T) => string) => (a: T, b: T) => key(a).localeCompare(key(b)) || a.id.localeCompare(b.id)
  return {
    devicesDisabled: devs.rows.map((d) => ({ id: d.id, name: d.name })).sort(byName((d) => d.name)),
    connectionsDisabled: conns.rows.map((c) => ({ id: c.id, name: c.name, connectorId: c.connector_id })).sort(byName((c) => c.name)),
    webhookSubscriptionsDisabled: subs.rows.map((s) => ({ id: s.id, url: s.url })).sort(byName((s) => s.url)),
  }
}

/**
 * The archive carries no queued jobs: the work its rows still wait for is queued again here, in the import's
 * transaction. Outbound deliveries still pending and events not fanned out yet (in a copy, whose subscriptions are
 * off, the pending deliveries are parked instead), inbound webhooks not processed yet, device work queued for a device
 * the hub drives, campaign runs being sent and campaign deliveries whose outcome is unknown, the reconciliation of
 * each day whose statement came after its last run (scheduleFetches leaves a day with a statement alone), and the
 * stock push of each enabled marketplace connection with changes not yet pushed (else they would wait for the next
 * sale or the nightly audit). The rest is picked up by recurring tasks: failed or unknown device work (device.poll),
 * vouchers of recent days (vouchers.schedule), settlement fetches of days without a statement (reconciliation
 * schedule).
 */
async function requeueWork(client: pg.PoolClient, merchantId: string, progress: (m: string) => void, o: { copy: boolean }): Promise<{ webhookDeliveriesParked: number }> {
  // The rows are written: the hub's own triggers (graphile-worker's among them) fire again from here on.
  await client.query('set local session_replication_role = origin')
  const tx = drizzle({ client }) as unknown as Tx
  // The reason names no id of the original: a copy's rows name none.
  const webhooks = await requeueRestored(tx, merchantId, {
    park: o.copy ? 'not sent: the merchant was imported as a copy (--as-new-merchant), with its webhook subscriptions switched off; replay it once its subscription is switched on' : undefined,
  })
  const inbound = await tx.execute<{ id: string; connection_id: string }>(
    sql`select id, connection_id from inbound_webhooks where merchant_id = ${merchantId} and status in ('received', 'processing') order by received_at, id`,
  )
  for (const w of inbound.rows) await queueProcessing(tx, { id: w.id, merchantId, connectionId: w.connection_id })
  // Queued device work wakes its runner as new work does: the device_jobs trigger (one runner per device the hub
  // drives), fired by touching the rows.
  const devices = await tx.execute<{ id: string }>(sql`
    with woken as (
      update device_jobs j set state = j.state from devices d
       where d.id = j.device_id and j.merchant_id = ${merchantId} and j.state = 'queued' and d.route = 'hub' and d.enabled
      returning j.device_id)
    select distinct device_id as id from woken`)
  const runs = await tx.execute<{ id: string; run_key: string }>(
    sql`select id, last_run_key as run_key from campaigns where merchant_id = ${merchantId} and status = 'sending' and last_run_key is not null order by id`,
  )
  for (const c of runs.rows) await queueSend(tx, { merchantId, campaignId: c.id, runKey: c.run_key })
  const unsettled = await tx.execute<{ id: string }>(
    sql`select distinct campaign_id as id from campaign_deliveries where merchant_id = ${merchantId} and status = 'unknown' order by 1`,
  )
  for (const c of unsettled.rows) await queueSettle(tx, { merchantId, campaignId: c.id })
  // A day's statements as the upload or fetch left them: the run it queued had not started when the archive was
  // written. Reconciling reads only this hub's rows, so a copy's days are reconciled too.
  const days = await tx.execute<{ connection_id: string; day: string }>(sql`
    select s.connection_id, s.business_date::text as day from settlement_statements s join connections c on c.id = s.connection_id and c.deleted_at is null
     where s.merchant_id = ${merchantId} and s.status in ('imported', 'empty')
     group by s.connection_id, s.business_date
    having not exists (select 1 from recon_runs r where r.connection_id = s.connection_id and r.business_date = s.business_date and r.started_at >= max(s.created_at))
     order by 1, 2`)
  for (const d of days.rows) await queueReconcile(tx, { merchantId, connectionId: d.connection_id, businessDate: d.day })
  // Stock changes the push job had not taken yet, or levels it left dirty. A connection switched off pushes nothing.
  const pushes = await tx.execute<{ id: string }>(sql`
    select c.id from connections c
     where c.merchant_id = ${merchantId} and c.enabled and c.deleted_at is null
       and (exists (select 1 from channel_stock_changes x where x.connection_id = c.id)
         or exists (select 1 from channel_levels l where l.connection_id = c.id and l.dirty_since is not null))
     order by c.id`)
  for (const c of pushes.rows) await queueChannelPush(tx, { merchantId, connectionId: c.id })
  const queued = webhooks.deliveries + webhooks.events + inbound.rows.length + devices.rows.length + runs.rows.length + unsettled.rows.length + days.rows.length + pushes.rows.length
  if (queued) {
    progress(
      `queued again: ${webhooks.deliveries} webhook deliveries, fanout of ${webhooks.events} events, ${inbound.rows.length} inbound webhooks, ${devices.rows.length} devices, ${runs.rows.length} campaign runs, ${unsettled.rows.length} campaign settlements, ${days.rows.length} reconciliations, ${pushes.rows.length} marketplace stock pushes`,
    )
  }
  if (webhooks.parked) progress(`parked ${webhooks.parked} webhook deliveries of the copy: its webhook subscriptions are switched off`)
  return { webhookDeliveriesParked: webhooks.parked }
}

/** Every table holds exactly the archive's rows for the merchant, and every foreign key of them finds its parent. */
async function checkWritten(client: pg.PoolClient, catalog: MerchantCatalog, plan: Plan[], merchant: string): Promise<void> {
  for (const { table, entry } of plan) {
    const r = await client.query<{ n: number }>(`select count(*)::bigint as n from ${qualified(table.name)} t0 where ${scopeSql(catalog, table, 't0', merchant)}`)
    if (r.rows[0]!.n !== entry.rows) {
      throw invalid('archive_invalid', `${entry.rows - r.rows[0]!.n} rows of ${table.name} in the archive do not belong to the archive's merchant; nothing was written`, { table: table.name })
    }
    for (const fk of table.foreignKeys) {
      const cols = fk.columns.map((c) => `c.${quoteIdent(c)}`)
      const match = fk.columns.map((c, i) => `p.${quoteIdent(fk.parentColumns[i]!)} = c.${quoteIdent(c)}`).join(' and ')
      const orphans = await client.query<{ n: number }>(
        `select count(*)::bigint as n from ${qualified(table.name)} c where ${scopeSql(catalog, table, 'c', merchant)} and ${cols.map((x) => `${x} is not null`).join(' and ')}
            and not exists (select 1 from ${qualified(fk.parent)} p where ${match})`,
      )
      if (orphans.rows[0]!.n > 0) {
        throw invalid('archive_invalid', `${orphans.rows[0]!.n} rows of ${table.name} refer to a ${fk.parent} row (${fk.columns.join(', ')}) that is neither in the archive nor on this hub; nothing was written`, { table: table.name })
      }
    }
  }
}

async function fixSequences(client: pg.PoolClient, plan: Plan[]): Promise<void> {
  for (const { table } of plan) {
    if (!table.identity) continue
    const seq = await sequenceOf(client, table)
    if (!seq) continue
    const used = await usedIds(client, table, seq)
    if (used > 0) await client.query('select setval($1::regclass, $2::bigint, true)', [seq, used])
  }
}

async function unreadableSecrets(client: pg.PoolClient, hub: Pick<Hub, 'secrets'>, merchantId: string): Promise<UnreadableSecret[]> {
  const out: UnreadableSecret[] = []
  const opens = (sealed: string) => {
    try {
      hub.secrets.decrypt(sealed)
      return true
    } catch {
      return false
    }
  }
  const conns = await client.query<{ id: string; name: string; sealed: string }>(
    'select id, name, sealed_secrets as sealed from public.connections where merchant_id = $1 and sealed_secrets is not null order by name',
    [merchantId],
  )
  for (const c of conns.rows) if (!opens(c.sealed)) out.push({ kind: 'connection', id: c.id, name: c.name })
  const subs = await client.query<{ id: string; url: string; sealed: string }>('select id, url, sealed_secret as sealed from public.webhook_subscriptions where merchant_id = $1 order by url', [merchantId])
  for (const s of subs.rows) if (!opens(s.sealed)) out.push({ kind: 'webhook_subscription', id: s.id, name: s.url })
  return out
}

/** PIN MACs carry the id of the key they were made with; a key this hub does not hold can never match them again. */
function unreadablePins(hub: Pick<Hub, 'secrets'>, facts: Facts, renamed: ImportResult['usersRenamed']): ImportResult['pinsUnreadable'] {
  const emailOf = new Map(renamed.map((u) => [u.from, u.to]))
  const ring = new Set(hub.secrets.macs('backup-probe', 'probe').map((m) => m.split(':')[0]))
  return facts.users.filter((u) => u.pin !== null && !ring.has(u.pin.split(':')[0])).map((u) => ({ id: facts.uuids.get(u.id.toLowerCase()) ?? u.id, email: emailOf.get(u.email) ?? u.email }))
}
