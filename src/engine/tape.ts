// The define-by-run tape: ops record a node on their output when gradients are on and an input
// needs one; backward() walks the nodes in reverse topological order.
import { Tensor, VnetError } from './tensor.js';

export interface TapeNode {
  op: string;
  inputs: Tensor[];
  /** Gradients for each input, given the output's gradient (null where none is needed). */
  backward: (grad: Tensor) => (Tensor | null)[];
}

let gradDepth = 0;

export function isGradEnabled(): boolean {
  return gradDepth === 0;
}

/** Runs fn with the tape off: nothing it does is recorded. */
export function noGrad<T>(fn: () => T): T {
  gradDepth++;
  try {
    return fn();
  } finally {
    gradDepth--;
  }
}

/** Attaches a node to `out` when any input needs a gradient. */
export function record(out: Tensor, op: string, inputs: Tensor[], backward: TapeNode['backward']): Tensor {
  if (gradDepth === 0 && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { op, inputs, backward };
  }
  return out;
}

function topoOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: V-Nets are deep enough that recursion depth is not a worry, but graphs of
  // long training loops built by users might be.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const ins = t.node ? t.node.inputs : [];
    if (i < ins.length) {
      top[1]++;
      const c = ins[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Back-propagates from `root` (seeded with `grad`, default ones for a scalar) and accumulates
 * into `.grad` of every leaf tensor that requires a gradient. Intermediate gradients are
 * disposed as soon as they have been used; the tape nodes are released.
 */
export function backward(root: Tensor, grad: Tensor, addFn: (a: Tensor, b: Tensor) => Tensor): void {
  if (!root.requiresGrad) throw new VnetError('backward() on a tensor that does not require a gradient', 'VNET_E_INVALID_ARG');
  const grads = new Map<Tensor, Tensor>([[root, grad]]);
  for (const t of topoOrder(root)) {
    const g = grads.get(t);
    if (!g) continue;
    grads.delete(t);
    const node = t.node;
    if (!node) {
      // A leaf: accumulate into .grad (a disposed leftover from an earlier scope counts as none).
      if (t.grad && !t.grad.isDisposed) {
        const sum = noGrad(() => addFn(t.grad!, g));
        t.grad.dispose();
        if (g !== grad) g.dispose();
        t.grad = sum;
      } else {
        t.grad = g;
      }
      continue;
    }
    const gin = noGrad(() => node.backward(g));
    if (g !== grad) g.dispose();
    node.inputs.forEach((inp, i) => {
      const gi = gin[i];
      if (!gi) return;
      if (!inp.requiresGrad) {
        gi.dispose();
        return;
      }
      const prev = grads.get(inp);
      if (prev) {
        grads.set(inp, noGrad(() => addFn(prev, gi)));
        prev.dispose();
        gi.dispose();
      } else {
        grads.set(inp, gi);
      }
    });
    t.node = null;
  }
}
