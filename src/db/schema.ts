// Every table of the hub, gathered for drizzle-kit, which generates the SQL migrations in ./drizzle from them.
export * from './infra-schema.ts'
export * from '../core/merchants/schema.ts'
export * from '../core/staff/schema.ts'
export * from '../core/catalog/schema.ts'
export * from '../core/stores/schema.ts'
export * from '../core/stock/schema.ts'
export * from '../core/sales/schema.ts'
export * from '../core/events/schema.ts'
