// strokeseg pages: the signed-in user, the CSRF token, fetch helpers and formatting.
// Everything received is put on the page with textContent, never as HTML: patient names and
// study descriptions come from DICOM headers sent by any modality.
'use strict';

const SS = {
  session: null,

  // Reads who is signed in; sends the browser to the sign-in page when nobody is.
  async init() {
    const r = await fetch('/session', { credentials: 'same-origin' });
    if (r.status === 401) { location.href = '/login'; throw new Error('signed out'); }
    this.session = await r.json();
    const who = document.getElementById('who');
    if (who) who.textContent = `${this.session.user} (${this.session.role})`;
    const out = document.getElementById('logout');
    if (out) out.addEventListener('click', () => this.logout());
    return this.session;
  },

  async getJSON(url) {
    const r = await fetch(url, { credentials: 'same-origin' });
    if (r.status === 401) { location.href = '/login'; throw new Error('signed out'); }
    if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
    return r.json();
  },

  // State changes carry the session's CSRF token.
  async post(url) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': (this.session && this.session.csrf) || '' },
    });
  },

  async logout() {
    await this.post('/logout');
    location.href = '/login';
  },

  el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  },

  // DICOM person name "Family^Given^Middle" as "Family, Given Middle".
  personName(pn) {
    if (!pn) return '';
    const [family, given, middle] = pn.split('=')[0].split('^');
    return [family, [given, middle].filter(Boolean).join(' ')].filter(Boolean).join(', ');
  },

  time(unix) {
    if (!unix) return '';
    const d = new Date(unix * 1000);
    return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
  },

  statusText(job) {
    return { ignored: 'not DWI' }[job.status] || job.status;
  },

  callText(summary) {
    if (!summary) return '';
    return { infarct: 'INFARCT', no_infarct: 'no infarct', uncalibrated: 'uncalibrated' }[summary.call] || summary.call;
  },

  operatingPoint(summary) {
    const op = summary && summary.operating_point;
    if (!op) return '';
    return `${op.name}: score ${Number(summary.score).toFixed(2)} vs ${Number(op.threshold).toFixed(2)}`;
  },

  shareText(s) {
    if (!s) return '';
    const side = s.side ? ` ${s.side[0].toUpperCase()}` : '';
    return `${s.name}${side}`;
  },
};
