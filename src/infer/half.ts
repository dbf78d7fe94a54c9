// IEEE 754 half precision <-> single, for weights stored in F16 (the shipped model): half the
// bytes of F32, and a trained V-Net's weights lose no Dice to the rounding (see models/*/MODEL_CARD.md).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Rounds each value to the nearest half (ties to even); out of range becomes ±Infinity. */
export function floatToHalf(src: Float32Array): Uint16Array {
  const out = new Uint16Array(src.length);
  for (let i = 0; i < src.length; i++) {
    f32[0] = src[i];
    const x = u32[0];
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const man = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) h = 0x7c00 | (man ? 0x200 : 0); // Inf, NaN
    else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) h = 0x7c00; // overflow: Inf
      else if (e <= 0) {
        // Subnormal half (or zero): shift the mantissa with its implicit 1, round to nearest even.
        if (e < -10) h = 0;
        else {
          const m = man | 0x800000;
          const shift = 14 - e;
          const half = 1 << (shift - 1);
          const rest = m & ((1 << shift) - 1);
          h = m >>> shift;
          if (rest > half || (rest === half && h & 1)) h++;
        }
      } else {
        h = (e << 10) | (man >>> 13);
        const rest = man & 0x1fff;
        // A carry out of the mantissa correctly bumps the exponent (up to Inf).
        if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
      }
    }
    out[i] = sign | h;
  }
  return out;
}

/** The exact single-precision value of each half. */
export function halfToFloat(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const h = src[i];
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] = e === 0 ? sign * m * 2 ** -24 : e === 0x1f ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}
