// Starts real `tillbridge` processes (on this Node, the project's pinned one) for tests of the command line,
// process lifecycle and the embedded database.
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../../bin/tillbridge.js', import.meta.url))

export interface Running {
  child: ChildProcess
  port: number
  output: () => string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: '', DATABASE_URL: '', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`tillbridge ${args.join(' ')} timed out\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/** Starts `tillbridge serve` and resolves once it listens; PORT=0 picks a free port. */
export const startServe = (env: Record<string, string>, timeoutMs = 60_000): Promise<Running> => startListening('serve', /listening on http:\/\/[^:]+:(\d+)/, env, timeoutMs)

/** Starts `tillbridge worker` with METRICS_PORT (0 unless given) and resolves once its metrics listener is up. */
export const startWorkerProcess = (env: Record<string, string>, timeoutMs = 60_000): Promise<Running> =>
  startListening('worker', /metrics on http:\/\/[^:]+:(\d+)/, { METRICS_PORT: '0', ...env }, timeoutMs)

function startListening(command: 'serve' | 'worker', listening: RegExp, env: Record<string, string>, timeoutMs: number): Promise<Running> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, command], { env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', DATABASE_URL: '', ...env } })
    let out = ''
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })))
    const timer = setTimeout(() => reject(new Error(`${command} did not start:\n${out}`)), timeoutMs)
    const onData = (d: Buffer) => {
      out += d
      const m = listening.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ child, port: Number(m[1]), output: () => out, exited })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', (d) => (out += d))
    void exited.then(({ code }) => {
      clearTimeout(timer)
      reject(new Error(`${command} exited (${code}) before listening:\n${out}`))
    })
  })
}

export async function waitForHealth(port: number, timeoutMs = 30_000): Promise<{ status: number; body: any }> {
  const deadline = Date.now() + timeoutMs
  let last: { status: number; body: any } = { status: 0, body: null }
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`)
      last = { status: r.status, body: await r.json() }
      if (r.status === 200) return last
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100))
  }
  return last
}

export const lastJsonLine = (text: string) => JSON.parse(text.trim().split('\n').pop()!)
