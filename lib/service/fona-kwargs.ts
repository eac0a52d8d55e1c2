/**
 * The FONA handler's options are parsed with the rest of the properties file: see
 * lib/properties/fona-kwargs.ts. This re-export only keeps fona-handler.ts's import working until
 * lib/service is reorganised (issue 9); new code imports from lib/properties.
 */
export type { FonaSettings } from '../properties/fona-kwargs';
