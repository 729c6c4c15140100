// One study: NiiVue viewer of the DWI or ADC with the lesion mask, the lesion table (click to
// go to a lesion), key images, downloads. The job id is the only thing in the URL.
'use strict';

const S = {
  id: Number(location.pathname.split('/').pop()),
  nv: null,
  report: null,
  job: null,
  image: 'dwi',
  base: null,       // robust range of the image shown: [min, max]
};

const MASK = { colormap: 'red', opacity: 0.6, cal_min: 0.5, cal_max: 1 };

function url(file) { return `/jobs/${S.id}/${file}`; }

function overlayOpacity() {
  return document.getElementById('overlay').checked ? Number(document.getElementById('opacity').value) : 0;
}

// Voxel indices here are the study's own (as in report.json: i, j, k of the NIfTI the service
// wrote); NiiVue's own "vox" are of its RAS-reoriented copy, so positions go through mm.
function affine() { return S.nv.volumes[0].hdr.affine; }

function voxToMM(v) {
  const A = affine();
  return [0, 1, 2].map((r) => A[r][0] * v[0] + A[r][1] * v[1] + A[r][2] * v[2] + A[r][3]);
}

function mmToVox(mm) {
  const A = affine();
  const [a, b, c] = [A[0], A[1], A[2]];
  const d = [mm[0] - a[3], mm[1] - b[3], mm[2] - c[3]];
  const det = a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0]) + a[2] * (b[0] * c[1] - b[1] * c[0]);
  const inv = [
    [b[1] * c[2] - b[2] * c[1], a[2] * c[1] - a[1] * c[2], a[1] * b[2] - a[2] * b[1]],
    [b[2] * c[0] - b[0] * c[2], a[0] * c[2] - a[2] * c[0], a[2] * b[0] - a[0] * b[2]],
    [b[0] * c[1] - b[1] * c[0], a[1] * c[0] - a[0] * c[1], a[0] * b[1] - a[1] * b[0]],
  ];
  return inv.map((r) => (r[0] * d[0] + r[1] * d[1] + r[2] * d[2]) / det);
}

// The crosshair's voxel in the study's own grid.
function vox() {
  return mmToVox(S.nv.frac2mm(S.nv.scene.crosshairPos, 0)).map(Math.round);
}

function dims() { return S.nv.volumes[0].hdr.dims; }

function applyWindow() {
  const v = S.nv.volumes[0];
  if (!v || !S.base) return;
  const [lo, hi] = S.base;
  const width = (hi - lo) * Number(document.getElementById('win').value) / 100;
  const centre = lo + (hi - lo) * Number(document.getElementById('lev').value) / 100;
  v.cal_min = centre - width / 2;
  v.cal_max = centre + width / 2;
  S.nv.updateGLVolume();
}

function syncSlice() {
  const v = vox();
  const where = document.getElementById('where');
  document.getElementById('slice').value = v[2];
  where.dataset.vox = v.join(',');
  where.textContent = `slice ${v[2] + 1} of ${dims()[3]} · voxel ${v.join(', ')}`;
}

function goToVoxel(v) {
  S.nv.scene.crosshairPos = S.nv.mm2frac(voxToMM(v), 0);
  S.nv.drawScene();
  syncSlice();
}

async function loadImages() {
  const keep = S.nv.volumes.length ? S.nv.scene.crosshairPos.slice() : null;
  const vols = [{ url: url(`${S.image}.nii.gz`), colormap: 'gray' }];
  vols.push({ url: url('lesion_mask.nii.gz'), ...MASK, opacity: overlayOpacity() });
  await S.nv.loadVolumes(vols);
  const v = S.nv.volumes[0];
  S.base = [v.robust_min ?? v.cal_min, v.robust_max ?? v.cal_max];
  applyWindow();
  const slice = document.getElementById('slice');
  slice.max = dims()[3] - 1;
  if (keep) { S.nv.scene.crosshairPos = keep; S.nv.drawScene(); }
  syncSlice();
}

function head(job, report) {
  const h = document.getElementById('head');
  const p = job.patient;
  const s = job.summary;
  const item = (label, value, cls) => {
    const d = SS.el('div');
    d.append(SS.el('span', label, 'small'), SS.el('b', value, cls));
    return d;
  };
  h.replaceChildren(
    item('Patient', `${SS.personName(p.patient_name) || '(no name)'}${p.patient_id ? ' · ID ' + p.patient_id : ''}`),
    item('Study', [p.study_description, p.study_date, p.accession && `Acc ${p.accession}`].filter(Boolean).join(' · ') || `job ${job.id}`),
    item('Call', s ? SS.callText(s) : SS.statusText(job), s ? `call-${s.call}` : ''),
    item('Infarct volume', report ? `${report.total_lesion_volume_ml.toFixed(2)} mL in ${report.lesions.length} lesion${report.lesions.length === 1 ? '' : 's'}` : ''),
    item('Location', report && report.location ? report.location.summary.text : ''),
  );
  document.getElementById('title').textContent = `Study · job ${job.id}`;
  if (s) h.append(item('Operating point', SS.operatingPoint(s)));
}

function lesionTable(report) {
  const body = document.querySelector('#lesions tbody');
  const where = new Map(((report.location && report.location.lesions) || []).map((l) => [l.id, l]));
  body.replaceChildren(...report.lesions.map((l) => {
    const loc = where.get(l.id);
    const tr = document.createElement('tr');
    tr.dataset.lesion = l.id;
    tr.append(SS.el('td', l.id), SS.el('td', `${l.volume_ml.toFixed(2)} mL`),
      SS.el('td', loc ? SS.shareText(loc.structures[0]) : ''),
      SS.el('td', loc ? SS.shareText(loc.territories[0]) : ''),
      SS.el('td', l.region), SS.el('td', l.score.toFixed(2)));
    tr.addEventListener('click', () => {
      for (const r of body.children) r.classList.toggle('active', r === tr);
      goToVoxel(l.centroid_voxel.map(Math.round));
    });
    return tr;
  }));
  if (!report.lesions.length) {
    const tr = document.createElement('tr');
    const td = SS.el('td', 'No lesion found.');
    td.colSpan = 6;
    tr.append(td);
    body.append(tr);
  }
}

function downloads(report) {
  const d = document.getElementById('downloads');
  const link = (file, text) => { const a = SS.el('a', text); a.href = url(file); a.download = ''; return a; };
  d.replaceChildren(link('report.json', 'Report (JSON)'), link('mask', 'Lesion mask (NIfTI)'));
  if (report.files.dicom) d.append(link('seg', 'DICOM SEG'));
  const m = report.model;
  document.getElementById('model').textContent = `Model ${m.name}${m.trained_on_synthetic_data_only ? ' (trained on synthetic data only)' : ''}; lesion threshold ${m.lesion_threshold}. Research use only.`;
}

function controls() {
  const $ = (id) => document.getElementById(id);
  const setOverlay = () => { if (S.nv.volumes.length > 1) S.nv.setOpacity(1, overlayOpacity()); };
  $('overlay').addEventListener('change', setOverlay);
  $('opacity').addEventListener('input', setOverlay);
  $('win').addEventListener('input', applyWindow);
  $('lev').addEventListener('input', applyWindow);
  $('image').addEventListener('change', async () => { S.image = $('image').value; await loadImages(); });
  $('slice').addEventListener('input', () => { const v = vox(); v[2] = Number($('slice').value); goToVoxel(v); });
  document.addEventListener('keydown', (e) => {
    if (e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    if (e.key === 'o' || e.key === 'O') { $('overlay').checked = !$('overlay').checked; setOverlay(); }
    if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      const v = vox();
      v[2] = Math.max(0, Math.min(dims()[3] - 1, v[2] + (e.key === 'ArrowUp' ? 1 : -1)));
      goToVoxel(v);
    }
  });
}

(async () => {
  const t0 = performance.now();
  await SS.init();
  S.job = await SS.getJSON(`/jobs/${S.id}`);
  if (S.job.status !== 'done') {
    head(S.job, null);
    document.getElementById('where').textContent = S.job.error || `This study is ${SS.statusText(S.job)}; there are no results to show.`;
    document.body.dataset.loaded = '1';
    return;
  }
  S.report = await SS.getJSON(url('report.json'));
  head(S.job, S.report);
  const adc = S.report.study.inputs_used.includes('adc');
  if (!adc) document.querySelector('#image option[value=adc]').disabled = true;
  S.nv = new niivue.Niivue({
    backColor: [0, 0, 0, 1],
    crosshairColor: [0.1, 0.75, 1, 0.45],
    crosshairWidth: 1,
    show3Dcrosshair: false,
    isRadiologicalConvention: true,
    isOrientationTextVisible: true,
  });
  await S.nv.attachTo('gl');
  S.nv.setSliceType(S.nv.sliceTypeAxial);
  S.nv.onLocationChange = () => syncSlice();
  await loadImages();
  lesionTable(S.report);
  downloads(S.report);
  controls();
  if (S.report.lesions.length) goToVoxel(S.report.lesions[0].centroid_voxel.map(Math.round));
  const img = document.getElementById('keyimg');
  img.src = url('key_images.png');
  window.strokesegViewerMs = performance.now() - t0;
  document.body.dataset.loaded = '1';
})();
