// Memory scopes: every tensor made inside tidy() is disposed when it returns, except what it
// returns or what was kept. Tensors made outside any scope live until dispose() (or, as a
// backstop, until the garbage collector runs the native handle's finalizer).
import type { Tensor } from './tensor.js';

const stack: Set<Tensor>[] = [];

/** Registers a new tensor with the innermost scope (no-op outside tidy). */
export function track(t: Tensor): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Removes a tensor from every scope so that it outlives them. */
export function keep<T extends Tensor>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}



function collect(v: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (v === null || typeof v !== 'object' || seen.has(v)) return;
  seen.add(v);
  if ((v as { __isTensor?: boolean }).__isTensor) {
    out.add(v as Tensor);
    return;
  }
  if (Array.isArray(v)) for (const e of v) collect(e, out, seen);
  else if (Object.getPrototypeOf(v) === Object.prototype) for (const e of Object.values(v)) collect(e, out, seen);
}

// Disposes what a finished scope made, except what its result reaches (that moves outward).
function closeScope(scope: Set<Tensor>, result: unknown): void {
  const keepSet = new Set<Tensor>();
  collect(result, keepSet);
  for (const t of scope) {
    if (keepSet.has(t)) track(t);
    else t.dispose();
  }
}

/**
 * Runs fn and disposes every tensor it created, except those reachable from its result
 * (tensors, arrays and plain objects of them), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    stack.pop();
  }
  closeScope(scope, result);
  return result;
}

/** Async form of tidy for steps that await (data loading); same rules. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Tensor>();
  stack.push(scope);
  let result: T;
  try {
    result = await fn();
  } finally {
    const i = stack.lastIndexOf(scope);
    if (i >= 0) stack.splice(i, 1);
  }
  closeScope(scope, result);
  return result;
}
