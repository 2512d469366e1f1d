// Epson ePOS-Print over HTTP (reference §4.1): the job's XML is POSTed in a SOAP envelope to the printer's
// service.cgi, which answers <response success code status>. A refused connection means nothing was sent; a response
// lost once the request went out leaves the job unknown (it may have printed), never resent. An empty <epos-print/>
// is how ePOS polls status.
import http from 'node:http'
import https from 'node:https'
import xml2js from 'xml2js'
import type { DeviceStatus } from '../types.ts'
import { driverResult, fromEposStatus, unreachableStatus, type DriverResult } from './status.ts'

export const EPOS_PRINT_NS = 'http://www.epson-pos.com/schemas/2011/03/epos-print'
const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/'

export interface EposOptions {
  /** Default 5 s. */
  connectTimeoutMs?: number
  /** Waiting for the response once connected; default 20 s, above the printer's own `timeout` (10 s in our URLs). */
  timeoutMs?: number
}

/** What an ePOS response's `code` means for us; codes not listed become `epos:<code>`, not retryable. */
const CODES: Record<string, { reason: string; retryable: boolean }> = {
  EPTR_REC_EMPTY: { reason: 'paper_end', retryable: true },
  EPTR_COVER_OPEN: { reason: 'cover_open', retryable: true },
  EPTR_CUTTER: { reason: 'cutter_error', retryable: true },
  EPTR_MECHANICAL: { reason: 'mechanical_error', retryable: true },
  EPTR_AUTOMATICAL: { reason: 'auto_recoverable_error', retryable: true },
  EPTR_BATTERY_LOW: { reason: 'battery_low', retryable: true },
  EPTR_UNRECOVERABLE: { reason: 'unrecoverable_error', retryable: false },
  DeviceNotFound: { reason: 'device_not_found', retryable: false },
  SchemaError: { reason: 'schema_error', retryable: false },
  EX_BADPORT: { reason: 'bad_port', retryable: true },
  EX_TIMEOUT: { reason: 'timeout', retryable: true },
  EX_SPOOLER: { reason: 'spooler_full', retryable: true },
  Printing: { reason: 'busy', retryable: true },
}

const meaning = (code: string) => CODES[code] ?? { reason: `epos:${code}`, retryable: false }

/** The body as a SOAP envelope: an <epos-print> element alone is wrapped, a full envelope is sent as is. */
const inEnvelope = (xml: string): string =>
  /<([\w-]+:)?Envelope[\s>]/.test(xml)
    ? xml
    : `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${SOAP_NS}"><s:Body>${xml.replace(/^<\?xml[^>]*\?>\s*/, '')}</s:Body></s:Envelope>`

type Exchange = { kind: 'unreachable'; message: string } | { kind: 'lost'; message: string } | { kind: 'answered'; httpStatus: number; body: string }

function post(url: string, body: string, opts: EposOptions): Promise<Exchange> {
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const payload = Buffer.from(body, 'utf8')
  return new Promise((resolve) => {
    let connected = false
    let settled = false
    const finish = (x: Exchange) => {
      if (settled) return
      settled = true
      clearTimeout(connectTimer)
      if (x.kind !== 'answered') req.destroy()
      resolve(x)
    }
    const req = (secure ? https : http).request(target, {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'text/xml; charset=utf-8', SOAPAction: '""', 'Content-Length': payload.length },
    })
    const connectTimer = setTimeout(() => finish({ kind: 'unreachable', message: 'connecting timed out' }), opts.connectTimeoutMs ?? 5000)
    req.on('socket', (socket) => {
      socket.once(secure ? 'secureConnect' : 'connect', () => {
        connected = true
        clearTimeout(connectTimer)
      })
    })
    req.setTimeout(opts.timeoutMs ?? 20_000, () => finish({ kind: connected ? 'lost' : 'unreachable', message: 'no response in time' }))
    req.on('error', (err) => finish({ kind: connected ? 'lost' : 'unreachable', message: err.message }))
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => finish({ kind: 'answered', httpStatus: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', (err) => finish({ kind: 'lost', message: err.message }))
    })
    req.end(payload)
  })
}

interface EposResponse {
  success: boolean
  code: string
  status: number
}

/** The <response> of a reply (inside its envelope or bare), or null when the body is not one. Parses synchronously. */
function parseEposResponse(body: string): EposResponse | null {
  let out: EposResponse | null = null
  xml2js.parseString(body, { explicitArray: false, tagNameProcessors: [xml2js.processors.stripPrefix] }, (err, doc) => {
    const attrs = (doc?.Envelope?.Body?.response ?? doc?.response)?.$
    if (!err && attrs) out = { success: attrs.success === 'true', code: attrs.code ?? '', status: Number(attrs.status ?? 0) }
  })
  return out
}

/** The status a response reports; a failure the mask does not explain (DeviceNotFound, EX_TIMEOUT…) becomes the problem. */
function responseStatus(r: EposResponse): DeviceStatus {
  const status = fromEposStatus(r.status)
  return !r.success && !status.problem ? { ...status, problem: meaning(r.code).reason } : status
}

/** Print ePOS-Print XML (an <epos-print> element or a whole SOAP envelope) at the printer's service.cgi URL. */
export async function printEpos(url: string, xml: string, opts: EposOptions = {}): Promise<DriverResult> {
  const x = await post(url, inEnvelope(xml), opts)
  if (x.kind === 'unreachable') return driverResult('failed', 'unreachable', { retryable: true, status: unreachableStatus(), message: `${x.message}; nothing sent` })
  if (x.kind === 'lost') return driverResult('unknown', 'link_lost', { message: `${x.message} after the request was sent` })
  const r = parseEposResponse(x.body)
  if (!r) {
    const message = `HTTP ${x.httpStatus} without an ePOS response`
    return x.httpStatus >= 400 && x.httpStatus < 500 ? driverResult('failed', `http_${x.httpStatus}`, { message }) : driverResult('unknown', 'bad_response', { message })
  }
  const status = responseStatus(r)
  if (r.success) return driverResult('done', null, { status })
  const { reason, retryable } = meaning(r.code)
  return driverResult('failed', reason, { retryable, status, message: `ePOS ${r.code} (status 0x${(r.status >>> 0).toString(16)})` })
}

/** Poll the printer's status with an empty print. */
export async function readEposStatus(url: string, opts: EposOptions = {}): Promise<DeviceStatus> {
  const x = await post(url, inEnvelope(`<epos-print xmlns="${EPOS_PRINT_NS}"/>`), opts)
  if (x.kind === 'unreachable') return unreachableStatus()
  const r = x.kind === 'answered' ? parseEposResponse(x.body) : null
  return r ? responseStatus(r) : { online: null, problem: 'no_response', checkedAt: new Date().toISOString() }
}
