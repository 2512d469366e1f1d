// Sync state of the integrations (the Airbyte/Nango discipline): a checkpoint per (connection, stream) is written
// in the same transaction as the data it covers, so a crash can re-read data but never skip it; a run record per
// job run; and bindings of local records to their external counterparts with what was last pushed and seen.
import { and, desc, eq, lt, sql } from 'drizzle-orm'
import type { Database, Tx } from '../../db/client.ts'
import { errorText } from '../../db/errors.ts'
import { newId } from '../../lib/ids.ts'
import { redactText } from '../../lib/redact.ts'
import { createRedactor } from './call-log.ts'
import { bindings, syncCheckpoints, syncRuns } from './schema.ts'

/** A flat object, as Nango's checkpoints: cursors, timestamps, page tokens. */
export type Checkpoint = Record<string, string | number | boolean | null>

export interface StreamRef {
  merchantId: string
  connectionId: string
  stream: string
}

export async function getCheckpoint(tx: Tx, connectionId: string, stream: string): Promise<Checkpoint | null> {
  const [row] = await tx
    .select({ checkpoint: syncCheckpoints.checkpoint })
    .from(syncCheckpoints)
    .where(and(eq(syncCheckpoints.connectionId, connectionId), eq(syncCheckpoints.stream, stream)))
  return row?.checkpoint ?? null
}

/**
 * Stores a batch and moves the stream's checkpoint past it in one transaction: `store` writes the data, and the
 * checkpoint is saved only if it succeeds. The row of the checkpoint is locked first, so two runs of one stream
 * cannot interleave their batches.
 */
export async function commitBatch<T>(db: Database['db'], ref: StreamRef, checkpoint: Checkpoint, store: (tx: Tx, previous: Checkpoint | null) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    await tx
      .insert(syncCheckpoints)
      .values({ merchantId: ref.merchantId, connectionId: ref.connectionId, stream: ref.stream, checkpoint: {} })
      .onConflictDoNothing()
    const [locked] = await tx
      .select({ checkpoint: syncCheckpoints.checkpoint })
      .from(syncCheckpoints)
      .where(and(eq(syncCheckpoints.connectionId, ref.connectionId), eq(syncCheckpoints.stream, ref.stream)))
      .for('update')
    const previous = locked && Object.keys(locked.checkpoint).length > 0 ? locked.checkpoint : null
    const result = await store(tx, previous)
    await tx
      .update(syncCheckpoints)
      .set({ checkpoint, updatedAt: sql`now()` })
      .where(and(eq(syncCheckpoints.connectionId, ref.connectionId), eq(syncCheckpoints.stream, ref.stream)))
    return result
  })
}

export async function clearCheckpoint(tx: Tx, connectionId: string, stream: string): Promise<void> {
  await tx.delete(syncCheckpoints).where(and(eq(syncCheckpoints.connectionId, connectionId), eq(syncCheckpoints.stream, stream)))
}

export interface SyncRun {
  readonly id: string
  /** Adds to a named count (fetched, stored, pushed, skipped, errors, …). */
  count(name: string, n?: number): void
  readonly counts: Readonly<Record<string, number>>
}

/**
 * Runs `body` under a run record: started when it begins, finished as succeeded or failed (with the error, redacted)
 * when it ends. The record is written on its own connection, so it survives a rollback of the body's work.
 */
export async function withSyncRun<T>(
  db: Database['db'],
  ref: StreamRef & { jobId?: string | null; secretValues?: string[] },
  at: () => Date,
  body: (run: SyncRun) => Promise<T>,
): Promise<T> {
  const id = newId()
  const counts: Record<string, number> = {}
  await db.insert(syncRuns).values({ id, merchantId: ref.merchantId, connectionId: ref.connectionId, stream: ref.stream, jobId: ref.jobId ?? null, status: 'running', startedAt: at() })
  const run: SyncRun = {
    id,
    counts,
    count(name, n = 1) {
      counts[name] = (counts[name] ?? 0) + n
    },
  }
  try {
    const result = await body(run)
    await db.update(syncRuns).set({ status: 'succeeded', counts, finishedAt: at() }).where(eq(syncRuns.id, id))
    return result
  } catch (e) {
    const message = createRedactor(ref.secretValues ?? []).text(errorText(e))
    await db.update(syncRuns).set({ status: 'failed', counts, error: message.slice(0, 2000), finishedAt: at() }).where(eq(syncRuns.id, id))
    throw e
  }
}

export async function listRuns(tx: Tx, merchantId: string, connectionId: string, opts: { stream?: string; before?: Date; limit: number }) {
  return tx
    .select()
    .from(syncRuns)
    .where(
      and(
        eq(syncRuns.merchantId, merchantId),
        eq(syncRuns.connectionId, connectionId),
        opts.stream ? eq(syncRuns.stream, opts.stream) : undefined,
        opts.before ? lt(syncRuns.startedAt, opts.before) : undefined,
      ),
    )
    .orderBy(desc(syncRuns.startedAt))
    .limit(opts.limit)
}

export async function listCheckpoints(tx: Tx, merchantId: string, connectionId: string) {
  return tx
    .select({ stream: syncCheckpoints.stream, checkpoint: syncCheckpoints.checkpoint, updatedAt: syncCheckpoints.updatedAt })
    .from(syncCheckpoints)
    .where(and(eq(syncCheckpoints.merchantId, merchantId), eq(syncCheckpoints.connectionId, connectionId)))
    .orderBy(syncCheckpoints.stream)
}

// ---------------------------------------------------------------------------------------------------------------
// Bindings

export type BindingStatus = 'ok' | 'pending' | 'error' | 'drift' | 'unmapped'
export type Binding = typeof bindings.$inferSelect

export interface BindingKey {
  merchantId: string
  connectionId: string
  entityType: string
  localId: string
}

/** Binds a local record to its external ids (by hand or by matching SKU/barcode); rebinding replaces the ids. */
export async function bind(tx: Tx, key: BindingKey, external: { externalId: string | null; externalIds?: Record<string, string>; status?: BindingStatus }, at: Date): Promise<Binding> {
  const status = external.status ?? (external.externalId ? 'pending' : 'unmapped')
  const [row] = await tx
    .insert(bindings)
    .values({ id: newId(), ...key, externalId: external.externalId, externalIds: external.externalIds ?? {}, status, createdAt: at, updatedAt: at })
    .onConflictDoUpdate({
      target: [bindings.connectionId, bindings.entityType, bindings.localId],
      set: { externalId: external.externalId, externalIds: external.externalIds ?? {}, status, lastError: null, updatedAt: at },
    })
    .returning()
  return row!
}

export async function findBinding(tx: Tx, connectionId: string, entityType: string, by: { localId: string } | { externalId: string }): Promise<Binding | null> {
  const [row] = await tx
    .select()
    .from(bindings)
    .where(
      and(
        eq(bindings.connectionId, connectionId),
        eq(bindings.entityType, entityType),
        'localId' in by ? eq(bindings.localId, by.localId) : eq(bindings.externalId, by.externalId),
      ),
    )
    .limit(1)
  return row ?? null
}

/** Locks a binding for one writer (the Odoo connector's `_lock`), so two pushes of one record cannot interleave. */
export async function lockBinding(tx: Tx, id: string): Promise<Binding | null> {
  const [row] = await tx.select().from(bindings).where(eq(bindings.id, id)).for('update')
  return row ?? null
}

/** The vendor accepted `value`: remembered as last pushed and, since the vendor now holds it, as last seen. */
export async function markPushed(tx: Tx, id: string, value: unknown, at: Date): Promise<void> {
  await tx
    .update(bindings)
    .set({ lastPushed: value, lastPushedAt: at, lastSeen: value, lastSeenAt: at, status: 'ok', lastError: null, syncedAt: at, updatedAt: at })
    .where(eq(bindings.id, id))
}

/**
 * What the vendor holds now, read back. It is drift when it differs from what we last pushed (someone changed it
 * on the vendor's side); `equals` decides (default: JSON equality).
 */
export async function markSeen(tx: Tx, id: string, value: unknown, at: Date, equals: (a: unknown, b: unknown) => boolean = jsonEqual): Promise<BindingStatus> {
  const [row] = await tx.select({ lastPushed: bindings.lastPushed, status: bindings.status }).from(bindings).where(eq(bindings.id, id)).for('update')
  if (!row) return 'unmapped'
  const status: BindingStatus = row.lastPushed === null || row.lastPushed === undefined || equals(row.lastPushed, value) ? (row.status === 'error' ? 'error' : 'ok') : 'drift'
  await tx.update(bindings).set({ lastSeen: value, lastSeenAt: at, status, syncedAt: at, updatedAt: at }).where(eq(bindings.id, id))
  return status
}

export async function markError(tx: Tx, id: string, error: string, at: Date): Promise<void> {
  await tx.update(bindings).set({ status: 'error', lastError: redactText(error).slice(0, 2000), updatedAt: at }).where(eq(bindings.id, id))
}

export async function listBindings(tx: Tx, merchantId: string, connectionId: string, opts: { entityType?: string; status?: BindingStatus; after?: string; limit: number }) {
  const rows = await tx
    .select()
    .from(bindings)
    .where(
      and(
        eq(bindings.merchantId, merchantId),
        eq(bindings.connectionId, connectionId),
        opts.entityType ? eq(bindings.entityType, opts.entityType) : undefined,
        opts.status ? eq(bindings.status, opts.status) : undefined,
        opts.after ? sql`${bindings.id} > ${opts.after}` : undefined,
      ),
    )
    .orderBy(bindings.id)
    .limit(opts.limit)
  return { items: rows, nextCursor: rows.length === opts.limit ? rows[rows.length - 1]!.id : null }
}

/** Equality of JSON values, whatever the order of object keys. */
function jsonEqual(a: unknown, b: unknown): boolean {
  const canon = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canon) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])])) : v
  return JSON.stringify(canon(a)) === JSON.stringify(canon(b))
}
