// A device moved between the bridge and the hub: a job waiting for it goes the new way; a job the old route held is
// unknown (never resent), settled by the printer's status.
import { afterEach, describe, expect, it } from 'vitest'
import { sql } from 'drizzle-orm'
import { useTestHub } from '../helpers/db.ts'
import { createApi, seedMerchant } from '../helpers/api.ts'
import { seedStore } from '../helpers/pos.ts'
import { drainJobs } from '../helpers/jobs.ts'
import { deviceRig, rawBridge, type DeviceRig } from '../helpers/devices.ts'
import { startEscposPrinter, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'

describe('a device moved between the bridge and the hub', () => {
  const hub = useTestHub()
  let printer: SimPrinter | undefined
  let rig: DeviceRig | undefined
  const cleanups: (() => unknown)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
    await printer?.close()
    printer = undefined
    await rig?.close()
    rig = undefined
  })

  const poll = () => hub.database.db.execute(sql`select graphile_worker.add_job('device.poll', '{}'::json)`)

  it('a printer moved from the bridge to the hub with a receipt waiting: the hub prints it', async () => {
    const m = await seedMerchant(hub)
    const s = await seedStore(hub, m.merchantId)
    const api = createApi(hub).as(m.adminToken)
    printer = await startEscposPrinter()
    const p = (await api.post('/api/v1/devices', { storeId: s.storeId, name: 'Printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address })).body
    expect(p.route).toBe('bridge')
    const job = (await api.post(`/api/v1/devices/${p.id}/jobs`, { action: 'test_print' })).body
    expect(job.state).toBe('queued')
    const moved = await api.patch(`/api/v1/devices/${p.id}`, { route: 'hub' })
    expect(moved.status).toBe(200)
    expect(moved.body.route).toBe('hub')
    await drainJobs(hub)
    await poll()
    await drainJobs(hub)
    const now = (await api.get(`/api/v1/device-jobs/${job.id}`)).body
    expect(now.state).toBe('done')
    expect(printer!.printed().filter((x) => x.text.includes('TEST PAGE'))).toHaveLength(1)
  })

  it('a printer moved to the hub while its bridge holds a job: the job is unknown, then settled by the printer’s status', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, rig.bridgeKey)
    cleanups.push(() => b.ws.terminate())
    const job = (await rig.api.post(`/api/v1/devices/${rig.devices.printer.id}/jobs`, { action: 'test_print' })).body
    expect(await b.waitFor((m) => m.type === 'work' && m.work.jobId === job.id)).toBeDefined()
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body.state).toBe('sent')
    expect((await rig.api.patch(`/api/v1/devices/${rig.devices.printer.id}`, { route: 'hub' })).status).toBe(200)
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body).toMatchObject({ state: 'unknown', reason: 'route_changed' })
    // The bridge's word no longer counts (the hub drives the printer now); the printer's status settles it.
    b.done(job.id)
    await b.waitFor((m) => m.type === 'ack' && m.jobId === job.id)
    await drainJobs(hub)
    await poll()
    await drainJobs(hub)
    expect((await rig.api.get(`/api/v1/device-jobs/${job.id}`)).body).toMatchObject({ state: 'done', settledBy: 'status' })
    expect(rig.printer.printed().filter((x) => x.text.includes('TEST PAGE'))).toHaveLength(0)
  })
})
