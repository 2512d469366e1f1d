// A 2×20 pole display in Epson mode on TCP, for tests and the demo: it interprets the command set of reference §5.1
// (ESC @, CLR, CAN, cursor home/moves, US $ x y, LF/CR, plain text) into a screen of 40 cells and remembers the
// screen each connection left behind. Overwrite mode only: text wraps from the end of line 1 to line 2 and from the
// end of line 2 back to line 1. Commands that change nothing on the screen (brightness, blink, code table…) are
// read with their arguments and ignored, so a command split across TCP chunks is still understood.
import net from 'node:net'
import type { AddressInfo } from 'node:net'
import iconv from 'iconv-lite'
import type { TextEncoding } from '../types.ts'

const COLUMNS = 20
const ESC = 0x1b
const US = 0x1f

/** Argument bytes after ESC x and US x (x being the second byte); anything not listed takes none. */
const ESC_ARGS: Record<number, number> = { 0x3d: 1, 0x52: 1, 0x57: 6, 0x58: 1, 0x74: 1 }
const US_ARGS: Record<number, number> = { 0x24: 2, 0x43: 1, 0x45: 1, 0x58: 1 }

export interface DisplaySimulatorOptions {
  /** The display's code page; the screen is decoded with it. */
  encoding?: TextEncoding
}

export interface DisplaySimulator {
  /** host:port to give to showOnDisplay. */
  address: string
  /** What the display shows now, each line 20 cells. */
  screen(): [string, string]
  /** The screen as each finished connection left it, oldest first. */
  history(): [string, string][]
  close(): Promise<void>
}

export async function startDisplay(opts: DisplaySimulatorOptions = {}): Promise<DisplaySimulator> {
  const encoding = opts.encoding ?? 'cp437'
  const rows = [Buffer.alloc(COLUMNS, 0x20), Buffer.alloc(COLUMNS, 0x20)]
  let x = 0
  let y = 0
  const shown: [string, string][] = []
  const sockets = new Set<net.Socket>()

  const screen = (): [string, string] => [iconv.decode(rows[0]!, encoding), iconv.decode(rows[1]!, encoding)]
  const clear = () => {
    rows[0]!.fill(0x20)
    rows[1]!.fill(0x20)
    x = 0
    y = 0
  }
  const put = (byte: number) => {
    rows[y]![x] = byte
    x++
    if (x === COLUMNS) {
      x = 0
      y = 1 - y
    }
  }

  /** Runs every complete command in `pending`; returns how many bytes it used (an unfinished command waits). */
  function run(pending: Buffer): number {
    let i = 0
    while (i < pending.length) {
      const b = pending[i]!
      if (b === ESC || b === US) {
        if (i + 1 >= pending.length) return i
        const op = pending[i + 1]!
        const args = (b === ESC ? ESC_ARGS : US_ARGS)[op] ?? 0
        if (i + 2 + args > pending.length) return i
        if (b === ESC && op === 0x40) clear()
        if (b === US && op === 0x24) {
          x = Math.min(Math.max(pending[i + 2]!, 1), COLUMNS) - 1
          y = Math.min(Math.max(pending[i + 3]!, 1), 2) - 1
        }
        if (b === US && op === 0x0a) y = 0 // cursor up
        if (b === US && op === 0x0d) x = COLUMNS - 1 // rightmost
        if (b === US && op === 0x42) {
          x = COLUMNS - 1 // bottom position
          y = 1
        }
        i += 2 + args
        continue
      }
      if (b === 0x0c) clear()
      else if (b === 0x0b) x = y = 0
      else if (b === 0x18) {
        rows[y]!.fill(0x20)
        x = 0
      } else if (b === 0x0a) y = 1 - y // in overwrite mode LF on line 2 goes back to line 1
      else if (b === 0x0d) x = 0
      else if (b === 0x08) x = Math.max(0, x - 1)
      else if (b === 0x09) x = Math.min(COLUMNS - 1, x + 1)
      else if (b >= 0x20) put(b)
      i++
    }
    return i
  }

  const server = net.createServer((socket) => {
    sockets.add(socket)
    let pending = Buffer.alloc(0)
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk])
      pending = pending.subarray(run(pending))
    })
    socket.on('error', () => socket.destroy())
    socket.on('close', () => {
      sockets.delete(socket)
      shown.push(screen())
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo

  return {
    address: `127.0.0.1:${port}`,
    screen,
    history: () => [...shown],
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy()
        server.close(() => resolve())
      }),
  }
}
