// Helpers shared by the connector tests: the vendor's mock server with a merchant, a connection of the connector under
// test, the error a call is expected to fail with, and a parsed statement's lines.
import { afterAll, afterEach, beforeAll } from 'vitest'
import { setupServer, type SetupServer } from 'msw/node'
import type { TestHub } from './db.ts'
import { seedMerchant } from './api.ts'
import { connectorRegistry } from '../../src/connectors/index.ts'
import { createConnection, loadConnection } from '../../src/connectors/framework/connections.ts'
import { connectorContext } from '../../src/connectors/framework/context.ts'
import type { ParsedStatement, StatementLine } from '../../src/core/reconciliation/types.ts'

/**
 * An msw server answering with `handlers` (any request they do not handle is an error), listening for the file's tests;
 * handlers a test adds (server.use) are gone after it.
 */
export function useMockServer(...handlers: Parameters<typeof setupServer>): SetupServer {
  const server = setupServer(...handlers)
  beforeAll(() => server.listen({ onUnhandledFrame: 'error' }))
  afterEach(() => server.resetHandlers())
  afterAll(() => server.close())
  return server
}

/** useMockServer, and a merchant seeded once it listens. */
export function useVendorServer(hub: TestHub, ...handlers: Parameters<typeof setupServer>): { server: SetupServer; readonly merchantId: string } {
  const server = useMockServer(...handlers)
  let merchantId: string
  beforeAll(async () => {
    merchantId = (await seedMerchant(hub)).merchantId
  })
  return {
    server,
    get merchantId() {
      return merchantId
    },
  }
}

/**
 * Connects `merchant` to `connectorId` afresh at each call: a connection named `<name> <n>` (n counting from 1, or
 * `name()` when a function) whose config is `base` (read at each call when a function) with the call's `config` over
 * it; `onCreated` hears of each connection's id before it is loaded.
 */
export function connectWith(
  hub: TestHub,
  merchant: { readonly merchantId: string },
  connectorId: string,
  base: { name: string | (() => string); config: Record<string, unknown> | (() => Record<string, unknown>); onCreated?: (connectionId: string) => void },
) {
  let seq = 0
  return async (config: Record<string, unknown> = {}) => {
    const name = typeof base.name === 'function' ? base.name() : `${base.name} ${++seq}`
    const baseConfig = typeof base.config === 'function' ? base.config() : base.config
    const row = await createConnection(hub.database.db, connectorRegistry, hub.secrets, merchant.merchantId, { connectorId, name, config: { ...baseConfig, ...config } }, new Date())
    base.onCreated?.(row.id)
    const loaded = await loadConnection(hub.database.db, connectorRegistry, hub.secrets, row.id, merchant.merchantId)
    return { ctx: connectorContext(hub, loaded), loaded, connectionId: row.id }
  }
}

/**
 * The error of class `type` that `p` rejects with; any other error is rethrown, and a `p` that settles fails the
 * test with `failure`.
 */
export async function rejection<E extends Error>(p: Promise<unknown>, type: abstract new (...args: any[]) => E, failure = 'expected the call to fail'): Promise<E> {
  try {
    await p
  } catch (e) {
    if (e instanceof type) return e
    throw e
  }
  throw new Error(failure)
}

/** Every line of a parsed statement, read to the end. */
export async function collectLines(p: ParsedStatement): Promise<StatementLine[]> {
  const out: StatementLine[] = []
  for await (const l of p.lines) out.push(l)
  return out
}
