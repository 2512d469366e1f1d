import net from 'node:net'
import iconv from 'iconv-lite'
import { afterEach, describe, expect, it } from 'vitest'
import { printEpos, readEposStatus } from '../../src/devices/drivers/epos-http.ts'
import { kickDrawer, printEscpos, readStatus } from '../../src/devices/drivers/escpos-tcp.ts'
import { ASB, fromDleEot, fromEposStatus, type DleEotReplies } from '../../src/devices/drivers/status.ts'
import { startEposPrinter, type SimEposPrinter } from '../../src/devices/simulators/epos-printer.ts'
import { startEscposPrinter, type EscposPrinterOptions, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'
import type { DeviceStatus } from '../../src/devices/types.ts'

const AT = new Date('2026-12-02T03:42:00Z')
const replies = (r: Partial<DleEotReplies>): DleEotReplies => ({ printer: 0x12, offline: 0x12, error: 0x12, paper: 0x12, ...r })
const shape = (s: DeviceStatus) => {
  const { checkedAt, ...rest } = s
  expect(checkedAt).toBe(AT.toISOString())
  return rest
}
const FINE = { online: true, coverOpen: false, paper: 'ok', drawerOpen: false, cutterError: false, unrecoverableError: false, problem: null }

describe('DLE EOT replies to a status', () => {
  it.each([
    ['all idle (0x12)', replies({}), FINE],
    ['drawer-sense pin high', replies({ printer: 0x16 }), { ...FINE, drawerOpen: true }],
    ['offline with no cause given', replies({ printer: 0x1a }), { ...FINE, online: false, problem: 'offline' }],
    ['cover open', replies({ printer: 0x1a, offline: 0x16 }), { ...FINE, online: false, coverOpen: true, problem: 'cover_open' }],
    ['paper end (n=2 stop and n=4 sensor)', replies({ printer: 0x1a, offline: 0x32, paper: 0x72 }), { ...FINE, online: false, paper: 'end', problem: 'paper_end' }],
    ['paper end seen only by the n=2 stop bit', replies({ printer: 0x1a, offline: 0x32, paper: null }), { ...FINE, online: false, paper: 'end', problem: 'paper_end' }],
    ['paper near end is a warning, not a problem', replies({ paper: 0x1e }), { ...FINE, paper: 'near_end' }],
    ['autocutter error', replies({ printer: 0x1a, offline: 0x52, error: 0x1a }), { ...FINE, online: false, cutterError: true, problem: 'cutter_error' }],
    ['unrecoverable error is the worst', replies({ printer: 0x1a, offline: 0x56, error: 0x3a, paper: 0x72 }), {
      ...FINE, online: false, coverOpen: true, paper: 'end', cutterError: true, unrecoverableError: true, problem: 'unrecoverable_error',
    }],
    ['cover open outranks paper end', replies({ printer: 0x1a, offline: 0x36, paper: 0x72 }), { ...FINE, online: false, coverOpen: true, paper: 'end', problem: 'cover_open' }],
  ])('%s', (_, r, expected) => {
    expect(shape(fromDleEot(r, AT))).toEqual(expected)
  })

  it('no reply at all is unknown, not offline', () => {
    expect(shape(fromDleEot({ printer: null, offline: null, error: null, paper: null }, AT))).toEqual({ online: null, problem: null })
  })

  it('a byte without the fixed bits of a status reply counts as no reply', () => {
    expect(shape(fromDleEot({ printer: 0x00, offline: 0xff, error: null, paper: 0x41 }, AT))).toEqual({ online: null, problem: null })
    expect(shape(fromDleEot({ printer: 0x12, offline: 0xff, error: null, paper: null }, AT))).toEqual({ online: true, drawerOpen: false, problem: null })
  })
})

describe('ePOS status masks', () => {
  it.each([
    ["Epson's sample 251658262 (0x0F000016): drawer pin high, printed", 251658262, { ...FINE, drawerOpen: true }],
    ['printed, paper near end', ASB.PRINT_SUCCESS | ASB.RECEIPT_NEAR_END, { ...FINE, paper: 'near_end' }],
    ['offline, paper end', ASB.OFF_LINE | ASB.RECEIPT_END, { ...FINE, online: false, paper: 'end', problem: 'paper_end' }],
    ['offline, cover open', ASB.OFF_LINE | ASB.COVER_OPEN, { ...FINE, online: false, coverOpen: true, problem: 'cover_open' }],
    ['offline alone', ASB.OFF_LINE, { ...FINE, online: false, problem: 'offline' }],
    ['autocutter error', ASB.OFF_LINE | ASB.AUTOCUTTER_ERR, { ...FINE, online: false, cutterError: true, problem: 'cutter_error' }],
    ['unrecoverable error', ASB.OFF_LINE | ASB.UNRECOVER_ERR | ASB.RECEIPT_END, { ...FINE, online: false, paper: 'end', unrecoverableError: true, problem: 'unrecoverable_error' }],
    ['the spooler-stopped bit (0x80000000) does not upset the others', 0x80000000 + ASB.PRINT_SUCCESS, FINE],
  ])('%s', (_, mask, expected) => {
    expect(shape(fromEposStatus(mask, AT))).toEqual(expected)
  })

  it('ASB_NO_RESPONSE: the printer behind the service did not answer', () => {
    expect(shape(fromEposStatus(ASB.NO_RESPONSE, AT))).toEqual({ online: null, problem: 'no_response' })
  })
})

// ---------------------------------------------------------------------------------------------------------------

const sims: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()))
})

async function escposPrinter(opts: EscposPrinterOptions = {}): Promise<SimPrinter> {
  const sim = await startEscposPrinter({ encoding: 'gbk', ...opts })
  sims.push(sim)
  return sim
}

/** An address nothing listens on: a port that was free a moment ago. */
async function closedAddress(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

/** A peer that accepts connections and never answers: it reads and drops the bytes, or stops reading at once. */
async function silentPeer(mode: 'read' | 'stop reading'): Promise<string> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => sockets.add(mode === 'read' ? socket.resume() : socket.pause()))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  sims.push({
    close: () => {
      for (const s of sockets) s.destroy()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  })
  return `127.0.0.1:${(server.address() as net.AddressInfo).port}`
}

const receipt = (title: string) =>
  Buffer.concat([Buffer.from([0x1b, 0x40, 0x1c, 0x26]), iconv.encode(`${title}\n合计 ￥12.50\n`, 'gbk'), Buffer.from([0x1b, 0x64, 0x03, 0x1d, 0x56, 0x42, 0x00])])

/** Prints a marker receipt and waits for the simulator's n-th job: everything sent before it has been processed. */
async function printMarker(sim: SimPrinter, n: number) {
  expect((await printEscpos(sim.address, receipt('marker'))).outcome).toBe('done')
  return sim.waitForPrints(n)
}

describe('the ESC/POS TCP driver against the simulated printer', () => {
  it('reads the status of an idle printer and of one near paper end', async () => {
    const sim = await escposPrinter()
    expect(await readStatus(sim.address)).toMatchObject({ ...FINE, checkedAt: expect.any(String) })
    sim.setPaper('near_end')
    expect(await readStatus(sim.address)).toMatchObject({ online: true, paper: 'near_end', problem: null })
  })

  it('prints: done with the status read after the bytes, and the printer has the job', async () => {
    const sim = await escposPrinter()
    sim.setPaper('near_end')
    const result = await printEscpos(sim.address, receipt('收银小票'))
    expect(result).toMatchObject({ outcome: 'done', reason: null, retryable: false, status: { online: true, paper: 'near_end', problem: null } })
    const [job] = await sim.waitForPrints(1)
    expect(job!.lines).toEqual(['收银小票', '合计 ￥12.50', '', '', ''])
    expect(job!.cuts).toBe(1)
  })

  it('paper end: failed paper_end, retryable, and nothing reaches the paper', async () => {
    const sim = await escposPrinter()
    sim.setPaper('end')
    const result = await printEscpos(sim.address, receipt('不应打印'))
    expect(result).toMatchObject({ outcome: 'failed', reason: 'paper_end', retryable: true, status: { online: false, paper: 'end' } })
    sim.setPaper('ok')
    const jobs = await printMarker(sim, 1)
    expect(jobs.map((j) => j.lines[0])).toEqual(['marker'])
    expect(jobs[0]!.bytes.includes(iconv.encode('不应打印', 'gbk'))).toBe(false)
  })

  it('cover open and offline refuse the job before sending anything', async () => {
    const sim = await escposPrinter()
    sim.setCoverOpen(true)
    expect(await printEscpos(sim.address, receipt('x'))).toMatchObject({ outcome: 'failed', reason: 'cover_open', retryable: true })
    sim.setCoverOpen(false)
    sim.setOffline(true)
    expect(await printEscpos(sim.address, receipt('x'))).toMatchObject({ outcome: 'failed', reason: 'offline', retryable: true })
    sim.setOffline(false)
    expect((await printMarker(sim, 1)).map((j) => j.lines[0])).toEqual(['marker'])
  })

  it('an unreachable printer (a closed port, or one refusing) fails as unreachable, retryable', async () => {
    const address = await closedAddress()
    expect(await printEscpos(address, receipt('x'))).toMatchObject({ outcome: 'failed', reason: 'unreachable', retryable: true, status: { online: false, problem: 'unreachable' } })
    expect(await readStatus(address)).toMatchObject({ online: false, problem: 'unreachable' })
    const sim = await escposPrinter()
    await sim.refuse(true)
    expect(await printEscpos(sim.address, receipt('x'))).toMatchObject({ outcome: 'failed', reason: 'unreachable', retryable: true })
    await sim.refuse(false)
    expect((await printMarker(sim, 1)).map((j) => j.lines[0])).toEqual(['marker'])
  })

  it('a link dropped in the middle of the job is unknown link_lost, never retryable, and the printer has only part of it', async () => {
    const sim = await escposPrinter()
    const job = receipt('断线小票')
    sim.dropNextJob({ afterBytes: 10 })
    expect(await printEscpos(sim.address, job)).toMatchObject({ outcome: 'unknown', reason: 'link_lost', retryable: false })
    const [partial] = await sim.waitForPrints(1)
    expect(partial!.bytes).toEqual(job.subarray(0, 10))
  })

  it('a link dropped at the first byte is unknown too, though nothing was printed', async () => {
    const sim = await escposPrinter()
    sim.dropNextJob({ afterBytes: 0 })
    expect(await printEscpos(sim.address, receipt('x'))).toMatchObject({ outcome: 'unknown', reason: 'link_lost', retryable: false })
    expect((await printMarker(sim, 1)).map((j) => j.lines[0])).toEqual(['marker'])
  })

  it('paper running out during the job is unknown paper_end: it may be partly printed', async () => {
    const sim = await escposPrinter()
    sim.runOutOfPaper({ afterBytes: 13 }) // ESC @, FS &, the title and its LF
    const result = await printEscpos(sim.address, receipt('缺纸小票'))
    expect(result).toMatchObject({ outcome: 'unknown', reason: 'paper_end', retryable: false, status: { paper: 'end' } })
    const [partial] = await sim.waitForPrints(1)
    expect(partial!.lines).toEqual(['缺纸小票'])
  })

  it('a clone that ignores DLE EOT: status unknown, and printing still works', async () => {
    const sim = await escposPrinter({ answerStatus: false })
    expect(await readStatus(sim.address, { replyTimeoutMs: 50 })).toMatchObject({ online: null, problem: null })
    const result = await printEscpos(sim.address, receipt('兼容机'), { replyTimeoutMs: 50 })
    expect(result).toMatchObject({ outcome: 'done', reason: null, status: { online: null, problem: null } })
    expect((await sim.waitForPrints(1))[0]!.lines[0]).toBe('兼容机')
  })

  it('a printer slower than the reply timeout counts as not answering; within it, it is read', async () => {
    const sim = await escposPrinter({ latencyMs: 80 })
    expect(await readStatus(sim.address, { replyTimeoutMs: 20 })).toMatchObject({ online: null, problem: null })
    expect(await readStatus(sim.address, { replyTimeoutMs: 500 })).toMatchObject({ online: true, problem: null })
  })

  it('a printer that stops taking bytes: the write times out and the outcome is unknown link_lost', async () => {
    const address = await silentPeer('stop reading')
    const result = await printEscpos(address, Buffer.alloc(64 * 1024 * 1024, 0x41), { replyTimeoutMs: 20, writeTimeoutMs: 200 })
    expect(result).toMatchObject({ outcome: 'unknown', reason: 'link_lost', retryable: false })
    expect(result.message).toContain('timed out')
  })

  it('an address that is not host:port is a programming error, thrown', async () => {
    await expect(printEscpos('printer.local:99999', receipt('x'))).rejects.toThrow(RangeError)
  })

  it('a drawer kick reaches the printer as ESC p on pin 2 or 5 and raises the drawer-sense bit', async () => {
    const sim = await escposPrinter()
    expect(await kickDrawer(sim.address, 2)).toMatchObject({ outcome: 'done', reason: null })
    const [first] = await sim.waitForPrints(1)
    expect(first!.drawerKicks).toEqual([{ pin: 2 }])
    expect(first!.bytes).toEqual(Buffer.from([0x1b, 0x3d, 0x01, 0x1b, 0x70, 0x00, 0x19, 0x19]))
    expect(await readStatus(sim.address)).toMatchObject({ drawerOpen: true })
    expect(await kickDrawer(sim.address, 5)).toMatchObject({ outcome: 'done' })
    await sim.waitForPrints(2)
    expect(sim.drawerKicks.map((k) => k.pin)).toEqual([2, 5])
  })

  it('a drawer kick is not sent to an offline printer', async () => {
    const sim = await escposPrinter()
    sim.setOffline(true)
    expect(await kickDrawer(sim.address, 2)).toMatchObject({ outcome: 'failed', reason: 'offline' })
    sim.setOffline(false)
    await printMarker(sim, 1)
    expect(sim.drawerKicks).toEqual([])
  })

  it('concurrent jobs on their own connections all print, each once', async () => {
    const sim = await escposPrinter()
    const results = await Promise.all(Array.from({ length: 100 }, (_, i) => printEscpos(sim.address, receipt(`单号 ${i}`))))
    expect(results.every((r) => r.outcome === 'done')).toBe(true)
    const jobs = await sim.waitForPrints(100)
    expect(new Set(jobs.map((j) => j.lines[0])).size).toBe(100)
  })
})

// ---------------------------------------------------------------------------------------------------------------

const EPOS = 'http://www.epson-pos.com/schemas/2011/03/epos-print'
const eposJob = (text: string) =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><epos-print xmlns="${EPOS}"><text lang="zh-cn">${text}&#10;</text><cut type="feed"/></epos-print></s:Body></s:Envelope>`

async function eposPrinter(): Promise<SimEposPrinter> {
  const sim = await startEposPrinter()
  sims.push(sim)
  return sim
}

describe('the ePOS-Print driver against the simulated TM-m30', () => {
  it('success: done with the status of the response, and the printer has the lines', async () => {
    const sim = await eposPrinter()
    const result = await printEpos(sim.url, eposJob('欢迎光临'))
    expect(result).toMatchObject({ outcome: 'done', reason: null, status: { online: true, paper: 'ok', problem: null } })
    expect(sim.printed().map((j) => j.lines)).toEqual([['欢迎光临']])
  })

  it('an <epos-print> element alone is sent inside a SOAP envelope', async () => {
    const sim = await eposPrinter()
    expect(await printEpos(sim.url, `<epos-print xmlns="${EPOS}"><text>bare&#10;</text></epos-print>`)).toMatchObject({ outcome: 'done' })
    expect(sim.printed()[0]!.lines).toEqual(['bare'])
  })

  it('EPTR_REC_EMPTY: failed paper_end, retryable, the vendor code in the message', async () => {
    const sim = await eposPrinter()
    sim.setPaper('end')
    const result = await printEpos(sim.url, eposJob('x'))
    expect(result).toMatchObject({ outcome: 'failed', reason: 'paper_end', retryable: true, status: { paper: 'end', problem: 'paper_end' } })
    expect(result.message).toContain('EPTR_REC_EMPTY')
    expect(sim.printed()).toEqual([])
  })

  it('EPTR_COVER_OPEN: failed cover_open, retryable', async () => {
    const sim = await eposPrinter()
    sim.setCoverOpen(true)
    expect(await printEpos(sim.url, eposJob('x'))).toMatchObject({ outcome: 'failed', reason: 'cover_open', retryable: true })
  })

  it('DeviceNotFound and SchemaError fail for good', async () => {
    const sim = await eposPrinter()
    const notFound = await printEpos(sim.url.replace('devid=local_printer', 'devid=bar_printer'), eposJob('x'))
    expect(notFound).toMatchObject({ outcome: 'failed', reason: 'device_not_found', retryable: false, status: { problem: 'device_not_found' } })
    expect(notFound.message).toContain('DeviceNotFound')
    const schema = await printEpos(sim.url, `<epos-print xmlns="${EPOS}"><text>unclosed</epos-print>`)
    expect(schema).toMatchObject({ outcome: 'failed', reason: 'schema_error', retryable: false })
    expect(sim.printed()).toEqual([])
  })

  it('a response lost after the request went out is unknown link_lost, and the printer did print', async () => {
    const sim = await eposPrinter()
    sim.dropNextResponse()
    expect(await printEpos(sim.url, eposJob('回执丢失'))).toMatchObject({ outcome: 'unknown', reason: 'link_lost', retryable: false })
    expect(sim.printed().map((j) => j.lines)).toEqual([['回执丢失']])
  })

  it('a response that never comes in time is unknown as well', async () => {
    const url = `http://${await silentPeer('read')}/cgi-bin/epos/service.cgi?devid=local_printer&timeout=10000`
    expect(await printEpos(url, eposJob('x'), { timeoutMs: 100 })).toMatchObject({ outcome: 'unknown', reason: 'link_lost' })
  })

  it('a refused connection is failed unreachable, retryable: nothing was sent', async () => {
    const address = await closedAddress()
    const url = `http://${address}/cgi-bin/epos/service.cgi?devid=local_printer&timeout=10000`
    expect(await printEpos(url, eposJob('x'))).toMatchObject({ outcome: 'failed', reason: 'unreachable', retryable: true, status: { online: false, problem: 'unreachable' } })
    expect(await readEposStatus(url)).toMatchObject({ online: false, problem: 'unreachable' })
  })

  it('a page that is not the ePOS service fails with its HTTP status', async () => {
    const sim = await eposPrinter()
    expect(await printEpos(sim.url.replace('/epos/', '/other/'), eposJob('x'))).toMatchObject({ outcome: 'failed', reason: 'http_404', retryable: false })
  })

  it('status is polled with an empty print: near end, the drawer after a pulse, paper end', async () => {
    const sim = await eposPrinter()
    sim.setPaper('near_end')
    expect(await readEposStatus(sim.url)).toMatchObject({ online: true, paper: 'near_end', drawerOpen: false, problem: null })
    await printEpos(sim.url, `<epos-print xmlns="${EPOS}"><pulse drawer="drawer_1" time="pulse_100"/></epos-print>`)
    expect(await readEposStatus(sim.url)).toMatchObject({ drawerOpen: true })
    sim.setPaper('end')
    expect(await readEposStatus(sim.url)).toMatchObject({ online: false, paper: 'end', problem: 'paper_end' })
    expect(sim.printed().map((j) => j.drawerKicks)).toEqual([[{ pin: 2 }]])
  })
})
