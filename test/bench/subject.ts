/** Starts the headless service in a lab with a chosen prober (service-subject.js), for the benchmark parts. */
import { resolve } from 'node:path';
import { NetLab } from '../lab/netlab';
import { RunningService, startService } from '../lab/service-harness';

/** continuous: ContinuousIcmpProbe (fping -l per uplink, the new prober); spawn: IcmpProbe (a `ping` per echo). */
export type ProberName = 'continuous' | 'spawn';

const SUBJECT = resolve(__dirname, 'service-subject.js');

/** The service in the lab's device with the given prober; log lines and stop() as startService's. */
export function startSubject(lab: NetLab, properties: string, prober: ProberName): RunningService {
  return startService(lab, properties, ['--probe', prober], { bin: SUBJECT });
}
