// `tillbridge export --merchant ID --out FILE` and `tillbridge import --in FILE [--as-new-merchant]`: move or copy one
// merchant, with everything it owns, between hubs as one versioned archive (src/ops/backup). Progress goes to stderr;
// with --json the last line of stdout is the result.
import { InvalidArgumentError, type Command } from 'commander'
import { isUuid } from '../lib/ids.ts'
import type { OpenedHub } from '../runtime.ts'

const idArg = (v: string) => {
  if (!isUuid(v)) throw new InvalidArgumentError('must be a merchant id (a UUID)')
  return v
}

const toStderr = (m: string) => process.stderr.write(`${m}\n`)

export function registerBackup(program: Command, open: () => Promise<OpenedHub>): void {
  program
    .command('export')
    .description("write one merchant's whole data set (users, catalog, stock, sales, members, ledgers, connections, history) into one archive file")
    .requiredOption('--merchant <id>', 'the merchant', idArg)
    .requiredOption('--out <file>', 'the archive to write (a zip)')
    .option('--force', 'replace the file if it exists')
    .option('--json', 'print the result as JSON on the last line')
    .action(async (o: { merchant: string; out: string; force?: boolean; json?: boolean }) => {
      const hub = await open()
      try {
        const { exportMerchant } = await import('../ops/backup/export.ts')
        const r = await exportMerchant(hub, { merchantId: o.merchant, out: o.out, force: o.force, onProgress: toStderr })
        process.stdout.write(`exported merchant ${r.manifest.merchant.name} (${r.manifest.merchant.id}) to ${r.file}: ${r.rows} rows in ${r.manifest.tables.length} tables\n`)
        if (o.json) {
          process.stdout.write(
            `${JSON.stringify({ merchantId: r.manifest.merchant.id, file: r.file, bytes: r.bytes, migration: r.manifest.migration, tables: r.manifest.tables.length, rows: r.rows })}\n`,
          )
        }
      } finally {
        await hub.close()
      }
    })

  program
    .command('import')
    .description('read a merchant archive into this hub, all or nothing: into a hub without that merchant, or as a new merchant beside others')
    .requiredOption('--in <file>', 'the archive written by `tillbridge export`')
    .option('--as-new-merchant', 'give the merchant and every record new ids, so it can sit beside the original (a copy)')
    .option('--name <name>', 'rename the merchant on the way in')
    .option('--json', 'print the result as JSON on the last line')
    .action(async (o: { in: string; asNewMerchant?: boolean; name?: string; json?: boolean }) => {
      const hub = await open()
      try {
        const { importArchive } = await import('../ops/backup/import.ts')
        const r = await importArchive(hub, { file: o.in, asNewMerchant: o.asNewMerchant, name: o.name, onProgress: toStderr })
        process.stdout.write(`imported merchant ${r.merchantId}${r.asNewMerchant ? ` (a copy of ${r.sourceMerchantId})` : ''}: ${r.rows} rows in ${r.tables} tables\n`)
        const conns = r.secretsUnreadable.filter((s) => s.kind === 'connection')
        const subs = r.secretsUnreadable.filter((s) => s.kind === 'webhook_subscription')
        if (conns.length) process.stdout.write(`connections ${conns.map((c) => `"${c.name}" (${c.id})`).join(', ')} need their credentials entered again: this hub's TILLBRIDGE_SECRET_KEY cannot open them\n`)
        if (subs.length) process.stdout.write(`webhook subscriptions ${subs.map((s) => `${s.name} (${s.id})`).join(', ')} need their signing secret rotated\n`)
        if (r.pinsUnreadable.length) process.stdout.write(`till PINs of ${r.pinsUnreadable.map((u) => u.email).join(', ')} must be set again\n`)
        for (const u of r.usersRenamed) process.stdout.write(`user ${u.from} signs in as ${u.to} on this hub (the email belongs to another user here)\n`)
        if (r.apiKeysRevoked.length) process.stdout.write(`API keys ${r.apiKeysRevoked.map((k) => `"${k.name}"`).join(', ')} belong to the original and are revoked in the copy\n`)
        if (r.connectionsDisabled.length) process.stdout.write(`connections ${r.connectionsDisabled.map((c) => `"${c.name}" (${c.id})`).join(', ')} are switched off in the copy: switch on only what the copy may use\n`)
        if (r.webhookSubscriptionsDisabled.length) process.stdout.write(`webhook subscriptions ${r.webhookSubscriptionsDisabled.map((w) => `${w.url} (${w.id})`).join(', ')} are switched off in the copy (${r.webhookDeliveriesParked} pending deliveries parked)\n`)
        if (r.devicesDisabled.length) process.stdout.write(`devices ${r.devicesDisabled.map((d) => `"${d.name}" (${d.id})`).join(', ')} driven by the hub are switched off in the copy: they are the original's\n`)
        if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`)
      } finally {
        await hub.close()
      }
    })
}
