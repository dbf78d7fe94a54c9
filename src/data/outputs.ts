// The one output-path guard: before a run writes anything, each output folder or file is checked
// so that nothing is written over an input, through a link, or into a special filesystem
// (/proc, /sys, /dev, where a recursive mkdir never returns). Writers then create folders with
// makeDirs, which fails with a clear error instead of looping.
import fs from 'node:fs';
import path from 'node:path';
import { DataError } from './errors.js';

/**
 * statfs magic numbers of pseudo filesystems that hold no user files. devtmpfs is not among
 * them: it shares its magic with every tmpfs (/tmp, /dev/shm), so it is told apart by the
 * filesystem type the mount table names.
 */
const SPECIAL_FS = new Map<number, string>([[0x9fa0, 'procfs'], [0x62656572, 'sysfs'], [0x64626720, 'debugfs'], [0x27e0eb, 'cgroupfs'], [0x63677270, 'cgroup2fs']]);
const SPECIAL_TYPES = new Set(['proc', 'sysfs', 'devtmpfs', 'debugfs', 'tracefs', 'securityfs', 'cgroup', 'cgroup2', 'devpts', 'mqueue', 'bpf', 'pstore', 'configfs', 'fusectl', 'binfmt_misc', 'hugetlbfs']);
const SPECIAL_ROOTS = ['/proc', '/sys', '/dev'];

/** The filesystem type of the mount holding `real` (Linux: /proc/self/mountinfo), or undefined. */
function mountType(real: string): string | undefined {
  let table: string;
  try { table = fs.readFileSync('/proc/self/mountinfo', 'utf8'); } catch { return undefined; }
  let best: { point: string; type: string } | undefined;
  for (const line of table.split('\n')) {
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    const type = right?.split(' ')[0];
    if (point && type && inside(real, point) && (!best || point.length >= best.point.length)) best = { point, type };
  }
  return best?.type;
}

/** `p` with symlinks resolved as far as it exists (the missing tail appended as given). */
export function realPathSoFar(p: string): string {
  let head = path.resolve(p);
  const tail: string[] = [];
  for (;;) {
    try {
      return path.join(fs.realpathSync(head), ...tail.reverse());
    } catch {
      const up = path.dirname(head);
      if (up === head) return path.resolve(p);
      tail.push(path.basename(head));
      head = up;
    }
  }
}

function nearestExisting(p: string): string {
  let d = p;
  while (!fs.existsSync(d)) {
    const up = path.dirname(d);
    if (up === d) break;
    d = up;
  }
  return d;
}

const inside = (p: string, root: string) => p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);

function refuse(what: string, target: string, why: string): never {
  throw new DataError('VNET_E_UNSAFE_OUTPUT', `${what}: ${why}`, target);
}

function checkFilesystem(what: string, target: string, real: string): void {
  const type = mountType(nearestExisting(real));
  if (type && SPECIAL_TYPES.has(type)) refuse(what, target, `${real} is on ${type}, a system pseudo-filesystem; choose a normal folder`);
  // A tmpfs mounted under /dev (/dev/shm) holds files like any other; the rest of /dev does not.
  const tmpfsInDev = type === 'tmpfs' && inside(real, '/dev');
  if (!tmpfsInDev && SPECIAL_ROOTS.some((r) => inside(real, r))) refuse(what, target, `${real} is on a system pseudo-filesystem; choose a normal folder`);
  try {
    const type = Number(fs.statfsSync(nearestExisting(real)).type);
    const name = SPECIAL_FS.get(type);
    if (name) refuse(what, target, `${real} is on ${name}; choose a normal folder`);
  } catch (e) {
    if (e instanceof DataError) throw e; // statfs unavailable: the path check above stands
  }
}

/**
 * Checks an output folder: not on a pseudo filesystem, a folder if it exists, and not the
 * folder of any input file (writing there would put outputs over, or among, the inputs).
 * `what` names the flag in errors, e.g. "--output_dir".
 */
export function checkOutputDir(dir: string, inputs: readonly string[], what: string): void {
  const real = realPathSoFar(dir);
  checkFilesystem(what, dir, real);
  if (fs.existsSync(real) && !fs.statSync(real).isDirectory()) refuse(what, dir, 'exists and is not a folder');
  for (const f of inputs) {
    const folder = realPathSoFar(path.dirname(f));
    if (folder === real) refuse(what, dir, `is the folder of the input ${f}; outputs would overwrite or mix with the inputs`);
  }
}

/**
 * Checks an output file: not on a pseudo filesystem, not a link, not a folder, not one of the
 * inputs, and, if it exists, one that `mayReplace` accepts (e.g. an earlier log of ours).
 */
export function checkOutputFile(file: string, inputs: readonly string[], what: string, mayReplace?: (existing: string) => boolean): void {
  const abs = path.resolve(file);
  checkFilesystem(what, file, realPathSoFar(abs));
  let st: fs.Stats | undefined;
  try { st = fs.lstatSync(abs); } catch { st = undefined; }
  if (st?.isSymbolicLink()) refuse(what, file, 'is a symbolic link; outputs are never written through links');
  if (st && !st.isFile()) refuse(what, file, 'exists and is not a regular file');
  const real = realPathSoFar(abs);
  for (const f of inputs) if (realPathSoFar(f) === real) refuse(what, file, 'is one of the inputs');
  if (st && mayReplace && !mayReplace(abs)) refuse(what, file, 'exists and was not written by vnet-native; it is left as it is');
}

/** mkdir -p that fails with a clear error (a recursive mkdir under /proc never returns). */
export function makeDirs(dir: string): void {
  const abs = path.resolve(dir);
  const missing: string[] = [];
  for (let d = abs; !fs.existsSync(d); d = path.dirname(d)) {
    missing.push(d);
    if (path.dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new DataError('VNET_E_UNSAFE_OUTPUT', `cannot create the folder: ${(e as Error).message}`, d);
    }
  }
  if (!fs.statSync(abs).isDirectory()) throw new DataError('VNET_E_UNSAFE_OUTPUT', 'exists and is not a folder', abs);
}
