// Opens a loaded connection for its connector's functions: the full config and a shared HTTP client with the
// connector's policies, and runs the connector's check with a bounded time and a redacted verdict.
import { redact } from '../../lib/redact.ts'
import { Readable } from 'node:stream'
import { spool, spoolDir } from '../../lib/spool.ts'
import type { Hub } from '../../runtime.ts'
import type { CheckResult, ConnectorContext } from './define.ts'
import { rotateSecrets, type LoadedConnection } from './connections.ts'
import { createRegistry } from './registry.ts'
import { createConnectorHttp } from './http.ts'
import { createRedactor } from './call-log.ts'
import { ConnectorError } from './http-types.ts'

/** Longest a connection check may take before it is reported as failed. */
export const CHECK_TIMEOUT_MS = 30_000

/** The one connector as a registry, for rotating its own connection's secrets. */
const connectorRegistryFor = (connector: LoadedConnection['connector']) => createRegistry([connector])

export function connectorContext(hub: Hub, loaded: LoadedConnection, signal?: AbortSignal): ConnectorContext<any> {
  const { connector, config, row } = loaded
  // Bills downloaded to a file, until they are imported.
  const downloadDir = spoolDir(hub.config.dataDir, 'downloads')
  const policy = typeof connector.http === 'function' ? connector.http(config as never) : connector.http
  const http = createConnectorHttp({
    database: hub.database,
    logger: hub.logger.child({ connectionId: row.id, connector: connector.id }),
    clock: hub.clock,
    merchantId: row.merchantId,
    connectionId: row.id,
    policy,
    secretValues: loaded.secretValues,
    downloadDir,
  })
  return {
    merchantId: row.merchantId,
    connectionId: row.id,
    config,
    http,
    now: hub.clock,
    signal,
    saveDownload: (source) => spool(Readable.from(source), downloadDir),
    async updateSecrets(patch) {
      await hub.database.db.transaction((tx) => rotateSecrets(tx, connectorRegistryFor(connector), hub.secrets, row.id, patch, hub.clock()))
      // The new values are secrets from now on: masked in whatever this process logs about the connection.
      for (const v of Object.values(patch)) if (!loaded.secretValues.includes(v)) loaded.secretValues.push(v)
    },
  }
}

/** Runs the connector's own check. Never throws: an unexpected failure is a failed verdict with its reason. */
export async function runCheck(hub: Hub, loaded: LoadedConnection, signal?: AbortSignal): Promise<CheckResult> {
  const timeout = AbortSignal.timeout(CHECK_TIMEOUT_MS)
  const both = signal ? AbortSignal.any([signal, timeout]) : timeout
  const mask = createRedactor(loaded.secretValues).text
  try {
    const verdict = await Promise.race([
      loaded.connector.check(connectorContext(hub, loaded, both)),
      new Promise<never>((_, reject) => both.addEventListener('abort', () => reject(new ConnectorError('retryable', `the check did not finish within ${CHECK_TIMEOUT_MS / 1000} s`)), { once: true })),
    ])
    return { ok: verdict.ok, message: mask(verdict.message), ...(verdict.details ? { details: JSON.parse(mask(JSON.stringify(redact(verdict.details)))) } : {}) }
  } catch (e) {
    if (e instanceof ConnectorError) return { ok: false, message: mask(`${loaded.connector.title}: ${e.message}`), details: { kind: e.kind, ...(e.status ? { status: e.status } : {}) } }
    hub.logger.error({ err: e, connectionId: loaded.row.id }, 'connection check failed unexpectedly')
    return { ok: false, message: mask(`The check failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`) }
  }
}
