// Whether the prebuilt addon shipped in prebuilds/<platform>-<arch>/ fits this machine (operating
// system, CPU architecture, C library and its version, N-API). Used by the loader and the install
// script; it loads nothing itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ADDON_FILE = 'vnet_native.node';

/** prebuilds/<platform>-<arch>/manifest.json, written by scripts/prepack.js next to the addon. */
export interface PrebuiltManifest {
  platform: string;
  arch: string;
  libc: 'glibc' | 'musl' | 'none';
  /** Newest GLIBC_x.y symbol version the addon needs. */
  glibcMin?: string;
  /** Newest GLIBCXX_x.y (libstdc++) it needs: checked by loading it, the loader reports a miss. */
  glibcxxMin?: string;
  napi: number;
  /** The ISA the addon as a whole targets; faster kernels are picked at run time. */
  isaBaseline: string;
  isaPaths: string[];
  cudaCompiled: boolean;
  cudaArchs: string[];
  builtWith: { node: string; compiler?: string; nvcc?: string };
}

export type PrebuiltCheck =
  | { ok: true; path: string; manifest: PrebuiltManifest }
  | { ok: false; path: string; reason: string };

export const prebuiltDir = (root: string, platform: string = process.platform, arch: string = process.arch): string =>
  join(root, 'prebuilds', `${platform}-${arch}`);

/** This process's C library: glibc with its version, musl, or none (not Linux). */
export function hostLibc(): { libc: 'glibc' | 'musl' | 'none'; version?: string } {
  if (process.platform !== 'linux') return { libc: 'none' };
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  const v = header?.glibcVersionRuntime;
  return v ? { libc: 'glibc', version: v } : { libc: 'musl' };
}

/** -1, 0, 1 for dotted versions ("2.34" < "2.36"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export interface Host {
  platform: string;
  arch: string;
  libc: 'glibc' | 'musl' | 'none';
  libcVersion?: string;
  napi: number;
}

export function currentHost(): Host {
  const l = hostLibc();
  return { platform: process.platform, arch: process.arch, libc: l.libc, libcVersion: l.version, napi: Number(process.versions.napi) };
}

/** Why a manifest does not fit a host, or undefined when it does. */
export function mismatch(m: PrebuiltManifest, h: Host): string | undefined {
  if (m.platform !== h.platform || m.arch !== h.arch) return `it is for ${m.platform}-${m.arch}, this machine is ${h.platform}-${h.arch}`;
  if (m.libc !== h.libc) return `it is for ${m.libc}, this system's C library is ${h.libc}`;
  if (m.libc === 'glibc' && m.glibcMin && (!h.libcVersion || compareVersions(h.libcVersion, m.glibcMin) < 0))
    return `it needs glibc >= ${m.glibcMin}, this system has ${h.libcVersion ?? 'an unknown version'}`;
  if (!(h.napi >= m.napi)) return `it needs N-API ${m.napi}, this Node (${process.version}) has N-API ${h.napi}`;
  return undefined;
}

/** Looks in <root>/prebuilds/<platform>-<arch>/ and says whether its addon can load here. */
export function checkPrebuilt(root: string, host: Host = currentHost()): PrebuiltCheck {
  const dir = prebuiltDir(root, host.platform, host.arch);
  const path = join(dir, ADDON_FILE);
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(path) || !existsSync(manifestPath)) return { ok: false, path, reason: `no prebuilt addon for ${host.platform}-${host.arch} in this package` };
  let manifest: PrebuiltManifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PrebuiltManifest;
  } catch (e) {
    return { ok: false, path, reason: `unreadable ${manifestPath}: ${(e as Error).message}` };
  }
  const why = mismatch(manifest, host);
  return why ? { ok: false, path, reason: `the prebuilt addon does not fit: ${why}` } : { ok: true, path, manifest };
}
