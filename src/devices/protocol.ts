// The messages between the hub and a store's bridge on the WebSocket the bridge opens (the store needs no inbound
// port). JSON text frames, one message each, checked with zod on both ends.
//
// hub → bridge: `work` (a job to run, in seq order; sent again after a reconnect until its result is acknowledged),
//               `ack` (the hub stored a result; the bridge may forget it), `status_request` (read a device's status).
// bridge → hub: `hello` (who it is: its store, and its journal's id, which the hub hands work to; what results it
//               still holds), `received` (the job is in the bridge's journal),
//               `result` (a job's outcome), `status` (a device's status changed or was polled).
// A job id is the idempotency key on both ends: the bridge runs a job at most once and answers a repeat with the
// outcome it stored; the hub applies a result at most once.
import { z } from 'zod'
import { DEVICE_DRIVERS, DEVICE_KINDS, TEXT_ENCODINGS } from './types.ts'

export const PROTOCOL_VERSION = 1

/** The hub closes a link with this when another link of the same store opened: that bridge took over. */
export const CLOSE_REPLACED = 4000
/** The hub closes a link with this when its key was revoked or expired while it was open. */
export const CLOSE_KEY_REFUSED = 4001

const DeviceStatusSchema = z.object({
  online: z.boolean().nullable(),
  coverOpen: z.boolean().optional(),
  paper: z.enum(['ok', 'near_end', 'end']).optional(),
  drawerOpen: z.boolean().optional(),
  cutterError: z.boolean().optional(),
  unrecoverableError: z.boolean().optional(),
  problem: z.string().nullable(),
  checkedAt: z.string(),
})

const ProfileSchema = z.object({
  paperWidth: z.union([z.literal(58), z.literal(80)]),
  columns: z.number().int(),
  encoding: z.enum(['gbk', 'gb18030', 'big5', 'shift_jis', 'cp437', 'cp858', 'utf8']),
  cjkMode: z.boolean(),
  drawerPin: z.union([z.literal(2), z.literal(5)]),
})

const BaseEndpoint = z.object({
  deviceId: z.string(),
  kind: z.enum(DEVICE_KINDS),
  driver: z.enum(DEVICE_DRIVERS),
  address: z.string(),
  profile: ProfileSchema.optional(),
  scaleFormat: z.enum(['cas22', 'generic']).optional(),
  encoding: z.enum(TEXT_ENCODINGS).optional(),
})
const EndpointSchema = BaseEndpoint.extend({ via: BaseEndpoint.optional() })

const PayloadSchema = z.discriminatedUnion('format', [
  z.object({ format: z.literal('escpos'), base64: z.string() }),
  z.object({ format: z.literal('epos'), xml: z.string() }),
  z.object({ format: z.literal('display'), lines: z.tuple([z.string(), z.string()]) }),
  z.object({ format: z.literal('drawer'), pin: z.union([z.literal(2), z.literal(5)]) }),
  z.object({ format: z.literal('weigh') }),
])

export const DeviceWorkSchema = z.object({
  jobId: z.string(),
  seq: z.number().int(),
  action: z.enum(['print', 'drawer', 'display', 'weigh']),
  endpoint: EndpointSchema,
  payload: PayloadSchema,
  expiresAt: z.string().nullable(),
  reprint: z.boolean(),
})

export const WorkResultSchema = z.object({
  jobId: z.string(),
  outcome: z.enum(['done', 'failed', 'unknown', 'dropped']),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  retryable: z.boolean(),
  status: DeviceStatusSchema.nullable(),
  weight: z.object({ grams: z.number().int(), stable: z.literal(true) }).nullable().optional(),
  finishedAt: z.string(),
})

export const HubMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('welcome'), storeId: z.string(), protocol: z.number().int(), devices: z.array(EndpointSchema) }),
  z.object({ type: z.literal('work'), work: DeviceWorkSchema }),
  z.object({ type: z.literal('ack'), jobId: z.string() }),
  z.object({ type: z.literal('status_request'), deviceId: z.string() }),
  z.object({ type: z.literal('error'), code: z.string(), message: z.string() }),
])
export type HubMessage = z.infer<typeof HubMessage>

export const BridgeMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('hello'), storeId: z.string(), protocol: z.number().int(), agent: z.string(), bridgeId: z.uuid() }),
  z.object({ type: z.literal('received'), jobId: z.string() }),
  z.object({ type: z.literal('result'), result: WorkResultSchema }),
  z.object({ type: z.literal('status'), deviceId: z.string(), status: DeviceStatusSchema }),
])
export type BridgeMessage = z.infer<typeof BridgeMessage>
