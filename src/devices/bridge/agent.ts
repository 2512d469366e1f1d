// The in-store bridge agent: opens the WebSocket to the hub (the store needs no inbound port), journals every job
// before it says `received`, runs each device's jobs one at a time in seq order (drawer kicks in a lane of their own),
// and reports results in the order they were produced until the hub acknowledges them. A job id runs at most once:
// a repeat is answered from the journal, a job cut off by a crash is reported `unknown` (never sent again), expired
// work is dropped without touching the device. The devices are local, so jobs keep running while the link is down;
// their results wait in the journal and go first when it returns.
import { EventEmitter } from 'node:events'
import WebSocket from 'ws'
import pkg from '../../../package.json' with { type: 'json' }
import { createLogger, type Logger } from '../../lib/logger.ts'
import { BridgeMessage, CLOSE_KEY_REFUSED, CLOSE_REPLACED, HubMessage, PROTOCOL_VERSION, WorkResultSchema } from '../protocol.ts'
import type { DeviceEndpoint, DeviceKind, DeviceStatus, DeviceWork, WorkResult } from '../types.ts'
import { mayRunAgain, openJournal, type Journal } from './journal.ts'

export const BRIDGE_AGENT = `tillbridge-bridge/${pkg.version}`

/** The device kinds polled for status between jobs (a drawer is read through its printer, a terminal by its API). */
const POLLED: readonly DeviceKind[] = ['receipt_printer', 'kitchen_printer', 'label_printer', 'customer_display', 'scale']

export interface BridgeOptions {
  hubUrl: string
  key: string
  storeId: string
  journalPath: string
  execute: (work: DeviceWork) => Promise<WorkResult>
  readStatus: (endpoint: DeviceEndpoint) => Promise<DeviceStatus>
  statusIntervalMs?: number
  reconnect?: { minMs: number; maxMs: number }
  /** WebSocket ping period, and how long without a pong before the link counts as dead (half-open). */
  heartbeat?: { intervalMs: number; timeoutMs: number }
  logger?: Logger
  clock?: () => Date
}

export interface BridgeEvents {
  connected: []
  disconnected: []
  work: [work: DeviceWork]
  result: [result: WorkResult]
  acked: [jobId: string]
  /** The bridge stopped: null after close(), the reason when it stopped itself (the hub refused the key). */
  stopped: [error: Error | null]
}

export interface BridgeStats {
  received: number
  duplicates: number
  executed: number
  dropped: number
  recovered: number
  resultsSent: number
  acked: number
  connects: number
  queued: number
  pending: number
}

export interface Bridge {
  readonly events: EventEmitter<BridgeEvents>
  /** True while the link is up and the hub has welcomed the bridge. */
  readonly connected: boolean
  /** Resolves when the bridge stops: null after close(), the error when it had to stop (a refused key). */
  readonly stopped: Promise<Error | null>
  /** Results the hub has not acknowledged yet, in the order they were produced. */
  pendingResults(): WorkResult[]
  stats(): BridgeStats
  /** Stops: no new jobs, the link closes, jobs running on a device get `waitMs` (default 5 s) to finish. */
  close(opts?: { waitMs?: number }): Promise<void>
}

/** Another bridge of the same store connected and the hub handed the store's work to it: this one stopped. */
export class BridgeReplacedError extends Error {
  constructor(storeId: string) {
    super(`another bridge of store ${storeId} connected to the hub and took over its devices; this one stopped, so that the two never take turns (a receipt in flight could print twice). Run one bridge per store`)
    this.name = 'BridgeReplacedError'
  }
}

export class BridgeAuthError extends Error {
  readonly status: number
  constructor(storeId: string, status: number) {
    super(`the hub refused this bridge for store ${storeId} (HTTP ${status}): check the bridge key (--key or TILLBRIDGE_BRIDGE_KEY) and the store id`)
    this.name = 'BridgeAuthError'
    this.status = status
  }
}

export function linkUrl(hubUrl: string, storeId: string): string {
  const u = new URL(hubUrl)
  if (u.protocol === 'http:') u.protocol = 'ws:'
  else if (u.protocol === 'https:') u.protocol = 'wss:'
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/api/v1/bridge/link`
  u.search = new URLSearchParams({ store: storeId }).toString()
  return u.toString()
}

const sameStatus = (a: DeviceStatus, b: DeviceStatus) => JSON.stringify({ ...a, checkedAt: '' }) === JSON.stringify({ ...b, checkedAt: '' })

interface Lane {
  jobs: DeviceWork[]
  busy: boolean
}

export async function startBridge(opts: BridgeOptions): Promise<Bridge> {
  const clock = opts.clock ?? (() => new Date())
  const log = opts.logger ?? createLogger({ level: 'silent' })
  const statusIntervalMs = opts.statusIntervalMs ?? 5000
  const backoff = opts.reconnect ?? { minMs: 250, maxMs: 10_000 }
  const heartbeat = opts.heartbeat ?? { intervalMs: 15_000, timeoutMs: 30_000 }
  const url = linkUrl(opts.hubUrl, opts.storeId)
  const events = new EventEmitter<BridgeEvents>()
  const journal: Journal = await openJournal(opts.journalPath, { clock })

  const counts = { received: 0, duplicates: 0, executed: 0, dropped: 0, recovered: 0, resultsSent: 0, acked: 0, connects: 0 }
  const lanes = new Map<string, Lane>()
  const running = new Set<Promise<void>>()
  let devices: DeviceEndpoint[] = []
  let ws: WebSocket | null = null
  let welcomed = false
  /** Results sent on the current link (a new link sends every unacknowledged one again). */
  let sentOnLink = new Set<string>()
  const lastStatus = new Map<string, DeviceStatus>()
  let attempt = 0
  let reconnectTimer: NodeJS.Timeout | undefined
  let statusTimer: NodeJS.Timeout | undefined
  let polling = false
  let closing = false
  /** Set when close() stopped waiting: a result arriving later is not journaled (the next start reports it unknown). */
  let abandoned = false
  let resolveStopped!: (e: Error | null) => void
  const stopped = new Promise<Error | null>((r) => (resolveStopped = r))

  const isOpen = () => ws !== null && ws.readyState === WebSocket.OPEN
  const send = (msg: BridgeMessage) => {
    if (!isOpen()) return false
    ws!.send(JSON.stringify(msg))
    return true
  }

  // -------------------------------------------------------------------------------------------------------------
  // Results: journaled, then sent in production order; the journal keeps them until the hub's ack.

  const pumpResults = () => {
    if (!welcomed) return
    for (const result of journal.unacked()) {
      if (sentOnLink.has(result.jobId)) continue
      if (!send({ type: 'result', result })) return
      sentOnLink.add(result.jobId)
      counts.resultsSent++
    }
  }

  const produce = async (result: WorkResult) => {
    if (abandoned) {
      log.warn({ jobId: result.jobId, outcome: result.outcome }, 'result after shutdown not recorded; the next start reports the job as unknown')
      return
    }
    await journal.finished(result)
    // The hub records the status a result carries: a later poll reports only what changed since.
    const endpoint = journal.get(result.jobId)?.work?.endpoint
    if (endpoint && result.status) lastStatus.set((endpoint.via ?? endpoint).deviceId, result.status)
    events.emit('result', result)
    pumpResults()
  }

  const outcome = (work: DeviceWork, o: Pick<WorkResult, 'outcome' | 'reason' | 'message'> & { status?: DeviceStatus | null }): WorkResult => ({
    jobId: work.jobId,
    outcome: o.outcome,
    reason: o.reason,
    message: o.message,
    retryable: false,
    status: o.status ?? null,
    finishedAt: clock().toISOString(),
  })

  // -------------------------------------------------------------------------------------------------------------
  // Lanes: one FIFO per device in seq order, one job at a time; drawer kicks have their own lane.

  const laneKey = (work: DeviceWork) => `${work.action === 'drawer' ? 'drawer' : 'device'}:${work.endpoint.deviceId}`
  const laneOf = (key: string) => {
    let lane = lanes.get(key)
    if (!lane) lanes.set(key, (lane = { jobs: [], busy: false }))
    return lane
  }

  const runJob = async (work: DeviceWork) => {
    if (work.expiresAt && clock().getTime() >= Date.parse(work.expiresAt)) {
      counts.dropped++
      log.info({ jobId: work.jobId, action: work.action, expiresAt: work.expiresAt }, 'job expired before it could run: dropped')
      await produce(outcome(work, { outcome: 'dropped', reason: 'expired', message: `expired at ${work.expiresAt}, not delivered late` }))
      return
    }
    await journal.started(work.jobId)
    counts.executed++
    let result: WorkResult
    try {
      const returned = WorkResultSchema.parse(await opts.execute(work))
      result = { ...returned, jobId: work.jobId }
    } catch (err) {
      // The executor failed unexpectedly: bytes may have left, so the outcome is unknown, never a silent retry.
      log.error({ err, jobId: work.jobId }, 'device executor failed')
      result = outcome(work, { outcome: 'unknown', reason: 'executor_error', message: (err as Error)?.message ?? String(err) })
    }
    await produce(result)
  }

  const pumpLane = (key: string) => {
    const lane = laneOf(key)
    if (lane.busy || closing) return
    const work = lane.jobs.shift()
    if (!work) return
    lane.busy = true
    const run = runJob(work)
      .catch((err) => log.error({ err, jobId: work.jobId }, 'job could not be run or recorded'))
      .finally(() => {
        running.delete(run)
        lane.busy = false
        pumpLane(key)
      })
    running.add(run)
  }

  const enqueue = (work: DeviceWork) => {
    const key = laneKey(work)
    const { jobs } = laneOf(key)
    const i = jobs.findIndex((w) => w.seq > work.seq)
    if (i < 0) jobs.push(work)
    else jobs.splice(i, 0, work)
    pumpLane(key)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Status: on request, and polled between jobs for the welcome list's printers, displays and scales.

  /** The device's status, or null when reading it failed unexpectedly (the reader itself threw). */
  const tryReadStatus = async (endpoint: DeviceEndpoint): Promise<DeviceStatus | null> => {
    try {
      return await opts.readStatus(endpoint)
    } catch (err) {
      log.warn({ err, deviceId: endpoint.deviceId }, 'status read failed')
      return null
    }
  }
  const readFailed = (): DeviceStatus => ({ online: null, problem: 'status_failed', checkedAt: clock().toISOString() })

  const reportStatus = (deviceId: string, status: DeviceStatus, always: boolean) => {
    const last = lastStatus.get(deviceId)
    if (!always && last && sameStatus(last, status)) return
    if (send({ type: 'status', deviceId, status })) lastStatus.set(deviceId, status)
  }

  const pollStatus = async () => {
    if (polling || !welcomed) return
    polling = true
    try {
      for (const endpoint of devices.filter((d) => POLLED.includes(d.kind))) {
        const lane = laneOf(`device:${endpoint.deviceId}`)
        if (closing || !welcomed) break
        if (lane.busy || lane.jobs.length > 0) continue // never between a device and its job
        lane.busy = true
        try {
          reportStatus(endpoint.deviceId, (await tryReadStatus(endpoint)) ?? readFailed(), false)
        } finally {
          lane.busy = false
          pumpLane(`device:${endpoint.deviceId}`)
        }
      }
    } finally {
      polling = false
    }
  }

  const answerStatusRequest = async (deviceId: string) => {
    const endpoint = devices.find((d) => d.deviceId === deviceId) ?? devices.map((d) => d.via).find((v) => v?.deviceId === deviceId)
    const status = endpoint ? ((await tryReadStatus(endpoint)) ?? readFailed()) : { online: null, problem: 'unknown_device', checkedAt: clock().toISOString() }
    reportStatus(deviceId, status, true)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Hub messages.

  const onWork = async (work: DeviceWork) => {
    const known = journal.get(work.jobId)
    if (known && !mayRunAgain(known)) {
      counts.duplicates++
      await journal.flush() // its `work` line may still be on its way to disk
      send({ type: 'received', jobId: work.jobId })
      if (known.result && !sentOnLink.has(work.jobId) && send({ type: 'result', result: known.result })) {
        sentOnLink.add(work.jobId)
        counts.resultsSent++
      }
      log.info({ jobId: work.jobId, result: known.result?.outcome ?? 'pending' }, 'job sent again by the hub: answered from the journal, not run again')
      return
    }
    if (known) sentOnLink.delete(work.jobId) // a retry after the device recovered: its new result goes out too
    await journal.record(work)
    counts.received++
    send({ type: 'received', jobId: work.jobId })
    events.emit('work', work)
    enqueue(work)
  }

  const onAck = async (jobId: string) => {
    const rec = journal.get(jobId)
    if (!rec?.result || rec.ackedAt) return
    await journal.acked(jobId)
    counts.acked++
    events.emit('acked', jobId)
  }

  const onMessage = (raw: WebSocket.RawData) => {
    if (closing) return
    let msg: HubMessage
    try {
      const parsed = HubMessage.safeParse(JSON.parse(raw.toString()))
      if (!parsed.success) {
        log.warn({ issues: parsed.error.issues.slice(0, 3) }, 'hub message ignored: not in the protocol')
        return
      }
      msg = parsed.data
    } catch {
      log.warn('hub message ignored: not JSON')
      return
    }
    const fail = (what: string) => (err: unknown) => log.error({ err }, what)
    switch (msg.type) {
      case 'welcome':
        if (msg.protocol !== PROTOCOL_VERSION) log.warn({ hub: msg.protocol, bridge: PROTOCOL_VERSION }, 'hub speaks another protocol version')
        devices = msg.devices
        welcomed = true
        attempt = 0
        lastStatus.clear() // every device's status is sent once per link
        log.info({ devices: devices.length }, 'connected to the hub')
        pumpResults() // before anything else: what was produced while the link was down
        events.emit('connected')
        void pollStatus().catch(fail('status poll failed'))
        return
      case 'work':
        void onWork(msg.work).catch(fail('job could not be accepted'))
        return
      case 'ack':
        void onAck(msg.jobId).catch(fail('ack could not be recorded'))
        return
      case 'status_request':
        void answerStatusRequest(msg.deviceId).catch(fail('status request failed'))
        return
      case 'error':
        log.error({ code: msg.code, hubMessage: msg.message }, 'the hub reported an error')
    }
  }

  // -------------------------------------------------------------------------------------------------------------
  // The link: connect, heartbeat, reconnect with jittered exponential backoff; a refused key stops the bridge.

  const scheduleReconnect = () => {
    if (closing) return
    const ceiling = Math.min(backoff.maxMs, backoff.minMs * 2 ** attempt)
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2)
    attempt++
    log.debug({ delayMs: delay, attempt }, 'reconnecting')
    reconnectTimer = setTimeout(connect, delay)
  }

  const connect = () => {
    if (closing) return
    let refused: number | null = null
    let opened = false
    let lastPong = Date.now()
    let pinger: NodeJS.Timeout | undefined
    const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${opts.key}` }, handshakeTimeout: 10_000 })
    ws = socket
    socket.on('unexpected-response', (_req, res) => {
      refused = res.statusCode ?? 0
      res.resume()
      socket.terminate()
    })
    socket.on('open', () => {
      opened = true
      counts.connects++
      sentOnLink = new Set()
      lastPong = Date.now()
      pinger = setInterval(() => {
        if (Date.now() - lastPong > heartbeat.timeoutMs) {
          log.warn({ silentMs: Date.now() - lastPong }, 'no pong from the hub: the link is dead, reconnecting')
          socket.terminate()
          return
        }
        if (socket.readyState === WebSocket.OPEN) socket.ping()
      }, heartbeat.intervalMs)
      send({ type: 'hello', storeId: opts.storeId, protocol: PROTOCOL_VERSION, agent: BRIDGE_AGENT, bridgeId: journal.bridgeId })
    })
    socket.on('pong', () => (lastPong = Date.now()))
    socket.on('message', onMessage)
    socket.on('error', (err) => {
      if (refused === null) log.warn({ err: err.message, url }, 'hub link error')
    })
    socket.on('close', (code) => {
      clearInterval(pinger)
      const current = ws === socket
      if (ws === socket) ws = null
      const wasWelcomed = welcomed
      welcomed = false
      if (opened) log.warn({ code }, 'link to the hub closed')
      if (wasWelcomed) events.emit('disconnected')
      if (refused === 401 || refused === 403 || code === CLOSE_KEY_REFUSED) {
        const err = new BridgeAuthError(opts.storeId, refused ?? 401)
        log.error({ status: refused ?? 401 }, err.message)
        void stop(err, 5000)
        return
      }
      // Replaced on a link this bridge still uses: another bridge took over (this bridge's own reconnect replaces a
      // link it has already given up).
      if (current && code === CLOSE_REPLACED) {
        const err = new BridgeReplacedError(opts.storeId)
        log.error(err.message)
        void stop(err, 5000)
        return
      }
      if (refused !== null) log.warn({ status: refused }, 'the hub did not accept the link')
      scheduleReconnect()
    })
  }

  const stop = async (error: Error | null, waitMs: number) => {
    if (closing) return stopped.then(() => undefined)
    closing = true
    clearTimeout(reconnectTimer)
    clearInterval(statusTimer)
    if (ws) {
      if (ws.readyState === WebSocket.OPEN) ws.close(1001, 'bridge stopping')
      else ws.terminate()
    }
    if (running.size > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([Promise.all(running), new Promise((r) => (timer = setTimeout(r, waitMs)))])
      clearTimeout(timer)
      if (running.size > 0) log.warn({ jobs: running.size }, 'stopping with jobs still on their devices; they are reported unknown at the next start')
    }
    abandoned = true
    await journal.close()
    log.info({ error: error?.message ?? null }, 'bridge stopped')
    events.emit('stopped', error)
    resolveStopped(error)
  }

  // -------------------------------------------------------------------------------------------------------------
  // Start: settle jobs a previous process left mid-send, queue the accepted ones, then connect.

  await Promise.all(
    journal.inFlight().map(async (work) => {
      const status = await tryReadStatus(work.endpoint) // the hub settles the job with it; it is never re-sent
      counts.recovered++
      log.warn({ jobId: work.jobId, deviceId: work.endpoint.deviceId, online: status?.online ?? null }, 'job was being sent when the bridge stopped: reported unknown, not sent again')
      await produce(
        outcome(work, {
          outcome: 'unknown',
          reason: 'agent_restarted',
          message: 'the bridge stopped while this job was being sent to the device; it was not sent again',
          status,
        }),
      )
    }),
  )
  for (const work of journal.queued()) enqueue(work)
  statusTimer = setInterval(() => void pollStatus().catch((err) => log.error({ err }, 'status poll failed')), statusIntervalMs)
  connect()

  return {
    events,
    get connected() {
      return welcomed && isOpen()
    },
    stopped,
    pendingResults: () => journal.unacked(),
    stats: () => ({
      ...counts,
      queued: [...lanes.values()].reduce((n, l) => n + l.jobs.length, 0),
      pending: journal.unacked().length,
    }),
    close: (o = {}) => stop(null, o.waitMs ?? 5000),
  }
}
