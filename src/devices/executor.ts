// Runs one unit of device work with the right driver — the same code in the store's bridge and in the hub (for
// devices the hub reaches directly) — and reads a device's status. Expired work is dropped before any byte moves.
import { printEpos, readEposStatus } from './drivers/epos-http.ts'
import { kickDrawer, printEscpos, readStatus } from './drivers/escpos-tcp.ts'
import { showOnDisplay, showOnSerialDisplay } from './drivers/display.ts'
import { readStableWeight, readStableWeightFromPath } from './drivers/scale.ts'
import { unreachableStatus } from './drivers/status.ts'
import { drawerKickEpos } from './render/epos.ts'
import type { DeviceEndpoint, DeviceStatus, DeviceWork, WorkResult } from './types.ts'

export interface ExecuteOptions {
  clock?: () => Date
  /** How long a scale may take to settle. */
  weighTimeoutMs?: number
}

type Outcome = Omit<WorkResult, 'jobId' | 'finishedAt'>

const failed = (reason: string, message: string, retryable = false): Outcome => ({ outcome: 'failed', reason, message, retryable, status: null })

async function run(work: DeviceWork, opts: ExecuteOptions): Promise<Outcome> {
  const { endpoint: e, payload } = work
  switch (payload.format) {
    case 'escpos':
      if (e.driver !== 'escpos_tcp') return failed('payload_mismatch', `ESC/POS bytes cannot go to a ${e.driver} device`)
      return printEscpos(e.address, Buffer.from(payload.base64, 'base64'))
    case 'epos':
      if (e.driver !== 'epos_http') return failed('payload_mismatch', `ePOS XML cannot go to a ${e.driver} device`)
      return printEpos(e.address, payload.xml)
    case 'drawer': {
      const printer = e.via
      if (!printer) return failed('drawer_without_printer', 'the drawer has no printer to kick it')
      if (printer.driver === 'escpos_tcp') return kickDrawer(printer.address, payload.pin)
      if (printer.driver === 'epos_http') return printEpos(printer.address, drawerKickEpos(payload.pin))
      return failed('payload_mismatch', `a drawer cannot be kicked through a ${printer.driver} device`)
    }
    case 'display': {
      const options = { encoding: e.encoding }
      const shown = e.driver === 'display_serial' ? await showOnSerialDisplay(e.address, payload.lines, options) : await showOnDisplay(e.address, payload.lines, options)
      return { ...shown, status: null }
    }
    case 'weigh': {
      const options = { timeoutMs: opts.weighTimeoutMs ?? 5_000, format: e.scaleFormat ?? 'generic' }
      const w = e.driver === 'scale_serial' ? await readStableWeightFromPath(e.address, options) : await readStableWeight(e.address, options)
      if (!w.ok) return { ...failed(w.reason, w.message, w.reason === 'unreachable'), weight: null }
      return { outcome: 'done', reason: null, message: null, retryable: false, status: null, weight: { grams: w.grams, stable: true } }
    }
  }
}

export async function executeWork(work: DeviceWork, opts: ExecuteOptions = {}): Promise<WorkResult> {
  const clock = opts.clock ?? (() => new Date())
  if (work.expiresAt && Date.parse(work.expiresAt) <= clock().getTime()) {
    return { jobId: work.jobId, outcome: 'dropped', reason: 'expired', message: 'not delivered in time', retryable: false, status: null, finishedAt: clock().toISOString() }
  }
  let out: Outcome
  try {
    out = await run(work, opts)
  } catch (err) {
    out = failed('driver_error', (err as Error).message)
  }
  return { ...out, jobId: work.jobId, finishedAt: clock().toISOString() }
}

export async function readDeviceStatus(endpoint: DeviceEndpoint): Promise<DeviceStatus> {
  const target = endpoint.via ?? endpoint
  try {
    if (target.driver === 'escpos_tcp') return await readStatus(target.address)
    if (target.driver === 'epos_http') return await readEposStatus(target.address)
  } catch {
    return unreachableStatus()
  }
  // Displays and scales have no status command: reachable is all there is to know.
  return { online: null, problem: null, checkedAt: new Date().toISOString() }
}
