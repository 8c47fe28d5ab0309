// Helpers shared by the bench files: results.json sections, machine description, number
// formatting and plain-text tables.
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const RESULTS_FILE = fileURLToPath(new URL("./results.json", import.meta.url));

/** Replaces one section (`capture`, `flags`, ...) of bench/results.json and keeps the others. */
export function writeResultsSection(name: string, section: unknown) {
  let existing: Record<string, unknown> = {};
  try {
    existing = JSON.parse(readFileSync(RESULTS_FILE, "utf8"));
  } catch {
    // no results yet (or unreadable): start a new file
  }
  writeFileSync(RESULTS_FILE, JSON.stringify({ ...existing, [name]: section }, null, 2) + "\n");
}

/** The machine the numbers were measured on. */
export function machineInfo() {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    arch: os.arch(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number) {
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** Median of unsorted values (the mean of the middle two for an even count). */
export function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** A ratio for a table: two decimals from 0.1 up, two significant digits below, "n/a" for none. */
export function formatRatio(ratio: number | null) {
  if (ratio === null) return "n/a";
  if (ratio === 0) return "0";
  return ratio >= 0.1 ? ratio.toFixed(2) : ratio.toPrecision(2);
}

/**
 * A plain-text table: the first `leftColumns` columns are left-aligned (names, units), the
 * others right-aligned (numbers).
 */
export function formatTable(header: string[], body: string[][], leftColumns = 2) {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)].join("\n");
}

/** Bundles a bench script (`bench/<name>.ts`) for plain Node with esbuild, so it runs outside vitest in a child process. */
export async function bundleForNode(script: string, outfile: string): Promise<void> {
  const root = fileURLToPath(new URL("..", import.meta.url));
  await promisify(execFile)(path.join(root, "node_modules/.bin/esbuild"), [
    path.join(root, "bench", script),
    "--bundle",
    "--platform=node",
    "--format=esm",
    "--target=node20",
    "--log-level=warning",
    `--outfile=${outfile}`,
  ]);
}
