// One small, fast, seeded generator (xoshiro128**, seeded through splitmix32) for every random
// draw of the data pipeline: split shuffle, epoch shuffle and flips. Its whole state is four
// 32-bit words, saved and restored as JSON so a resumed run continues the same stream.

/** Serialisable generator state. */
export interface RngState {
  algorithm: 'xoshiro128**';
  s: [number, number, number, number];
}

function splitmix32(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (x + 0x9e3779b9) >>> 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Seeded xoshiro128** generator. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seed with any integer (up to 2^53, the high bits are folded in), or restore a saved state. */
  constructor(seed: number | RngState = 0) {
    if (typeof seed === 'object') {
      if (seed.algorithm !== 'xoshiro128**' || seed.s.length !== 4) throw new TypeError('Rng: not a xoshiro128** state');
      [this.s0, this.s1, this.s2, this.s3] = seed.s.map((v) => v >>> 0);
      if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) throw new TypeError('Rng: all-zero state');
      return;
    }
    if (!Number.isSafeInteger(seed)) throw new TypeError(`Rng: seed must be a safe integer, got ${seed}`);
    const hi = Math.floor(seed / 0x100000000);
    const sm = splitmix32((seed >>> 0) ^ Math.imul(hi, 0x27d4eb2d));
    this.s0 = sm(); this.s1 = sm(); this.s2 = sm(); this.s3 = sm();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next 32-bit unsigned integer. */
  nextU32(): number {
    const r = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return r;
  }

  /** Uniform float in [0, 1) with 32 bits of randomness. */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** Uniform integer in [0, n), unbiased (rejection sampling), for 1 <= n <= 2^32. */
  int(n: number): number {
    if (!(n >= 1 && n <= 4294967296)) throw new RangeError(`Rng.int: n = ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    let v: number;
    do v = this.nextU32(); while (v >= limit);
    return v % n;
  }

  /** True with probability p. */
  bool(p = 0.5): boolean {
    return this.float() < p;
  }

  /** Fisher-Yates shuffle in place; returns `a`. */
  shuffle<T>(a: T[]): T[] {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i];
      a[i] = a[j];
      a[j] = t;
    }
    return a;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }

  /** A copy of the state, JSON-safe. */
  state(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0] };
  }

  /** Replace the state with a saved one. */
  setState(st: RngState): void {
    const r = new Rng(st);
    [this.s0, this.s1, this.s2, this.s3] = [r.s0, r.s1, r.s2, r.s3];
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
