import { afterEach, describe, expect, it } from 'vitest'
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import { useTestHub } from '../helpers/db.ts'
import { enqueueForRecord, recordQueueName } from '../../src/db/enqueue.ts'
import { startWorker, type WorkerHandle } from '../../src/jobs/worker.ts'
import { defineRecordTask } from '../../src/jobs/record-queue.ts'

interface Run {
  name: string
  start: number
  end: number
  attempt: number
}

// A job body that writes one remote record: it takes a while, and may fail on its first attempt.
const runs: Run[] = []
const failedOnce = new Set<string>()
const recordWrite = defineRecordTask({
  name: 'test.record-write',
  payload: z.object({ merchantId: z.string(), connectionId: z.string(), name: z.string(), ms: z.number().int(), failFirst: z.boolean().optional() }),
  async run(p, { job }) {
    if (p.failFirst && !failedOnce.has(p.name)) {
      failedOnce.add(p.name)
      throw new Error(`${p.name}: the vendor timed out`)
    }
    const start = Date.now()
    await new Promise((r) => setTimeout(r, p.ms))
    runs.push({ name: p.name, start, end: Date.now(), attempt: job.attempts })
  },
})

async function until(check: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out')
    await new Promise((r) => setTimeout(r, 25))
  }
}

const named = (prefix: string) => runs.filter((r) => r.name.startsWith(prefix)).sort((a, b) => a.start - b.start)
const overlaps = (a: Run, b: Run) => a.start < b.end && b.start < a.end

describe('jobs of one remote record', () => {
  const hub = useTestHub()
  let worker: WorkerHandle | undefined
  afterEach(async () => {
    await worker?.stop(5000)
    worker = undefined
  })
  const merchantId = randomUUID()
  const connectionId = randomUUID()
  const write = (recordKey: string, name: string, extra: { failFirst?: boolean } = {}) => (tx: Parameters<typeof enqueueForRecord>[0]) =>
    enqueueForRecord(tx, 'test.record-write', { merchantId, name, ms: 150, ...extra }, { connectionId, recordKey })

  it('run one at a time and in enqueue order, while jobs of other records run in parallel', async () => {
    const db = hub.database.db
    await db.transaction(async (tx) => {
      await write('sku:A', 'A1')(tx)
      await write('sku:A', 'A2')(tx)
    })
    await db.transaction(async (tx) => write('sku:B', 'B1')(tx))
    await db.transaction(async (tx) => write('sku:A', 'A3')(tx))
    await db.transaction(async (tx) => write('sku:B', 'B2')(tx))
    worker = await startWorker(hub, { concurrency: 4, tasks: [recordWrite], cron: [], pollInterval: 50 })
    await until(() => runs.length === 5)

    const a = named('A')
    const b = named('B')
    expect(a.map((r) => r.name)).toEqual(['A1', 'A2', 'A3'])
    expect(b.map((r) => r.name)).toEqual(['B1', 'B2'])
    for (const list of [a, b]) for (let i = 1; i < list.length; i++) expect(list[i]!.start).toBeGreaterThanOrEqual(list[i - 1]!.end)
    expect(a.some((x) => b.some((y) => overlaps(x, y)))).toBe(true)
  })

  it('a newer job waits while an older job of its record waits for a retry, without spending its attempts', async () => {
    runs.length = 0
    await hub.database.db.transaction(async (tx) => {
      await write('order:1001', 'C1', { failFirst: true })(tx)
      await write('order:1001', 'C2')(tx)
    })
    worker = await startWorker(hub, { concurrency: 4, tasks: [recordWrite], cron: [], pollInterval: 50 })
    await until(() => runs.length === 2)
    const [first, second] = named('C')
    expect([first!.name, second!.name]).toEqual(['C1', 'C2'])
    expect(second!.start).toBeGreaterThanOrEqual(first!.end)
    expect(first!.attempt).toBe(2)
    expect(second!.attempt).toBe(1)
  })

  it('a record key too long for a queue name is hashed into one that fits', () => {
    const name = recordQueueName(connectionId, `sku:${'x'.repeat(200)}`)
    expect(name.length).toBeLessThanOrEqual(128)
    expect(name).toBe(recordQueueName(connectionId, `sku:${'x'.repeat(200)}`))
    expect(name).not.toBe(recordQueueName(connectionId, `sku:${'x'.repeat(199)}y`))
    expect(recordQueueName(connectionId, 'sku:A')).toBe(`rec:${connectionId}:sku:A`)
  })
})
