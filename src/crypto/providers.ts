import { readFileSync } from 'node:fs';
import type { Config } from '../platform/config.js';
import { type KeyProvider, loadLocalKeyFile } from './local-kek.js';

export interface OpenedProvider {
  readonly provider: KeyProvider;
  /** True when this start created the local key file (first start). */
  readonly created: boolean;
}

/**
 * Opens the key provider the configuration names: the local key file, or a PKCS#11 HSM (whose binding is
 * loaded only then, so a node without an HSM never loads the native module).
 * @throws Error naming the setting at fault; crypto.unavailable when the HSM cannot be reached.
 */
export async function openKeyProvider(config: Config): Promise<OpenedProvider> {
  if (config.keyProvider === 'local') return loadLocalKeyFile(config.keyFile);
  const { openPkcs11Provider } = await import('./pkcs11.js');
  let pin = config.pkcs11Pin;
  if (pin === undefined) {
    try {
      pin = (readFileSync(config.pkcs11PinFile as string, 'utf8').split(/\r?\n/)[0] ?? '').trim();
    } catch {
      throw new Error('ROSTER_PKCS11_PIN_FILE cannot be read');
    }
  }
  const provider = await openPkcs11Provider({
    modulePath: config.pkcs11Module as string,
    tokenLabel: config.pkcs11TokenLabel as string,
    pin,
  });
  return { provider, created: false };
}
