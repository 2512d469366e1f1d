import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig, poolSizeFor, withPort } from '../../src/lib/config.ts'

describe('configuration', () => {
  it('has defaults for everything optional', () => {
    const c = loadConfig({})
    expect(c).toMatchObject({ port: 3000, databaseUrl: undefined, secretKey: undefined, logLevel: 'info', dataDir: path.resolve('.data') })
  })

  it('reports one clear message per bad value, and never echoes a database password', () => {
    try {
      loadConfig({ PORT: '70000', LOG_LEVEL: 'chatty', DATABASE_URL: 'mysql://root:hunter2@db/x' })
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError)
      const problems = (e as ConfigError).problems
      expect(problems).toHaveLength(3)
      expect(problems.find((p) => p.startsWith('PORT'))).toMatch(/between 0 and 65535/)
      expect(problems.find((p) => p.startsWith('LOG_LEVEL'))).toMatch(/must be one of/)
      expect(problems.find((p) => p.startsWith('DATABASE_URL'))).toMatch(/postgres/)
      expect(problems.join('\n')).not.toContain('hunter2')
    }
  })

  it('a worker’s metrics port is unset unless given, and checked like PORT', () => {
    expect(loadConfig({}).metricsPort).toBeUndefined()
    expect(loadConfig({ METRICS_PORT: '0' }).metricsPort).toBe(0)
    expect(loadConfig({ METRICS_PORT: '9464' }).metricsPort).toBe(9464)
    expect(() => loadConfig({ METRICS_PORT: 'nine' })).toThrow(/METRICS_PORT must be a number/)
    expect([loadConfig({}).trustProxy, loadConfig({ TRUST_PROXY: 'true' }).trustProxy, loadConfig({ TRUST_PROXY: '0' }).trustProxy]).toEqual([false, true, false])
    expect(() => loadConfig({ TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY must be true or false/)
    expect(() => loadConfig({ METRICS_PORT: '70000' })).toThrow(/METRICS_PORT must be between 0 and 65535/)
  })

  it('PUBLIC_URL defaults to http://localhost:$PORT, the port --port gives included; one given stays', () => {
    expect(loadConfig({ PORT: '4100' }).publicUrl).toBe('http://localhost:4100')
    expect(withPort(loadConfig({}), 8080, {})).toMatchObject({ port: 8080, publicUrl: 'http://localhost:8080' })
    const env = { PUBLIC_URL: 'https://hub.shop.example/' }
    expect(withPort(loadConfig(env), 8080, env)).toMatchObject({ port: 8080, publicUrl: 'https://hub.shop.example' })
  })

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(3000)
  })

  it('sizes the database pool by the CPUs of the machine, with room for the worker, unless DATABASE_POOL_SIZE says', () => {
    const c = loadConfig({ WORKER_CONCURRENCY: '4' })
    expect(c.databasePoolSize).toBeUndefined()
    // Four connections per CPU serve the API; a worker adds two per job it runs and one that listens for new jobs.
    expect(poolSizeFor(c, { api: true, worker: false }, 2)).toBe(8)
    expect(poolSizeFor(c, { api: true, worker: true }, 2)).toBe(17)
    expect(poolSizeFor(c, { api: false, worker: true }, 2)).toBe(9)
    expect(poolSizeFor(c, { api: true, worker: false }, 1)).toBe(4)
    expect(poolSizeFor(c, { api: true, worker: false }, 64)).toBe(64)
    const set = loadConfig({ DATABASE_POOL_SIZE: '30' })
    expect(set.databasePoolSize).toBe(30)
    expect(poolSizeFor(set, { api: true, worker: true }, 2)).toBe(30)
    expect(() => loadConfig({ DATABASE_POOL_SIZE: '1' })).toThrow(/DATABASE_POOL_SIZE must be at least 2/)
    expect(() => loadConfig({ DATABASE_POOL_SIZE: 'many' })).toThrow(/DATABASE_POOL_SIZE must be a number/)
  })
})
