// Serves the app over HTTP and closes gracefully: stop accepting, let requests in flight finish, then cut the rest.
import { serve, type ServerType } from '@hono/node-server'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { App } from './app.ts'

export interface HttpServer {
  port: number
  /** The Node server, for protocols beside HTTP requests (the bridge link's WebSocket upgrade). */
  server: Server
  close(timeoutMs: number): Promise<void>
}

export function listen(app: App, opts: { port: number; host: string }): Promise<HttpServer> {
  return new Promise((resolve, reject) => {
    let server: ServerType
    const onError = (e: Error) => reject(e)
    server = serve({ fetch: app.fetch, port: opts.port, hostname: opts.host }, (info: AddressInfo) => {
      const http = server as Server
      http.off('error', onError)
      http.keepAliveTimeout = 5_000
      resolve({
        port: info.port,
        server: http,
        close: (timeoutMs) =>
          new Promise<void>((done) => {
            const timer = setTimeout(() => http.closeAllConnections(), timeoutMs)
            http.close(() => {
              clearTimeout(timer)
              done()
            })
            http.closeIdleConnections()
          }),
      })
    })
    ;(server as Server).once('error', onError)
  })
}
