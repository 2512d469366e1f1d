import { describe, expect, it } from 'vitest'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'
import { createCategory, deleteCategory, listCategories, updateCategory } from '../../../src/core/catalog/categories.ts'
import { isDomainError } from '../../../src/lib/errors.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === 'fulfilled' ? 'ok' : isDomainError(r.reason) ? r.reason.code : String(r.reason))

describe('category tree under concurrent changes', () => {
  const hub = useTestHub()

  async function twoRoots() {
    const m = await seedMerchant(hub)
    const actor = systemActor(m.merchantId, 'test')
    const db = hub.database.db
    const a = await db.transaction((tx) => createCategory(tx, actor, { name: 'A' }))
    const b = await db.transaction((tx) => createCategory(tx, actor, { name: 'B' }))
    return { m, actor, db, a, b }
  }

  it('two opposite moves at the same time cannot together make a cycle: the second one is refused', async () => {
    const { actor, db, a, b } = await twoRoots()
    let firstMoved!: () => void
    const moved = new Promise<void>((r) => (firstMoved = r))
    const results = await Promise.allSettled([
      db.transaction(async (tx) => {
        await updateCategory(tx, actor, a.id, { parentId: b.id })
        firstMoved()
        await sleep(300) // hold the transaction open while the other move runs
      }),
      moved.then(() => db.transaction((tx) => updateCategory(tx, actor, b.id, { parentId: a.id }))),
    ])
    expect(results.map(codeOf)).toEqual(['ok', 'category_cycle'])
    const tree = await listCategories(db, actor.merchantId)
    expect(tree.map((c) => c.path)).toEqual(['B', 'B/A'])
  })

  it('a subcategory created while its parent is being deleted waits for the delete and is then refused', async () => {
    const { actor, db, a } = await twoRoots()
    let deleted!: () => void
    const gone = new Promise<void>((r) => (deleted = r))
    const results = await Promise.allSettled([
      db.transaction(async (tx) => {
        await deleteCategory(tx, actor, a.id)
        deleted()
        await sleep(300)
      }),
      gone.then(() => db.transaction((tx) => createCategory(tx, actor, { name: 'Child', parentId: a.id }))),
    ])
    expect(results.map(codeOf)).toEqual(['ok', 'unknown_category'])
    expect((await listCategories(db, actor.merchantId)).map((c) => c.path)).toEqual(['B'])
  })
})
