/**
 * The probe rate of metered uplinks, from tables: the interval rule on its own, then the engine's decisions
 * (a round's next timer, a switch onto and away from a metered uplink).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EngineEffect, EngineInput, EngineState, UplinkState, decide, initialState, timerKey } from '../../lib/engine/decide';
import { roundIntervalMs } from '../../lib/engine/round-interval';
import { absentLink } from '../../lib/linkwatch/link-watch';
import { ProbeResult, summarise } from '../../lib/probes/probe';
import { UplinkInput } from '../../lib/uplink/model';
import { upLink, uplinks } from '../support/fakes';

const NOW = 1_000_000;
const probe = { interval: 1, timeout: 1, retries: 0, down: 3, up: 2 };
const PRIMARY: UplinkInput = { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1'], probe };
const CELL: UplinkInput = { name: 'cell', iface: 'wwan0', gateway: '198.51.100.65', targets: ['203.0.113.2'], probe, metered: true, idleInterval: 30 };

test('round interval: a metered uplink is probed at its idle interval only while it carries no traffic', () => {
  const [plain, metered, slowIdle, fastIdle] = uplinks(
    PRIMARY,
    CELL,
    { ...CELL, name: 'c2', iface: 'wwan1', probe: { interval: 5 }, idleInterval: 60 },
    { ...CELL, name: 'c3', iface: 'wwan2', probe: { interval: 10 }, idleInterval: 2 },
  );
  const cases: [string, Parameters<typeof roundIntervalMs>[0], boolean, number][] = [
    ['not metered, idle', plain, false, 1000],
    ['not metered, carrying traffic', plain, true, 1000],
    ['metered, idle', metered, false, 30_000],
    ['metered, carrying traffic', metered, true, 1000],
    ['metered with interval 5 and idle 60, idle', slowIdle, false, 60_000],
    ['an idle interval below the normal one: never faster than the normal rate', fastIdle, false, 10_000],
    ['that one carrying traffic', fastIdle, true, 10_000],
  ];
  for (const [name, config, carrying, expected] of cases) assert.equal(roundIntervalMs(config, carrying), expected, name);
});

function state(active: string | null, patch: Record<string, Partial<Omit<UplinkState, 'config'>>> = {}, rest: Partial<EngineState> = {}): EngineState {
  const configs = uplinks(PRIMARY, CELL);
  const base = initialState(
    configs,
    configs.map((c) => absentLink(c.iface)),
    { setupRetryMs: 60_000, prepareHoldMs: 30_000, keepsKernelRoute: true },
  );
  return {
    ...base,
    phase: { name: 'running' },
    active,
    ...rest,
    uplinks: base.uplinks.map((u) => ({
      ...u,
      health: 'up',
      link: upLink(u.config.iface),
      roundAt: NOW + 500,
      nextRoundAt: NOW + 500,
      engaged: u.config.name === active,
      ...patch[u.config.name],
    })),
  };
}

function result(input: UplinkInput, ok: boolean): ProbeResult {
  const [config] = uplinks(input);
  return summarise(
    config,
    config.targets.map((target) => ({ target, alive: ok, rtt: ok ? 1 : null, sent: 1, lost: ok ? 0 : 1 })),
  );
}

/** The timer and probe effects, timers relative to the input's time (the rest is the engine's own tables' business). */
function timing(effects: EngineEffect[], now: number): string[] {
  return effects.flatMap((e) => {
    if (e.type === 'setTimer' && e.id.timer === 'round') return [`timer ${timerKey(e.id)} +${e.at - now}`];
    if (e.type === 'activate' || e.type === 'afterSwitch') return [e.type];
    if (e.type === 'emit' && (e.event.type === 'connected' || e.event.type === 'connectionRestored')) return [`${e.event.type}:${e.event.uplink}`];
    return [];
  });
}

interface Case {
  name: string;
  state: EngineState;
  input: EngineInput;
  effects: string[];
  nextRoundAt?: Record<string, number | null>;
}

const cases: Case[] = [
  {
    name: 'a metered backup that carries no traffic: its next round at the idle interval',
    state: state('primary', { cell: { probing: { startedAt: NOW - 40 } } }),
    input: { type: 'round', now: NOW, uplink: 'cell', result: result(CELL, true) },
    effects: ['timer round:cell +29960'],
    nextRoundAt: { cell: NOW + 29_960 },
  },
  {
    name: 'a failed metered backup is also probed at the idle interval',
    state: state('primary', { cell: { health: 'down', probing: { startedAt: NOW } } }),
    input: { type: 'round', now: NOW, uplink: 'cell', result: result(CELL, false) },
    effects: ['timer round:cell +30000'],
  },
  {
    name: 'the primary, not metered, keeps its interval',
    state: state('primary', { primary: { probing: { startedAt: NOW } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: result(PRIMARY, true) },
    effects: ['timer round:primary +1000'],
  },
  {
    name: 'the metered uplink starts carrying traffic: a round at once, which re-anchors its grid at the normal rate',
    state: state('primary', { primary: { health: 'down' }, cell: { roundAt: NOW + 25_000, nextRoundAt: NOW + 25_000 } }, {
      switching: { to: 'cell', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['connected:cell', 'timer round:cell +0'],
    nextRoundAt: { cell: null },
  },
  {
    name: 'the metered uplink carrying traffic: its next round at the normal interval',
    state: state('cell', { primary: { health: 'down' }, cell: { probing: { startedAt: NOW } } }),
    input: { type: 'round', now: NOW, uplink: 'cell', result: result(CELL, true) },
    effects: ['timer round:cell +1000'],
  },
  {
    name: 'the primary is restored: the metered uplink keeps its next round, then slows down',
    state: state('cell', {}, { switching: { to: 'primary', previous: 'cell', kind: 'restore', announceSetup: true, step: 'afterSwitch' } }),
    input: { type: 'switched', now: NOW },
    effects: ['connectionRestored:primary'],
    nextRoundAt: { cell: NOW + 500 },
  },
  {
    name: 'its first round after the restore: back to the idle interval',
    state: state('primary', { cell: { probing: { startedAt: NOW } } }),
    input: { type: 'round', now: NOW, uplink: 'cell', result: result(CELL, true) },
    effects: ['timer round:cell +30000'],
  },
  {
    name: 'a round in flight when it starts carrying traffic: no second round, the one in flight sets the normal rate',
    state: state('primary', { primary: { health: 'down' }, cell: { probing: { startedAt: NOW - 10 }, roundAt: null } }, {
      switching: { to: 'cell', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['connected:cell'],
  },
];

for (const c of cases) {
  test(`metered rate: ${c.name}`, () => {
    const { state: next, effects } = decide(c.state, c.input);
    assert.deepEqual(timing(effects, c.input.now), c.effects);
    for (const [name, at] of Object.entries(c.nextRoundAt ?? {})) {
      assert.equal(next.uplinks.find((u) => u.config.name === name)?.nextRoundAt, at, `${name}.nextRoundAt`);
    }
  });
}
