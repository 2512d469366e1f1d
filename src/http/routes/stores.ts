// Stores, their stock locations and registers.
import { z, type OpenAPIHono } from '@hono/zod-openapi'
import { createLocation, createRegister, createStore, getStore, listLocations, listRegisters, listStores, updateStore } from '../../core/stores/service.ts'
import type { AppEnv } from '../env.ts'
import { defineRoute, IdParam, json, jsonBody } from '../route.ts'
import { serialize, uuid } from '../schemas.ts'

const tags = ['Stores']

export const StoreSchema = z
  .object({ id: uuid(), code: z.string(), name: z.string(), address: z.string().nullable(), phone: z.string().nullable(), status: z.enum(['active', 'closed']), createdAt: z.string() })
  .openapi('Store')
export const LocationSchema = z
  .object({ id: uuid(), storeId: uuid(), name: z.string(), kind: z.enum(['floor', 'backroom', 'warehouse']), isSaleDefault: z.boolean(), active: z.boolean() })
  .openapi('StockLocation')
export const RegisterSchema = z.object({ id: uuid(), storeId: uuid(), code: z.string(), name: z.string(), active: z.boolean() }).openapi('Register')

const pickStore = (s: any) => ({ id: s.id, code: s.code, name: s.name, address: s.address, phone: s.phone, status: s.status, createdAt: serialize(s.createdAt) })
const pickLocation = (l: any) => ({ id: l.id, storeId: l.storeId, name: l.name, kind: l.kind, isSaleDefault: l.isSaleDefault, active: l.active })
const pickRegister = (r: any) => ({ id: r.id, storeId: r.storeId, code: r.code, name: r.name, active: r.active })

const create = defineRoute({
  method: 'post',
  path: '/api/v1/stores',
  tags,
  summary: 'Create a store (with a shop-floor location for its sales and a first register)',
  access: 'stores.manage',
  request: {
    body: jsonBody(z.object({ code: z.string().min(1).max(16), name: z.string().min(1).max(200), address: z.string().max(500).optional(), phone: z.string().max(50).optional() }).strict()),
  },
  responses: { 201: json(z.object({ store: StoreSchema, location: LocationSchema, register: RegisterSchema }), 'Created') },
})

const list = defineRoute({ method: 'get', path: '/api/v1/stores', tags, summary: 'List stores', access: 'authenticated', responses: { 200: json(z.object({ items: z.array(StoreSchema) })) } })

const get = defineRoute({
  method: 'get',
  path: '/api/v1/stores/{id}',
  tags,
  summary: 'A store with its locations and registers',
  access: 'authenticated',
  request: { params: IdParam },
  responses: { 200: json(StoreSchema.extend({ locations: z.array(LocationSchema), registers: z.array(RegisterSchema) })) },
})

const patch = defineRoute({
  method: 'patch',
  path: '/api/v1/stores/{id}',
  tags,
  summary: 'Change a store',
  access: 'stores.manage',
  request: {
    params: IdParam,
    body: jsonBody(z.object({ name: z.string().min(1).max(200), address: z.string().max(500).nullable(), phone: z.string().max(50).nullable(), status: z.enum(['active', 'closed']) }).partial().strict()),
  },
  responses: { 200: json(StoreSchema) },
})

const addLocation = defineRoute({
  method: 'post',
  path: '/api/v1/stores/{id}/locations',
  tags,
  summary: 'Add a stock location to a store',
  access: 'stores.manage',
  request: {
    params: IdParam,
    body: jsonBody(z.object({ name: z.string().min(1).max(200), kind: z.enum(['floor', 'backroom', 'warehouse']), isSaleDefault: z.boolean().optional() }).strict()),
  },
  responses: { 201: json(LocationSchema, 'Created') },
})

const addRegister = defineRoute({
  method: 'post',
  path: '/api/v1/stores/{id}/registers',
  tags,
  summary: 'Add a register (till) to a store',
  access: 'stores.manage',
  request: { params: IdParam, body: jsonBody(z.object({ code: z.string().min(1).max(16), name: z.string().min(1).max(200) }).strict()) },
  responses: { 201: json(RegisterSchema, 'Created') },
})

export function register(app: OpenAPIHono<AppEnv>) {
  app.openapi(create, async (c) => {
    const r = await createStore(c.var.db, c.var.principal, c.req.valid('json'))
    return c.json({ store: pickStore(r.store), location: pickLocation(r.location), register: pickRegister(r.register) }, 201)
  })
  app.openapi(list, async (c) => c.json({ items: (await listStores(c.var.db, c.var.principal.merchantId)).map(pickStore) }, 200))
  app.openapi(get, async (c) => {
    const m = c.var.principal.merchantId
    const id = c.req.valid('param').id
    const store = await getStore(c.var.db, m, id)
    const locations = await listLocations(c.var.db, m, id)
    const regs = await listRegisters(c.var.db, m, id)
    return c.json({ ...pickStore(store), locations: locations.map(pickLocation), registers: regs.map(pickRegister) }, 200)
  })
  app.openapi(patch, async (c) => c.json(pickStore(await updateStore(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 200))
  app.openapi(addLocation, async (c) => c.json(pickLocation(await createLocation(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 201))
  app.openapi(addRegister, async (c) => c.json(pickRegister(await createRegister(c.var.db, c.var.principal, c.req.valid('param').id, c.req.valid('json'))), 201))
}
