// check.sh's doctor step: the addon's info() and doctor() with the bundled Node, written to a
// file and summarised in one "@@ {json}" line (GPU, driver, and each library's version and path).
// Usage: node doctor_step.js OUT.json LABEL   (a second run adds the first one's file, if given
// as VNET_DOCTOR_FIRST, under "search" so doctor.json holds both).
import fs from 'node:fs';
import { native } from '../../bindings/native.js';

interface Lib { found: boolean; path?: string; version?: string; error?: string; tried?: string[]; preloaded?: { path: string; version?: string }[] }

const [file, label = 'used'] = process.argv.slice(2);
const info = native.info();
let doc: Record<string, unknown>;
try {
  doc = JSON.parse(native.doctor()) as Record<string, unknown>;
} catch (e) {
  doc = { error: e instanceof Error ? e.message : String(e) };
}
const all = { label, info, doctor: doc } as Record<string, unknown>;
const first = process.env.VNET_DOCTOR_FIRST;
if (first) try { all.search = JSON.parse(fs.readFileSync(first, 'utf8')); } catch { all.search = { unreadable: first }; }
if (file) fs.writeFileSync(file, JSON.stringify(all, null, 1) + '\n');

/** Each library in a few words: version and path, or why it is missing (its last real failure). */
function libs(d: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of ['cudnn', 'cublas', 'nccl', 'nvrtc']) {
    const l = d[name] as Lib | undefined;
    if (!l) out[name] = 'absent';
    else if (l.found) out[name] = `${l.version ?? '?'} ${l.path ?? ''}`;
    else {
      const real = (l.tried ?? []).filter((t) => t.startsWith('/') && !/\(no such (file|folder)\)$/.test(t));
      out[name] = `MISSING (${l.tried?.length ?? 0} tried${real.length ? `; last failure: ${real[real.length - 1].slice(0, 200)}` : ', none present'})`;
    }
  }
  return out;
}

const gpus = (doc.gpus as { name: string; computeCapability: string; totalBytes: number }[] | undefined) ?? [];
const summary: Record<string, unknown> = {
  gpu: gpus[0] ? `${gpus[0].name} cc${gpus[0].computeCapability} ${(gpus[0].totalBytes / 2 ** 30).toFixed(0)} GiB` : `none (${String(doc.reason ?? info.cudaUnavailableReason ?? '?')})`,
  driver: doc.driver, runtime: doc.runtime, ...libs(doc),
  preloaded: ((doc.cudnn as Lib | undefined)?.preloaded ?? []).map((p) => `${p.path.split('/').pop()}${p.version ? ` ${p.version}` : ''}`),
  cudaCompiled: info.cudaCompiled, archs: info.cudaArchs, addon: process.env.VNET_ADDON ?? 'build/Release',
};
if (all.search) summary.search = libs((all.search as { doctor?: Record<string, unknown> }).doctor ?? {});
console.log(`${label}: ${JSON.stringify(all.doctor, null, 1).slice(0, 6000)}`);
// The search-only run is kept in the file; the run the later steps use is the summary.
if (label !== 'search') console.log(`@@ ${JSON.stringify(summary)}`);
