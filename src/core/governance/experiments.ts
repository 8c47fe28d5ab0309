// Ended experiments and what became of them. The toolkit counts every ended experiment as a
// release, a lost one included; here an experiment is a release only when its flag now gives
// everyone a value other than the control, and its conclusion is reported beside it.
// Pure: no Convex runtime.

import type { PostHogExperiment, PostHogFlag } from "./posthogRest.js";
import { releasedValue, type ReleaseRule } from "./release.js";

export type ExperimentStage = "draft" | "running" | "paused" | "ended" | "archived";

/** What the experiment's flag does now. */
export type ExperimentRollout =
  /** Everyone gets one value that is not the control: the tested change went out. */
  | "shipped"
  /** Nobody gets the change: the flag is off, deleted, gone, or gives everyone the control. */
  | "rolled_back"
  /** Users still get different values. */
  | "undecided";

export interface ConcludedExperiment {
  experimentId: number;
  /** The flag's key. */
  key: string;
  name: string;
  /** PostHog's conclusion ("won", "lost", "inconclusive", "stopped_early", "invalid"), null when none was recorded. */
  conclusion: string | null;
  rollout: ExperimentRollout;
  /** Whether the tracker reports it as a release under the rule. */
  release: boolean;
}

/** PostHog experiments call the baseline variant "control". */
const CONTROL_VARIANT = "control";

/** Ended: its end date has passed or it was stopped. Archived or deleted ones are out of play. */
export function experimentStage(experiment: PostHogExperiment, now: number): ExperimentStage {
  if (experiment.archived || experiment.deleted === true) return "archived";
  if (endDatePassed(experiment, now) || experiment.status === "stopped") return "ended";
  if (experiment.status === "paused") return "paused";
  if (experiment.status === "draft") return "draft";
  if (experiment.status === "running") return "running";
  return experiment.start_date === null ? "draft" : "running";
}

/**
 * The experiment, if it has ended: its conclusion, what its flag does now and whether that is a
 * release. Under the toolkit's rule an experiment has ended only by its end date, it needs its
 * flag to be reported at all, and it is always a release.
 */
export function concludedExperiment(
  experiment: PostHogExperiment,
  flag: PostHogFlag | undefined,
  now: number,
  rule: ReleaseRule = "constant_for_everyone",
): ConcludedExperiment | undefined {
  const toolkit = rule === "toolkit";
  const ended = toolkit ? !experiment.archived && endDatePassed(experiment, now) : experimentStage(experiment, now) === "ended";
  if (!ended || (toolkit && flag === undefined)) return undefined;
  const rollout = rolloutOf(flag);
  return {
    experimentId: experiment.id,
    key: experiment.feature_flag_key,
    name: experiment.name,
    conclusion: experiment.conclusion ?? null,
    rollout,
    release: toolkit || rollout === "shipped",
  };
}

function rolloutOf(flag: PostHogFlag | undefined): ExperimentRollout {
  if (flag === undefined || flag.deleted || !flag.active) return "rolled_back";
  const value = releasedValue(flag);
  if (value === undefined) return "undecided";
  return value === CONTROL_VARIANT ? "rolled_back" : "shipped";
}

function endDatePassed(experiment: PostHogExperiment, now: number): boolean {
  return experiment.end_date !== null && Date.parse(experiment.end_date) <= now;
}
