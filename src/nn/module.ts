// Modules own named parameters (trainable) and buffers (running statistics); the names are
// what checkpoints store and what gradient checks compare.
import { keep, runOp, type DeviceName, type Tensor } from '../engine/index.js';

export class ParamStore {
  readonly params = new Map<string, Tensor>();
  readonly buffers = new Map<string, Tensor>();

  addParam(name: string, t: Tensor): Tensor {
    if (this.params.has(name) || this.buffers.has(name)) throw new Error(`duplicate parameter name ${name}`);
    t.requiresGrad = true;
    t.name = name;
    this.params.set(name, keep(t));
    return t;
  }

  addBuffer(name: string, t: Tensor): Tensor {
    if (this.params.has(name) || this.buffers.has(name)) throw new Error(`duplicate buffer name ${name}`);
    t.name = name;
    this.buffers.set(name, keep(t));
    return t;
  }

  /** Every stored tensor, parameters first, in creation order. */
  entries(): [string, Tensor][] {
    return [...this.params.entries(), ...this.buffers.entries()];
  }

  /**
   * Overwrites a stored tensor's values with `t`'s (same shape), keeping the tensor object, so
   * that every module holding it sees the new values. `t` is disposed.
   */
  assign(name: string, t: Tensor): void {
    const old = this.params.get(name) ?? this.buffers.get(name);
    if (!old) throw new Error(`no parameter or buffer named ${name}`);
    if (old.shape.join(',') !== t.shape.join(',')) throw new Error(`${name}: shape [${t.shape}] does not match [${old.shape}]`);
    runOp('fill_const', [old], { value: 0 });
    runOp('axpy', [t, old], { alpha: 1 });
    t.dispose();
  }

  numTrainable(): number {
    let n = 0;
    for (const t of this.params.values()) n += t.size;
    return n;
  }

  zeroGrad(): void {
    for (const t of this.params.values()) {
      if (t.grad && !t.grad.isDisposed) t.grad.dispose();
      t.grad = null;
    }
  }

  dispose(): void {
    for (const [, t] of this.entries()) t.dispose();
    this.params.clear();
    this.buffers.clear();
  }

  get device(): DeviceName {
    const first = this.params.values().next().value as Tensor | undefined;
    return first ? first.device : 'cpu';
  }
}
