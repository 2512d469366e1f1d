import { afterAll, describe, expect, it } from 'vitest'
import { useTestHub } from '../helpers/db.ts'
import { createApi } from '../helpers/api.ts'
import { startWorker, type WorkerHandle } from '../../src/jobs/worker.ts'
import { openDatabase } from '../../src/db/client.ts'

describe('GET /health', () => {
  const hub = useTestHub()
  let worker: WorkerHandle | undefined
  afterAll(async () => worker?.stop(2000))

  it('is 503 when no worker is alive (an API-only process with no worker anywhere)', async () => {
    const r = await createApi(hub).get('/health')
    expect(r.status).toBe(503)
    expect(r.body).toMatchObject({ status: 'degraded', database: { status: 'up' }, worker: { status: 'down', mode: 'external' } })
  })

  it('is 200 when the database answers and the in-process worker runs, 503 once it stopped', async () => {
    worker = await startWorker(hub, { cron: [], pollInterval: 500 })
    const up = await createApi(hub, { worker }).get('/health')
    expect(up.status).toBe(200)
    expect(up.body).toMatchObject({ status: 'ok', database: { status: 'up' }, worker: { status: 'up', mode: 'in-process' } })
    // An API-only process sees the other process's worker through its heartbeat.
    expect((await createApi(hub).get('/health')).body.worker).toEqual({ status: 'up', mode: 'external' })
    await worker.stop(2000)
    const down = await createApi(hub, { worker }).get('/health')
    expect(down.status).toBe(503)
    expect(down.body.worker.status).toBe('down')
  })

  it('is 503 when the database does not answer', async () => {
    const dead = openDatabase('postgres://nobody:x@127.0.0.1:1/none', { logger: hub.logger, max: 1 })
    try {
      const deadHub = { config: hub.config, logger: hub.logger, secrets: hub.secrets, clock: hub.clock, database: dead }
      const r = await createApi(deadHub, { worker: { isRunning: () => true } }).get('/health')
      expect(r.status).toBe(503)
      expect(r.body.database.status).toBe('down')
    } finally {
      await dead.close()
    }
  })
})
