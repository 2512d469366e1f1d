// `tillbridge bridge --hub URL --store ID [--key KEY] [--journal PATH]`: runs a store's bridge agent, the process on
// the shop's PC that holds the link to the hub and drives the printers, drawer, display and scale. The key comes from
// --key or TILLBRIDGE_BRIDGE_KEY (the environment keeps it out of the process list) and is never logged.
import path from 'node:path'
import { InvalidArgumentError, type Command } from 'commander'
import { startBridge } from '../devices/bridge/agent.ts'
import { loadConfig } from '../lib/config.ts'
import { createLogger } from '../lib/logger.ts'
import { UsageError } from './errors.ts'

const hubUrlArg = (v: string) => {
  try {
    const u = new URL(v)
    if (['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol)) return v
  } catch {
    // reported below
  }
  throw new InvalidArgumentError('must be the hub address, an http(s):// URL')
}

/** The default journal: one file per store under the data directory. */
export const defaultJournalPath = (dataDir: string, storeId: string) => path.join(dataDir, `bridge-${storeId.replace(/[^A-Za-z0-9_-]/g, '_')}.jsonl`)

export function registerBridge(program: Command): void {
  program
    .command('bridge')
    .description("run a store's device bridge: hold the link to the hub and drive the store's printers, drawer, display and scale")
    .requiredOption('--hub <url>', 'the hub address (https://…)', hubUrlArg)
    .requiredOption('--store <id>', 'the store this bridge serves')
    .option('--key <key>', 'the bridge key (default: TILLBRIDGE_BRIDGE_KEY)')
    .option('--journal <path>', 'the job journal (default: TILLBRIDGE_DATA_DIR/bridge-<store>.jsonl)')
    .action(async (o: { hub: string; store: string; key?: string; journal?: string }) => {
      const key = o.key ?? process.env.TILLBRIDGE_BRIDGE_KEY
      if (!key) throw new UsageError('a bridge key is needed: --key or TILLBRIDGE_BRIDGE_KEY')
      const cfg = loadConfig()
      const logger = createLogger({ level: cfg.logLevel, base: { process: 'bridge', storeId: o.store } })
      const journalPath = path.resolve(o.journal ?? defaultJournalPath(cfg.dataDir, o.store))
      // Loaded here, not at the top: the other commands never load the device drivers.
      const { executeWork, readDeviceStatus } = await import('../devices/executor.ts')
      const bridge = await startBridge({
        hubUrl: o.hub,
        key,
        storeId: o.store,
        journalPath,
        execute: (work) => executeWork(work),
        readStatus: readDeviceStatus,
        logger,
      })
      logger.info({ hub: o.hub, journal: journalPath }, 'bridge started')

      const onSignal = (signal: NodeJS.Signals) => {
        logger.info({ signal }, 'shutting down')
        void bridge.close({ waitMs: cfg.shutdownTimeoutMs })
      }
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      const error = await bridge.stopped
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
      if (error) throw error
    })
}
