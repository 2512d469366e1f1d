// Which tables hold a merchant's data, read from the database's own catalog so that a table added by a later migration
// is carried without a change here. For each table: its columns, primary key, identity column, foreign keys, how its
// rows belong to the merchant (the SQL predicate that selects them), and the bigint ids of other tables it refers to.
//
// Terms:
// - owned table: every table of schema `public` with a `merchant_id` column; `merchants` itself (by id); and child
//   tables without `merchant_id` that hang off an owned parent, found from their foreign keys (statement_files,
//   voucher_sources) or listed in IMPLICIT_PARENTS where the link is not a declared key (channel_stock_changes).
// - skipped table: SKIPPED_TABLES (logins, process state). Other schemas (graphile_worker's queue, drizzle's
//   migration log) are never read.
// - unclassified table: any other table of `public`. Export refuses while one exists, so a new table is classified
//   here on purpose instead of being silently left out of every archive.
// - bigint reference: a column holding another table's identity id (points_lots.ledger_id → points_ledger.id),
//   from declared foreign keys or BIGINT_REFS; JSON_BIGINT_REFS for ids inside a jsonb document.
import type pg from 'pg'

export const SKIPPED_TABLES: Record<string, string> = {
  sessions: 'logins do not move: staff sign in again on the new hub',
  worker_heartbeats: "process state of this hub's workers",
  sign_in_throttle: 'failed sign-ins per client address, of this hub',
}

/** Children without merchant_id whose link to an owned parent is not a declared foreign key. */
const IMPLICIT_PARENTS: { table: string; columns: string[]; parent: string; parentColumns: string[] }[] = [
  { table: 'channel_stock_changes', columns: ['connection_id'], parent: 'connections', parentColumns: ['id'] },
]

/**
 * Bigint ids of other tables held without a declared foreign key, one id or an array of them (a voucher's cash
 * movements). A stock count's snapshot_movement_id and posted_movement_id, and a count entry's seen_movement_id, are
 * watermarks ("every movement up to here"), not one row: moving ids by one offset per table keeps them true, and keeps them apart by the same distance.
 */
const BIGINT_REFS: { table: string; column: string; parent: string }[] = [
  { table: 'recon_items', column: 'line_id', parent: 'settlement_lines' },
  { table: 'webhook_deliveries', column: 'event_id', parent: 'events' },
  { table: 'stock_count_lines', column: 'snapshot_movement_id', parent: 'stock_movements' },
  { table: 'stock_counts', column: 'posted_movement_id', parent: 'stock_movements' },
  { table: 'stock_count_entries', column: 'seen_movement_id', parent: 'stock_movements' },
  { table: 'voucher_sources', column: 'cash_movements', parent: 'cash_movements' },
  { table: 'voucher_sources', column: 'stored_value_adjustments', parent: 'stored_value_ledger' },
]

/**
 * Bigint ids inside a jsonb document, at a path of keys (`*`: every member of an object): a reconciliation item's
 * history names settlement lines (a suggestion's or a removal's `lineId`; the `before` and `after` snapshots of a
 * change), and so does a resolution held for approval.
 */
const JSON_BIGINT_REFS: { table: string; column: string; path: string[]; parent: string }[] = [
  { table: 'recon_item_events', column: 'details', path: ['lineId'], parent: 'settlement_lines' },
  { table: 'recon_item_events', column: 'details', path: ['before', 'lineId'], parent: 'settlement_lines' },
  { table: 'recon_item_events', column: 'details', path: ['after', 'lineId'], parent: 'settlement_lines' },
  // A resolution held for approval: the figures of each item it saw (approving compares them with the item's).
  { table: 'approval_requests', column: 'payload', path: ['seen', '*', 'lineId'], parent: 'settlement_lines' },
]

export interface Column {
  name: string
  /** The type's name in pg_type (int8, uuid, jsonb, _text, …). */
  type: string
  generated: boolean
}

export interface ForeignKey {
  columns: string[]
  parent: string
  parentColumns: string[]
}

export type Ownership =
  | { kind: 'merchant' }
  | { kind: 'column' }
  | { kind: 'parent'; columns: string[]; parent: string; parentColumns: string[] }

export interface BigintRef {
  column: string
  parent: string
  /** A path of keys inside the jsonb column instead of the column itself. */
  jsonPath?: string[]
}

export interface OwnedTable {
  name: string
  columns: Column[]
  primaryKey: string[]
  /** The identity (or serial) column, whose values come from a sequence. */
  identity: string | null
  foreignKeys: ForeignKey[]
  owner: Ownership
  bigintRefs: BigintRef[]
  /** Why this table's bigint references could not follow its parents' ids to new values (a composite key). */
  unmovableRefs: string[]
}

export interface MerchantCatalog {
  /** Parents before children. */
  tables: OwnedTable[]
  byName: Map<string, OwnedTable>
  unclassified: string[]
}

export const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`
export const qualified = (table: string) => `public.${quoteIdent(table)}`
export const quoteLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`

interface ColumnRow {
  table_name: string
  column_name: string
  udt_name: string
  identity: boolean
  generated: boolean
}
interface ConstraintRow {
  contype: 'p' | 'f'
  table: string
  parent: string | null
  columns: string[]
  parent_columns: string[] | null
}

export async function readCatalog(client: pg.ClientBase): Promise<MerchantCatalog> {
  const cols = await client.query<ColumnRow>(`
    select c.table_name::text, c.column_name::text, c.udt_name::text,
           (c.is_identity = 'YES' or coalesce(c.column_default, '') like 'nextval(%') as identity,
           c.is_generated = 'ALWAYS' as generated
      from information_schema.columns c
      join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
     where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
     order by c.table_name, c.ordinal_position`)
  const cons = await client.query<ConstraintRow>(`
    select con.contype::text as contype, rel.relname::text as "table", frel.relname::text as parent,
           array(select a.attname::text from unnest(con.conkey) with ordinality k(n, i)
                   join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by k.i) as columns,
           case when con.contype = 'f' then
             array(select a.attname::text from unnest(con.confkey) with ordinality k(n, i)
                     join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by k.i) end as parent_columns
      from pg_constraint con
      join pg_class rel on rel.oid = con.conrelid
      left join pg_class frel on frel.oid = con.confrelid
     where con.connamespace = 'public'::regnamespace and con.contype in ('p', 'f')
     order by rel.relname, con.conname`)

  const columns = new Map<string, { columns: Column[]; identity: string | null }>()
  for (const r of cols.rows) {
    const t = columns.get(r.table_name) ?? { columns: [], identity: null }
    // A transaction id (events.xid) means nothing in another database: it is made anew there, as a generated column is.
    t.columns.push({ name: r.column_name, type: r.udt_name, generated: r.generated || r.udt_name === 'xid8' })
    if (r.identity) t.identity = r.column_name
    columns.set(r.table_name, t)
  }
  const primaryKeys = new Map<string, string[]>()
  const foreignKeys = new Map<string, ForeignKey[]>()
  for (const c of cons.rows) {
    if (c.contype === 'p') primaryKeys.set(c.table, c.columns)
    else if (c.parent) foreignKeys.set(c.table, [...(foreignKeys.get(c.table) ?? []), { columns: c.columns, parent: c.parent, parentColumns: c.parent_columns ?? [] }])
  }

  const owner = new Map<string, Ownership>()
  for (const [name, t] of columns) {
    if (name in SKIPPED_TABLES) continue
    if (name === 'merchants') owner.set(name, { kind: 'merchant' })
    else if (t.columns.some((c) => c.name === 'merchant_id')) owner.set(name, { kind: 'column' })
  }
  // Children of owned tables, to any depth: a declared foreign key to an owned parent, or a listed implicit one.
  for (let grew = true; grew; ) {
    grew = false
    for (const name of columns.keys()) {
      if (owner.has(name) || name in SKIPPED_TABLES) continue
      const links = [...(foreignKeys.get(name) ?? []), ...IMPLICIT_PARENTS.filter((p) => p.table === name && columns.has(p.parent))]
      const link = links.find((l) => owner.has(l.parent) && l.parent !== name)
      if (link) {
        owner.set(name, { kind: 'parent', columns: link.columns, parent: link.parent, parentColumns: link.parentColumns })
        grew = true
      }
    }
  }

  const tables = new Map<string, OwnedTable>()
  for (const [name, own] of owner) {
    const t = columns.get(name)!
    tables.set(name, { name, columns: t.columns, primaryKey: primaryKeys.get(name) ?? [], identity: t.identity, foreignKeys: foreignKeys.get(name) ?? [], owner: own, bigintRefs: [], unmovableRefs: [] })
  }
  // A declared reference whose column a migration renamed or dropped would move no id and say nothing: refuse it.
  const declared = (r: { table: string; column: string }) => {
    const t = tables.get(r.table)
    if (t && !t.columns.some((c) => c.name === r.column)) throw new Error(`backup catalog: ${r.table}.${r.column} is declared as a reference but has no such column`)
    return t !== undefined
  }
  for (const t of tables.values()) {
    for (const fk of t.foreignKeys) {
      const parent = tables.get(fk.parent)
      if (!parent?.identity || !fk.parentColumns.includes(parent.identity)) continue
      if (fk.columns.length === 1) t.bigintRefs.push({ column: fk.columns[0]!, parent: fk.parent })
      else t.unmovableRefs.push(`${t.name}(${fk.columns.join(', ')}) → ${fk.parent}`)
    }
    for (const r of BIGINT_REFS) if (r.table === t.name && declared(r) && tables.get(r.parent)?.identity) t.bigintRefs.push({ column: r.column, parent: r.parent })
    for (const r of JSON_BIGINT_REFS) if (r.table === t.name && declared(r) && tables.get(r.parent)?.identity) t.bigintRefs.push({ column: r.column, parent: r.parent, jsonPath: r.path })
  }

  const unclassified = [...columns.keys()].filter((n) => !owner.has(n) && !(n in SKIPPED_TABLES)).sort()
  const ordered = parentsFirst(tables)
  return { tables: ordered, byName: new Map(ordered.map((t) => [t.name, t])), unclassified }
}

/** Kahn's order over foreign keys and implicit parents (self references ignored), merchants first, ties by name. */
function parentsFirst(tables: Map<string, OwnedTable>): OwnedTable[] {
  const parentsOf = new Map<string, Set<string>>()
  for (const t of tables.values()) {
    const ps = new Set<string>()
    for (const fk of t.foreignKeys) if (fk.parent !== t.name && tables.has(fk.parent)) ps.add(fk.parent)
    if (t.owner.kind === 'parent') ps.add(t.owner.parent)
    parentsOf.set(t.name, ps)
  }
  const out: OwnedTable[] = []
  const done = new Set<string>()
  const names = [...tables.keys()].sort((a, b) => (a === 'merchants' ? -1 : b === 'merchants' ? 1 : a.localeCompare(b)))
  while (out.length < names.length) {
    const ready = names.find((n) => !done.has(n) && [...parentsOf.get(n)!].every((p) => done.has(p)))
    // A cycle of foreign keys (none today) cannot be ordered; the import writes with foreign keys off and checks after.
    const next = ready ?? names.find((n) => !done.has(n))!
    done.add(next)
    out.push(tables.get(next)!)
  }
  return out
}

/** The SQL predicate, on `alias`, that selects the merchant's rows of `table`. `merchant` is a quoted literal. */
export function scopeSql(catalog: MerchantCatalog, table: OwnedTable, alias: string, merchant: string, depth = 0): string {
  const own = table.owner
  if (own.kind === 'merchant') return `${alias}.id = ${merchant}::uuid`
  if (own.kind === 'column') return `${alias}.merchant_id = ${merchant}::uuid`
  const parent = catalog.byName.get(own.parent)!
  const p = `p${depth}`
  const left = own.columns.length === 1 ? `${alias}.${quoteIdent(own.columns[0]!)}` : `(${own.columns.map((c) => `${alias}.${quoteIdent(c)}`).join(', ')})`
  return `${left} in (select ${own.parentColumns.map((c) => `${p}.${quoteIdent(c)}`).join(', ')} from ${qualified(parent.name)} ${p} where ${scopeSql(catalog, parent, p, merchant, depth + 1)})`
}

/** The single uuid primary key column of a table, if it has one: these ids are what --as-new-merchant renews. */
export function uuidKey(table: OwnedTable): string | null {
  if (table.primaryKey.length !== 1) return null
  const col = table.columns.find((c) => c.name === table.primaryKey[0])
  return col?.type === 'uuid' ? col.name : null
}
