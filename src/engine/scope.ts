// Memory scopes: every tensor made inside tidy() is disposed when it returns, except what it
// returns or what was kept. Tensors made outside any scope live until dispose() (or, as a
// backstop, until the garbage collector runs the native handle's finalizer). The current scope
// follows the async context (AsyncLocalStorage), not a global stack: two tidyAsync calls that
// interleave each collect their own tensors, and a result moves to the scope that enclosed its
// own tidy, so one cannot dispose the other's.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Tensor } from './tensor.js';

interface Scope { tensors: Set<Tensor>; parent?: Scope }

const current = new AsyncLocalStorage<Scope>();
/** The scope each tracked tensor belongs to (so keep() finds it from any context). */
const owner = new WeakMap<Tensor, Scope>();

function adopt(scope: Scope | undefined, t: Tensor): void {
  if (!scope) return void owner.delete(t);
  scope.tensors.add(t);
  owner.set(t, scope);
}

/** Registers a new tensor with the innermost scope of this async context (no-op outside tidy). */
export function track(t: Tensor): void {
  adopt(current.getStore(), t);
}

/** Removes a tensor from its scope so that it outlives every scope. */
export function keep<T extends Tensor>(t: T): T {
  owner.get(t)?.tensors.delete(t);
  owner.delete(t);
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
function closeScope(scope: Scope, result: unknown): void {
  const keepSet = new Set<Tensor>();
  collect(result, keepSet);
  for (const t of scope.tensors) {
    if (keepSet.has(t)) adopt(scope.parent, t);
    else { owner.delete(t); t.dispose(); }
  }
  scope.tensors.clear();
}

/**
 * Runs fn and disposes every tensor it created, except those reachable from its result
 * (tensors, arrays and plain objects of them), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: new Set(), parent: current.getStore() };
  const result = current.run(scope, fn);
  closeScope(scope, result);
  return result;
}

/** Async form of tidy for steps that await (data loading); same rules. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope: Scope = { tensors: new Set(), parent: current.getStore() };
  const result = await current.run(scope, fn);
  closeScope(scope, result);
  return result;
}
