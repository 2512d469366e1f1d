// graphile-worker logs through our pino logger, with its scope (worker id, task, job id) as fields.
import { Logger as GraphileLogger, type LogLevel } from 'graphile-worker'
import type { Logger } from '../lib/logger.ts'

export function workerLogger(logger: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level: LogLevel, message: string, meta?: unknown) => {
    const fields: Record<string, unknown> = {}
    if (Object.keys(scope).length > 0) fields.scope = { ...scope }
    if (meta && typeof meta === 'object' && Object.keys(meta).length > 0) fields.meta = meta
    const lvl = level === 'warning' ? 'warn' : level
    if (lvl === 'error' || lvl === 'warn' || lvl === 'info' || lvl === 'debug') logger[lvl](fields, message)
    else logger.info(fields, message)
  })
}
