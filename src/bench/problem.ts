// Convolution problems for `vnet-native bench conv`: parsing the shape flags, the V-Net's 13
// distinct layer shapes (spec §1.5), the engine-level geometry each direction runs, and the
// dense FLOP count (2 per multiply-add, zero padding included).
export type Triple = [number, number, number];
export type Direction = 'fprop' | 'dgrad' | 'wgrad';
export const DIRECTIONS: Direction[] = ['fprop', 'dgrad', 'wgrad'];

/** A bad flag value; the CLI turns it into a usage error (exit 2). */
export class BenchInputError extends Error {}

/** One layer as its user sees it: input (N,D,H,W,C) → `filters` channels. */
export interface ConvProblem {
  name: string;
  transposed: boolean;
  input: [number, number, number, number, number];
  filters: number;
  kernel: Triple;
  stride: Triple;
  pad: string; // 'same' | 'valid' | 'p' | 'pd,ph,pw', as given
}

/**
 * The underlying convolution the engine runs: x (N,X,Cx) * w (k,Cx,Ky) -> y (N,Y,Ky), with front
 * and back padding. A transposed layer's input is y, its output x (its fprop is our dgrad).
 */
export interface ConvGeometry {
  N: number;
  xSpatial: Triple;
  ySpatial: Triple;
  cx: number;
  ky: number;
  kernel: Triple;
  stride: Triple;
  padFront: Triple;
  padBack: Triple;
}

const err = (flag: string, msg: string) => new BenchInputError(`${flag}: ${msg}`);

/** "a,b,c" -> positive integers; `n` entries, or 1 entry repeated to `n`. */
export function parseInts(flag: string, v: string | number, n: number, min = 1): number[] {
  const parts = String(v).split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || nums.some((x) => x < min))
    throw err(flag, `'${v}' must be ${n === 1 ? 'an integer' : 'integers separated by commas'} >= ${min}`);
  if (nums.length === 1 && n === 3) return [nums[0], nums[0], nums[0]];
  if (nums.length !== n) throw err(flag, `'${v}' needs ${n === 3 ? '1 or 3' : n} values, got ${nums.length}`);
  return nums;
}

export function parseInput(v: string): ConvProblem['input'] {
  const d = parseInts('--input', v, 5);
  return [d[0], d[1], d[2], d[3], d[4]];
}

/** A problem from the shape flags; throws BenchInputError naming the flag. */
export function makeProblem(o: { input: string; filters: number; kernel: string; stride: string; pad: string; transposed: boolean }): ConvProblem {
  const p: ConvProblem = {
    name: '',
    transposed: o.transposed,
    input: parseInput(o.input),
    filters: parseInts('--filters', o.filters, 1)[0],
    kernel: parseInts('--kernel', o.kernel, 3) as Triple,
    stride: parseInts('--stride', o.stride, 3) as Triple,
    pad: String(o.pad),
  };
  const [N, D, H, W, C] = p.input;
  const t = (a: Triple) => (a[0] === a[1] && a[1] === a[2] ? String(a[0]) : a.join('x'));
  p.name = `${p.transposed ? 'tconv' : 'conv'} ${D}x${H}x${W}x${C}>${p.filters} k${t(p.kernel)} s${t(p.stride)} ${/^\d/.test(p.pad) ? `p${p.pad}` : p.pad}`;
  geometry(p, N); // validates
  return p;
}

/** TF 'same' for one axis of a forward conv: out = ceil(in / s). */
function samePads(size: number, k: number, s: number): [number, number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max(0, (out - 1) * s + k - size);
  return [Math.floor(total / 2), total - Math.floor(total / 2), out];
}

/** The engine-level geometry of `p` at batch `n`; throws BenchInputError on impossible shapes. */
export function geometry(p: ConvProblem, n: number): ConvGeometry {
  const [, D, H, W, C] = p.input;
  const size: Triple = [D, H, W];
  const k = p.kernel, s = p.stride;
  let numeric: Triple | undefined;
  if (p.pad !== 'same' && p.pad !== 'valid') numeric = parseInts('--pad', p.pad, 3, 0) as Triple;
  const front = [0, 0, 0] as Triple, back = [0, 0, 0] as Triple, x = [0, 0, 0] as Triple, y = [0, 0, 0] as Triple;
  for (let i = 0; i < 3; i++) {
    if (numeric && numeric[i] >= k[i]) throw err('--pad', `${numeric[i]} must be smaller than the kernel (${k[i]})`);
    if (!p.transposed) {
      x[i] = size[i];
      if (p.pad === 'same') [front[i], back[i], y[i]] = samePads(size[i], k[i], s[i]);
      else {
        front[i] = back[i] = numeric ? numeric[i] : 0;
        if (size[i] + front[i] + back[i] < k[i])
          throw err('--kernel', `${k[i]} is larger than the padded --input (${size[i]} + ${front[i] + back[i]} padding along axis ${'DHW'[i]})`);
        y[i] = Math.floor((size[i] + front[i] + back[i] - k[i]) / s[i]) + 1;
      }
    } else {
      // Transposed: the layer's input is the conv's output y; x is the layer's output.
      y[i] = size[i];
      if (p.pad === 'same') {
        x[i] = size[i] * s[i];
        [front[i], back[i]] = samePads(x[i], k[i], s[i]);
      } else {
        front[i] = back[i] = numeric ? numeric[i] : 0;
        x[i] = (size[i] - 1) * s[i] + k[i] - 2 * front[i];
        if (x[i] < 1) throw err('--pad', `${front[i]} leaves no output along axis ${'DHW'[i]}`);
      }
    }
  }
  const g: ConvGeometry = { N: n, xSpatial: x, ySpatial: y, cx: p.transposed ? p.filters : C, ky: p.transposed ? C : p.filters, kernel: k, stride: s, padFront: front, padBack: back };
  if (front.some((v) => v > 63) || back.some((v) => v > 63)) throw err('--pad', 'padding above 63 is not supported');
  return g;
}

/** Dense multiply-adds of the underlying conv: N · output voxels · Ky · taps · Cx. */
export function denseMacs(g: ConvGeometry): number {
  const vox = g.ySpatial[0] * g.ySpatial[1] * g.ySpatial[2];
  return g.N * vox * g.ky * g.kernel[0] * g.kernel[1] * g.kernel[2] * g.cx;
}

export const denseFlops = (g: ConvGeometry) => 2 * denseMacs(g);

/** The engine op a layer direction runs, and its operands and attributes. */
export function engineCall(p: ConvProblem, g: ConvGeometry, d: Direction): { op: string; inputs: ['x' | 'dy', 'w' | 'dy']; attrs: Record<string, number[]> } {
  const own: Record<Direction, 'conv3d_fprop' | 'conv3d_dgrad' | 'conv3d_wgrad'> = p.transposed
    ? { fprop: 'conv3d_dgrad', dgrad: 'conv3d_fprop', wgrad: 'conv3d_wgrad' }
    : { fprop: 'conv3d_fprop', dgrad: 'conv3d_dgrad', wgrad: 'conv3d_wgrad' };
  const op = own[d];
  const base = { stride: [...g.stride], pad: [...g.padFront] };
  if (op === 'conv3d_fprop') return { op, inputs: ['x', 'w'], attrs: { ...base, pad_back: [...g.padBack] } };
  if (op === 'conv3d_dgrad') return { op, inputs: ['dy', 'w'], attrs: { ...base, in_shape: [...g.xSpatial] } };
  return { op, inputs: ['x', 'dy'], attrs: { ...base, ksize: [...g.kernel] } };
}

/** Tensor shapes of the underlying conv's operands. */
export function operandShapes(g: ConvGeometry): { x: number[]; w: number[]; dy: number[] } {
  return { x: [g.N, ...g.xSpatial, g.cx], w: [...g.kernel, g.cx, g.ky], dy: [g.N, ...g.ySpatial, g.ky] };
}

// The V-Net's distinct layer shapes at its 32³ input (spec §1.5; the three residual convs of a
// level share one shape). Names as the spec's table, without the residual index.
const vl = (name: string, size: number, cin: number, cout: number, kind: 'conv' | 'pool' | 'tconv'): ConvProblem => ({
  name,
  transposed: kind === 'tconv',
  input: [1, size, size, size, cin],
  filters: cout,
  kernel: kind === 'conv' ? [3, 3, 3] : [2, 2, 2],
  stride: kind === 'conv' ? [1, 1, 1] : [2, 2, 2],
  pad: kind === 'conv' ? 'same' : 'valid',
});

export const VNET_LAYERS: ConvProblem[] = [
  vl('in.conv', 32, 1, 16, 'conv'),
  vl('down1.pool', 32, 16, 32, 'pool'),
  vl('down1.res', 16, 32, 32, 'conv'),
  vl('down2.pool', 16, 32, 64, 'pool'),
  vl('down2.res', 8, 64, 64, 'conv'),
  vl('down3.pool', 8, 64, 128, 'pool'),
  vl('down3.res', 4, 128, 128, 'conv'),
  vl('up1.tconv', 4, 128, 64, 'tconv'),
  vl('up1.res', 8, 128, 128, 'conv'),
  vl('up2.tconv', 8, 128, 32, 'tconv'),
  vl('up2.res', 16, 64, 64, 'conv'),
  vl('out.tconv', 16, 64, 16, 'tconv'),
  vl('out.conv', 32, 16, 3, 'conv'),
];

/** `p` with batch `n` (the V-Net layers are listed at batch 1). */
