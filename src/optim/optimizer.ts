// Optimizers: slot tensors per parameter and one fused native step per parameter. State
// (slots and step) is named so checkpoints can save and restore it.
import * as E from '../engine/index.js';
import type { Tensor } from '../engine/index.js';

export interface Optimizer {
  readonly name: string;
  step(params: Map<string, Tensor>, lr?: number): void;
  /** Slot tensors by `<param>/<slot>` plus the step count. */
  state(): { step: number; slots: Map<string, Tensor> };
  load(state: { step: number; slots: Map<string, Tensor> }): void;
  dispose(): void;
}

abstract class SlotOptimizer implements Optimizer {
  abstract readonly name: string;
  protected slots = new Map<string, Tensor>();
  protected t = 0;
  protected abstract readonly slotInit: Record<string, number>;
  protected abstract run(w: Tensor, g: Tensor, slots: Tensor[], lr: number): void;
  constructor(protected lr: number) {}

  private slotsFor(name: string, w: Tensor): Tensor[] {
    return Object.entries(this.slotInit).map(([s, v]) => {
      const key = `${name}/${s}`;
      let t = this.slots.get(key);
      if (!t) {
        t = E.keep(E.fill(w.shape, v, w.device));
        this.slots.set(key, t);
      }
      return t;
    });
  }

  step(params: Map<string, Tensor>, lr = this.lr): void {
    this.t++;
    for (const [name, w] of params) {
      if (!w.grad || w.grad.isDisposed) continue;
      this.run(w, w.grad, this.slotsFor(name, w), lr);
    }
  }

  state() {
    return { step: this.t, slots: this.slots };
  }

  load(state: { step: number; slots: Map<string, Tensor> }): void {
    this.dispose();
    this.t = state.step;
    for (const [k, v] of state.slots) this.slots.set(k, E.keep(v));
  }

  dispose(): void {
    for (const t of this.slots.values()) t.dispose();
    this.slots.clear();
  }
}

/**
 * Centered RMSProp with TF1's semantics: ms starts at 1 (not 0), ε inside the square root,
 * mom = momentum·mom + lr·g/√(ms − mg² + ε), w −= mom.
 */
export class RMSProp extends SlotOptimizer {
  readonly name = 'rmsprop';
  protected readonly slotInit = { rms: 1, mg: 0, momentum: 0 };
  constructor(lr = 1e-4, private opts: { rho?: number; eps?: number; momentum?: number; centered?: boolean } = {}) {
    super(lr);
  }
  protected run(w: Tensor, g: Tensor, s: Tensor[], lr: number): void {
    E.runOp('rmsprop_step', [w, g, s[0], s[1], s[2]], {
      lr, rho: this.opts.rho ?? 0.9, eps: this.opts.eps ?? 1e-10, momentum: this.opts.momentum ?? 0, centered: this.opts.centered ?? true,
    });
  }
}

export class Adam extends SlotOptimizer {
  readonly name = 'adam';
  protected readonly slotInit = { m: 0, v: 0 };
  constructor(lr = 1e-3, private opts: { beta1?: number; beta2?: number; eps?: number } = {}) {
    super(lr);
  }
  protected run(w: Tensor, g: Tensor, s: Tensor[], lr: number): void {
    E.runOp('adam_step', [w, g, s[0], s[1]], { lr, beta1: this.opts.beta1 ?? 0.9, beta2: this.opts.beta2 ?? 0.999, eps: this.opts.eps ?? 1e-8, step: this.t });
  }
}

/**
 * PyTorch's SGD: g' = g + weightDecay·w, mom = momentum·mom + g', w −= lr·mom, or with Nesterov
 * momentum w −= lr·(g' + momentum·mom) (nnU-Net's optimiser: momentum 0.99, weight decay 3e-5).
 */
export class SGD extends SlotOptimizer {
  readonly name = 'sgd';
  protected readonly slotInit = { momentum: 0 };
  constructor(lr = 1e-2, private opts: SgdOptions = {}) {
    super(lr);
  }
  protected run(w: Tensor, g: Tensor, s: Tensor[], lr: number): void {
    const attrs: Record<string, number> = { lr, momentum: this.opts.momentum ?? 0.9 };
    // Only when asked, so plain SGD's op call stays as it was.
    if (this.opts.nesterov) attrs.nesterov = 1;
    if (this.opts.weightDecay) attrs.weight_decay = this.opts.weightDecay;
    E.runOp('sgd_step', [w, g, s[0]], attrs);
  }
}

export interface SgdOptions {
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

export function makeOptimizer(name: string, lr: number, momentum: number, sgd: Omit<SgdOptions, 'momentum'> = {}): Optimizer {
  switch (name) {
    case 'rmsprop': return new RMSProp(lr, { momentum });
    case 'adam': return new Adam(lr);
    case 'sgd': return new SGD(lr, { ...sgd, momentum });
    default: throw new Error(`--optimizer must be rmsprop, adam or sgd, got ${name}`);
  }
}
