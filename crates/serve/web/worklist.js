// The worklist: every study as it arrives, live (server-sent events), newest first, with an
// alert for each positive result this user has not acknowledged.
'use strict';

const W = {
  jobs: [],
  alerted: new Set(),   // positives already announced on this page (sound once per job)
  sound: localStorage.getItem('strokeseg.sound') === 'on',
  audio: null,
  loading: null,
  again: false,
};

function filters() {
  return {
    status: document.getElementById('f-status').value,
    call: document.getElementById('f-call').value,
  };
}

function largestText(s) {
  const l = s && s.largest;
  if (!l) return '';
  const where = [l.structure, l.territory].filter(Boolean).join(', ') || l.region || '';
  return `${Number(l.volume_ml).toFixed(2)} mL${where ? ' · ' + where : ''}`;
}

function minutesToResult(job) {
  if (job.status !== 'done' && job.status !== 'failed') return '';
  return ((job.updated_at - job.last_instance_at) / 60).toFixed(1);
}

function row(job) {
  const s = job.summary;
  const tr = document.createElement('tr');
  tr.dataset.job = job.id;
  tr.dataset.status = job.status;
  if (s) tr.dataset.call = s.call;
  const open = () => { location.href = `/studies/${job.id}`; };

  const who = SS.el('td');
  const a = SS.el('a', SS.personName(job.patient.patient_name) || '(no name)');
  a.href = `/studies/${job.id}`;
  who.append(a, SS.el('div', job.patient.patient_id ? `ID ${job.patient.patient_id}` : '', 'small'));

  const study = SS.el('td', job.patient.study_description || '');
  study.append(SS.el('div', [job.patient.accession && `Acc ${job.patient.accession}`, `job ${job.id}`].filter(Boolean).join(' · '), 'small'));

  const status = SS.el('td', SS.statusText(job), `status status-${job.status}`);
  if (job.error) status.append(SS.el('div', job.error, 'small'));
  if (job.status === 'failed' && SS.session.role === 'admin') {
    const b = SS.el('button', 'Retry');
    b.addEventListener('click', async (ev) => {
      ev.stopPropagation();
      const r = await SS.post(`/jobs/${job.id}/retry`);
      if (!r.ok) alert(`Retry refused: ${(await r.json()).error}`);
    });
    status.append(b);
  }

  const call = SS.el('td', SS.callText(s), s ? `call call-${s.call}` : 'call');
  if (s) call.append(SS.el('div', SS.operatingPoint(s), 'small'));

  const vol = SS.el('td', s ? `${Number(s.total_lesion_volume_ml).toFixed(2)} mL` : '', 'volume');
  if (s) vol.append(SS.el('div', `${s.lesions} lesion${s.lesions === 1 ? '' : 's'}`, 'small'));

  tr.append(who, study, SS.el('td', SS.time(job.created_at)), status, call, vol,
    SS.el('td', largestText(s)), SS.el('td', minutesToResult(job)));
  tr.className = 'clickable';
  tr.addEventListener('click', (ev) => { if (ev.target.tagName !== 'A' && ev.target.tagName !== 'BUTTON') open(); });
  return tr;
}

function beep() {
  if (!W.sound) return;
  try {
    W.audio = W.audio || new AudioContext();
    const t = W.audio.currentTime;
    for (const at of [0, 0.35]) {
      const o = W.audio.createOscillator();
      const g = W.audio.createGain();
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.25, t + at);
      g.gain.exponentialRampToValueAtTime(0.001, t + at + 0.3);
      o.connect(g).connect(W.audio.destination);
      o.start(t + at);
      o.stop(t + at + 0.3);
    }
  } catch (e) { /* no audio device: the visible alert stays */ }
}

function renderAlerts() {
  const box = document.getElementById('alerts');
  box.replaceChildren();
  let fresh = false;
  for (const job of W.jobs) {
    const s = job.summary;
    if (job.status !== 'done' || !s || s.call !== 'infarct' || job.acknowledged) continue;
    if (!W.alerted.has(job.id)) { W.alerted.add(job.id); fresh = true; }
    const d = SS.el('div', null, 'alert');
    d.dataset.job = job.id;
    d.append(SS.el('span', `POSITIVE: ${SS.personName(job.patient.patient_name) || 'job ' + job.id}`));
    d.append(SS.el('span', `${Number(s.total_lesion_volume_ml).toFixed(2)} mL${largestText(s) ? ' · largest ' + largestText(s) : ''}`));
    d.append(SS.el('span', null, 'spacer'));
    const open = SS.el('button', 'Open', 'primary');
    open.addEventListener('click', () => { location.href = `/studies/${job.id}`; });
    const ack = SS.el('button', 'Acknowledge');
    ack.className = 'ack';
    ack.addEventListener('click', async () => {
      const r = await SS.post(`/jobs/${job.id}/ack`);
      if (r.ok) load();
    });
    d.append(open, ack);
    box.append(d);
  }
  if (fresh) beep();
}

function render() {
  const f = filters();
  const body = document.querySelector('#worklist tbody');
  const shown = W.jobs.filter((j) => (!f.status || j.status === f.status)
    && (!f.call || (j.summary && j.summary.call === f.call)));
  body.replaceChildren(...shown.map(row));
  document.getElementById('count').textContent = `${shown.length} of ${W.jobs.length} studies`;
  renderAlerts();
  document.body.dataset.loaded = '1';
}

// One load at a time; a change during a load triggers one more.
async function load() {
  if (W.loading) { W.again = true; return; }
  W.loading = (async () => {
    try {
      W.jobs = await SS.getJSON('/jobs');
      render();
    } finally {
      W.loading = null;
      if (W.again) { W.again = false; load(); }
    }
  })();
}

function live() {
  const badge = document.getElementById('live');
  const es = new EventSource('/events');
  es.addEventListener('jobs', () => load());
  es.onopen = () => { badge.textContent = '\u25CF live'; badge.className = 'live'; };
  es.onerror = async () => {
    badge.textContent = '\u25CF reconnecting'; badge.className = 'live off';
    // Signed out or expired: go to the sign-in page instead of retrying forever.
    const r = await fetch('/session', { credentials: 'same-origin' });
    if (r.status === 401) { es.close(); location.href = '/login'; }
  };
}

(async () => {
  await SS.init();
  const sb = document.getElementById('sound');
  const showSound = () => { sb.textContent = `Sound: ${W.sound ? 'on' : 'off'}`; };
  showSound();
  sb.addEventListener('click', () => {
    W.sound = !W.sound;
    localStorage.setItem('strokeseg.sound', W.sound ? 'on' : 'off');
    if (W.sound) { W.audio = W.audio || new AudioContext(); W.audio.resume(); }
    showSound();
  });
  for (const id of ['f-status', 'f-call']) document.getElementById(id).addEventListener('change', render);
  await load();
  live();
})();
