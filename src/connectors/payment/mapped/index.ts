// A bank's or acquirer's statement export with no connector of its own (a CSV or XLSX file from an online bank, a
// smaller acquirer's portal): the merchant maps its columns once per connection and uploads each day's file.
import { defineConnector } from '../../framework/define.ts'
import { StatementFormatError } from '../../../core/reconciliation/types.ts'
import { MappedConfig } from './config.ts'
import { parseMappedStatement } from './parser.ts'
import { contractedFeeMilli } from '../fees.ts'

export const mapped = defineConnector({
  id: 'mapped',
  family: 'payment',
  title: 'Bank or acquirer file (mapped columns)',
  description: 'Upload a CSV or XLSX statement from any bank or acquirer; its columns are mapped once per connection.',
  config: MappedConfig,
  // Files are uploaded; the client is never used.
  http: { baseURL: 'http://localhost' },
  async check(ctx) {
    const count = Object.values(ctx.config.columns).filter(Boolean).length
    return { ok: true, message: `Statements are uploaded as files; ${count} columns are mapped`, details: { columns: ctx.config.columns } }
  },
  capabilities: {
    parseStatement({ format, content }, config) {
      if (format !== 'mapped') throw new StatementFormatError(`the mapped-columns connector reads format "mapped", not "${format}"`)
      return parseMappedStatement(content, config)
    },
    expectedFeeMilli: (line, config) => contractedFeeMilli(line, config.feeRateBp, config.feeCap),
  },
})
