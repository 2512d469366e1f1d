// Turns any failure of a command into one clear line on stderr and a non-zero exit, never a stack trace.
import fs from 'node:fs'
import { CommanderError } from 'commander'
import { contentOnDisk, type StatementContent } from '../core/reconciliation/file.ts'
import { ConfigError } from '../lib/config.ts'
import { DomainError } from '../lib/errors.ts'
import { SecretKeyError } from '../lib/secrets.ts'
import { redactText } from '../lib/redact.ts'

export class UsageError extends Error {}

const unreadable = (file: string, e: unknown) =>
  e instanceof UsageError ? e : new UsageError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`)

/** A file named on the command line, read whole; a missing or empty file is a usage error, not a crash. */
export function readInputFile(file: string): Buffer {
  try {
    const bytes = fs.readFileSync(file)
    if (bytes.length === 0) throw new UsageError(`${file} is empty`)
    return bytes
  } catch (e) {
    throw unreadable(file, e)
  }
}

/**
 * A file named on the command line, to be read as a stream while it is used (a statement of any size is never held
 * whole); checked now, so that a missing, unreadable, empty or non-regular file is a usage error before any work.
 */
export function openInputFile(file: string): StatementContent {
  try {
    fs.accessSync(file, fs.constants.R_OK)
    if (!fs.statSync(file).isFile()) throw new UsageError(`${file} is not a file`)
    const content = contentOnDisk(file)
    if (content.size === 0) throw new UsageError(`${file} is empty`)
    return content
  } catch (e) {
    throw unreadable(file, e)
  }
}

export function reportAndExit(e: unknown): never {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2)
  if (e instanceof ConfigError) {
    for (const p of e.problems) process.stderr.write(`tillbridge: ${p}\n`)
    process.exit(2)
  }
  if (e instanceof UsageError) {
    process.stderr.write(`tillbridge: ${e.message}\n`)
    process.exit(2)
  }
  const message = e instanceof DomainError ? `${e.message} (${e.code})` : e instanceof SecretKeyError ? e.message : redactText((e as Error)?.message ?? String(e))
  process.stderr.write(`tillbridge: error: ${message}\n`)
  if (process.env.LOG_LEVEL === 'debug' || process.env.LOG_LEVEL === 'trace') process.stderr.write(`${(e as Error)?.stack}\n`)
  process.exit(1)
}
