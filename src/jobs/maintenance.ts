// Housekeeping: forget what is only kept for a while (idempotency results, expired sessions, old heartbeats, sign-in
// failures of addresses quiet for a day,
// connector calls past their retention, campaign receipts no delivery ever claimed, statement files a stopped process
// left on disk).
import fs from 'node:fs'
import path from 'node:path'
import { z } from 'zod'
import { and, isNotNull, isNull, lt, or } from 'drizzle-orm'
import { idempotencyKeys, workerHeartbeats } from '../db/infra-schema.ts'
import { sessions, signInThrottle } from '../core/staff/schema.ts'
import { campaignReceipts, RECEIPT_RETENTION_DAYS } from '../core/campaigns/schema.ts'
import { CALL_RETENTION_DAYS, purgeCalls } from '../connectors/framework/call-log.ts'
import { SPOOL_KINDS, SPOOL_SUFFIX, spoolDir } from '../lib/spool.ts'
import { defineTask, type CronDefinition } from './task.ts'

/**
 * Removes the statement files older than `before` from the data dir's spool directories: a file is there only while
 * it is imported (minutes at most), so an older one was left by a process that stopped midway. Returns how many.
 */
export async function removeLeftoverFiles(dataDir: string, before: Date): Promise<number> {
  let removed = 0
  for (const kind of SPOOL_KINDS) {
    const dir = spoolDir(dataDir, kind)
    const entries = await fs.promises.readdir(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : Promise.reject(e)))
    for (const entry of entries) {
      if (!entry.endsWith(SPOOL_SUFFIX)) continue
      const file = path.join(dir, entry)
      const stat = await fs.promises.stat(file).catch(() => undefined)
      if (!stat?.isFile() || stat.mtime >= before) continue
      await fs.promises.rm(file, { force: true })
      removed++
    }
  }
  return removed
}

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
    await db.delete(signInThrottle).where(and(lt(signInThrottle.updatedAt, dayAgo), or(isNull(signInThrottle.lockedUntil), lt(signInThrottle.lockedUntil, now))))
    const connectorCalls = await purgeCalls(db, new Date(now.getTime() - CALL_RETENTION_DAYS * 86_400_000))
    const receipts = await db
      .delete(campaignReceipts)
      .where(lt(campaignReceipts.receivedAt, new Date(now.getTime() - RECEIPT_RETENTION_DAYS * 86_400_000)))
      .returning({ id: campaignReceipts.id })
    const leftoverFiles = await removeLeftoverFiles(hub.config.dataDir, dayAgo)
    hub.logger.info({ idempotencyKeys: keys.length, sessions: gone.length, connectorCalls, campaignReceipts: receipts.length, leftoverFiles }, 'purged expired records')
  },
})

export const tasks = [purge]
export const cron: CronDefinition[] = [{ task: 'maintenance.purge', match: '17 3 * * *', backfillMs: 86_400_000 }]
