// Product categories as a tree per merchant. A category is named by its path of names ("Food/Fruit"), so names
// are unique among siblings (ignoring case) and never contain "/"; moves that would make a cycle are refused.
import { and, asc, eq, isNull, sql } from 'drizzle-orm'
import type { Tx } from '../../db/client.ts'
import { isUniqueViolation } from '../../db/errors.ts'
import { conflict, invalid, notFound } from '../../lib/errors.ts'
import { newId } from '../../lib/ids.ts'
import type { Actor } from '../staff/actor.ts'
import { recordAudit } from '../staff/audit.ts'
import { categoryWithDescendants } from './products.ts'
import { categories, products } from './schema.ts'

export type Category = typeof categories.$inferSelect

/** A category with where it sits in the tree and how much hangs on it. */
export interface CategoryEntry extends Category {
  /** Names from the root down, joined by "/". */
  path: string
  depth: number
  /** Products (of any status) directly in this category. */
  productCount: number
  childCount: number
}

export interface CategoryNode extends CategoryEntry {
  children: CategoryNode[]
}

export const PATH_SEPARATOR = '/'

export interface CategoryInput {
  name: string
  code?: string | null
  parentId?: string | null
  sortOrder?: number
}

export interface CategoryChanges {
  name?: string
  code?: string | null
  /** Moves the category; null makes it a root. */
  parentId?: string | null
  sortOrder?: number
}

/** Checks and trims a category name; names make paths, so they cannot hold the separator. */
export function cleanCategoryName(name: string): string {
  const n = name.trim()
  if (!n) throw invalid('invalid_name', 'a category name must not be empty')
  if (n.length > 100) throw invalid('invalid_name', 'a category name has at most 100 characters')
  if (n.includes(PATH_SEPARATOR)) throw invalid('invalid_name', `a category name cannot contain "${PATH_SEPARATOR}" (it separates the levels of a category path)`)
  return n
}

function cleanCode(code: string | null | undefined): string | null {
  if (code === undefined || code === null) return null
  const c = code.trim()
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(c)) throw invalid('invalid_code', 'a category code has 1–32 letters, digits or - . _')
  return c
}

/**
 * Serialises changes to one merchant's category tree (create, move, delete) until the transaction ends, so two
 * concurrent moves cannot together make a cycle and a child cannot appear under a category being deleted.
 */
export async function lockCategoryTree(tx: Tx, merchantId: string): Promise<void> {
  await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`tillbridge.categories:${merchantId}`}, 0))`)
}

async function findCategory(tx: Tx, merchantId: string, id: string): Promise<Category | undefined> {
  const [row] = await tx.select().from(categories).where(and(eq(categories.merchantId, merchantId), eq(categories.id, id)))
  return row
}

async function assertSiblingNameFree(tx: Tx, merchantId: string, parentId: string | null, name: string, exceptId?: string) {
  const [clash] = await tx
    .select({ id: categories.id })
    .from(categories)
    .where(
      and(
        eq(categories.merchantId, merchantId),
        parentId ? eq(categories.parentId, parentId) : isNull(categories.parentId),
        sql`lower(${categories.name}) = lower(${name})`,
        exceptId ? sql`${categories.id} <> ${exceptId}` : undefined,
      ),
    )
    .limit(1)
  if (clash) throw conflict('category_name_taken', `a category named "${name}" already exists at this level`, { categoryId: clash.id })
}

function translateUnique(e: unknown, code: string | null): never {
  if (isUniqueViolation(e, 'categories_code_key')) throw conflict('category_code_taken', `a category with code ${code} already exists`)
  throw e
}

export async function createCategory(tx: Tx, actor: Actor, input: CategoryInput): Promise<CategoryEntry> {
  const name = cleanCategoryName(input.name)
  const code = cleanCode(input.code)
  const parentId = input.parentId ?? null
  await lockCategoryTree(tx, actor.merchantId)
  if (parentId && !(await findCategory(tx, actor.merchantId, parentId))) throw invalid('unknown_category', `parent category ${parentId} does not exist`)
  await assertSiblingNameFree(tx, actor.merchantId, parentId, name)
  const id = newId()
  try {
    await tx.insert(categories).values({ id, merchantId: actor.merchantId, parentId, name, code, sortOrder: input.sortOrder ?? 0 })
  } catch (e) {
    translateUnique(e, code)
  }
  await recordAudit(tx, actor, { action: 'category.created', entityType: 'category', entityId: id, details: { name, code, parentId } })
  return getCategory(tx, actor.merchantId, id)
}

export async function updateCategory(tx: Tx, actor: Actor, id: string, changes: CategoryChanges): Promise<CategoryEntry> {
  await lockCategoryTree(tx, actor.merchantId)
  const before = await findCategory(tx, actor.merchantId, id)
  if (!before) throw notFound('category', id)
  const name = changes.name !== undefined ? cleanCategoryName(changes.name) : before.name
  const code = changes.code !== undefined ? cleanCode(changes.code) : before.code
  const parentId = changes.parentId !== undefined ? changes.parentId : before.parentId
  if (parentId !== before.parentId && parentId !== null) {
    if (!(await findCategory(tx, actor.merchantId, parentId))) throw invalid('unknown_category', `parent category ${parentId} does not exist`)
    const below = await categoryWithDescendants(tx, actor.merchantId, id)
    if (below.includes(parentId)) {
      throw invalid('category_cycle', parentId === id ? 'a category cannot be its own parent' : 'a category cannot move under one of its own subcategories', { categoryId: id, parentId })
    }
  }
  if (name.toLowerCase() !== before.name.toLowerCase() || parentId !== before.parentId) await assertSiblingNameFree(tx, actor.merchantId, parentId, name, id)
  try {
    await tx
      .update(categories)
      .set({ name, code, parentId, sortOrder: changes.sortOrder ?? before.sortOrder, updatedAt: new Date() })
      .where(eq(categories.id, id))
  } catch (e) {
    translateUnique(e, code)
  }
  const details: Record<string, unknown> = {}
  if (name !== before.name) details.name = { from: before.name, to: name }
  if (code !== before.code) details.code = { from: before.code, to: code }
  if (parentId !== before.parentId) details.parentId = { from: before.parentId, to: parentId }
  if (changes.sortOrder !== undefined && changes.sortOrder !== before.sortOrder) details.sortOrder = { from: before.sortOrder, to: changes.sortOrder }
  await recordAudit(tx, actor, { action: details.parentId ? 'category.moved' : 'category.updated', entityType: 'category', entityId: id, details })
  return getCategory(tx, actor.merchantId, id)
}

/** Deletes a category that is empty: no subcategories and no products (archived ones included, they keep history). */
export async function deleteCategory(tx: Tx, actor: Actor, id: string): Promise<CategoryEntry> {
  await lockCategoryTree(tx, actor.merchantId)
  // Locked before its products are counted: a product being filed into it (which holds the row's key share from its
  // check on) is waited for and counted, so the answer is category_has_products, never a broken reference.
  await tx.select({ id: categories.id }).from(categories).where(and(eq(categories.merchantId, actor.merchantId), eq(categories.id, id))).for('update')
  const entry = await getCategory(tx, actor.merchantId, id)
  if (entry.childCount > 0) {
    throw conflict('category_has_children', `category "${entry.path}" has ${entry.childCount} subcategories; move or delete them first`, { childCount: entry.childCount })
  }
  if (entry.productCount > 0) {
    throw conflict('category_has_products', `category "${entry.path}" holds ${entry.productCount} products; move them to another category first`, {
      productCount: entry.productCount,
    })
  }
  await tx.delete(categories).where(and(eq(categories.merchantId, actor.merchantId), eq(categories.id, id)))
  await recordAudit(tx, actor, { action: 'category.deleted', entityType: 'category', entityId: id, details: { name: entry.name, path: entry.path, code: entry.code } })
  return entry
}

/** Every category of the merchant, parents before children, siblings by sort order then name. */
export async function listCategories(tx: Tx, merchantId: string): Promise<CategoryEntry[]> {
  return flatten(await allCategories(tx, merchantId), await countProducts(tx, merchantId))
}

const allCategories = (tx: Tx, merchantId: string) =>
  tx.select().from(categories).where(eq(categories.merchantId, merchantId)).orderBy(asc(categories.sortOrder), asc(categories.name), asc(categories.id))

async function countProducts(tx: Tx, merchantId: string, categoryId?: string): Promise<Map<string | null, number>> {
  const counts = await tx
    .select({ categoryId: products.categoryId, n: sql<number>`count(*)::int` })
    .from(products)
    .where(and(eq(products.merchantId, merchantId), categoryId ? eq(products.categoryId, categoryId) : sql`${products.categoryId} is not null`))
    .groupBy(products.categoryId)
  return new Map(counts.map((c) => [c.categoryId, c.n]))
}

function flatten(rows: Category[], productCount: Map<string | null, number>): CategoryEntry[] {
  const ids = new Set(rows.map((r) => r.id))
  const children = new Map<string | null, Category[]>()
  for (const r of rows) {
    // A parent that no longer exists (there is no foreign key) leaves its children at the root.
    const parent = r.parentId && ids.has(r.parentId) ? r.parentId : null
    children.set(parent, [...(children.get(parent) ?? []), r])
  }
  const out: CategoryEntry[] = []
  const seen = new Set<string>()
  const walk = (parent: string | null, prefix: string, depth: number) => {
    for (const c of children.get(parent) ?? []) {
      if (seen.has(c.id)) continue
      seen.add(c.id)
      const path = prefix ? `${prefix}${PATH_SEPARATOR}${c.name}` : c.name
      out.push({ ...c, path, depth, productCount: productCount.get(c.id) ?? 0, childCount: children.get(c.id)?.length ?? 0 })
      walk(c.id, path, depth + 1)
    }
  }
  walk(null, '', 0)
  return out
}

/** The flat list (as listCategories returns it) nested under its roots. */
export function categoryTree(list: CategoryEntry[]): CategoryNode[] {
  const nodes = new Map(list.map((c) => [c.id, { ...c, children: [] as CategoryNode[] }]))
  const roots: CategoryNode[] = []
  for (const c of list) {
    const node = nodes.get(c.id)!
    const parent = c.depth > 0 && c.parentId ? nodes.get(c.parentId) : undefined
    if (parent) parent.children.push(node)
    else roots.push(node)
  }
  return roots
}

export async function getCategory(tx: Tx, merchantId: string, id: string): Promise<CategoryEntry> {
  const entry = flatten(await allCategories(tx, merchantId), await countProducts(tx, merchantId, id)).find((c) => c.id === id)
  if (!entry) throw notFound('category', id)
  return entry
}
