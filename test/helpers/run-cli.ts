// Runs the CLI from source (tests spawn this with `node --import tsx`).
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
