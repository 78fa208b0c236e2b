// SPDX-License-Identifier: Apache-2.0
// The audit log (root only): every write and every failed request to the API, filtered by
// actor type, operation, state and user, paginated by the server; the filters live in the
// address bar, so a filtered page reloads and links as it is. And the GC of the audit log
// and of finished jobs: their time to live (the config named gc), "run now", and the
// history of the gc jobs.
import {h, mount, link, field, fmtTime, table, badge} from '../dom.js';
import * as api from '../api.js';
import {flash, guard, navigate} from '../app.js';

const FILTERS = ['actor_type', 'actor_name', 'operation', 'state'];

const options = (all, values) => [['', all], ...values.map(v => [v, v])];

// ?page=N&per_page=M kept, with the filters set in q.
function href(base, q, pageNo) {
	const p = new URLSearchParams();
	for (const k of FILTERS) if (q[k]) p.set(k, q[k]);
	if (pageNo > 1) p.set('page', String(pageNo));
	const s = p.toString();
	return s ? `${base}?${s}` : base;
}

async function auditLog(view) {
	const params = new URLSearchParams(location.search);
	const q = {};
	for (const k of FILTERS) if (params.get(k)) q[k] = params.get(k);
	const pageNo = Math.max(1, Number(params.get('page')) || 1);
	const [{rows, last}, users] = await Promise.all([api.page('/api/v1/audits', q, pageNo, 20), api.list('/api/v1/users')]);
	const f = h('form.card.filters', {id: 'audit-filters'},
		field('Actor type', 'actor_type', {type: 'select', value: q.actor_type || '', options: options('any', ['USER', 'PAT', 'UNKNOWN'])}),
		field('Operation', 'operation', {type: 'select', value: q.operation || '', options: options('any', ['POST', 'PUT', 'PATCH', 'DELETE', 'GET'])}),
		field('Status', 'state', {type: 'select', value: q.state || '', options: options('any', ['SUCCESS', 'FAILURE'])}),
		field('User', 'actor_name', {type: 'select', value: q.actor_name || '', options: options('anyone', users.map(u => u.name))}),
		h('div.actions', {}, h('button', {type: 'submit'}, 'Filter'), link('/audit', 'Clear')));
	f.addEventListener('submit', e => {
		e.preventDefault();
		const next = {};
		for (const k of FILTERS) if (f.elements[k].value) next[k] = f.elements[k].value;
		navigate(href('/audit', next, 1));
	});
	const pager = h('nav.pager', {'aria-label': 'Pages'},
		pageNo > 1 ? link(href('/audit', q, pageNo - 1), '← newer') : null,
		h('span', {}, `page ${pageNo} of ${last}`),
		pageNo < last ? link(href('/audit', q, pageNo + 1), 'older →') : null);
	mount(view, h('div.head', {}, h('h1', {}, 'Audit log'),
		h('div.actions', {}, link('/gc/audit', 'Audit GC'), ' ', link('/gc/job', 'Job GC'))),
	h('p.muted', {}, 'Every write and every refused or failed request to the API (successful reads are not recorded).'),
	f, h('div', {id: 'audit-table'}, table([
		{title: 'Time', cell: r => fmtTime(r.created_at)},
		{title: 'Actor', cell: r => r.actor_name ? `${r.actor_name} (${r.actor_type})` : r.actor_type},
		{title: 'Operation', cell: r => r.operation},
		{title: 'Path', cell: r => h('code', {}, r.path)},
		{title: 'Status', cell: r => h('span', {}, badge(r.state), ' ', String(r.status_code))},
		{title: 'Address', cell: r => r.ip}], rows, 'Nothing recorded.')), pager);
}

// Nanoseconds <-> hours, the unit the GC's forms use.
const NS_PER_HOUR = 3600e9;

async function gcPage(view, kind) {
	const title = kind === 'audit' ? 'Audit log GC' : 'Job GC';
	const [configs, jobs] = await Promise.all([api.list('/api/v1/configs', {name: 'gc'}), api.page('/api/v1/jobs', {type: 'gc'}, 1, 20)]);
	const row = configs[0];
	let value = {audit: {ttl: 7 * 24 * NS_PER_HOUR}, job: {ttl: 6 * NS_PER_HOUR}};
	try {
		if (row) value = JSON.parse(row.value);
	} catch (e) {
		// a value the manager refuses cannot be stored: keep the defaults on screen
	}
	const f = h('form.card', {id: 'gc-form'}, h('h2', {}, 'Time to live'),
		field('Hours', 'hours', {type: 'number', min: 1, max: 87600, required: true, value: String(Math.round(value[kind].ttl / NS_PER_HOUR)),
			help: kind === 'audit' ? 'Audit rows older than this are removed.' : 'Finished jobs older than this are removed; running ones never are.'}),
		h('div.actions', {}, h('button', {type: 'submit', disabled: !row}, 'Save'),
			h('button.secondary', {type: 'button', id: 'gc-run', onclick: () => guard(async () => {
				const j = await api.post('/api/v1/jobs', {type: 'gc', args: {type: kind}});
				flash(`GC job ${j.id}: ${j.state}, ${j.result?.purged ?? 0} removed.`, j.state === 'SUCCESS' ? 'ok' : 'error');
				await gcPage(view, kind);
			})}, 'Run GC now')));
	f.addEventListener('submit', e => {
		e.preventDefault();
		value[kind].ttl = Number(f.elements.hours.value) * NS_PER_HOUR;
		guard(async () => {
			await api.patch(`/api/v1/configs/${row.id}`, {value: JSON.stringify(value)});
			flash('Saved.', 'ok');
		});
	});
	mount(view, h('div.head', {}, h('h1', {}, title), h('div.actions', {}, link('/audit', 'Audit log'))), f,
		h('h2', {}, 'GC jobs'), h('div', {id: 'gc-jobs'}, table([
			{title: 'ID', cell: j => String(j.id)}, {title: 'Kind', cell: j => j.args?.type || ''},
			{title: 'State', cell: j => badge(j.state)}, {title: 'Removed', cell: j => String(j.result?.purged ?? '')},
			{title: 'Time', cell: j => fmtTime(j.created_at)}], jobs.rows, 'No GC job yet.')));
}

export const auditPages = [
	{re: /^\/audit$/, title: 'Audit log', rootOnly: true, render: auditLog},
	{re: /^\/gc\/(audit|job)$/, title: 'GC', rootOnly: true, render: gcPage},
];
