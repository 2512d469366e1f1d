// Row ids are UUIDv7: unique without a round trip and time-ordered, so B-tree inserts stay local.
import { v5, v7 } from 'uuid'

export const newId = (): string => v7()

const HUB_NAMESPACE = '6f1d2c3e-8a4b-5c6d-9e7f-0a1b2c3d4e5f'

/** A UUIDv5 named by `name`: the same name gives the same id (idempotency keys derived from our own records). */
export const nameUuid = (name: string): string => v5(name, HUB_NAMESPACE)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (s: string) => UUID.test(s)
