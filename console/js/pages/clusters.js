// SPDX-License-Identifier: Apache-2.0
// Clusters: the overview (counts, cards, search), the detail, and the form that creates
// and edits one (scopes, config limits, block list). A cluster is upstream's facade: one
// scheduler cluster and one seed-peer cluster of the same name and id.
import {h, mount, link, linkButton, field, fmtTime} from '../dom.js';
import * as api from '../api.js';
import {navigate, canWrite, flash, guard} from '../app.js';

// A count from a list that may not exist on this manager yet: null when it answers 404.
async function countActive(path) {
	try {
		return (await api.list(path, {state: 'active'})).filter(x => x.state === 'active').length;
	} catch (e) {
		if (e.status === 404) return null;
		throw e;
	}
}

function stat(label, value) {
	return h('div.stat', {}, h('div.num', {}, value === null ? '–' : String(value)), h('div.muted', {}, label));
}

async function overview(view) {
	const [clusters, sched, seeds] = await Promise.all([api.list('/api/v1/clusters'),
		countActive('/api/v1/schedulers'), countActive('/api/v1/seed-peers')]);
	clusters.sort((a, b) => (b.is_default - a.is_default) || (a.id - b.id));
	const search = h('input', {type: 'search', id: 'search', placeholder: 'Search clusters by name or bio', 'aria-label': 'Search clusters',
		value: new URLSearchParams(location.search).get('search') || ''});
	const cards = h('div.cards', {id: 'cluster-cards'});
	const draw = () => {
		const q = search.value.trim().toLowerCase();
		const shown = clusters.filter(c => !q || c.name.toLowerCase().includes(q) || (c.bio || '').toLowerCase().includes(q));
		mount(cards, shown.length ? shown.map(c => link(`/clusters/${c.id}`, h('div.card.cluster', {},
			h('h2', {}, c.name, c.is_default ? h('span.badge.ok', {}, 'default') : null),
			h('p', {}, c.bio || ''), h('small.muted', {}, 'created ', fmtTime(c.created_at))))) : h('p.muted', {}, 'No cluster matches.'));
	};
	search.addEventListener('input', () => {
		const u = new URL(location.href);
		if (search.value) u.searchParams.set('search', search.value);
		else u.searchParams.delete('search');
		history.replaceState(null, '', u.pathname + u.search);
		draw();
	});
	draw();
	mount(view, h('div.head', {}, h('h1', {}, 'Clusters'), canWrite() ? linkButton('/clusters/new', 'Add a cluster') : null),
		h('div.stats', {}, stat('clusters', clusters.length), stat('default clusters', clusters.filter(c => c.is_default).length),
			stat('active schedulers', sched), stat('active seed peers', seeds)),
		search, cards);
}

const LIST_KEYS = [['applications', 'Applications'], ['urls', 'URLs (regular expressions)'], ['tags', 'Tags'], ['priorities', 'Priorities (numbers)']];

function lines(v) {
	return Array.isArray(v) ? v.join('\n') : '';
}

function splitLines(s) {
	return s.split('\n').map(x => x.trim()).filter(Boolean);
}

// The form; c is the cluster to edit or null.
async function form(view, id) {
	const c = id ? await api.get(`/api/v1/clusters/${id}`) : null;
	const sc = c?.scheduler_cluster_config || {candidate_parent_limit: 4, filter_parent_limit: 40, job_rate_limit: 10};
	const seed = c?.seed_peer_cluster_config || {load_limit: 2000};
	const peer = c?.peer_cluster_config || {load_limit: 200};
	const scopes = c?.scopes || {};
	const bl = seed.block_list?.task?.download || {};
	const f = h('form.card', {id: 'cluster-form'},
		h('h1', {}, c ? `Edit ${c.name}` : 'New cluster'),
		h('fieldset', {}, h('legend', {}, 'Information'),
			field('Name', 'name', {required: true, value: c?.name, maxlength: 1024}),
			field('Description', 'bio', {type: 'textarea', value: c?.bio}),
			field('Default cluster (peers that match no scope)', 'is_default', {type: 'checkbox', value: c?.is_default})),
		h('fieldset', {}, h('legend', {}, 'Scopes'),
			field('Location', 'location', {value: scopes.location, placeholder: 'cn|zj|hz', help: 'Levels separated by |; the longest common prefix wins.'}),
			field('IDC', 'idc', {value: scopes.idc, placeholder: 'idc1|idc2', help: 'Any of these, separated by |.'}),
			field('CIDRs (one a line)', 'cidrs', {type: 'textarea', value: lines(scopes.cidrs), placeholder: '10.0.0.0/8'}),
			field('Host names (regular expressions, one a line)', 'hostnames', {type: 'textarea', value: lines(scopes.hostnames), placeholder: '^node-.*$'})),
		h('fieldset', {}, h('legend', {}, 'Config'),
			field('Seed peer load limit (1 to 50000)', 'seed_load_limit', {type: 'number', min: 1, max: 50000, required: true, value: seed.load_limit}),
			field('Peer load limit (1 to 2000)', 'peer_load_limit', {type: 'number', min: 1, max: 2000, required: true, value: peer.load_limit}),
			field('Candidate parent limit (1 to 20)', 'candidate_parent_limit', {type: 'number', min: 1, max: 20, required: true, value: sc.candidate_parent_limit}),
			field('Filter parent limit (10 to 1000)', 'filter_parent_limit', {type: 'number', min: 10, max: 1000, required: true, value: sc.filter_parent_limit}),
			field('Job rate limit (jobs per second, 1 to 1000000)', 'job_rate_limit', {type: 'number', min: 1, max: 1000000, required: true, value: sc.job_rate_limit})),
		h('fieldset', {}, h('legend', {}, 'Block list of task downloads'),
			LIST_KEYS.map(([k, t]) => field(t + ' (one a line)', 'bl_' + k, {type: 'textarea', rows: 2, value: lines(bl[k])}))),
		h('div.actions', {}, h('button', {type: 'submit'}, c ? 'Save' : 'Create'), link(c ? `/clusters/${c.id}` : '/clusters', 'Cancel')));
	f.addEventListener('submit', async e => {
		e.preventDefault();
		const v = name => f.elements[name].value;
		const num = name => Number(v(name));
		const block = {};
		for (const [k] of LIST_KEYS) {
			const items = splitLines(v('bl_' + k));
			if (items.length) block[k] = k === 'priorities' ? items.map(Number) : items;
		}
		const blockList = Object.keys(block).length ? {task: {download: block}} : {};
		const body = {
			name: v('name').trim(), bio: v('bio'), is_default: f.elements.is_default.checked,
			scopes: {location: v('location').trim(), idc: v('idc').trim(), cidrs: splitLines(v('cidrs')), hostnames: splitLines(v('hostnames'))},
			scheduler_cluster_config: {candidate_parent_limit: num('candidate_parent_limit'), filter_parent_limit: num('filter_parent_limit'), job_rate_limit: num('job_rate_limit')},
			seed_peer_cluster_config: {load_limit: num('seed_load_limit'), block_list: blockList},
			peer_cluster_config: {load_limit: num('peer_load_limit'), block_list: blockList},
		};
		await guard(async () => {
			const r = c ? await api.patch(`/api/v1/clusters/${c.id}`, body) : await api.post('/api/v1/clusters', body);
			navigate(`/clusters/${r?.id ?? c.id}`);
			flash(c ? 'Saved.' : 'Cluster created.', 'ok');
		});
	});
	mount(view, f);
	f.elements.name.focus();
}

function dl(pairs) {
	return h('dl', {}, pairs.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v === undefined || v === null || v === '' ? '–' : v)]));
}

export function clusterTabs(id, here) {
	const tabs = [['', 'Information'], ['/schedulers', 'Schedulers'], ['/seed-peers', 'Seed peers'], ['/peers', 'Peers']];
	return h('nav.tabs', {'aria-label': 'Cluster'}, tabs.map(([p, t]) => {
		const a = link(`/clusters/${id}${p}`, t);
		if (p === here) a.setAttribute('aria-current', 'page');
		return a;
	}));
}

async function detail(view, id) {
	const c = await api.get(`/api/v1/clusters/${id}`);
	const s = c.scopes || {}, sc = c.scheduler_cluster_config || {};
	const bl = c.seed_peer_cluster_config?.block_list?.task?.download || {};
	const del = canWrite() ? h('button.danger', {type: 'button', onclick: async () => {
		if (!confirm(`Delete cluster ${c.name}?`)) return;
		await guard(async () => {
			await api.del(`/api/v1/clusters/${c.id}`);
			navigate('/clusters');
			flash(`Cluster ${c.name} deleted.`, 'ok');
		});
	}}, 'Delete') : null;
	mount(view, h('div.head', {}, h('h1', {}, c.name, c.is_default ? h('span.badge.ok', {}, 'default') : null),
		h('div.actions', {}, canWrite() ? linkButton(`/clusters/${c.id}/edit`, 'Edit') : null, del)),
	clusterTabs(id, ''),
	h('section.card', {}, h('h2', {}, 'Information'), dl([['ID', String(c.id)], ['Description', c.bio],
		['Scheduler cluster', String(c.scheduler_cluster_id)], ['Seed peer cluster', String(c.seed_peer_cluster_id)],
		['Created', fmtTime(c.created_at)], ['Updated', fmtTime(c.updated_at)]])),
	h('section.card', {}, h('h2', {}, 'Scopes'), dl([['Location', s.location], ['IDC', s.idc],
		['CIDRs', (s.cidrs || []).join(', ')], ['Host names', (s.hostnames || []).join(', ')]])),
	h('section.card', {}, h('h2', {}, 'Config'), dl([['Seed peer load limit', String(c.seed_peer_cluster_config?.load_limit ?? '')],
		['Peer load limit', String(c.peer_cluster_config?.load_limit ?? '')], ['Candidate parent limit', String(sc.candidate_parent_limit ?? '')],
		['Filter parent limit', String(sc.filter_parent_limit ?? '')], ['Job rate limit', String(sc.job_rate_limit ?? '')]])),
	h('section.card', {}, h('h2', {}, 'Block list'), dl(LIST_KEYS.map(([k, t]) => [t, (bl[k] || []).join(', ')]))));
}

export const clusterPages = [
	{re: /^\/$/, title: 'Clusters', render: overview},
	{re: /^\/clusters$/, title: 'Clusters', render: overview},
	{re: /^\/clusters\/new$/, title: 'New cluster', rootOnly: true, render: v => form(v, null)},
	{re: /^\/clusters\/(\d+)\/edit$/, title: 'Edit cluster', rootOnly: true, render: form},
	{re: /^\/clusters\/(\d+)$/, title: 'Cluster', render: detail},
];
