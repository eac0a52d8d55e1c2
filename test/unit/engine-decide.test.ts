/**
 * The engine's decisions from tables: a state and one input give the next state and the effects, in order.
 * No clock and no collaborators: decide() is a pure function. Each state is frozen first, so a decision that
 * wrote to the state it was given would fail here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DecisionSettings,
  EngineEffect,
  EngineInput,
  EngineState,
  UplinkState,
  decide,
  initialState,
  timerKey,
} from '../../lib/engine/decide';
import { FailoverEvent } from '../../lib/engine/events';
import { LinkState, absentLink } from '../../lib/linkwatch/link-watch';
import { ProbeResult, allDown, summarise } from '../../lib/probes/probe';
import { UplinkInput } from '../../lib/uplink/model';
import { upLink, uplinks } from '../support/fakes';

const NOW = 1_000_000;
const probe = { interval: 1, timeout: 1, retries: 0, down: 3, up: 2 };
const PRIMARY = { name: 'primary', iface: 'eth0', gateway: '192.0.2.1', targets: ['203.0.113.1', '203.0.113.2'], probe };
const WLAN = { name: 'wlan', iface: 'wlan0', gateway: '192.0.2.17', targets: ['203.0.113.3'], probe };
const fona = (prepare = 'on-failure'): UplinkInput => ({ name: 'fona', iface: 'ppp0', prepare, setupTimeout: 30 });
const SETTINGS: DecisionSettings = { setupRetryMs: 60_000, prepareHoldMs: 30_000, keepsKernelRoute: true };
const ROUTE_ON_ETH0 = { dev: 'eth0', gateway: '192.0.2.1' };
const ROUTE_ON_LO = { dev: 'lo', gateway: null };

function noCarrier(iface: string): LinkState {
  return { iface, exists: true, adminUp: true, carrier: false, operstate: 'down', up: false };
}

type UplinkPatch = Partial<Omit<UplinkState, 'config'>>;
type StatePatch = Partial<Omit<EngineState, 'uplinks' | 'settings'>> & {
  uplinks?: Record<string, UplinkPatch>;
  settings?: Partial<DecisionSettings>;
};

/** A running engine over these uplinks (all absent, unless the patch says otherwise). */
function machine(inputs: UplinkInput[], patch: StatePatch = {}): EngineState {
  const configs = uplinks(...inputs);
  const { uplinks: uplinkPatches, settings, ...rest } = patch;
  const base = initialState(
    configs,
    configs.map((c) => absentLink(c.iface)),
    { ...SETTINGS, ...settings },
  );
  return {
    ...base,
    phase: { name: 'running' },
    ...rest,
    uplinks: base.uplinks.map((u) => ({ ...u, ...uplinkPatches?.[u.config.name] })),
  };
}

/** A probed uplink that works, its link up and its round timer set. */
const healthy = (iface: string): UplinkPatch => ({ health: 'up', link: upLink(iface), roundAt: NOW + 500, nextRoundAt: NOW + 500 });
/** The primary carries traffic, the wlan backup is healthy. */
const primaryActive = (patch: StatePatch = {}): EngineState =>
  machine([PRIMARY, WLAN], {
    active: 'primary',
    ...patch,
    uplinks: {
      primary: { ...healthy('eth0'), engaged: true, ...patch.uplinks?.primary },
      wlan: { ...healthy('wlan0'), ...patch.uplinks?.wlan },
    },
  });
/** The primary carries traffic; the modem behind it is absent. */
const primaryBeforeModem = (prepare = 'on-failure', patch: StatePatch = {}): EngineState =>
  machine([PRIMARY, fona(prepare)], {
    active: 'primary',
    ...patch,
    uplinks: {
      primary: { ...healthy('eth0'), engaged: true, ...patch.uplinks?.primary },
      fona: { ...patch.uplinks?.fona },
    },
  });
/** The primary failed (its carrier is back but it is not trusted yet) and the wlan backup carries traffic. */
const wlanActive = (patch: StatePatch = {}): EngineState =>
  machine([PRIMARY, WLAN], {
    active: 'wlan',
    ...patch,
    uplinks: {
      primary: { ...healthy('eth0'), health: 'down', lostAt: NOW - 5000, ...patch.uplinks?.primary },
      wlan: { ...healthy('wlan0'), engaged: true, ...patch.uplinks?.wlan },
    },
  });

function result(input: UplinkInput, ok: boolean): ProbeResult {
  const [config] = uplinks(input);
  return summarise(
    config,
    config.targets.map((target) => ({ target, alive: ok, rtt: ok ? 1 : null, sent: 1, lost: ok ? 0 : 1 })),
  );
}
const good = (input: UplinkInput) => result(input, true);
const bad = (input: UplinkInput) => result(input, false);

// ---- how effects read in the tables ------------------------------------------------------------

function showEvent(e: FailoverEvent): string {
  switch (e.type) {
    case 'available':
      return `available:${e.uplink} ${e.ok ? 'good' : 'bad'} health=${e.health}`;
    case 'health':
      return `health:${e.uplink} ${e.health} (${e.cause})`;
    case 'setup':
    case 'teardown':
      return `${e.type}:${e.uplink}${e.reason ? ` (${e.reason})` : ''}`;
    case 'waiting':
      return `waiting:${e.uplink} ${e.timeoutMs}ms`;
    case 'setupFailed':
      return `setupFailed:${e.uplink} after ${e.waitedMs}ms`;
    case 'switchFailed':
      return `switchFailed:${e.uplink} ${e.error}`;
    case 'connected':
      return `connected:${e.uplink} from ${e.from ?? '-'}`;
    case 'connectionFailed':
      return `connectionFailed:${e.uplink} to ${e.to ?? '-'}`;
    case 'connectionRestored':
      return `connectionRestored:${e.uplink} from ${e.from ?? '-'} after ${e.duration ?? '-'}ms`;
    case 'noUplink':
      return `noUplink (active ${e.active ?? '-'})`;
    case 'routeChanged':
      return `routeChanged:${e.uplink} found ${e.found ?? 'nothing'} restored=${e.restored}`;
  }
}

/** One effect as a line: timers relative to the input's time. */
function show(effect: EngineEffect, now: number): string {
  switch (effect.type) {
    case 'emit':
      return `emit ${showEvent(effect.event)}`;
    case 'log':
      return `log ${effect.level}: ${effect.message}`;
    case 'setTimer':
      return `timer ${timerKey(effect.id)} +${effect.at - now}`;
    case 'clearTimer':
      return `clear ${timerKey(effect.id)}`;
    case 'probe':
      return `probe ${effect.uplink}`;
    case 'abortProbe':
      return `abort ${effect.uplink}`;
    case 'pin':
      return `pin ${effect.uplink} (${effect.reason})`;
    case 'unpin':
      return `unpin ${effect.uplink}`;
    case 'activate':
      return `activate ${effect.uplink} (${effect.purpose})`;
    case 'afterSwitch':
      return `afterSwitch ${effect.from ?? '-'} -> ${effect.to}`;
    case 'readRoute':
      return `readRoute (${effect.purpose})`;
    case 'started':
    case 'stopped':
      return effect.type;
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

type Expectation = Partial<Omit<EngineState, 'uplinks' | 'settings'>> & { uplinks?: Record<string, UplinkPatch> };

interface Case {
  name: string;
  state: EngineState;
  input: EngineInput;
  effects: string[];
  /** Fields of the next state (uplinks by name); others are not looked at. */
  next?: Expectation;
}

function check(c: Case): void {
  const { state, effects } = decide(deepFreeze(c.state), deepFreeze(c.input));
  assert.deepEqual(
    effects.map((e) => show(e, c.input.now)),
    c.effects,
  );
  for (const effect of effects) {
    if (effect.type !== 'emit') continue;
    assert.equal(effect.event.time, c.input.now, 'events carry the time of their input');
    if ('uplink' in effect.event) {
      const u = state.uplinks.find((x) => x.config.name === (effect.event as { uplink: string }).uplink);
      assert.equal(u?.config.iface, effect.event.iface);
    }
  }
  const { uplinks: uplinkFields, ...fields } = c.next ?? {};
  for (const [key, value] of Object.entries(fields)) {
    assert.deepEqual(state[key as keyof EngineState], value, `state.${key}`);
  }
  for (const [name, expected] of Object.entries(uplinkFields ?? {})) {
    const u = state.uplinks.find((x) => x.config.name === name);
    assert.ok(u, name);
    for (const [key, value] of Object.entries(expected)) assert.deepEqual(u[key as keyof UplinkState], value, `${name}.${key}`);
  }
}

function table(title: string, cases: Case[]): void {
  for (const c of cases) test(`${title}: ${c.name}`, () => check(c));
}

// ---- the tables ---------------------------------------------------------------------------------

table('hysteresis', [
  {
    name: 'the first round decides: a bad one fails the primary at once and the working backup takes the route',
    state: machine([PRIMARY, WLAN], {
      uplinks: { primary: { link: upLink('eth0'), probing: { startedAt: NOW - 5 } }, wlan: { ...healthy('wlan0') } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate wlan (switch)', 'timer round:primary +995'],
    next: {
      uplinks: { primary: { health: 'down', badStreak: 1, probing: null, nextRoundAt: NOW + 995, roundAt: NOW + 995 } },
      switching: { to: 'wlan', previous: null, kind: 'start', announceSetup: true, step: 'activating' },
    },
  },
  {
    name: 'the first round decides: a good one makes the primary the first choice',
    state: machine([PRIMARY, WLAN], { uplinks: { primary: { link: upLink('eth0'), probing: { startedAt: NOW } }, wlan: { link: upLink('wlan0') } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'emit health:primary up (probe)', 'activate primary (switch)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'up', goodStreak: 1 } } },
  },
  {
    name: 'a bad round below `down` keeps the active uplink (the backup works: nothing to prepare)',
    state: primaryActive({ uplinks: { primary: { badStreak: 1, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'up', badStreak: 2, goodStreak: 0 } }, switching: null },
  },
  {
    name: 'the `down`-th bad round fails over',
    state: primaryActive({ uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate wlan (switch)', 'timer round:primary +1000'],
    next: {
      uplinks: { primary: { health: 'down', badStreak: 3, lostAt: NOW } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' },
    },
  },
  {
    name: 'a round that reports a cut fails over at once, without waiting for `down` bad rounds',
    state: primaryActive({ uplinks: { primary: { probing: { startedAt: NOW - 300 } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: { ...bad(PRIMARY), cut: true } },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate wlan (switch)', 'timer round:primary +700'],
    next: {
      uplinks: { primary: { health: 'down', badStreak: 3, lostAt: NOW } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' },
    },
  },
  {
    name: 'one good round below `up` does not trust a failed uplink again',
    state: wlanActive({ uplinks: { primary: { probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=down', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'down', goodStreak: 1 } } },
  },
  {
    name: 'the `up`-th good round restores the primary',
    state: wlanActive({ uplinks: { primary: { goodStreak: 1, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'emit health:primary up (probe)', 'activate primary (switch)', 'timer round:primary +1000'],
    next: { switching: { to: 'primary', previous: 'wlan', kind: 'restore', announceSetup: true, step: 'activating' } },
  },
  {
    name: 'good rounds without carrier are not trust',
    state: wlanActive({ uplinks: { primary: { goodStreak: 1, link: noCarrier('eth0'), probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=down', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'down', goodStreak: 2 } } },
  },
  {
    name: 'flapping: a good round between bad ones starts the count again',
    state: primaryActive({ uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { badStreak: 0, goodStreak: 1 } } },
  },
]);

table('start', [
  {
    name: 'an uplink the kernel already routes through is presumed up; pins go one at a time',
    state: machine([PRIMARY, WLAN], { phase: { name: 'stopped' } }),
    input: { type: 'start', now: NOW, kernelRoute: ROUTE_ON_ETH0, links: [upLink('eth0'), upLink('wlan0')] },
    effects: ['pin primary (start)'],
    next: {
      phase: { name: 'starting', toPin: ['primary', 'wlan'] },
      kernelRoute: ROUTE_ON_ETH0,
      uplinks: { primary: { health: 'up' }, wlan: { health: 'unknown' } },
    },
  },
  {
    name: 'without the kernel route (dry run) every probed uplink awaits its first round',
    state: machine([PRIMARY, WLAN], { phase: { name: 'stopped' } }),
    input: { type: 'start', now: NOW, kernelRoute: undefined, links: [upLink('eth0'), absentLink('wlan0')] },
    effects: ['pin primary (start)'],
    next: { phase: { name: 'starting', toPin: ['primary'] }, kernelRoute: undefined, uplinks: { primary: { health: 'unknown' } } },
  },
  {
    name: 'a kernel route on an interface without carrier earns no trust',
    state: machine([PRIMARY, WLAN], { phase: { name: 'stopped' } }),
    input: { type: 'start', now: NOW, kernelRoute: ROUTE_ON_ETH0, links: [noCarrier('eth0'), upLink('wlan0')] },
    effects: ['pin primary (start)'],
    next: { uplinks: { primary: { health: 'unknown' } } },
  },
  {
    name: 'the last pin: rounds start at once, and no decision before the primary has a verdict',
    state: machine([PRIMARY, WLAN], {
      phase: { name: 'starting', toPin: ['wlan'] },
      uplinks: { primary: { link: upLink('eth0') }, wlan: { link: upLink('wlan0') } },
    }),
    input: { type: 'pinned', now: NOW, uplink: 'wlan', reason: 'start' },
    effects: ['timer round:primary +0', 'timer round:wlan +0', 'started'],
    next: { phase: { name: 'running' }, switching: null },
  },
  {
    name: 'the last pin: a presumed-up primary gets the route at once',
    state: machine([PRIMARY, WLAN], {
      phase: { name: 'starting', toPin: ['primary'] },
      uplinks: { primary: { link: upLink('eth0'), health: 'up' } },
    }),
    input: { type: 'pinned', now: NOW, uplink: 'primary', reason: 'start' },
    effects: ['timer round:primary +0', 'timer round:wlan +0', 'activate primary (switch)', 'started'],
  },
  {
    name: 'the last pin: a standby modem is set up before the first verdict',
    state: machine([PRIMARY, fona('standby')], { phase: { name: 'starting', toPin: ['primary'] }, uplinks: { primary: { link: upLink('eth0') } } }),
    input: { type: 'pinned', now: NOW, uplink: 'primary', reason: 'start' },
    effects: ['timer round:primary +0', 'emit setup:fona (standby)', 'timer prepared:fona +30000', 'started'],
    next: { prepared: [{ uplink: 'fona', reason: 'standby', startedAt: NOW, deadline: NOW + 30_000 }] },
  },
]);

table('probe rounds', [
  {
    name: 'a round starts on the grid even when its timer fires late',
    state: primaryActive({ uplinks: { primary: { nextRoundAt: NOW - 3, roundAt: NOW - 3 } } }),
    input: { type: 'timer', now: NOW, id: { timer: 'round', uplink: 'primary' } },
    effects: ['probe primary'],
    next: { uplinks: { primary: { probing: { startedAt: NOW - 3 }, roundAt: null } } },
  },
  {
    name: 'a round that outlasts its interval is followed at once, and the grid starts again there',
    state: primaryActive({ uplinks: { primary: { probing: { startedAt: NOW - 1500 } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'timer round:primary +0'],
    next: { uplinks: { primary: { nextRoundAt: null, roundAt: NOW } } },
  },
  {
    name: 'an interface that is gone counts as all down, without probing',
    state: primaryActive({ uplinks: { wlan: { link: absentLink('wlan0'), health: 'unknown', roundAt: NOW } } }),
    input: { type: 'timer', now: NOW, id: { timer: 'round', uplink: 'wlan' } },
    effects: ['emit available:wlan bad health=down', 'emit health:wlan down (probe)', 'timer round:wlan +1000'],
    next: { uplinks: { wlan: { probing: null, lastResult: allDown(uplinks(WLAN)[0]) } } },
  },
  {
    name: 'recheck: a round now for every probed uplink, except one already probing',
    state: primaryActive({ uplinks: { primary: { probing: { startedAt: NOW - 10 }, roundAt: null } } }),
    input: { type: 'recheck', now: NOW },
    effects: ['timer round:wlan +0'],
    next: { uplinks: { wlan: { nextRoundAt: null, roundAt: NOW } } },
  },
]);

table('links', [
  {
    name: 'carrier lost on the active uplink: down at once, without waiting for rounds',
    state: primaryActive(),
    input: { type: 'link', now: NOW, state: noCarrier('eth0') },
    effects: ['emit health:primary down (link)', 'activate wlan (switch)'],
    next: { uplinks: { primary: { health: 'down', badStreak: 3, goodStreak: 0, lostAt: NOW } } },
  },
  {
    name: 'carrier back is not trust: pinned again and probed at once, still down',
    state: wlanActive({ uplinks: { primary: { link: noCarrier('eth0') } } }),
    input: { type: 'link', now: NOW, state: upLink('eth0') },
    effects: ['pin primary (relink)', 'timer round:primary +0'],
    next: { uplinks: { primary: { health: 'down' } }, switching: null },
  },
  {
    name: 'the active uplink back: its pin first, then its route',
    state: primaryActive({ uplinks: { primary: { link: noCarrier('eth0'), health: 'down' } }, switching: null }),
    input: { type: 'pinned', now: NOW, uplink: 'primary', reason: 'relinkActive' },
    effects: ['activate primary (relink)'],
  },
  {
    name: 'an uplink without targets follows its link',
    state: primaryBeforeModem(),
    input: { type: 'link', now: NOW, state: upLink('ppp0') },
    effects: ['pin fona (relink)', 'emit health:fona up (link)'],
    next: { uplinks: { fona: { health: 'up' } } },
  },
  {
    name: 'a device that reappears is judged afresh by its first round',
    state: wlanActive({ uplinks: { primary: { link: absentLink('eth0'), badStreak: 3 } } }),
    input: { type: 'link', now: NOW, state: upLink('eth0') },
    effects: ['pin primary (relink)', 'timer round:primary +0'],
    next: { uplinks: { primary: { health: 'unknown', badStreak: 0, goodStreak: 0 } } },
  },
]);

table('a dormant modem', [
  {
    name: 'the primary fails: the modem is set up and awaited, bounded, before any route change',
    state: primaryBeforeModem('on-failure', { uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: [
      'emit available:primary bad health=down',
      'emit health:primary down (probe)',
      'emit teardown:primary',
      'emit setup:fona',
      'emit waiting:fona 30000ms',
      'timer pending +30000',
      'timer round:primary +1000',
    ],
    next: { pending: { uplink: 'fona', startedAt: NOW, deadline: NOW + 30_000 }, switching: null, uplinks: { fona: { engaged: true }, primary: { engaged: false } } },
  },
  {
    name: 'ppp0 comes up: the wait ends and the route moves, without a second setup',
    state: primaryBeforeModem('on-failure', {
      pending: { uplink: 'fona', startedAt: NOW - 5000, deadline: NOW + 25_000 },
      uplinks: { primary: { health: 'down', engaged: false, lostAt: NOW - 5000 }, fona: { engaged: true } },
    }),
    input: { type: 'link', now: NOW, state: upLink('ppp0') },
    effects: ['pin fona (relink)', 'emit health:fona up (link)', 'clear pending', 'activate fona (switch)'],
    next: { pending: null, switching: { to: 'fona', previous: 'primary', kind: 'failover', announceSetup: false, step: 'activating' } },
  },
  {
    name: 'ppp0 that appears but is not up yet keeps the wait',
    state: primaryBeforeModem('on-failure', {
      pending: { uplink: 'fona', startedAt: NOW - 5000, deadline: NOW + 25_000 },
      uplinks: { primary: { health: 'down', engaged: false }, fona: { engaged: true } },
    }),
    input: { type: 'link', now: NOW, state: { iface: 'ppp0', exists: true, adminUp: false, carrier: null, operstate: 'down', up: false } },
    effects: ['pin fona (relink)'],
    next: { pending: { uplink: 'fona', startedAt: NOW - 5000, deadline: NOW + 25_000 }, switching: null },
  },
  {
    name: 'the wait runs out: setupFailed, teardown, and a decision when the backoff ends',
    state: primaryBeforeModem('on-failure', {
      pending: { uplink: 'fona', startedAt: NOW - 30_000, deadline: NOW },
      uplinks: { primary: { health: 'down', engaged: false }, fona: { engaged: true } },
    }),
    input: { type: 'timer', now: NOW, id: { timer: 'pending' } },
    effects: ['emit setupFailed:fona after 30000ms', 'emit teardown:fona', 'timer retry +60001', 'emit noUplink (active primary)'],
    next: { pending: null, retryAt: NOW + 60_001, noUplinkReported: true, uplinks: { fona: { engaged: false, setupBackoffUntil: NOW + 60_000 } } },
  },
  {
    name: 'during the backoff the modem is no candidate (and nothing usable is said once)',
    state: primaryBeforeModem('on-failure', {
      noUplinkReported: true,
      uplinks: { primary: { health: 'down', engaged: false }, fona: { setupBackoffUntil: NOW + 10 } },
    }),
    input: { type: 'resume', now: NOW },
    effects: [],
  },
  {
    name: 'the backoff is over: the modem is set up again',
    state: primaryBeforeModem('on-failure', {
      retryAt: NOW,
      noUplinkReported: true,
      uplinks: { primary: { health: 'down', engaged: false }, fona: { setupBackoffUntil: NOW - 1 } },
    }),
    input: { type: 'timer', now: NOW, id: { timer: 'retry' } },
    effects: ['emit setup:fona', 'emit waiting:fona 30000ms', 'timer pending +30000'],
    next: { retryAt: null, noUplinkReported: false },
  },
  {
    name: 'the primary recovering while the modem dials cancels the dial',
    state: primaryBeforeModem('on-failure', {
      pending: { uplink: 'fona', startedAt: NOW - 2000, deadline: NOW + 28_000 },
      uplinks: { primary: { health: 'down', engaged: true, goodStreak: 1, probing: { startedAt: NOW } }, fona: { engaged: true } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'emit health:primary up (probe)', 'clear pending', 'emit teardown:fona', 'timer round:primary +1000'],
    next: { pending: null, switching: null, uplinks: { fona: { engaged: false } } },
  },
  {
    name: 'forced onto an absent modem: it is set up and awaited',
    state: primaryBeforeModem(),
    input: { type: 'force', now: NOW, uplink: 'fona' },
    effects: ['emit setup:fona', 'emit waiting:fona 30000ms', 'timer pending +30000'],
    next: { forced: 'fona', uplinks: { primary: { engaged: true } } },
  },
]);

table('prepare early and standby', [
  {
    name: 'early: the first bad round of the active uplink sets the modem up ahead of need',
    state: primaryBeforeModem('early', { uplinks: { primary: { probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=up', 'emit setup:fona (early)', 'timer prepared:fona +30000', 'timer round:primary +1000'],
    next: { prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW, deadline: NOW + 30_000 }], uplinks: { fona: { engaged: true } } },
  },
  {
    name: 'on-failure (the default): a bad round sets nothing up',
    state: primaryBeforeModem('on-failure', { uplinks: { primary: { probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=up', 'timer round:primary +1000'],
    next: { prepared: [] },
  },
  {
    name: 'early: a good round starts the hold before the modem is released',
    state: primaryBeforeModem('early', {
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 1000, deadline: null }],
      uplinks: { primary: { probing: { startedAt: NOW } }, fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: good(PRIMARY) },
    effects: ['emit available:primary good health=up', 'timer release +30000', 'timer round:primary +1000'],
    next: { releaseAt: NOW + 30_000 },
  },
  {
    name: 'early: another bad round during the hold stops it (no cycling of the modem)',
    state: primaryBeforeModem('early', {
      releaseAt: NOW + 10_000,
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 20_000, deadline: NOW + 10_000 }],
      uplinks: { primary: { probing: { startedAt: NOW } }, fona: { engaged: true } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=up', 'clear release', 'timer round:primary +1000'],
    next: { releaseAt: null },
  },
  {
    name: 'early: the hold is over, the modem is released',
    state: primaryBeforeModem('early', {
      releaseAt: NOW,
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 40_000, deadline: NOW + 1000 }],
      uplinks: { fona: { engaged: true } },
    }),
    input: { type: 'timer', now: NOW, id: { timer: 'release' } },
    effects: ['clear prepared:fona', 'emit teardown:fona (released)'],
    next: { prepared: [], releaseAt: null, uplinks: { fona: { engaged: false } } },
  },
  {
    name: 'early: a modem still dialling when the primary fails is awaited, the wait counted from its setup',
    state: primaryBeforeModem('early', {
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 5000, deadline: NOW + 25_000 }],
      uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } }, fona: { engaged: true } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: [
      'emit available:primary bad health=down',
      'emit health:primary down (probe)',
      'emit teardown:primary',
      'clear prepared:fona',
      'emit waiting:fona 25000ms',
      'timer pending +25000',
      'timer round:primary +1000',
    ],
    next: { prepared: [], pending: { uplink: 'fona', startedAt: NOW - 5000, deadline: NOW + 25_000 } },
  },
  {
    name: 'early: a modem already up takes over at the failure, without a second setup',
    state: primaryBeforeModem('early', {
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 5000, deadline: null }],
      uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } }, fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate fona (switch)', 'timer round:primary +1000'],
    next: { prepared: [], switching: { to: 'fona', previous: 'primary', kind: 'failover', announceSetup: false, step: 'activating' } },
  },
  {
    name: 'a modem set up ahead of need whose interface never comes: setupFailed',
    state: primaryBeforeModem('early', {
      prepared: [{ uplink: 'fona', reason: 'early', startedAt: NOW - 30_000, deadline: NOW }],
      uplinks: { fona: { engaged: true } },
    }),
    input: { type: 'timer', now: NOW, id: { timer: 'prepared', uplink: 'fona' } },
    effects: ['emit setupFailed:fona after 30000ms', 'emit teardown:fona', 'timer retry +60001'],
    next: { prepared: [], uplinks: { fona: { engaged: false, setupBackoffUntil: NOW + 60_000 } } },
  },
  {
    name: 'standby: a modem that drops while another uplink carries traffic is set up again',
    state: primaryBeforeModem('standby', {
      prepared: [{ uplink: 'fona', reason: 'standby', startedAt: NOW - 60_000, deadline: null }],
      uplinks: { fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'link', now: NOW, state: absentLink('ppp0') },
    effects: ['emit health:fona down (link)', 'emit teardown:fona', 'emit setup:fona (standby)', 'timer prepared:fona +30000'],
    next: { prepared: [{ uplink: 'fona', reason: 'standby', startedAt: NOW, deadline: NOW + 30_000 }] },
  },
  {
    name: 'standby: the modem is not hung up when the primary takes the route back from it',
    state: machine([PRIMARY, fona('standby')], {
      active: 'fona',
      prepared: [],
      switching: { to: 'primary', previous: 'fona', kind: 'restore', announceSetup: true, step: 'afterSwitch' },
      uplinks: { primary: { ...healthy('eth0'), lostAt: NOW - 8000 }, fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit setup:primary', 'emit connectionRestored:primary from fona after 8000ms'],
    next: { active: 'primary', uplinks: { fona: { engaged: true } } },
  },
]);

table('force, pause, resume', [
  {
    name: 'force: a working uplink takes the route whatever the probes say',
    state: primaryActive(),
    input: { type: 'force', now: NOW, uplink: 'wlan' },
    effects: ['activate wlan (switch)'],
    next: { forced: 'wlan', switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' } },
  },
  {
    name: 'force: moving away from a working uplink is not reported as its failure',
    state: primaryActive({ forced: 'wlan', switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' } }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:primary', 'emit setup:wlan', 'emit connected:wlan from primary'],
    next: { active: 'wlan', switching: null, evaluateAgain: false, uplinks: { primary: { lostAt: null } } },
  },
  {
    name: 'force null: back to automatic, the primary takes the route back',
    state: wlanActive({ forced: 'wlan', uplinks: { primary: { health: 'up', lostAt: null } } }),
    input: { type: 'force', now: NOW, uplink: null },
    effects: ['activate primary (switch)'],
    next: { forced: null },
  },
  {
    name: 'paused: rounds are reported, but nothing switches',
    state: primaryActive({ paused: true, uplinks: { primary: { badStreak: 2, probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'timer round:primary +1000'],
    next: { switching: null, active: 'primary' },
  },
  {
    name: 'resume: the decision put off by the pause is taken',
    state: primaryActive({ paused: true, uplinks: { primary: { health: 'down', link: noCarrier('eth0') } } }),
    input: { type: 'resume', now: NOW },
    effects: ['activate wlan (switch)'],
    next: { paused: false, uplinks: { primary: { lostAt: NOW } } },
  },
]);

table('switching', [
  {
    name: 'the route is in place: the work after the switch comes next (the route is as expected now)',
    state: primaryActive({
      uplinks: { primary: { health: 'down' } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' },
    }),
    input: { type: 'activated', now: NOW, uplink: 'wlan', purpose: 'switch', error: null },
    effects: ['afterSwitch primary -> wlan'],
    next: { kernelRoute: { dev: 'wlan0', gateway: '192.0.2.17' }, active: 'primary', switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' } },
  },
  {
    name: 'failover: teardown(old), setup(new), connectionFailed(old), connected(new)',
    state: primaryActive({
      uplinks: { primary: { health: 'down' } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:primary', 'emit setup:wlan', 'emit connectionFailed:primary to wlan', 'emit connected:wlan from primary'],
    next: { active: 'wlan', switching: null, uplinks: { primary: { lostAt: NOW, engaged: false }, wlan: { engaged: true } } },
  },
  {
    name: 'restore: teardown(old), setup(new), connectionRestored(new) with the outage',
    state: wlanActive({
      uplinks: { primary: { health: 'up' } },
      switching: { to: 'primary', previous: 'wlan', kind: 'restore', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:wlan', 'emit setup:primary', 'emit connectionRestored:primary from wlan after 5000ms'],
    next: { active: 'primary', uplinks: { primary: { lostAt: null } } },
  },
  {
    name: 'a modem awaited while dormant: only the old uplink is released, setup went out earlier',
    state: primaryBeforeModem('on-failure', {
      uplinks: { primary: { health: 'down', engaged: false, lostAt: NOW - 9000 }, fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
      switching: { to: 'fona', previous: 'primary', kind: 'failover', announceSetup: false, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit connectionFailed:primary to fona', 'emit connected:fona from primary'],
    next: { active: 'fona' },
  },
  {
    name: 'a failed route change is reported; nothing else changes and nothing is retried until the next round',
    state: primaryActive({
      uplinks: { primary: { health: 'down' } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' },
    }),
    input: { type: 'activated', now: NOW, uplink: 'wlan', purpose: 'switch', error: 'RTNETLINK answers: Network is unreachable' },
    effects: ['emit switchFailed:wlan RTNETLINK answers: Network is unreachable'],
    next: { active: 'primary', switching: null, kernelRoute: undefined },
  },
  {
    name: 'a failed route change to a modem set up while dormant tears it down',
    state: primaryBeforeModem('on-failure', {
      uplinks: { primary: { health: 'down', engaged: false }, fona: { engaged: true, link: upLink('ppp0'), health: 'up' } },
      switching: { to: 'fona', previous: 'primary', kind: 'failover', announceSetup: false, step: 'activating' },
    }),
    input: { type: 'activated', now: NOW, uplink: 'fona', purpose: 'switch', error: 'no such device' },
    effects: ['emit switchFailed:fona no such device', 'emit teardown:fona'],
    next: { switching: null, uplinks: { fona: { engaged: false } } },
  },
  {
    name: 'a decision asked for during a switch waits for it',
    state: primaryActive({ switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' } }),
    input: { type: 'link', now: NOW, state: noCarrier('wlan0') },
    effects: ['emit health:wlan down (link)'],
    next: { evaluateAgain: true },
  },
  {
    name: 'after the switch, the decision put off is taken',
    state: primaryActive({
      evaluateAgain: true,
      uplinks: { primary: { health: 'down' }, wlan: { health: 'down', link: noCarrier('wlan0') } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: [
      'emit teardown:primary',
      'emit setup:wlan',
      'emit connectionFailed:primary to wlan',
      'emit connected:wlan from primary',
      'emit noUplink (active wlan)',
    ],
    next: { evaluateAgain: false, noUplinkReported: true },
  },
]);

table('keeping the route', [
  {
    name: 'a route notice: one read',
    state: primaryActive(),
    input: { type: 'routeChange', now: NOW },
    effects: ['readRoute (check)'],
    next: { routeCheck: { step: 'reading' }, routeCheckAgain: false },
  },
  {
    name: 'a notice during a check is kept for after it',
    state: primaryActive({ routeCheck: { step: 'reading' } }),
    input: { type: 'routeChange', now: NOW },
    effects: [],
    next: { routeCheckAgain: true },
  },
  {
    name: 'a route someone else replaced is put back on the active uplink',
    state: primaryActive({ routeCheck: { step: 'reading' } }),
    input: { type: 'routeSeen', now: NOW, purpose: 'check', route: ROUTE_ON_LO },
    effects: ['activate primary (restore)'],
    next: { kernelRoute: ROUTE_ON_LO, routeCheck: { step: 'restoring', uplink: 'primary', found: ROUTE_ON_LO } },
  },
  {
    name: 'put back: reported with what was found',
    state: primaryActive({ kernelRoute: ROUTE_ON_LO, routeCheck: { step: 'restoring', uplink: 'primary', found: ROUTE_ON_LO } }),
    input: { type: 'activated', now: NOW, uplink: 'primary', purpose: 'restore', error: null },
    effects: ['emit routeChanged:primary found default dev lo restored=true'],
    next: { kernelRoute: ROUTE_ON_ETH0, routeCheck: null },
  },
  {
    name: 'a deleted route that cannot be put back: logged and reported, and the next notice is checked',
    state: primaryActive({ kernelRoute: null, routeCheckAgain: true, routeCheck: { step: 'restoring', uplink: 'primary', found: null } }),
    input: { type: 'activated', now: NOW, uplink: 'primary', purpose: 'restore', error: 'RTNETLINK answers: File exists' },
    effects: [
      'log error: could not put the default route back on primary: RTNETLINK answers: File exists',
      'emit routeChanged:primary found nothing restored=false',
      'readRoute (check)',
    ],
    next: { kernelRoute: null, routeCheck: { step: 'reading' }, routeCheckAgain: false },
  },
  {
    name: 'our own route: nothing to do',
    state: primaryActive({ routeCheck: { step: 'reading' } }),
    input: { type: 'routeSeen', now: NOW, purpose: 'check', route: ROUTE_ON_ETH0 },
    effects: [],
    next: { kernelRoute: ROUTE_ON_ETH0, routeCheck: null },
  },
  {
    name: 'an IPv6-only active uplink has no IPv4 route to keep: no IPv4 default is no change (v6 route keeping is not done)',
    state: machine([{ name: 'v6', iface: 'eth0', gateway6: '2001:db8:1::1', targets: ['2001:db8:113::1'], probe }, WLAN], {
      active: 'v6',
      routeCheck: { step: 'reading' },
      uplinks: { v6: { ...healthy('eth0'), engaged: true }, wlan: healthy('wlan0') },
    }),
    input: { type: 'routeSeen', now: NOW, purpose: 'check', route: null },
    effects: [],
    next: { kernelRoute: null, routeCheck: null },
  },
  {
    name: 'paused: a changed route is seen but left to the admin',
    state: primaryActive({ paused: true, routeCheck: { step: 'reading' } }),
    input: { type: 'routeSeen', now: NOW, purpose: 'check', route: ROUTE_ON_LO },
    effects: [],
    next: { kernelRoute: ROUTE_ON_LO, routeCheck: null },
  },
  {
    name: 'a route that cannot be read is left alone',
    state: primaryActive({ kernelRoute: ROUTE_ON_ETH0, routeCheck: { step: 'reading' } }),
    input: { type: 'routeSeen', now: NOW, purpose: 'check', route: undefined },
    effects: [],
    next: { kernelRoute: ROUTE_ON_ETH0, routeCheck: null },
  },
  {
    name: 'dry run (the route cannot be read): notices are ignored',
    state: primaryActive({ settings: { keepsKernelRoute: false } }),
    input: { type: 'routeChange', now: NOW },
    effects: [],
    next: { routeCheck: null },
  },
  {
    name: 'a notice during a switch is checked once the switch is over',
    state: primaryActive({
      routeCheckAgain: true,
      uplinks: { primary: { health: 'down' } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:primary', 'emit setup:wlan', 'emit connectionFailed:primary to wlan', 'emit connected:wlan from primary', 'readRoute (check)'],
    next: { routeCheck: { step: 'reading' } },
  },
]);

table('stop', [
  {
    name: 'probing stops at once; the rest waits for the round in flight',
    state: machine([PRIMARY, fona()], {
      uplinks: { primary: { link: upLink('eth0'), probing: { startedAt: NOW - 500 } }, fona: { link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'stop', now: NOW },
    effects: ['abort primary'],
    next: { phase: { name: 'stopping', step: 'draining' } },
  },
  {
    name: 'before the first verdict the route is left as found (never moved to the backup), then unpinned',
    state: machine([PRIMARY, fona()], {
      phase: { name: 'stopping', step: 'draining' },
      uplinks: { primary: { link: upLink('eth0'), probing: { startedAt: NOW - 500 } }, fona: { link: upLink('ppp0'), health: 'up' } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(PRIMARY) },
    effects: ['unpin primary'],
    next: { phase: { name: 'stopping', step: 'unpinning', toUnpin: ['primary', 'fona'] }, active: null, uplinks: { primary: { health: 'unknown', probing: null } } },
  },
  {
    name: 'the last pin removed: stopped',
    state: machine([PRIMARY, fona()], { phase: { name: 'stopping', step: 'unpinning', toUnpin: ['fona'] } }),
    input: { type: 'unpinned', now: NOW, uplink: 'fona' },
    effects: ['stopped'],
    next: { phase: { name: 'stopped' } },
  },
  {
    name: 'once decided, the route is left on the best uplink',
    state: wlanActive({ uplinks: { primary: { health: 'up' } } }),
    input: { type: 'stop', now: NOW },
    effects: ['clear round:primary', 'clear round:wlan', 'activate primary (switch)'],
    next: {
      phase: { name: 'stopping', step: 'moving' },
      switching: { to: 'primary', previous: 'wlan', kind: 'restore', announceSetup: true, step: 'activating' },
      uplinks: { primary: { roundAt: null }, wlan: { roundAt: null } },
    },
  },
  {
    name: 'that last move is announced like any other, then the pins go',
    state: wlanActive({
      phase: { name: 'stopping', step: 'moving' },
      uplinks: { primary: { health: 'up' } },
      switching: { to: 'primary', previous: 'wlan', kind: 'restore', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:wlan', 'emit setup:primary', 'emit connectionRestored:primary from wlan after 5000ms', 'unpin primary'],
    next: { active: 'primary', phase: { name: 'stopping', step: 'unpinning', toUnpin: ['primary', 'wlan'] } },
  },
  {
    name: 'a higher-priority uplink still awaiting its verdict: no move, the route is checked instead',
    state: machine([PRIMARY, WLAN, fona()], {
      active: 'fona',
      uplinks: { primary: { link: upLink('eth0') }, wlan: { ...healthy('wlan0') }, fona: { link: upLink('ppp0'), health: 'up', engaged: true } },
    }),
    input: { type: 'stop', now: NOW },
    effects: ['clear round:wlan', 'readRoute (stop)'],
    next: { phase: { name: 'stopping', step: 'reading' }, switching: null },
  },
  {
    name: 'a route someone else changed is put back at stop',
    state: primaryActive({ phase: { name: 'stopping', step: 'reading' } }),
    input: { type: 'routeSeen', now: NOW, purpose: 'stop', route: ROUTE_ON_LO },
    effects: ['activate primary (restoreAtStop)'],
    next: { phase: { name: 'stopping', step: 'restoring', found: ROUTE_ON_LO } },
  },
  {
    name: 'put back at stop: reported, then the pins go',
    state: primaryActive({ phase: { name: 'stopping', step: 'restoring', found: ROUTE_ON_LO } }),
    input: { type: 'activated', now: NOW, uplink: 'primary', purpose: 'restoreAtStop', error: null },
    effects: ['emit routeChanged:primary found default dev lo restored=true', 'unpin primary'],
  },
  {
    name: 'a stop while a modem is awaited cancels the dial',
    state: primaryBeforeModem('on-failure', {
      pending: { uplink: 'fona', startedAt: NOW - 2000, deadline: NOW + 28_000 },
      uplinks: { primary: { health: 'down', engaged: false }, fona: { engaged: true } },
    }),
    input: { type: 'stop', now: NOW },
    effects: ['clear round:primary', 'clear pending', 'emit teardown:fona', 'unpin primary'],
    next: { pending: null },
  },
  {
    name: 'a standby modem is hung up at stop, with the timers of the engine cleared',
    state: primaryBeforeModem('standby', {
      settings: { keepsKernelRoute: false },
      retryAt: NOW + 100,
      prepared: [{ uplink: 'fona', reason: 'standby', startedAt: NOW - 1000, deadline: NOW + 29_000 }],
      uplinks: { fona: { engaged: true } },
    }),
    input: { type: 'stop', now: NOW },
    effects: ['clear retry', 'clear round:primary', 'clear prepared:fona', 'emit teardown:fona', 'unpin primary'],
    next: { prepared: [], retryAt: null },
  },
  {
    name: 'a switch in flight is awaited; its events still go out',
    state: primaryActive({
      phase: { name: 'stopping', step: 'draining' },
      settings: { keepsKernelRoute: false },
      uplinks: { primary: { health: 'down', roundAt: null }, wlan: { roundAt: null } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'afterSwitch' },
    }),
    input: { type: 'switched', now: NOW },
    effects: ['emit teardown:primary', 'emit setup:wlan', 'emit connectionFailed:primary to wlan', 'emit connected:wlan from primary', 'unpin primary'],
    next: { active: 'wlan' },
  },
  {
    name: 'a setup that times out while stop waits for a round arms no retry timer (it would outlive the engine)',
    state: primaryBeforeModem('on-failure', {
      phase: { name: 'stopping', step: 'draining' },
      pending: { uplink: 'fona', startedAt: NOW - 30_000, deadline: NOW },
      uplinks: { primary: { health: 'down', engaged: false, roundAt: null, probing: { startedAt: NOW - 800 } }, fona: { engaged: true } },
    }),
    input: { type: 'timer', now: NOW, id: { timer: 'pending' } },
    effects: ['emit setupFailed:fona after 30000ms', 'emit teardown:fona'],
    next: { pending: null, retryAt: null, phase: { name: 'stopping', step: 'draining' } },
  },
  {
    name: 'a stop of a stopped engine does nothing',
    state: machine([PRIMARY], { phase: { name: 'stopped' } }),
    input: { type: 'stop', now: NOW },
    effects: [],
    next: { phase: { name: 'stopped' } },
  },
]);

// ---- quality: loss and latency over a window, with hysteresis --------------------------------------

const quality = (onDegraded: 'stay' | 'failover') => ({ window: 10, latencyHigh: 500, latencyLow: 200, lossHigh: 20, lossLow: 10, onDegraded });
const QPRIMARY = (onDegraded: 'stay' | 'failover'): UplinkInput => ({ ...PRIMARY, quality: quality(onDegraded) });
/** A round in which each target sends `sent` echoes and loses `lost`, the replies taking `rtt` ms. */
function measured(input: UplinkInput, rtt: number, sent = 1, lost = 0): ProbeResult {
  const [config] = uplinks(input);
  return summarise(
    config,
    config.targets.map((target) => ({ target, alive: lost < sent, rtt: lost < sent ? rtt : null, sent, lost })),
  );
}
/** Earlier rounds in the window: `rtt` ms, each target 1 echo (lost ones from `lost`). */
const samples = (rtt: number, n: number, targets = 2, lost = 0) =>
  Array.from({ length: n }, (_, i) => ({ at: NOW - (n - i) * 1000, sent: targets, lost, rttSum: rtt * (targets - lost), replies: targets - lost }));
const qualityMachine = (onDegraded: 'stay' | 'failover', patch: StatePatch) =>
  machine([QPRIMARY(onDegraded), WLAN], {
    active: 'primary',
    ...patch,
    uplinks: {
      primary: { ...healthy('eth0'), engaged: true, probing: { startedAt: NOW }, ...patch.uplinks?.primary },
      wlan: { ...healthy('wlan0'), ...patch.uplinks?.wlan },
    },
  });

table('quality', [
  {
    name: 'latency at the high threshold with onDegraded=failover: degraded, and the backup takes the route',
    state: qualityMachine('failover', { uplinks: { primary: { window: samples(600, 2) } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('failover'), 600) },
    effects: ['emit available:primary good health=degraded', 'emit health:primary degraded (latency)', 'activate wlan (switch)', 'timer round:primary +1000'],
    next: {
      uplinks: { primary: { health: 'up', quality: 'degraded', lostAt: NOW } },
      switching: { to: 'wlan', previous: 'primary', kind: 'failover', announceSetup: true, step: 'activating' },
    },
  },
  {
    name: 'latency at the high threshold with onDegraded=stay: degraded is reported, the route stays',
    state: qualityMachine('stay', { uplinks: { primary: { window: samples(600, 2) } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('stay'), 600) },
    effects: ['emit available:primary good health=degraded', 'emit health:primary degraded (latency)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'degraded' } }, switching: null },
  },
  {
    name: 'too few rounds in the window to judge: nothing changes yet',
    state: qualityMachine('failover', { uplinks: { primary: { window: samples(600, 1) } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('failover'), 600) },
    effects: ['emit available:primary good health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'good' } } },
  },
  {
    name: 'between the thresholds a degraded uplink stays degraded (hysteresis)',
    state: qualityMachine('failover', { active: 'wlan', uplinks: { primary: { quality: 'degraded', window: samples(300, 5), engaged: false, lostAt: NOW - 5000 }, wlan: { engaged: true } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('failover'), 300) },
    effects: ['emit available:primary good health=degraded', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'degraded' } }, switching: null },
  },
  {
    name: 'at or below the low threshold it is good again and takes the route back',
    state: qualityMachine('failover', {
      active: 'wlan',
      uplinks: { primary: { quality: 'degraded', window: [...samples(900, 3).map((x) => ({ ...x, at: NOW - 20_000 })), ...samples(150, 3)], engaged: false, lostAt: NOW - 5000 }, wlan: { engaged: true } },
    }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('failover'), 150) },
    effects: ['emit available:primary good health=up', 'emit health:primary up (quality)', 'activate primary (switch)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'good', window: [...samples(150, 3), { at: NOW, sent: 2, lost: 0, rttSum: 300, replies: 2 }] } } },
  },
  {
    name: '15 % loss under loss thresholds of 20/10 %: no change',
    state: qualityMachine('failover', { uplinks: { primary: { window: samples(10, 9, 20, 3) } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured({ ...QPRIMARY('failover') }, 10, 10, 1) },
    effects: ['emit available:primary good health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'good' } }, switching: null },
  },
  {
    name: 'loss at the high threshold: degraded for loss',
    state: qualityMachine('stay', { uplinks: { primary: { window: samples(10, 4, 10, 3) } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('stay'), 10, 5, 1) },
    effects: ['emit available:primary good health=degraded', 'emit health:primary degraded (loss)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'degraded' } } },
  },
  {
    name: 'the first bad rounds of a cut are no quality verdict: the loss counts, but only `down` rounds fail it',
    state: qualityMachine('stay', { uplinks: { primary: { window: samples(10, 3), badStreak: 1 } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(QPRIMARY('stay')) },
    effects: ['emit available:primary bad health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { quality: 'good', badStreak: 2, window: [...samples(10, 3), { at: NOW, sent: 2, lost: 2, rttSum: 0, replies: 0 }] } } },
  },
  {
    name: 'every uplink degraded with onDegraded=failover: the degraded primary still carries traffic (last resort)',
    state: qualityMachine('failover', { uplinks: { primary: { window: samples(600, 2) }, wlan: { health: 'down' } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: measured(QPRIMARY('failover'), 600) },
    effects: ['emit available:primary good health=degraded', 'emit health:primary degraded (latency)', 'timer round:primary +1000'],
    next: { active: 'primary', switching: null },
  },
  {
    name: 'an uplink that stops answering loses its window: its quality is judged afresh when it is back',
    state: qualityMachine('stay', { uplinks: { primary: { quality: 'degraded', window: samples(600, 3), badStreak: 2 } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: bad(QPRIMARY('stay')) },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate wlan (switch)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'down', quality: 'good', window: [] } } },
  },
]);

table('cut', [
  {
    name: 'a round that reports a cut fails the active uplink at once, without waiting for `down` bad rounds',
    state: primaryActive({ uplinks: { primary: { probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: { ...bad(PRIMARY), cut: true } },
    effects: ['emit available:primary bad health=down', 'emit health:primary down (probe)', 'activate wlan (switch)', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'down', badStreak: 3 } } },
  },
  {
    name: 'a cut flag on a round in which targets answered is not a cut',
    state: primaryActive({ uplinks: { primary: { probing: { startedAt: NOW } } } }),
    input: { type: 'round', now: NOW, uplink: 'primary', result: { ...good(PRIMARY), cut: true } },
    effects: ['emit available:primary good health=up', 'timer round:primary +1000'],
    next: { uplinks: { primary: { health: 'up' } } },
  },
]);

test('decide: a failover told as inputs, one decision at a time', () => {
  let state = machine([PRIMARY, WLAN], { phase: { name: 'stopped' } });
  const steps: [EngineInput, string[]][] = [
    [{ type: 'start', now: NOW, kernelRoute: null, links: [upLink('eth0'), upLink('wlan0')] }, ['pin primary (start)']],
    [{ type: 'pinned', now: NOW + 1, uplink: 'primary', reason: 'start' }, ['pin wlan (start)']],
    [{ type: 'pinned', now: NOW + 2, uplink: 'wlan', reason: 'start' }, ['timer round:primary +0', 'timer round:wlan +0', 'started']],
    [{ type: 'timer', now: NOW + 2, id: { timer: 'round', uplink: 'primary' } }, ['probe primary']],
    [{ type: 'round', now: NOW + 10, uplink: 'primary', result: good(PRIMARY) }, ['emit available:primary good health=up', 'emit health:primary up (probe)', 'activate primary (switch)', 'timer round:primary +992']],
    [{ type: 'activated', now: NOW + 11, uplink: 'primary', purpose: 'switch', error: null }, ['afterSwitch - -> primary']],
    [{ type: 'switched', now: NOW + 12 }, ['emit setup:primary', 'emit connected:primary from -']],
    [{ type: 'link', now: NOW + 500, state: noCarrier('eth0') }, ['emit health:primary down (link)']],
  ];
  for (const [input, expected] of steps) {
    const decision = decide(deepFreeze(state), deepFreeze(input));
    assert.deepEqual(
      decision.effects.map((e) => show(e, input.now)),
      expected,
      input.type,
    );
    state = decision.state;
  }
  // wlan has not had its first round: it is no choice yet, and the primary cannot carry traffic.
  assert.equal(state.active, 'primary');
  assert.equal(state.uplinks[1].health, 'unknown');
});
