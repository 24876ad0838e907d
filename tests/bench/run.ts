/** `npm run bench`: runs every benchmark in turn and prints its figures. */
import { benchBridge } from './bridge.ts';

await benchBridge();
process.exit(0);
