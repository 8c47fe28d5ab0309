// PostHog's REST shapes the governance rules read: a flag from `/api/projects/:id/feature_flags/`
// and an experiment from `/experiments/`. The toolkit's fields, plus the ones our rules need.
// Filters have the same shape as in `/flags/definitions`, so they reuse the evaluator's types.

import type { FlagFilters } from "../flags/types.js";

export interface PostHogFlag {
  id: number;
  key: string;
  /** The description; PostHog keeps the field name `name` for compatibility. */
  name: string | null;
  active: boolean;
  deleted: boolean;
  tags: string[] | null;
  filters: FlagFilters | null;
  created_at: string;
  updated_at?: string;
  /** "ACTIVE" | "INACTIVE" | "STALE" | "DELETED" | "UNKNOWN", computed by PostHog. */
  status?: string;
  last_called_at?: string | null;
}

export interface PostHogExperiment {
  id: number;
  name: string;
  feature_flag_key: string;
  start_date: string | null;
  end_date: string | null;
  archived: boolean;
  deleted?: boolean;
  /** "draft" | "running" | "paused" | "stopped". */
  status?: string | null;
  /** "won" | "lost" | "inconclusive" | "stopped_early" | "invalid", or null before anyone concludes. */
  conclusion?: string | null;
}
