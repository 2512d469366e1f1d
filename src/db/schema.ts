// Every table of the hub, gathered for drizzle-kit, which generates the SQL migrations in ./drizzle from them.
export * from './infra-schema.ts'
export * from '../core/merchants/schema.ts'
export * from '../core/staff/schema.ts'
