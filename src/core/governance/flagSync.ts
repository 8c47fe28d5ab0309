// What a flag sync does, decided from the registry and PostHog's flags: which registry flags to
// create (inactive, at 0%, variants as declared), which to reconcile (name and the additive,
// normalised union of tags; never `active`, `filters` or a deletion), and what to report
// (orphans, naming violations, variant mismatches). Pure: the component's sync action fetches,
// writes and records around it.

import { compareVariants, type FlagFinding } from "../flagRegistry.js";
import type { PostHogFlag } from "./posthogRest.js";

/** The tag the toolkit puts on a flag the guardian watches. */
export const GUARDIAN_TAG = "guardian";

/** A registry flag as the sync needs it (what the client sends the component). */
export interface SyncFlag {
  key: string;
  description: string;
  owner: string;
  tags?: string[];
  /** Absent: not watched. */
  guardian?: "monitor" | "enforce";
  /** The declared variants of a multivariate flag; absent for a boolean flag. */
  variants?: string[];
}

export interface SyncRegistry {
  flags: SyncFlag[];
  /** The registry's naming regex, as source text. */
  namingPattern: string;
  namingExemptTag: string;
}

export interface SyncWriteOptions {
  /** False once PostHog has shown it drops tags (no tagging licence): tags are left out. */
  sendTags: boolean;
  /** PostHog's `_should_create_usage_dashboard` for created flags. */
  createUsageDashboards: boolean;
}

export interface VariantMismatch {
  key: string;
  /** Declared in code ([] for a boolean flag). */
  code: string[];
  /** In PostHog ([] for a boolean flag). */
  posthog: string[];
  problems: FlagFinding[];
}

export interface SyncPlan {
  create: { flag: SyncFlag; body: Record<string, unknown> }[];
  reconcile: { flag: PostHogFlag; patch: { name?: string; tags?: string[] } }[];
  orphans: PostHogFlag[];
  namingViolations: PostHogFlag[];
  variantMismatches: VariantMismatch[];
}

/** PostHog's tag normalisation (trimmed, lower case, no empties, no duplicates). */
export function normaliseTags(tags: readonly string[]): string[] {
  return [...new Set(tags.map((tag) => tag.trim().toLowerCase()).filter((tag) => tag !== ""))];
}

/**
 * The tags a registry flag should carry: its own, plus `guardian` when watched. There is no
 * `guardian-enforce` tag: enforcement is opted into in code only, and tags are only ever added,
 * so a tag could never take an enforcement back.
 */
export function desiredTags(flag: SyncFlag): string[] {
  return normaliseTags([...(flag.tags ?? []), ...(flag.guardian !== undefined ? [GUARDIAN_TAG] : [])]);
}

/** Declared variants with rollouts summing to 100, as evenly as whole percentages allow (34/33/33). */
export function evenSplit(variants: readonly string[]): { key: string; rollout_percentage: number }[] {
  const base = Math.floor(100 / variants.length);
  const extra = 100 - base * variants.length;
  return variants.map((key, index) => ({ key, rollout_percentage: base + (index < extra ? 1 : 0) }));
}

/** The POST body of a missing registry flag: inactive, one group at 0%, variants as declared. */
export function createBody(flag: SyncFlag, options: SyncWriteOptions): Record<string, unknown> {
  return {
    key: flag.key,
    name: flag.description,
    ...(options.sendTags ? { tags: desiredTags(flag) } : {}),
    active: false,
    filters: {
      groups: [{ properties: [], rollout_percentage: 0 }],
      ...(flag.variants !== undefined ? { multivariate: { variants: evenSplit(flag.variants) } } : {}),
    },
    creation_context: "feature_flags",
    _should_create_usage_dashboard: options.createUsageDashboards,
  };
}

/** The name and tags to PATCH onto an existing flag, or undefined when it already agrees. */
export function reconcilePatch(flag: SyncFlag, existing: PostHogFlag, options: SyncWriteOptions): { name?: string; tags?: string[] } | undefined {
  const patch: { name?: string; tags?: string[] } = {};
  if (existing.name !== flag.description) patch.name = flag.description;
  if (options.sendTags) {
    const current = normaliseTags(existing.tags ?? []);
    const missing = desiredTags(flag).filter((tag) => !current.includes(tag));
    if (missing.length > 0) patch.tags = [...current, ...missing];
  }
  return Object.keys(patch).length > 0 ? patch : undefined;
}

/** A PostHog flag's variant keys, or null for a boolean flag. */
export function posthogVariants(flag: PostHogFlag): string[] | null {
  const variants = flag.filters?.multivariate?.variants;
  return variants && variants.length > 0 ? variants.map((variant) => variant.key) : null;
}

export function planSync(registry: SyncRegistry, posthogFlags: readonly PostHogFlag[], options: SyncWriteOptions): SyncPlan {
  const naming = new RegExp(registry.namingPattern);
  const exemptTag = registry.namingExemptTag.trim().toLowerCase();
  const live = posthogFlags.filter((flag) => !flag.deleted);
  const byKey = new Map(live.map((flag) => [flag.key, flag]));
  const declared = new Map(registry.flags.map((flag) => [flag.key, flag]));

  const plan: SyncPlan = { create: [], reconcile: [], orphans: [], namingViolations: [], variantMismatches: [] };
  for (const flag of registry.flags) {
    const existing = byKey.get(flag.key);
    if (existing === undefined) {
      plan.create.push({ flag, body: createBody(flag, options) });
      continue;
    }
    const patch = reconcilePatch(flag, existing, options);
    if (patch !== undefined) plan.reconcile.push({ flag: existing, patch });
    const served = posthogVariants(existing);
    const problems = compareVariants(flag.key, flag.variants ?? null, served);
    if (problems.length > 0) plan.variantMismatches.push({ key: flag.key, code: flag.variants ?? [], posthog: served ?? [], problems });
  }
  for (const flag of live) {
    const registered = declared.get(flag.key);
    if (registered === undefined) plan.orphans.push(flag);
    // Exempt by the tag in PostHog, or in the registry (PostHog reads tags as [] without its licence).
    const exempt = [...(flag.tags ?? []), ...(registered?.tags ?? [])].some((tag) => tag.trim().toLowerCase() === exemptTag);
    if (!exempt && !naming.test(flag.key)) plan.namingViolations.push(flag);
  }
  return plan;
}

/** A sync's result before anything was listed or written (a skipped or failed run starts here). */
export function emptySyncResult<Status extends string>(registrySize: number, dryRun: boolean, status: Status) {
  return {
    status,
    dry_run: dryRun,
    registry_size: registrySize,
    posthog_size: 0,
    created: 0,
    reconciled: 0,
    orphans: 0,
    naming_violations: 0,
    created_keys: [] as string[],
    reconciled_keys: [] as string[],
    orphan_keys: [] as string[],
    naming_violation_keys: [] as string[],
    variant_mismatches: [] as VariantMismatch[],
    findings: [] as { kind: string; key: string; detail: string }[],
  };
}
