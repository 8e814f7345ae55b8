import { hash, type Options, verify } from '@node-rs/argon2';

/** Hashes and checks admin passwords. Injectable so that tests can see which work a login did. */
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  /** False for a wrong password or a malformed hash; never throws for either. */
  verify(stored: string, password: string): Promise<boolean>;
}

/**
 * argon2id with OWASP's first recommended setting (19 MiB, 2 passes, 1 lane: the library's defaults, named
 * here so an upgrade of the library cannot change them unseen).
 */
const ARGON2ID: Options = {
  // Algorithm.Argon2id (a const enum, which isolated modules cannot import).
  algorithm: 2 as Options['algorithm'],
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
};

export const argon2Hasher: PasswordHasher = {
  hash: (password) => hash(password, ARGON2ID),
  async verify(stored, password) {
    try {
      return await verify(stored, password);
    } catch {
      return false;
    }
  },
};

/** Shortest and longest passwords taken (the upper bound keeps one login's hashing work bounded). */
export const PASSWORD_MIN = 12;
export const PASSWORD_MAX = 256;
