// CPU inference of the exported ONNX model through onnxruntime-node beside the engine's own
// forward pass (predictProbs: forward + softmax), default V-Net 32³ with random weights and
// batch-norm statistics, the same threads; batch norm folded and as BatchNormalization nodes.
// Runtimes timed in turn step by step; each run's median step, and the median over runs.
//   node dist/bench/onnx.js [--batches 1,8] [--reps 3] [--steps 10] [--threads 2] [--json]
import ort from 'onnxruntime-node';
import { VNet, tensor, predictProbs, engine as E, exportOnnx } from '../src/index.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const batches = opt('batches', '1,8').split(',').map(Number);
const reps = Number(opt('reps', '3'));
const steps = Number(opt('steps', '10'));
const threads = Number(opt('threads', '2'));
const json = args.includes('--json');
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor((v.length - 1) / 2)];

E.useDevice({ threads });
const net = new VNet({}, { seed: 1 });
// Batch-norm statistics away from (0, 1), so that folding has something to fold.
for (const [name, t] of net.store.buffers) {
  const v = Float32Array.from({ length: t.size }, (_, i) => (name.endsWith('moving_variance') ? 0.5 + ((i * 7) % 10) / 10 : ((i * 3) % 11) / 10 - 0.5));
  net.store.assign(name, tensor(v, t.shape));
}
net.training = false;
const config = { version: 1 as const, model: net.config, labels: [0, 1, 2].map((value) => ({ value, name: `class${value}` })), loss: 'dice' as const };
const [D, H, W] = net.config.inputShape;
const sessions = {
  fold: await ort.InferenceSession.create(exportOnnx({ net, config }, { batchNorm: 'fold' }), { intraOpNumThreads: threads, interOpNumThreads: 1 }),
  nodes: await ort.InferenceSession.create(exportOnnx({ net, config }, { batchNorm: 'nodes' }), { intraOpNumThreads: threads, interOpNumThreads: 1 }),
};

type Runner = 'engine' | keyof typeof sessions;
async function once(r: Runner, x: Float32Array, n: number): Promise<void> {
  if (r === 'engine') predictProbs(net, { images: x, size: n });
  else await sessions[r].run({ image: new ort.Tensor('float32', x, [n, D, H, W, 1]) });
}

/** One run: a warm-up step each, then `steps` rounds timing every runtime in turn (so that
 *  they share the machine's load); returns each runtime's median step in ms. */
async function run(runners: Runner[], n: number): Promise<Record<Runner, number>> {
  const x = Float32Array.from({ length: n * D * H * W }, (_, i) => Math.sin(i * 0.37) * 2);
  const ms = Object.fromEntries(runners.map((r) => [r, [] as number[]])) as Record<Runner, number[]>;
  for (const r of runners) await once(r, x, n);
  for (let s = 0; s < steps; s++)
    for (const r of runners) {
      const t0 = performance.now();
      await once(r, x, n);
      ms[r].push(performance.now() - t0);
    }
  return Object.fromEntries(runners.map((r) => [r, median(ms[r])])) as Record<Runner, number>;
}

const runners: Runner[] = ['engine', 'fold', 'nodes'];
const label: Record<Runner, string> = { engine: 'vnet-native engine', fold: 'onnxruntime, BN folded', nodes: 'onnxruntime, BN nodes' };
const rows: string[][] = [];
for (const n of batches) {
  const p50: Record<Runner, number[]> = { engine: [], fold: [], nodes: [] };
  for (let i = 0; i < reps; i++) {
    const m = await run(runners, n);
    for (const r of runners) p50[r].push(m[r]);
  }
  const engine = median(p50.engine);
  for (const r of runners) {
    const ms = median(p50[r]);
    if (json) process.stdout.write(JSON.stringify({ runtime: r, batch: n, images_per_s: (n * 1000) / ms, p50_ms: ms, reps, steps, threads }) + '\n');
    rows.push([label[r], String(n), ((n * 1000) / ms).toFixed(2), ms.toFixed(1), `${(engine / ms).toFixed(2)}x`]);
  }
}
if (!json) {
  const head = ['runtime', 'batch', 'img/s', 'p50 ms', 'speed vs engine'];
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  process.stdout.write(`V-Net 32³ inference (probabilities), ${threads} threads, onnxruntime-node ${ort.env.versions.common}, median of ${reps} runs x ${steps} steps\n`);
  for (const r of all) process.stdout.write(r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ') + '\n');
}
net.dispose();
