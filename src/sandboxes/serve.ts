// Serves a vendor simulator's msw handlers on a real local HTTP port, so a connection configured with this address
// talks to the simulator over the network, never to the vendor. Each request is rewritten to the vendor's own origin
// (the handlers match https://api.mch.weixin.qq.com/…, https://{shop}.myshopify.com/…) and answered by msw's
// getResponse; status, headers (every Set-Cookie) and body go back as the handler made them.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import { getResponse, type RequestHandler } from 'msw'

export interface ServeOptions {
  /**
   * The origin the handlers answer on, e.g. https://api.stripe.com. Default: this server's own address, for a
   * simulator built on it (one that hands out absolute URLs the client must be able to follow, such as download links).
   */
  origin?: string
  /** Default 127.0.0.1. */
  host?: string
  /** Default 0: a free port. */
  port?: number
  /** Names the vendor in the 404 answer of a request no handler takes. */
  name?: string
  /** Called with each request before the handlers (a simulator's clock can be moved here). */
  onRequest?(request: Request): void
}

export interface SandboxServer {
  /** http://host:port, without a trailing slash: what a connection's base URL points at. */
  url: string
  /** The origin requests are rewritten to. */
  origin: string
  /** Replaces the handlers (the first that answers a request wins). */
  use(handlers: readonly RequestHandler[]): void
  close(): Promise<void>
}

/** Headers that belong to one hop, not to the request the vendor would have received. */
const HOP_BY_HOP = new Set(['host', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'expect', 'proxy-connection', 'te', 'trailer'])

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function toFetchRequest(req: http.IncomingMessage, origin: string, body: Buffer): Request {
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!
    if (!HOP_BY_HOP.has(name.toLowerCase())) headers.append(name, req.rawHeaders[i + 1]!)
  }
  const method = req.method ?? 'GET'
  const withBody = method !== 'GET' && method !== 'HEAD'
  return new Request(`${origin}${req.url ?? '/'}`, { method, headers, body: withBody ? new Uint8Array(body) : undefined })
}

function sendJson(res: http.ServerResponse, status: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } })
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body)
}

async function writeResponse(req: http.IncomingMessage, res: http.ServerResponse, response: Response): Promise<void> {
  // HttpResponse.error(): the vendor dropped the connection.
  if (response.type === 'error') {
    req.socket.destroy()
    return
  }
  const headers: Record<string, string | string[]> = {}
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie' && name !== 'transfer-encoding' && name !== 'connection') headers[name] = value
  })
  const cookies = response.headers.getSetCookie()
  if (cookies.length) headers['set-cookie'] = cookies
  res.writeHead(response.status, response.statusText || undefined, headers)
  if (!response.body || req.method === 'HEAD') {
    res.end()
    return
  }
  await new Promise<void>((resolve, reject) => {
    const stream = Readable.fromWeb(response.body as WebReadableStream<Uint8Array>)
    stream.on('error', reject)
    res.on('close', resolve)
    stream.pipe(res)
  })
}

/** Starts a server answering with `handlers` (more can be set later with `use`). */
export async function serveHandlers(handlers: readonly RequestHandler[], opts: ServeOptions = {}): Promise<SandboxServer> {
  const host = opts.host ?? '127.0.0.1'
  let current = [...handlers]
  let origin = opts.origin?.replace(/\/+$/, '') ?? ''
  if (origin && new URL(origin).origin !== origin) throw new Error(`"${opts.origin}" is not an origin (scheme, host and port only)`)

  const server = http.createServer((req, res) => {
    void (async () => {
      let request: Request
      try {
        request = toFetchRequest(req, origin, await readBody(req))
      } catch (e) {
        sendJson(res, 400, 'sandbox_bad_request', `the request could not be read: ${(e as Error).message}`)
        return
      }
      let response: Response | undefined
      try {
        opts.onRequest?.(request)
        response = await getResponse(current, request)
      } catch (e) {
        sendJson(res, 500, 'sandbox_error', `the ${opts.name ?? 'vendor'} sandbox failed on ${request.method} ${new URL(request.url).pathname}: ${(e as Error).message}`)
        return
      }
      if (!response) {
        sendJson(res, 404, 'sandbox_no_route', `the ${opts.name ?? 'vendor'} sandbox has no answer for ${request.method} ${new URL(request.url).pathname}`)
        return
      }
      await writeResponse(req, res, response)
    })().catch(() => req.socket.destroy())
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(opts.port ?? 0, host, resolve))
  const { port } = server.address() as AddressInfo
  // A server on every interface is still reached through the loopback address.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host
  const url = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
  if (!origin) origin = url

  return {
    url,
    origin,
    use(next) {
      current = [...next]
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
