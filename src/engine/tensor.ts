// Tensor: a handle to native storage with its shape, dtype and device, plus the autograd
// fields (requiresGrad, grad, and the tape node that made it).
import { native, type DType, type DeviceName, type Handle, type NativeTensor } from '../../bindings/native.js';
import { track } from './scope.js';
import type { TapeNode } from './tape.js';

export type { DType, DeviceName };

export class VnetError extends Error {
  constructor(message: string, readonly code: string) {
    super(message);
    this.name = 'VnetError';
  }
}

export class Tensor {
  readonly __isTensor = true;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: DeviceName;
  requiresGrad = false;
  grad: Tensor | null = null;
  /** The op that produced this tensor, when it was made with gradients on. */
  node: TapeNode | null = null;
  name?: string;
  private h: Handle | null;

  constructor(t: NativeTensor) {
    this.h = t.handle;
    this.shape = Object.freeze(t.shape.slice());
    this.dtype = t.dtype;
    this.device = t.device;
    track(this);
  }

  get handle(): Handle {
    if (!this.h) throw new VnetError(`tensor${this.name ? ` '${this.name}'` : ''} ${this.describe()} was disposed`, 'VNET_E_DISPOSED');
    return this.h;
  }

  get isDisposed(): boolean {
    return this.h === null;
  }

  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  get rank(): number {
    return this.shape.length;
  }

  describe(): string {
    return `${this.dtype}[${this.shape.join(',')}]@${this.device}`;
  }

  /** Frees the native storage now. Safe to call twice. */
  dispose(): void {
    if (this.h) native.dispose(this.h);
    this.h = null;
    this.node = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Copies the values to a typed array (f16 comes back as f32). Synchronises a GPU. */
  toArray(): Float32Array | Int32Array {
    // Checked by dtype, not instanceof: arrays made by the addon may come from another realm.
    if (this.dtype === 'f16') {
      const t = fromNative(native.run('cast', [this.handle], { dtype: 'f32' })[0]);
      try {
        return native.toArray(t.handle) as Float32Array;
      } finally {
        t.dispose();
      }
    }
    return native.toArray(this.handle) as Float32Array | Int32Array;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new VnetError(`item() needs a one-element tensor, got ${this.describe()}`, 'VNET_E_SHAPE');
    return this.toArray()[0];
  }

  to(device: DeviceName): Tensor {
    return fromNative(native.toDevice(this.handle, device));
  }
}

export function fromNative(t: NativeTensor): Tensor {
  return new Tensor(t);
}

function checkShape(shape: readonly number[], size: number): void {
  const n = shape.reduce((a, b) => a * b, 1);
  if (!shape.every((d) => Number.isInteger(d) && d >= 0))
    throw new VnetError(`shape [${shape.join(',')}] must hold non-negative integers`, 'VNET_E_INVALID_ARG');
  if (n !== size) throw new VnetError(`data has ${size} values but shape [${shape.join(',')}] needs ${n}`, 'VNET_E_SHAPE');
}

/** Makes a tensor from values (copied). */
export function tensor(
  data: Float32Array | Int32Array | number[],
  shape: readonly number[],
  opts: { dtype?: DType; device?: DeviceName; requiresGrad?: boolean } = {},
): Tensor {
  const dtype = opts.dtype ?? (data instanceof Int32Array ? 'i32' : 'f32');
  const device = opts.device ?? 'cpu';
  checkShape(shape, data.length);
  let t: Tensor;
  if (dtype === 'f16') {
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    const f32 = fromNative(native.fromArray(f, [...shape], 'f32', device));
    t = fromNative(native.run('cast', [f32.handle], { dtype: 'f16' })[0]);
    f32.dispose();
  } else {
    const arr = dtype === 'i32' ? (data instanceof Int32Array ? data : Int32Array.from(data)) : data instanceof Float32Array ? data : Float32Array.from(data);
    t = fromNative(native.fromArray(arr, [...shape], dtype, device));
  }
  t.requiresGrad = opts.requiresGrad ?? false;
  return t;
}

export function zeros(shape: readonly number[], opts: { dtype?: DType; device?: DeviceName } = {}): Tensor {
  checkShape(shape, shape.reduce((a, b) => a * b, 1));
  return fromNative(native.zeros([...shape], opts.dtype ?? 'f32', opts.device ?? 'cpu'));
}

/** Live tensors and bytes per device, as the engine counts them. */
export function memory(): ReturnType<typeof native.memory> {
  return native.memory();
}
