// Outbound webhooks: `webhooks.fanout` (added by the trigger on events, in the transaction that recorded them) turns
// events into deliveries; `webhooks.deliver` sends one attempt of a delivery and schedules the next.
import { z } from 'zod'
import { deliver, DELIVER_TASK, fanOut } from '../webhooks/outbound.ts'
import { defineTask } from './task.ts'

export const fanout = defineTask({
  name: 'webhooks.fanout',
  payload: z.object({ merchantId: z.uuid(), eventIds: z.array(z.number().int().positive()).min(1) }),
  async run(payload, { hub }) {
    const created = await hub.database.db.transaction((tx) => fanOut(tx, payload, hub.clock()))
    if (created > 0) hub.logger.debug({ merchantId: payload.merchantId, deliveries: created }, 'webhook deliveries created')
  },
})

export const deliverTask = defineTask({
  name: DELIVER_TASK,
  payload: z.object({ merchantId: z.uuid(), deliveryId: z.uuid(), replay: z.boolean().optional() }),
  async run(payload, { hub, signal }) {
    await deliver(hub, payload, { signal })
  },
})

export const tasks = [fanout, deliverTask]
