// A one-sided two-proportion z-test, so the guardian acts on evidence rather than on noise.
//
// Question asked: is the treatment's proportion (errors per event, or failures per success
// event) higher than the control's by more than chance would explain? Under the null hypothesis
// both cohorts share one proportion p, estimated from the pooled counts; the difference of the
// two observed proportions then has standard error sqrt(p(1-p)(1/n1 + 1/n2)), and
// z = (p1 - p2) / se is close to standard normal. The p-value is the upper tail P(Z >= z).
//
// Assumptions, and what they mean for the guardian:
// - Trials are independent. Events are not: one user emits many, and a user who hits a bug
//   often throws repeatedly. Clustering makes the test too eager, not too cautious, which is
//   why the unique-user sample floor still applies before it.
// - The normal approximation needs a few expected successes per cohort; below that the
//   p-value is approximate. With the default floors (100 events a cohort) it is adequate for a
//   threshold at 0.01.
// - One-sided: only "treatment worse" is tested, since that is the only direction the
//   guardian acts on.
// Pure arithmetic: no Node APIs, so it runs in Convex queries and mutations.

/** Trials and how many of them were "bad" (errors, or failed success events). */
export interface ProportionSample {
  bad: number;
  trials: number;
}

/**
 * p-value of "treatment's bad proportion exceeds control's". 1 when either cohort has no
 * trials or when nothing was bad (or everything was) in both: there is nothing to compare.
 */
export function oneSidedPValue(treatment: ProportionSample, control: ProportionSample): number {
  const { bad: x1, trials: n1 } = treatment;
  const { bad: x2, trials: n2 } = control;
  if (n1 <= 0 || n2 <= 0) return 1;
  const pooled = (x1 + x2) / (n1 + n2);
  const variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2);
  if (!(variance > 0)) return 1;
  const z = (x1 / n1 - x2 / n2) / Math.sqrt(variance);
  return upperNormalTail(z);
}

/** P(Z >= z) for a standard normal Z. */
export function upperNormalTail(z: number): number {
  return 0.5 * complementaryErrorFunction(z / Math.SQRT2);
}

// Chebyshev-fitted erfc with a fractional error below 1.2e-7 everywhere (Numerical Recipes'
// `erfcc`), ample for comparing p-values with thresholds like 0.01.
function complementaryErrorFunction(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const polynomial =
    -1.26551223 +
    t *
      (1.00002368 +
        t *
          (0.37409196 +
            t *
              (0.09678418 +
                t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const tail = t * Math.exp(-z * z + polynomial);
  return x >= 0 ? tail : 2 - tail;
}
