// Stock housekeeping: holds whose time has run out give their stock back to available.
import { z } from 'zod'
import { releaseExpiredReservations } from '../core/stock/reservations.ts'
import { defineTask, type CronDefinition } from './task.ts'

export const releaseExpired = defineTask({
  name: 'stock.release-expired',
  payload: z.object({}).loose(),
  async run(_payload, { hub }) {
    const released = await releaseExpiredReservations(hub.database.db, hub.clock())
    if (released > 0) hub.logger.info({ released }, 'released expired stock reservations')
  },
})

export const tasks = [releaseExpired]
export const cron: CronDefinition[] = [{ task: 'stock.release-expired', match: '*/5 * * * *', backfillMs: 10 * 60_000 }]
