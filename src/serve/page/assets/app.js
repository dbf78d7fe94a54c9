// The viewer page's script (plain ES module, no build step): a dropped NIfTI file is POSTed as is,
// a DICOM series (a folder, or several files) as multipart/form-data, to ./predict?format=json;
// the answer's mask is drawn over the image with NiiVue in three planes and 3D, with a table of
// per-label volumes and a download link. window.vnetViewer exposes the state for scripting.
/* global niivue */

// One colour per label value 1, 2, ... (the report uses the same, so a label looks the same everywhere).
const PALETTE = [[255, 127, 14], [31, 119, 180], [44, 160, 44], [214, 39, 40], [148, 103, 189], [140, 86, 75], [227, 119, 194], [23, 190, 207]];
const colour = (value) => PALETTE[(value - 1) % PALETTE.length];
const $ = (id) => document.getElementById(id);
const isNifti = (name) => /\.nii(\.gz)?$/i.test(name);
const state = { nv: null, result: null, busy: false };
window.vnetViewer = state;

function status(text, error = false) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', error);
}

async function viewer() {
  if (state.nv) return state.nv;
  // multiplanarShowRender 1 = always: the 3D rendering sits beside the three planes.
  const nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], multiplanarShowRender: 1, dragAndDropEnabled: false, show3Dcrosshair: true });
  await nv.attachTo('gl');
  nv.setSliceType(nv.sliceTypeMultiplanar);
  state.nv = nv;
  return nv;
}

function fromBase64(text) {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Every file under the dropped items (folders walked), with its path as name; dot files skipped. */
async function droppedFiles(dt) {
  // Entries must be taken before the first await: the DataTransfer empties afterwards.
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry && i.webkitGetAsEntry()).filter(Boolean);
  if (!entries.length) return [...dt.files];
  const out = [];
  const walk = async (entry, prefix) => {
    if (entry.name.startsWith('.')) return;
    if (entry.isFile) {
      const f = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push(new File([f], prefix + f.name));
    } else if (entry.isDirectory) {
      const reader = entry.createReader();
      for (;;) {
        const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
        if (!batch.length) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

async function segment(files) {
  files = files.filter((f) => !f.name.split('/').pop().startsWith('.'));
  if (!files.length) return status('Nothing to send: the selection holds no files.', true);
  if (state.busy) return status('Still working on the previous scan.', true);
  const nifti = files.length === 1 && isNifti(files[0].name);
  if (!nifti && files.some((f) => isNifti(f.name))) return status('Drop one NIfTI file, or the files of one DICOM series, not both.', true);
  state.busy = true;
  const t0 = performance.now();
  try {
    let body;
    const headers = {};
    if (nifti) {
      body = files[0];
      headers['Content-Type'] = 'application/octet-stream';
    } else {
      body = new FormData();
      for (const f of files) body.append('file', f, f.name);
    }
    status(`Segmenting ${nifti ? files[0].name : `a DICOM series of ${files.length} files`} on the server...`);
    const res = await fetch('predict?format=json', { method: 'POST', body, headers });
    const json = await res.json().catch(() => null);
    if (!res.ok || !json) throw new Error(json && json.error ? `${json.error} (${json.code})` : `the server answered ${res.status} ${res.statusText}`);
    const mask = fromBase64(json.mask_base64);
    const image = json.image_base64 ? fromBase64(json.image_base64) : new Uint8Array(await files[0].arrayBuffer());
    const stem = nifti ? files[0].name.replace(/\.nii(\.gz)?$/i, '') : 'dicom';
    state.result = json;
    $('result').hidden = false;
    await show(image, mask, json.labels);
    volumes(json.labels);
    const link = $('download');
    if (link.href.startsWith('blob:')) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([mask], { type: 'application/gzip' }));
    link.download = `${stem}_mask.nii.gz`;
    status(`Done in ${((performance.now() - t0) / 1000).toFixed(1)} s: ${json.shape.join(' x ')} voxels of ${json.spacing.map((s) => +s.toFixed(3)).join(' x ')} mm.`);
  } catch (e) {
    status(`Could not segment: ${e.message}`, true);
  } finally {
    state.busy = false;
  }
}

const gz = (b) => b[0] === 0x1f && b[1] === 0x8b;

async function show(image, mask, labels) {
  const nv = await viewer();
  const url = (b) => URL.createObjectURL(new Blob([b]));
  await nv.loadVolumes([
    { url: url(image), name: gz(image) ? 'image.nii.gz' : 'image.nii', colormap: 'gray' },
    { url: url(mask), name: 'mask.nii.gz', opacity: Number($('opacity').value) },
  ]);
  const top = Math.max(0, ...labels.map((l) => l.value));
  const lut = { R: [], G: [], B: [], A: [], I: [], labels: [] };
  for (let v = 0; v <= top; v++) {
    const l = labels.find((x) => x.value === v);
    const [r, g, b] = v > 0 && l ? colour(v) : [0, 0, 0];
    lut.R.push(r); lut.G.push(g); lut.B.push(b); lut.A.push(v > 0 && l ? 255 : 0); lut.I.push(v);
    lut.labels.push(l ? l.name : '');
  }
  nv.volumes[1].setColormapLabel(lut);
  nv.updateGLVolume();
}

function volumes(labels) {
  const body = $('volumes').tBodies[0];
  body.replaceChildren(...labels.filter((l) => l.value !== 0).map((l) => {
    const tr = document.createElement('tr');
    const name = document.createElement('td');
    const sw = document.createElement('span');
    sw.className = 'sw';
    sw.style.background = `rgb(${colour(l.value).join(',')})`;
    name.append(sw, `${l.value} ${l.name}`);
    const cells = [l.voxels.toLocaleString('en'), l.volume_mm3.toFixed(1), (l.volume_mm3 / 1000).toFixed(2)].map((t) => {
      const td = document.createElement('td');
      td.textContent = t;
      return td;
    });
    tr.append(name, ...cells);
    return tr;
  }));
}

const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', async (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  await segment(await droppedFiles(e.dataTransfer));
});
for (const id of ['file', 'files', 'folder']) $(id).addEventListener('change', (e) => segment([...e.target.files]));
$('opacity').addEventListener('input', (e) => { if (state.nv && state.nv.volumes[1]) state.nv.setOpacity(1, Number(e.target.value)); });
fetch('info').then((r) => (r.ok ? r.json() : null)).then((i) => { if (i && i.model_dir) $('model').textContent = `model: ${i.model_dir}`; }).catch(() => {});
