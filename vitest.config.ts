import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    globalSetup: ['./test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The workers load the application as the hub does, with src/preload.ts first.
    execArgv: ['--import', fileURLToPath(new URL('./src/preload.ts', import.meta.url))],
    // Each test file gets its own database cloned from a migrated template, so files run in parallel safely.
    fileParallelism: true,
  },
})
