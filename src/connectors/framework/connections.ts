// Connections: a configured instance of a connector for a merchant. The config is validated against the
// connector's schema; its secret fields are sealed with the hub's secret box and never leave it again except
// into the connector's own calls.
import { and, asc, eq, isNull } from 'drizzle-orm'
import type { z } from 'zod'
import type { Tx } from '../../db/client.ts'
import { pgError } from '../../db/errors.ts'
import { badRequest, conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId, isUuid } from '../../lib/ids.ts'
import type { SecretBox } from '../../lib/secrets.ts'
import { secretFields, type AnyConnector } from './define.ts'
import type { ConnectorRegistry } from './registry.ts'
import { connections } from './schema.ts'

export type ConnectionRow = typeof connections.$inferSelect

/** A connection as the API shows it: secrets only as set/unset. */
export interface ConnectionView {
  id: string
  connectorId: string
  family: string
  name: string
  config: Record<string, unknown>
  secrets: Record<string, 'set' | 'unset'>
  enabled: boolean
  status: string
  lastCheckAt: Date | null
  lastCheck: Record<string, unknown> | null
  createdAt: Date
  updatedAt: Date
}

/** A connection opened for use: the connector and its full config, secrets included. */
export interface LoadedConnection {
  row: ConnectionRow
  connector: AnyConnector
  config: Record<string, unknown>
  /** The secret values, for redaction of anything logged about this connection. */
  secretValues: string[]
}

function connectorOf(registry: ConnectorRegistry, id: string): AnyConnector {
  const c = registry.get(id)
  if (!c) throw invalid('unknown_connector', `There is no connector "${id}"; GET /api/v1/connectors lists them`)
  return c
}

function validateConfig(connector: AnyConnector, config: unknown): Record<string, unknown> {
  const parsed = connector.config.safeParse(config)
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({ path: ['config', ...i.path.map(String)].join('.'), message: i.message }))
    throw badRequest('invalid_config', `The config does not fit connector ${connector.id}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues })
  }
  return parsed.data as Record<string, unknown>
}

function split(connector: AnyConnector, full: Record<string, unknown>) {
  const names = new Set(secretFields(connector.config))
  const plain: Record<string, unknown> = {}
  const secret: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(full)) (names.has(k) ? secret : plain)[k] = v
  return { plain, secret }
}

function unseal(secrets: SecretBox, row: ConnectionRow): Record<string, unknown> {
  return row.sealedSecrets ? (JSON.parse(secrets.decrypt(row.sealedSecrets)) as Record<string, unknown>) : {}
}

export function viewConnection(registry: ConnectorRegistry, secrets: SecretBox, row: ConnectionRow): ConnectionView {
  const connector = registry.get(row.connectorId)
  const stored = unseal(secrets, row)
  const names = connector ? secretFields(connector.config) : Object.keys(stored)
  return {
    id: row.id,
    connectorId: row.connectorId,
    family: connector?.family ?? 'unknown',
    name: row.name,
    config: row.config,
    secrets: Object.fromEntries(names.map((n) => [n, stored[n] === undefined || stored[n] === null || stored[n] === '' ? 'unset' : 'set'])),
    enabled: row.enabled,
    status: row.status,
    lastCheckAt: row.lastCheckAt,
    lastCheck: row.lastCheck,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  }
}

export interface ConnectionInput {
  connectorId: string
  name: string
  config: Record<string, unknown>
  enabled?: boolean
}

const nameTaken = (e: unknown, name: string) => {
  if (pgError(e)?.code === '23505') return conflict('connection_name_taken', `A connection named "${name}" already exists`)
  return e
}

export async function createConnection(tx: Tx, registry: ConnectorRegistry, secrets: SecretBox, merchantId: string, input: ConnectionInput, at: Date): Promise<ConnectionRow> {
  const connector = connectorOf(registry, input.connectorId)
  const { plain, secret } = split(connector, validateConfig(connector, input.config))
  try {
    const [row] = await tx
      .insert(connections)
      .values({
        id: newId(),
        merchantId,
        connectorId: connector.id,
        name: input.name,
        config: plain,
        sealedSecrets: secrets.encrypt(JSON.stringify(secret)),
        enabled: input.enabled ?? true,
        createdAt: at,
        updatedAt: at,
      })
      .returning()
    return row!
  } catch (e) {
    throw nameTaken(e, input.name)
  }
}

export interface ConnectionPatch {
  name?: string
  /** Merged into the stored config; a secret field left out keeps its value, one set to null is cleared. */
  config?: Record<string, unknown>
  enabled?: boolean
}

export async function updateConnection(tx: Tx, registry: ConnectorRegistry, secrets: SecretBox, merchantId: string, id: string, patch: ConnectionPatch, at: Date): Promise<ConnectionRow> {
  const row = await getConnectionRow(tx, merchantId, id, { forUpdate: true })
  const connector = connectorOf(registry, row.connectorId)
  const set: Partial<typeof connections.$inferInsert> = { updatedAt: at }
  if (patch.name !== undefined) set.name = patch.name
  if (patch.enabled !== undefined) set.enabled = patch.enabled
  if (patch.config !== undefined) {
    const merged: Record<string, unknown> = { ...row.config, ...unseal(secrets, row) }
    for (const [k, v] of Object.entries(patch.config)) {
      if (v === null) delete merged[k]
      else merged[k] = v
    }
    const { plain, secret } = split(connector, validateConfig(connector, merged))
    set.config = plain
    set.sealedSecrets = secrets.encrypt(JSON.stringify(secret))
    // A changed config has not been checked yet, and a check of the one before says nothing of it.
    set.status = 'untested'
    set.configVersion = row.configVersion + 1
  }
  try {
    const [updated] = await tx.update(connections).set(set).where(eq(connections.id, row.id)).returning()
    return updated!
  } catch (e) {
    throw nameTaken(e, patch.name ?? row.name)
  }
}

/**
 * Replaces secret fields of a connection with values its vendor issued (a rotated OAuth refresh token), under the
 * row's lock. The status is kept: the credentials are the vendor's own continuation of the ones checked.
 */
export async function rotateSecrets(tx: Tx, registry: ConnectorRegistry, secrets: SecretBox, id: string, patch: Record<string, string>, at: Date): Promise<void> {
  const [row] = await tx.select().from(connections).where(eq(connections.id, id)).for('update')
  if (!row) throw notFound('connection', id)
  const connector = connectorOf(registry, row.connectorId)
  const names = new Set(secretFields(connector.config))
  const stray = Object.keys(patch).find((k) => !names.has(k))
  if (stray) throw new Error(`connector ${connector.id}: ${stray} is not a secret field and cannot be rotated`)
  const { secret } = split(connector, validateConfig(connector, { ...row.config, ...unseal(secrets, row), ...patch }))
  await tx.update(connections).set({ sealedSecrets: secrets.encrypt(JSON.stringify(secret)), updatedAt: at }).where(eq(connections.id, id))
}

/** Deleting keeps the row (its call log, runs and webhooks still point to it) but disables and hides it. */
export async function deleteConnection(tx: Tx, merchantId: string, id: string, at: Date): Promise<void> {
  const row = await getConnectionRow(tx, merchantId, id, { forUpdate: true })
  await tx.update(connections).set({ deletedAt: at, enabled: false, updatedAt: at }).where(eq(connections.id, row.id))
}

export async function getConnectionRow(tx: Tx, merchantId: string, id: string, opts: { forUpdate?: boolean } = {}): Promise<ConnectionRow> {
  if (!isUuid(id)) throw notFound('connection', id)
  const q = tx
    .select()
    .from(connections)
    .where(and(eq(connections.id, id), eq(connections.merchantId, merchantId), isNull(connections.deletedAt)))
  const [row] = opts.forUpdate ? await q.for('update') : await q
  if (!row) throw notFound('connection', id)
  return row
}

export async function listConnections(tx: Tx, merchantId: string, filter: { connectorId?: string; family?: string } = {}, registry?: ConnectorRegistry): Promise<ConnectionRow[]> {
  const rows = await tx
    .select()
    .from(connections)
    .where(and(eq(connections.merchantId, merchantId), isNull(connections.deletedAt), filter.connectorId ? eq(connections.connectorId, filter.connectorId) : undefined))
    .orderBy(asc(connections.createdAt))
  return filter.family && registry ? rows.filter((r) => registry.get(r.connectorId)?.family === filter.family) : rows
}

/** Opens a connection for use. Without `merchantId` (inbound webhooks) the connection id alone finds it. */
export async function loadConnection(tx: Tx, registry: ConnectorRegistry, secrets: SecretBox, id: string, merchantId?: string): Promise<LoadedConnection> {
  if (!isUuid(id)) throw notFound('connection', id)
  const [row] = await tx
    .select()
    .from(connections)
    .where(and(eq(connections.id, id), merchantId ? eq(connections.merchantId, merchantId) : undefined, isNull(connections.deletedAt)))
  if (!row) throw notFound('connection', id)
  const connector = registry.get(row.connectorId)
  if (!connector) throw conflict('connector_unavailable', `Connection ${id} uses connector "${row.connectorId}", which this hub does not have`)
  const secret = unseal(secrets, row)
  const config = { ...row.config, ...secret }
  const secretValues = Object.values(secret).filter((v): v is string => typeof v === 'string' && v.length >= 4)
  return { row, connector, config, secretValues }
}

/**
 * Keeps a check's verdict as the connection's status. With `configVersion` (the row as it was checked), only while
 * that config is still the connection's: a check that ran while a person changed the config checked the old one, and
 * the new one stays untested. Returns whether it was kept.
 */
export async function recordCheck(tx: Tx, id: string, verdict: { ok: boolean; message: string; details?: unknown }, at: Date, opts: { configVersion?: number } = {}): Promise<boolean> {
  const kept = await tx
    .update(connections)
    .set({ status: verdict.ok ? 'ok' : 'failing', lastCheckAt: at, lastCheck: verdict as Record<string, unknown> })
    .where(and(eq(connections.id, id), opts.configVersion === undefined ? undefined : eq(connections.configVersion, opts.configVersion)))
    .returning({ id: connections.id })
  return kept.length > 0
}

export type ConfigOf<C extends AnyConnector> = z.infer<C['config']>
