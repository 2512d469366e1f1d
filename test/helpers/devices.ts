// A store wired to simulated devices through a real bridge: the hub's HTTP server with the bridge link, a bridge
// agent on its own journal, a TCP ESC/POS printer and a pole display — the whole path a sale's receipt takes.
import { randomUUID } from 'node:crypto'
import os from 'node:os'
import path from 'node:path'
import { rm } from 'node:fs/promises'
import { createApp } from '../../src/http/app.ts'
import { listen, type HttpServer } from '../../src/http/server.ts'
import { startBridgeLinks, type BridgeLinks } from '../../src/devices/hub-link.ts'
import { startBridge, type Bridge } from '../../src/devices/bridge/agent.ts'
import { executeWork, readDeviceStatus } from '../../src/devices/executor.ts'
import { startEscposPrinter, type PrintedJob, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'
import { startDisplay, type DisplaySimulator } from '../../src/devices/simulators/display.ts'
import type { TestHub } from './db.ts'
import { createApi, seedMerchant, type Api } from './api.ts'
import { seedProduct, seedStore, type SeededStore } from './pos.ts'
import WebSocket from 'ws'

export async function until<T>(read: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await read()
    if (ok(v)) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: last value ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export interface DeviceRig {
  api: Api
  store: SeededStore
  merchantId: string
  printer: SimPrinter
  display: DisplaySimulator
  devices: { printer: any; drawer: any; display: any }
  server: HttpServer
  links: BridgeLinks
  bridge: Bridge
  bridgeKey: string
  journalPath: string
  hubUrl: string
  /** Stops the hub's end of the link (a hub restart, an outage), and brings it back. */
  linkDown(): Promise<void>
  linkUp(): Promise<void>
  startBridge(): Promise<Bridge>
  /** What came out on paper (a connection that only kicked the drawer printed nothing). */
  receipts(): PrintedJob[]
  waitForReceipts(n: number, timeoutMs?: number): Promise<PrintedJob[]>
  sell(opts?: { cash?: boolean; quantity?: number }): Promise<any>
  jobs(): Promise<any[]>
  close(): Promise<void>
}

export async function deviceRig(hub: TestHub, opts: { pumpIntervalMs?: number; statusIntervalMs?: number } = {}): Promise<DeviceRig> {
  const m = await seedMerchant(hub)
  const store = await seedStore(hub, m.merchantId)
  const api = createApi(hub).as(m.adminToken)
  const item = await seedProduct(hub, store, { name: '农夫山泉 550ml', price: 200, stock: 100_000 })
  const printer = await startEscposPrinter()
  const display = await startDisplay()
  const base = { storeId: store.storeId, registerId: store.registerId }
  const p = (await api.post('/api/v1/devices', { ...base, name: 'Receipt printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: printer.address })).body
  const d = (await api.post('/api/v1/devices', { ...base, name: 'Drawer', kind: 'cash_drawer', driver: 'drawer_via_printer', printerId: p.id })).body
  const pole = (await api.post('/api/v1/devices', { ...base, name: 'Pole display', kind: 'customer_display', driver: 'display_tcp', address: display.address })).body
  const bridgeKey = (await api.post(`/api/v1/stores/${store.storeId}/bridge-keys`, { name: 'Store PC' })).body.key as string
  const server = await listen(createApp(hub), { port: 0, host: '127.0.0.1' })
  const hubUrl = `http://127.0.0.1:${server.port}`
  const journalPath = path.join(os.tmpdir(), `tillbridge-bridge-${randomUUID()}.jsonl`)
  const rig: DeviceRig = {
    api,
    store,
    merchantId: m.merchantId,
    printer,
    display,
    devices: { printer: p, drawer: d, display: pole },
    server,
    links: undefined as unknown as BridgeLinks,
    bridge: undefined as unknown as Bridge,
    bridgeKey,
    journalPath,
    hubUrl,
    async linkDown() {
      await rig.links.close()
      await until(() => rig.bridge.connected, (c) => !c, 5_000, 'the bridge to notice')
    },
    async linkUp() {
      rig.links = await startBridgeLinks(hub, { pumpIntervalMs: opts.pumpIntervalMs ?? 1_000 })
      rig.links.attach(server.server)
    },
    async startBridge() {
      rig.bridge = await startBridge({
        hubUrl,
        key: bridgeKey,
        storeId: store.storeId,
        journalPath,
        execute: (w) => executeWork(w),
        readStatus: readDeviceStatus,
        statusIntervalMs: opts.statusIntervalMs ?? 200,
        reconnect: { minMs: 50, maxMs: 200 },
      })
      await until(() => rig.bridge.connected, Boolean, 10_000, 'the bridge to connect')
      return rig.bridge
    },
    receipts: () => printer.printed().filter((p) => p.text.trim() !== ''),
    waitForReceipts: (n, timeoutMs = 10_000) => until(() => rig.receipts(), (r) => r.length >= n, timeoutMs, `${n} receipts`),
    async sell(o = {}) {
      const qty = o.quantity ?? 1
      const r = await api.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: qty }], tenders: [{ kind: o.cash === false ? 'wechat' : 'cash', amount: 200 * qty + (o.cash === false ? 0 : 800) }] })
      if (r.status !== 201) throw new Error(`sale failed: ${JSON.stringify(r.body)}`)
      return r.body
    },
    async jobs() {
      return (await api.get(`/api/v1/device-jobs?storeId=${store.storeId}&limit=500`)).body.items.reverse()
    },
    async close() {
      await rig.bridge?.close({ waitMs: 1000 })
      await rig.links?.close()
      await server.close(1000)
      await printer.close()
      await display.close()
      await rm(journalPath, { force: true })
    },
  }
  await rig.linkUp()
  return rig
}

/** A bridge written by hand on the link's protocol, to send what a real agent would not. */
/** A bridge speaking the link's protocol by hand; `bridgeId` is its journal's id (a new bridge unless given). */
export async function rawBridge(hubUrl: string, storeId: string, key: string, bridgeId: string = randomUUID()) {
  const ws = new WebSocket(`${hubUrl.replace('http', 'ws')}/api/v1/bridge/link?store=${storeId}`, { headers: { authorization: `Bearer ${key}` } })
  const msgs: any[] = []
  let closed: number | null = null
  ws.on('message', (d) => msgs.push(JSON.parse(d.toString())))
  ws.on('close', (code) => (closed = code))
  await new Promise((resolve, reject) => {
    ws.once('open', resolve)
    ws.once('error', reject)
  })
  const send = (m: unknown) => ws.send(JSON.stringify(m))
  const waitFor = async (pred: (m: any) => boolean, ms = 3000) => {
    const deadline = Date.now() + ms
    while (Date.now() < deadline) {
      const hit = msgs.find(pred)
      if (hit) return hit
      await new Promise((r) => setTimeout(r, 20))
    }
    return undefined
  }
  send({ type: 'hello', storeId, protocol: 1, agent: 'test', bridgeId })
  await waitFor((m) => m.type === 'welcome')
  const done = (jobId: string) => send({ type: 'result', result: { jobId, outcome: 'done', reason: null, message: null, retryable: false, status: null, finishedAt: new Date().toISOString() } })
  return { ws, msgs, send, waitFor, done, closed: () => closed, bridgeId }
}

/**
 * A store with a hub-driven (route: hub) ESC/POS printer simulator and an item sold by card: `sell` rings one, `job`
 * reads a sale's own receipt job (not a reprint). The caller closes `sim`.
 */
export async function hubDrivenPrinter(hub: TestHub) {
  const m = await seedMerchant(hub)
  const store = await seedStore(hub, m.merchantId)
  const admin = createApi(hub).as(m.adminToken)
  const sim = await startEscposPrinter()
  const printer = await admin.post('/api/v1/devices', { storeId: store.storeId, registerId: store.registerId, name: 'Printer', kind: 'receipt_printer', driver: 'escpos_tcp', address: sim.address, route: 'hub' })
  if (printer.status !== 201) throw new Error(`printer not registered: ${JSON.stringify(printer.body)}`)
  const item = await seedProduct(hub, store, { name: '散装苹果', price: 990, stock: 50 })
  const sell = async () => (await admin.post('/api/v1/sales', { registerId: store.registerId, lines: [{ sku: item.sku, quantity: 1 }], tenders: [{ kind: 'card', amount: 990 }] })).body
  const job = async (saleId: string) => (await admin.get(`/api/v1/device-jobs?storeId=${store.storeId}`)).body.items.find((j: any) => j.document.saleId === saleId && !j.reprintOf)
  return { m, store, admin, sim, printerId: printer.body.id as string, sell, job }
}
