// The member report (JSON or CSV).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { memberReport } from '../../core/reports/members.ts'
import { periodDays } from '../../core/reports/period.ts'
import { csvFile, moneyCell } from '../../core/reports/csv.ts'
import { getSettings } from '../../core/merchants/settings.ts'
import type { AppEnv } from '../env.ts'
import { fileLocale } from '../locale.ts'
import { defineRoute, json } from '../route.ts'
import { BusinessDate } from '../schemas.ts'

const minor = z.number().int()
const ReportSchema = z
  .object({
    from: z.string(),
    to: z.string(),
    date: z.string(),
    members: z.object({ total: z.number().int(), new: z.number().int(), active: z.number().int(), lapsed: z.number().int(), lapsedDays: z.number().int() }),
    points: z.object({ issued: z.number().int(), redeemed: z.number().int(), expired: z.number().int(), takenBack: z.number().int() }),
    storedValue: z.object({ principal: minor, bonus: minor, total: minor }).openapi({ description: 'Stored value liability at the end of `date`' }),
  })
  .openapi('MemberReport')

const route = defineRoute({
  method: 'get',
  path: '/api/v1/reports/members',
  tags: ['Reports'],
  summary: 'Members: new, active, lapsed; points issued, redeemed, expired; stored value liability at a date',
  access: 'reports.read',
  request: { query: z.object({ from: BusinessDate(), to: BusinessDate(), date: BusinessDate().optional(), format: z.enum(['json', 'csv']).default('json') }) },
  responses: { 200: { description: 'The report', content: { 'application/json': { schema: ReportSchema }, 'text/csv': { schema: z.string() } } } },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(route, async (c) => {
    const q = c.req.valid('query')
    // The period checked as every report checks it (backwards, or longer than a report covers).
    periodDays(q)
    const r = await memberReport(c.var.db, c.var.principal.merchantId, q)
    if (q.format === 'json') return c.json(r, 200)
    const { currency } = await getSettings(c.var.db, c.var.principal.merchantId)
    const money = moneyCell(currency)
    const file = csvFile(`members-${r.from}-${r.to}.csv`, {
      header: ['figure', 'value'],
      headerZh: { figure: '指标', value: '数值' },
      rows: [
      ['from', r.from],
      ['to', r.to],
      ['date', r.date],
      ['members_total', r.members.total],
      ['members_new', r.members.new],
      ['members_active', r.members.active],
      [`members_lapsed_${r.members.lapsedDays}_days`, r.members.lapsed],
      ['points_issued', r.points.issued],
      ['points_redeemed', r.points.redeemed],
      ['points_expired', r.points.expired],
      ['points_taken_back', r.points.takenBack],
      ['stored_value_principal', money(r.storedValue.principal)],
      ['stored_value_bonus', money(r.storedValue.bonus)],
      ['stored_value_total', money(r.storedValue.total)],
      ],
    }, await fileLocale(c))
    return c.body(file.bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${file.filename}"` })
  })
}
