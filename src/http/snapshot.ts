// A read of several queries that must agree with each other (a report, an export): one read-only transaction at
// repeatable read, so every query sees the same committed state.
import type { Context } from 'hono'
import type { Tx } from '../db/client.ts'
import type { AppEnv } from './env.ts'

export const snapshot = <T>(c: Context<AppEnv>, run: (tx: Tx) => Promise<T>): Promise<T> =>
  c.var.hub.database.db.transaction(run, { isolationLevel: 'repeatable read', accessMode: 'read only' })
