// runFlagSync: the app's cron action hands the registry and the admin target to the component's
// sync action (which does every PostHog call and records the run and its findings), then runs
// posthog-flag-toolkit-style callbacks on what came back, in the app's own action.
import { fromConvexSafe, type ConvexSafe } from "../core/convexSafe.js";
import { guardianMode, type AnyFlagRegistry, type FlagDefinition } from "../core/flagRegistry.js";
import { emptySyncResult, type SyncFlag } from "../core/governance/flagSync.js";
import type { PostHogFlag } from "../core/governance/posthogRest.js";
import { PostHogInputError } from "../core/messages.js";
import type { ClientConfig } from "./config.js";
import type { RunActionCtx } from "./types.js";

/** posthog-flag-toolkit's FlagSyncCallbacks; in a dry run they see what would be done. */
export interface FlagSyncCallbacks {
  /** A registry flag was created in PostHog (inactive, at 0%). */
  onCreate?: (definition: FlagDefinition & { key: string }) => void | Promise<void>;
  /** A PostHog flag the registry does not declare. */
  onOrphan?: (flag: PostHogFlag) => void | Promise<void>;
  /** A PostHog flag whose key breaks the naming rule (and is not tagged exempt). */
  onNamingViolation?: (flag: PostHogFlag) => void | Promise<void>;
  /** A flag's name or tags were updated: the flag as it was, and what was sent. */
  onReconcile?: (flag: PostHogFlag, patch: { name?: string; tags?: string[] }) => void | Promise<void>;
}

export interface FlagSyncOptions {
  /** List and report, but send no POST or PATCH. The result is the same as a real run's. */
  dryRun?: boolean;
  /** PostHog creates a usage dashboard for every new flag unless this is false (default true, PostHog's default). */
  createUsageDashboards?: boolean;
  callbacks?: FlagSyncCallbacks;
}

/** Something a governance run found that needs a person; `detail` is the tool's details object. */
export interface GovernanceFinding {
  kind: string;
  /** The flag it is about, or "" for the whole project (tags_unsupported, scope_missing...). */
  key: string;
  detail: unknown;
}

/** posthog-flag-toolkit's FlagSyncResult, and more. */
export interface FlagSyncResult {
  /** "failed": PostHog refused (a missing scope, a write error); "skipped": rate limited, the next run carries on. */
  status: "ok" | "failed" | "skipped";
  dry_run: boolean;
  registry_size: number;
  posthog_size: number;
  created: number;
  reconciled: number;
  orphans: number;
  naming_violations: number;
  created_keys: string[];
  reconciled_keys: string[];
  orphan_keys: string[];
  naming_violation_keys: string[];
  /** Declared variants (`code`) against PostHog's, for registry flags where they differ. */
  variant_mismatches: { key: string; code: string[]; posthog: string[] }[];
  /** Everything this run recorded in the governance report's findings. */
  findings: GovernanceFinding[];
}

export async function runFlagSync(config: ClientConfig, ctx: RunActionCtx, options: FlagSyncOptions): Promise<FlagSyncResult> {
  const registry = config.options.flags;
  if (registry === undefined) {
    throw new PostHogInputError("flags", "runFlagSync syncs the flag registry to PostHog: pass flags: defineFlags(...) to new PostHog(...)");
  }
  if (config.disabled) return skipped(registry, options);
  const admin = config.adminTarget();
  const { forCallbacks, findings, ...result } = await ctx.runAction(config.component.governance.sync.run, {
    admin,
    registry: { flags: syncFlags(registry), namingPattern: registry.namingRegex.source, namingExemptTag: registry.namingExemptTag },
    dryRun: options.dryRun ?? false,
    createUsageDashboards: options.createUsageDashboards ?? true,
  });

  const callbacks = options.callbacks ?? {};
  const flags = fromConvexSafe(forCallbacks.flags as ConvexSafe<Record<string, PostHogFlag>>);
  for (const key of result.created_keys) await callbacks.onCreate?.({ ...(registry.flags[key] as FlagDefinition), key });
  for (const { key, patch } of forCallbacks.patches) await callbacks.onReconcile?.(flags[key]!, patch);
  for (const key of result.orphan_keys) await callbacks.onOrphan?.(flags[key]!);
  for (const key of result.naming_violation_keys) await callbacks.onNamingViolation?.(flags[key]!);
  return { ...result, findings: findings.map(({ kind, key, detail }) => ({ kind, key, detail: parseDetail(detail) })) };
}

/** A client created with `disabled: true` talks to nobody: nothing is listed, written or recorded. */
function skipped(registry: AnyFlagRegistry, options: FlagSyncOptions): FlagSyncResult {
  return emptySyncResult(registry.keys.length, options.dryRun ?? false, "skipped");
}

/** What the component needs of each registry flag. */
function syncFlags(registry: AnyFlagRegistry): SyncFlag[] {
  return (registry.keys as readonly string[]).map((key) => {
    const { description, owner, tags, guardian, variants } = registry.flags[key] as FlagDefinition;
    const mode = guardianMode(guardian);
    return {
      key,
      description,
      owner,
      ...(tags !== undefined ? { tags: [...tags] } : {}),
      ...(mode !== undefined ? { guardian: mode } : {}),
      ...(variants !== undefined ? { variants: [...variants] } : {}),
    };
  });
}

/** A stored details text as the object it describes (the text itself if it is not JSON). */
export function parseDetail(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
