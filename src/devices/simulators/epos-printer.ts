// An Epson TM-m30 with ePOS-Print on board, for tests and the demo: a real HTTP server at /cgi-bin/epos/service.cgi
// that reads the SOAP envelope like the printer (reference §4.1) — devid must be local_printer, malformed XML is a
// SchemaError, an element outside the epos-print namespace (a stray xmlns="") is silently ignored — and answers
// <response success code status> with the ASB mask of its paper, cover and drawer. An empty <epos-print/> is a
// status poll and prints nothing.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import xml2js from 'xml2js'
import { EPOS_PRINT_NS } from '../drivers/epos-http.ts'
import { ASB } from '../drivers/status.ts'
import type { PaperState } from './escpos-printer.ts'

const PATH = '/cgi-bin/epos/service.cgi'
const SOAP_NS = 'http://schemas.xmlsoap.org/soap/envelope/'

export interface EposPrintedJob {
  at: Date
  lines: string[]
  /** The lines joined with newlines. */
  text: string
  cuts: number
  drawerKicks: { pin: 2 | 5 }[]
  qr: string[]
  barcodes: string[]
  /** The request body as received. */
  xml: string
}

export interface EposPrinterOptions {
  host?: string
  /** Default 0: an ephemeral port. */
  port?: number
}

export interface SimEposPrinter {
  /** The service URL with devid=local_printer, for the epos_http driver. */
  url: string
  printed(): EposPrintedJob[]
  /** Paper end or an open cover: the printer answers success="false" (EPTR_REC_EMPTY, EPTR_COVER_OPEN) and prints nothing. */
  setPaper(state: PaperState): void
  setCoverOpen(open: boolean): void
  /** The drawer-sense level (ASB_DRAWER_KICK); a <pulse> sets it. */
  setDrawerOpen(open: boolean): void
  /** The next request is handled (printed) but its connection is closed instead of answered. */
  dropNextResponse(): void
  close(): Promise<void>
}

/** A parsed element (xml2js with xmlns, explicitChildren and preserveChildrenOrder). */
interface XmlNode {
  '#name': string
  $ns?: { uri: string; local: string }
  $?: Record<string, { value: string }>
  $$?: XmlNode[]
  _?: string
}

// Text as child nodes: xml2js drops whitespace-only text otherwise, and <text>&#10;</text> is a blank line.
const PARSE_OPTIONS = { xmlns: true, explicitChildren: true, preserveChildrenOrder: true, charsAsChildren: true, includeWhiteChars: true }

const textOf = (el: XmlNode) => (el.$$ ?? []).map((n) => (n['#name'] === '__text__' ? (n._ ?? '') : '')).join('')

/** The <epos-print> element of a request, or null when the body is not an ePOS-Print envelope. */
function eposPrintOf(body: string): XmlNode | null {
  const parsed: { root?: XmlNode } = {}
  xml2js.parseString(body, PARSE_OPTIONS, (err, doc: Record<string, XmlNode> | null) => {
    if (!err && doc) parsed.root = Object.values(doc)[0]
  })
  const child = (node: XmlNode | undefined, uri: string, local: string) => node?.$$?.find((n) => n.$ns?.uri === uri && n.$ns.local === local)
  const envelope = parsed.root
  if (envelope?.$ns?.uri !== SOAP_NS || envelope.$ns.local !== 'Envelope') return null
  return child(child(envelope, SOAP_NS, 'Body'), EPOS_PRINT_NS, 'epos-print') ?? null
}

/** What the printer puts on paper for the elements of an <epos-print>. */
function interpret(print: XmlNode): Omit<EposPrintedJob, 'at' | 'xml'> {
  const job: Omit<EposPrintedJob, 'at' | 'xml'> = { lines: [], text: '', cuts: 0, drawerKicks: [], qr: [], barcodes: [] }
  let line = ''
  const endLine = () => {
    job.lines.push(line)
    line = ''
  }
  const endPendingLine = () => {
    if (line) endLine()
  }
  for (const el of print.$$ ?? []) {
    if (el.$ns?.uri !== EPOS_PRINT_NS) continue
    const attr = (name: string) => el.$?.[name]?.value
    switch (el.$ns.local) {
      case 'text': {
        const [first, ...rest] = textOf(el).split('\n')
        line += first
        for (const part of rest) {
          endLine()
          line += part
        }
        break
      }
      case 'feed': {
        const lines = attr('line')
        if (lines !== undefined) for (let k = 0; k < Number(lines); k++) endLine()
        else if (attr('unit') !== undefined) endPendingLine()
        else endLine()
        break
      }
      case 'cut':
        endPendingLine()
        job.cuts++
        break
      case 'pulse':
        job.drawerKicks.push({ pin: attr('drawer') === 'drawer_2' ? 5 : 2 })
        break
      case 'symbol':
        if (attr('type')?.startsWith('qrcode')) job.qr.push(textOf(el))
        break
      case 'barcode':
        job.barcodes.push(textOf(el))
        break
    }
  }
  endPendingLine()
  job.text = job.lines.join('\n')
  return job
}

const responseXml = (success: boolean, code: string, status: number) =>
  `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${SOAP_NS}"><s:Body><response success="${success}" code="${code}" status="${status >>> 0}" battery="0" xmlns="${EPOS_PRINT_NS}"/></s:Body></s:Envelope>`

export async function startEposPrinter(opts: EposPrinterOptions = {}): Promise<SimEposPrinter> {
  const host = opts.host ?? '127.0.0.1'
  const jobs: EposPrintedJob[] = []
  let paper: PaperState = 'ok'
  let coverOpen = false
  let drawerOpen = false
  let dropNext = false

  const mask = () =>
    (coverOpen || paper === 'end' ? ASB.OFF_LINE : 0) |
    (coverOpen ? ASB.COVER_OPEN : 0) |
    (paper === 'end' ? ASB.RECEIPT_END : paper === 'near_end' ? ASB.RECEIPT_NEAR_END : 0) |
    (drawerOpen ? ASB.DRAWER_KICK : 0)

  /** The printer's answer to one request, printing what it can. */
  const handle = (devid: string | null, body: string): string => {
    if (devid !== 'local_printer') return responseXml(false, 'DeviceNotFound', 0)
    const print = eposPrintOf(body)
    if (!print) return responseXml(false, 'SchemaError', mask())
    if (coverOpen) return responseXml(false, 'EPTR_COVER_OPEN', mask())
    if (paper === 'end') return responseXml(false, 'EPTR_REC_EMPTY', mask())
    if (print.$$?.some((n) => n['#name'] !== '__text__')) {
      const job = { ...interpret(print), at: new Date(), xml: body }
      jobs.push(job)
      if (job.drawerKicks.length) drawerOpen = true
    }
    return responseXml(true, '', mask() | ASB.PRINT_SUCCESS)
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://printer')
    if (url.pathname !== PATH || req.method !== 'POST') {
      res.writeHead(404).end()
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const reply = handle(url.searchParams.get('devid'), Buffer.concat(chunks).toString('utf8'))
      if (dropNext) {
        dropNext = false
        req.socket.destroy()
        return
      }
      res.writeHead(200, { 'Content-Type': 'text/xml; charset=utf-8' }).end(reply)
    })
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, host, resolve))
  const { port } = server.address() as AddressInfo

  return {
    url: `http://${host}:${port}${PATH}?devid=local_printer&timeout=10000`,
    printed: () => jobs.slice(),
    setPaper: (state) => void (paper = state),
    setCoverOpen: (open) => void (coverOpen = open),
    setDrawerOpen: (open) => void (drawerOpen = open),
    dropNextResponse: () => void (dropNext = true),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
