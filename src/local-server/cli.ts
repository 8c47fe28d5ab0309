#!/usr/bin/env node
// convex-posthog-local: run the local PostHog-compatible server for development.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { startLocalPostHog } from "./server.js";

const usage = `Usage: convex-posthog-local [options]

Runs a local PostHog-compatible server that keeps and shows the events it receives.

Options:
  --port N                 port to listen on (default 8010; 0 = any free port)
  --host ADDRESS           address to bind (default 127.0.0.1)
  --definitions FILE.json  serve this file on GET /flags/definitions (re-read on every request)
  --quiet                  do not print a line per received event
  -h, --help               show this help
`;

function fail(message: string): never {
  process.stderr.write(`convex-posthog-local: ${message}\n\n${usage}`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: "string", default: "8010" },
        host: { type: "string", default: "127.0.0.1" },
        definitions: { type: "string" },
        quiet: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    fail((error as Error).message);
  }
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --port ${values.port}`);

  let definitionsFile: string | undefined;
  if (values.definitions !== undefined) {
    definitionsFile = resolve(values.definitions);
    try {
      JSON.parse(readFileSync(definitionsFile, "utf8"));
    } catch (error) {
      fail(`cannot use --definitions ${values.definitions}: ${(error as Error).message}`);
    }
  }

  const print = (line: string) => process.stdout.write(`${line}\n`);
  const server = await startLocalPostHog({
    port,
    hostname: values.host,
    definitionsFile,
    log: values.quiet ? undefined : (line) => print(`${new Date().toISOString()}  ${line}`),
  });

  print(`convex-posthog-local listening on ${server.url}`);
  print(`  POSTHOG_HOST=${server.url}`);
  print(`  received events: ${server.url}/   control API: ${server.url}/_local/`);
  if (definitionsFile !== undefined) print(`  flag definitions: ${definitionsFile}`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`convex-posthog-local: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
