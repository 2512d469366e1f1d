// In-store devices: the registry per store (devices.manage), their jobs — test prints, reprints, display updates,
// weighings (devices.use) — and keys for a store's bridge. Receipts, drawer kicks and the change on the display are
// not asked for here: a sale or refund makes them in its own transaction, and a drawer opens without a sale only
// through POST /api/v1/registers/{id}/drawer/open (drawer.open, audited).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { DEVICE_DRIVERS, DEVICE_KINDS, TEXT_ENCODINGS } from '../../core/devices/schema.ts'
import { createDevice, getDevice, listDevices, updateDevice, type Device } from '../../core/devices/registry.ts'
import { createJob, getJob, listJobs, reprintJob, settleJob, type DeviceJob } from '../../core/devices/jobs.ts'
import { createApiKey, toPublicApiKey } from '../../core/staff/api-keys.ts'
import { getStore } from '../../core/stores/service.ts'
import { getConnectionRow } from '../../connectors/framework/connections.ts'
import { invalid } from '../../lib/errors.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { IdCursor, serialize, uuid } from '../schemas.ts'
import { keysetPage } from '../../db/page.ts'

const tags = ['Devices']
const iso = (d: Date | null) => (d ? d.toISOString() : null)

const StatusSchema = z
  .object({
    online: z.boolean().nullable(),
    coverOpen: z.boolean().optional(),
    paper: z.enum(['ok', 'near_end', 'end']).optional(),
    drawerOpen: z.boolean().optional(),
    problem: z.string().nullable(),
    checkedAt: z.string().optional(),
  })
  .loose()
  .openapi('DeviceStatus')

const DeviceSchema = z
  .object({
    id: uuid(),
    storeId: uuid(),
    registerId: uuid().nullable(),
    name: z.string(),
    kind: z.enum(DEVICE_KINDS),
    driver: z.enum(DEVICE_DRIVERS),
    address: z.string(),
    route: z.enum(['bridge', 'hub']),
    paperWidth: z.number().int().nullable(),
    encoding: z.string().nullable(),
    options: z.record(z.string(), z.unknown()),
    printerId: uuid().nullable(),
    categoryIds: z.array(uuid()),
    connectionId: uuid().nullable(),
    enabled: z.boolean(),
    status: StatusSchema.nullable(),
    statusAt: z.string().nullable(),
    createdAt: z.string(),
  })
  .openapi('Device')

const toDevice = (d: Device) => ({
  id: d.id,
  storeId: d.storeId,
  registerId: d.registerId,
  name: d.name,
  kind: d.kind,
  driver: d.driver as (typeof DEVICE_DRIVERS)[number],
  address: d.address,
  route: d.route,
  paperWidth: d.paperWidth,
  encoding: d.encoding,
  options: d.options,
  printerId: d.printerId,
  categoryIds: d.categoryIds,
  connectionId: d.connectionId,
  enabled: d.enabled,
  status: (d.status as z.infer<typeof StatusSchema> | null) ?? null,
  statusAt: iso(d.statusAt),
  createdAt: d.createdAt.toISOString(),
})

const DeviceFields = {
  registerId: uuid().nullable().optional().openapi({ description: 'The till it serves; omit for a device shared by the store' }),
  name: z.string().trim().min(1).max(100),
  driver: z.enum(DEVICE_DRIVERS).openapi({ description: 'escpos_tcp (raw TCP 9100), epos_http (Epson ePOS-Print), display_tcp/display_serial, scale_tcp/scale_serial, drawer_via_printer, stripe_terminal' }),
  address: z.string().max(500).optional().openapi({ description: 'host:port, the ePOS URL, a serial path, or a Stripe reader id (tmr_…)' }),
  route: z.enum(['bridge', 'hub']).optional().openapi({ description: 'bridge (default): driven by the store’s bridge; hub: the hub reaches it directly' }),
  paperWidth: z.union([z.literal(58), z.literal(80)]).nullable().optional(),
  encoding: z.enum(TEXT_ENCODINGS).nullable().optional().openapi({ description: 'gbk (default for printers), gb18030, big5, …' }),
  columns: z.number().int().nullable().optional(),
  cjkMode: z.boolean().nullable().optional().openapi({ description: 'Send FS & (Chinese double-byte mode); default on for GBK/GB18030/Big5' }),
  drawerPin: z.union([z.literal(2), z.literal(5)]).nullable().optional(),
  printerId: uuid().nullable().optional().openapi({ description: 'A cash drawer: the printer that kicks it' }),
  categoryIds: z.array(uuid()).max(200).optional().openapi({ description: 'A kitchen printer: the categories (with their children) it prints' }),
  connectionId: uuid().nullable().optional().openapi({ description: 'A card terminal: the Stripe connection that drives it' }),
  scaleFormat: z.enum(['cas22', 'generic']).nullable().optional(),
  enabled: z.boolean().optional(),
}

/** Names integrators use for our drivers. */
const DRIVER_ALIASES: Record<string, (typeof DEVICE_DRIVERS)[number]> = { raw_tcp: 'escpos_tcp', tcp: 'escpos_tcp', escpos: 'escpos_tcp', epos: 'epos_http', epos_xml: 'epos_http' }
const DriverField = z.preprocess((v) => (typeof v === 'string' ? (DRIVER_ALIASES[v] ?? v) : v), DeviceFields.driver)

const CreateDevice = z
  .object({
    storeId: uuid(),
    kind: z.enum(DEVICE_KINDS),
    ...DeviceFields,
    name: DeviceFields.name.optional().openapi({ description: 'Default: the kind and the address' }),
    driver: DriverField.optional().openapi({ description: 'Default per kind: escpos_tcp for printers, drawer_via_printer, display_tcp, scale_tcp, stripe_terminal' }),
  })
  .strict()
  .openapi('NewDevice')

const DEFAULT_DRIVER: Record<(typeof DEVICE_KINDS)[number], (typeof DEVICE_DRIVERS)[number]> = {
  receipt_printer: 'escpos_tcp',
  kitchen_printer: 'escpos_tcp',
  label_printer: 'escpos_tcp',
  cash_drawer: 'drawer_via_printer',
  customer_display: 'display_tcp',
  scale: 'scale_tcp',
  card_terminal: 'stripe_terminal',
}
const ChangeDevice = z.object({ ...DeviceFields, name: DeviceFields.name.optional(), driver: DriverField.optional() }).strict()

const JobSchema = z
  .object({
    id: uuid(),
    storeId: uuid(),
    deviceId: uuid(),
    seq: z.number().int(),
    action: z.enum(['print', 'drawer', 'display', 'weigh']),
    idempotencyKey: z.string(),
    document: z.record(z.string(), z.unknown()),
    source: z.string(),
    reprintOf: uuid().nullable(),
    state: z.enum(['queued', 'sent', 'done', 'failed', 'unknown', 'dropped']),
    attempts: z.number().int(),
    reason: z.string().nullable(),
    message: z.string().nullable(),
    retryable: z.boolean(),
    settledBy: z.string().nullable(),
    result: z.record(z.string(), z.unknown()).nullable(),
    preview: z.string().nullable(),
    expiresAt: z.string().nullable(),
    createdAt: z.string(),
    sentAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
  })
  .openapi('DeviceJob')

const toJob = (j: DeviceJob) => ({
  id: j.id,
  storeId: j.storeId,
  deviceId: j.deviceId,
  seq: j.seq,
  action: j.action,
  idempotencyKey: j.idempotencyKey,
  document: j.document as Record<string, unknown>,
  source: j.source,
  reprintOf: j.reprintOf,
  state: j.state,
  attempts: j.attempts,
  reason: j.reason,
  message: j.message,
  retryable: j.retryable,
  settledBy: j.settledBy,
  result: j.result ?? null,
  preview: j.preview,
  expiresAt: iso(j.expiresAt),
  createdAt: j.createdAt.toISOString(),
  sentAt: iso(j.sentAt),
  finishedAt: iso(j.finishedAt),
})

const create = defineRoute({
  method: 'post',
  path: '/api/v1/devices',
  tags,
  summary: 'Register a device',
  description:
    'Receipt, kitchen and label printers (escpos_tcp or epos_http, paper 58/80 mm, encoding), a cash drawer kicked through a printer, a customer display, a scale, a card terminal. The driver must fit the kind and the address the driver.',
  access: 'devices.manage',
  request: { body: jsonBody(CreateDevice) },
  responses: { 201: json(DeviceSchema, 'Registered') },
})

const list = defineRoute({
  method: 'get',
  path: '/api/v1/devices',
  tags,
  summary: 'List devices with their last status',
  access: 'devices.use',
  request: { query: z.object({ storeId: uuid().optional() }) },
  responses: { 200: json(z.object({ items: z.array(DeviceSchema) })) },
})

const show = defineRoute({ method: 'get', path: '/api/v1/devices/{id}', tags, summary: 'A device', access: 'devices.use', request: { params: IdParam }, responses: { 200: json(DeviceSchema) } })

const change = defineRoute({
  method: 'patch',
  path: '/api/v1/devices/{id}',
  tags,
  summary: 'Change or disable a device',
  access: 'devices.manage',
  request: { params: IdParam, body: jsonBody(ChangeDevice) },
  responses: { 200: json(DeviceSchema) },
})

const NewJob = z
  .discriminatedUnion('action', [
    z.object({ action: z.literal('test_print') }).strict(),
    z.object({ action: z.literal('display'), lines: z.tuple([z.string().max(40), z.string().max(40)]) }).strict(),
    z.object({ action: z.literal('weigh') }).strict(),
  ])
  .openapi('NewDeviceJob')

const createJobRoute = defineRoute({
  method: 'post',
  path: '/api/v1/devices/{id}/jobs',
  tags,
  summary: 'Print a test page, show text on the display, or read the scale',
  description:
    'Queued for the device (through the store’s bridge or by the hub); follow it at GET /api/v1/device-jobs/{id}. With an Idempotency-Key header the same key returns the same job. A drawer is never kicked from here.',
  access: 'devices.use',
  request: { params: IdParam, body: jsonBody(NewJob) },
  responses: { 202: json(JobSchema, 'Queued') },
})

const listJobsRoute = defineRoute({
  method: 'get',
  path: '/api/v1/device-jobs',
  tags,
  summary: 'Device jobs, newest first',
  access: 'devices.use',
  request: {
    query: z.object({
      storeId: uuid().optional(),
      deviceId: uuid().optional(),
      state: z.enum(['queued', 'sent', 'done', 'failed', 'unknown', 'dropped']).optional(),
      limit: z.coerce.number().int().min(1).max(500).default(50),
      cursor: IdCursor(),
    }),
  },
  responses: { 200: json(z.object({ items: z.array(JobSchema), nextCursor: z.string().nullable() })) },
})

const showJob = defineRoute({ method: 'get', path: '/api/v1/device-jobs/{id}', tags, summary: 'A device job', access: 'devices.use', request: { params: IdParam }, responses: { 200: json(JobSchema) } })

const reprint = defineRoute({
  method: 'post',
  path: '/api/v1/device-jobs/{id}/reprint',
  tags,
  summary: 'Print a document again, marked as a reprint',
  description: 'A new job under a new key, marked REPRINT on paper; the original is never sent twice. Audited as receipt.reprinted.',
  access: 'devices.use',
  request: { params: IdParam, body: jsonBody(z.object({ deviceId: uuid().optional().openapi({ description: 'Another printer of the store' }) }).strict()) },
  responses: { 201: json(JobSchema, 'Queued'), 200: json(JobSchema, 'The reprint this Idempotency-Key already made') },
})

const settle = defineRoute({
  method: 'post',
  path: '/api/v1/device-jobs/{id}/settle',
  tags,
  summary: 'Say whether a job with an unknown outcome printed',
  access: 'devices.manage',
  request: { params: IdParam, body: jsonBody(z.object({ printed: z.boolean(), note: z.string().max(500).optional() }).strict()) },
  responses: { 200: json(JobSchema) },
})

const bridgeKey = defineRoute({
  method: 'post',
  path: '/api/v1/stores/{id}/bridge-keys',
  tags,
  summary: 'Create a key for the store’s bridge',
  description: 'Scoped to this store’s devices: it opens the bridge link (`tillbridge bridge --hub URL --key KEY --store ID`) and is refused on every other route. Shown once.',
  access: 'devices.manage',
  request: { params: IdParam, body: jsonBody(z.object({ name: z.string().trim().min(1).max(200) }).strict()) },
  responses: { 201: json(z.object({ key: z.string(), apiKey: z.object({ id: uuid(), name: z.string(), storeId: uuid().nullable(), prefix: z.string(), createdAt: z.string() }) }), 'Created') },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const body = c.req.valid('json')
    if (body.connectionId) await getConnectionRow(c.var.db, c.var.principal.merchantId, body.connectionId)
    const driver = body.driver ?? DEFAULT_DRIVER[body.kind]
    const name = body.name ?? `${body.kind.replace(/_/g, ' ')}${body.address ? ` ${body.address}` : ''}`.slice(0, 100)
    return c.json(toDevice(await createDevice(c.var.db, c.var.principal, { ...body, driver, name })), 201)
  })
  app.openapi(list, async (c) => c.json({ items: (await listDevices(c.var.db, c.var.principal.merchantId, c.req.valid('query').storeId)).map(toDevice) }, 200))
  app.openapi(show, async (c) => c.json(toDevice(await getDevice(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(change, async (c) => {
    const body = c.req.valid('json')
    if (body.connectionId) await getConnectionRow(c.var.db, c.var.principal.merchantId, body.connectionId)
    return c.json(toDevice(await updateDevice(c.var.db, c.var.principal, c.req.valid('param').id, body)), 200)
  })
  app.openapi(createJobRoute, async (c) => {
    const body = c.req.valid('json')
    const deviceId = c.req.valid('param').id
    const key = c.req.header('idempotency-key') ?? `api:${crypto.randomUUID()}`
    const now = c.var.hub.clock()
    const input =
      body.action === 'test_print'
        ? { action: 'print' as const, document: { type: 'test_page' as const } }
        : body.action === 'display'
          ? { action: 'display' as const, document: { type: 'display' as const, screen: 'text' as const, lines: body.lines } }
          : { action: 'weigh' as const, document: { type: 'weigh' as const } }
    const { job } = await createJob(c.var.db, c.var.principal, { deviceId, ...input, idempotencyKey: `api:${deviceId}:${key}`, source: 'api' }, now)
    return c.json(toJob(job), 202)
  })
  app.openapi(listJobsRoute, async (c) => {
    const { cursor, limit, ...q } = c.req.valid('query')
    const page = keysetPage(await listJobs(c.var.db, { merchantId: c.var.principal.merchantId, ...q, after: cursor, limit: limit + 1 }), limit, (j) => j.id)
    return c.json({ items: page.items.map(toJob), nextCursor: page.nextCursor }, 200)
  })
  app.openapi(showJob, async (c) => c.json(toJob(await getJob(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)), 200))
  app.openapi(reprint, async (c) => {
    const key = c.req.header('idempotency-key')
    // The job's own key names the job reprinted, as the dashboard's does: a key used again for another job, once the
    // request's own key has expired, is a new reprint of that job.
    const id = c.req.valid('param').id
    const { job, created } = await reprintJob(c.var.db, c.var.principal, id, { ...c.req.valid('json'), idempotencyKey: key ? `reprint-key:${id.toLowerCase()}:${key}` : undefined }, c.var.hub.clock())
    return c.json(toJob(job), created ? 201 : 200)
  })
  app.openapi(settle, async (c) => c.json(toJob(await settleJob(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 200))
  app.openapi(bridgeKey, async (c) => {
    const store = await getStore(c.var.db, c.var.principal.merchantId, c.req.valid('param').id)
    if (store.status !== 'active') throw invalid('store_closed', `store ${store.code} is closed`)
    const { key, apiKey } = await createApiKey(c.var.db, c.var.principal, { name: c.req.valid('json').name, role: 'cashier', storeId: store.id })
    const pub = serialize(toPublicApiKey(apiKey))
    c.set('secretShownOnce', true)
    return c.json({ key, apiKey: { id: pub.id, name: pub.name, storeId: pub.storeId, prefix: pub.prefix, createdAt: pub.createdAt } }, 201)
  })
}
