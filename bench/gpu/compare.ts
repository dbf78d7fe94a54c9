// check.sh's compare step: V-Net training throughput against the PyTorch peer at the same batch
// and precision, read from results.jsonl so far. Prints the table and one "@@ {json}" line.
// Usage: node compare.js results.jsonl
import fs from 'node:fs';

interface Row { step: string; status: string; data: Record<string, unknown>[] }
interface Peer { mode: string; batch: number; amp: boolean; tf32: boolean; samples_per_s: number; peer: string }

const rows = fs.readFileSync(process.argv[2], 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Row);
const peers = rows.filter((r) => r.step === 'peer').flatMap((r) => r.data as unknown as Peer[]).filter((p) => p.mode === 'train');
// Our step, its batch, and the peer configuration it matches.
const ours: [string, number, boolean, boolean][] = [];
for (const r of rows) {
  const m = /^train_(fp32|tf32|amp)(?:_b(\d+))?$/.exec(r.step);
  if (!m || r.status !== 'ok') continue;
  const batch = Number(m[2] ?? process.argv[3] ?? 8);
  ours.push([r.step, batch, m[1] === 'amp', m[1] !== 'fp32']);
}
const out: { config: string; vnet: number; torch: number | null; ratio: number | null }[] = [];
for (const [step, batch, amp, tf32] of ours) {
  const v = Number(rows.find((r) => r.step === step)?.data.find((d) => 'images_per_s' in d)?.images_per_s);
  const p = peers.find((x) => x.batch === batch && x.amp === amp && x.tf32 === tf32);
  out.push({ config: `${step} batch ${batch}`, vnet: v, torch: p ? p.samples_per_s : null, ratio: p ? Math.round((v / p.samples_per_s) * 1000) / 1000 : null });
}
for (const o of out) console.log(`${o.config.padEnd(22)} vnet-native ${o.vnet.toFixed(1).padStart(8)} img/s   PyTorch ${o.torch === null ? '       -' : o.torch.toFixed(1).padStart(8)} img/s   ratio ${o.ratio ?? '-'}`);
if (!peers.length) console.log('no PyTorch peer numbers in results.jsonl');
console.log(`@@ ${JSON.stringify({ peer: peers[0]?.peer ?? null, rows: out })}`);
