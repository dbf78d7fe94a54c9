// Seeded initialisers and other tensor factories that run on the engine.
import { runOp } from './ops.js';
import { Tensor, zeros, type DeviceName } from './tensor.js';

/** U(lo, hi) from a counter-based generator: the same values for a seed on every device. */
export function randomUniform(shape: readonly number[], lo: number, hi: number, seed: number, device: DeviceName = 'cpu'): Tensor {
  const t = zeros(shape, { device });
  runOp('fill_uniform', [t], { lo, hi, seed });
  return t;
}

/** Glorot-uniform for a conv kernel (kd,kh,kw,Cin,Cout): U(±sqrt(6 / (k³·(Cin+Cout)))). */
export function glorotUniform(shape: readonly number[], seed: number, device: DeviceName = 'cpu'): Tensor {
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const fanIn = receptive * shape[shape.length - 2];
  const fanOut = receptive * shape[shape.length - 1];
  const a = Math.sqrt(6 / (fanIn + fanOut));
  return randomUniform(shape, -a, a, seed, device);
}

export function fill(shape: readonly number[], value: number, device: DeviceName = 'cpu'): Tensor {
  const t = zeros(shape, { device });
  if (value !== 0) runOp('fill_const', [t], { value });
  return t;
}
