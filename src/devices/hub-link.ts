// The hub's end of the bridge link: stores' bridges open a WebSocket to /api/v1/bridge/link (the store needs no
// inbound port), authenticated with a key scoped to that store. The hub sends each open job of the store's bridged
// devices in seq order (a failure waiting for its device goes again before later work of it: openWork), applies the
// results at most once, only for jobs it handed over, and acknowledges them, and records device status — not for a
// device switched off.
//
// Work reaches the link at commit: a trigger on device_jobs NOTIFYs 'tb_device_jobs' with the store id, and every
// hub process holding that store's link pumps it. After a reconnect every job handed to that bridge (its journal, named
// in its hello) without a stored result is sent again; the bridge answers a job it already ran with the outcome it
// kept, so nothing runs twice. Another bridge taking over the store is never sent them: they may have run, so their
// outcome is unknown until the bridge that had them answers, a status read or a person settles them. A periodic pump
// covers a lost notification.
import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import type pg from 'pg'
import { WebSocketServer, type WebSocket } from 'ws'
import { authenticate } from '../core/staff/auth.ts'
import { getStore } from '../core/stores/service.ts'
import { findDeviceOfStore, listDevices, recordDeviceStatus } from '../core/devices/registry.ts'
import { applyOutcome, loseToOtherBridges, markSent, openWork, requeueRecovered, settleUnknownByStatus } from '../core/devices/jobs.ts'
import type { Hub } from '../runtime.ts'
import { BridgeMessage, CLOSE_KEY_REFUSED, CLOSE_REPLACED, PROTOCOL_VERSION, type HubMessage } from './protocol.ts'
import type { DeviceStatus, DeviceWork, WorkResult } from './types.ts'
import { buildWork, endpointOf } from './work.ts'

export const LINK_PATH = '/api/v1/bridge/link'

interface Link {
  socket: WebSocket
  merchantId: string
  storeId: string
  /** The key the link opened with: checked again before work goes out and a message is taken. */
  token: string
  /** Jobs sent on this socket (a new socket starts empty, so what was handed to this bridge is sent again). */
  sent: Set<string>
  /** The bridge's journal id, from its hello: the jobs handed to it are sent again only to it. */
  bridgeId: string | null
  /** The bridge said hello (and was told its devices): no work goes out before, whatever wakes the pump. */
  greeted: boolean
  pumping: Promise<void>
  again: boolean
  alive: boolean
}

export interface BridgeLinks {
  attach(server: Server): void
  /** Stores with a bridge connected to this process. */
  connected(): { storeId: string; merchantId: string }[]
  close(): Promise<void>
}

export async function startBridgeLinks(hub: Hub, opts: { pumpIntervalMs?: number; pingIntervalMs?: number } = {}): Promise<BridgeLinks> {
  const log = hub.logger.child({ component: 'bridge-link' })
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 })
  const links = new Map<string, Link>()
  const db = hub.database.db
  /** The connection that LISTENs for device work, while the links are open. */
  let listener: { close(): Promise<void> } | undefined
  let closed = false

  const send = (link: Link, m: HubMessage) => {
    if (link.socket.readyState === link.socket.OPEN) link.socket.send(JSON.stringify(m))
  }

  /**
   * Sends the store's open jobs not yet sent on this socket, in order. One pump at a time per link. A job is marked
   * sent (its attempt counted) and committed before it goes out: a bridge may answer before the hub has sent the
   * rest, and a result must find the job already sent. Nothing before the bridge's hello.
   */
  const pump = (link: Link): Promise<void> => {
    if (!link.greeted) return link.pumping
    if (link.again) return link.pumping
    link.again = true
    link.pumping = link.pumping.then(async () => {
      link.again = false
      if (links.get(link.storeId) !== link || !(await keyStands(link))) return
      const outgoing = await db.transaction(async (tx) => {
        const now = hub.clock()
        const open = await openWork(tx, link.storeId, now)
        const works: { jobId: string; work: DeviceWork; handOver: boolean }[] = []
        const previews = new Map<string, string>()
        // A job not yet handed over (queued, or a waiting failure that is its device's next job) goes out even if this
        // socket carried an earlier attempt of it; one already handed to this bridge goes once per socket (the bridge
        // answers it from its journal); one handed to another bridge never comes here (loseToOtherBridges).
        const resend = (job: (typeof open)[number]['job']) => job.sentTo === link.bridgeId && !link.sent.has(job.id)
        for (const { job, device } of open.filter((o) => o.job.state !== 'sent' || resend(o.job))) {
          try {
            const { work, preview } = await buildWork(tx, job, device, now)
            if (preview) previews.set(job.id, preview)
            works.push({ jobId: job.id, work, handOver: job.state !== 'sent' })
          } catch (err) {
            await applyOutcome(tx, link.storeId, { jobId: job.id, outcome: 'failed', reason: 'render_failed', message: (err as Error).message, retryable: false, status: null, finishedAt: now.toISOString() })
          }
        }
        // What another process's link handed over first is not this link's to send.
        const marked = await markSent(tx, works.filter((w) => w.handOver).map((w) => w.jobId), now, previews, link.bridgeId ?? undefined)
        return works.filter((w) => !w.handOver || marked.has(w.jobId))
      })
      if (links.get(link.storeId) !== link) return
      for (const { jobId, work } of outgoing) {
        send(link, { type: 'work', work })
        link.sent.add(jobId)
      }
    }).catch((err) => log.error({ err, storeId: link.storeId }, 'pumping device work failed'))
    return link.pumping
  }

  /**
   * Whether the link's key still stands (not revoked or expired since the link opened). A link whose key fell is
   * closed (CLOSE_KEY_REFUSED): it gets no more work, and what it sends is not taken.
   */
  const keyStands = async (link: Link): Promise<boolean> => {
    const principal = await authenticate(db, link.token, hub.clock())
    if (principal?.storeId === link.storeId) return true
    if (links.get(link.storeId) === link) links.delete(link.storeId)
    log.warn({ storeId: link.storeId }, 'bridge key revoked or expired: link closed')
    link.socket.close(CLOSE_KEY_REFUSED, 'the bridge key was revoked or has expired')
    return false
  }

  const onStatus = async (link: Link, deviceId: string, status: DeviceStatus) => {
    const now = hub.clock()
    const requeued = await db.transaction(async (tx) => {
      // A bridge speaks for the devices of its own store only.
      const device = await findDeviceOfStore(tx, link.merchantId, link.storeId, deviceId)
      if (!device) {
        send(link, { type: 'error', code: 'unknown_device', message: `device ${deviceId} is not one of this store's` })
        return -1
      }
      // A device switched off gets nothing (its waiting work was dropped): what its bridge still reads of it (the
      // devices it was told about when it connected) changes nothing — no status, no settling, no requeue.
      if (!device.enabled) return 0
      const { recovered } = await recordDeviceStatus(tx, deviceId, status, now)
      await settleUnknownByStatus(tx, deviceId, status, now)
      return recovered || status.problem === null ? requeueRecovered(tx, deviceId, now) : 0
    })
    if (requeued > 0) {
      // The jobs are queued again: send them again on this socket too.
      for (const id of [...link.sent]) link.sent.delete(id)
      void pump(link)
    }
  }

  /**
   * Takes a bridge's result for a job of its store's bridged devices that was handed over (sent): a job never sent, or
   * back in the queue after a retryable failure, did not run, and its result changes nothing (applyOutcome). A result
   * not taken is acknowledged all the same, like one for another store's job: the bridge's journal keeps what it ran
   * and answers the job from it if the hub sends it, and an unacknowledged result would only come back on every link
   * (and keep a retryable failure from running again: the bridge re-runs one only once the hub has acknowledged it).
   */
  const onResult = async (link: Link, r: WorkResult) => {
    const now = hub.clock()
    const deviceId = await db.transaction(async (tx) => {
      const { job } = await applyOutcome(tx, link.storeId, r, { route: 'bridge', bridgeId: link.bridgeId ?? undefined })
      if (job && r.status) await recordDeviceStatus(tx, job.deviceId, r.status, now)
      return job?.deviceId
    })
    send(link, { type: 'ack', jobId: r.jobId })
    if (deviceId && r.status && r.status.problem === null && r.outcome === 'done') await onStatus(link, deviceId, r.status)
  }

  const accept = async (socket: WebSocket, principal: { merchantId: string; storeId: string; token: string }) => {
    const previous = links.get(principal.storeId)
    if (previous) previous.socket.close(CLOSE_REPLACED, 'replaced by a newer connection of this store')
    const link: Link = { socket, merchantId: principal.merchantId, storeId: principal.storeId, token: principal.token, sent: new Set(), bridgeId: null, greeted: false, pumping: Promise.resolve(), again: false, alive: true }
    links.set(principal.storeId, link)
    log.info({ storeId: link.storeId }, 'bridge connected')
    socket.on('pong', () => (link.alive = true))
    socket.on('close', () => {
      if (links.get(link.storeId) === link) links.delete(link.storeId)
      log.info({ storeId: link.storeId }, 'bridge disconnected')
    })
    socket.on('message', (data) => {
      let m: BridgeMessage
      try {
        m = BridgeMessage.parse(JSON.parse(data.toString()))
      } catch (err) {
        send(link, { type: 'error', code: 'bad_message', message: (err as Error).message.slice(0, 300) })
        return
      }
      const handle = async () => {
        // What the bridge reports is taken only while its key stands (hello's pump checks it before sending work;
        // 'received' changes nothing).
        if ((m.type === 'result' || m.type === 'status') && !(await keyStands(link))) return
        if (m.type === 'hello') {
          link.bridgeId = m.bridgeId
          const lost = await db.transaction((tx) => loseToOtherBridges(tx, link.storeId, m.bridgeId, hub.clock()))
          if (lost) log.warn({ storeId: link.storeId, jobs: lost }, 'another bridge took over the store: the jobs handed to the one before are unknown, not sent again')
          const devices = (await listDevices(db, link.merchantId, link.storeId)).filter((d) => d.enabled && d.route === 'bridge')
          const byId = new Map(devices.map((d) => [d.id, d]))
          send(link, { type: 'welcome', storeId: link.storeId, protocol: PROTOCOL_VERSION, devices: devices.map((d) => endpointOf(d, d.printerId ? byId.get(d.printerId) : undefined)) })
          link.greeted = true
          await pump(link)
        } else if (m.type === 'result') await onResult(link, m.result)
        else if (m.type === 'status') await onStatus(link, m.deviceId, m.status)
        // 'received': the job is in the bridge's journal; it was marked sent when it went out.
      }
      handle().catch((err) => log.error({ err, storeId: link.storeId, type: m.type }, 'bridge message failed'))
    })
  }

  const reject = (socket: Duplex, status: number, code: string, message: string) => {
    const body = JSON.stringify({ error: { code, message } })
    socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Bad Request'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://hub')
    if (url.pathname !== LINK_PATH) return
    const token = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]
    const storeId = url.searchParams.get('store') ?? ''
    void (async () => {
      if (!token) return reject(socket, 401, 'unauthenticated', 'send the store’s bridge key as "Authorization: Bearer <key>"')
      const principal = await authenticate(db, token, hub.clock())
      if (!principal) return reject(socket, 401, 'invalid_token', 'the key is unknown, expired or revoked')
      if (!principal.storeId) return reject(socket, 403, 'key_scope', 'the bridge link needs a key scoped to the store (POST /api/v1/stores/{id}/bridge-keys)')
      if (principal.storeId !== storeId) return reject(socket, 403, 'wrong_store', 'this key belongs to another store')
      await getStore(db, principal.merchantId, storeId)
      wss.handleUpgrade(req, socket, head, (ws) => void accept(ws, { merchantId: principal.merchantId, storeId, token }))
    })().catch((err) => {
      log.error({ err }, 'bridge upgrade failed')
      reject(socket, 400, 'link_refused', 'the link could not be opened')
    })
  }

  const retry = (err: unknown) => {
    log.warn({ err }, 'could not listen for device work; retrying')
    if (!closed) setTimeout(() => void listen(), 1000)
  }
  const listen = async (): Promise<void> => {
    let c: pg.PoolClient
    try {
      c = await hub.database.pool.connect()
    } catch (err) {
      return retry(err)
    }
    // The client goes back to the pool once: a second release throws (a hub stopping while its database went away
    // exited 1 with it).
    let released = false
    let listening = false
    const letGo = (destroy: boolean) => {
      if (released) return
      released = true
      c.off('notification', onNotification)
      c.off('error', onError)
      c.release(destroy)
    }
    const onNotification = (n: pg.Notification) => {
      const link = n.payload ? links.get(n.payload) : undefined
      if (link) void pump(link)
    }
    const onError = (err: Error) => {
      if (closed) return // close() lets go of it
      letGo(true)
      if (!listening) return // the LISTEN fails as well, and retries
      log.warn({ err }, 'device notification listener lost; reconnecting')
      listener = undefined
      setTimeout(() => void listen(), 1000)
    }
    c.on('notification', onNotification)
    c.on('error', onError)
    try {
      await c.query('LISTEN tb_device_jobs')
    } catch (err) {
      letGo(true)
      return retry(err)
    }
    listening = true
    const close = async () => {
      await c.query('UNLISTEN tb_device_jobs').catch(() => {})
      letGo(false)
    }
    if (closed) return close() // closed while this was connecting
    listener = { close }
    for (const link of links.values()) void pump(link)
  }
  await listen()

  const timers = [
    setInterval(() => {
      for (const link of links.values()) void pump(link)
    }, opts.pumpIntervalMs ?? 5_000),
    setInterval(() => {
      for (const link of links.values()) {
        if (!link.alive) {
          link.socket.terminate()
          continue
        }
        link.alive = false
        link.socket.ping()
      }
    }, opts.pingIntervalMs ?? 15_000),
  ]
  for (const t of timers) t.unref()

  const servers: Server[] = []
  return {
    attach(server) {
      server.on('upgrade', onUpgrade)
      servers.push(server)
    },
    connected: () => [...links.values()].map((l) => ({ storeId: l.storeId, merchantId: l.merchantId })),
    async close() {
      closed = true
      for (const t of timers) clearInterval(t)
      for (const s of servers) s.off('upgrade', onUpgrade)
      for (const link of links.values()) link.socket.close(1001, 'hub shutting down')
      await Promise.all([...links.values()].map((l) => l.pumping))
      links.clear()
      await listener?.close()
      listener = undefined
      await new Promise<void>((resolve) => wss.close(() => resolve()))
    },
  }
}
