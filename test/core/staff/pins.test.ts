import { describe, expect, it } from 'vitest'
import { eq } from 'drizzle-orm'
import { useTestHub } from '../../helpers/db.ts'
import { seedMerchant } from '../../helpers/api.ts'
import { createSecretBox, generateSecretKey } from '../../../src/lib/secrets.ts'
import { changePin, findUserByPin, pinProblem } from '../../../src/core/staff/pins.ts'
import { systemActor } from '../../../src/core/staff/actor.ts'
import { users } from '../../../src/core/staff/schema.ts'

describe('till PINs', () => {
  const hub = useTestHub()

  it('refuses trivial PINs and accepts ordinary ones', () => {
    for (const pin of ['1111', '0000', '1234', '4321', '0123', '98765', '1212', '123123', '2580', '12345678', '123', '123456789', '12a4']) {
      expect({ pin, problem: pinProblem(pin) }).toEqual({ pin, problem: expect.any(String) })
    }
    for (const pin of ['3852', '7391', '40718', '24681357', '9043']) expect({ pin, problem: pinProblem(pin) }).toEqual({ pin, problem: null })
  })

  it('keeps only a keyed MAC of the PIN, different in each merchant for the same PIN', async () => {
    const a = await seedMerchant(hub)
    const b = await seedMerchant(hub)
    await hub.database.db.transaction((tx) => changePin(tx, systemActor(a.merchantId), hub.secrets, a.adminId, '3852'))
    await hub.database.db.transaction((tx) => changePin(tx, systemActor(b.merchantId), hub.secrets, b.adminId, '3852'))
    const [ua] = await hub.database.db.select().from(users).where(eq(users.id, a.adminId))
    const [ub] = await hub.database.db.select().from(users).where(eq(users.id, b.adminId))
    expect(ua!.pinHmac).not.toContain('3852')
    expect(ua!.pinHmac).toMatch(/^[0-9a-f]{8}:[A-Za-z0-9_-]{43}$/)
    expect(ua!.pinHmac).not.toBe(ub!.pinHmac)
    expect((await findUserByPin(hub.database.db, hub.secrets, a.merchantId, '3852'))?.id).toBe(a.adminId)
    expect((await findUserByPin(hub.database.db, hub.secrets, b.merchantId, '3852'))?.id).toBe(b.adminId)
    expect(await findUserByPin(hub.database.db, hub.secrets, a.merchantId, '3853')).toBeUndefined()
  })

  it('survives a key rotation: found under the old key, moved to the new key on use, lost only if never used before the old key goes', async () => {
    const oldKey = generateSecretKey()
    const newKey = generateSecretKey()
    const before = createSecretBox(oldKey)
    const rotated = createSecretBox(`${newKey},${oldKey}`)
    const after = createSecretBox(newKey)
    const m = await seedMerchant(hub)
    const actor = systemActor(m.merchantId)
    const used = await m.staff('cashier')
    await hub.database.db.transaction((tx) => changePin(tx, actor, before, used.id, '7391'))
    await hub.database.db.transaction((tx) => changePin(tx, actor, before, m.adminId, '4096'))

    expect((await findUserByPin(hub.database.db, rotated, m.merchantId, '7391'))?.id).toBe(used.id)
    const [moved] = await hub.database.db.select().from(users).where(eq(users.id, used.id))
    expect(moved!.pinHmac!.split(':')[0]).toBe(rotated.currentKeyId)

    expect((await findUserByPin(hub.database.db, after, m.merchantId, '7391'))?.id).toBe(used.id)
    expect(await findUserByPin(hub.database.db, after, m.merchantId, '4096')).toBeUndefined()
  })

  it('a PIN held by someone under the old key is still unavailable to another user after a rotation', async () => {
    const oldKey = generateSecretKey()
    const rotated = createSecretBox(`${generateSecretKey()},${oldKey}`)
    const m = await seedMerchant(hub)
    const actor = systemActor(m.merchantId)
    const other = await m.staff('cashier')
    await hub.database.db.transaction((tx) => changePin(tx, actor, createSecretBox(oldKey), m.adminId, '5068'))
    await expect(hub.database.db.transaction((tx) => changePin(tx, actor, rotated, other.id, '5068'))).rejects.toMatchObject({ code: 'pin_unavailable' })
  })
})
