#!/usr/bin/env node
// Entry of the `tillbridge` command. The project pins its own Node (the `node` package): when started by an older
// system Node, hand over to the pinned one so the TypeScript sources run the same everywhere.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const major = Number(process.versions.node.split('.')[0])
if (major >= 24) {
  await import('../src/preload.ts')
  await import('../src/cli/main.ts')
} else {
  const pinned = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url))
  if (!existsSync(pinned)) {
    process.stderr.write(`tillbridge: needs Node.js 24 or newer (this is ${process.version}); run \`npm install\` first\n`)
    process.exit(1)
  }
  // The young generation as the npm scripts set it (see README, How it is built).
  const child = spawn(pinned, ['--max-semi-space-size=8', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig))
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
}
