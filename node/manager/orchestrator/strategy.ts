import type { DeploymentStrategy, ServiceObject, TaskTraffic } from '../../store/index.js';
import { isUpdating } from './update.js';

// Canary and blue/green deployments (beyond Docker's rolling update), as rules over the service's
// UpdateStatus and Deployment, so that, like a rolling update, they resume under a new leader.
//
// canary: step i lets ceil(replicas × share_i / 100) slots (at least one) run the new spec, and
//   weights give the new tasks share_i % of new connections whatever their number: new tasks
//   weigh share × old, old ones (100 − share) × new. A step holds StepInterval, or until
//   promoted; the last (100 %) is a plain rolling update to the end.
// blue-green: every slot starts a new task beside the old one; the new ones are previews (in DNS
//   as preview.NAME, outside the VIP and the mesh) until promoted, when the old ones stop and the
//   new ones take the traffic in the same commit.

export type StrategyType = DeploymentStrategy['Type'];

export function strategyOf(s: ServiceObject): StrategyType {
  return s.Spec.Strategy?.Type ?? 'rolling';
}

/** The canary steps, rising, ending at 100. */
export function canarySteps(strategy: DeploymentStrategy | undefined): number[] {
  const steps = (strategy?.Steps ?? [10, 50]).filter((p) => p > 0 && p <= 100);
  return steps[steps.length - 1] === 100 ? steps : [...steps, 100];
}

/** The new version's share (percent) while a canary deployment runs; undefined otherwise. */
export function canaryShare(s: ServiceObject): number | undefined {
  if (strategyOf(s) !== 'canary' || !isUpdating(s) || s.UpdateStatus?.State !== 'updating') return undefined;
  const steps = canarySteps(s.Spec.Strategy);
  return steps[Math.min(s.Deployment?.Step ?? 0, steps.length - 1)];
}

/** A blue/green deployment whose new version is still a preview. */
export function isPreviewing(s: ServiceObject): boolean {
  return strategyOf(s) === 'blue-green' && s.UpdateStatus?.State === 'updating' && s.Deployment?.Promoted !== true;
}

/**
 * The traffic a live task of the service should have: `fresh` when it runs the current spec;
 * `counts` of live tasks on the old and the new spec.
 */
export function trafficFor(s: ServiceObject, fresh: boolean, counts: { old: number; fresh: number }): TaskTraffic | undefined {
  if (isPreviewing(s)) return fresh ? { Weight: 0, Preview: true } : undefined;
  const share = canaryShare(s);
  if (share === undefined || share >= 100 || counts.old === 0 || counts.fresh === 0) return undefined;
  return { Weight: fresh ? share * counts.old : (100 - share) * counts.fresh };
}
