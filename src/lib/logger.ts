// Structured JSON logs (pino) that never carry secrets: every logged object passes through redact().
import { pino, type DestinationStream, type Logger } from 'pino'
import { redact, redactText } from './redact.ts'
import type { LogLevel } from './config.ts'

export type { Logger }

export function createLogger(opts: { level: LogLevel; destination?: DestinationStream; base?: Record<string, unknown> }): Logger {
  return pino(
    {
      level: opts.level,
      base: { service: 'tillbridge', ...opts.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: {
        level: (label) => ({ level: label }),
        log: (obj) => redact(obj) as Record<string, unknown>,
      },
      hooks: {
        // Messages are free text: mask anything that looks like a credential in them too.
        logMethod(args, method) {
          const masked = args.map((a) => (typeof a === 'string' ? redactText(a) : a)) as Parameters<typeof method>
          method.apply(this, masked)
        },
      },
      serializers: { err: (e: unknown) => redact(e) },
    },
    opts.destination,
  )
}
