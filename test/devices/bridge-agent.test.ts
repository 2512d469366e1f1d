// The store's bridge agent against a fake hub that speaks the link protocol (a real WebSocket server on 127.0.0.1,
// checking the bridge key), with a recording stand-in for the device side: each job reaches a device once, results
// survive a dropped link and a restarted process, expired drawer kicks never fire, a refused key stops the bridge.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import WebSocket, { WebSocketServer } from 'ws'
import { BridgeAuthError, startBridge, type Bridge, type BridgeOptions } from '../../src/devices/bridge/agent.ts'
import { JournalCorruptError, openJournal } from '../../src/devices/bridge/journal.ts'
import { BridgeMessage, PROTOCOL_VERSION, type HubMessage } from '../../src/devices/protocol.ts'
import type { DeviceEndpoint, DeviceStatus, DeviceWork, WorkResult } from '../../src/devices/types.ts'
import { createLogger } from '../../src/lib/logger.ts'
import { BIN, runCli } from '../helpers/processes.ts'

const KEY = 'bridge-key-7f3a9c41d2'
const STORE = 'store-1'

const printer: DeviceEndpoint = { deviceId: 'printer-1', kind: 'receipt_printer', driver: 'escpos_tcp', address: '127.0.0.1:9100' }
const drawer: DeviceEndpoint = { deviceId: 'drawer-1', kind: 'cash_drawer', driver: 'drawer_via_printer', address: 'printer-1', via: printer }
const display: DeviceEndpoint = { deviceId: 'display-1', kind: 'customer_display', driver: 'display_tcp', address: '127.0.0.1:9200' }

const receipt = (jobId: string, seq: number): DeviceWork => ({
  jobId,
  seq,
  action: 'print',
  endpoint: printer,
  payload: { format: 'escpos', base64: Buffer.from(`receipt ${jobId}\n`).toString('base64') },
  expiresAt: null,
  reprint: false,
})
const kick = (jobId: string, seq: number, expiresAt: string): DeviceWork => ({ jobId, seq, action: 'drawer', endpoint: drawer, payload: { format: 'drawer', pin: 2 }, expiresAt, reprint: false })
const show = (jobId: string, seq: number): DeviceWork => ({ jobId, seq, action: 'display', endpoint: display, payload: { format: 'display', lines: ['TOTAL', '12.50'] }, expiresAt: null, reprint: false })

// ---------------------------------------------------------------------------------------------------------------
// The fake hub: checks the key on upgrade, welcomes with the store's devices, sends work (again after a reconnect
// until a result came), acknowledges results, records every message the bridge sends.

interface FakeHub {
  url: string
  upgrades: number
  links: BridgeMessage[][]
  received: string[]
  results: WorkResult[]
  statuses: { deviceId: string; status: DeviceStatus }[]
  invalid: string[]
  /** Called on each bridge message; tests use it to cut the link at a chosen moment. */
  onMessage: ((msg: BridgeMessage) => void) | null
  sendWork(work: DeviceWork): void
  send(msg: HubMessage): void
  kill(): void
  stop(): Promise<void>
  start(): Promise<void>
}

async function startFakeHub(opts: { devices?: DeviceEndpoint[]; autoPong?: boolean } = {}): Promise<FakeHub> {
  const devices = opts.devices ?? [printer, drawer, display]
  const pending = new Map<string, DeviceWork>()
  const wss = new WebSocketServer({ noServer: true, autoPong: opts.autoPong ?? true })
  let socket: WebSocket | null = null
  let server: Server
  let port = 0

  const listen = async () => {
    server = createServer((_req, res) => res.writeHead(404).end())
    server.on('upgrade', (req, sock, head) => {
      hub.upgrades++
      const u = new URL(req.url ?? '/', 'http://hub')
      if (u.pathname !== '/api/v1/bridge/link' || u.searchParams.get('store') !== STORE) {
        sock.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n')
        return
      }
      if (req.headers.authorization !== `Bearer ${KEY}`) {
        sock.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        return
      }
      wss.handleUpgrade(req, sock, head, (ws) => {
        socket = ws
        const link: BridgeMessage[] = []
        hub.links.push(link)
        ws.on('message', (raw) => {
          const parsed = BridgeMessage.safeParse(JSON.parse(raw.toString()))
          if (!parsed.success) {
            hub.invalid.push(raw.toString())
            return
          }
          const msg = parsed.data
          link.push(msg)
          if (msg.type === 'hello') {
            hub.send({ type: 'welcome', storeId: msg.storeId, protocol: PROTOCOL_VERSION, devices })
            for (const w of [...pending.values()].sort((a, b) => a.seq - b.seq)) hub.send({ type: 'work', work: w })
          } else if (msg.type === 'received') hub.received.push(msg.jobId)
          else if (msg.type === 'status') hub.statuses.push({ deviceId: msg.deviceId, status: msg.status })
          else if (msg.type === 'result') {
            hub.results.push(msg.result)
            pending.delete(msg.result.jobId)
            hub.send({ type: 'ack', jobId: msg.result.jobId })
          }
          hub.onMessage?.(msg)
        })
      })
    })
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
    port = (server.address() as AddressInfo).port
    hub.url = `http://127.0.0.1:${port}`
  }

  const hub: FakeHub = {
    url: '',
    upgrades: 0,
    links: [],
    received: [],
    results: [],
    statuses: [],
    invalid: [],
    onMessage: null,
    sendWork(work) {
      pending.set(work.jobId, work)
      hub.send({ type: 'work', work })
    },
    send(msg) {
      if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg))
    },
    kill() {
      socket?.terminate()
    },
    async stop() {
      for (const c of wss.clients) c.terminate()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
    start: listen,
  }
  await listen()
  hubs.push(hub)
  return hub
}

// ---------------------------------------------------------------------------------------------------------------
// The device side as the bridge sees it: records each call; a held job waits until the test releases it.

function fakeDevices() {
  const calls: string[] = []
  const holds = new Map<string, { promise: Promise<void>; release: () => void }>()
  const statuses = new Map<string, DeviceStatus>()
  const statusReads: string[] = []
  return {
    calls,
    statusReads,
    statuses,
    hold(jobId: string) {
      let release!: () => void
      const promise = new Promise<void>((r) => (release = r))
      holds.set(jobId, { promise, release })
      return release
    },
    execute: async (work: DeviceWork): Promise<WorkResult> => {
      calls.push(work.jobId)
      await holds.get(work.jobId)?.promise
      return { jobId: work.jobId, outcome: 'done', reason: null, message: null, retryable: false, status: null, finishedAt: new Date().toISOString() }
    },
    readStatus: async (endpoint: DeviceEndpoint): Promise<DeviceStatus> => {
      statusReads.push(endpoint.deviceId)
      return statuses.get(endpoint.deviceId) ?? { online: true, paper: 'ok', problem: null, checkedAt: new Date().toISOString() }
    },
  }
}

const hubs: FakeHub[] = []
const bridges: Bridge[] = []
const dirs: string[] = []

async function tempJournal() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tillbridge-bridge-'))
  dirs.push(dir)
  return path.join(dir, 'bridge-store-1.jsonl')
}

async function bridgeFor(hub: FakeHub, devices: ReturnType<typeof fakeDevices>, over: Partial<BridgeOptions> = {}) {
  const bridge = await startBridge({
    hubUrl: hub.url,
    key: KEY,
    storeId: STORE,
    journalPath: over.journalPath ?? (await tempJournal()),
    execute: devices.execute,
    readStatus: devices.readStatus,
    statusIntervalMs: 60_000,
    reconnect: { minMs: 20, maxMs: 100 },
    heartbeat: { intervalMs: 50, timeoutMs: 200 },
    ...over,
  })
  bridges.push(bridge)
  return bridge
}

const journalLines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l))
const waitFor = (fn: () => void, timeout = 5000) => vi.waitFor(fn, { timeout, interval: 10 })

afterEach(async () => {
  for (const b of bridges.splice(0)) await b.close({ waitMs: 0 })
  for (const h of hubs.splice(0)) await h.stop().catch(() => {})
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

describe('bridge agent: each job reaches its device once', () => {
  it('runs a job once, says received before the result, and forgets the result when the hub acknowledges it', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const bridge = await bridgeFor(hub, devices)
    await waitFor(() => expect(bridge.connected).toBe(true))
    expect(hub.links[0]![0]).toEqual({ type: 'hello', storeId: STORE, protocol: PROTOCOL_VERSION, agent: expect.stringMatching(/^tillbridge-bridge\/\d+\.\d+\.\d+/), bridgeId: expect.stringMatching(/^[0-9a-f-]{36}$/) })

    hub.sendWork(receipt('job-1', 1))
    await waitFor(() => expect(bridge.stats().acked).toBe(1))
    expect(devices.calls).toEqual(['job-1'])
    expect(hub.links[0]!.filter((m) => m.type === 'received' || m.type === 'result').map((m) => m.type)).toEqual(['received', 'result'])
    expect(hub.results).toMatchObject([{ jobId: 'job-1', outcome: 'done' }])
    expect(bridge.pendingResults()).toEqual([])
    expect(hub.links).toHaveLength(1) // the heartbeat kept a healthy link up
    expect(hub.invalid).toEqual([])
  })

  it('a job sent again after the link dropped mid-job is not run again; its result arrives on the new link', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const release = devices.hold('job-1')
    hub.onMessage = (m) => {
      if (m.type === 'received' && hub.links.length === 1) hub.kill() // after `received`, before the result
    }
    const bridge = await bridgeFor(hub, devices)
    await waitFor(() => expect(bridge.connected).toBe(true))
    hub.sendWork(receipt('job-1', 1))

    await waitFor(() => expect(hub.received).toEqual(['job-1', 'job-1'])) // the hub re-sent it on the second link
    expect(hub.links).toHaveLength(2)
    expect(bridge.stats().duplicates).toBe(1)
    release()
    await waitFor(() => expect(bridge.stats().acked).toBe(1))
    expect(devices.calls).toEqual(['job-1'])
    expect(hub.results.map((r) => r.jobId)).toEqual(['job-1'])
    expect(hub.links[0]!.some((m) => m.type === 'result')).toBe(false)
  })

  it('keeps running accepted jobs while the hub is down, per device in seq order, and delivers the results in order when it returns', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const releaseFirst = devices.hold('p1')
    const releaseDisplay = devices.hold('d2')
    const bridge = await bridgeFor(hub, devices)
    const produced: string[] = []
    bridge.events.on('result', (r) => produced.push(r.jobId))
    await waitFor(() => expect(bridge.connected).toBe(true))
    hub.sendWork(receipt('p1', 1))
    hub.sendWork(show('d2', 2))
    hub.sendWork(receipt('p4', 4))
    hub.sendWork(receipt('p3', 3)) // arrives late; still runs before p4
    await waitFor(() => expect(hub.received).toHaveLength(4))

    await hub.stop()
    await waitFor(() => expect(bridge.connected).toBe(false))
    releaseFirst()
    await waitFor(() => expect(produced).toEqual(['p1', 'p3', 'p4']))
    releaseDisplay()
    await waitFor(() => expect(produced).toHaveLength(4))
    expect(devices.calls.filter((j) => j.startsWith('p'))).toEqual(['p1', 'p3', 'p4'])
    expect(hub.results).toEqual([])
    expect(bridge.pendingResults().map((r) => r.jobId)).toEqual(produced)

    await hub.start()
    await waitFor(() => expect(bridge.stats().acked).toBe(4))
    const link = hub.links.at(-1)!
    expect(link.slice(0, 5).map((m) => (m.type === 'result' ? m.result.jobId : m.type))).toEqual(['hello', ...produced])
    expect(hub.results.map((r) => r.jobId)).toEqual(produced)
    expect(devices.calls.sort()).toEqual(['d2', 'p1', 'p3', 'p4'])
    expect(bridge.pendingResults()).toEqual([])
  })

  it('after a restart mid-send the job is reported unknown with the device status, never sent again; queued jobs resume', async () => {
    const hub = await startFakeHub()
    const journalPath = await tempJournal()
    const first = fakeDevices()
    const releaseStuck = first.hold('p1')
    const bridge1 = await bridgeFor(hub, first, { journalPath })
    await waitFor(() => expect(bridge1.connected).toBe(true))
    hub.sendWork(receipt('p1', 1))
    hub.sendWork(receipt('p2', 2))
    await waitFor(() => expect(hub.received).toEqual(['p1', 'p2']))
    expect(first.calls).toEqual(['p1'])
    await bridge1.close({ waitMs: 0 }) // the process dies while p1 is on its way to the printer

    const second = fakeDevices()
    const paperLow: DeviceStatus = { online: true, paper: 'near_end', problem: null, checkedAt: '2026-12-02T03:00:00.000Z' }
    second.statuses.set('printer-1', paperLow)
    const bridge2 = await bridgeFor(hub, second, { journalPath })
    await waitFor(() => expect(bridge2.stats().acked).toBe(2))
    expect(hub.results.find((r) => r.jobId === 'p1')).toMatchObject({ outcome: 'unknown', reason: 'agent_restarted', retryable: false, status: paperLow })
    expect(hub.results.find((r) => r.jobId === 'p2')).toMatchObject({ outcome: 'done' })
    expect(second.calls).toEqual(['p2'])
    expect(second.statusReads).toContain('printer-1')

    releaseStuck() // the old process's late answer is not recorded
    await new Promise((r) => setTimeout(r, 50))
    const lines = await journalLines(journalPath)
    expect(lines.filter((l) => l.e === 'result' && l.result.jobId === 'p1').map((l) => l.result.outcome)).toEqual(['unknown'])
    expect(first.calls).toEqual(['p1'])
  })

  it('drops an expired drawer kick without touching the drawer, also when it expires while waiting in its lane', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    let now = Date.parse('2026-12-02T03:00:00.000Z')
    const at = (ms: number) => new Date(now + ms).toISOString()
    const bridge = await bridgeFor(hub, devices, { clock: () => new Date(now) })
    await waitFor(() => expect(bridge.connected).toBe(true))

    hub.sendWork(kick('k1', 1, at(-1000)))
    await waitFor(() => expect(hub.results).toHaveLength(1))
    expect(hub.results[0]).toMatchObject({ jobId: 'k1', outcome: 'dropped', reason: 'expired' })

    const release = devices.hold('k2')
    hub.sendWork(kick('k2', 2, at(5000)))
    hub.sendWork(kick('k3', 3, at(5000)))
    await waitFor(() => expect(hub.received).toEqual(['k1', 'k2', 'k3']))
    now += 10_000 // k3 waited too long behind k2
    release()
    await waitFor(() => expect(hub.results).toHaveLength(3))
    expect(hub.results.map((r) => [r.jobId, r.outcome, r.reason])).toEqual([
      ['k1', 'dropped', 'expired'],
      ['k2', 'done', null],
      ['k3', 'dropped', 'expired'],
    ])
    expect(devices.calls).toEqual(['k2'])
  })

  it('a drawer kick does not wait behind a slow receipt', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const release = devices.hold('r1')
    const bridge = await bridgeFor(hub, devices)
    await waitFor(() => expect(bridge.connected).toBe(true))
    hub.sendWork(receipt('r1', 1))
    hub.sendWork(kick('k2', 2, new Date(Date.now() + 10_000).toISOString()))
    await waitFor(() => expect(hub.results.map((r) => r.jobId)).toEqual(['k2']))
    expect(devices.calls).toEqual(['r1', 'k2'])
    release()
    await waitFor(() => expect(hub.results.map((r) => r.jobId)).toEqual(['k2', 'r1']))
  })
})

describe('bridge agent: the link', () => {
  it('stops with a clear error when the hub refuses the key, and does not retry', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const logged: string[] = []
    const logger = createLogger({ level: 'debug', destination: { write: (s: string) => void logged.push(s) } })
    const bridge = await bridgeFor(hub, devices, { key: 'wrong-key-0c1d2e3f', logger })
    const error = await bridge.stopped
    expect(error).toBeInstanceOf(BridgeAuthError)
    expect(error?.message).toMatch(/refused this bridge for store store-1 \(HTTP 401\).*bridge key/)
    await new Promise((r) => setTimeout(r, 200))
    expect(hub.upgrades).toBe(1)
    expect(bridge.connected).toBe(false)
    expect(logged.join('')).not.toContain('wrong-key-0c1d2e3f')
  })

  it('notices a half-open link (no pong) and reconnects', async () => {
    const hub = await startFakeHub({ autoPong: false })
    const devices = fakeDevices()
    const bridge = await bridgeFor(hub, devices, { heartbeat: { intervalMs: 30, timeoutMs: 120 } })
    let disconnects = 0
    bridge.events.on('disconnected', () => disconnects++)
    await waitFor(() => expect(hub.links.length).toBeGreaterThanOrEqual(2))
    expect(disconnects).toBeGreaterThanOrEqual(1)
  })

  it('sends each polled device status once after connecting, then only changes, and answers a status request', async () => {
    const hub = await startFakeHub()
    const devices = fakeDevices()
    const ok = (): DeviceStatus => ({ online: true, paper: 'ok', problem: null, checkedAt: new Date().toISOString() })
    devices.statuses.set('printer-1', ok())
    devices.statuses.set('display-1', { online: null, problem: null, checkedAt: new Date().toISOString() })
    const bridge = await bridgeFor(hub, devices, { statusIntervalMs: 20 })
    await waitFor(() => expect(hub.statuses.map((s) => s.deviceId).sort()).toEqual(['display-1', 'printer-1']))
    await waitFor(() => expect(devices.statusReads.filter((d) => d === 'printer-1').length).toBeGreaterThan(3))
    expect(hub.statuses).toHaveLength(2) // polled again and again, unchanged: nothing sent
    expect(devices.statusReads).not.toContain('drawer-1') // read through its printer, not polled on its own

    devices.statuses.set('printer-1', { ...ok(), paper: 'end', online: true, problem: 'paper_end' })
    await waitFor(() => expect(hub.statuses.filter((s) => s.deviceId === 'printer-1').map((s) => s.status.paper)).toEqual(['ok', 'end']))

    hub.send({ type: 'status_request', deviceId: 'display-1' })
    await waitFor(() => expect(hub.statuses.filter((s) => s.deviceId === 'display-1')).toHaveLength(2))
    expect(bridge.connected).toBe(true)
  })
})

describe('bridge journal', () => {
  const work = receipt('j1', 1)
  const result = (jobId: string, finishedAt = '2026-12-02T03:00:00.000Z'): WorkResult => ({ jobId, outcome: 'done', reason: null, message: null, retryable: false, status: null, finishedAt })

  it('tolerates a torn last line and runs the job it had accepted', async () => {
    const file = await tempJournal()
    await writeFile(file, `${JSON.stringify({ e: 'work', at: '2026-12-02T03:00:00.000Z', work })}\n{"e":"started","at":"2026-12-0`)
    const journal = await openJournal(file)
    expect(journal.queued().map((w) => w.jobId)).toEqual(['j1'])
    expect(journal.inFlight()).toEqual([])
    await journal.close()
    // The torn line is gone before anything is appended; the journal's id goes first.
    expect((await journalLines(file)).map((l) => l.e)).toEqual(['bridge', 'work'])

    const hub = await startFakeHub()
    const devices = fakeDevices()
    const bridge = await bridgeFor(hub, devices, { journalPath: file })
    await waitFor(() => expect(bridge.stats().acked).toBe(1))
    expect(devices.calls).toEqual(['j1'])
  })

  it('refuses to start on a damaged line that is not the last one', async () => {
    const file = await tempJournal()
    await writeFile(file, `{"e":"work",\n${JSON.stringify({ e: 'work', at: '2026-12-02T03:00:00.000Z', work })}\n`)
    await expect(openJournal(file)).rejects.toBeInstanceOf(JournalCorruptError)
  })

  it('keeps results in production order until acked; compaction forgets acked jobs after 24 h but remembers their ids until then', async () => {
    const file = await tempJournal()
    let now = Date.parse('2026-12-02T03:00:00.000Z')
    const clock = () => new Date(now)
    const j = await openJournal(file, { clock })
    for (const [id, seq] of [['a', 1], ['b', 2], ['c', 3], ['d', 4]] as const) await j.record(receipt(id, seq))
    for (const id of ['b', 'a', 'c']) {
      await j.started(id)
      await j.finished(result(id))
    }
    await j.started('d')
    expect(j.unacked().map((r) => r.jobId)).toEqual(['b', 'a', 'c'])
    await j.acked('b')
    now += 2 * 60 * 60 * 1000
    await j.acked('a')
    await j.close()

    now += 23 * 60 * 60 * 1000 // b acked 25 h ago, a 23 h ago
    const reopened = await openJournal(file, { clock })
    // The bridge keeps its name (the journal's id) through compaction: the hub sends it again what it was handed.
    expect(reopened.bridgeId).toBe(j.bridgeId)
    expect(reopened.has('b')).toBe(false)
    expect(reopened.has('a')).toBe(true)
    expect(reopened.get('a')).toMatchObject({ work: null, result: { jobId: 'a', outcome: 'done' } })
    expect(reopened.unacked().map((r) => r.jobId)).toEqual(['c'])
    expect(reopened.inFlight().map((w) => w.jobId)).toEqual(['d'])
    expect(reopened.queued()).toEqual([])
    await reopened.close()
    const lines = await journalLines(file)
    expect(lines.map((l) => l.e)).toEqual(['bridge', 'settled', 'work', 'work', 'started', 'result', 'started'])
  })
})

describe('tillbridge bridge', () => {
  it('exits with a clear message when the hub refuses the key, never printing the key', async () => {
    const hub = await startFakeHub()
    const journal = await tempJournal()
    const r = await runCli(['bridge', '--hub', hub.url, '--store', STORE, '--journal', journal], { TILLBRIDGE_BRIDGE_KEY: 'wrong-key-0c1d2e3f', LOG_LEVEL: 'debug' })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/tillbridge: error: the hub refused this bridge for store store-1 \(HTTP 401\)/)
    expect(r.stdout + r.stderr).not.toContain('wrong-key-0c1d2e3f')
    expect(hub.upgrades).toBe(1)
  }, 60_000)

  it('connects with the key from the environment and stops cleanly on SIGTERM', async () => {
    const hub = await startFakeHub()
    const journal = await tempJournal()
    const child = spawn(process.execPath, [BIN, 'bridge', '--hub', hub.url, '--store', STORE, '--journal', journal], {
      env: { ...process.env, TILLBRIDGE_BRIDGE_KEY: KEY, LOG_LEVEL: 'info', DATABASE_URL: '' },
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    // The command line loads the whole hub's modules before it connects: slow on a busy machine.
    await waitFor(() => expect(hub.links[0]?.[0]?.type).toBe('hello'), 50_000)
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(out).toContain('bridge stopped')
    expect(out).not.toContain(KEY)
  }, 60_000)
})
