// Passwords are hashed with Argon2id (memory-hard), parameters per the OWASP password storage cheat sheet.
import { hash, verify } from '@node-rs/argon2'

// 2 is Algorithm.Argon2id (a const enum, which type stripping cannot read).
const PARAMS = { algorithm: 2, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export const MIN_PASSWORD_LENGTH = 8

export const hashPassword = (password: string) => hash(password, PARAMS)

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password)
  } catch {
    return false
  }
}

// Verifying against this when the user does not exist keeps the response time the same, so it does not tell
// an attacker which emails have accounts.
let dummy: Promise<string> | undefined
export async function burnVerifyTime(password: string): Promise<void> {
  dummy ??= hashPassword('tillbridge-no-such-user')
  await verifyPassword(await dummy, password)
}
