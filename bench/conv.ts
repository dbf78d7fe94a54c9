// `npm run bench:conv`: the V-Net's layer shapes on the CPU with PyTorch side by side, a thin
// alias of `vnet-native bench conv --vnet` (src/bench/, src/cli/bench.ts), kept for its flags:
//   node dist/bench/conv.js [--batch 2,8] [--layers res,tconv] [--reps 5] [--json] [--no-peer]
// Any other flag is passed through to the command (e.g. --algo all, --direction fprop).
import { main } from '../src/cli/main.js';

export function aliasArgs(argv: string[]): string[] {
  const out = ['bench', 'conv', '--vnet', '--threads', '2'];
  let batch = '2,8', peer = true;
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    if (f === '--batch') batch = argv[++i] ?? '';
    else if (f === '--reps') out.push('--min_reps', argv[++i] ?? '');
    else if (f === '--no-peer') peer = false;
    else out.push(f);
  }
  out.push('--batch', batch);
  if (peer) out.push('--peer', 'torch');
  return out;
}

main(aliasArgs(process.argv.slice(2))).then((code) => process.exit(code));
