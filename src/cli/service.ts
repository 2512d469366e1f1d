// The long-running commands: `serve` (API + worker), `api` and `worker`, with graceful shutdown on SIGINT/SIGTERM.
import os from 'node:os'
import { poolSizeFor, type Config } from '../lib/config.ts'
import { createApp } from '../http/app.ts'
import { listen, type HttpServer } from '../http/server.ts'
import { startWorker, type WorkerHandle } from '../jobs/worker.ts'
import { openHub } from '../runtime.ts'
import { startBridgeLinks, type BridgeLinks } from '../devices/hub-link.ts'

export async function runService(config: Config, parts: { api: boolean; worker: boolean }): Promise<void> {
  const name = parts.api && parts.worker ? 'serve' : parts.api ? 'api' : 'worker'
  const hub = await openHub(config, { applicationName: `tillbridge-${name}`, poolSize: poolSizeFor(config, parts, os.availableParallelism()) })
  const log = hub.logger
  try {
    hub.secrets.currentKeyId // a bad TILLBRIDGE_SECRET_KEY stops the start, not the first request that needs it
  } catch (e) {
    await hub.close()
    throw e
  }
  let worker: WorkerHandle | undefined
  let server: HttpServer | undefined
  let links: BridgeLinks | undefined
  let stopping = false

  const shutdown = async (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now')
      process.exit(1)
    }
    stopping = true
    log.info({ signal }, 'shutting down')
    const budget = config.shutdownTimeoutMs
    try {
      await links?.close() // bridges reconnect to another hub process, or to this one when it is back
      await server?.close(budget) // no new requests; requests in flight finish (bounded)
      await worker?.stop(budget) // no new jobs; running jobs finish (bounded)
      await hub.close() // pool, then the embedded database if this process owns it
      log.info('stopped')
      process.exit(0)
    } catch (err) {
      log.error({ err }, 'shutdown failed')
      process.exit(1)
    }
  }
  process.once('SIGINT', () => void shutdown('SIGINT'))
  process.once('SIGTERM', () => void shutdown('SIGTERM'))

  // The address printed for people: a wildcard bind is reached as localhost.
  const shown = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  try {
    if (parts.worker) worker = await startWorker(hub)
    if (parts.api) {
      server = await listen(createApp(hub, { worker }), { port: config.port, host: config.host })
      links = await startBridgeLinks(hub)
      links.attach(server.server)
      log.info({ port: server.port }, 'listening')
      process.stdout.write(`Tillbridge ${name} listening on http://${shown}:${server.port} (API reference at /docs, health at /health)\n`)
    } else {
      log.info('worker started')
      if (config.metricsPort !== undefined) {
        // No API here: /health and /metrics on a port of their own, for the scraper and the orchestrator.
        server = await listen(createApp(hub, { worker, routes: 'operations' }), { port: config.metricsPort, host: config.host })
        process.stdout.write(`Tillbridge worker metrics on http://${shown}:${server.port}/metrics (health at /health)\n`)
      }
    }
  } catch (e) {
    await links?.close().catch(() => {})
    await worker?.stop(1000).catch(() => {})
    await hub.close().catch(() => {})
    throw e
  }
}
