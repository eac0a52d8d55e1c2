import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The layers the folders show (issue 9), enforced: an import across a forbidden boundary fails the build.
 * lib/ is the core (no Node-RED, no node glue, no tests, no demo); lib/runtime is what the nodes and the service
 * share and never depends on the legacy properties service (lib/service), nor does lib/properties; bin/ ships
 * and never imports tests. (Relative import paths are matched by regular expressions.)
 */
const CORE = [
  { regex: '(^|/)(nodes|test|demo|bin)(/|$)', message: 'lib/ is the core: it never imports the nodes, tests, the demo or bin.' },
  { regex: '^(node-red|@node-red/)', message: 'lib/ never imports Node-RED.' },
];
/** What ships (and the demo) runs programs with lib/process/spawn.ts: loading execa alone costs ~14 MB of RSS (issue 10). */
const NO_EXECA = {
  regex: '^execa(/|$)',
  message: 'execa costs ~14 MB of RSS just by being loaded (issue 10: a Pi Zero): use lib/process/spawn.ts (runToEnd, LiveChild). Tests may use execa.',
};
const NOT_LEGACY = { regex: '(^|/)service(/|$)', message: 'the legacy properties service (lib/service) builds on this layer, not the other way round.' };
const restrict = (...patterns) => ({ 'no-restricted-imports': ['error', { patterns }] });

export default tseslint.config(
  { ignores: ['dist*/**', '.build*/**', 'node_modules/**', 'nodes/**/*.html'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  { files: ['lib/**/*.ts'], rules: restrict(...CORE, NO_EXECA) },
  { files: ['lib/properties/**/*.ts', 'lib/runtime/**/*.ts', 'lib/engine/**/*.ts'], rules: restrict(...CORE, NOT_LEGACY, NO_EXECA) },
  { files: ['bin/**/*.ts'], rules: restrict({ regex: '(^|/)(test|demo)(/|$)', message: 'bin/ ships in the package: it never imports tests or the demo.' }, NO_EXECA) },
  {
    files: ['nodes/**/*.ts'],
    rules: restrict({ regex: '(^|/)(test|demo)(/|$)', message: 'the nodes ship in the package: they never import tests or the demo.' }, NOT_LEGACY, NO_EXECA),
  },
  { files: ['demo/**/*.ts'], rules: restrict(NO_EXECA) },
);
