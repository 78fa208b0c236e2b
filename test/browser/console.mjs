// SPDX-License-Identifier: Apache-2.0
// Browser tests of the manager's console: playwright-core drives Debian's chromium
// (headless, never a downloaded browser) against a real `dragonfly manager` that each test
// starts on its own 127.0.3.x address with a temp data dir, and stops by PID.
//
//   node test/browser/console.mjs [name-filter]     the tests; prints a check-style summary
//   SHOTS=dir node test/browser/console.mjs --shots  screenshots of the main pages only
//
// Env: DF_BIN (the binary, default ./dragonfly), CHROMIUM (default /usr/bin/chromium),
// OUT (where a failing test leaves its screenshot, default test/browser/out).
import {chromium} from 'playwright-core';
import {spawn} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';

const BIN = path.resolve(process.env.DF_BIN || './dragonfly');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OUT = path.resolve(process.env.OUT || 'test/browser/out');
const PORT = 18080;
const TEST_MS = 60000; // one test, at most
const ROOT_PW = 'dragonfly';
const XSS = '<img src=x onerror=window.__xss=1>';

// ---- the manager ----

let nextHost = 10;

// A manager on its own address: REST on PORT, manager.v2 RPC on PORT + 1 (m.rpc); extra:
// more flags.
async function startManager(extra = []) {
	const host = `127.0.3.${nextHost++}`;
	const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'df-console-'));
	const log = fs.openSync(path.join(dir, 'manager.log'), 'w');
	const proc = spawn(BIN, ['manager', '--listen', `${host}:${PORT}`, '--rpc-listen', `${host}:${PORT + 1}`,
		'--data-dir', path.join(dir, 'data'), '--auth-password-iterations', '1000', ...extra], {stdio: ['ignore', log, log]});
	fs.closeSync(log);
	const base = `http://${host}:${PORT}`;
	const m = {proc, dir, base, host, rpc: `${host}:${PORT + 1}`, log: path.join(dir, 'manager.log')};
	if (await waitHttp(proc, `${base}/healthy`, r => r.ok)) return m;
	stopManager(m);
	throw new Error(`manager on ${base} did not start: ${fs.readFileSync(m.log, 'utf8').slice(-500)}`);
}

// Poll url until ok(response) or proc exits (10 s at most): whether it answered.
async function waitHttp(proc, url, ok) {
	for (let i = 0; i < 100; i++) {
		if (proc.exitCode !== null) return false;
		try {
			if (ok(await fetch(url))) return true;
		} catch (e) {
			// not listening yet
		}
		await sleep(100);
	}
	return false;
}

function stopManager(m) {
	if (m.proc.exitCode === null) process.kill(m.proc.pid, 'SIGKILL');
	fs.rmSync(m.dir, {recursive: true, force: true});
}

// ---- the other processes of a real cluster (each test's own, killed by PID at its end) ----

// Addresses of those processes: 127.0.3.100 and up (the managers have 10 and up).
let nextAux = 100;
const auxHost = () => `127.0.3.${nextAux++}`;

// Start argv[0] with argv as name in t's temp dir, its output in <name>.log there; with
// ready, the process is given --ready-file and the call waits for it (15 s at most).
async function startProc(t, name, argv, ready = true) {
	const dir = t.tmp();
	const logPath = path.join(dir, `${name}.log`), readyPath = path.join(dir, `${name}.ready`);
	const log = fs.openSync(logPath, 'w');
	// run in that dir: nothing of the checkout (console/) at hand
	const proc = spawn(argv[0], [...argv.slice(1), ...(ready ? ['--ready-file', readyPath] : [])], {cwd: dir, stdio: ['ignore', log, log]});
	fs.closeSync(log);
	const p = {name, proc, log: logPath, ready: readyPath};
	t.procs.push(p);
	for (let i = 0; ready && i < 150 && !fs.existsSync(readyPath); i++) {
		assert(proc.exitCode === null, `${name} exited (${proc.exitCode}): ${fs.readFileSync(logPath, 'utf8').slice(-400)}`);
		await sleep(100);
	}
	assert(!ready || fs.existsSync(readyPath), `${name} not ready after 15 s`);
	return p;
}

// SIGKILL by PID, and wait (5 s at most) for the exit.
async function killProc(p) {
	if (p.proc.exitCode !== null || p.proc.signalCode !== null) return;
	const gone = new Promise(r => p.proc.once('exit', r));
	process.kill(p.proc.pid, 'SIGKILL');
	await Promise.race([gone, sleep(5000)]);
}

const sleep = ms => new Promise(r => setTimeout(r, ms));

// A REST call outside the browser: {status, body}.
async function rest(m, method, p, {auth, body, headers = {}} = {}) {
	const h = {...headers};
	if (auth) h.Authorization = `Bearer ${auth}`;
	if (body !== undefined) h['Content-Type'] = 'application/json';
	const r = await fetch(m.base + p, {method, headers: h, body: body === undefined ? undefined : JSON.stringify(body)});
	const text = await r.text();
	let json = null;
	try {
		json = text ? JSON.parse(text) : null;
	} catch (e) {
		json = null;
	}
	return {status: r.status, body: json, text, headers: r.headers};
}

async function apiToken(m, name, password) {
	const r = await rest(m, 'POST', '/api/v1/users/signin', {body: {name, password}});
	assert(r.status === 200, `sign-in of ${name}: ${r.status} ${r.text}`);
	return r.body.token;
}

async function createCluster(m, token, name, bio = '', scopes = {}) {
	const r = await rest(m, 'POST', '/api/v1/clusters', {auth: token, body: {name, bio, scopes,
		scheduler_cluster_config: {candidate_parent_limit: 4, filter_parent_limit: 40, job_rate_limit: 10},
		seed_peer_cluster_config: {load_limit: 2000}, peer_cluster_config: {load_limit: 200}}});
	assert(r.status === 200, `create cluster ${name}: ${r.status} ${r.text}`);
	return r.body;
}

// Debian's docker-registry on its own address with Basic auth (user it, password it-secret):
// {base, auth}. The bcrypt hash is test/integration/it_preheat.c's.
const REG_USER = 'it', REG_PW = 'it-secret';

async function startRegistry(t) {
	const bin = '/usr/bin/docker-registry';
	assert(fs.existsSync(bin), 'docker-registry is needed (scripts/install-deps.sh)');
	const dir = t.tmp(), addr = `${auxHost()}:${PORT + 10}`;
	fs.writeFileSync(path.join(dir, 'htpasswd'), 'it:$2b$04$4L4OXZjcd8R.va.YiSkl9OFMq3S8wVAOche8E2kiKOJf.n.Bt.S8K\n');
	fs.writeFileSync(path.join(dir, 'registry.yml'), `version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: ${dir}/data\n` +
		`http:\n  addr: ${addr}\nauth:\n  htpasswd:\n    realm: it\n    path: ${dir}/htpasswd\n`);
	const p = await startProc(t, 'registry', [bin, 'serve', path.join(dir, 'registry.yml')], false);
	const base = `http://${addr}`;
	// any answer: it says 401 to everyone without credentials
	assert(await waitHttp(p.proc, `${base}/v2/`, r => r.status === 401), `docker-registry on ${addr} did not answer`);
	return {base, addr, auth: `Basic ${Buffer.from(`${REG_USER}:${REG_PW}`).toString('base64')}`};
}

// Push repo:tag, a linux/amd64 OCI image of n gzip layers of random bytes, through the
// registry API (what `docker push` does); the digests of its config and layers.
async function pushImage(reg, repo, tag, n) {
	const put = async (bytes, type) => {
		const digest = `sha256:${crypto.createHash('sha256').update(bytes).digest('hex')}`;
		const start = await fetch(`${reg.base}/v2/${repo}/blobs/uploads/`, {method: 'POST', headers: {Authorization: reg.auth}});
		assert(start.status === 202, `blob upload: ${start.status}`);
		const loc = new URL(start.headers.get('location'), reg.base);
		loc.searchParams.set('digest', digest);
		const done = await fetch(loc, {method: 'PUT', headers: {Authorization: reg.auth, 'Content-Type': 'application/octet-stream'}, body: bytes});
		assert(done.status === 201, `blob ${digest}: ${done.status}`);
		return {mediaType: type, digest, size: bytes.length};
	};
	const layers = [];
	for (let i = 1; i <= n; i++) layers.push(await put(zlib.gzipSync(crypto.randomBytes(i * 300000 + 1000)), 'application/vnd.oci.image.layer.v1.tar+gzip'));
	const config = await put(Buffer.from(JSON.stringify({architecture: 'amd64', os: 'linux', rootfs: {type: 'layers', diff_ids: []}})),
		'application/vnd.oci.image.config.v1+json');
	const mt = 'application/vnd.oci.image.manifest.v1+json';
	const r = await fetch(`${reg.base}/v2/${repo}/manifests/${tag}`, {method: 'PUT', headers: {Authorization: reg.auth, 'Content-Type': mt},
		body: JSON.stringify({schemaVersion: 2, mediaType: mt, config, layers})});
	assert(r.status === 201, `manifest ${repo}:${tag}: ${r.status} ${await r.text()}`);
	return [config, ...layers].map(b => b.digest);
}

// The text of a row of a table (selector) that holds text, once there.
async function rowText(page, table, text) {
	return page.locator(`${table} tbody tr`, {hasText: text}).first().textContent();
}

// ---- assertions and the page ----

function assert(ok, msg) {
	if (!ok) throw new Error(msg);
}

// A fresh context and page on m; page errors and CSP violations fail the test.
async function openPage(t, m, viewport = {width: 1280, height: 800}) {
	const ctx = await t.browser.newContext({viewport, baseURL: m.base, acceptDownloads: true});
	const page = await ctx.newPage();
	page.setDefaultTimeout(10000);
	page.on('pageerror', e => t.errors.push(`page error: ${e.message}`));
	page.on('console', msg => {
		if (msg.type() === 'error' && /Content Security Policy|Refused to/.test(msg.text())) t.errors.push(`console: ${msg.text()}`);
	});
	page.on('dialog', d => d.accept());
	t.pages.push(page);
	return page;
}

async function signIn(page, name, password) {
	await page.goto('/signin');
	await page.fill('#f-name', name);
	await page.fill('#f-password', password);
	await page.click('button[type=submit]');
	await page.waitForURL(u => !u.pathname.startsWith('/signin'));
}

async function flashText(page) {
	await page.waitForSelector('#flash:not([hidden])');
	return page.textContent('#flash');
}

// ---- the tests ----

const tests = [];
const test = (name, fn, ms = TEST_MS) => tests.push({name, fn, ms});

test('sign_in_change_password_sign_out', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	// a deep link while signed out goes to sign-in and comes back afterwards
	await page.goto('/profile');
	await page.waitForURL(/\/signin\?next=%2Fprofile$/);
	// the form works from the keyboard alone
	await page.focus('#f-name');
	await page.keyboard.type('root');
	await page.keyboard.press('Tab');
	await page.keyboard.type(ROOT_PW);
	await page.keyboard.press('Enter');
	await page.waitForURL(/\/profile$/);
	await page.fill('#f-old_password', ROOT_PW);
	await page.fill('#f-new_password', 'n3w-passw0rd');
	await page.fill('#f-new_password2', 'n3w-passw0rd');
	await page.click('#password-form button[type=submit]');
	assert((await flashText(page)) === 'Password changed.', 'no confirmation of the change');
	await page.click('#signout');
	await page.waitForURL(/\/signin/);
	// the session is gone: a page of the console sends back to sign-in
	await page.goto('/clusters');
	await page.waitForURL(/\/signin/);
	await page.fill('#f-name', 'root');
	await page.fill('#f-password', ROOT_PW);
	await page.click('button[type=submit]');
	assert((await flashText(page)) === 'Wrong name or password.', 'the old password still signs in');
	await page.fill('#f-password', 'n3w-passw0rd');
	await page.click('button[type=submit]');
	await page.waitForURL(/\/clusters$/);
	await page.waitForSelector('#cluster-cards');
});

test('cluster_create_edit_delete', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.click('a[href="/clusters/new"]');
	const values = {name: 'cluster-web', bio: 'made in the browser', location: 'cn|zj', idc: 'idc1|idc2',
		cidrs: '10.0.0.0/8\n192.168.0.0/16', hostnames: '^node-.*$', seed_load_limit: '3000', peer_load_limit: '150',
		candidate_parent_limit: '5', filter_parent_limit: '50', job_rate_limit: '20', bl_urls: '^https://blocked\\.example/.*'};
	for (const [k, v] of Object.entries(values)) await page.fill(`#f-${k}`, v);
	// a taken name: the form stays, with a readable message
	await page.fill('#f-name', 'cluster-1');
	await page.click('#cluster-form button[type=submit]');
	assert((await flashText(page)) === 'That name is already taken.', 'no message for a taken name');
	assert(new URL(page.url()).pathname === '/clusters/new', 'the form was left');
	await page.fill('#f-name', 'cluster-web');
	await page.click('#cluster-form button[type=submit]');
	await page.waitForURL(/\/clusters\/\d+$/);
	const id = Number(new URL(page.url()).pathname.split('/')[2]);
	// what the server stored
	const token = await apiToken(m, 'root', ROOT_PW);
	const c = (await rest(m, 'GET', `/api/v1/clusters/${id}`, {auth: token})).body;
	assert(c.name === 'cluster-web' && c.scopes.idc === 'idc1|idc2' && c.scopes.cidrs.length === 2, `stored: ${JSON.stringify(c)}`);
	assert(c.seed_peer_cluster_config.load_limit === 3000 && c.peer_cluster_config.load_limit === 150, 'load limits not stored');
	assert(c.scheduler_cluster_config.candidate_parent_limit === 5 && c.scheduler_cluster_config.job_rate_limit === 20, 'limits not stored');
	assert(c.seed_peer_cluster_config.block_list.task.download.urls[0] === '^https://blocked\\.example/.*', 'block list not stored');
	// on the overview, found by the search
	await page.click('a.brand');
	await page.waitForSelector(`a[href="/clusters/${id}"]`);
	await page.fill('#search', 'cluster-w');
	assert(await page.isVisible(`a[href="/clusters/${id}"]`), 'the search hides the match');
	assert(!(await page.isVisible('a[href="/clusters/1"]')), 'the search shows cluster-1');
	assert(page.url().endsWith('?search=cluster-w'), 'the search is not in the address');
	// edit: a limit out of bounds is refused with the server's words, then a good one saved
	await page.click(`a[href="/clusters/${id}"]`);
	await page.click(`a[href="/clusters/${id}/edit"]`);
	assert((await page.inputValue('#f-idc')) === 'idc1|idc2', 'the form does not show the stored scope');
	await page.fill('#f-bio', 'edited');
	await page.fill('#f-seed_load_limit', '4000');
	await page.click('#cluster-form button[type=submit]');
	await page.waitForURL(new RegExp(`/clusters/${id}$`));
	await page.waitForSelector('text=edited');
	const e = (await rest(m, 'GET', `/api/v1/clusters/${id}`, {auth: token})).body;
	assert(e.bio === 'edited' && e.seed_peer_cluster_config.load_limit === 4000, `edit not stored: ${JSON.stringify(e)}`);
	// delete
	await page.click('button.danger');
	await page.waitForURL(/\/clusters$/);
	await page.waitForSelector('#cluster-cards');
	assert(!(await page.isVisible(`a[href="/clusters/${id}"]`)), 'the deleted cluster is still listed');
	assert((await rest(m, 'GET', `/api/v1/clusters/${id}`, {auth: token})).status === 404, 'the cluster is still there');
});

test('pat_shown_once_used_revoked', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.goto('/developer/personal-access-tokens');
	await page.click('a[href="/developer/personal-access-tokens/new"]');
	await page.fill('#f-name', 'ci-token');
	await page.click('#token-form button[type=submit]');
	const pat = await page.inputValue('#new-token');
	assert(pat.length >= 32, `token ${pat}`);
	const use = () => rest(m, 'GET', '/oapi/v1/clusters', {auth: pat});
	const ok = await use();
	assert(ok.status === 200 && Array.isArray(ok.body), `PAT on /oapi/v1/clusters: ${ok.status} ${ok.text}`);
	// the list does not show it again
	await page.click('text=Done');
	await page.waitForSelector('text=ci-token');
	assert(!(await page.content()).includes(pat), 'the token is shown again');
	await page.click('button:has-text("Revoke")');
	assert((await flashText(page)) === 'Token ci-token revoked.', 'no confirmation of the revocation');
	const gone = await use();
	assert(gone.status === 401, `revoked PAT: ${gone.status} ${gone.text}`);
});

test('guest_read_only_and_refused', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	const c = await createCluster(m, root, 'cluster-g');
	const page = await openPage(t, m);
	// sign up in the console, then sign in
	await page.goto('/signup');
	await page.fill('#f-name', 'gina');
	await page.fill('#f-email', 'gina@example.com');
	await page.fill('#f-password', 'ginapass1');
	await page.click('button[type=submit]');
	await page.waitForURL(/\/signin$/);
	await signIn(page, 'gina', 'ginapass1');
	await page.waitForSelector(`a[href="/clusters/${c.id}"]`);
	const writes = 'a[href="/clusters/new"], a[href$="/edit"], button.danger, a[href$="/new"]';
	assert((await page.locator(writes).count()) === 0, 'the overview shows a write button to a guest');
	await page.click(`a[href="/clusters/${c.id}"]`);
	await page.waitForSelector('text=Information');
	assert((await page.locator(writes).count()) === 0, 'the detail shows a write button to a guest');
	await page.goto('/developer/personal-access-tokens');
	await page.waitForSelector('h1:has-text("Personal access tokens")');
	assert((await page.locator(writes).count()) === 0 && (await page.locator('button:has-text("Revoke")').count()) === 0,
		'the token list shows a write button to a guest');
	assert((await page.locator('#nav a[href="/users"]').count()) === 0, 'a guest sees the users page');
	// forced writes from the page's JavaScript: with the CSRF header the RBAC refuses (401),
	// without it the CSRF check refuses first (403); nothing is deleted
	const forced = await page.evaluate(async id => {
		const a = await fetch(`/api/v1/clusters/${id}`, {method: 'DELETE', headers: {'X-Requested-With': 'x'}});
		const b = await fetch(`/api/v1/clusters/${id}`, {method: 'DELETE'});
		return [a.status, await a.text(), b.status, await b.text()];
	}, c.id);
	assert(forced[0] === 401 && forced[1] === '{"message":"permission deny"}', `guest write: ${forced.slice(0, 2)}`);
	assert(forced[2] === 403, `guest write without the header: ${forced.slice(2)}`);
	assert((await rest(m, 'GET', `/api/v1/clusters/${c.id}`, {auth: root})).status === 200, 'the cluster is gone');
});

test('csrf_cookie_write_needs_header', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	// the cookie is HttpOnly: no script reads it
	assert(!(await page.evaluate(() => document.cookie)).includes('jwt='), 'the jwt cookie is readable from JavaScript');
	const body = JSON.stringify({name: 'csrf-x', scheduler_cluster_config: {}, seed_peer_cluster_config: {load_limit: 10},
		peer_cluster_config: {load_limit: 10}});
	const r = await page.evaluate(async b => {
		const bare = await fetch('/api/v1/clusters', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: b});
		const marked = await fetch('/api/v1/clusters', {method: 'POST', headers: {'Content-Type': 'application/json', 'X-Requested-With': 'x'}, body: b});
		return [bare.status, marked.status];
	}, body);
	assert(r[0] === 403 && r[1] === 200, `root cookie writes: ${r}`);
});

test('html_injection_renders_as_text', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	const c = await createCluster(m, root, XSS, XSS);
	assert((await rest(m, 'PATCH', '/api/v1/users/1', {auth: root, body: {bio: XSS, location: XSS}})).status === 200, 'patch bio');
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	for (const p of ['/clusters', `/clusters/${c.id}`, `/clusters/${c.id}/edit`, '/users', '/profile']) {
		await page.goto(p);
		await page.waitForSelector('main h1');
		await page.waitForFunction(() => !document.querySelector('main p.muted')?.textContent.startsWith('Loading'));
		assert((await page.locator('main img').count()) === 0, `${p}: an img element was created`);
		if (p !== '/profile' && !p.endsWith('/edit')) assert((await page.textContent('main')).includes(XSS), `${p}: the name is not shown as text`);
	}
	await sleep(200);
	assert(await page.evaluate(() => window.__xss === undefined), 'the injected handler ran');
});

test('deep_link_reload_and_back', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	const c = await createCluster(m, root, 'deep-1', 'deep bio');
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.goto(`/clusters/${c.id}/edit`);
	assert((await page.inputValue('#f-name')) === 'deep-1', 'the deep link shows another page');
	await page.reload();
	assert((await page.inputValue('#f-name')) === 'deep-1', 'the reload lost the page');
	// the manager answers app routes with index.html and missing files with 404
	const deep = await rest(m, 'GET', `/clusters/${c.id}/schedulers`);
	assert(deep.status === 200 && deep.headers.get('content-type').startsWith('text/html'), `deep link: ${deep.status}`);
	assert((await rest(m, 'GET', '/js/missing.js')).status === 404, 'a missing file is not a 404');
	const api404 = await rest(m, 'GET', '/api/v1/nothing');
	assert(api404.status === 404 && api404.body?.message === 'Not Found', `unknown API path: ${api404.status} ${api404.text}`);
	// back and forward through the History API
	await page.click('a.brand');
	await page.waitForURL(/\/clusters$/);
	await page.click(`a[href="/clusters/${c.id}"]`);
	await page.waitForSelector('text=deep bio');
	await page.goBack();
	await page.waitForURL(/\/clusters$/);
	await page.waitForSelector(`a[href="/clusters/${c.id}"]`);
	await page.goForward();
	await page.waitForSelector('text=deep bio');
	// the session ends (cookie gone): the next page goes to sign-in, and back after it
	await page.context().clearCookies();
	await page.goto(`/clusters/${c.id}/edit`);
	await page.waitForURL(new RegExp(`/signin\\?next=%2Fclusters%2F${c.id}%2Fedit$`));
	await page.fill('#f-name', 'root');
	await page.fill('#f-password', ROOT_PW);
	await page.click('button[type=submit]');
	await page.waitForURL(new RegExp(`/clusters/${c.id}/edit$`));
	assert((await page.inputValue('#f-name')) === 'deep-1', 'not back on the page after sign-in');
});

// A page still loading when the next one is opened does not draw over it afterwards.
test('slow_page_does_not_draw_over_the_next', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.waitForSelector('#cluster-cards');
	let slowed = 0;
	await page.route(/\/api\/v1\/clusters(\?.*)?$/, async route => {
		slowed++;
		await sleep(1500);
		await route.continue().catch(() => {});
	});
	await page.click('a.brand');
	await page.click('#nav a[href="/resource/task"]');
	await page.waitForSelector('#task-form');
	await sleep(2500);
	assert(slowed > 0, 'the clusters list was not asked for');
	assert((await page.locator('#task-form').count()) === 1 && (await page.locator('#cluster-cards').count()) === 0,
		'the clusters page drew over the task page');
});

// A live page left while still loading starts no poller afterwards (it polled on until a
// reload: the router's leave event had been sent before the page began polling).
test('page_left_mid_load_stops_polling', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.waitForSelector('#cluster-cards');
	let asked = 0;
	await page.route(/\/api\/v1\/schedulers(\?.*)?$/, async route => {
		asked++;
		if (asked === 1) await sleep(1500);
		await route.continue().catch(() => {});
	});
	await page.goto('/clusters/1/schedulers');
	for (let i = 0; i < 200 && asked === 0; i++) await sleep(50);
	assert(asked === 1, 'the schedulers page did not ask for its list');
	await page.click('#nav a[href="/resource/task"]');
	await page.waitForSelector('#task-form');
	// the slow answer comes, then two poll periods (3 s) pass on the task page
	await sleep(8000);
	assert(asked === 1, `the schedulers were asked for ${asked} times after the page was left`);
	// the same page, not left, does poll
	await page.click('a.brand');
	await page.goto('/clusters/1/schedulers');
	await page.waitForSelector('h2:has-text("Schedulers")');
	await sleep(4000);
	assert(asked >= 3, `the schedulers page did not poll: ${asked}`);
});

// The audit log: root sees its own sign-in and cluster creation, filters them (kept in the
// address), runs the GC; a guest has no menu entry and the API refuses it (403).
test('audit_log_root_and_guest', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	await createCluster(m, root, 'audited-1');
	const r = await rest(m, 'POST', '/api/v1/users/signup', {body: {name: 'gwen', password: 'gwenpass1', email: 'g@example.com'}});
	assert(r.status === 200, `signup: ${r.status}`);
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.click('#nav a[href="/audit"]');
	await page.waitForSelector('#audit-table tbody tr');
	const text = await page.textContent('#audit-table');
	assert(text.includes('/api/v1/users/signin') && text.includes('/api/v1/clusters') && text.includes('root (USER)'),
		`the log lacks root's sign-in or cluster: ${text.slice(0, 300)}`);
	// filters: POST by root; the address keeps them through a reload
	await page.selectOption('#f-operation', 'POST');
	await page.selectOption('#f-actor_name', 'root');
	await page.click('#audit-filters button[type=submit]');
	await page.waitForURL(/\/audit\?actor_name=root&operation=POST$/);
	await page.reload();
	await page.waitForSelector('#audit-table tbody tr');
	const rows = await page.locator('#audit-table tbody tr').allTextContents();
	assert(rows.length === 1 && rows[0].includes('/api/v1/clusters') && rows[0].includes('SUCCESS'), `filtered: ${rows}`);
	assert((await page.inputValue('#f-operation')) === 'POST', 'the filter is not shown after the reload');
	// the GC page: run it now; nothing is old enough with the seeded TTL
	await page.click('a[href="/gc/audit"]');
	await page.waitForSelector('#gc-form');
	assert((await page.inputValue('#f-hours')) === '168', 'the audit TTL is not 7 days');
	await page.click('#gc-run');
	assert(/GC job \d+: SUCCESS, 0 removed\./.test(await flashText(page)), 'no GC result');
	await page.waitForSelector('#gc-jobs tbody tr');
	// a guest: no menu entry, "root only" on the page, 403 from the API
	const guest = await openPage(t, m);
	await signIn(guest, 'gwen', 'gwenpass1');
	await guest.waitForSelector('#nav a[href="/clusters"]');
	assert((await guest.locator('#nav a[href="/audit"]').count()) === 0, 'a guest sees the audit menu entry');
	await guest.goto('/audit');
	await guest.waitForSelector('h1:has-text("Root only")');
	const status = await guest.evaluate(async () => (await fetch('/api/v1/audits')).status);
	assert(status === 403, `a guest's GET /api/v1/audits: ${status}`);
});

test('phone_width_no_overflow', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	const c = await createCluster(m, root, 'phone-1', 'a cluster with a rather long description to wrap on a phone');
	const page = await openPage(t, m, {width: 375, height: 740});
	await signIn(page, 'root', ROOT_PW);
	for (const p of ['/clusters', `/clusters/${c.id}`, `/clusters/${c.id}/edit`, '/users', '/developer/personal-access-tokens', '/profile']) {
		await page.goto(p);
		await page.waitForSelector('main h1');
		const w = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
		assert(w[0] <= w[1], `${p}: ${w[0]} px wide in a ${w[1]} px window`);
	}
});

test('assets_cached_compressed_and_locked_down', async t => {
	const m = await t.manager();
	const r = await fetch(`${m.base}/`, {headers: {'Accept-Encoding': 'gzip'}});
	const csp = r.headers.get('content-security-policy') || '';
	assert(/script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp) && !/unsafe-inline/.test(csp), `CSP: ${csp}`);
	assert(r.headers.get('x-content-type-options') === 'nosniff', 'nosniff');
	const etag = r.headers.get('etag');
	const again = await fetch(`${m.base}/`, {headers: {'If-None-Match': etag, 'Accept-Encoding': 'gzip'}});
	assert(again.status === 304, `revalidation: ${again.status}`);
	const js = await fetch(`${m.base}/js/app.js`);
	assert(js.headers.get('content-type') === 'text/javascript; charset=utf-8', `js type ${js.headers.get('content-type')}`);
	const signin = await rest(m, 'POST', '/api/v1/users/signin', {body: {name: 'root', password: ROOT_PW}});
	const cookie = signin.headers.get('set-cookie') || '';
	assert(/HttpOnly/.test(cookie) && /SameSite=Lax/.test(cookie), `cookie: ${cookie}`);
});

test('preheat_create_list_detail', async t => {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.click('#nav a[href="/jobs/preheats"]');
	await page.waitForSelector('text=No job yet.');
	await page.click('a[href="/jobs/preheats/new"]');
	await page.fill('#f-bio', 'alpine for the web tier');
	await page.check('#f-cluster_1');
	await page.fill('#f-url', 'https://registry.invalid/v2/library/alpine/manifests/3.19');
	await page.selectOption('#f-platform', 'linux/arm64');
	await page.fill('#f-username', 'puller');
	await page.fill('#f-password', 's3cret-pw');
	await page.selectOption('#f-scope', 'all_seed_peers');
	await page.fill('#f-count', '3');
	await page.click('#preheat-form button[type=submit]');
	await page.waitForURL(/\/jobs\/preheats\/\d+$/);
	const id = Number(new URL(page.url()).pathname.split('/').pop());
	// the detail polls until the job ends: the registry's name does not resolve, so it fails
	// with the manager's reason, shown as text
	await page.waitForSelector('#job-detail .badge.bad', {timeout: 20000});
	await page.waitForSelector('text=name resolution failed');
	const detail = await page.textContent('#job-detail');
	assert(detail.includes('alpine for the web tier') && detail.includes('linux/arm64') && detail.includes('all_seed_peers'),
		`detail: ${detail.slice(0, 300)}`);
	assert(!detail.includes('s3cret-pw'), 'the registry password is shown');
	const j = (await rest(m, 'GET', `/api/v1/jobs/${id}`, {auth: root})).body;
	assert(j.args.count === 3 && j.args.username === 'puller' && j.scheduler_clusters[0].id === 1, `stored: ${JSON.stringify(j.args)}`);
	// the list, server paginated: 11 more jobs make a second page
	for (let i = 0; i < 11; i++) {
		const r = await rest(m, 'POST', '/api/v1/jobs', {auth: root, body: {type: 'preheat', bio: `bulk ${i}`,
			args: {type: 'file', urls: [`https://files.invalid/f${i}`]}}});
		assert(r.status === 200, `job ${i}: ${r.status} ${r.text}`);
	}
	await page.click('text=← all jobs');
	await page.waitForSelector('text=page 1 of 2');
	await page.click('text=older →');
	await page.waitForURL(/\?page=2$/);
	await page.waitForSelector('text=page 2 of 2');
	assert((await page.locator('tbody tr').count()) === 2, 'page 2 does not hold the last 2 jobs');
	await page.goBack();
	await page.waitForSelector('text=page 1 of 2');
});

// The registry's REST routes (schedulers, seed peers, peers) as fixtures in the shapes of
// wave2-contracts §1.5, given by the browser's request interception, with upstream's
// scheduler-features and PATCH of a scheduler (which this manager does not serve: the real
// cluster's test sees no switches); everything else is the real manager.
function registryFixtures(page, fx) {
	const deleted = [];
	page.route(/\/api\/v1\/scheduler-features$/, route => route.fulfill({contentType: 'application/json', body: '["schedule","preheat"]'}));
	const kinds = {schedulers: 'schedulers', 'seed-peers': 'seedPeers', peers: 'peers'};
	page.route(/\/api\/v1\/(schedulers|seed-peers|peers)(\/\d+)?(\?.*)?$/, route => {
		const u = new URL(route.request().url());
		const [, kind, id] = /\/api\/v1\/([a-z-]+)(?:\/(\d+))?/.exec(u.pathname);
		const rows = fx[kinds[kind]];
		if (route.request().method() === 'PATCH') {
			const row = rows.find(r => r.id === Number(id));
			Object.assign(row, route.request().postDataJSON());
			deleted.push(`patch ${kind}/${id} ${JSON.stringify(row.features)}`);
			return route.fulfill({contentType: 'application/json', body: JSON.stringify(row)});
		}
		if (route.request().method() === 'DELETE') {
			deleted.push(`${kind}/${id}`);
			fx[kinds[kind]] = rows.filter(r => r.id !== Number(id));
			return route.fulfill({status: 200, body: ''});
		}
		const body = id ? rows.find(r => r.id === Number(id)) : rows;
		return route.fulfill({status: body ? 200 : 404, contentType: 'application/json', body: JSON.stringify(body ?? {message: 'record not found'})});
	});
	return deleted;
}

const now = () => new Date().toISOString();

test('instances_live_state_delete_inactive_csv', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	const fx = {
		schedulers: [
			{id: 1, host_name: XSS, ip: '10.0.0.1', port: 8002, state: 'active', features: ['schedule', 'preheat'], scheduler_cluster_id: 1, last_keep_alive_at: now(), created_at: now()},
			{id: 2, host_name: 'sched-b', ip: '10.0.0.2', port: 8002, state: 'inactive', features: ['schedule'], scheduler_cluster_id: 1, last_keep_alive_at: now(), created_at: now()}],
		seedPeers: [{id: 7, host_name: 'seed-a', type: 'super', ip: '10.0.0.3', port: 65000, download_port: 65002, state: 'active', seed_peer_cluster_id: 1, created_at: now()}],
		peers: [
			{id: 1, host_name: 'p1', type: 'normal', ip: '10.1.0.1', state: 'active', git_version: 'v2.1.0', git_commit: 'abc', created_at: now(), updated_at: now()},
			{id: 2, host_name: '=cmd|calc', type: 'normal', ip: '10.1.0.2', state: 'active', git_version: 'v2.1.0', git_commit: 'abc', created_at: now(), updated_at: now()},
			{id: 3, host_name: 'p3, "quoted"', type: 'normal', ip: '10.1.0.3', state: 'inactive', git_version: 'v2.0.9', git_commit: 'def', created_at: now(), updated_at: now()}],
	};
	const deleted = registryFixtures(page, fx);
	await signIn(page, 'root', ROOT_PW);
	// the overview counts the active ones
	const stat = label => page.locator('.stat', {hasText: label}).locator('.num').textContent();
	await page.waitForSelector('#cluster-cards');
	assert((await stat('active schedulers')) === '1' && (await stat('active seed peers')) === '1', 'overview counts');
	await page.goto('/clusters/1/schedulers');
	await page.waitForSelector('#schedulers-table tbody tr');
	assert((await page.textContent('#schedulers-table')).includes(XSS), 'the host name is not shown as text');
	assert((await page.locator('main img').count()) === 0, 'an img element was created');
	// the features toggle: preheat on for the second one, from the keyboard; the polls keep
	// the focus on the box
	await page.focus('[data-key="feat-2-preheat"]');
	await page.keyboard.press('Space');
	await page.waitForFunction(() => document.activeElement?.dataset.key === 'feat-2-preheat' &&
		document.activeElement.checked, null, {timeout: 10000});
	assert(deleted[0] === 'patch schedulers/2 ["schedule","preheat"]', `patch: ${deleted}`);
	deleted.length = 0;
	// the first scheduler stops: the page shows it without a reload
	fx.schedulers[0].state = 'inactive';
	await page.waitForFunction(() => document.querySelectorAll('#schedulers-table .badge.bad').length === 2, null, {timeout: 10000});
	await page.click('button:has-text("Delete inactive")');
	await page.waitForSelector('text=No schedulers in this cluster.');
	assert(deleted.join(' ') === 'schedulers/1 schedulers/2', `deleted ${deleted}`);
	await page.click('nav.tabs a:has-text("Seed peers")');
	await page.waitForSelector('#seed-peers-table >> text=seed-a');
	// peers: counts, the version chart, and the CSV
	await page.click('nav.tabs a[href="/clusters/1/peers"]');
	await page.waitForSelector('figure.chart');
	assert((await stat('versions')) === '2' && (await stat('active')) === '2', 'peer counts');
	const chart = await page.textContent('figure.chart');
	assert(chart.includes('v2.1.0') && chart.includes('v2.0.9'), `chart: ${chart}`);
	const [dl] = await Promise.all([page.waitForEvent('download'), page.click('button:has-text("Export CSV")')]);
	const csv = fs.readFileSync(await dl.path(), 'utf8').split('\r\n');
	assert(csv[0].startsWith('id,host_name,type,ip') && csv.length === 5 && csv[4] === '', `csv: ${csv.length} lines`);
	assert(csv[2].startsWith("2,'=cmd|calc,") && csv[3].startsWith('3,"p3, ""quoted""",'), `csv rows: ${csv[2]} / ${csv[3]}`);
});

test('task_search_hosts_and_delete', async t => {
	const m = await t.manager();
	const page = await openPage(t, m);
	// get_task and delete_task jobs are fixtures here in the shapes of wave2-contracts §1.6.2
	// (one poll PENDING, then SUCCESS), so that a hostile host name and the exact args are
	// checked without a cluster (real_cluster_live_state_and_preheat runs the real jobs);
	// other job calls go through
	const jobs = new Map(), posted = [];
	let next = 9001;
	await page.route(/\/api\/v1\/jobs(\/\d+)?$/, route => {
		const req = route.request();
		const id = Number(/\/jobs\/(\d+)$/.exec(req.url())?.[1]);
		if (req.method() === 'POST') {
			const body = req.postDataJSON();
			if (body.type !== 'get_task' && body.type !== 'delete_task') return route.fallback();
			posted.push(`${body.type} ${JSON.stringify(body.args)}`);
			const j = {id: next++, type: body.type, state: 'PENDING', args: body.args, result: {}, polls: 0};
			jobs.set(j.id, j);
			return route.fulfill({contentType: 'application/json', body: JSON.stringify(j)});
		}
		const j = jobs.get(id);
		if (!j) return route.fallback();
		if (j.polls++ >= 1) {
			j.state = 'SUCCESS';
			const hosts = [{hostname: XSS, ip: '10.0.0.5', host_type: 'super'}, {hostname: 'peer-b', ip: '10.0.0.6', host_type: 'normal'}];
			j.result = {state: 'SUCCESS', job_states: [{state: 'SUCCESS', error: '', results: [j.type === 'get_task'
				? {peers: hosts.map((h, i) => ({id: `p${i}`, ...h, IsFinished: true})), scheduler_cluster_id: 1}
				: {success_tasks: hosts, failure_tasks: [], scheduler_cluster_id: 1}]}]};
		}
		return route.fulfill({contentType: 'application/json', body: JSON.stringify(j)});
	});
	await signIn(page, 'root', ROOT_PW);
	await page.click('#nav a[href="/resource/task"]');
	await page.fill('#f-key', 'https://files.example/big.iso');
	await page.fill('#f-tag', 'v1');
	await page.click('#task-form button[type=submit]');
	await page.waitForSelector('#task-result >> text=peer-b');
	assert((await page.textContent('#task-result')).includes(XSS) && (await page.locator('main img').count()) === 0,
		'the host name is not rendered as text');
	await page.click('button:has-text("Delete everywhere")');
	await page.waitForSelector('#task-result p:has-text("Deletion job") .badge.ok');
	assert(posted[0] === 'get_task {"url":"https://files.example/big.iso","tag":"v1"}' &&
		posted[1] === 'delete_task {"url":"https://files.example/big.iso","tag":"v1"}', `posted: ${posted}`);
	// a search by task ID sends task_id
	await page.selectOption('#f-by', 'task_id');
	await page.fill('#f-key', 'a1b2c3');
	await page.click('#task-form button[type=submit]');
	await page.waitForSelector('#task-result >> text=peer-b');
	assert(posted[2] === 'get_task {"task_id":"a1b2c3","tag":"v1"}', `posted: ${posted[2]}`);
});

// A real cluster: a manager, a scheduler and a seed peer registered with it (plaintext on
// loopback), and docker-registry holding a three-layer image.
test('real_cluster_live_state_and_preheat', async t => {
	const m = await t.manager(['--job-allow', '127.0.3.0/24']);
	const reg = await startRegistry(t);
	const blobs = await pushImage(reg, 'demo/app', 'v1', 3);
	const schedIp = auxHost(), seedIp = auxHost();
	const sched = await startProc(t, 'scheduler', [BIN, 'scheduler', '--listen', `${schedIp}:0`, '--metrics-listen', `${schedIp}:0`,
		'--manager', m.rpc, '--hostname', 'sched-live', '--plaintext']);
	await startProc(t, 'seed', [BIN, 'peer', '--seed', '--ip', seedIp, '--hostname', 'seed-live', '--data-dir', path.join(t.tmp(), 'seed'),
		'--rpc-port', '0', '--upload-port', '0', '--metrics-port', '0', '--proxy-listen', 'off', '--manager', m.rpc,
		'--back-to-source-allow', '127.0.3.0/24', '--plaintext']);
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	// both active on their pages once their keepalive streams are open (the polls show them)
	const row = (table, name, state) => `${table} tbody tr:has-text("${name}") .badge.${state}`;
	await page.goto('/clusters/1/schedulers');
	await page.waitForSelector(row('#schedulers-table', 'sched-live', 'ok'), {timeout: 30000});
	const sr = await rowText(page, '#schedulers-table', 'sched-live');
	assert(sr.includes(schedIp) && sr.includes('schedule, preheat'), `the scheduler's row: ${sr}`);
	// its features are the ones it registered with: no switch this manager would refuse
	assert((await page.locator('#schedulers-table input[type=checkbox]').count()) === 0, 'feature switches the manager cannot apply');
	await page.click('nav.tabs a:has-text("Seed peers")');
	await page.waitForSelector(row('#seed-peers-table', 'seed-live', 'ok'), {timeout: 30000});
	assert((await rowText(page, '#seed-peers-table', 'seed-live')).includes(seedIp), 'the seed peer\'s address is not shown');
	// the overview counts them
	await page.click('a.brand');
	await page.waitForSelector('#cluster-cards');
	const stat = label => page.locator('.stat', {hasText: label}).locator('.num').textContent();
	assert((await stat('active schedulers')) === '1' && (await stat('active seed peers')) === '1', 'overview counts');
	// an image preheat from the form, with the registry's credentials: the seed peer fetches
	// the config and the three layers, the detail page follows the job to SUCCESS
	await page.click('#nav a[href="/jobs/preheats"]');
	await page.click('a[href="/jobs/preheats/new"]');
	await page.fill('#f-bio', 'demo/app on the seed');
	await page.check('#f-cluster_1');
	await page.fill('#f-url', `${reg.base}/v2/demo/app/manifests/v1`);
	await page.fill('#f-username', REG_USER);
	await page.fill('#f-password', REG_PW);
	await page.click('#preheat-form button[type=submit]');
	await page.waitForURL(/\/jobs\/preheats\/\d+$/);
	await page.waitForSelector('#job-detail dd .badge:is(.ok, .bad)', {timeout: 60000});
	const detail = await page.textContent('#job-detail');
	assert((await page.textContent('#job-detail dd .badge')) === 'SUCCESS', `the preheat ended: ${detail.slice(0, 600)}`);
	const done = await page.locator('#job-detail table').first().locator('tbody tr').allTextContents();
	assert(done.length === blobs.length && done.every(r => r.includes('seed-live') && r.includes(seedIp)), `succeeded rows: ${done}`);
	for (const b of blobs) assert(done.some(r => r.includes(b)), `blob ${b} not among the results`);
	assert(!detail.includes(REG_PW), 'the registry password is shown');
	// the image searched by its manifest (get_image_distribution, answered at once): the
	// seed holds every layer, each listed with the one host holding it
	await page.click('#nav a[href="/resource/task"]');
	await page.selectOption('#f-by', 'image');
	await page.fill('#f-key', `${reg.base}/v2/demo/app/manifests/v1`);
	await page.fill('#f-username', REG_USER);
	await page.fill('#f-password', REG_PW);
	await page.click('#task-form button[type=submit]');
	await page.waitForSelector('#task-result tbody tr:has-text("seed-live")', {timeout: 30000});
	const dist = await rowText(page, '#task-result', 'seed-live');
	assert(dist.includes(seedIp) && dist.includes(`${blobs.length} of ${blobs.length}`), `image search: ${dist}`);
	const layerRows = await page.locator('#task-result table').nth(1).locator('tbody tr').allTextContents();
	assert(layerRows.length === blobs.length && blobs.every(b => layerRows.some(r => r.includes(b))), `image layers: ${layerRows}`);
	assert(!(await page.textContent('#task-result')).includes(REG_PW), 'the registry password is shown');
	// a preheated layer searched by URL (a real get_task job, polled): the seed holds it;
	// "Delete everywhere" runs delete_task, a second search finds nobody, and the deletion
	// is in the executions history
	const blobUrl = `${reg.base}/v2/demo/app/blobs/${blobs[1]}`;
	await page.selectOption('#f-by', 'url');
	await page.fill('#f-key', blobUrl);
	await page.click('#task-form button[type=submit]');
	await page.waitForSelector('#task-result h2 .badge.ok', {timeout: 30000});
	const found = await page.textContent('#task-result');
	assert(found.includes('seed-live') && found.includes(seedIp) && found.includes('super'), `task search: ${found.slice(0, 400)}`);
	await page.click('button:has-text("Delete everywhere")');
	await page.waitForSelector('#task-result p:has-text("Deletion job") .badge.ok', {timeout: 30000});
	await page.click('#task-form button[type=submit]');
	await page.waitForSelector('#task-result >> text=No host holds it.', {timeout: 30000});
	await page.click('a[href="/resource/task/executions"]');
	await page.waitForSelector(`main table tbody tr:has-text("${blobUrl}") .badge.ok`);
	// the scheduler killed: its row turns inactive on the open page, no reload (the mark
	// set in this document survives)
	await page.goto('/clusters/1/schedulers');
	await page.waitForSelector(row('#schedulers-table', 'sched-live', 'ok'));
	await page.evaluate(() => { window.__mark = 1; });
	await killProc(sched);
	await page.waitForSelector(row('#schedulers-table', 'sched-live', 'bad'), {timeout: 30000});
	assert(await page.evaluate(() => window.__mark === 1), 'the page was reloaded');
}, 150000);

// `dragonfly up` runs a manager too (REST on --port-base + 10): the console is in the binary,
// and the cluster it started shows on it.
test('up_serves_the_console', async t => {
	const ip = auxHost(), base = PORT + 20;
	const up = await startProc(t, 'up', [BIN, 'up', '--data-dir', path.join(t.tmp(), 'data'), '--ip', ip, '--port-base', String(base)]);
	const rest = JSON.parse(fs.readFileSync(up.ready, 'utf8')).manager?.rest;
	assert(rest === `${ip}:${base + 10}`, `the manager's REST address: ${rest}`);
	const m = {base: `http://${rest}`};
	const js = await fetch(`${m.base}/js/app.js`);
	assert(js.status === 200 && js.headers.get('content-type') === 'text/javascript; charset=utf-8', `app.js: ${js.status}`);
	const page = await openPage(t, m);
	await signIn(page, 'root', ROOT_PW);
	await page.waitForSelector('#cluster-cards');
	// its scheduler registered (mutual TLS) and active, and its seed peer too (the seed finds
	// the scheduler through the manager; up's peer goes to the scheduler directly)
	await page.goto('/clusters/1/schedulers');
	await page.waitForSelector(`#schedulers-table tbody tr:has-text("${ip}") .badge.ok`, {timeout: 30000});
	await page.goto('/clusters/1/seed-peers');
	await page.waitForSelector(`#seed-peers-table tbody tr:has-text("${ip}") .badge.ok`, {timeout: 30000});
	assert((await page.textContent('#seed-peers-table')).includes(String(base + 2)), 'the seed peer is not on its RPC port');
}, 90000);

// ---- screenshots for the README (--shots) ----

async function shots(t, dir) {
	const m = await t.manager();
	const root = await apiToken(m, 'root', ROOT_PW);
	await rest(m, 'PATCH', '/api/v1/clusters/1', {auth: root, body: {bio: 'the default cluster'}});
	const c = await createCluster(m, root, 'cluster-hz', 'Hangzhou data centre',
		{location: 'cn|zj|hz', idc: 'hz1|hz2', cidrs: ['10.1.0.0/16'], hostnames: ['^hz-node-.*$']});
	await createCluster(m, root, 'cluster-sh', 'Shanghai data centre', {location: 'cn|sh', cidrs: ['10.2.0.0/16']});
	await rest(m, 'POST', '/api/v1/users/signup', {body: {name: 'alice', password: 'alicepass1', email: 'alice@example.com'}});
	const job = await rest(m, 'POST', '/api/v1/jobs', {auth: root, body: {type: 'preheat', bio: 'alpine for the web tier',
		scheduler_cluster_ids: [c.id], args: {type: 'image', url: 'https://registry.invalid/v2/library/alpine/manifests/3.19',
			platform: 'linux/amd64', scope: 'all_seed_peers'}}});
	assert(job.status === 200, `preheat: ${job.status} ${job.text}`);
	const page = await openPage(t, m, {width: 1200, height: 760});
	await signIn(page, 'root', ROOT_PW);
	fs.mkdirSync(dir, {recursive: true});
	for (const [name, p] of [['clusters', '/clusters'], ['cluster', `/clusters/${c.id}`], ['cluster-edit', `/clusters/${c.id}/edit`],
		['preheats', '/jobs/preheats'], ['preheat', `/jobs/preheats/${job.body.id}`], ['tokens', '/developer/personal-access-tokens/new'], ['users', '/users'], ['signin', '/signin']]) {
		await page.goto(p);
		await page.waitForSelector('main h1');
		await sleep(300);
		await page.screenshot({path: path.join(dir, `console-${name}.png`), fullPage: /edit|preheats\//.test(p)});
		console.log(`shot ${path.join(dir, `console-${name}.png`)}`);
	}
}

// ---- the runner ----

// A test's state: its pages, managers (t.manager(extra flags)), other processes and temp dirs.
function newTest(browser) {
	const t = {browser, errors: [], pages: [], managers: [], procs: [], tmps: []};
	t.manager = async (extra = []) => {
		const mm = await startManager(extra);
		t.managers.push(mm);
		return mm;
	};
	t.tmp = () => {
		const d = fs.mkdtempSync(path.join(os.tmpdir(), 'df-console-'));
		t.tmps.push(d);
		return d;
	};
	return t;
}

// Everything the test started, stopped by PID; its pages closed, its files removed.
async function endTest(t) {
	for (const p of t.pages) await p.context().close().catch(() => {});
	for (const p of t.procs.reverse()) await killProc(p);
	t.managers.forEach(stopManager);
	for (const d of t.tmps) fs.rmSync(d, {recursive: true, force: true});
}

async function run(t, fn, ms = TEST_MS) {
	const timer = new Promise((_, rej) => { t.timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms`)), ms); });
	try {
		await Promise.race([fn(t), timer]);
		assert(!t.errors.length, t.errors.join('; '));
	} finally {
		clearTimeout(t.timer);
	}
}

async function main() {
	const args = process.argv.slice(2);
	assert(fs.existsSync(BIN), `no binary at ${BIN} (make first, or set DF_BIN)`);
	const browser = await chromium.launch({executablePath: CHROMIUM, headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage']});
	let failed = 0, ran = 0;
	try {
		if (args[0] === '--shots') {
			const t = newTest(browser);
			try {
				await run(t, tt => shots(tt, path.resolve(process.env.SHOTS || 'docs/console')));
			} finally {
				await endTest(t);
			}
			return 0;
		}
		fs.mkdirSync(OUT, {recursive: true});
		for (const {name, fn, ms} of tests) {
			if (args[0] && !name.includes(args[0])) continue;
			ran++;
			const t = newTest(browser);
			const t0 = Date.now();
			try {
				await run(t, fn, ms);
				console.log(`PASS ${name} (${Date.now() - t0} ms)`);
			} catch (e) {
				failed++;
				console.log(`FAIL ${name}: ${e.message}`);
				for (const [i, p] of t.pages.entries()) {
					const f = path.join(OUT, `${name}-${i}.png`);
					await p.screenshot({path: f, fullPage: true}).then(() => console.log(`  screenshot ${f} (${p.url()})`), () => {});
				}
				for (const [what, log] of [...t.managers.map(mm => [`manager ${mm.base}`, mm.log]), ...t.procs.map(p => [p.name, p.log])]) {
					const tail = fs.readFileSync(log, 'utf8').split('\n').slice(-8).join('\n  ');
					console.log(`  ${what}, last lines:\n  ${tail}`);
				}
			} finally {
				await endTest(t);
			}
		}
	} finally {
		await browser.close();
	}
	const pct = ran ? Math.floor((100 * (ran - failed)) / ran) : 0;
	console.log(`${pct}%: Checks: ${ran}, Failures: ${failed}, Errors: 0`);
	return failed || !ran ? 1 : 0;
}

main().then(code => process.exit(code), e => {
	console.log(`console tests: ${e.message}`);
	console.log('0%: Checks: 1, Failures: 0, Errors: 1');
	process.exit(1);
});
