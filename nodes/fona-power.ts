/**
 * `fona-power`: switches an Adafruit FONA (or any SIM800-style modem with a power key and a status pin) on
 * and off through GPIO, the guide's way: read the power status pin, pulse the key pin low only if the state
 * must change, confirm the status pin followed. Input 'on' | 'off' | 'toggle' | 'status'; output
 * msg.payload = {power, changed, driver}. Without GPIO hardware or tools it still deploys, with a grey
 * "not available" badge, and each message fails with the reason. The behaviour lives in FonaController
 * (fona-power/controller.ts).
 */
import { openGpio } from '../lib/gpio/select';
import { FonaController, FonaPowerDef } from './fona-power/controller';
import { runController } from './shared/controller';
import type { Node, NodeAPI } from './shared/red';

export = function register(RED: NodeAPI): void {
  function FonaPowerNode(this: Node, def: FonaPowerDef): void {
    RED.nodes.createNode(this, def);
    const controller = new FonaController(this, def, {
      translate: (key, substitutions) => RED._(key, substitutions),
      openGpio: (options) => openGpio(options),
    });
    runController(this, controller);
  }
  RED.nodes.registerType('fona-power', FonaPowerNode);
};
