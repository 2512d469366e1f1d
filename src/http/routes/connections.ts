// Connectors (what the hub can talk to) and connections (a merchant's configured instances of them): create,
// change, enable/disable, delete and test. Secrets go in, never come out: the API shows them as set/unset.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import { connectorRegistry } from '../../connectors/index.ts'
import { capabilityNames, configJsonSchema, FAMILIES, secretFields, type AnyConnector } from '../../connectors/framework/define.ts'
import {
  createConnection,
  deleteConnection,
  getConnectionRow,
  listConnections,
  loadConnection,
  recordCheck,
  updateConnection,
  viewConnection,
  type ConnectionView,
} from '../../connectors/framework/connections.ts'
import { runCheck } from '../../connectors/framework/context.ts'
import { listBindings, listCheckpoints, listRuns } from '../../connectors/framework/sync-state.ts'
import { recordAudit } from '../../core/staff/audit.ts'
import type { AppEnv } from '../env.ts'
import type { Tx } from '../../db/client.ts'
import { queueRecover } from '../../jobs/stock-sync.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'

const tags = ['Connections']
const Family = z.enum(FAMILIES)

const ConnectorSchema = z
  .object({
    id: z.string(),
    family: Family,
    title: z.string(),
    description: z.string().nullable(),
    sandbox: z.boolean(),
    capabilities: z.array(z.string()),
    webhooks: z.boolean().openapi({ description: 'Whether the connector receives webhooks at POST /webhooks/{connectionId}' }),
    secretFields: z.array(z.string()),
    configSchema: z.record(z.string(), z.unknown()).openapi({ description: 'JSON Schema of the config; secret fields carry `x-secret: true` and `writeOnly: true`' }),
  })
  .openapi('Connector')

const connectorView = (c: AnyConnector): z.infer<typeof ConnectorSchema> => ({
  id: c.id,
  family: c.family,
  title: c.title,
  description: c.description ?? null,
  sandbox: c.sandbox ?? false,
  capabilities: capabilityNames(c),
  webhooks: c.webhook !== undefined,
  secretFields: secretFields(c.config),
  configSchema: configJsonSchema(c),
})

const ConnectionSchema = z
  .object({
    id: uuid(),
    connectorId: z.string(),
    family: z.string(),
    name: z.string(),
    config: z.record(z.string(), z.unknown()).openapi({ description: 'The config without its secret fields' }),
    secrets: z.record(z.string(), z.enum(['set', 'unset'])),
    enabled: z.boolean(),
    status: z.enum(['untested', 'ok', 'failing']),
    lastCheckAt: z.string().nullable(),
    lastCheck: z.record(z.string(), z.unknown()).nullable(),
    webhookUrl: z.string().nullable().openapi({ description: 'Where the vendor should send webhooks, relative to the hub' }),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi('Connection')

const out = (v: ConnectionView): z.infer<typeof ConnectionSchema> => ({
  ...v,
  status: v.status as 'untested' | 'ok' | 'failing',
  lastCheckAt: v.lastCheckAt?.toISOString() ?? null,
  webhookUrl: connectorRegistry.get(v.connectorId)?.webhook ? `/webhooks/${v.id}` : null,
  createdAt: v.createdAt.toISOString(),
  updatedAt: v.updatedAt.toISOString(),
})

const Name = z.string().trim().min(1).max(100)
const Config = z.record(z.string(), z.unknown())

const listConnectors = defineRoute({
  method: 'get',
  path: '/api/v1/connectors',
  tags,
  summary: 'The connectors this hub ships, with their capabilities and config schema',
  access: 'authenticated',
  request: { query: z.object({ family: Family.optional() }) },
  responses: { 200: json(z.object({ items: z.array(ConnectorSchema) })) },
})
const create = defineRoute({
  method: 'post',
  path: '/api/v1/connections',
  tags,
  summary: 'Connect a third party',
  description: 'The config is validated against the connector’s schema; secret fields are encrypted at rest and never returned.',
  access: 'connections.manage',
  request: { body: jsonBody(z.object({ connectorId: z.string().min(1).max(50), name: Name, config: Config, enabled: z.boolean().optional() }).strict()) },
  responses: { 201: json(ConnectionSchema, 'Created') },
})
const list = defineRoute({
  method: 'get',
  path: '/api/v1/connections',
  tags,
  summary: 'The merchant’s connections',
  access: 'connections.read',
  request: { query: z.object({ connectorId: z.string().max(50).optional(), family: Family.optional() }) },
  responses: { 200: json(z.object({ items: z.array(ConnectionSchema) })) },
})
const get = defineRoute({ method: 'get', path: '/api/v1/connections/{id}', tags, summary: 'One connection', access: 'connections.read', request: { params: IdParam }, responses: { 200: json(ConnectionSchema) } })
const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/connections/{id}',
  tags,
  summary: 'Rename, reconfigure, enable or disable a connection',
  description: 'Config fields are merged into the stored config: a secret left out keeps its value, a field set to null is cleared. A changed config is untested until checked again.',
  access: 'connections.manage',
  request: { params: IdParam, body: jsonBody(z.object({ name: Name, config: z.record(z.string(), z.unknown().nullable()), enabled: z.boolean() }).partial().strict()) },
  responses: { 200: json(ConnectionSchema) },
})
const remove = defineRoute({
  method: 'delete',
  path: '/api/v1/connections/{id}',
  tags,
  summary: 'Delete a connection',
  description: 'The connection stops working at once; its call log, sync runs and received webhooks stay for the record.',
  access: 'connections.manage',
  request: { params: IdParam },
  responses: { 204: { description: 'Deleted' } },
})
const test = defineRoute({
  method: 'post',
  path: '/api/v1/connections/{id}/test',
  tags,
  summary: 'Check that a connection works',
  description:
    'Runs the connector’s own check against the vendor (sign-in, a harmless read) and records the verdict on the connection, unless its config was changed while the check ran (recorded: false; the new config stays untested).',
  access: 'connections.manage',
  transaction: false,
  request: { params: IdParam },
  responses: { 200: json(z.object({ ok: z.boolean(), message: z.string(), details: z.record(z.string(), z.unknown()).optional(), checkedAt: z.string(), recorded: z.boolean() }).openapi('ConnectionCheck')) },
})

const SyncRunSchema = z
  .object({
    id: uuid(),
    stream: z.string(),
    jobId: z.string().nullable(),
    status: z.enum(['running', 'succeeded', 'failed']),
    counts: z.record(z.string(), z.number()),
    error: z.string().nullable(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
  })
  .openapi('SyncRun')
const sync = defineRoute({
  method: 'get',
  path: '/api/v1/connections/{id}/sync',
  tags,
  summary: 'Checkpoints and recent runs of a connection’s streams',
  access: 'connections.read',
  request: { params: IdParam, query: z.object({ stream: z.string().max(100).optional(), before: z.iso.datetime({ offset: true }).optional(), limit: z.coerce.number().int().min(1).max(200).default(50) }) },
  responses: {
    200: json(
      z.object({
        checkpoints: z.array(z.object({ stream: z.string(), checkpoint: z.record(z.string(), z.unknown()), updatedAt: z.string() })),
        runs: z.array(SyncRunSchema),
      }),
    ),
  },
})
const BindingStatus = z.enum(['ok', 'pending', 'error', 'drift', 'unmapped'])
const BindingSchema = z
  .object({
    id: uuid(),
    entityType: z.string(),
    localId: z.string(),
    externalId: z.string().nullable(),
    externalIds: z.record(z.string(), z.string()),
    status: BindingStatus,
    lastPushed: z.unknown(),
    lastPushedAt: z.string().nullable(),
    lastSeen: z.unknown(),
    lastSeenAt: z.string().nullable(),
    lastError: z.string().nullable(),
    syncedAt: z.string().nullable(),
  })
  .openapi('Binding')
const bindingsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/connections/{id}/bindings',
  tags,
  summary: 'Local records bound to their counterparts in the connected system',
  access: 'connections.read',
  request: { params: IdParam, query: z.object({ entityType: z.string().max(50).optional(), status: BindingStatus.optional(), limit: z.coerce.number().int().min(1).max(200).default(50), cursor: uuid().optional() }) },
  responses: { 200: json(z.object({ items: z.array(BindingSchema), nextCursor: z.string().nullable() })) },
})

const iso = (d: Date | null) => d?.toISOString() ?? null

/**
 * A marketplace connection that is new, enabled again or given new credentials recovers: its webhook subscriptions
 * are asserted, orders polled and stock audited (whatever happened while it was not connected).
 */
async function reconnected(tx: Tx, row: { id: string; merchantId: string; connectorId: string; enabled: boolean }) {
  if (row.enabled && connectorRegistry.get(row.connectorId)?.family === 'marketplace') await queueRecover(tx, { merchantId: row.merchantId, connectionId: row.id })
}

export function register(app: OpenAPIHono<AppEnv>) {
  const view = (c: { var: AppEnv['Variables'] }, row: Parameters<typeof viewConnection>[2]) => out(viewConnection(connectorRegistry, c.var.hub.secrets, row))

  app.openapi(listConnectors, (c) => {
    const { family } = c.req.valid('query')
    return c.json({ items: connectorRegistry.all().filter((x) => !family || x.family === family).map(connectorView) }, 200)
  })
  app.openapi(create, async (c) => {
    const b = c.req.valid('json')
    const row = await createConnection(c.var.db, connectorRegistry, c.var.hub.secrets, c.var.principal.merchantId, b, c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: 'connection.created', entityType: 'connection', entityId: row.id, details: { connectorId: row.connectorId, name: row.name } })
    await reconnected(c.var.db, row)
    return c.json(view(c, row), 201)
  })
  app.openapi(list, async (c) => {
    const q = c.req.valid('query')
    const rows = await listConnections(c.var.db, c.var.principal.merchantId, q, connectorRegistry)
    return c.json({ items: rows.map((r) => view(c, r)) }, 200)
  })
  app.openapi(get, async (c) => c.json(view(c, await getConnectionRow(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(patch, async (c) => {
    const b = c.req.valid('json')
    const row = await updateConnection(c.var.db, connectorRegistry, c.var.hub.secrets, c.var.principal.merchantId, c.req.valid('param').id, b, c.var.hub.clock())
    const changed = { ...b, config: b.config ? Object.keys(b.config) : undefined }
    await recordAudit(c.var.db, c.var.principal, { action: 'connection.changed', entityType: 'connection', entityId: row.id, details: changed })
    if (b.enabled === true || b.config) await reconnected(c.var.db, row)
    return c.json(view(c, row), 200)
  })
  app.openapi(remove, async (c) => {
    const id = c.req.valid('param').id
    await deleteConnection(c.var.db, c.var.principal.merchantId, id, c.var.hub.clock())
    await recordAudit(c.var.db, c.var.principal, { action: 'connection.deleted', entityType: 'connection', entityId: id })
    return c.body(null, 204)
  })
  app.openapi(sync, async (c) => {
    const merchantId = c.var.principal.merchantId
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    await getConnectionRow(c.var.db, merchantId, id)
    const checkpoints = await listCheckpoints(c.var.db, merchantId, id)
    const runs = await listRuns(c.var.db, merchantId, id, { stream: q.stream, before: q.before ? new Date(q.before) : undefined, limit: q.limit })
    return c.json(
      {
        checkpoints: checkpoints.map((k) => ({ stream: k.stream, checkpoint: k.checkpoint, updatedAt: k.updatedAt.toISOString() })),
        runs: runs.map((r) => ({ id: r.id, stream: r.stream, jobId: r.jobId, status: r.status as 'running', counts: r.counts, error: r.error, startedAt: r.startedAt.toISOString(), finishedAt: iso(r.finishedAt) })),
      },
      200,
    )
  })
  app.openapi(bindingsRoute, async (c) => {
    const merchantId = c.var.principal.merchantId
    const { id } = c.req.valid('param')
    const q = c.req.valid('query')
    await getConnectionRow(c.var.db, merchantId, id)
    const page = await listBindings(c.var.db, merchantId, id, { entityType: q.entityType, status: q.status, after: q.cursor, limit: q.limit })
    return c.json(
      {
        items: page.items.map((b) => ({
          id: b.id,
          entityType: b.entityType,
          localId: b.localId,
          externalId: b.externalId,
          externalIds: b.externalIds,
          status: b.status as 'ok',
          lastPushed: b.lastPushed,
          lastPushedAt: iso(b.lastPushedAt),
          lastSeen: b.lastSeen,
          lastSeenAt: iso(b.lastSeenAt),
          lastError: b.lastError,
          syncedAt: iso(b.syncedAt),
        })),
        nextCursor: page.nextCursor,
      },
      200,
    )
  })
  app.openapi(test, async (c) => {
    const hub = c.var.hub
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, c.req.valid('param').id, c.var.principal.merchantId)
    const verdict = await runCheck(hub, loaded, c.req.raw.signal)
    const at = hub.clock()
    const recorded = await recordCheck(hub.database.db, loaded.row.id, verdict, at, { configVersion: loaded.row.configVersion })
    return c.json({ ...verdict, checkedAt: at.toISOString(), recorded }, 200)
  })
}
