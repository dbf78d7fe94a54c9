// The training step as a CUDA Graph (--xla on a GPU). Forward, loss and backward are captured
// once and replayed with one launch per step; the optimizer (and, with AMP, the unscale and
// overflow check, and with several GPUs the NCCL all-reduce) runs eagerly after each replay,
// because its inputs change between steps (learning rate, loss scale) and its branch (skip on
// overflow) is decided on the host.
//
// What makes the replay valid: shapes are static; parameters, batch-norm buffers and optimizer
// slots are updated in place, so their addresses never change; the images, labels and the
// backward seed (the loss scale) live in tensors made before the capture and overwritten before
// each replay; the gradients and the loss the capture produced are kept, and each replay writes
// them again; everything else the step allocates comes from the capture's private pool
// (native/cuda/allocator.cc), which nothing else touches while the graph exists. The dice
// backward reads its upstream gradient on the device and backward() makes its seed there, so
// nothing in the step reads the device from the host.
//
// An eager step after a captured one (a batch of another size) must not touch the graph's
// gradient tensors: backward() would add into them and the next zeroGrad() would free them,
// after which every replay wrote gradients no parameter points at and training silently
// stopped. So the gradients are detached before an eager step and attached again before each
// replay, and a replay refuses to run when they are gone.
import * as E from '../engine/index.js';
import type { Tensor } from '../engine/index.js';
import type { VNet } from '../nn/index.js';
import { trainingLoss } from './loss.js';
import type { RunOptions } from '../config/options.js';

export class CapturedStep {
  private readonly x: Tensor;
  private readonly y: Tensor;
  private readonly seed: Tensor;
  private loss: Tensor | null = null;
  private graph: E.CapturedGraph | null = null;
  private grads: Tensor[] = [];
  private owners: Tensor[] = []; // the parameter each of `grads` belongs to

  private constructor(private readonly net: VNet, readonly batch: number) {
    const [D, H, W] = net.config.inputShape;
    const device = net.store.device;
    this.x = E.zeros([batch, D, H, W, net.inChannels], { device });
    this.y = E.zeros([batch, D, H, W], { device, dtype: 'i32' });
    this.seed = E.zeros([1], { device });
  }

  /**
   * Capture the step for `net` at batch `batch`. Run one eager step first (cuDNN plans, cuBLAS
   * and NCCL set-up happen there, outside the capture). Throws, with nothing left open, when the
   * capture fails; the caller then trains eagerly.
   */
  static capture(net: VNet, batch: number, o: Pick<RunOptions, 'loss'>): CapturedStep {
    const s = new CapturedStep(net, batch);
    try {
      s.record(o);
      return s;
    } catch (e) {
      s.dispose();
      throw e;
    }
  }

  private record(o: Pick<RunOptions, 'loss'>): void {
    this.net.store.zeroGrad();
    this.graph = E.captureGraph(() => E.tidy(() => {
      const loss = trainingLoss(this.net, this.x, this.y, o);
      E.backward(loss, this.seed);
      this.loss = E.keep(loss);
      // Kept inside the scope: the gradients are made in it, and its end would free them.
      for (const p of this.net.parameters.values()) if (p.grad) E.keep(p.grad);
    }));
    this.grads = [];
    this.owners = [];
    for (const p of this.net.parameters.values()) {
      if (!p.grad) continue;
      this.grads.push(p.grad);
      this.owners.push(p);
    }
  }

  /** Before an eager step: the parameters let go of the graph's gradients (not freed). */
  detach(): void {
    this.owners.forEach((p, i) => {
      if (p.grad === this.grads[i]) p.grad = null;
    });
  }

  /** The parameters point at the graph's gradients again (what each replay writes). */
  private attach(): void {
    const gone = this.grads.findIndex((g) => g.isDisposed);
    if (gone >= 0) throw new E.VnetError('the CUDA Graph\'s gradient tensors were freed by an eager step; the captured step cannot be replayed', 'VNET_E_INVALID_ARG');
    this.owners.forEach((p, i) => {
      if (p.grad !== this.grads[i]) {
        if (p.grad && !p.grad.isDisposed) p.grad.dispose();
        p.grad = this.grads[i];
      }
    });
  }

  /**
   * Replay on a batch: copy it in, set the seed (the loss scale, 1 without AMP), launch, and
   * return the loss. The parameters' .grad then hold this batch's gradients.
   */
  run(images: Float32Array, labels: Int32Array, gradScale = 1): number {
    if (!this.graph || !this.loss) throw new Error('CapturedStep used after dispose()');
    this.attach();
    E.writeInto(this.x, images);
    E.writeInto(this.y, labels);
    E.runOp('fill_const', [this.seed], { value: gradScale });
    this.graph.replay();
    return this.loss.item();
  }

  /** The gradients the graph writes, in parameter order (stable between replays). */
  get gradients(): readonly Tensor[] {
    return this.grads;
  }

  /** Destroy the graph and release its memory; the parameters' .grad are cleared. */
  dispose(): void {
    this.graph?.dispose();
    this.graph = null;
    this.net.store.zeroGrad();
    for (const g of this.grads) if (!g.isDisposed) g.dispose();
    this.grads = [];
    this.owners = [];
    this.loss?.dispose();
    this.loss = null;
    for (const t of [this.x, this.y, this.seed]) if (!t.isDisposed) t.dispose();
  }
}
