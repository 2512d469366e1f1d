// What a store's bridge link may do: a link whose key was revoked gets no more work and has no more say; a result is
// taken only for a job the link was sent; a second bridge that takes over the store stops the first instead of the two
// taking turns; a customer display prints in its own encoding.
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { deviceRig, rawBridge, until, type DeviceRig } from '../helpers/devices.ts'
import { startBridge, type Bridge } from '../../src/devices/bridge/agent.ts'
import { executeWork, readDeviceStatus } from '../../src/devices/executor.ts'
import { startDisplay } from '../../src/devices/simulators/display.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('bridge link rules', () => {
  const hub = useTestHub()
  let rig: DeviceRig | undefined
  const cleanups: (() => Promise<void> | void)[] = []
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c()
    await rig?.close()
    rig = undefined
  })
  const job = async (deviceId: string) => (await rig!.api.post(`/api/v1/devices/${deviceId}/jobs`, { action: 'test_print' })).body
  const stateOf = async (jobId: string) => (await rig!.api.get(`/api/v1/device-jobs/${jobId}`)).body.state

  it('a link whose key is revoked is closed: no more work reaches it, and a result it sends changes nothing', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const created = (await rig.api.post(`/api/v1/stores/${rig.store.storeId}/bridge-keys`, { name: 'Back office PC' })).body
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, created.key)
    cleanups.push(() => b.ws.terminate())
    const before = await job(rig.devices.printer.id)
    expect(await b.waitFor((m) => m.type === 'work' && m.work.jobId === before.id)).toBeDefined()
    expect((await rig.api.delete(`/api/v1/api-keys/${created.apiKey.id}`)).status).toBe(200)
    const after = await job(rig.devices.printer.id)
    await until(async () => b.closed(), (c) => c !== null, 3000, 'the revoked link to close')
    expect(b.closed()).toBe(4001)
    expect(b.msgs.some((m) => m.type === 'work' && m.work.jobId === after.id)).toBe(false)
    b.done(before.id)
    await sleep(300)
    expect(await stateOf(before.id)).toBe('sent')
  })

  it('a result is taken only for a job sent to the bridge: a hub-driven printer’s queued job stays queued', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const hubPrinter = (await rig.api.post('/api/v1/devices', { storeId: rig.store.storeId, name: 'Kitchen', kind: 'receipt_printer', driver: 'escpos_tcp', address: '127.0.0.1:9', route: 'hub' })).body
    const key = (await rig.api.post(`/api/v1/stores/${rig.store.storeId}/bridge-keys`, { name: 'Back office PC' })).body.key
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, key)
    cleanups.push(() => b.ws.terminate())
    const queued = await job(hubPrinter.id)
    expect(queued.state).toBe('queued')
    b.done(queued.id)
    await b.waitFor((m) => m.type === 'ack' && m.jobId === queued.id)
    expect(await stateOf(queued.id)).toBe('queued')
  })

  it('a job the bridge answers at once was sent first: it counts its attempt and when it was sent', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    // Work queued while no bridge is connected goes out in one pump; a bridge that answers each job the moment it
    // arrives answers the first ones while the hub is still sending the rest.
    for (let i = 0; i < 15; i++) await rig.sell({ cash: false })
    const jobs = await rig.jobs()
    expect(jobs).toHaveLength(30)
    const key = (await rig.api.post(`/api/v1/stores/${rig.store.storeId}/bridge-keys`, { name: 'Back office PC' })).body.key
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, key)
    cleanups.push(() => b.ws.terminate())
    b.ws.on('message', (d) => {
      const m = JSON.parse(d.toString())
      if (m.type === 'work') b.done(m.work.jobId)
    })
    const finished = await until(
      () => Promise.all(jobs.map(async (j) => (await rig!.api.get(`/api/v1/device-jobs/${j.id}`)).body)),
      (js) => js.every((j) => j.state === 'done'),
      10_000,
      'every job done',
    )
    expect(finished.map((j) => j.attempts)).toEqual(jobs.map(() => 1))
    expect(finished.filter((j) => j.sentAt === null)).toEqual([])
  })

  it('a second bridge of the store takes over and the first stops, so the two never take turns printing', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const first = await rig.startBridge()
    const key2 = (await rig.api.post(`/api/v1/stores/${rig.store.storeId}/bridge-keys`, { name: 'PC 2' })).body.key
    const journal = path.join(os.tmpdir(), `tb-bridge-${randomUUID()}.jsonl`)
    const second: Bridge = await startBridge({ hubUrl: rig.hubUrl, key: key2, storeId: rig.store.storeId, journalPath: journal, execute: (w) => executeWork(w), readStatus: readDeviceStatus, statusIntervalMs: 200, reconnect: { minMs: 50, maxMs: 200 } })
    cleanups.push(async () => {
      await second.close({ waitMs: 500 })
      await rm(journal, { force: true })
    })
    const stoppedWith = await first.stopped
    expect(stoppedWith?.name).toBe('BridgeReplacedError')
    const sales = []
    for (let i = 0; i < 4; i++) sales.push(await rig.sell({ cash: false }))
    await rig.waitForReceipts(4)
    await sleep(500)
    expect(sales.map((s) => rig!.receipts().filter((p) => p.text.includes(s.receiptNo)).length)).toEqual([1, 1, 1, 1])
    expect(second.stats().connects).toBe(1)
  })

  it('a customer display registered as GBK shows Chinese text', async () => {
    rig = await deviceRig(hub)
    const display = await startDisplay({ encoding: 'gbk' })
    cleanups.push(() => display.close())
    const d = (await rig.api.post('/api/v1/devices', { storeId: rig.store.storeId, name: 'GBK pole', kind: 'customer_display', driver: 'display_tcp', address: display.address, encoding: 'gbk' })).body
    expect(d.encoding).toBe('gbk')
    await rig.startBridge()
    const shown = (await rig.api.post(`/api/v1/devices/${d.id}/jobs`, { action: 'display', lines: ['欢迎光临', '合计 12.30'] })).body
    await until(() => stateOf(shown.id), (s) => !['queued', 'sent'].includes(s), 10_000, 'the display job')
    expect(await stateOf(shown.id)).toBe('done')
    expect(display.screen()[0]).toContain('欢迎光临')
    expect(display.screen()[1]).toContain('合计 12.30')
  })
})
