// Business events of the hub (sale.completed, stock.low, …), written in the transaction of the change they
// describe. Integrators read them as a feed; outbound webhooks deliver them.
import { sql } from 'drizzle-orm'
import { bigint, customType, index, jsonb, pgTable, text } from 'drizzle-orm/pg-core'
import { createdAt, merchantId } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'

/** A transaction id (PostgreSQL's xid8), as text: it outgrows a JavaScript number. */
const xid8 = customType<{ data: string }>({ dataType: () => 'xid8' })

export const events = pgTable(
  'events',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    merchantId: merchantId().references(() => merchants.id),
    type: text('type').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
    createdAt: createdAt(),
    /**
     * The transaction that wrote it. Ids are taken as rows are written, but a row is seen only when its transaction
     * commits, so ids alone do not give the order events become visible: the feed reads in (xid, id) order, only
     * transactions already ended (see listEvents).
     */
    xid: xid8('xid').notNull().default(sql`pg_current_xact_id()`),
  },
  (t) => [index('events_feed_idx').on(t.merchantId, t.xid, t.id), index('events_type_idx').on(t.merchantId, t.type, t.xid, t.id)],
)
