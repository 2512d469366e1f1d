// Every connector this hub ships, in one registry used by the API, the worker and the webhook endpoint.
import { createRegistry } from './framework/registry.ts'
import { stripe } from './payment/stripe/index.ts'

export const connectorRegistry = createRegistry([stripe])
