// Loaded before the application (`node --import ./src/preload.ts`, or first thing in bin/tillbridge.js): what has to
// be in place before the first of its modules is resolved.
import { registerModuleResolve } from './lib/module-resolve.ts'

registerModuleResolve()
