// A merchant owns everything else: stores, staff, catalog, ledgers and connections.
import { pgTable, text, char, jsonb } from 'drizzle-orm/pg-core'
import { createdAt, id, updatedAt } from '../../db/columns.ts'

export const merchants = pgTable('merchants', {
  id: id(),
  name: text('name').notNull(),
  currency: char('currency', { length: 3 }).notNull().default('CNY'),
  timeZone: text('time_zone').notNull().default('Asia/Shanghai'),
  locale: text('locale').notNull().default('zh-CN'),
  /** Business rules (tax mode, stock policy, rounding, …), validated by MerchantSettingsSchema in settings.ts. */
  settings: jsonb('settings').$type<Record<string, unknown>>().notNull().default({}),
  createdAt: createdAt(),
  updatedAt: updatedAt(),
})
