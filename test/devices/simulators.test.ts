import net from 'node:net'
import iconv from 'iconv-lite'
import { afterEach, describe, expect, it } from 'vitest'
import { decodeEscpos } from '../../src/devices/escpos-decode.ts'
import { ASB } from '../../src/devices/drivers/status.ts'
import { startEposPrinter, type SimEposPrinter } from '../../src/devices/simulators/epos-printer.ts'
import { startEscposPrinter, type EscposPrinterOptions, type SimPrinter } from '../../src/devices/simulators/escpos-printer.ts'

const ESC = 0x1b
const GS = 0x1d
const FS = 0x1c
const LF = 0x0a
const b = (...bytes: number[]) => Buffer.from(bytes)
const ascii = (s: string) => Buffer.from(s, 'latin1')

/** GS ( k: store `data` as a model-2 QR symbol, then print it. */
const qrBytes = (data: string) => {
  const d = Buffer.from(data, 'utf8')
  const k = d.length + 3
  return Buffer.concat([b(GS, 0x28, 0x6b, 0x04, 0x00, 0x31, 0x41, 0x32, 0x00), b(GS, 0x28, 0x6b, k % 256, k >> 8, 0x31, 0x50, 0x30), d, b(GS, 0x28, 0x6b, 0x03, 0x00, 0x31, 0x51, 0x30)])
}

describe('the ESC/POS decoder', () => {
  const chineseReceipt = (encoding: 'gbk' | 'gb18030' | 'big5', lines: string[]) =>
    Buffer.concat([
      b(ESC, 0x40, FS, 0x26, ESC, 0x61, 1, GS, 0x21, 0x11),
      iconv.encode(lines[0]!, encoding),
      b(LF, GS, 0x21, 0x00, ESC, 0x61, 0),
      iconv.encode(lines[1]!, encoding),
      b(LF, ESC, 0x45, 1, ESC, 0x2d, 1),
      iconv.encode(lines[2]!, encoding),
      b(LF, ESC, 0x45, 0, ESC, 0x2d, 0, ESC, 0x21, 0x30),
      iconv.encode(lines[3]!, encoding),
      b(LF, ESC, 0x64, 2, GS, 0x56, 0x42, 0x00),
    ])

  it('Chinese text sent in FS & mode comes back as the same Unicode lines, in GBK, GB18030 and Big5', () => {
    const simplified = ['欢迎光临 Tillbridge', '可口可乐 330ml x2   ￥7.00', '合计 TOTAL    ￥12.50', '谢谢惠顾']
    const traditional = ['歡迎光臨 Tillbridge', '可口可樂 330ml x2   NT$70', '合計 TOTAL    NT$125', '謝謝惠顧']
    for (const [encoding, lines] of [['gbk', simplified], ['gb18030', simplified], ['big5', traditional]] as const) {
      const decoded = decodeEscpos(chineseReceipt(encoding, lines), encoding)
      expect(decoded.lines).toEqual([...lines, '', ''])
      expect(decoded.cuts).toBe(1)
      expect(decoded.text).toBe([...lines, '', ''].join('\n'))
    }
  })

  it('the same GBK bytes outside FS & mode are read one byte at a time, as a printer not in Chinese mode does', () => {
    const text = iconv.encode('中文', 'gbk')
    const decoded = decodeEscpos(Buffer.concat([b(ESC, 0x40, FS, 0x2e), text, b(LF)]), 'gbk')
    expect(decoded.lines).toEqual([iconv.decode(text, 'cp437')])
    expect(decoded.lines[0]).not.toContain('中')
  })

  it('FS . leaves Chinese mode in the middle of a line', () => {
    const bytes = Buffer.concat([b(FS, 0x26), iconv.encode('中文', 'gbk'), b(FS, 0x2e), ascii('abc'), b(LF)])
    expect(decodeEscpos(bytes, 'gbk').lines).toEqual(['中文abc'])
  })

  it('single-byte text is read in the code table ESC t selects', () => {
    const bytes = Buffer.concat([b(ESC, 0x40, ESC, 0x74, 19), iconv.encode('Größe 5€', 'cp858'), b(LF)])
    expect(decodeEscpos(bytes, 'cp858').lines).toEqual(['Größe 5€'])
  })

  it('drawer kicks, QR codes and barcodes are read from their commands', () => {
    const bytes = Buffer.concat([
      b(ESC, 0x3d, 0x01, ESC, 0x70, 0x00, 25, 25, ESC, 0x70, 0x31, 25, 25),
      qrBytes('https://t.example/r/0001-中'),
      b(GS, 0x6b, 73, 9),
      ascii('{BA-1{{2X'),
      b(GS, 0x6b, 73, 6),
      ascii('{C'),
      b(12, 34, 5, 7),
      b(GS, 0x6b, 2),
      ascii('4901234567894'),
      b(0x00),
    ])
    const decoded = decodeEscpos(bytes, 'gbk')
    expect(decoded.drawerKicks).toEqual([{ pin: 2 }, { pin: 5 }])
    expect(decoded.qr).toEqual(['https://t.example/r/0001-中'])
    expect(decoded.barcodes).toEqual(['A-1{2X', '12340507', '4901234567894'])
    expect(decoded.lines).toEqual([])
  })

  it('a raster image is skipped whole, whatever bytes its data holds', () => {
    const data = Buffer.alloc(2 * 4, 0)
    b(0x10, 0x04, 0x01, LF, ESC, 0x40).copy(data, 1)
    const bytes = Buffer.concat([ascii('before\n'), b(GS, 0x76, 0x30, 0x00, 2, 0, 4, 0), data, ascii('after\n')])
    expect(decodeEscpos(bytes, 'cp437').lines).toEqual(['before', 'after'])
  })

  it('commands that print nothing are skipped with their parameters, and a truncated last command is ignored', () => {
    const bytes = Buffer.concat([
      b(ESC, 0x33, 0x41), // line spacing 'A'
      b(GS, 0x4c, 0x42, 0x43), // left margin 'B' 'C'
      b(FS, 0x21, 0x44), // Chinese print mode 'D'
      b(ESC, 0x4d, 0x45, GS, 0x42, 0x46, ESC, 0x47, 0x47), // font, reverse, double strike
      b(0x10, 0x04, 0x01, 0x0d), // a status query and a CR
      ascii('ok\n'),
      b(GS, 0x76, 0x30, 0x00, 0x10, 0x00), // a raster header cut short
    ])
    expect(decodeEscpos(bytes, 'cp437').lines).toEqual(['ok'])
  })

  it('ESC @ clears a line that was never printed', () => {
    expect(decodeEscpos(Buffer.concat([ascii('lost'), b(ESC, 0x40), ascii('kept\n')]), 'cp437').lines).toEqual(['kept'])
  })
})

// ---------------------------------------------------------------------------------------------------------------

const sims: { close(): Promise<void> }[] = []
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()))
})

async function escposPrinter(opts: EscposPrinterOptions = {}): Promise<SimPrinter> {
  const sim = await startEscposPrinter(opts)
  sims.push(sim)
  return sim
}

async function eposPrinter(): Promise<SimEposPrinter> {
  const sim = await startEposPrinter()
  sims.push(sim)
  return sim
}

/** A raw client: write, read the bytes that come back, close. */
async function connectTo(address: string) {
  const [host, port] = address.split(':')
  const socket = net.connect({ host: host!, port: Number(port) })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const received: number[] = []
  socket.on('data', (d: Buffer) => received.push(...d))
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  return {
    received,
    write: (bytes: Buffer) => new Promise<void>((resolve, reject) => socket.write(bytes, (err) => (err ? reject(err) : resolve()))),
    /** Sends DLE EOT n and waits (up to a second) for the one-byte reply. */
    ask(n: number): Promise<number> {
      const before = received.length
      socket.write(b(0x10, 0x04, n))
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to DLE EOT ${n}`)), 1000)
        socket.once('data', () => {
          clearTimeout(timer)
          resolve(received[before]!)
        })
      })
    },
    end: () => {
      socket.end()
      return closed
    },
    closed,
  }
}

async function statusBytes(sim: SimPrinter): Promise<number[]> {
  const c = await connectTo(sim.address)
  const replies = [await c.ask(1), await c.ask(2), await c.ask(3), await c.ask(4)]
  await c.end()
  return replies
}

describe('the simulated ESC/POS printer', () => {
  it('answers DLE EOT 1–4 with the bytes of its state', async () => {
    const sim = await escposPrinter()
    expect(await statusBytes(sim)).toEqual([0x12, 0x12, 0x12, 0x12])
    sim.setPaper('near_end')
    expect(await statusBytes(sim)).toEqual([0x12, 0x12, 0x12, 0x1e])
    sim.setPaper('end')
    expect(await statusBytes(sim)).toEqual([0x1a, 0x32, 0x12, 0x72])
    sim.setPaper('ok')
    sim.setCoverOpen(true)
    expect(await statusBytes(sim)).toEqual([0x1a, 0x16, 0x12, 0x12])
    sim.setCoverOpen(false)
    sim.setOffline(true)
    expect(await statusBytes(sim)).toEqual([0x1a, 0x12, 0x12, 0x12])
  })

  it('prints what a connection sent when it ends, leaving the status queries out', async () => {
    const sim = await escposPrinter({ encoding: 'gbk' })
    const c = await connectTo(sim.address)
    expect(await c.ask(1)).toBe(0x12)
    const job = Buffer.concat([b(ESC, 0x40, FS, 0x26), iconv.encode('小票 No.1\n', 'gbk'), b(GS, 0x56, 0x42, 0x00)])
    await c.write(job)
    expect(await c.ask(4)).toBe(0x12)
    await c.end()
    const [printed] = await sim.waitForPrints(1)
    expect(printed!.lines).toEqual(['小票 No.1'])
    expect(printed!.cuts).toBe(1)
    expect(printed!.bytes).toEqual(job)
  })

  it('DLE EOT inside raster data is data, not a query', async () => {
    const sim = await escposPrinter()
    const c = await connectTo(sim.address)
    const raster = Buffer.concat([b(GS, 0x76, 0x30, 0x00, 3, 0, 1, 0), b(0x10, 0x04, 0x01)])
    await c.write(raster.subarray(0, 5))
    await c.write(raster.subarray(5))
    expect(await c.ask(2)).toBe(0x12)
    expect(c.received).toEqual([0x12])
    await c.end()
    const [printed] = await sim.waitForPrints(1)
    expect(printed!.bytes).toEqual(raster)
  })

  it('a connection left open is printed after a quiet moment', async () => {
    const sim = await escposPrinter({ idleMs: 30, encoding: 'cp437' })
    const c = await connectTo(sim.address)
    await c.write(ascii('kept open\n'))
    const [printed] = await sim.waitForPrints(1)
    expect(printed!.lines).toEqual(['kept open'])
    await c.end()
  })

  it('with paper end, an open cover or offline the bytes are discarded, not printed', async () => {
    const sim = await escposPrinter({ encoding: 'cp437' })
    for (const [set, reset] of [
      [() => sim.setPaper('end'), () => sim.setPaper('ok')],
      [() => sim.setCoverOpen(true), () => sim.setCoverOpen(false)],
      [() => sim.setOffline(true), () => sim.setOffline(false)],
    ]) {
      set!()
      const c = await connectTo(sim.address)
      await c.write(ascii('never printed\n'))
      expect(await c.ask(1)).toBe(0x1a) // the bytes before this query have been taken in
      reset!()
      await c.end()
    }
    const c = await connectTo(sim.address)
    await c.write(ascii('printed\n'))
    await c.end()
    await sim.waitForPrints(1)
    await new Promise((r) => setTimeout(r, 50))
    expect(sim.printed().map((j) => j.text)).toEqual(['printed'])
  })

  it('a clone that ignores DLE EOT answers nothing and still prints', async () => {
    const sim = await escposPrinter({ answerStatus: false, encoding: 'cp437' })
    const c = await connectTo(sim.address)
    await c.write(Buffer.concat([b(0x10, 0x04, 0x01), ascii('clone\n')]))
    await c.end()
    const [printed] = await sim.waitForPrints(1)
    expect(c.received).toEqual([])
    expect(printed!.lines).toEqual(['clone'])
  })

  it('dropNextJob closes the link after the given bytes and keeps the part received', async () => {
    const sim = await escposPrinter({ encoding: 'cp437' })
    sim.dropNextJob({ afterBytes: 12 })
    const c = await connectTo(sim.address)
    await c.write(ascii('first line\nsecond line\nthird line\n')).catch(() => undefined)
    await c.closed
    const [partial] = await sim.waitForPrints(1)
    expect(partial!.bytes.toString('latin1')).toBe('first line\ns')
    expect(partial!.lines).toEqual(['first line', 's'])
    const next = await connectTo(sim.address)
    await next.write(ascii('whole\n'))
    await next.end()
    expect((await sim.waitForPrints(2))[1]!.lines).toEqual(['whole'])
  })

  it('runOutOfPaper prints the first bytes, then reports paper end and discards the rest', async () => {
    const sim = await escposPrinter({ encoding: 'cp437' })
    sim.runOutOfPaper({ afterBytes: 6 })
    const c = await connectTo(sim.address)
    await c.write(ascii('line1\nline2\n'))
    expect(await c.ask(4)).toBe(0x72)
    await c.end()
    const [printed] = await sim.waitForPrints(1)
    expect(printed!.lines).toEqual(['line1'])
  })

  it('a drawer kick is recorded with its pin and raises the drawer-sense bit', async () => {
    const sim = await escposPrinter()
    const c = await connectTo(sim.address)
    await c.write(b(ESC, 0x3d, 0x01, ESC, 0x70, 0x01, 25, 25))
    await c.end()
    await sim.waitForPrints(1)
    expect(sim.drawerKicks.map((k) => k.pin)).toEqual([5])
    expect((await statusBytes(sim))[0]).toBe(0x16)
    sim.setDrawerOpen(false)
    expect((await statusBytes(sim))[0]).toBe(0x12)
  })

  it('refusing makes the port refuse connections until it resumes', async () => {
    const sim = await escposPrinter()
    await sim.refuse(true)
    await expect(connectTo(sim.address)).rejects.toMatchObject({ code: 'ECONNREFUSED' })
    await sim.refuse(false)
    expect(await statusBytes(sim)).toEqual([0x12, 0x12, 0x12, 0x12])
  })

  it('onPrint sees each job with the instant its last byte arrived', async () => {
    const sim = await escposPrinter({ encoding: 'cp437' })
    const seen: { text: string; at: Date }[] = []
    const off = sim.onPrint((job) => seen.push({ text: job.text, at: job.at }))
    const c = await connectTo(sim.address)
    await c.write(ascii('timed\n'))
    const sentAt = Date.now()
    await new Promise((r) => setTimeout(r, 40))
    await c.end()
    await sim.waitForPrints(1)
    off()
    expect(seen.map((s) => s.text)).toEqual(['timed'])
    expect(seen[0]!.at.getTime()).toBeLessThan(sentAt + 30)
  })

  it('prints hundreds of jobs a second from concurrent connections', async () => {
    const sim = await escposPrinter({ encoding: 'cp437' })
    const total = 600
    const started = performance.now()
    let next = 0
    const worker = async () => {
      while (next < total) {
        const n = next++
        const c = await connectTo(sim.address)
        expect(await c.ask(1)).toBe(0x12)
        await c.write(Buffer.concat([b(ESC, 0x40), ascii(`job ${n}\n${'x'.repeat(40)}\n`), b(GS, 0x56, 0x42, 0x00)]))
        expect(await c.ask(4)).toBe(0x12)
        await c.end()
      }
    }
    await Promise.all(Array.from({ length: 30 }, worker))
    const jobs = await sim.waitForPrints(total)
    const seconds = (performance.now() - started) / 1000
    expect(new Set(jobs.map((j) => j.lines[0])).size).toBe(total)
    expect(total / seconds).toBeGreaterThan(200)
  })
})

// ---------------------------------------------------------------------------------------------------------------

const SOAP = 'http://schemas.xmlsoap.org/soap/envelope/'
const EPOS = 'http://www.epson-pos.com/schemas/2011/03/epos-print'
const envelope = (inner: string) => `<s:Envelope xmlns:s="${SOAP}"><s:Body><epos-print xmlns="${EPOS}">${inner}</epos-print></s:Body></s:Envelope>`

async function post(url: string, body: string) {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'text/xml; charset=utf-8' }, body })
  const text = await res.text()
  const attr = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(text)?.[1]
  return { httpStatus: res.status, text, success: attr('success'), code: attr('code'), status: Number(attr('status')) }
}

describe('the simulated ePOS printer', () => {
  it('prints text lines, QR data, barcodes, cuts and pulses in document order, and answers success with the ASB mask', async () => {
    const sim = await eposPrinter()
    const r = await post(
      sim.url,
      envelope(
        '<text lang="zh-cn" align="center" dw="true" dh="true">欢迎光临&#10;</text><text>合计 </text><text>￥12.50&#10;</text>' +
          '<feed line="2"/><text align="center"/><symbol type="qrcode_model_2" level="level_m" width="4">https://t.example/r/1?a=1&amp;b=2</symbol>' +
          '<barcode type="code128">A-123</barcode><feed/><text>&#10;</text><cut type="feed"/><pulse drawer="drawer_2" time="pulse_100"/>',
      ),
    )
    expect(r).toMatchObject({ httpStatus: 200, success: 'true', code: '' })
    expect(r.status & ASB.PRINT_SUCCESS).toBeTruthy()
    expect(r.status & ASB.DRAWER_KICK).toBeTruthy()
    const [job] = sim.printed()
    expect(job!.lines).toEqual(['欢迎光临', '合计 ￥12.50', '', '', '', ''])
    expect(job!.qr).toEqual(['https://t.example/r/1?a=1&b=2'])
    expect(job!.barcodes).toEqual(['A-123'])
    expect(job!.cuts).toBe(1)
    expect(job!.drawerKicks).toEqual([{ pin: 5 }])
  })

  it('an element with xmlns="" is not in the ePOS namespace: success, but nothing done (Odoo\'s warning)', async () => {
    const sim = await eposPrinter()
    const r = await post(sim.url, envelope('<text>cut me&#10;</text><cut xmlns="" type="feed"/>'))
    expect(r.success).toBe('true')
    expect(sim.printed()[0]!.cuts).toBe(0)
    expect(sim.printed()[0]!.lines).toEqual(['cut me'])
  })

  it('a wrong devid is DeviceNotFound and a malformed or foreign body is SchemaError, nothing printed', async () => {
    const sim = await eposPrinter()
    expect(await post(sim.url.replace('devid=local_printer', 'devid=kitchen'), envelope('<text>x&#10;</text>'))).toMatchObject({ success: 'false', code: 'DeviceNotFound' })
    expect(await post(sim.url, '<s:Envelope xmlns:s="' + SOAP + '"><s:Body><epos-print>')).toMatchObject({ success: 'false', code: 'SchemaError' })
    expect(await post(sim.url, `<s:Envelope xmlns:s="${SOAP}"><s:Body><epos-print><text>no namespace</text></epos-print></s:Body></s:Envelope>`)).toMatchObject({
      success: 'false',
      code: 'SchemaError',
    })
    expect(sim.printed()).toEqual([])
    expect((await fetch(sim.url.replace('service.cgi', 'other.cgi'), { method: 'POST', body: envelope('') })).status).toBe(404)
  })

  it('paper end and an open cover refuse the print with their codes and status bits', async () => {
    const sim = await eposPrinter()
    sim.setPaper('end')
    const empty = await post(sim.url, envelope('<text>x&#10;</text>'))
    expect(empty).toMatchObject({ success: 'false', code: 'EPTR_REC_EMPTY' })
    expect(empty.status).toBe(ASB.OFF_LINE | ASB.RECEIPT_END)
    sim.setPaper('ok')
    sim.setCoverOpen(true)
    const cover = await post(sim.url, envelope('<text>x&#10;</text>'))
    expect(cover).toMatchObject({ success: 'false', code: 'EPTR_COVER_OPEN' })
    expect(cover.status).toBe(ASB.OFF_LINE | ASB.COVER_OPEN)
    expect(sim.printed()).toEqual([])
  })

  it('an empty epos-print is a status poll: it reports near end and prints nothing', async () => {
    const sim = await eposPrinter()
    sim.setPaper('near_end')
    const r = await post(sim.url, `<s:Envelope xmlns:s="${SOAP}"><s:Body><epos-print xmlns="${EPOS}"/></s:Body></s:Envelope>`)
    expect(r.success).toBe('true')
    expect(r.status & ASB.RECEIPT_NEAR_END).toBeTruthy()
    expect(sim.printed()).toEqual([])
  })

  it('dropNextResponse prints the request and closes the connection without an answer', async () => {
    const sim = await eposPrinter()
    sim.dropNextResponse()
    await expect(post(sim.url, envelope('<text>lost answer&#10;</text>'))).rejects.toThrow()
    expect(sim.printed().map((j) => j.text)).toEqual(['lost answer'])
    expect((await post(sim.url, envelope('<text>next&#10;</text>'))).success).toBe('true')
  })
})
