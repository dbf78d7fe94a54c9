// Dynamic loss scaling for mixed precision: the loss is scaled before backward so small fp16
// gradients do not flush to zero; gradients are unscaled and checked before the step. On
// inf/NaN the step is skipped and the scale halved; after `growthInterval` finite steps it doubles.
import * as E from '../engine/index.js';
import type { Tensor } from '../engine/index.js';

export interface LossScalerState {
  scale: number;
  goodSteps: number;
}

export class LossScaler {
  scale: number;
  goodSteps: number;
  /** Steps skipped because of overflow, since construction. */
  skipped = 0;

  constructor(readonly opts: { initScale?: number; growthInterval?: number; minScale?: number } = {}, state?: LossScalerState) {
    this.scale = state?.scale ?? opts.initScale ?? 2 ** 15;
    this.goodSteps = state?.goodSteps ?? 0;
  }

  /**
   * Unscales every parameter's gradient in place and reports whether any value is not finite
   * (one read of the device, whatever the number of parameters).
   */
  unscale(params: Map<string, Tensor>): boolean {
    return E.tidy(() => {
      let acc: Tensor | null = null;
      for (const p of params.values()) {
        if (!p.grad || p.grad.isDisposed) continue;
        const flag = E.runOp('amp_unscale', [p.grad], { inv_scale: 1 / this.scale })[0];
        if (acc) E.runOp('axpy', [flag, acc], { alpha: 1 });
        else acc = flag;
      }
      return acc ? acc.item() !== 0 : false;
    });
  }

  /** Updates the scale after a step; returns whether the optimizer step should run. */
  update(foundInf: boolean): boolean {
    if (foundInf) {
      this.scale = Math.max(this.opts.minScale ?? 1, this.scale / 2);
      this.goodSteps = 0;
      this.skipped++;
      return false;
    }
    if (++this.goodSteps >= (this.opts.growthInterval ?? 2000)) {
      this.scale *= 2;
      this.goodSteps = 0;
    }
    return true;
  }

  state(): LossScalerState {
    return { scale: this.scale, goodSteps: this.goodSteps };
  }
}
