/**
 * The import graph of src/ against the dependency rules of docs/architecture.md (design: ../shared/STYLE.md,
 * "Rooms"). Every file is parsed with the TypeScript compiler, so comments and strings never count as imports
 * and type-only imports count like any other: a rule about who may depend on whom holds for types too.
 *
 * Each rule is a function over parsed files. It is run once over the real src/ (no findings allowed) and once
 * over a small synthetic tree that breaks it (a finding required), so a rule cannot pass by matching nothing.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Top-level folders of src/ that are not domain modules. */
const NON_MODULES = new Set(['platform', 'cli']);

interface Import {
  /** The specifier as written. */
  readonly specifier: string;
  /** A repository path (`src/platform/db/index.ts`) for relative imports; the package name otherwise. */
  readonly target: string;
  readonly line: number;
}

interface EnvUse {
  readonly line: number;
  /** True when the whole `process.env` object is passed along (an argument or a default value). */
  readonly whole: boolean;
}

interface SourceInfo {
  /** Repository path with forward slashes: `src/identity/store.ts`. */
  readonly path: string;
  readonly imports: readonly Import[];
  readonly envUses: readonly EnvUse[];
  /** Relative imports that name no file of the tree (a rule cannot see through them). */
  readonly unresolved: readonly string[];
}

// ---- parsing

function packageName(specifier: string): string {
  if (specifier.startsWith('node:')) return specifier;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? specifier);
}

function resolveRelative(
  from: string,
  specifier: string,
  exists: (p: string) => boolean,
): string | undefined {
  const base = posix.normalize(posix.join(posix.dirname(from), specifier));
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, `${base}/index.ts`];
  return candidates.find(exists);
}

/** Parses one file's imports and its uses of `process.env`. */
function parseSource(path: string, text: string, exists: (p: string) => boolean): SourceInfo {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const imports: Import[] = [];
  const unresolved: string[] = [];
  const envUses: EnvUse[] = [];
  const lineOf = (node: ts.Node) => sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1;

  const addImport = (specifier: string, node: ts.Node) => {
    let target = packageName(specifier);
    if (specifier.startsWith('.')) {
      const resolved = resolveRelative(path, specifier, exists);
      if (resolved === undefined) unresolved.push(specifier);
      target = resolved ?? posix.normalize(posix.join(posix.dirname(path), specifier));
    }
    imports.push({ specifier, target, line: lineOf(node) });
  };

  const isProcess = (e: ts.Expression) => ts.isIdentifier(e) && e.text === 'process';

  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      addImport(node.moduleSpecifier.text, node);
      // `import { env } from 'node:process'` reads the environment as surely as `process.env` does.
      if (
        ts.isImportDeclaration(node) &&
        /^(node:)?process$/.test(node.moduleSpecifier.text) &&
        node.importClause?.namedBindings &&
        ts.isNamedImports(node.importClause.namedBindings) &&
        node.importClause.namedBindings.elements.some((e) => (e.propertyName ?? e.name).text === 'env')
      ) {
        envUses.push({ line: lineOf(node), whole: false });
      }
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments[0] &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      addImport(node.arguments[0].text, node);
    } else if (
      (ts.isPropertyAccessExpression(node) && isProcess(node.expression) && node.name.text === 'env') ||
      (ts.isElementAccessExpression(node) &&
        isProcess(node.expression) &&
        ts.isStringLiteralLike(node.argumentExpression) &&
        node.argumentExpression.text === 'env')
    ) {
      const parent = node.parent;
      // Reading a variable (`process.env.X`, `process.env[k]`) is not passing the object along.
      const read =
        (ts.isPropertyAccessExpression(parent) || ts.isElementAccessExpression(parent)) &&
        parent.expression === node;
      const passed =
        (ts.isParameter(parent) && parent.initializer === node) ||
        (ts.isCallExpression(parent) && parent.arguments.includes(node as ts.Expression));
      envUses.push({ line: lineOf(node), whole: !read && passed });
    } else if (
      ts.isVariableDeclaration(node) &&
      ts.isObjectBindingPattern(node.name) &&
      node.initializer &&
      isProcess(node.initializer) &&
      node.name.elements.some((e) => ((e.propertyName ?? e.name) as ts.Identifier).text === 'env')
    ) {
      envUses.push({ line: lineOf(node), whole: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return { path, imports, envUses, unresolved };
}

function listTs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = `${dir}/${name}`;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...listTs(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

function loadTree(): SourceInfo[] {
  const paths = listTs('src');
  const known = new Set(paths);
  return paths.map((p) => parseSource(p, readFileSync(join(ROOT, p), 'utf8'), (c) => known.has(c)));
}

/** Parses an in-memory tree (for the rules' own tests). */
function fakeTree(files: Record<string, string>): SourceInfo[] {
  const known = new Set(Object.keys(files));
  return Object.entries(files).map(([p, text]) => parseSource(p, text, (c) => known.has(c)));
}

// ---- what a path is

/** The domain module a file belongs to (`identity` for src/identity/store.ts), or undefined. */
function moduleOf(path: string): string | undefined {
  const m = /^src\/([^/]+)\/.+/.exec(path);
  return m?.[1] !== undefined && !NON_MODULES.has(m[1]) ? m[1] : undefined;
}

/** The role of a module file by its name: `store`, `model`, `service`, `routes`, … */
function roleOf(path: string): string | undefined {
  return moduleOf(path) === undefined ? undefined : /\/([^/]+)\.ts$/.exec(path)?.[1];
}

const isStore = (target: string) => moduleOf(target) !== undefined && roleOf(target) === 'store';
const under = (target: string, folder: string) => target.startsWith(`${folder}/`);

/** Packages and folders whose import means input/output (a model must stay pure). */
const IO_PACKAGES = new Set([
  'node:fs',
  'fs',
  'node:net',
  'net',
  'node:http',
  'http',
  'node:https',
  'https',
  'node:child_process',
  'child_process',
  'fastify',
  'pg',
  'better-sqlite3',
  'kysely',
  'pino',
]);

function isIo(target: string): boolean {
  return (
    IO_PACKAGES.has(target) ||
    target.startsWith('@fastify/') ||
    under(target, 'src/platform/db') ||
    under(target, 'src/platform/http')
  );
}

const isHttp = (target: string) =>
  target === 'fastify' || target.startsWith('@fastify/') || under(target, 'src/platform/http');

// ---- the rules

type Rule = (files: readonly SourceInfo[]) => string[];

const show = (f: SourceInfo, i: Import) => `${f.path}:${i.line} imports '${i.specifier}'`;

const RULES: Record<string, { readonly text: string; readonly check: Rule }> = {
  storeImports: {
    text: "a module's store.ts imports only platform/db, its own model.ts and kysely",
    check: (files) =>
      files
        .filter((f) => roleOf(f.path) === 'store')
        .flatMap((f) =>
          f.imports
            .filter(
              (i) =>
                !under(i.target, 'src/platform/db') &&
                i.target !== `src/${moduleOf(f.path)}/model.ts` &&
                i.target !== 'kysely',
            )
            .map((i) => show(f, i)),
        ),
  },
  modelIsPure: {
    text: 'model.ts does no I/O: nothing from platform/db, platform/http, fastify, node:fs, drivers or stores',
    check: (files) =>
      files
        .filter((f) => roleOf(f.path) === 'model')
        .flatMap((f) => f.imports.filter((i) => isIo(i.target) || isStore(i.target)).map((i) => show(f, i))),
  },
  serviceWithoutHttp: {
    text: 'service.ts never imports fastify, @fastify/* or platform/http',
    check: (files) =>
      files
        .filter((f) => roleOf(f.path) === 'service')
        .flatMap((f) => f.imports.filter((i) => isHttp(i.target)).map((i) => show(f, i))),
  },
  routesWithoutStore: {
    text: 'routes.ts never imports a store.ts (its own or another module’s)',
    check: (files) =>
      files
        .filter((f) => roleOf(f.path) === 'routes')
        .flatMap((f) => f.imports.filter((i) => isStore(i.target)).map((i) => show(f, i))),
  },
  storesArePrivate: {
    text: "a module's store.ts is imported only from inside that module",
    check: (files) =>
      files.flatMap((f) =>
        f.imports
          .filter((i) => isStore(i.target) && moduleOf(i.target) !== moduleOf(f.path))
          .map((i) => show(f, i)),
      ),
  },
  platformBelowModules: {
    text: 'src/platform imports no domain module, nor main.ts or the CLI',
    check: (files) =>
      files
        .filter((f) => under(f.path, 'src/platform'))
        .flatMap((f) =>
          f.imports
            .filter(
              (i) =>
                moduleOf(i.target) !== undefined || i.target === 'src/main.ts' || under(i.target, 'src/cli'),
            )
            .map((i) => show(f, i)),
        ),
  },
  modulesBelowRoot: {
    text: 'no domain module imports the composition root (src/main.ts) or the CLI',
    check: (files) =>
      files
        .filter((f) => moduleOf(f.path) !== undefined)
        .flatMap((f) =>
          f.imports
            .filter((i) => i.target === 'src/main.ts' || under(i.target, 'src/cli'))
            .map((i) => show(f, i)),
        ),
  },
  noModuleCycles: {
    text: 'the domain modules depend on each other without a cycle',
    check: (files) => {
      const edges = new Map<string, Set<string>>();
      for (const f of files) {
        const from = moduleOf(f.path);
        if (from === undefined) continue;
        for (const i of f.imports) {
          const to = moduleOf(i.target);
          if (to === undefined || to === from) continue;
          edges.set(from, (edges.get(from) ?? new Set()).add(to));
        }
      }
      const cycles: string[] = [];
      const state = new Map<string, 'open' | 'done'>();
      const walk = (m: string, trail: string[]): void => {
        if (state.get(m) === 'done') return;
        if (state.get(m) === 'open') {
          cycles.push([...trail.slice(trail.indexOf(m)), m].join(' -> '));
          return;
        }
        state.set(m, 'open');
        for (const next of edges.get(m) ?? []) walk(next, [...trail, m]);
        state.set(m, 'done');
      };
      for (const m of [...edges.keys()].sort()) walk(m, []);
      return cycles;
    },
  },
  envOnlyThroughConfig: {
    text:
      'only src/platform/config.ts reads process.env; src/cli may hand the whole process.env to ' +
      'loadConfig (as an argument or a default value) but reads no variable from it',
    check: (files) =>
      files.flatMap((f) =>
        f.envUses
          .filter((u) => {
            if (f.path === 'src/platform/config.ts') return false;
            if (under(f.path, 'src/cli')) return !u.whole;
            return true;
          })
          .map((u) => `${f.path}:${u.line} uses process.env`),
      ),
  },
};

// ---- the tests

describe('architecture: import graph of src/', () => {
  const files = loadTree();

  it('parses the whole tree and resolves every relative import', () => {
    const roles = new Set(files.map((f) => roleOf(f.path)));
    for (const role of ['model', 'store', 'service', 'routes']) expect(roles).toContain(role);
    expect(files.filter((f) => roleOf(f.path) === 'store').length).toBeGreaterThanOrEqual(4);
    expect(files.flatMap((f) => f.unresolved.map((s) => `${f.path}: '${s}'`))).toEqual([]);
  });

  for (const [name, rule] of Object.entries(RULES)) {
    it(`${name}: ${rule.text}`, () => {
      expect(rule.check(files)).toEqual([]);
    });
  }
});

describe('architecture: each rule catches its violation', () => {
  const ok = {
    'src/platform/db/index.ts': 'export const x = 1;',
    'src/platform/http/server.ts': "import Fastify from 'fastify'; export const y = Fastify;",
    'src/platform/config.ts': 'export const loadConfig = (env: object) => env;',
    'src/platform/errors.ts': 'export class RosterError extends Error {}',
    'src/alpha/model.ts':
      "import { RosterError } from '../platform/errors.js'; export const m = RosterError;",
    'src/alpha/store.ts': "import type { x } from '../platform/db/index.js'; import { sql } from 'kysely';",
    'src/alpha/service.ts': "import * as store from './store.js'; import { m } from './model.js';",
    'src/alpha/routes.ts': "import type { FastifyInstance } from 'fastify'; import './service.js';",
    'src/beta/service.ts': "import '../alpha/service.js';",
    'src/main.ts': "import './alpha/routes.js'; import './beta/service.js';",
    'src/cli/main.ts':
      "import { loadConfig } from '../platform/config.js';\n" +
      'export function main(env: object = process.env) { return loadConfig(env); }\n' +
      'export const again = () => loadConfig(process.env);',
  };
  const broken: Record<string, Record<string, string>> = {
    storeImports: { 'src/alpha/store.ts': "import '../beta/service.js';" },
    modelIsPure: { 'src/alpha/model.ts': "import { readFileSync } from 'node:fs';" },
    serviceWithoutHttp: { 'src/alpha/service.ts': "import type { FastifyRequest } from 'fastify';" },
    routesWithoutStore: { 'src/alpha/routes.ts': "import { x } from './store.js';" },
    storesArePrivate: { 'src/beta/service.ts': "import type * as s from '../alpha/store.js';" },
    platformBelowModules: { 'src/platform/errors.ts': "export * from '../alpha/model.js';" },
    modulesBelowRoot: { 'src/beta/service.ts': "import { main } from '../cli/main.js';" },
    noModuleCycles: { 'src/alpha/service.ts': "import '../beta/service.js';" },
    envOnlyThroughConfig: {
      'src/cli/main.ts': 'export const port = process.env.ROSTER_PORT;',
      'src/beta/service.ts': "export const e = process['env'];",
      'src/alpha/service.ts': "import { env } from 'node:process'; export const e = env;",
      'src/alpha/model.ts': 'const { env } = process; export const e = env;',
    },
  };

  it('the baseline tree breaks no rule', () => {
    const tree = fakeTree(ok);
    for (const [name, rule] of Object.entries(RULES)) expect(rule.check(tree), name).toEqual([]);
  });

  for (const name of Object.keys(RULES)) {
    it(`${name} reports a violation`, () => {
      const changes = broken[name];
      expect(changes, `no violating example for ${name}`).toBeDefined();
      const findings = RULES[name]?.check(fakeTree({ ...ok, ...changes })) ?? [];
      expect(findings.length).toBeGreaterThanOrEqual(Object.keys(changes ?? {}).length);
    });
  }

  it('reads source, not text: a comment or a string naming a store is no import', () => {
    const tree = fakeTree({
      ...ok,
      'src/alpha/routes.ts': "// import './store.js'\nexport const s = \"import './store.js'\";",
    });
    expect(RULES.routesWithoutStore?.check(tree)).toEqual([]);
  });

  it('reports a relative import that names no file', () => {
    const [f] = fakeTree({ 'src/alpha/service.ts': "import './nowhere.js';" });
    expect(f?.unresolved).toEqual(['./nowhere.js']);
  });
});
