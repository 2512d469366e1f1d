// What a store's bridge link may do: a link whose key was revoked gets no more work and has no more say; a result is
// taken only for a job the link was sent; a second bridge that takes over the store stops the first instead of the two
// taking turns; a customer display prints in its own encoding.
import os from 'node:os'
import path from 'node:path'
import { randomUUID } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import WebSocket from 'ws'
import { deviceRig, rawBridge, until, type DeviceRig } from '../helpers/devices.ts'
import { requeueRecovered } from '../../src/core/devices/jobs.ts'
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

  it('a result for a job not handed over — never sent, or back in the queue after a retryable failure — is acknowledged and changes nothing; no work goes out before hello; each job then prints once', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 60_000 })
    const printerId = rig.devices.printer.id
    const result = (jobId: string, outcome: string, extra: Record<string, unknown> = {}) => ({
      type: 'result',
      result: { jobId, outcome, reason: null, message: null, retryable: false, status: null, finishedAt: new Date().toISOString(), ...extra },
    })
    const jobOf = async (jobId: string) => (await rig!.api.get(`/api/v1/device-jobs/${jobId}`)).body
    // Sent once, refused by the printer before any byte (paper end), and back in the queue once it recovered — while
    // the hub's end of the link is down, so nothing hands it (or the job queued after it) over yet.
    const first = await rawBridge(rig.hubUrl, rig.store.storeId, rig.bridgeKey)
    cleanups.push(() => first.ws.terminate())
    const retried = await job(printerId)
    await first.waitFor((m) => m.type === 'work' && m.work.jobId === retried.id)
    first.send(result(retried.id, 'failed', { reason: 'paper_out', retryable: true }))
    await first.waitFor((m) => m.type === 'ack' && m.jobId === retried.id)
    await rig.links.close()
    expect(await hub.database.db.transaction((tx) => requeueRecovered(tx, printerId, new Date()))).toBe(1)
    const never = await job(printerId)
    expect(never.state).toBe('queued')
    // Back up with no link and a pump a minute away: a link that has not said hello is sent nothing until then.
    await rig.linkUp()
    const ws = new WebSocket(`${rig.hubUrl.replace('http', 'ws')}/api/v1/bridge/link?store=${rig.store.storeId}`, { headers: { authorization: `Bearer ${rig.bridgeKey}` } })
    cleanups.push(() => ws.terminate())
    const msgs: any[] = []
    ws.on('message', (d) => msgs.push(JSON.parse(d.toString())))
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    const send = (m: unknown) => ws.send(JSON.stringify(m))
    send(result(never.id, 'done'))
    send(result(retried.id, 'failed', { reason: 'paper_out', retryable: true }))
    send(result(retried.id, 'done'))
    await until(() => msgs, (ms) => ms.filter((m) => m.type === 'ack').length === 3, 3000, 'the three results answered')
    // Acknowledged, as a result for another store's job is (the bridge's journal keeps what it ran), and nothing else.
    expect(msgs.map((m) => `${m.type} ${m.jobId}`).sort()).toEqual([`ack ${never.id}`, `ack ${retried.id}`, `ack ${retried.id}`].sort())
    const pick = (j: any) => ({ state: j.state, attempts: j.attempts, sentAt: j.sentAt })
    expect(pick(await jobOf(never.id))).toEqual({ state: 'queued', attempts: 0, sentAt: null })
    expect(pick(await jobOf(retried.id))).toMatchObject({ state: 'queued', attempts: 1 })
    // Work queued now wakes the link's pump at commit: still nothing goes out before hello.
    const late = await job(printerId)
    await new Promise((r) => setTimeout(r, 500))
    expect(msgs.filter((m) => m.type === 'work')).toEqual([])
    expect(pick(await jobOf(late.id))).toEqual({ state: 'queued', attempts: 0, sentAt: null })
    // Handed over now: each goes out once and its result is taken.
    send({ type: 'hello', storeId: rig.store.storeId, protocol: 1, agent: 'test', bridgeId: randomUUID() })
    for (const j of [retried, never, late]) {
      await until(() => msgs, (ms) => ms.some((m) => m.type === 'work' && m.work.jobId === j.id), 3000, 'the job handed over')
      send(result(j.id, 'done'))
    }
    const done = await until(() => Promise.all([retried, never, late].map((j) => jobOf(j.id))), (js) => js.every((j) => j.state === 'done'), 3000, 'all done')
    expect(done.map((j) => j.attempts)).toEqual([2, 1, 1])
    expect(msgs.filter((m) => m.type === 'work').map((m) => m.work.jobId)).toEqual([retried.id, never.id, late.id])
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

  it('a job handed to a bridge is never handed to another that takes over the store: it is unknown until the bridge that had it answers; that bridge coming back gets it again', async () => {
    rig = await deviceRig(hub, { pumpIntervalMs: 200 })
    const key = (await rig.api.post(`/api/v1/stores/${rig.store.storeId}/bridge-keys`, { name: 'Back office PC' })).body.key
    const a = await rawBridge(rig.hubUrl, rig.store.storeId, key)
    cleanups.push(() => a.ws.terminate())
    const printing = await job(rig.devices.printer.id)
    expect(await a.waitFor((m) => m.type === 'work' && m.work.jobId === printing.id)).toBeDefined()
    a.send({ type: 'received', jobId: printing.id })
    // Bridge A is printing it when another bridge (another journal) connects for the store.
    const b = await rawBridge(rig.hubUrl, rig.store.storeId, key)
    cleanups.push(() => b.ws.terminate())
    await until(async () => a.closed(), (c) => c !== null, 3000, 'A to be replaced')
    const next = await job(rig.devices.printer.id)
    expect(await b.waitFor((m) => m.type === 'work' && m.work.jobId === next.id)).toBeDefined()
    expect(b.msgs.some((m) => m.type === 'work' && m.work.jobId === printing.id)).toBe(false)
    const lost = (await rig.api.get(`/api/v1/device-jobs/${printing.id}`)).body
    expect(lost).toMatchObject({ state: 'unknown', reason: 'bridge_replaced', attempts: 1 })
    // B's own result for it (it never had it) is not taken.
    b.done(printing.id)
    b.done(next.id)
    await until(() => stateOf(next.id), (st) => st === 'done', 3000, 'B’s job done')
    expect(await stateOf(printing.id)).toBe('unknown')

    // A comes back with its journal: its answer for the receipt it had settles it; the job B had goes on with B alone.
    const third = await job(rig.devices.printer.id)
    expect(await b.waitFor((m) => m.type === 'work' && m.work.jobId === third.id)).toBeDefined()
    const aBack = await rawBridge(rig.hubUrl, rig.store.storeId, key, a.bridgeId)
    cleanups.push(() => aBack.ws.terminate())
    aBack.done(printing.id)
    await until(() => stateOf(printing.id), (st) => st === 'done', 3000, 'A’s answer taken')
    expect(await stateOf(third.id)).toBe('unknown')
    expect(aBack.msgs.some((m) => m.type === 'work' && m.work.jobId === third.id)).toBe(false)

    // A link of the same bridge (a reconnect) is sent again what was handed to it: the bridge answers from its journal.
    const fourth = await job(rig.devices.printer.id)
    expect(await aBack.waitFor((m) => m.type === 'work' && m.work.jobId === fourth.id)).toBeDefined()
    const again = await rawBridge(rig.hubUrl, rig.store.storeId, key, a.bridgeId)
    cleanups.push(() => again.ws.terminate())
    expect(await again.waitFor((m) => m.type === 'work' && m.work.jobId === fourth.id)).toBeDefined()
    again.done(fourth.id)
    await until(() => stateOf(fourth.id), (st) => st === 'done', 3000, 'the job resent to its bridge')
    expect((await rig.api.get(`/api/v1/device-jobs/${fourth.id}`)).body.attempts).toBe(1)
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
