// Business events of the hub (sale.completed, stock.low, …), written in the transaction of the change they
// describe. Integrators read them as a feed; outbound webhooks deliver them.
import { bigint, index, jsonb, pgTable, text } from 'drizzle-orm/pg-core'
import { createdAt, merchantId } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'

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
  },
  (t) => [index('events_merchant_idx').on(t.merchantId, t.id), index('events_type_idx').on(t.merchantId, t.type, t.id)],
)
