// The device registry: what each store has (printers, drawer, display, scale, card terminal), how to reach it and
// how it lays text out. Registration checks that the pieces fit together — a driver that can drive the kind, an
// address in the driver's form, a drawer kicked through a printer of the same store, kitchen routes to categories
// that exist — so a device job never discovers a bad registration at the till.
import { and, asc, eq, inArray, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import { categories } from '../catalog/schema.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { getRegister, getStore } from '../stores/service.ts'
import { deviceJobs, devices, type DeviceDriver, type DeviceStatusLike, type DeviceKind, type DeviceRoute, type TextEncoding } from './schema.ts'
import { dropWaiting } from './jobs.ts'

export type Device = typeof devices.$inferSelect

/** Which drivers can drive which kind of device. */
export const DRIVERS_FOR: Record<DeviceKind, readonly DeviceDriver[]> = {
  receipt_printer: ['escpos_tcp', 'epos_http'],
  kitchen_printer: ['escpos_tcp', 'epos_http'],
  label_printer: ['escpos_tcp'],
  cash_drawer: ['drawer_via_printer'],
  customer_display: ['display_tcp', 'display_serial'],
  scale: ['scale_tcp', 'scale_serial'],
  card_terminal: ['stripe_terminal'],
}

const PRINTERS: readonly DeviceKind[] = ['receipt_printer', 'kitchen_printer', 'label_printer']

export interface DeviceInput {
  storeId: string
  registerId?: string | null
  name: string
  kind: DeviceKind
  driver: DeviceDriver
  address?: string
  route?: DeviceRoute
  paperWidth?: 58 | 80 | null
  encoding?: TextEncoding | null
  columns?: number | null
  cjkMode?: boolean | null
  drawerPin?: 2 | 5 | null
  printerId?: string | null
  categoryIds?: string[]
  connectionId?: string | null
  /** For a scale: the continuous-output format it streams. */
  scaleFormat?: 'cas22' | 'generic' | null
  enabled?: boolean
}

const HOST_PORT = /^(?:[a-z0-9.-]+|\[[0-9a-f:]+\]):(\d{1,5})$/i

/** The address in the form the driver needs, or a 400 saying which form. */
function checkAddress(driver: DeviceDriver, address: string): string {
  const a = address.trim()
  const bad = (form: string) => invalid('invalid_address', `driver ${driver} needs ${form}, got "${address}"`, { driver, address })
  switch (driver) {
    case 'escpos_tcp':
    case 'display_tcp':
    case 'scale_tcp': {
      const withPort = driver === 'escpos_tcp' && !a.includes(':') ? `${a}:9100` : a
      const m = HOST_PORT.exec(withPort)
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65535) throw bad('host:port (e.g. 192.168.1.50:9100)')
      return withPort
    }
    case 'epos_http': {
      let url: URL
      try {
        url = new URL(a)
      } catch {
        throw bad('the ePOS URL (http://<printer>/cgi-bin/epos/service.cgi?devid=local_printer)')
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw bad('an http(s) URL')
      if (!url.searchParams.get('devid')) url.searchParams.set('devid', 'local_printer')
      if (url.pathname === '/' || url.pathname === '') url.pathname = '/cgi-bin/epos/service.cgi'
      return url.toString()
    }
    case 'display_serial':
    case 'scale_serial':
      if (!/^(\/dev\/\S+|COM\d+)$/.test(a)) throw bad('a serial device path (/dev/ttyUSB0, COM3)')
      return a
    case 'stripe_terminal':
      if (!/^tmr_[A-Za-z0-9]+$/.test(a)) throw bad('a Stripe Terminal reader id (tmr_…)')
      return a
    case 'drawer_via_printer':
      return ''
  }
}

async function normalize(tx: Tx, merchantId: string, input: DeviceInput, selfId?: string) {
  const store = await getStore(tx, merchantId, input.storeId)
  if (input.registerId) {
    const register = await getRegister(tx, merchantId, input.registerId)
    if (register.storeId !== store.id) throw invalid('register_not_in_store', `register ${register.code} belongs to another store`)
  }
  if (!DRIVERS_FOR[input.kind].includes(input.driver)) {
    throw invalid('driver_not_for_kind', `a ${input.kind} is driven by ${DRIVERS_FOR[input.kind].join(' or ')}, not ${input.driver}`, { allowed: DRIVERS_FOR[input.kind] })
  }
  const isPrinter = PRINTERS.includes(input.kind)
  if (!isPrinter && (input.paperWidth != null || input.columns != null)) throw invalid('not_a_printer', `paper width and columns apply to printers, not a ${input.kind}`)
  if (input.driver !== 'drawer_via_printer' && !input.address?.trim()) throw invalid('address_required', `a ${input.kind} on ${input.driver} needs an address`)
  const address = checkAddress(input.driver, input.address ?? '')

  let printerId: string | null = null
  let printerRoute: DeviceRoute | null = null
  if (input.kind === 'cash_drawer') {
    if (!input.printerId) throw invalid('printer_required', 'a cash drawer is kicked through a printer: give printerId')
    const [printer] = await tx.select().from(devices).where(and(eq(devices.merchantId, merchantId), eq(devices.id, input.printerId)))
    if (!printer) throw notFound('device', input.printerId)
    if (printer.storeId !== store.id || !PRINTERS.includes(printer.kind)) throw invalid('printer_invalid', 'the drawer’s printer must be a printer of the same store')
    printerId = printer.id
    printerRoute = printer.route
  } else if (input.printerId) throw invalid('printer_not_applicable', 'only a cash drawer names a printer')

  const categoryIds = [...new Set(input.categoryIds ?? [])]
  if (categoryIds.length && input.kind !== 'kitchen_printer') throw invalid('categories_not_applicable', 'only kitchen printers are routed by category')
  if (categoryIds.length) {
    const found = await tx.select({ id: categories.id }).from(categories).where(and(eq(categories.merchantId, merchantId), inArray(categories.id, categoryIds)))
    const missing = categoryIds.filter((id) => !found.some((f) => f.id === id))
    if (missing.length) throw invalid('unknown_category', `unknown categories: ${missing.join(', ')}`, { missing })
  }
  if (input.kind === 'card_terminal' && !input.connectionId) throw invalid('connection_required', 'a card terminal is driven through a connection: give connectionId')
  if (input.scaleFormat && input.kind !== 'scale') throw invalid('not_a_scale', 'scaleFormat applies to scales')

  const paperWidth = isPrinter ? (input.paperWidth ?? 80) : null
  const encoding = isPrinter || input.kind === 'customer_display' ? (input.encoding ?? (isPrinter ? 'gbk' : 'cp437')) : null
  const options: Record<string, unknown> = {}
  if (isPrinter) {
    const columns = input.columns ?? (paperWidth === 58 ? 32 : 48)
    if (columns < 16 || columns > 64) throw invalid('invalid_columns', 'columns must be between 16 and 64')
    options.columns = columns
    options.cjkMode = input.cjkMode ?? (encoding === 'gbk' || encoding === 'gb18030' || encoding === 'big5')
  }
  if (input.kind === 'cash_drawer') options.drawerPin = input.drawerPin ?? 2
  else if (input.drawerPin != null) throw invalid('not_a_drawer', 'drawerPin applies to cash drawers')
  if (input.kind === 'scale') options.scaleFormat = input.scaleFormat ?? 'generic'
  // A card terminal is reached through the vendor's cloud, and a drawer through its printer's route.
  const route: DeviceRoute = input.kind === 'card_terminal' ? 'hub' : (printerRoute ?? input.route ?? 'bridge')
  if (selfId && printerId === selfId) throw invalid('printer_invalid', 'a device cannot be its own printer')
  return {
    storeId: store.id,
    registerId: input.registerId ?? null,
    name: input.name.trim(),
    kind: input.kind,
    driver: input.driver,
    address,
    route,
    paperWidth,
    encoding,
    options,
    printerId,
    categoryIds,
    connectionId: input.connectionId ?? null,
    enabled: input.enabled ?? true,
  }
}

const duplicateName = (e: unknown) => (e as { code?: string; constraint?: string }).code === '23505'

export async function createDevice(tx: Tx, actor: Actor, input: DeviceInput): Promise<Device> {
  const values = await normalize(tx, actor.merchantId, input)
  if (!values.name) throw invalid('name_required', 'give the device a name')
  const [row] = await tx
    .insert(devices)
    .values({ id: newId(), merchantId: actor.merchantId, ...values })
    .onConflictDoNothing()
    .returning()
  if (!row) throw conflict('device_name_taken', `store already has a device named "${values.name}"`)
  await recordAudit(tx, actor, { action: 'device.registered', entityType: 'device', entityId: row.id, details: { name: row.name, kind: row.kind, driver: row.driver, address: row.address } })
  return row
}

export async function updateDevice(tx: Tx, actor: Actor, id: string, changes: Partial<Omit<DeviceInput, 'storeId' | 'kind'>>): Promise<Device> {
  const current = await getDevice(tx, actor.merchantId, id)
  const opts = current.options as { columns?: number; cjkMode?: boolean; drawerPin?: 2 | 5; scaleFormat?: 'cas22' | 'generic' }
  const merged: DeviceInput = {
    storeId: current.storeId,
    kind: current.kind,
    registerId: current.registerId,
    name: current.name,
    driver: current.driver as DeviceDriver,
    address: current.address,
    route: current.route,
    paperWidth: current.paperWidth as 58 | 80 | null,
    encoding: current.encoding as TextEncoding | null,
    // Columns follow the paper and Chinese mode the encoding: a new paper width or encoding without them takes the
    // defaults for it, as a device registered with it does (48 columns kept on 58 mm paper would run off its edge).
    columns: changes.paperWidth !== undefined && changes.paperWidth !== current.paperWidth ? null : (opts.columns ?? null),
    cjkMode: changes.encoding !== undefined && changes.encoding !== current.encoding ? null : (opts.cjkMode ?? null),
    drawerPin: opts.drawerPin ?? null,
    printerId: current.printerId,
    categoryIds: current.categoryIds,
    connectionId: current.connectionId,
    scaleFormat: opts.scaleFormat ?? null,
    enabled: current.enabled,
    ...changes,
  }
  const values = await normalize(tx, actor.merchantId, merged, id)
  try {
    const [row] = await tx.update(devices).set({ ...values, updatedAt: sql`now()` }).where(eq(devices.id, id)).returning()
    // Switched off, it is sent nothing more: what waits for it — queued, or failed and waiting for it to recover — is
    // dropped, with the reason (a job already handed over still reports its result).
    let dropped = current.enabled && !row!.enabled ? await dropWaiting(tx, id, 'device_disabled', 'the device was switched off before this job reached it', new Date()) : 0
    // The drawers kicked through a printer go its way: its route, and nothing more once it is switched off.
    const drawers = PRINTERS.includes(row!.kind)
      ? await tx.select({ id: devices.id }).from(devices).where(and(eq(devices.merchantId, actor.merchantId), eq(devices.printerId, id), eq(devices.kind, 'cash_drawer')))
      : []
    if (drawers.length && row!.route !== current.route) await tx.update(devices).set({ route: row!.route, updatedAt: sql`now()` }).where(inArray(devices.id, drawers.map((d) => d.id)))
    if (drawers.length && current.enabled && !row!.enabled) {
      for (const d of drawers) dropped += await dropWaiting(tx, d.id, 'printer_disabled', 'the drawer’s printer was switched off before this kick reached it', new Date())
    }
    if (row!.route !== current.route) await moveRoute(tx, [id, ...drawers.map((d) => d.id)], current.route)
    await recordAudit(tx, actor, { action: 'device.changed', entityType: 'device', entityId: id, details: { changes: Object.keys(changes), ...(dropped ? { jobsDropped: dropped } : {}) } })
    return row!
  } catch (e) {
    if (duplicateName(e)) throw conflict('device_name_taken', `store already has a device named "${values.name}"`)
    throw e
  }
}

/**
 * A device moved to the other route (bridge ↔ hub): a job handed to the old route has lost its way back (the old
 * driver's result is not taken any more), so it is unknown, settled by the device's status or a person, never
 * resent; a job still waiting is touched, so the new route is woken for it (the device_jobs_wake trigger).
 */
async function moveRoute(tx: Tx, deviceIds: string[], from: string): Promise<void> {
  const now = new Date()
  await tx
    .update(deviceJobs)
    .set({ state: 'unknown', reason: 'route_changed', message: `the device was moved off the ${from} route while this job was with it: whether it ran is not known`, finishedAt: now, updatedAt: now })
    .where(and(inArray(deviceJobs.deviceId, deviceIds), eq(deviceJobs.state, 'sent')))
  await tx.update(deviceJobs).set({ updatedAt: now }).where(and(inArray(deviceJobs.deviceId, deviceIds), eq(deviceJobs.state, 'queued')))
}

export async function getDevice(tx: Tx, merchantId: string, id: string): Promise<Device> {
  const [row] = await tx.select().from(devices).where(and(eq(devices.merchantId, merchantId), eq(devices.id, id)))
  if (!row) throw notFound('device', id)
  return row
}

/**
 * A device of the store (what a bridge linked for that store may report on), and whether it is switched on (a drawer:
 * and its printer too); null when the store has no such device.
 */
export async function findDeviceOfStore(tx: Tx, merchantId: string, storeId: string, id: string): Promise<{ id: string; enabled: boolean } | null> {
  const [row] = await tx
    .select({ id: devices.id, enabled: sql<boolean>`${devices.enabled} and coalesce((select p.enabled from devices p where p.id = ${devices.printerId}), true)` })
    .from(devices)
    .where(and(eq(devices.merchantId, merchantId), eq(devices.storeId, storeId), eq(devices.id, id)))
  return row ?? null
}

export const listDevices = (tx: Tx, merchantId: string, storeId?: string) =>
  tx
    .select()
    .from(devices)
    .where(and(eq(devices.merchantId, merchantId), storeId ? eq(devices.storeId, storeId) : undefined))
    .orderBy(asc(devices.storeId), asc(devices.kind), asc(devices.name))

/** Stores the status a driver read; returns whether the device's problem changed (so waiting work can resume). */
export async function recordDeviceStatus(tx: Tx, deviceId: string, status: DeviceStatusLike, at: Date) {
  const { rows } = await tx.execute<{ before: string | null }>(sql`
    update devices d set status = ${JSON.stringify(status)}::jsonb, status_at = ${at.toISOString()}::timestamptz
      from (select id, status->>'problem' as before from devices where id = ${deviceId} for update) old
     where d.id = old.id
    returning old.before`)
  if (!rows[0]) return { changed: false, recovered: false }
  const before = rows[0].before ?? null
  return { changed: before !== status.problem, recovered: before !== null && status.problem === null }
}
