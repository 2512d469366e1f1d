// Row ids are UUIDv7: unique without a round trip and time-ordered, so B-tree inserts stay local.
import { v7 } from 'uuid'

export const newId = (): string => v7()

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (s: string) => UUID.test(s)
