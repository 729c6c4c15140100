// Drives headless Chromium (Debian's package; playwright-core never downloads a browser)
// through the strokeseg worklist and viewer against a running `strokeseg serve`.
// Run by crates/strokeseg/tests/it/browser.rs, which starts the service, sends the study
// when this script prints READY (and answers SENT on stdin), and checks the RESULT line.
//
// Environment: STROKESEG_URL, STROKESEG_TOKEN (admin), STROKESEG_READ_TOKEN (role read),
// STROKESEG_ROWS (studies the worklist must show at the end), OUT_DIR (screenshots),
// CHROMIUM (default /usr/bin/chromium).
// stdout carries only the protocol lines; progress goes to stderr.
import { chromium } from 'playwright-core';
import readline from 'node:readline';
import fs from 'node:fs';
import path from 'node:path';

const base = process.env.STROKESEG_URL;
const token = process.env.STROKESEG_TOKEN;
const readToken = process.env.STROKESEG_READ_TOKEN;
const rowsWanted = Number(process.env.STROKESEG_ROWS || 0);
const out = process.env.OUT_DIR || '.';
const exe = process.env.CHROMIUM || '/usr/bin/chromium';
const log = (...a) => console.error('[browser]', ...a);
const result = { errors: [], urls: [] };
const seenUrls = new Set();
// Every URL the browser asked for, so the test can check that no patient data is in one.
// Every answer of 400 and above, as "STATUS METHOD PATH", for the test to check.
result.http_errors = [];
function watch(ctx) {
  ctx.on('request', (r) => { if (!seenUrls.has(r.url())) { seenUrls.add(r.url()); result.urls.push(r.url()); } });
  ctx.on('response', (r) => {
    if (r.status() >= 400) result.http_errors.push(`${r.status()} ${r.request().method()} ${new URL(r.url()).pathname}`);
  });
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const rl = readline.createInterface({ input: process.stdin });
const stdin = rl[Symbol.asyncIterator]();
async function waitFor(word) {
  const { value } = await stdin.next();
  check(value && value.trim() === word, `expected ${word} on stdin, got ${value}`);
  rl.close(); // an open stdin would keep node alive after the result
}

// Counts lesion-overlay pixels (the mask's red, blended over grey) in a PNG screenshot, by
// decoding it in the page itself (no PNG library needed here).
async function redPixels(page, png) {
  return page.evaluate(async (b64) => {
    const img = new Image();
    img.src = `data:image/png;base64,${b64}`;
    await img.decode();
    const c = document.createElement('canvas');
    c.width = img.width; c.height = img.height;
    const g = c.getContext('2d');
    g.drawImage(img, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] > 140 && d[i] > 2 * d[i + 1] && d[i] > 2 * d[i + 2]) n++;
    return n;
  }, png.toString('base64'));
}

async function signIn(page, tok) {
  await page.goto(`${base}/`);
  check(page.url() === `${base}/login`, `unauthenticated / goes to the sign-in page (at ${page.url()})`);
  await page.fill('#token', tok);
  await Promise.all([page.waitForURL(`${base}/`), page.click('#signin')]);
  await page.waitForSelector('body[data-loaded="1"]');
}

const browser = await chromium.launch({
  executablePath: exe,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
try {
  const ctx = await browser.newContext({ viewport: { width: 1500, height: 950 } });
  watch(ctx);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => result.errors.push(`pageerror: ${e}`));
  // HTTP refusals the test provokes show up as console messages; they are checked by status
  // in http_errors, so only other console errors count as page errors.
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) result.errors.push(`console: ${m.text()}`);
  });
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });

  // A wrong token is refused on the page.
  await page.goto(`${base}/`);
  await page.fill('#token', 'not-the-token-0000');
  await page.click('#signin');
  await page.waitForSelector('.err');
  result.wrong_token_refused = true;

  await signIn(page, token);
  const cookie = (await ctx.cookies()).find((c) => c.name === 'strokeseg_session');
  check(cookie && cookie.httpOnly && cookie.sameSite === 'Strict', 'session cookie is HttpOnly, SameSite=Strict');
  result.cookie = { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, expires_in_h: (cookie.expires - Date.now() / 1000) / 3600 };
  await page.waitForSelector('#live:not(.off)');
  const before = new Set(await page.$$eval('#worklist tbody tr', (r) => r.map((x) => x.dataset.job)));
  const navBefore = navigations;
  log(`signed in; ${before.size} rows; waiting for the study`);
  console.log('READY');
  await waitFor('SENT');

  // The new row appears and turns positive without a reload.
  const sentAt = Date.now();
  const seen = new Set();
  let job = null;
  for (;;) {
    check(Date.now() - sentAt < 600_000, `the study did not turn done within 600 s (statuses seen: ${[...seen]})`);
    const rows = await page.$$eval('#worklist tbody tr', (r) => r.map((x) => ({ id: x.dataset.job, status: x.dataset.status, call: x.dataset.call })));
    const mine = rows.find((r) => !before.has(r.id));
    if (mine) {
      job = mine.id;
      seen.add(mine.status);
      if (mine.status === 'done' || mine.status === 'failed') { result.final = mine; break; }
    }
    await page.waitForTimeout(150);
  }
  result.statuses_seen = [...seen];
  result.seconds_to_result = (Date.now() - sentAt) / 1000;
  result.reloads_while_waiting = navigations - navBefore;
  check(result.final.status === 'done', `job ${job} finished ${result.final.status}`);
  result.alert_shown = await page.isVisible(`#alerts .alert[data-job="${job}"]`);
  result.row_text = await page.$eval(`#worklist tbody tr[data-job="${job}"]`, (r) => r.innerText);
  await page.screenshot({ path: path.join(out, 'worklist.png') });
  if (result.alert_shown) {
    await page.click(`#alerts .alert[data-job="${job}"] button.ack`);
    await page.waitForSelector(`#alerts .alert[data-job="${job}"]`, { state: 'detached' });
    result.alert_acknowledged = true;
  }

  // A change without the CSRF header is refused, even with the cookie.
  result.ack_without_csrf = await page.evaluate(async (id) => (await fetch(`/jobs/${id}/ack`, { method: 'POST' })).status, job);

  // The study page and its viewer.
  const t0 = Date.now();
  await Promise.all([page.waitForURL(`${base}/studies/${job}`), page.click(`#worklist tbody tr[data-job="${job}"] a`)]);
  await page.waitForSelector('body[data-loaded="1"]', { timeout: 60_000 });
  result.viewer_open_ms = Date.now() - t0;
  result.viewer_ready_ms_in_page = await page.evaluate(() => window.strokesegViewerMs);
  const lesions = await page.$$eval('#lesions tbody tr[data-lesion]', (r) => r.map((x) => x.dataset.lesion));
  result.lesions_in_table = lesions.length;
  check(lesions.length > 0, 'the study page lists lesions');
  const report = await page.evaluate(async (id) => (await fetch(`/jobs/${id}/report.json`)).json(), job);
  // Jump to the second-largest lesion (the page opens on the first), then check where we are.
  const bySize = [...report.lesions].sort((a, b) => b.volume_ml - a.volume_ml);
  const target = bySize[Math.min(1, bySize.length - 1)];
  result.jump_to = { id: target.id, volume_ml: target.volume_ml, centroid_voxel: target.centroid_voxel };
  await page.click(`#lesions tbody tr[data-lesion="${target.id}"]`);
  await page.waitForTimeout(400);
  result.slice_after_jump = Number(await page.inputValue('#slice'));
  result.lesion_slice = Math.round(target.centroid_voxel[2]);
  // The crosshair sits on the lesion's centre (the study's own voxel indices).
  const at = (await page.getAttribute('#where', 'data-vox')).split(',').map(Number);
  result.crosshair_off_lesion_vox = Math.max(...at.map((x, i) => Math.abs(x - target.centroid_voxel[i])));
  const canvas = page.locator('#gl');
  const on = await canvas.screenshot();
  result.red_pixels_overlay_on = await redPixels(page, on);
  await page.screenshot({ path: path.join(out, 'viewer.png') });
  await page.click('#overlay');
  await page.waitForTimeout(300);
  result.red_pixels_overlay_off = await redPixels(page, await canvas.screenshot());
  await page.click('#overlay');
  // Window/level and the ADC image change what is drawn.
  await page.fill('#win', '20');
  await page.dispatchEvent('#win', 'input');
  await page.waitForTimeout(200);
  result.window_changes_image = !(await canvas.screenshot()).equals(on);
  if (report.study.inputs_used.includes('adc')) {
    await page.selectOption('#image', 'adc');
    await page.waitForTimeout(800);
    result.adc_shown = !(await canvas.screenshot()).equals(on);
  }
  result.key_images_loaded = await page.$eval('#keyimg', (i) => i.complete && i.naturalWidth > 0);
  for (const f of ['report.json', 'mask', 'seg']) {
    result[`download_${f}`] = await page.evaluate(async (u) => (await fetch(u)).status, `/jobs/${job}/${f}`);
  }

  // A reader may look but not re-run; an administrator may.
  const rctx = await browser.newContext();
  watch(rctx);
  const rpage = await rctx.newPage();
  await signIn(rpage, readToken);
  const post = (p, u) => p.evaluate(async (u) => {
    const s = await (await fetch('/session')).json();
    return (await fetch(u, { method: 'POST', headers: { 'X-CSRF-Token': s.csrf } })).status;
  }, u);
  result.reader_retry = await post(rpage, `/jobs/${job}/retry`);
  result.reader_ack = await post(rpage, `/jobs/${job}/ack`);
  await rctx.close();

  // Sign out: the page goes to sign-in, the old cookie is dead, the API refuses.
  await Promise.all([page.waitForURL(`${base}/login`), page.click('#logout')]);
  result.after_logout_jobs = (await ctx.request.get(`${base}/jobs`)).status();
  result.old_cookie_jobs = (await ctx.request.get(`${base}/jobs`, { headers: { Cookie: `strokeseg_session=${cookie.value}` } })).status();
  await page.goto(`${base}/studies/${job}`);
  result.after_logout_page = page.url();

  // The worklist with every study, timed from navigation to the rendered table.
  if (rowsWanted) {
    await signIn(page, token);
    const t1 = Date.now();
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-loaded="1"]');
    result.worklist_load_ms = Date.now() - t1;
    result.worklist_rows = await page.$$eval('#worklist tbody tr', (r) => r.length);
    // Filters: by call, then by status.
    const rowsNow = () => page.$$eval('#worklist tbody tr', (r) => r.map((x) => x.dataset.status + '/' + (x.dataset.call || '')));
    await page.selectOption('#f-call', 'infarct');
    result.filter_infarct = await rowsNow();
    await page.selectOption('#f-call', '');
    await page.selectOption('#f-status', 'ignored');
    result.filter_not_dwi = (await rowsNow()).length;
  }
} finally {
  await browser.close();
}
console.log(`RESULT ${JSON.stringify(result)}`);
process.exit(0);
