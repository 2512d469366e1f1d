// `tillbridge demo` (also `npm run demo`): a demo merchant wired to local sandboxes of every third party, a week of
// trade played into it, and the dashboard served with a login. src/demo holds the how.
import { InvalidArgumentError, type Command } from 'commander'
import type { Config } from '../lib/config.ts'

const portNumber = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number (0–65535)')
  return n
}

const dayCount = (v: string) => {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 1 || n > 31) throw new InvalidArgumentError('must be a whole number of days from 1 to 31')
  return n
}

export function registerDemo(program: Command, config: () => Config): void {
  program
    .command('demo')
    .description('seed a demo merchant wired to local sandboxes of every third party, play a week of trade, and serve the dashboard')
    .option('-p, --port <port>', 'port of the dashboard (default: PORT or 3000; 0 picks a free one)', portNumber)
    .option('--no-serve', 'seed (or refresh) the demo and exit, without serving it')
    .option('--days <days>', 'past days of trade to play when seeding', dayCount, 7)
    .option('--json', 'print the result as one JSON line last: {"url","email","password","merchantId","seeded"}')
    .addHelpText(
      'after',
      '\nRun again, it keeps the demo merchant it made and only points it at the new sandboxes. The login is printed and kept in TILLBRIDGE_DATA_DIR/demo-login.txt.',
    )
    .action(async (o: { port?: number; serve: boolean; days: number; json?: boolean }) => {
      const { runDemo } = await import('../demo/run.ts')
      const result = await runDemo(config(), { port: o.port, serve: o.serve, days: o.days, json: o.json === true })
      if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`)
    })
}
