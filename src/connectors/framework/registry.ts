// The connectors a hub knows, by id. The list is assembled in src/connectors/index.ts.
import type { AnyConnector } from './define.ts'

export interface ConnectorRegistry {
  all(): AnyConnector[]
  get(id: string): AnyConnector | undefined
}

export function createRegistry(list: AnyConnector[]): ConnectorRegistry {
  const byId = new Map<string, AnyConnector>()
  for (const c of list) {
    if (byId.has(c.id)) throw new Error(`two connectors share the id "${c.id}"`)
    byId.set(c.id, c)
  }
  const sorted = [...byId.values()].sort((a, b) => a.family.localeCompare(b.family) || a.id.localeCompare(b.id))
  return { all: () => sorted, get: (id) => byId.get(id) }
}
