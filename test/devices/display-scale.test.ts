import fs from 'node:fs/promises'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { changeScreen, displayBytes, idleScreen, itemScreen, showOnDisplay, showOnSerialDisplay, totalScreen } from '../../src/devices/drivers/display.ts'
import { parseCasFrame, parseGenericFrame, readStableWeight, readStableWeightFromPath } from '../../src/devices/drivers/scale.ts'
import { startDisplay, type DisplaySimulator } from '../../src/devices/simulators/display.ts'
import { casFrame, genericFrame, startScale, type ScaleSimulator } from '../../src/devices/simulators/scale.ts'

/** An address nothing listens on: a port that was free a moment ago. */
async function closedAddress(): Promise<string> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `127.0.0.1:${port}`
}

async function tempDir() {
  return fs.mkdtemp(path.join(os.tmpdir(), 'tillbridge-devices-'))
}

const hex = (s: string) => s.replace(/\s+/g, '')

describe('customer display screens', () => {
  it('an item shows its name, then the quantity on the left and the line price on the right', () => {
    expect(itemScreen('Oolong Tea 500ml', '2 x 3.50', 700, 'CNY')).toEqual(['Oolong Tea 500ml    ', '2 x 3.50        7.00'])
  })

  it('a long name is cut at 20 columns and a long quantity gives way to the price', () => {
    expect(itemScreen('Organic Jasmine Green Tea Leaves', '0.350kg x 39.80/kg', 1393, 'CNY')).toEqual(['Organic Jasmine Gree', '0.350kg x 39.8 13.93'])
  })

  it('Chinese characters take two columns each', () => {
    expect(itemScreen('可口可乐 330ml', '1 件', 350, 'CNY')).toEqual(['可口可乐 330ml      ', '1 件            3.50'])
  })

  it('the total names the currency and right-aligns the amount in its own decimals', () => {
    expect(totalScreen(12345, 'CNY')).toEqual(['TOTAL            CNY', '              123.45'])
    expect(totalScreen(1280, 'JPY')).toEqual(['TOTAL            JPY', '                1280'])
  })

  it('change shows what was paid and what is given back', () => {
    expect(changeScreen(20000, 3550, 'CNY')).toEqual(['PAID          200.00', 'CHANGE         35.50'])
  })

  it('the idle text is centred and breaks at a space when it needs two lines', () => {
    expect(idleScreen('Welcome')).toEqual(['      Welcome       ', '                    '])
    expect(idleScreen('Welcome to Tillbridge Market')).toEqual(['     Welcome to     ', ' Tillbridge Market  '])
  })
})

describe('customer display bytes', () => {
  it('an update is CLR, home, line 1, US $ 1 2, line 2, each line exactly 20 cells', () => {
    expect(displayBytes(['Cola', '1 x 3.50'], 'cp437').toString('hex')).toBe(
      hex(`0c 0b 436f6c61 ${'20'.repeat(16)} 1f240102 3120782033 2e3530 ${'20'.repeat(12)}`),
    )
  })

  it('in GBK a Chinese character is two cells and is never cut in half; a Western code page shows ? instead', () => {
    expect(displayBytes(['可乐', 'ABCDEFGHIJKLMNOPQRS可'], 'gbk').toString('hex')).toBe(
      hex(`0c 0b bfc9c0d6 ${'20'.repeat(16)} 1f240102 4142434445464748494a4b4c4d4e4f50515253 20`),
    )
    expect(displayBytes(['可乐', '€1'], 'cp437').toString('hex')).toBe(hex(`0c 0b 3f3f ${'20'.repeat(18)} 1f240102 3f31 ${'20'.repeat(18)}`))
    expect(displayBytes(['', '€1'], 'cp858').subarray(-20).toString('hex')).toBe(hex(`d531 ${'20'.repeat(18)}`))
  })

  it('text never carries a command: clear, reset and cursor moves sent as text show as spaces', () => {
    const bytes = displayBytes(['HELLO\x0c\x1b@WORLD', 'LINE2\x1f\x24\x01\x01X'], 'cp437')
    expect(bytes.toString('hex')).toBe(hex(`0c 0b 48454c4c4f 20 20 40 574f524c44 ${'20'.repeat(7)} 1f240102 4c494e4532 20 24 20 20 58 ${'20'.repeat(10)}`))
    // The only commands are the update's own: one clear, one home, one cursor move.
    expect([...bytes].filter((b) => b < 0x20).map((b) => b.toString(16))).toEqual(['c', 'b', '1f', '1', '2'])
  })
})

describe('customer display over TCP and serial', () => {
  let display: DisplaySimulator | undefined
  afterEach(async () => {
    await display?.close()
    display = undefined
  })

  it('the pole display shows the item, the total, the change and the idle text in turn', async () => {
    display = await startDisplay()
    const screens = [itemScreen('Oolong Tea 500ml', '2 x 3.50', 700, 'CNY'), totalScreen(2580, 'CNY'), changeScreen(5000, 2420, 'CNY'), idleScreen('Thank you')]
    for (const lines of screens) {
      expect(await showOnDisplay(display.address, lines, { init: lines === screens[0] })).toEqual({ outcome: 'done', reason: null, message: null, retryable: false })
    }
    await vi.waitFor(() => expect(display!.history()).toHaveLength(4))
    expect(display.history()).toEqual(screens)
    expect(display.screen()).toEqual(['     Thank you      ', '                    '])
  })

  it('a GBK display shows Chinese names', async () => {
    display = await startDisplay({ encoding: 'gbk' })
    const lines = itemScreen('可口可乐', '1 x 3.50', 350, 'CNY')
    expect((await showOnDisplay(display.address, lines, { encoding: 'gbk' })).outcome).toBe('done')
    await vi.waitFor(() => expect(display!.history()).toHaveLength(1))
    expect(display.screen()).toEqual(['可口可乐            ', '1 x 3.50        3.50'])
  })

  it('the simulator follows cursor moves, CAN, CR and wrapping, even when a command is split across packets', async () => {
    display = await startDisplay()
    const socket = net.connect(Number(display.address.split(':')[1]), '127.0.0.1')
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.write(Buffer.from([0x0c, ...Buffer.from('ABCDEFGHIJKLMNOPQRSTUV'), 0x1f]))
    await new Promise((resolve) => setTimeout(resolve, 30))
    socket.write(Buffer.from([0x24, 0x05, 0x01, ...Buffer.from('xy'), 0x0a, 0x18, ...Buffer.from('line2'), 0x0d, 0x42]))
    await new Promise<void>((resolve) => socket.end(() => resolve()))
    await vi.waitFor(() => expect(display!.history()).toHaveLength(1))
    expect(display.screen()).toEqual(['ABCDxyGHIJKLMNOPQRST', 'Bine2               '])
  })

  it('a display nobody answers for fails as unreachable, to be tried again', async () => {
    expect(await showOnDisplay(await closedAddress(), idleScreen('Welcome'))).toMatchObject({ outcome: 'failed', reason: 'unreachable', retryable: true })
  })

  it('a serial display gets the same bytes, with ESC @ first when asked', async () => {
    const dir = await tempDir()
    const port = path.join(dir, 'ttyUSB0')
    await fs.writeFile(port, '')
    const lines = totalScreen(999, 'CNY')
    expect((await showOnSerialDisplay(port, lines, { init: true })).outcome).toBe('done')
    expect((await fs.readFile(port)).toString('hex')).toBe(`1b40${displayBytes(lines, 'cp437').toString('hex')}`)
    expect(await showOnSerialDisplay(path.join(dir, 'missing', 'ttyUSB1'), lines)).toMatchObject({ outcome: 'failed', reason: 'unreachable', retryable: true })
    await fs.rm(dir, { recursive: true })
  })
})

/** A CAS 22-byte frame: header, device id '1', lamp byte (bit 7 always, bit 6 stable, bit 2 gross), 8-byte weight, unit. */
const cas = (header: string, weight: string, unit = ' kg', lamp = 0xc4) =>
  Buffer.concat([Buffer.from(`${header},1`, 'latin1'), Buffer.from([lamp]), Buffer.from(`,${weight}${unit}\r\n`, 'latin1')])

describe('scale frames', () => {
  it.each([
    ['stable gross', cas('ST,GS', '0001.234'), { stable: true, overload: false, net: false, grams: 1234, unit: 'kg' }],
    ['unstable net', cas('US,NT', '0000.350', ' kg', 0x86), { stable: false, overload: false, net: true, grams: 350 }],
    ['the manual’s 13.5 kg', cas('ST,GS', '000013.5'), { stable: true, grams: 13_500 }],
    ['overload', cas('OL,GS', '9999.999'), { stable: false, overload: true, grams: 9_999_999 }],
    ['under zero', cas('ST,GS', '-000.020'), { stable: true, grams: -20 }],
  ])('CAS 22 bytes: %s', (_name, frame, expected) => {
    expect(frame).toHaveLength(22)
    expect(parseCasFrame(frame)).toMatchObject(expected)
  })

  it('CAS frames of the wrong length or with unknown headers are not frames', () => {
    expect(parseCasFrame(Buffer.from('ST,GS,+0001.234kg\r\n'))).toBeNull()
    expect(parseCasFrame(cas('XX,GS', '0001.234'))).toBeNull()
    expect(parseCasFrame(cas('ST,GS', '0001.234', '  t'))).toBeNull()
  })

  it.each([
    ['ST,GS,+0001.234kg\r\n', { stable: true, overload: false, net: false, grams: 1234, unit: 'kg' }],
    ['US,GS,+0000.500kg\r\n', { stable: false, grams: 500 }],
    ['OL,GS,+9999.999kg\r\n', { overload: true, stable: false }],
    ['OL,GS,  ------ kg\r\n', { overload: true, grams: null }],
    ['ST,NT,-0000.015kg\r\n', { net: true, grams: -15 }],
    ['ST,GS,+  350 g\r\n', { grams: 350, unit: 'g' }],
    ['ST,GS,+001.00lb\r\n', { grams: 454, unit: 'lb' }], // 453.59237 g
    ['ST,GS,+  0.25lb\r\n', { grams: 113 }], // 113.3980925 g
    ['ST,GS,+0002.205LB\r\n', { grams: 1000, unit: 'lb' }], // 1000.1711759 g
    ['ST,GS,+0003.50oz\r\n', { grams: 99, unit: 'oz' }], // 99.2233309 g
    ['ST,GS,+0.0005kg\r\n', { grams: 1 }], // exactly half a gram rounds up
    ['ST,GS,-0000.000kg\r\n', { grams: 0 }],
  ])('generic indicator line %j', (frame, expected) => {
    expect(parseGenericFrame(Buffer.from(frame, 'latin1'))).toMatchObject(expected)
  })

  it('lines that are not indicator frames are not frames', () => {
    for (const line of ['hello\r\n', 'ST,XX,+0001.000kg\r\n', 'ST,GS,+0001.000t\r\n', 'ST,GS,+kg\r\n', 'US,GS,+1.2.3kg\r\n']) expect(parseGenericFrame(line)).toBeNull()
  })

  it('the simulator’s frames are what the parsers read', () => {
    expect(casFrame('ST', 1234)).toHaveLength(22)
    expect(parseCasFrame(casFrame('ST', 1234))).toMatchObject({ stable: true, grams: 1234 })
    expect(parseCasFrame(casFrame('US', -20))).toMatchObject({ stable: false, grams: -20 })
    expect(parseGenericFrame(genericFrame('ST', 350))).toMatchObject({ stable: true, grams: 350, raw: 'ST,GS,+0000.350kg' })
  })
})

describe('reading a scale', () => {
  let scale: ScaleSimulator | undefined
  afterEach(async () => {
    await scale?.close()
    scale = undefined
  })

  it('waits out the unstable frames of goods just placed and returns the stable grams', async () => {
    scale = await startScale({ format: 'cas22', intervalMs: 20 })
    scale.place(1234)
    const started = performance.now()
    setTimeout(() => scale!.settle(), 150)
    const result = await readStableWeight(scale.address, { format: 'cas22', timeoutMs: 2000 })
    expect(result).toMatchObject({ ok: true, grams: 1234, net: false })
    expect(performance.now() - started).toBeGreaterThanOrEqual(145)
  })

  it('joins frames that arrive in pieces', async () => {
    scale = await startScale({ format: 'generic', intervalMs: 20, split: true })
    scale.place(350)
    scale.settle()
    expect(await readStableWeight(scale.address, { format: 'generic', timeoutMs: 2000 })).toMatchObject({ ok: true, grams: 350 })
  })

  it('gives up as unstable when the weight never settles', async () => {
    scale = await startScale({ format: 'generic', intervalMs: 20 })
    scale.place(500)
    expect(await readStableWeight(scale.address, { format: 'generic', timeoutMs: 300 })).toMatchObject({ ok: false, reason: 'unstable' })
  })

  it('settled goods that swing again are waited for once more', async () => {
    scale = await startScale({ format: 'generic', intervalMs: 20 })
    scale.place(800)
    scale.settle()
    scale.wobble()
    expect(await readStableWeight(scale.address, { format: 'generic', timeoutMs: 200 })).toMatchObject({ ok: false, reason: 'unstable' })
  })

  it('refuses an overload and a stable weight under zero at once', async () => {
    scale = await startScale({ format: 'cas22', intervalMs: 20 })
    scale.overload()
    expect(await readStableWeight(scale.address, { format: 'cas22', timeoutMs: 2000 })).toMatchObject({ ok: false, reason: 'overload' })
    scale.place(-20)
    scale.settle()
    expect(await readStableWeight(scale.address, { format: 'cas22', timeoutMs: 2000 })).toMatchObject({ ok: false, reason: 'negative' })
  })

  it('a scale nobody answers for is unreachable', async () => {
    expect(await readStableWeight(await closedAddress(), { format: 'generic', timeoutMs: 1000 })).toMatchObject({ ok: false, reason: 'unreachable' })
  })

  it('reads a serial stream from a device path', async () => {
    const dir = await tempDir()
    const port = path.join(dir, 'ttyUSB0')
    await fs.writeFile(port, Buffer.concat([Buffer.from('0,+0000.9'), genericFrame('US', 990), genericFrame('US', 1003), genericFrame('ST', 1001), genericFrame('ST', 1001)]))
    expect(await readStableWeightFromPath(port, { format: 'generic', timeoutMs: 1000 })).toMatchObject({ ok: true, grams: 1001 })
    expect(await readStableWeightFromPath(path.join(dir, 'ttyUSB9'), { format: 'generic' })).toMatchObject({ ok: false, reason: 'unreachable' })
    await fs.rm(dir, { recursive: true })
  })
})
