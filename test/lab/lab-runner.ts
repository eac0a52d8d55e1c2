/** What the lab test files share: a lab per test, skipped without root or tools, whose namespaces are recorded. */
import type { TestContext } from 'node:test';
import { NetLab, listNamespaces } from './netlab';

export interface LabRunner {
  /** Every namespace a lab of this runner created, to prove at the end that none is left. */
  createdNamespaces: string[];
  /** Runs `body` with a fresh lab and destroys it after; skips the test without root or a needed tool. */
  withLab(t: TestContext, opts: Parameters<typeof NetLab.create>[0], body: (lab: NetLab) => Promise<void>): Promise<void>;
  /** The recorded namespaces that still exist. */
  leftNamespaces(): string[];
}

export function labRunner(root: boolean, missing: readonly string[]): LabRunner {
  const createdNamespaces: string[] = [];
  return {
    createdNamespaces,
    async withLab(t, opts, body) {
      if (!root || missing.length > 0) {
        t.skip(!root ? 'needs root' : `missing tools: ${missing.join(', ')}`);
        return;
      }
      const lab = await NetLab.create(opts);
      createdNamespaces.push(...lab.namespaces);
      try {
        await body(lab);
      } finally {
        await lab.destroy();
      }
    },
    leftNamespaces() {
      const names = new Set(listNamespaces());
      return createdNamespaces.filter((n) => names.has(n));
    },
  };
}
