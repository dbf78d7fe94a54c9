#!/usr/bin/env node
// The `vnet-native` executable. It loads the CLI by a dynamic import so that an addon that cannot
// load (VNET_E_NOT_BUILT: no source build and no prebuilt that fits) is reported in one line with
// exit 1, not as a stack trace from module loading.
import { errorLine } from './error-line.js';
import { envValue } from '../env.js';

try {
  const { main } = await import('./main.js');
  process.exit(await main());
} catch (e) {
  process.stderr.write(errorLine(e));
  if (envValue('VNET_DEBUG')) process.stderr.write(`${(e as Error).stack}\n`);
  process.exit(1);
}
