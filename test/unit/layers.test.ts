/** The lint rules that keep the layers apart fail on a deliberate bad import (and let a good one through). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { ESLint } from 'eslint';

const ROOT = resolve(__dirname, '../../..');

async function restricted(file: string, source: string): Promise<string[]> {
  const eslint = new ESLint({ cwd: ROOT });
  const [result] = await eslint.lintText(source, { filePath: resolve(ROOT, file) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const cases: [string, string, string, RegExp | null][] = [
  ['lib imports a test helper', 'lib/engine/zz.ts', "import { until } from '../../test/support/wait';\nexport const x = until;\n", /lib\/ is the core/],
  ['lib imports the node glue', 'lib/dns/zz.ts', "import { errorMessage } from '../../nodes/shared/errors';\nexport const x = errorMessage;\n", /lib\/ is the core/],
  ['lib imports Node-RED', 'lib/log/zz.ts', "import RED from 'node-red';\nexport const x = RED;\n", /never imports Node-RED/],
  ['the properties reader imports the service', 'lib/properties/zz.ts', "import { logHandlerLine } from '../service/log-handler';\nexport const x = logHandlerLine;\n", /legacy properties service/],
  ['the shared runtime imports the service', 'lib/runtime/zz.ts', "import { FailoverService } from '../service/failover-service';\nexport const x = FailoverService;\n", /legacy properties service/],
  ['bin imports the lab', 'bin/zz.ts', "import { NetLab } from '../test/lab/netlab';\nexport const x = NetLab;\n", /bin\/ ships/],
  ['a node imports a test helper', 'nodes/zz.ts', "import { until } from '../test/support/wait';\nexport const x = until;\n", /the nodes ship/],
  ['lib imports execa', 'lib/process/zz.ts', "import { execa } from 'execa';\nexport const x = execa;\n", /14 MB of RSS/],
  ['the engine imports execa', 'lib/engine/zz.ts', "import { execa } from 'execa';\nexport const x = execa;\n", /14 MB of RSS/],
  ['a node imports execa', 'nodes/shared/zz.ts', "import { execa } from 'execa';\nexport const x = execa;\n", /14 MB of RSS/],
  ['bin imports execa', 'bin/zz.ts', "import { execaNode } from 'execa';\nexport const x = execaNode;\n", /14 MB of RSS/],
  ['the demo imports execa', 'demo/zz.ts', "import { execa } from 'execa';\nexport const x = execa;\n", /14 MB of RSS/],
  ['a test uses execa (allowed)', 'test/lab/zz.ts', "import { execa } from 'execa';\nexport const x = execa;\n", null],
  ['the service builds on the runtime (allowed)', 'lib/service/zz.ts', "import { FailoverRunner } from '../runtime/failover-runner';\nexport const x = FailoverRunner;\n", null],
  ['the demo uses the lab (allowed)', 'demo/zz.ts', "import { NetLab } from '../test/lab/netlab';\nexport const x = NetLab;\n", null],
];

for (const [what, file, source, expected] of cases) {
  test(what, async () => {
    const messages = await restricted(file, source);
    if (expected === null) assert.deepEqual(messages, []);
    else {
      assert.equal(messages.length, 1, messages.join('\n'));
      assert.match(messages[0], expected);
    }
  });
}
