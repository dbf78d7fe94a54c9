// The one training step of every configuration: forward and backward (replayed from a CUDA
// Graph under --xla on a GPU, eager otherwise), then the communicator averages the gradients
// and the loss over the ranks (nothing to do for one process), then the optimizer update at the
// step's learning rate (with AMP: unscaled first, skipped on overflow).
import * as E from '../engine/index.js';
import type { VNet } from '../nn/index.js';
import type { LossScaler, makeOptimizer } from '../optim/index.js';
import { LocalCommunicator, type Communicator } from './communicator.js';
import { trainingLoss } from './loss.js';
import { CapturedStep } from './captured-step.js';
import type { LogSink } from './log.js';
import type { RunOptions } from '../config/options.js';

type Optimizer = ReturnType<typeof makeOptimizer>;

export interface StepOptions extends Pick<RunOptions, 'loss'> {
  scaler?: LossScaler;
  /** --xla on a GPU: capture forward and backward at this batch size after one eager step */
  graph?: { batch: number; log: LogSink };
}

export class TrainingStep {
  private readonly params: E.Tensor[];
  private captured?: CapturedStep;
  private eagerSteps = 0;
  private graphFailed = false;

  constructor(private readonly net: VNet, private readonly opt: Optimizer, private readonly comm: Communicator, private readonly o: StepOptions) {
    this.params = [...net.parameters.values()];
  }

  /** One step on a batch of `n` samples at learning rate `lr`; returns the loss (mean over ranks). */
  async run(images: Float32Array, labels: Int32Array, n: number, lr: number): Promise<number> {
    const graph = this.graphFor(n);
    const loss = graph ? graph.run(images, labels, this.seed()) : this.eager(images, labels, n);
    const mean = await this.comm.allReduceGrads(this.params, loss);
    const { scaler } = this.o;
    E.tidy(() => {
      if (!scaler || scaler.update(scaler.unscale(this.net.parameters))) this.opt.step(this.net.parameters, lr);
    });
    // The graph keeps its gradient tensors (each replay writes them); eager ones are freed.
    if (!graph) this.net.store.zeroGrad();
    return mean;
  }

  dispose(): void {
    this.captured?.dispose();
    this.captured = undefined;
  }

  private seed(): number {
    return this.o.scaler ? this.o.scaler.scale : 1;
  }

  /** Forward, loss and backward; the gradients stay in the parameters' .grad. */
  private eager(images: Float32Array, labels: Int32Array, n: number): number {
    this.captured?.detach(); // a captured step's gradients are not this step's to add into or free
    const [D, H, W] = this.net.config.inputShape;
    const device = this.net.store.device;
    return E.tidy(() => {
      const x = E.tensor(images, [n, D, H, W, this.net.inChannels], { device });
      const y = E.tensor(labels, [n, D, H, W], { device });
      const loss = trainingLoss(this.net, x, y, this.o, labels);
      const value = loss.item();
      E.backward(loss, this.seed());
      for (const p of this.params) if (p.grad) E.keep(p.grad);
      return value;
    });
  }

  /** The captured step for a batch of `n`, once one eager step has run; undefined: run eagerly. */
  private graphFor(n: number): CapturedStep | undefined {
    const g = this.o.graph;
    if (!g || this.graphFailed || n !== g.batch) return undefined;
    if (!this.captured) {
      if (this.eagerSteps++ < 1) return undefined;
      try {
        this.captured = CapturedStep.capture(this.net, n, this.o);
        g.log.info('--xla: the training step is captured as a CUDA Graph and replayed');
      } catch (e) {
        this.graphFailed = true;
        g.log.info(`--xla: CUDA Graph capture failed (${e instanceof Error ? e.message : String(e)}); training eagerly`);
        return undefined;
      }
    }
    return this.captured;
  }
}

/**
 * One optimisation step of one process on a batch (the library's entry point); returns the
 * loss. With a loss scaler (AMP) the backward pass is scaled and a step whose gradients
 * overflow is skipped.
 */
export function trainStep(net: VNet, opt: Optimizer, images: Float32Array, labels: Int32Array, n: number, o: Pick<RunOptions, 'loss'> & { lr: number }, scaler?: LossScaler): Promise<number> {
  return new TrainingStep(net, opt, new LocalCommunicator(), { loss: o.loss, scaler }).run(images, labels, n, o.lr);
}
