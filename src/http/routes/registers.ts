// Register actions outside a sale. For now: opening the cash drawer without a sale (recorded and audited; the
// in-store device bridge will act on the drawer.open_requested event).
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { uuid } from '../schemas.ts'
import { openDrawer } from '../../core/sales/drawer.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'

const openDrawerRoute = defineRoute({
  method: 'post',
  path: '/api/v1/registers/{id}/drawer/open',
  tags: ['Registers'],
  summary: 'Open the cash drawer without a sale',
  description: 'Needs drawer.open, or a manager’s override (X-Approver-Pin / X-Approver-Token). Audited as drawer.opened_without_sale with both people; emits the drawer.open_requested event.',
  access: 'drawer.open',
  request: { params: IdParam, body: jsonBody(z.object({ reason: z.string().min(1).max(500) }).strict()) },
  responses: {
    201: json(z.object({ registerId: uuid(), reason: z.string(), requestedAt: z.string(), approverId: uuid().nullable() }), 'Recorded'),
  },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(openDrawerRoute, async (c) => {
    const r = await openDrawer(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'), c.var.hub.clock())
    return c.json({ ...r, requestedAt: r.requestedAt.toISOString() }, 201)
  })
}
