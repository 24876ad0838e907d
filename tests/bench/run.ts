/** `npm run bench`: runs every benchmark and prints its figures. */
import { runValidationBench } from './validation.ts';

runValidationBench();
