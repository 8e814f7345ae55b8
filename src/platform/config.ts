/**
 * Every ROSTER_* setting, declared once: its environment name, CLI flag, default, rule and description.
 * `loadConfig` turns an environment (the CLI passes `process.env`, tests their own) and CLI flags into a
 * frozen, typed object; nothing else in the code base reads settings.
 */

import { dirname, join } from 'node:path';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  readonly port: number;
  readonly host: string;
  readonly databaseUrl: string;
  readonly keyFile: string;
  readonly keyProvider: 'local' | 'pkcs11';
  readonly pkcs11Module: string | undefined;
  readonly pkcs11TokenLabel: string | undefined;
  readonly pkcs11Pin: string | undefined;
  readonly pkcs11PinFile: string | undefined;
  readonly adminToken: string | undefined;
  readonly redisUrl: string | undefined;
  readonly logLevel: LogLevel;
  readonly bodyLimit: number;
  readonly rateLimitTenant: number;
  readonly rateLimitGlobal: number;
  /** Milliseconds between samples of the pools' utilisation history. */
  readonly usageSampleInterval: number;
  /** Days the utilisation history is kept. */
  readonly usageRetentionDays: number;
  /** Resolved: when unset, `audit.key` in the folder of `keyFile`. */
  readonly auditKeyFile: string;
  readonly auditLogName: string;
  /** Milliseconds. */
  readonly auditCheckpointInterval: number;
  readonly auditIntegrator: boolean;
  /** Milliseconds between writes of this node's per-tenant request counts. */
  readonly requestCountsFlushInterval: number;
}

export class ConfigError extends Error {
  readonly setting: string;
  constructor(setting: string, rule: string) {
    // Never include the offending value: it may be a secret (a token, a DSN with a password).
    super(`invalid setting ${setting}: ${rule}`);
    this.name = 'ConfigError';
    this.setting = setting;
  }
}

interface Setting<K extends keyof Config> {
  readonly key: K;
  readonly env: string;
  readonly flag: string;
  readonly secret: boolean;
  readonly description: string;
  readonly defaultText: string;
  readonly parse: (raw: string | undefined, env: string) => Config[K];
}

function setting<K extends keyof Config>(s: Setting<K>): Setting<K> {
  return s;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
};

/** Parses `1048576`, `512kb`, `1mb`, `1MiB` into bytes. */
export function parseByteSize(raw: string): number | undefined {
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(raw);
  if (!m) return undefined;
  const unit = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (unit === undefined) return undefined;
  return Number(m[1]) * unit;
}

export const SETTINGS = [
  setting({
    key: 'port',
    env: 'ROSTER_PORT',
    flag: 'port',
    secret: false,
    description: 'TCP port the HTTP server listens on (0 picks a free port)',
    defaultText: '8080',
    parse(raw, env) {
      if (raw === undefined) return 8080;
      if (!/^\d+$/.test(raw.trim()) || Number(raw) > 65535)
        throw new ConfigError(env, 'must be an integer 0-65535');
      return Number(raw);
    },
  }),
  setting({
    key: 'host',
    env: 'ROSTER_HOST',
    flag: 'host',
    secret: false,
    description: 'Address the HTTP server binds to',
    defaultText: '127.0.0.1',
    parse(raw, env) {
      if (raw === undefined) return '127.0.0.1';
      if (raw.trim() === '' || /\s/.test(raw))
        throw new ConfigError(env, 'must be a host name or IP address');
      return raw;
    },
  }),
  setting({
    key: 'databaseUrl',
    env: 'ROSTER_DATABASE_URL',
    flag: 'database-url',
    secret: true,
    description: 'sqlite:<path> (embedded, the default) or postgres://user@host:port/db',
    defaultText: 'sqlite:./data/roster.db',
    parse(raw, env) {
      if (raw === undefined) return 'sqlite:./data/roster.db';
      if (/^sqlite:.+/.test(raw)) return raw;
      if (/^postgres(ql)?:\/\//.test(raw)) {
        let url: URL;
        try {
          url = new URL(raw);
        } catch {
          throw new ConfigError(env, 'is not a valid postgres:// URL');
        }
        const schema = url.searchParams.get('schema');
        if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
          throw new ConfigError(env, 'its schema parameter must be a lower-case SQL identifier');
        }
        return raw;
      }
      throw new ConfigError(env, 'must start with sqlite: or postgres://');
    },
  }),
  setting({
    key: 'keyFile',
    env: 'ROSTER_KEY_FILE',
    flag: 'key-file',
    secret: false,
    description: 'Local key-encryption key file (created with mode 0600 on first start if absent)',
    defaultText: './data/roster.key',
    parse(raw, env) {
      if (raw === undefined) return './data/roster.key';
      if (raw.trim() === '') throw new ConfigError(env, 'must be a file path');
      return raw;
    },
  }),
  setting({
    key: 'adminToken',
    env: 'ROSTER_ADMIN_TOKEN',
    flag: 'admin-token',
    secret: true,
    description: 'When set, this value is a valid platform-admin token (automation, first start)',
    defaultText: '(unset)',
    parse(raw, env) {
      if (raw === undefined || raw === '') return undefined;
      // The same alphabet the Authorization header accepts, so a value that starts Roster also works.
      if (!/^[A-Za-z0-9._~+/=-]{32,512}$/.test(raw)) {
        throw new ConfigError(env, 'must be 32 to 512 characters from A-Z a-z 0-9 . _ ~ + / = -');
      }
      return raw;
    },
  }),
  setting({
    key: 'redisUrl',
    env: 'ROSTER_REDIS_URL',
    flag: 'redis-url',
    secret: true,
    description: 'redis://host:port[/db] sharing the rate limits between nodes (in process when unset)',
    defaultText: '(unset)',
    parse(raw, env) {
      if (raw === undefined || raw === '') return undefined;
      if (!/^rediss?:\/\//.test(raw)) throw new ConfigError(env, 'must be a redis:// or rediss:// URL');
      try {
        new URL(raw);
      } catch {
        throw new ConfigError(env, 'is not a valid URL');
      }
      return raw;
    },
  }),
  setting({
    key: 'logLevel',
    env: 'ROSTER_LOG_LEVEL',
    flag: 'log-level',
    secret: false,
    description: `Log level: ${LOG_LEVELS.join(', ')}`,
    defaultText: 'info',
    parse(raw, env) {
      if (raw === undefined) return 'info';
      const level = raw.toLowerCase();
      if (!(LOG_LEVELS as readonly string[]).includes(level)) {
        throw new ConfigError(env, `must be one of ${LOG_LEVELS.join(', ')}`);
      }
      return level as LogLevel;
    },
  }),
  setting({
    key: 'bodyLimit',
    env: 'ROSTER_BODY_LIMIT',
    flag: 'body-limit',
    secret: false,
    description: 'Largest accepted request body, in bytes or with kb/mb',
    defaultText: '1mb (1048576)',
    parse(raw, env) {
      if (raw === undefined) return 1024 * 1024;
      const bytes = parseByteSize(raw);
      if (bytes === undefined || bytes < 1024 || bytes > 64 * 1024 * 1024) {
        throw new ConfigError(env, 'must be a size between 1kb and 64mb, e.g. 1048576 or 2mb');
      }
      return bytes;
    },
  }),
  setting({
    key: 'rateLimitTenant',
    env: 'ROSTER_RATE_LIMIT_TENANT',
    flag: 'rate-limit-tenant',
    secret: false,
    description: 'Requests per second per tenant (0: no limit); over it, 429 with Retry-After',
    defaultText: '50',
    parse: (raw, env) => parseRate(raw, env, 50),
  }),
  setting({
    key: 'rateLimitGlobal',
    env: 'ROSTER_RATE_LIMIT_GLOBAL',
    flag: 'rate-limit-global',
    secret: false,
    description:
      'Requests per second, all tenants together, per node (all nodes with ROSTER_REDIS_URL; 0: off)',
    defaultText: '250',
    parse: (raw, env) => parseRate(raw, env, 250),
  }),
  setting({
    key: 'usageSampleInterval',
    env: 'ROSTER_USAGE_SAMPLE_INTERVAL',
    flag: 'usage-sample-interval',
    secret: false,
    description:
      "Seconds between samples of the pools' seat counters for the utilisation history (1 to 3600)",
    defaultText: '60',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 60_000;
      const n = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw.trim()) || n < 1 || n > 3600)
        throw new ConfigError(env, 'must be a number of seconds from 1 to 3600');
      return Math.round(n * 1000);
    },
  }),
  setting({
    key: 'usageRetentionDays',
    env: 'ROSTER_USAGE_RETENTION_DAYS',
    flag: 'usage-retention-days',
    secret: false,
    description: 'Days the utilisation history is kept; older samples are deleted hourly (1 to 3650)',
    defaultText: '400',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 400;
      if (!/^\d+$/.test(raw.trim()) || Number(raw) < 1 || Number(raw) > 3650)
        throw new ConfigError(env, 'must be a whole number of days from 1 to 3650');
      return Number(raw);
    },
  }),
  setting({
    key: 'keyProvider',
    env: 'ROSTER_KEY_PROVIDER',
    flag: 'key-provider',
    secret: false,
    description: 'Where the key-encryption key lives: local (ROSTER_KEY_FILE) or pkcs11 (an HSM)',
    defaultText: 'local',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 'local';
      const v = raw.trim().toLowerCase();
      if (v !== 'local' && v !== 'pkcs11') throw new ConfigError(env, 'must be local or pkcs11');
      return v;
    },
  }),
  setting({
    key: 'pkcs11Module',
    env: 'ROSTER_PKCS11_MODULE',
    flag: 'pkcs11-module',
    secret: false,
    description: 'Path of the PKCS#11 module (.so) of the HSM (with ROSTER_KEY_PROVIDER=pkcs11)',
    defaultText: '(unset)',
    parse: optionalText,
  }),
  setting({
    key: 'pkcs11TokenLabel',
    env: 'ROSTER_PKCS11_TOKEN_LABEL',
    flag: 'pkcs11-token-label',
    secret: false,
    description: 'Label of the HSM token that holds the key-encryption keys',
    defaultText: '(unset)',
    parse: optionalText,
  }),
  setting({
    key: 'pkcs11Pin',
    env: 'ROSTER_PKCS11_PIN',
    flag: 'pkcs11-pin',
    secret: true,
    description: 'User PIN of the HSM token (or ROSTER_PKCS11_PIN_FILE)',
    defaultText: '(unset)',
    parse: optionalText,
  }),
  setting({
    key: 'pkcs11PinFile',
    env: 'ROSTER_PKCS11_PIN_FILE',
    flag: 'pkcs11-pin-file',
    secret: false,
    description: 'File holding the user PIN of the HSM token (first line)',
    defaultText: '(unset)',
    parse: optionalText,
  }),
  setting({
    key: 'auditKeyFile',
    env: 'ROSTER_AUDIT_KEY_FILE',
    flag: 'audit-key-file',
    secret: false,
    description: 'Ed25519 key signing the audit checkpoints (created with mode 0600 on first start)',
    defaultText: 'audit.key beside ROSTER_KEY_FILE',
    parse(raw, env) {
      if (raw === undefined || raw === '') return '';
      if (raw.trim() === '') throw new ConfigError(env, 'must be a file path');
      return raw;
    },
  }),
  setting({
    key: 'auditLogName',
    env: 'ROSTER_AUDIT_LOG_NAME',
    flag: 'audit-log-name',
    secret: false,
    description: 'Name of the audit log: its key name and the prefix of its checkpoint origins',
    defaultText: 'roster',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 'roster';
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(raw))
        throw new ConfigError(env, 'must be 1-63 characters from A-Z a-z 0-9 . _ - (starting alphanumeric)');
      return raw;
    },
  }),
  setting({
    key: 'auditCheckpointInterval',
    env: 'ROSTER_AUDIT_CHECKPOINT_INTERVAL',
    flag: 'audit-checkpoint-interval',
    secret: false,
    description: 'Seconds between signed checkpoints of a growing audit log (0.1 to 10)',
    defaultText: '5',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 5000;
      const n = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw.trim()) || n < 0.1 || n > 10)
        throw new ConfigError(env, 'must be a number of seconds from 0.1 to 10');
      return Math.round(n * 1000);
    },
  }),
  setting({
    key: 'auditIntegrator',
    env: 'ROSTER_AUDIT_INTEGRATOR',
    flag: 'audit-integrator',
    secret: false,
    description:
      'on: this node integrates audit entries and signs checkpoints (one node at a time); off: others do',
    defaultText: 'on',
    parse(raw, env) {
      if (raw === undefined || raw === '') return true;
      const v = raw.trim().toLowerCase();
      if (v === 'on' || v === 'true' || v === '1') return true;
      if (v === 'off' || v === 'false' || v === '0') return false;
      throw new ConfigError(env, 'must be on or off');
    },
  }),
  setting({
    key: 'requestCountsFlushInterval',
    env: 'ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL',
    flag: 'request-counts-flush-interval',
    secret: false,
    description: 'Seconds between writes of the per-tenant request counts to the database (0.1 to 60)',
    defaultText: '5',
    parse(raw, env) {
      if (raw === undefined || raw === '') return 5000;
      const n = Number(raw);
      if (!/^\d+(\.\d+)?$/.test(raw.trim()) || n < 0.1 || n > 60)
        throw new ConfigError(env, 'must be a number of seconds from 0.1 to 60');
      return Math.round(n * 1000);
    },
  }),
] as const;

function optionalText(raw: string | undefined, env: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (raw.trim() === '') throw new ConfigError(env, 'may not be blank');
  return raw;
}

function parseRate(raw: string | undefined, env: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || Number(raw) > 1_000_000) {
    throw new ConfigError(env, 'must be a number of requests per second from 0 (off) to 1000000');
  }
  return Number(raw);
}

export type ConfigSource = Readonly<Record<string, string | undefined>>;

/**
 * Builds the configuration from the environment, with CLI flags (by their `flag` name) taking precedence.
 * @throws ConfigError naming the first bad setting.
 */
export function loadConfig(env: ConfigSource, flags: ConfigSource = {}): Config {
  const out: Record<string, unknown> = {};
  for (const s of SETTINGS) {
    const fromFlag = flags[s.flag];
    const raw = fromFlag ?? env[s.env];
    out[s.key] = s.parse(raw, fromFlag === undefined ? s.env : `--${s.flag}`);
  }
  if (out.auditKeyFile === '') out.auditKeyFile = join(dirname(out.keyFile as string), 'audit.key');
  if (out.keyProvider === 'pkcs11') {
    if (out.pkcs11Module === undefined)
      throw new ConfigError('ROSTER_PKCS11_MODULE', 'is required with ROSTER_KEY_PROVIDER=pkcs11');
    if (out.pkcs11TokenLabel === undefined)
      throw new ConfigError('ROSTER_PKCS11_TOKEN_LABEL', 'is required with ROSTER_KEY_PROVIDER=pkcs11');
    if ((out.pkcs11Pin === undefined) === (out.pkcs11PinFile === undefined))
      throw new ConfigError(
        'ROSTER_PKCS11_PIN',
        'give exactly one of ROSTER_PKCS11_PIN and ROSTER_PKCS11_PIN_FILE',
      );
  }
  return Object.freeze(out) as unknown as Config;
}

/** Flag names accepted by the CLI, for `node:util` parseArgs. */
export function configFlagOptions(): Record<string, { type: 'string' }> {
  return Object.fromEntries(SETTINGS.map((s) => [s.flag, { type: 'string' as const }]));
}
