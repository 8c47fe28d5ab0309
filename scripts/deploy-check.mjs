// Deploy check, offline: bundle an app and its components with the Convex CLI's own bundler
// code, then load every bundled module in a V8 context holding only the Convex runtime's
// globals and read what each export registers.
//
//   node --experimental-vm-modules scripts/deploy-check.mjs [appDir ...] [--json]
//
// Each appDir (default: the current directory) is where `npx convex deploy` would run: its
// convex.json (or ./convex) names the functions folder. Exits 1 and names each problem:
//   - any esbuild error or warning, an external import, a "use node" file in a component;
//   - a module that throws while it loads with the Convex runtime's globals (top-level
//     Buffer, setImmediate, fetch, require, process.versions, ...);
//   - a component function without `args` and `returns` validators, or an app function
//     without `args`; an export whose kind (query/mutation/action, public/internal) is unclear.
// --json prints [{ appDir, ok, problems, modules, nodeModules, functions }] on stdout
// instead of the summary.
//
// The CLI's functions (componentGraph, bundleDefinitions, bundleImplementations, the steps
// `npx convex deploy` runs before its first network call) are not exported, so the CLI
// bundle is compiled here with one line changed: its final `void main();` exports them.
import fs from "node:fs";
import Module, { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import vm from "node:vm";

/** Thrown where the CLI would print a failure and exit. */
class DeployCheckFailure extends Error {}

const loadedClis = new Map();

/** The CLI's bundling steps, from the `convex` package the app itself installs. */
function loadConvexCli(appDir) {
  const appRequire = createRequire(path.join(appDir, "package.json"));
  const cliFile = fs.realpathSync(path.join(path.dirname(appRequire.resolve("convex/package.json")), "dist/cli.bundle.cjs"));
  if (!loadedClis.has(cliFile)) loadedClis.set(cliFile, compileConvexCli(cliFile));
  const loaded = loadedClis.get(cliFile);
  loaded.esbuildMessages.length = 0;
  return loaded;
}

function compileConvexCli(cliFile) {
  const steps = [
    "componentGraph",
    "bundleDefinitions",
    "bundleImplementations",
    "isComponentDirectory",
    "readProjectConfig",
    "getFunctionsDirectoryPath",
    "nodeFs",
  ];
  const source = fs.readFileSync(cliFile, "utf8");
  const entry = "\nvoid main();\n";
  if (source.indexOf(entry) === -1 || source.indexOf(entry) !== source.lastIndexOf(entry)) {
    throw new DeployCheckFailure(`${cliFile} no longer ends with one \`void main();\`: update scripts/deploy-check.mjs for this convex version`);
  }
  const patched = source.replace(entry, `\nmodule.exports = { ${steps.join(", ")} };\n`);

  const esbuildMessages = [];
  const cliModule = new Module(cliFile);
  cliModule.filename = cliFile;
  cliModule.paths = Module._nodeModulePaths(path.dirname(cliFile));
  const requireForCli = cliModule.require.bind(cliModule);
  // The CLI only logs esbuild warnings and lets esbuild print its own errors: record both.
  cliModule.require = (id) => (id === "esbuild" ? recordingEsbuild(requireForCli(id), esbuildMessages) : requireForCli(id));
  cliModule._compile(patched, cliFile);
  for (const step of steps) {
    if (cliModule.exports[step] === undefined) throw new DeployCheckFailure(`the Convex CLI has no ${step} any more`);
  }
  return { cli: cliModule.exports, esbuildMessages };
}

function recordingEsbuild(esbuild, messages) {
  const record = (kind, list) => {
    for (const message of list ?? []) messages.push(`esbuild ${kind}: ${formatEsbuildMessage(message)}`);
  };
  return {
    ...esbuild,
    async build(options) {
      try {
        // esbuild keeps the working directory of its first call: give each app its own.
        const result = await esbuild.build({ absWorkingDir: process.cwd(), ...options, logLevel: "silent" });
        record("error", result.errors);
        record("warning", result.warnings);
        return result;
      } catch (error) {
        record("error", error.errors);
        record("warning", error.warnings);
        throw error;
      }
    },
  };
}

function formatEsbuildMessage({ text, location, notes }) {
  const where = location ? ` (${location.file}:${location.line}:${location.column})` : "";
  const extra = (notes ?? []).map((note) => note.text).filter(Boolean);
  return `${text}${where}${extra.length ? ` [${extra.join(" ")}]` : ""}`;
}

/**
 * Runs the CLI's steps in the order `startComponentsPushAndCodegen` does, stopping before
 * its first network call. Returns the bundles the deploy would upload.
 */
async function bundleLikeDeploy(cli) {
  const ctx = {
    fs: cli.nodeFs,
    crash: async ({ printedMessage, errorType }) => {
      throw new DeployCheckFailure(printedMessage?.trim() || `the Convex CLI stopped (${errorType})`);
    },
    registerCleanup: () => "",
    removeCleanup: () => null,
    bigBrainAuth: () => null,
  };
  const { projectConfig } = await cli.readProjectConfig(ctx);
  const functionsDir = await cli.getFunctionsDirectoryPath(ctx);
  const root = cli.isComponentDirectory(ctx, functionsDir, true);
  if (root.kind !== "ok") throw new DeployCheckFailure(`${functionsDir} is not a Convex functions folder: ${root.why}`);
  const rootComponent = root.component;
  const workingDir = path.resolve(".");

  const { components, dependencyGraph } = await cli.componentGraph(ctx, workingDir, rootComponent, false, false);
  const definitions = await cli.bundleDefinitions(ctx, workingDir, dependencyGraph, rootComponent, [...components.values()], false, false);
  const implementations = await cli.bundleImplementations({
    ctx,
    rootComponentDirectory: rootComponent,
    componentDirectories: [...components.values()].filter((directory) => !directory.isRoot),
    nodeExternalPackages: projectConfig.node.externalPackages,
    extraConditions: [],
    verbose: false,
  });
  return { functionsDir, definitions, implementations };
}

/** Imports esbuild left unbundled in code for the Convex runtime (only "use node" code may have them). */
function externalImports(implementations) {
  const found = [];
  for (const info of implementations.buildDebugInfos) {
    if (info.kind === "node") continue;
    for (const [output, { imports }] of Object.entries(info.metafile?.outputs ?? {})) {
      for (const imported of imports ?? []) {
        if (imported.external) found.push(`${info.definitionPath || "app"} (${info.kind}) ${output} imports the external package "${imported.path}"`);
      }
    }
  }
  return found;
}

// ---- the Convex runtime's globals (see ../shared/reference/convex-runtime.md, section 2) ----

const notInConvex = {
  Buffer: "use Uint8Array, TextEncoder/TextDecoder or atob/btoa",
  setImmediate: "use setTimeout(fn, 0) in an action",
  clearImmediate: "use clearTimeout",
  queueMicrotask: "use Promise.resolve().then(fn)",
  CompressionStream: "use a pure-JS compressor (fflate) or send uncompressed",
  DecompressionStream: "use a pure-JS decompressor (fflate)",
  require: "use an ES import",
  global: "use globalThis",
  __dirname: "modules have no file path in Convex",
  __filename: "modules have no file path in Convex",
};

function refusedAtImport(name) {
  return () => {
    throw new Error(`${name}() called while the module loads: the Convex runtime runs no async operations at import time`);
  };
}

/**
 * A fresh V8 context with the globals Convex installs for every function kind
 * (udf-runtime/src/setup.ts), borrowed from Node, and nothing Node adds on top.
 * `process` is `{ env }` with no values: deployment analysis sees no env vars.
 */
function convexRuntimeContext() {
  const host = globalThis;
  const globals = {
    console: host.console,
    URL: host.URL,
    URLSearchParams: host.URLSearchParams,
    crypto: host.crypto,
    Crypto: host.Crypto,
    SubtleCrypto: host.SubtleCrypto,
    DOMException: host.DOMException,
    Event: host.Event,
    EventTarget: host.EventTarget,
    structuredClone: host.structuredClone,
    setTimeout: refusedAtImport("setTimeout"),
    setInterval: refusedAtImport("setInterval"),
    clearTimeout: host.clearTimeout,
    clearInterval: host.clearInterval,
    AbortController: host.AbortController,
    AbortSignal: host.AbortSignal,
    ReadableStream: host.ReadableStream,
    ReadableStreamDefaultReader: host.ReadableStreamDefaultReader,
    ReadableStreamBYOBReader: host.ReadableStreamBYOBReader,
    TransformStream: host.TransformStream,
    WritableStream: host.WritableStream,
    WritableStreamDefaultWriter: host.WritableStreamDefaultWriter,
    TextEncoder: host.TextEncoder,
    TextDecoder: host.TextDecoder,
    TextEncoderStream: host.TextEncoderStream,
    TextDecoderStream: host.TextDecoderStream,
    atob: host.atob,
    btoa: host.btoa,
    Blob: host.Blob,
    File: host.File,
    Headers: host.Headers,
    FormData: host.FormData,
    Request: host.Request,
    Response: host.Response,
    fetch: refusedAtImport("fetch"),
    performance: host.performance,
    process: { env: {} },
  };
  const asyncHooks = createRequire(import.meta.url)("node:async_hooks");
  globals.AsyncLocalStorage = asyncHooks.AsyncLocalStorage;
  globals.AsyncResource = asyncHooks.AsyncResource;
  const context = vm.createContext(globals);
  vm.runInContext("globalThis.self = globalThis;", context);
  return context;
}

function explainLoadError(error) {
  const message = error?.message ?? String(error);
  const missing = /^(\w+) is not defined$/.exec(message)?.[1];
  const hint = missing && notInConvex[missing] ? ` (the Convex runtime has no ${missing}: ${notInConvex[missing]})` : "";
  return `${error?.name ?? "Error"}: ${message}${hint}`;
}

/**
 * Loads `entry` and the chunks it imports from `modules` (path -> source) in `context`.
 * `resolveOther(specifier)` may supply modules outside the bundle (component definitions).
 */
async function loadModule(context, modules, entry, label, resolveOther = () => undefined) {
  const cache = new Map();
  const instantiate = (modulePath) => {
    if (!cache.has(modulePath)) {
      cache.set(modulePath, new vm.SourceTextModule(modules.get(modulePath), { context, identifier: `${label}/${modulePath}` }));
    }
    return cache.get(modulePath);
  };
  const moduleFor = new Map();
  const linker = async (specifier, referencing) => {
    const other = resolveOther(specifier, referencing);
    if (other) return other;
    const from = moduleFor.get(referencing) ?? entry;
    const target = specifier.startsWith(".") ? path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier)) : null;
    if (target === null || !modules.has(target)) {
      throw new Error(`imports "${specifier}", which is not in the bundle (an external import the Convex runtime cannot load)`);
    }
    const linked = instantiate(target);
    moduleFor.set(linked, target);
    return linked;
  };
  const root = instantiate(entry);
  moduleFor.set(root, entry);
  await root.link(linker);
  await root.evaluate({ timeout: 10_000 });
  return root.namespace;
}

/** What an export registers, read as the backend's analysis reads it. */
function describeExport(value) {
  if ((typeof value !== "function" && typeof value !== "object") || value === null) return null;
  const kinds = ["isQuery", "isMutation", "isAction", "isHttp"].filter((flag) => value[flag] === true);
  if (kinds.length === 0) return null;
  const kind = { isQuery: "query", isMutation: "mutation", isAction: "action", isHttp: "httpAction" }[kinds[0]];
  const problems = [];
  if (kinds.length > 1) problems.push(`claims several kinds (${kinds.join(", ")})`);
  if (kind === "httpAction") return { kind, visibility: "http", args: null, returns: null, problems };
  const visibility = value.isPublic === true && value.isInternal !== true ? "public" : value.isInternal === true && value.isPublic !== true ? "internal" : null;
  if (visibility === null) problems.push("is neither clearly public nor internal");
  const read = (getter) => {
    try {
      return typeof value[getter] === "function" ? JSON.parse(value[getter]()) : undefined;
    } catch (error) {
      problems.push(`${getter}() throws: ${error?.message ?? error}`);
      return undefined;
    }
  };
  const args = read("exportArgs");
  const returns = read("exportReturns");
  return { kind, visibility, args: args?.type === "any" ? null : (args ?? null), returns: returns ?? null, problems };
}

/** Evaluates every module of one bundle (app or component) and reads its functions. */
async function analyzeBundle(label, bundle, { requireReturns }) {
  const problems = [];
  const functions = [];
  const modules = [];
  const sources = new Map(bundle.functions.filter((m) => m.environment === "isolate").map((m) => [m.path, m.source]));
  if (bundle.schema) sources.set(bundle.schema.path, bundle.schema.source);
  const entries = [...sources.keys()].filter((modulePath) => !modulePath.startsWith("_deps/"));
  for (const entry of entries) {
    modules.push(`${label}/${entry}`);
    let namespace;
    try {
      namespace = await loadModule(convexRuntimeContext(), sources, entry, label);
    } catch (error) {
      problems.push(`${label}/${entry} fails to load in the Convex runtime: ${explainLoadError(error)}`);
      continue;
    }
    if (bundle.schema && entry === bundle.schema.path) continue;
    for (const [name, value] of Object.entries(namespace)) {
      const found = describeExport(value);
      if (!found) continue;
      const id = `${entry.replace(/\.js$/, "")}:${name}`;
      functions.push({ component: label, id, kind: found.kind, visibility: found.visibility, args: found.args, returns: found.returns });
      const named = `${label} ${id} (${found.visibility ?? "?"} ${found.kind})`;
      for (const problem of found.problems) problems.push(`${named} ${problem}`);
      if (found.kind === "httpAction") continue;
      if (found.args === null) problems.push(`${named} declares no \`args\` validator`);
      if (requireReturns && found.returns === null) problems.push(`${named} declares no \`returns\` validator`);
    }
  }
  const nodeModules = bundle.functions.filter((m) => m.environment === "node").map((m) => `${label}/${m.path}`);
  return { problems, functions, modules, nodeModules };
}

/** Evaluates the app's and components' convex.config bundles, with component imports linked. */
async function analyzeDefinitions(definitions) {
  const problems = [];
  const componentSources = new Map(
    definitions.componentDefinitionSpecsWithoutImpls.map((spec) => [spec.definitionPath, spec.definition.source]),
  );
  const load = async (label, source) => {
    const context = convexRuntimeContext();
    const loaded = new Map();
    // The CLI leaves each child component's definition as an import of
    // ./_componentDeps/<base64url path>; link it to that component's bundle, stamped with
    // its path and default name as the backend does, so `app.use(...)` runs as on deploy.
    const cached = (key, make) => {
      if (!loaded.has(key)) loaded.set(key, make());
      return loaded.get(key);
    };
    const resolveComponent = (specifier) => {
      const original = /^component-source:(.+)$/.exec(specifier)?.[1];
      if (original !== undefined) {
        return cached(specifier, () => new vm.SourceTextModule(componentSources.get(original), { context, identifier: `${original}/convex.config.js` }));
      }
      const encoded = /^\.\/_componentDeps\/(.+)$/.exec(specifier)?.[1];
      if (encoded === undefined) return undefined;
      const definitionPath = Buffer.from(encoded, "base64url").toString();
      if (!componentSources.has(definitionPath)) return undefined;
      const stamped = `import definition from ${JSON.stringify(`component-source:${definitionPath}`)};
        definition.componentDefinitionPath = ${JSON.stringify(definitionPath)};
        definition.defaultName ??= definition.export().name;
        export default definition;`;
      return cached(specifier, () => new vm.SourceTextModule(stamped, { context, identifier: `${label}/_componentDeps/${definitionPath}` }));
    };
    try {
      const namespace = await loadModule(context, new Map([["convex.config.js", source]]), "convex.config.js", label, resolveComponent);
      // What the backend's analysis reads from a definition.
      return namespace.default.export();
    } catch (error) {
      problems.push(`${label}/convex.config.js fails to load in the Convex runtime: ${explainLoadError(error)}`);
      return undefined;
    }
  };
  for (const [definitionPath, source] of componentSources) await load(definitionPath, source);
  const app = await load("app", definitions.appDefinitionSpecWithoutImpls.definition.source);
  const componentNames = new Map((app?.childComponents ?? []).map(({ name, path: definitionPath }) => [definitionPath, name]));
  return { problems, componentNames };
}

/** Runs the whole check for the app in `appDir`; never throws for a problem it can name. */
async function deployCheck(appDir) {
  const previousDir = process.cwd();
  process.chdir(appDir);
  const problems = [];
  const report = { appDir, ok: false, problems, modules: [], nodeModules: [], functions: [] };
  let esbuildMessages = [];
  try {
    const loaded = loadConvexCli(path.resolve("."));
    esbuildMessages = loaded.esbuildMessages;
    const { definitions, implementations } = await bundleLikeDeploy(loaded.cli);
    problems.push(...esbuildMessages.splice(0), ...externalImports(implementations));
    const { problems: definitionProblems, componentNames } = await analyzeDefinitions(definitions);
    problems.push(...definitionProblems);
    const bundles = [
      ["app", implementations.appImplementation, { requireReturns: false }],
      ...implementations.componentImplementations.map((c) => [componentNames.get(c.definitionPath) ?? c.definitionPath, c, { requireReturns: true }]),
    ];
    for (const [label, bundle, rules] of bundles) {
      const result = await analyzeBundle(label, bundle, rules);
      problems.push(...result.problems);
      report.modules.push(...result.modules);
      report.nodeModules.push(...result.nodeModules);
      report.functions.push(...result.functions);
    }
  } catch (error) {
    if (!(error instanceof DeployCheckFailure)) throw error;
    problems.push(...esbuildMessages, error.message);
  } finally {
    process.chdir(previousDir);
  }
  report.ok = problems.length === 0;
  return report;
}

function summary(appDir, report) {
  const lines = [`deploy check of ${appDir}: ${report.modules.length} modules bundled as \`convex deploy\` does, each loaded with only the Convex runtime's globals`];
  const counts = new Map();
  for (const f of report.functions) {
    const perKind = counts.get(f.component) ?? new Map();
    const kind = `${f.visibility} ${f.kind}`;
    counts.set(f.component, perKind.set(kind, (perKind.get(kind) ?? 0) + 1));
  }
  for (const [component, perKind] of counts) {
    const total = [...perKind.values()].reduce((a, b) => a + b, 0);
    lines.push(`  ${component}: ${total} functions (${[...perKind].map(([kind, n]) => `${n} ${kind}`).join(", ")})`);
  }
  if (report.nodeModules.length) lines.push(`  "use node" modules (not loaded): ${report.nodeModules.join(", ")}`);
  for (const problem of report.problems) lines.push(`  ✗ ${problem}`);
  lines.push(report.ok ? "deploy check passed" : `deploy check FAILED: ${report.problems.length} problem(s)`);
  return lines.join("\n");
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const appDirs = args.filter((arg) => !arg.startsWith("--")).map((dir) => path.resolve(dir));
  if (typeof vm.SourceTextModule !== "function") {
    console.error("deploy-check needs node --experimental-vm-modules");
    process.exit(2);
  }
  const reports = [];
  for (const appDir of appDirs.length ? appDirs : [process.cwd()]) reports.push(await deployCheck(appDir));
  if (args.includes("--json")) console.log(JSON.stringify(reports, null, 2));
  else for (const report of reports) console.log(summary(path.relative(process.cwd(), report.appDir) || report.appDir, report));
  process.exitCode = reports.every((report) => report.ok) ? 0 : 1;
}
