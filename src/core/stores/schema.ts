// Stores, the stock locations inside them (shop floor, back room, warehouse) and their registers (tills).
import { sql } from 'drizzle-orm'
import { boolean, index, pgTable, text, uniqueIndex, uuid } from 'drizzle-orm/pg-core'
import { createdAt, id, merchantId, updatedAt } from '../../db/columns.ts'
import { merchants } from '../merchants/schema.ts'

export const stores = pgTable(
  'stores',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    /** Short code used in receipt numbers, e.g. "SH01". */
    code: text('code').notNull(),
    name: text('name').notNull(),
    address: text('address'),
    phone: text('phone'),
    status: text('status').$type<'active' | 'closed'>().notNull().default('active'),
    createdAt: createdAt(),
    updatedAt: updatedAt(),
  },
  (t) => [uniqueIndex('stores_code_key').on(t.merchantId, t.code)],
)

export type LocationKind = 'floor' | 'backroom' | 'warehouse'

export const stockLocations = pgTable(
  'stock_locations',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    storeId: uuid('store_id')
      .notNull()
      .references(() => stores.id),
    name: text('name').notNull(),
    kind: text('kind').$type<LocationKind>().notNull().default('floor'),
    /** The location a store's sales take stock from (one per store). */
    isSaleDefault: boolean('is_sale_default').notNull().default(false),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [
    index('stock_locations_store_idx').on(t.storeId),
    uniqueIndex('stock_locations_sale_default_key').on(t.storeId).where(sql`${t.isSaleDefault}`),
  ],
)

export const registers = pgTable(
  'registers',
  {
    id: id(),
    merchantId: merchantId().references(() => merchants.id),
    storeId: uuid('store_id')
      .notNull()
      .references(() => stores.id),
    code: text('code').notNull(),
    name: text('name').notNull(),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('registers_code_key').on(t.storeId, t.code)],
)
