// What a definition refers to, so a caller can load exactly what evaluation will read:
// start from the flags to evaluate, add what they reference, repeat until nothing is new.

import type { FlagDefinition, FlagProperty, PropertyGroup } from "./types.js";

export interface References {
  flagKeys: string[];
  cohortIds: string[];
}

class ReferenceCollector {
  readonly flagKeys = new Set<string>();
  readonly cohortIds = new Set<string>();

  property(property: FlagProperty): void {
    if (property.type === "flag") {
      if (typeof property.key === "string") this.flagKeys.add(property.key);
      // Every chain member must be present for the dependency to be evaluated at all.
      if (Array.isArray(property.dependency_chain)) {
        for (const key of property.dependency_chain) this.flagKeys.add(String(key));
      }
    } else if (property.type === "cohort") {
      this.cohortIds.add(String(property.value));
    }
  }

  group(group: PropertyGroup | null | undefined): void {
    if (group === null || typeof group !== "object" || !Array.isArray(group.values)) return;
    for (const member of group.values) {
      if (member === null || typeof member !== "object") continue;
      if ("values" in member) this.group(member as PropertyGroup);
      else this.property(member as FlagProperty);
    }
  }

  result(): References {
    return { flagKeys: [...this.flagKeys], cohortIds: [...this.cohortIds] };
  }
}

/** Flags (dependency chains included) and cohorts a flag's conditions refer to directly. */
export function referencesOfFlag(flag: FlagDefinition): References {
  const collector = new ReferenceCollector();
  const conditions = flag.filters?.groups;
  if (Array.isArray(conditions)) {
    for (const condition of conditions) {
      if (!Array.isArray(condition?.properties)) continue;
      for (const property of condition.properties) {
        if (property !== null && typeof property === "object") collector.property(property);
      }
    }
  }
  return collector.result();
}

/** Flags and cohorts a cohort definition refers to directly (nested groups included). */
export function referencesOfCohort(group: PropertyGroup): References {
  const collector = new ReferenceCollector();
  collector.group(group);
  return collector.result();
}
