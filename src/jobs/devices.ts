// Devices the hub drives itself (route 'hub': reachable from the hub's network, or a cloud card terminal): one
// runner job per device (queue device:<id>, woken by the device_jobs trigger at commit) takes the device's queued
// work in order, renders it, runs the driver and stores the outcome. A device with a problem stops its queue: a later
// job never goes before a failure waiting for the device — new work behind it hands that failure over again first
// (claimNextForDevice), and a device still not ready refuses it again. The minute poll reads the status of devices
// with waiting or unknown work and puts recovered work back. A device switched off is neither run nor polled.
import { and, eq, or } from 'drizzle-orm'
import { z } from 'zod'
import { applyOutcome, claimNextForDevice, markSent, requeueRecovered, settleUnknownByStatus } from '../core/devices/jobs.ts'
import { getDevice, recordDeviceStatus } from '../core/devices/registry.ts'
import { deviceJobs, devices } from '../core/devices/schema.ts'
import { executeWork, readDeviceStatus } from '../devices/executor.ts'
import { buildWork, endpointOf } from '../devices/work.ts'
import { defineTask, type CronDefinition } from './task.ts'

export const runDevice = defineTask({
  name: 'device.run',
  payload: z.object({ merchantId: z.uuid(), deviceId: z.uuid() }),
  async run({ merchantId, deviceId }, { hub }) {
    const db = hub.database.db
    for (;;) {
      const claimed = await db.transaction(async (tx) => {
        const now = hub.clock()
        const job = await claimNextForDevice(tx, deviceId, now)
        if (!job) return null
        const device = await getDevice(tx, merchantId, job.deviceId)
        try {
          const { work, preview } = await buildWork(tx, job, device, now)
          await markSent(tx, [job.id], now, preview ? new Map([[job.id, preview]]) : undefined)
          return { job, work }
        } catch (err) {
          await applyOutcome(tx, job.storeId, { jobId: job.id, outcome: 'failed', reason: 'render_failed', message: (err as Error).message, retryable: false, status: null, finishedAt: now.toISOString() })
          return { job, work: null }
        }
      })
      if (!claimed) return
      if (!claimed.work) continue
      const result = await executeWork(claimed.work, { clock: hub.clock })
      await db.transaction(async (tx) => {
        await applyOutcome(tx, claimed.job.storeId, result)
        if (result.status) await recordDeviceStatus(tx, deviceId, result.status, hub.clock())
      })
      hub.logger.info({ deviceJobId: claimed.job.id, deviceId, outcome: result.outcome, reason: result.reason }, 'device job finished')
      // A device that refused work keeps the rest of its queue until it recovers (the poll sees to that) or new work
      // arrives, which tries the refused job again before anything else.
      if (result.outcome === 'failed' && result.retryable) return
    }
  },
})

export const pollDevices = defineTask({
  name: 'device.poll',
  payload: z.object({}).loose(),
  async run(_payload, { hub }) {
    const db = hub.database.db
    const waiting = await db
      .selectDistinct({ device: devices })
      .from(devices)
      .innerJoin(deviceJobs, eq(deviceJobs.deviceId, devices.id))
      .where(
        and(
          eq(devices.route, 'hub'),
          eq(devices.enabled, true),
          or(and(eq(deviceJobs.state, 'failed'), eq(deviceJobs.retryable, true)), eq(deviceJobs.state, 'unknown')),
        ),
      )
    for (const { device } of waiting) {
      const printer = device.printerId ? await getDevice(db, device.merchantId, device.printerId) : undefined
      const status = await readDeviceStatus(endpointOf(device, printer))
      await db.transaction(async (tx) => {
        const now = hub.clock()
        await recordDeviceStatus(tx, device.id, status, now)
        await settleUnknownByStatus(tx, device.id, status, now)
        if (status.problem === null && status.online !== false) await requeueRecovered(tx, device.id, now)
      })
    }
  },
})

export const tasks = [runDevice, pollDevices]
export const cron: CronDefinition[] = [{ task: 'device.poll', match: '* * * * *' }]
