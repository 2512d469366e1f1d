// The preload's resolve hook gives exactly what Node's own resolution gives, and leaves every other case to Node.
import { execFileSync } from 'node:child_process'
import { fileURLToPath, pathToFileURL } from 'node:url'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { resolvePackageRelative, scopeType } from '../../src/lib/module-resolve.ts'

const root = fileURLToPath(new URL('../../', import.meta.url))
const inPackage = (rel: string) => pathToFileURL(path.join(root, 'node_modules', rel)).href
const ESM = ['node', 'import', 'module-sync']

describe('resolving relative imports inside installed packages', () => {
  it('resolves a package file’s relative import to the file, with the format its package.json declares', () => {
    const parent = inPackage('drizzle-orm/pg-core/table.js')
    expect(resolvePackageRelative('../entity.js', parent, ESM)).toEqual({ url: inPackage('drizzle-orm/entity.js'), format: 'module' })
    expect(resolvePackageRelative('./columns/all.js', parent, ESM)).toEqual({ url: inPackage('drizzle-orm/pg-core/columns/all.js'), format: 'module' })
    expect(scopeType(path.join(root, 'node_modules/yaml/dist'))).toBe('commonjs')
    expect(resolvePackageRelative('./index.js', inPackage('yaml/dist/public-api.js'), ESM)).toEqual({ url: inPackage('yaml/dist/index.js'), format: 'commonjs' })
  })

  it('leaves to Node what is not the plain case: bare names, require, missing files, no declared type, the application’s own files', () => {
    const parent = inPackage('drizzle-orm/pg-core/table.js')
    expect(resolvePackageRelative('drizzle-orm', parent, ESM)).toBeUndefined()
    expect(resolvePackageRelative('../entity.js', parent, ['node', 'require'])).toBeUndefined()
    expect(resolvePackageRelative('../no-such-file.js', parent, ESM)).toBeUndefined()
    expect(resolvePackageRelative('../entity', parent, ESM)).toBeUndefined()
    expect(resolvePackageRelative('../entity.js?x=1', parent, ESM)).toBeUndefined()
    // async has no "type": Node decides such a file by its syntax.
    expect(resolvePackageRelative('./dist/async.js', inPackage('async/package.json'), ESM)).toBeUndefined()
    expect(resolvePackageRelative('./money.ts', pathToFileURL(path.join(root, 'src/lib/time.ts')).href, ESM)).toBeUndefined()
  })

  it('a process started with the preload loads one copy of each module: drizzle’s entry points share their classes', () => {
    const script = `
      import { is } from 'drizzle-orm'
      import { PgTable, pgTable, integer } from 'drizzle-orm/pg-core'
      const t = pgTable('t', { id: integer('id') })
      console.log(JSON.stringify({ same: is(t, PgTable) }))`
    const out = execFileSync(process.execPath, ['--import', path.join(root, 'src/preload.ts'), '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' })
    expect(JSON.parse(out.trim())).toEqual({ same: true })
  })
})
