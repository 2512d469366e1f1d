// The `tillbridge` command line: one entry for every process and operator task.
import { Command, InvalidArgumentError, Option } from 'commander'
import { pino } from 'pino'
import { loadConfig, withPort, type Config } from '../lib/config.ts'
import { createLogger } from '../lib/logger.ts'
import { reportAndExit } from './errors.ts'
import { registerReconcile } from './reconcile.ts'
import { registerVouchers } from './vouchers.ts'
import { registerCampaigns } from './campaigns.ts'
import { registerImportPos } from './import-pos.ts'
import { registerBridge } from './bridge.ts'
import { registerDemo } from './demo.ts'
import { registerBackup } from './backup.ts'

const VERSION = '0.1.0'

const portNumber = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0–65535)')
  return n
}

function config(overrides: { port?: number } = {}): Config {
  const loaded = loadConfig()
  return overrides.port === undefined ? loaded : withPort(loaded, overrides.port)
}

/**
 * Each command loads what it runs when it runs (here and in the register* modules): a command does not pay for the
 * others' modules, and the in-store bridge does not load the hub at all.
 */
const runService = async (...args: Parameters<typeof import('./service.ts').runService>) => (await import('./service.ts')).runService(...args)

/** One-shot commands log to stderr (warnings and worse unless LOG_LEVEL says otherwise), keeping stdout for results. */
async function quietHub(cfg: Config) {
  const level = process.env.LOG_LEVEL ? cfg.logLevel : 'warn'
  const { openHub } = await import('../runtime.ts')
  return openHub(cfg, { logger: createLogger({ level, destination: pino.destination(2) }), poolSize: 4, applicationName: 'tillbridge-cli' })
}

export function buildProgram(): Command {
  const program = new Command('tillbridge')
    .description('Tillbridge: the integration hub for physical retail')
    .version(VERSION, '-v, --version')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`tillbridge: ${str.replace(/^error: /, '').trim().replace(/\s*\n+\s*/g, ' ')}\n`) })
    .addHelpText('after', '\nConfiguration comes from the environment: PORT, DATABASE_URL, TILLBRIDGE_DATA_DIR, TILLBRIDGE_SECRET_KEY, LOG_LEVEL (see README).')

  program
    .command('serve')
    .description('run the API and the job worker in one process (what `npm start` runs)')
    .option('-p, --port <port>', 'port to listen on (default: PORT or 3000)', portNumber)
    .action(async (o: { port?: number }) => runService(config(o.port !== undefined ? { port: o.port } : {}), { api: true, worker: true }))

  program
    .command('api')
    .description('run only the HTTP API (scale out: run workers separately)')
    .option('-p, --port <port>', 'port to listen on (default: PORT or 3000)', portNumber)
    .action(async (o: { port?: number }) => runService(config(o.port !== undefined ? { port: o.port } : {}), { api: true, worker: false }))

  program
    .command('worker')
    .description('run only the job worker')
    .action(async () => runService(config(), { api: false, worker: true }))

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      const hub = await quietHub(config())
      try {
        const { migrate } = await import('../db/migrate.ts')
        await migrate(hub.database.pool, hub.logger)
        process.stdout.write('migrations applied\n')
      } finally {
        await hub.close()
      }
    })

  const admin = program.command('admin').description('administer merchants and staff')
  admin
    .command('create')
    .description('create a merchant and its first admin user')
    .requiredOption('--merchant <name>', 'merchant name')
    .requiredOption('--email <email>', 'email of the first admin')
    .requiredOption('--password <password>', 'password of the first admin (at least 8 characters)')
    .option('--name <name>', 'display name of the admin')
    .option('--currency <code>', 'ISO 4217 currency', 'CNY')
    .option('--time-zone <tz>', 'IANA time zone of the business day', 'Asia/Shanghai')
    .addOption(new Option('--locale <locale>', 'default language').choices(['zh-CN', 'zh-TW', 'en']).default('zh-CN'))
    .option('--json', 'print the result as one JSON line')
    .action(async (o: { merchant: string; email: string; password: string; name?: string; currency: string; timeZone: string; locale: string; json?: boolean }) => {
      const hub = await quietHub(config())
      try {
        const { createMerchantWithAdmin } = await import('../core/merchants/onboard.ts')
        const { merchant, user } = await hub.database.db.transaction((tx) =>
          createMerchantWithAdmin(tx, {
            name: o.merchant,
            currency: o.currency.toUpperCase(),
            timeZone: o.timeZone,
            locale: o.locale,
            admin: { email: o.email, password: o.password, name: o.name },
          }),
        )
        if (o.json) process.stdout.write(`${JSON.stringify({ merchantId: merchant.id, userId: user.id, email: user.email, role: user.role })}\n`)
        else process.stdout.write(`created merchant "${merchant.name}" (${merchant.id}) with admin ${user.email} (${user.id})\n`)
      } finally {
        await hub.close()
      }
    })

  registerReconcile(program, () => quietHub(config()))
  registerVouchers(program, () => quietHub(config()))
  registerCampaigns(program, () => quietHub(config()))
  registerImportPos(program, () => quietHub(config()))
  registerBridge(program)
  registerDemo(program, () => config())
  registerBackup(program, () => quietHub(config()))

  return program
}

export async function main(argv = process.argv): Promise<void> {
  try {
    await buildProgram().parseAsync(argv)
  } catch (e) {
    reportAndExit(e)
  }
}

await main()
