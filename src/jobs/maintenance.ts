// Housekeeping: forget what is only kept for a while (idempotency results, expired sessions, old heartbeats,
// connector calls past their retention).
import { z } from 'zod'
import { and, isNotNull, lt, or } from 'drizzle-orm'
import { idempotencyKeys, workerHeartbeats } from '../db/infra-schema.ts'
import { sessions } from '../core/staff/schema.ts'
import { CALL_RETENTION_DAYS, purgeCalls } from '../connectors/framework/call-log.ts'
import { defineTask, type CronDefinition } from './task.ts'

export const purge = defineTask({
  name: 'maintenance.purge',
  payload: z.object({}).loose(),
  async run(_payload, { hub }) {
    const db = hub.database.db
    const now = hub.clock()
    const dayAgo = new Date(now.getTime() - 86_400_000)
    const keys = await db.delete(idempotencyKeys).where(lt(idempotencyKeys.expiresAt, now)).returning({ key: idempotencyKeys.key })
    const gone = await db
      .delete(sessions)
      .where(or(lt(sessions.expiresAt, now), and(isNotNull(sessions.revokedAt), lt(sessions.revokedAt, dayAgo))))
      .returning({ id: sessions.id })
    await db.delete(workerHeartbeats).where(lt(workerHeartbeats.seenAt, dayAgo))
    const connectorCalls = await purgeCalls(db, new Date(now.getTime() - CALL_RETENTION_DAYS * 86_400_000))
    hub.logger.info({ idempotencyKeys: keys.length, sessions: gone.length, connectorCalls }, 'purged expired records')
  },
})

export const tasks = [purge]
export const cron: CronDefinition[] = [{ task: 'maintenance.purge', match: '17 3 * * *', backfillMs: 86_400_000 }]
