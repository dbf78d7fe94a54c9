// F16 weights (the shipped model): float -> half rounds to nearest, ties to even, with overflow to
// infinity and subnormals; half -> float is exact. Checked against hand-derived bit patterns and
// against the IEEE definition evaluated in float64 for every one of the 65,536 halves.
import { floatToHalf, halfToFloat } from '../../src/infer/half.js';

/** The value of half bits `h` from the IEEE 754 definition, in float64. */
function value(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 31, m = h & 1023;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * (1 + m / 1024) * 2 ** (e - 15);
}

test('known values', () => {
  const cases: [number, number][] = [[0, 0], [-0, 0x8000], [1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e9, 0x7c00], [-Infinity, 0xfc00],
    [2 ** -24, 0x0001], [2 ** -25, 0x0000], [3 * 2 ** -25, 0x0002], [2 ** -14, 0x0400], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0.1, 0x2e66]];
  const got = floatToHalf(Float32Array.from(cases.map((c) => c[0])));
  expect(Array.from(got)).toEqual(cases.map((c) => c[1]));
  expect(floatToHalf(Float32Array.of(NaN))[0] & 0x7fff).toBeGreaterThan(0x7c00);
});

test('every half widens exactly and rounds back to itself; floats round to the nearest half', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const wide = halfToFloat(all);
  const wrong: number[] = [];
  for (let h = 0; h < 65536; h++) {
    const v = value(h);
    if (Number.isNaN(v) ? !Number.isNaN(wide[h]) : !Object.is(wide[h], v)) wrong.push(h);
  }
  expect(wrong).toEqual([]);
  const finite = Array.from(all).filter((h) => (h & 0x7c00) !== 0x7c00);
  const back = floatToHalf(Float32Array.from(finite.map(value)));
  expect(Array.from(back)).toEqual(finite);
  // Random floats in range: no half is nearer than the one chosen (ties go to the even one).
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const xs = Float32Array.from({ length: 20000 }, () => (rnd() - 0.5) * 2 ** Math.floor(rnd() * 40 - 26));
  const hs = floatToHalf(xs);
  const farther = Array.from(xs).filter((x, i) => {
    const err = Math.abs(value(hs[i]) - x);
    return [hs[i] - 1, hs[i] + 1].some((n) => (n & 0x7c00) !== 0x7c00 && (n >> 15) === (hs[i] >> 15) && Math.abs(value(n) - x) < err);
  });
  expect(farther).toEqual([]);
});
