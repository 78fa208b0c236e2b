// SPDX-License-Identifier: Apache-2.0
// The console's shell: the session, the navigation and the router. Routes are paths in
// the address bar (History API), so deep links reload to the same page (the manager
// answers any app path with index.html) and the back button works.
import {h, mount, link} from './dom.js';
import * as api from './api.js';
import {authPages} from './pages/auth.js';
import {clusterPages} from './pages/clusters.js';
import {instancePages} from './pages/instances.js';
import {jobPages} from './pages/jobs.js';
import {accountPages} from './pages/account.js';
import {auditPages} from './pages/audit.js';

const ID_KEY = 'dragonfly.user_id';

// The signed-in user: {id, name, roles, isRoot}, or null.
export const session = {user: null};

export function canWrite() {
	return !!(session.user && session.user.isRoot);
}

// Show a message above the page (errors in red); replaced by the next one.
export function flash(msg, kind = 'error') {
	const el = document.getElementById('flash');
	el.className = kind;
	el.textContent = msg;
	el.hidden = !msg;
}

// Run fn, and show its error instead of failing silently. Returns fn's result or undefined.
export async function guard(fn) {
	try {
		return await fn();
	} catch (e) {
		flash(e.message || String(e));
		return undefined;
	}
}

export async function loadUser(id) {
	const [user, roles] = await Promise.all([api.get(`/api/v1/users/${id}`), api.get(`/api/v1/users/${id}/roles`)]);
	session.user = {id, name: user.name, email: user.email, roles: roles || [], isRoot: (roles || []).includes('root')};
	localStorage.setItem(ID_KEY, String(id));
}

export function forgetUser() {
	session.user = null;
	localStorage.removeItem(ID_KEY);
}

const routes = [...authPages, ...clusterPages, ...instancePages, ...jobPages, ...accountPages, ...auditPages];

export function navigate(path, replace = false) {
	if (replace) history.replaceState(null, '', path);
	else history.pushState(null, '', path);
	render();
}

function renderNav() {
	const nav = document.getElementById('nav');
	const who = document.getElementById('who');
	if (!session.user) {
		mount(nav);
		mount(who);
		return;
	}
	const items = [['/clusters', 'Clusters'], ['/jobs/preheats', 'Preheat'], ['/resource/task', 'Tasks'],
		['/developer/personal-access-tokens', 'Tokens']];
	if (session.user.isRoot) items.push(['/users', 'Users'], ['/audit', 'Audit']);
	const here = location.pathname;
	mount(nav, items.map(([p, t]) => {
		const a = link(p, t);
		if (here === p || here.startsWith(p + '/')) a.setAttribute('aria-current', 'page');
		return a;
	}));
	mount(who, link('/profile', session.user.name), session.user.isRoot ? null : h('span.badge.wait', {}, 'read-only'));
}

let renderSeq = 0;

export async function render() {
	const seq = ++renderSeq;
	const path = location.pathname.replace(/\/+$/, '') || '/';
	const view = document.getElementById('view');
	flash('');
	// pages that poll stop when the page changes
	window.dispatchEvent(new Event('dragonfly:leave'));
	if (!session.user) {
		const id = Number(localStorage.getItem(ID_KEY));
		if (id > 0) {
			try {
				await loadUser(id);
			} catch (e) {
				forgetUser();
			}
		}
	}
	let page = null, params = null;
	for (const r of routes) {
		const m = r.re.exec(path);
		if (m) {
			page = r;
			params = m.slice(1);
			break;
		}
	}
	if (!page) page = {open: true, title: 'Not found', render: v => mount(v, h('h1', {}, 'Page not found'), h('p', {}, link('/clusters', 'Back to the clusters')))};
	if (!page.open && !session.user) {
		toSignin();
		return;
	}
	if (page.rootOnly && !session.user.isRoot) {
		page = {title: 'Forbidden', render: v => mount(v, h('h1', {}, 'Root only'), h('p', {}, 'This page is for users with the root role.'))};
	}
	document.title = `${page.title} · Dragonfly`;
	renderNav();
	// each render draws into its own element: a page still loading when the next one starts
	// (a click right after sign-in) then draws into a detached one, never over the new page
	const pane = h('div.page');
	mount(view, pane);
	mount(pane, h('p.muted', {}, 'Loading…'));
	try {
		await page.render(pane, ...params.map(decodeURIComponent));
	} catch (e) {
		if (seq === renderSeq) mount(pane, h('h1', {}, page.title), h('p.error', {}, e.message || String(e)));
	}
	if (seq === renderSeq) view.focus({preventScroll: true});
}

// To sign-in, and back here afterwards.
export function toSignin() {
	const here = location.pathname + location.search;
	forgetUser();
	if (location.pathname === '/signin') return;
	navigate('/signin' + (here && here !== '/' ? '?next=' + encodeURIComponent(here) : ''), true);
}

api.setUnauthorizedHandler(toSignin);

document.addEventListener('click', e => {
	const a = e.target.closest('a[data-link]');
	if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
	e.preventDefault();
	navigate(a.getAttribute('href'));
});
window.addEventListener('popstate', render);
render();
