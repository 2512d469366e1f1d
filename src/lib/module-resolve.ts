// A resolve hook for relative `import`s inside installed packages. Node 24 works out the module format of every
// file by reading its package's package.json and keeps a parsed copy per file: for a package with a large
// package.json and hundreds of files (drizzle-orm: 179 KB × 448 files) that costs over 100 MB of heap and more than
// a second of start-up. Here the package scope's `type` is read once per directory instead. Only the plain case is
// taken: a relative `.js` specifier, from a package file, to a file that exists, in a scope whose package.json says
// `"type"` explicitly; everything else (bare specifiers, require, a missing file, a scope without `type`, which Node
// decides by syntax) goes to Node's own resolution unchanged.
// Registered first, before the application's modules are resolved: src/preload.ts (`node --import ./src/preload.ts`).
import { registerHooks } from 'node:module'
import { readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

type Scope = 'module' | 'commonjs' | null

const scopes = new Map<string, Scope>()

/** The `type` of the nearest package.json at or above `dir`: 'module', 'commonjs', or null when it says none. */
export function scopeType(dir: string): Scope {
  const known = scopes.get(dir)
  if (known !== undefined) return known
  let text: string | null = null
  try {
    text = readFileSync(join(dir, 'package.json'), 'utf8')
  } catch {
    text = null
  }
  let type: Scope
  if (text === null) {
    const up = dirname(dir)
    type = up === dir ? null : scopeType(up)
  } else {
    try {
      const declared = (JSON.parse(text) as { type?: unknown }).type
      type = declared === 'module' || declared === 'commonjs' ? declared : null
    } catch {
      type = null
    }
  }
  scopes.set(dir, type)
  return type
}

/** The resolution Node would give, for the plain case; undefined for anything else. */
export function resolvePackageRelative(specifier: string, parentURL: string | undefined, conditions: readonly string[] | undefined): { url: string; format: 'module' | 'commonjs' } | undefined {
  if (!parentURL?.startsWith('file:') || !parentURL.includes('/node_modules/')) return undefined
  if (!(specifier.startsWith('./') || specifier.startsWith('../')) || !specifier.endsWith('.js') || /[?#%]/.test(specifier)) return undefined
  if (!conditions?.includes('import')) return undefined
  let path: string
  try {
    path = realpathSync(fileURLToPath(new URL(specifier, parentURL)))
    if (!statSync(path).isFile()) return undefined
  } catch {
    return undefined
  }
  const format = scopeType(dirname(path))
  return format ? { url: pathToFileURL(path).href, format } : undefined
}

let registered = false

export function registerModuleResolve(): void {
  if (registered) return
  registered = true
  registerHooks({
    resolve(specifier, context, next) {
      const found = resolvePackageRelative(specifier, context.parentURL, context.conditions)
      return found ? { ...found, shortCircuit: true } : next(specifier, context)
    },
  })
}
