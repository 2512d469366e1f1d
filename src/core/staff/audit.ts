// The audit log: who did what to which record. Written in the same transaction as the change it describes.
import { and, desc, eq, gte, lt, type SQL } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import type { Actor } from './actor.ts'
import { auditLog } from './schema.ts'
import { keysetPage } from '../../db/page.ts'

export interface AuditEntry {
  action: string
  entityType: string
  entityId?: string | null
  details?: Record<string, unknown>
  /** The second person who allowed this action; by default the one the whole request rests on (actor.approvedBy). */
  approverId?: string | null
}

export async function recordAudit(tx: Tx, actor: Actor, entry: AuditEntry): Promise<void> {
  await tx.insert(auditLog).values({
    merchantId: actor.merchantId,
    actorType: actor.type,
    actorId: actor.id,
    actorName: actor.name,
    approverId: entry.approverId ?? actor.approvedBy ?? null,
    action: entry.action,
    entityType: entry.entityType,
    entityId: entry.entityId ?? null,
    details: entry.details ?? {},
    requestId: actor.requestId ?? null,
  })
}

export interface AuditFilter {
  merchantId: string
  action?: string
  entityType?: string
  entityId?: string
  actorId?: string
  from?: Date
  to?: Date
  /** Entries with an id below this one (the `nextCursor` of the previous page). */
  before?: number
  limit: number
}

export async function listAudit(tx: Tx, f: AuditFilter) {
  const where: (SQL | undefined)[] = [
    eq(auditLog.merchantId, f.merchantId),
    f.action ? eq(auditLog.action, f.action) : undefined,
    f.entityType ? eq(auditLog.entityType, f.entityType) : undefined,
    f.entityId ? eq(auditLog.entityId, f.entityId) : undefined,
    f.actorId ? eq(auditLog.actorId, f.actorId) : undefined,
    f.from ? gte(auditLog.at, f.from) : undefined,
    // `to` is given to the millisecond (as entries are shown) and names the entry of that millisecond too, whose
    // stored time has microseconds beyond it.
    f.to ? lt(auditLog.at, new Date(f.to.getTime() + 1)) : undefined,
    f.before ? lt(auditLog.id, f.before) : undefined,
  ]
  const rows = await tx.select().from(auditLog).where(and(...where)).orderBy(desc(auditLog.id)).limit(f.limit + 1)
  return keysetPage(rows, f.limit, (r) => r.id)
}
