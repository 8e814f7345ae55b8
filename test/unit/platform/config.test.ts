import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  configFlagOptions,
  LOG_LEVELS,
  loadConfig,
  parseByteSize,
  SETTINGS,
} from '../../../src/platform/config.js';

/** Runs `fn`, expecting a ConfigError, and returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

const MiB = 1024 * 1024;

describe('loadConfig defaults', () => {
  it('gives every setting its documented default when nothing is set', () => {
    expect(loadConfig({})).toEqual({
      port: 8080,
      host: '127.0.0.1',
      databaseUrl: 'sqlite:./data/roster.db',
      keyFile: './data/roster.key',
      keyProvider: 'local',
      pkcs11Module: undefined,
      pkcs11TokenLabel: undefined,
      pkcs11Pin: undefined,
      pkcs11PinFile: undefined,
      adminToken: undefined,
      redisUrl: undefined,
      logLevel: 'info',
      bodyLimit: MiB,
      rateLimitTenant: 50,
      rateLimitGlobal: 250,
      usageSampleInterval: 60_000,
      usageRetentionDays: 400,
      auditKeyFile: 'data/audit.key',
      auditLogName: 'roster',
      auditCheckpointInterval: 5000,
      auditIntegrator: true,
      requestCountsFlushInterval: 5000,
    });
  });

  it('returns a frozen object', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('ignores environment variables that are not ROSTER_* settings', () => {
    expect(loadConfig({ PORT: '1', HOST: '0.0.0.0', roster_port: '9' }).port).toBe(8080);
  });

  it('declares each setting once with a ROSTER_ env name and a flag (this file tests every one)', () => {
    const envs = SETTINGS.map((s) => s.env);
    expect(new Set(envs).size).toBe(envs.length);
    expect(envs.sort()).toEqual(
      [
        'ROSTER_ADMIN_TOKEN',
        'ROSTER_AUDIT_CHECKPOINT_INTERVAL',
        'ROSTER_AUDIT_INTEGRATOR',
        'ROSTER_AUDIT_KEY_FILE',
        'ROSTER_AUDIT_LOG_NAME',
        'ROSTER_BODY_LIMIT',
        'ROSTER_DATABASE_URL',
        'ROSTER_HOST',
        'ROSTER_KEY_FILE',
        'ROSTER_KEY_PROVIDER',
        'ROSTER_LOG_LEVEL',
        'ROSTER_PKCS11_MODULE',
        'ROSTER_PKCS11_PIN',
        'ROSTER_PKCS11_PIN_FILE',
        'ROSTER_PKCS11_TOKEN_LABEL',
        'ROSTER_PORT',
        'ROSTER_RATE_LIMIT_GLOBAL',
        'ROSTER_RATE_LIMIT_TENANT',
        'ROSTER_REDIS_URL',
        'ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL',
        'ROSTER_USAGE_RETENTION_DAYS',
        'ROSTER_USAGE_SAMPLE_INTERVAL',
      ].sort(),
    );
    expect(Object.keys(configFlagOptions()).sort()).toEqual(SETTINGS.map((s) => s.flag).sort());
    for (const opt of Object.values(configFlagOptions())) expect(opt).toEqual({ type: 'string' });
  });

  it('marks the settings that may carry credentials as secret', () => {
    const secret = SETTINGS.filter((s) => s.secret).map((s) => s.env);
    expect(secret.sort()).toEqual([
      'ROSTER_ADMIN_TOKEN',
      'ROSTER_DATABASE_URL',
      'ROSTER_PKCS11_PIN',
      'ROSTER_REDIS_URL',
    ]);
  });
});

describe('ROSTER_PORT', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['80', 80],
    ['8443', 8443],
    ['65535', 65535],
    ['0080', 80],
  ])('accepts %j as %i', (raw, port) => {
    expect(loadConfig({ ROSTER_PORT: raw }).port).toBe(port);
  });

  it.each(['65536', '-1', '80.5', '8080abc', 'http', '', ' ', '0x50', '1e3', '99999999999999999999'])(
    'rejects %j',
    (raw) => {
      const err = configError(() => loadConfig({ ROSTER_PORT: raw }));
      expect(err.setting).toBe('ROSTER_PORT');
      expect(err.message).toContain('ROSTER_PORT');
    },
  );
});

describe('ROSTER_HOST', () => {
  it.each(['0.0.0.0', '::', '::1', 'localhost', 'roster.internal.example', '10.1.2.3'])('accepts %j', (h) => {
    expect(loadConfig({ ROSTER_HOST: h }).host).toBe(h);
  });

  it.each(['', '   ', 'local host', 'host\tname', 'a\nb'])('rejects %j', (h) => {
    const err = configError(() => loadConfig({ ROSTER_HOST: h }));
    expect(err.setting).toBe('ROSTER_HOST');
  });
});

describe('ROSTER_DATABASE_URL', () => {
  it.each([
    'sqlite:./data/roster.db',
    'sqlite:/var/lib/roster/roster.db',
    'sqlite::memory:',
    'postgres://roster@db.internal:5432/roster',
    'postgresql://roster:pw@127.0.0.1/roster?schema=r1',
  ])('accepts %j unchanged', (url) => {
    expect(loadConfig({ ROSTER_DATABASE_URL: url }).databaseUrl).toBe(url);
  });

  it.each([
    'sqlite:',
    'mysql://root:pw@db/roster',
    '/var/lib/roster.db',
    'POSTGRES://db/x',
    'postgres:/db',
    '',
  ])('rejects %j', (url) => {
    const err = configError(() => loadConfig({ ROSTER_DATABASE_URL: url }));
    expect(err.setting).toBe('ROSTER_DATABASE_URL');
  });
});

describe('ROSTER_KEY_FILE', () => {
  it('accepts a path', () => {
    expect(loadConfig({ ROSTER_KEY_FILE: '/etc/roster/kek.json' }).keyFile).toBe('/etc/roster/kek.json');
  });
  it.each(['', '  '])('rejects the blank path %j', (p) => {
    expect(configError(() => loadConfig({ ROSTER_KEY_FILE: p })).setting).toBe('ROSTER_KEY_FILE');
  });
});

describe('ROSTER_KEY_PROVIDER and the PKCS#11 settings', () => {
  const hsm = {
    ROSTER_KEY_PROVIDER: 'pkcs11',
    ROSTER_PKCS11_MODULE: '/usr/lib/softhsm/libsofthsm2.so',
    ROSTER_PKCS11_TOKEN_LABEL: 'roster',
    ROSTER_PKCS11_PIN: '1234',
  };
  it('accepts local and pkcs11 in any case', () => {
    expect(loadConfig({ ROSTER_KEY_PROVIDER: 'LOCAL' }).keyProvider).toBe('local');
    expect(loadConfig(hsm).keyProvider).toBe('pkcs11');
    expect(loadConfig({ ...hsm, ROSTER_KEY_PROVIDER: 'PKCS11' }).pkcs11TokenLabel).toBe('roster');
  });
  it.each(['ROSTER_PKCS11_MODULE', 'ROSTER_PKCS11_TOKEN_LABEL'])('pkcs11 requires %s', (missing) => {
    const { [missing]: _gone, ...rest } = hsm as Record<string, string>;
    const err = configError(() => loadConfig(rest));
    expect(err.setting).toBe(missing);
  });
  it('pkcs11 requires exactly one of the PIN and the PIN file, and never echoes the PIN', () => {
    const { ROSTER_PKCS11_PIN: _p, ...noPin } = hsm;
    expect(configError(() => loadConfig(noPin)).setting).toBe('ROSTER_PKCS11_PIN');
    const both = configError(() =>
      loadConfig({ ...hsm, ROSTER_PKCS11_PIN: '98765-secret', ROSTER_PKCS11_PIN_FILE: '/p' }),
    );
    expect(both.setting).toBe('ROSTER_PKCS11_PIN');
    expect(both.message).not.toContain('98765-secret');
    expect(loadConfig({ ...noPin, ROSTER_PKCS11_PIN_FILE: '/run/secrets/pin' }).pkcs11PinFile).toBe(
      '/run/secrets/pin',
    );
  });
  it('local ignores the PKCS#11 settings being absent', () => {
    expect(loadConfig({ ROSTER_KEY_PROVIDER: 'local' }).pkcs11Module).toBeUndefined();
  });
});

describe('ROSTER_ADMIN_TOKEN', () => {
  it('is unset when absent or empty', () => {
    expect(loadConfig({}).adminToken).toBeUndefined();
    expect(loadConfig({ ROSTER_ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
  });
  it('accepts 32 characters or more', () => {
    const t32 = 'a'.repeat(32);
    expect(loadConfig({ ROSTER_ADMIN_TOKEN: t32 }).adminToken).toBe(t32);
    const t80 = 'Z9'.repeat(40);
    expect(loadConfig({ ROSTER_ADMIN_TOKEN: t80 }).adminToken).toBe(t80);
  });
  it('rejects 31 characters', () => {
    expect(configError(() => loadConfig({ ROSTER_ADMIN_TOKEN: 'a'.repeat(31) })).setting).toBe(
      'ROSTER_ADMIN_TOKEN',
    );
  });
});

describe('ROSTER_REDIS_URL', () => {
  it('is unset when absent or empty', () => {
    expect(loadConfig({}).redisUrl).toBeUndefined();
    expect(loadConfig({ ROSTER_REDIS_URL: '' }).redisUrl).toBeUndefined();
  });
  it.each(['redis://127.0.0.1:6379', 'rediss://cache.internal:6380/2', 'redis://:pw@cache:6379'])(
    'accepts %j',
    (url) => {
      expect(loadConfig({ ROSTER_REDIS_URL: url }).redisUrl).toBe(url);
    },
  );
  it.each(['http://cache:6379', 'cache:6379', 'redis:/cache', 'redis://[bad', 'REDIS://cache'])(
    'rejects %j',
    (url) => {
      expect(configError(() => loadConfig({ ROSTER_REDIS_URL: url })).setting).toBe('ROSTER_REDIS_URL');
    },
  );
});

describe('ROSTER_LOG_LEVEL', () => {
  it.each(LOG_LEVELS)('accepts %j', (level) => {
    expect(loadConfig({ ROSTER_LOG_LEVEL: level }).logLevel).toBe(level);
  });
  it('is case-insensitive and normalises to lower case', () => {
    expect(loadConfig({ ROSTER_LOG_LEVEL: 'DEBUG' }).logLevel).toBe('debug');
    expect(loadConfig({ ROSTER_LOG_LEVEL: 'Warn' }).logLevel).toBe('warn');
  });
  it.each(['verbose', 'warning', '', 'info '])('rejects %j', (level) => {
    const err = configError(() => loadConfig({ ROSTER_LOG_LEVEL: level }));
    expect(err.setting).toBe('ROSTER_LOG_LEVEL');
    expect(err.message).toContain('fatal, error, warn, info, debug, trace, silent');
  });
});

describe('ROSTER_BODY_LIMIT', () => {
  it.each([
    ['1024', 1024],
    ['1048576', MiB],
    ['1kb', 1024],
    ['512kb', 512 * 1024],
    ['512KiB', 512 * 1024],
    ['1mb', MiB],
    ['2mb', 2 * MiB],
    ['2MB', 2 * MiB],
    ['2MiB', 2 * MiB],
    [' 3 mb ', 3 * MiB],
    ['4096b', 4096],
    ['64mb', 64 * MiB],
  ])('accepts %j as %i bytes', (raw, bytes) => {
    expect(loadConfig({ ROSTER_BODY_LIMIT: raw }).bodyLimit).toBe(bytes);
  });

  it.each(['1023', '0', '65mb', '1gb', '1.5mb', '-1mb', 'mb', 'lots', '', '2 m b', '99999999999999999999mb'])(
    'rejects %j',
    (raw) => {
      const err = configError(() => loadConfig({ ROSTER_BODY_LIMIT: raw }));
      expect(err.setting).toBe('ROSTER_BODY_LIMIT');
      expect(err.message).toContain('ROSTER_BODY_LIMIT');
    },
  );

  it('parseByteSize knows b, kb, kib, mb, mib and plain numbers only', () => {
    expect(parseByteSize('10')).toBe(10);
    expect(parseByteSize('10B')).toBe(10);
    expect(parseByteSize('10kib')).toBe(10240);
    expect(parseByteSize('10MiB')).toBe(10 * MiB);
    expect(parseByteSize('10gb')).toBeUndefined();
    expect(parseByteSize('10 k')).toBeUndefined();
    expect(parseByteSize('ten')).toBeUndefined();
  });
});

describe.each([
  ['ROSTER_RATE_LIMIT_TENANT', 'rateLimitTenant', 50],
  ['ROSTER_RATE_LIMIT_GLOBAL', 'rateLimitGlobal', 250],
] as const)('%s', (env, key, fallback) => {
  it(`defaults to ${fallback} when absent or empty`, () => {
    expect(loadConfig({})[key]).toBe(fallback);
    expect(loadConfig({ [env]: '' })[key]).toBe(fallback);
  });
  it.each([
    ['0', 0],
    ['1', 1],
    ['12.5', 12.5],
    [' 75 ', 75],
    ['1000000', 1_000_000],
  ])('accepts %j as %d', (raw, rate) => {
    expect(loadConfig({ [env]: raw })[key]).toBe(rate);
  });
  it.each(['-1', '1000001', 'fast', '1e3', '.5', '5.', '10/s', '   '])('rejects %j', (raw) => {
    const err = configError(() => loadConfig({ [env]: raw }));
    expect(err.setting).toBe(env);
  });
});

describe('CLI flags', () => {
  it('take precedence over the environment for every setting', () => {
    const env = {
      ROSTER_PORT: '1111',
      ROSTER_HOST: 'env-host',
      ROSTER_DATABASE_URL: 'sqlite:/env.db',
      ROSTER_KEY_FILE: '/env.key',
      ROSTER_ADMIN_TOKEN: 'e'.repeat(40),
      ROSTER_REDIS_URL: 'redis://env:6379',
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_BODY_LIMIT: '2mb',
      ROSTER_RATE_LIMIT_TENANT: '10',
      ROSTER_RATE_LIMIT_GLOBAL: '20',
      ROSTER_USAGE_SAMPLE_INTERVAL: '30',
      ROSTER_USAGE_RETENTION_DAYS: '90',
      ROSTER_AUDIT_KEY_FILE: '/env-audit.key',
      ROSTER_AUDIT_LOG_NAME: 'env-log',
      ROSTER_AUDIT_CHECKPOINT_INTERVAL: '2',
      ROSTER_AUDIT_INTEGRATOR: 'on',
      ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL: '2',
      ROSTER_KEY_PROVIDER: 'local',
      ROSTER_PKCS11_MODULE: '/env/module.so',
      ROSTER_PKCS11_TOKEN_LABEL: 'env-token',
      ROSTER_PKCS11_PIN: 'env-pin',
      ROSTER_PKCS11_PIN_FILE: '/env/pin',
    };
    const flags = {
      port: '2222',
      host: 'flag-host',
      'database-url': 'postgres://flag@db/roster',
      'key-file': '/flag.key',
      'admin-token': 'f'.repeat(40),
      'redis-url': 'rediss://flag:6380',
      'log-level': 'debug',
      'body-limit': '512kb',
      'rate-limit-tenant': '0',
      'rate-limit-global': '0',
      'usage-sample-interval': '1.5',
      'usage-retention-days': '30',
      'audit-key-file': '/flag-audit.key',
      'audit-log-name': 'flag-log',
      'audit-checkpoint-interval': '0.5',
      'audit-integrator': 'off',
      'request-counts-flush-interval': '1.5',
      'key-provider': 'pkcs11',
      'pkcs11-module': '/flag/module.so',
      'pkcs11-token-label': 'flag-token',
      'pkcs11-pin-file': '/flag/pin',
    };
    const { ROSTER_PKCS11_PIN: _pin, ...envWithOnePin } = env;
    expect(loadConfig(envWithOnePin, flags)).toEqual({
      port: 2222,
      host: 'flag-host',
      databaseUrl: 'postgres://flag@db/roster',
      keyFile: '/flag.key',
      adminToken: 'f'.repeat(40),
      redisUrl: 'rediss://flag:6380',
      logLevel: 'debug',
      bodyLimit: 512 * 1024,
      rateLimitTenant: 0,
      rateLimitGlobal: 0,
      usageSampleInterval: 1500,
      usageRetentionDays: 30,
      auditKeyFile: '/flag-audit.key',
      auditLogName: 'flag-log',
      auditCheckpointInterval: 500,
      auditIntegrator: false,
      requestCountsFlushInterval: 1500,
      keyProvider: 'pkcs11',
      pkcs11Module: '/flag/module.so',
      pkcs11TokenLabel: 'flag-token',
      pkcs11Pin: undefined,
      pkcs11PinFile: '/flag/pin',
    });
  });

  it('fall back to the environment, then the default, setting by setting', () => {
    const config = loadConfig({ ROSTER_PORT: '1111', ROSTER_LOG_LEVEL: 'error' }, { port: '2222' });
    expect(config.port).toBe(2222);
    expect(config.logLevel).toBe('error');
    expect(config.host).toBe('127.0.0.1');
  });

  it('ignore unknown flag names', () => {
    expect(loadConfig({ ROSTER_PORT: '1111' }, { PORT: '2222', ROSTER_PORT: '3333' }).port).toBe(1111);
  });

  it('a good flag overrides a bad environment value (the bad value is never parsed)', () => {
    expect(loadConfig({ ROSTER_PORT: 'not-a-port' }, { port: '9000' }).port).toBe(9000);
  });

  it('a bad flag is reported by its flag name', () => {
    const err = configError(() => loadConfig({ ROSTER_PORT: '9000' }, { port: 'not-a-port' }));
    expect(err.setting).toBe('--port');
    expect(err.message).toContain('--port');
    expect(err.message).not.toContain('not-a-port');
  });
});

describe('ConfigError', () => {
  // Distinctive, secret-looking values: the message must name the setting and never echo them.
  const SECRET = 'S3cr3t-Hunter2-Xq9vWz';
  const cases: [string, string, string][] = [
    ['ROSTER_PORT', 'port', `${SECRET}`],
    ['ROSTER_HOST', 'host', `my host ${SECRET}`],
    ['ROSTER_DATABASE_URL', 'database-url', `mysql://admin:${SECRET}@db.internal/roster`],
    ['ROSTER_DATABASE_URL', 'database-url', `postgres://admin:${SECRET}@[::1/roster`],
    ['ROSTER_KEY_FILE', 'key-file', '   '],
    ['ROSTER_ADMIN_TOKEN', 'admin-token', `tok_${SECRET}`],
    ['ROSTER_REDIS_URL', 'redis-url', `http://:${SECRET}@cache:6379`],
    ['ROSTER_REDIS_URL', 'redis-url', `redis://:${SECRET}@[cache`],
    ['ROSTER_LOG_LEVEL', 'log-level', `loud-${SECRET}`],
    ['ROSTER_BODY_LIMIT', 'body-limit', `${SECRET}mb`],
    ['ROSTER_RATE_LIMIT_TENANT', 'rate-limit-tenant', `${SECRET}`],
    ['ROSTER_RATE_LIMIT_GLOBAL', 'rate-limit-global', `-${SECRET}`],
    ['ROSTER_AUDIT_KEY_FILE', 'audit-key-file', '   '],
    ['ROSTER_AUDIT_LOG_NAME', 'audit-log-name', `log+${SECRET}`],
    ['ROSTER_AUDIT_CHECKPOINT_INTERVAL', 'audit-checkpoint-interval', `${SECRET}`],
    ['ROSTER_AUDIT_INTEGRATOR', 'audit-integrator', `${SECRET}`],
    ['ROSTER_KEY_PROVIDER', 'key-provider', `hsm-${SECRET}`],
    ['ROSTER_PKCS11_MODULE', 'pkcs11-module', '   '],
    ['ROSTER_PKCS11_TOKEN_LABEL', 'pkcs11-token-label', '   '],
    ['ROSTER_PKCS11_PIN', 'pkcs11-pin', '   '],
    ['ROSTER_PKCS11_PIN_FILE', 'pkcs11-pin-file', '   '],
    ['ROSTER_USAGE_SAMPLE_INTERVAL', 'usage-sample-interval', `${SECRET}`],
    ['ROSTER_USAGE_RETENTION_DAYS', 'usage-retention-days', `${SECRET}`],
    ['ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL', 'request-counts-flush-interval', `${SECRET}`],
  ];

  it('covers every declared setting', () => {
    expect([...new Set(cases.map((c) => c[0]))].sort()).toEqual(SETTINGS.map((s) => s.env).sort());
    for (const [env, flag] of cases) expect(SETTINGS.find((s) => s.env === env)?.flag).toBe(flag);
  });

  it.each(cases)('for %s names the setting and does not contain the bad value', (env, flag, bad) => {
    const fromEnv = configError(() => loadConfig({ [env]: bad }));
    expect(fromEnv.name).toBe('ConfigError');
    expect(fromEnv.setting).toBe(env);
    expect(fromEnv.message).toContain(env);
    expect(fromEnv.message).not.toContain(bad);
    expect(fromEnv.message).not.toContain(SECRET);
    expect(String(fromEnv.stack)).not.toContain(SECRET);
    expect(JSON.stringify(fromEnv)).not.toContain(SECRET);

    const fromFlag = configError(() => loadConfig({}, { [flag]: bad }));
    expect(fromFlag.setting).toBe(`--${flag}`);
    expect(fromFlag.message).toContain(`--${flag}`);
    expect(fromFlag.message).not.toContain(SECRET);
  });

  it('is an Error whose message says what a valid value looks like', () => {
    const err = configError(() => loadConfig({ ROSTER_BODY_LIMIT: '1gb' }));
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(
      'invalid setting ROSTER_BODY_LIMIT: must be a size between 1kb and 64mb, e.g. 1048576 or 2mb',
    );
  });

  it('reports the first bad setting in declaration order', () => {
    const err = configError(() => loadConfig({ ROSTER_BODY_LIMIT: 'x', ROSTER_PORT: 'y' }));
    expect(err.setting).toBe('ROSTER_PORT');
  });
});

describe('audit log settings', () => {
  it('puts the audit key beside the key file unless told otherwise', () => {
    expect(loadConfig({ ROSTER_KEY_FILE: '/srv/roster/keys/kek.json' }).auditKeyFile).toBe(
      '/srv/roster/keys/audit.key',
    );
    expect(
      loadConfig({ ROSTER_KEY_FILE: '/srv/k.json', ROSTER_AUDIT_KEY_FILE: '/elsewhere/a.key' }).auditKeyFile,
    ).toBe('/elsewhere/a.key');
  });

  it.each([
    ['0.1', 100],
    ['10', 10_000],
    ['2.5', 2500],
  ])('takes a checkpoint interval of %s seconds', (raw, ms) => {
    expect(loadConfig({ ROSTER_AUDIT_CHECKPOINT_INTERVAL: raw }).auditCheckpointInterval).toBe(ms);
  });

  it.each(['0', '0.05', '11', '-1', 'soon', '1e1'])('refuses a checkpoint interval of %s', (raw) => {
    expect(configError(() => loadConfig({ ROSTER_AUDIT_CHECKPOINT_INTERVAL: raw })).setting).toBe(
      'ROSTER_AUDIT_CHECKPOINT_INTERVAL',
    );
  });

  it.each([
    ['1', 1000],
    ['3600', 3_600_000],
    ['2.5', 2500],
  ])('takes a usage sampling interval of %s seconds', (raw, ms) => {
    expect(loadConfig({ ROSTER_USAGE_SAMPLE_INTERVAL: raw }).usageSampleInterval).toBe(ms);
  });

  it.each(['0', '0.5', '3601', '-1', 'soon', '1e1'])('refuses a usage sampling interval of %s', (raw) => {
    expect(configError(() => loadConfig({ ROSTER_USAGE_SAMPLE_INTERVAL: raw })).setting).toBe(
      'ROSTER_USAGE_SAMPLE_INTERVAL',
    );
  });

  it.each([
    ['1', 1],
    ['400', 400],
    ['3650', 3650],
  ])('takes a usage retention of %s days', (raw, days) => {
    expect(loadConfig({ ROSTER_USAGE_RETENTION_DAYS: raw }).usageRetentionDays).toBe(days);
  });

  it.each(['0', '1.5', '3651', '-1', 'forever'])('refuses a usage retention of %s days', (raw) => {
    expect(configError(() => loadConfig({ ROSTER_USAGE_RETENTION_DAYS: raw })).setting).toBe(
      'ROSTER_USAGE_RETENTION_DAYS',
    );
  });

  it.each([
    ['on', true],
    ['OFF', false],
    ['true', true],
    ['0', false],
  ])('reads the integrator switch %s', (raw, on) => {
    expect(loadConfig({ ROSTER_AUDIT_INTEGRATOR: raw }).auditIntegrator).toBe(on);
  });

  it.each(['has space', 'a+b', '-lead', 'x'.repeat(64), 'ünï'])('refuses the log name %s', (raw) => {
    expect(configError(() => loadConfig({ ROSTER_AUDIT_LOG_NAME: raw })).setting).toBe(
      'ROSTER_AUDIT_LOG_NAME',
    );
  });
});
