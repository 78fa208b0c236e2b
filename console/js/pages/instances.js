// SPDX-License-Identifier: Apache-2.0
// The instances of a cluster: schedulers and seed peers with their live state (polled),
// deleting one or every inactive one; peers with version statistics and a CSV export.
import {h, mount, link, fmtTime, table, badge} from '../dom.js';
import * as api from '../api.js';
import {canWrite, flash, guard} from '../app.js';
import {clusterTabs} from './clusters.js';
import {poll} from '../poll.js';

const POLL_MS = 3000;

// A live table of one kind of instance: kind {title, path, filter(cluster), columns, detail}.
async function instances(view, id, kind) {
	const c = await api.get(`/api/v1/clusters/${id}`);
	const query = kind.filter(c);
	const holder = h('div', {id: `${kind.tab.slice(1)}-table`});
	const stamp = h('small.muted', {'aria-live': 'polite'});
	let rows = [];
	const remove = async list => {
		await guard(async () => {
			for (const r of list) await api.del(`${kind.path}/${r.id}`);
			flash(`Deleted ${list.length} ${list.length === 1 ? kind.one : kind.title.toLowerCase()}.`, 'ok');
			await load();
		});
	};
	// the features a root may switch, or null where the manager does not edit them
	const features = kind.features ? await kind.features() : null;
	const toggles = r => h('span.toggles', {}, features.map(f => {
		const on = (r.features || []).includes(f);
		const box = h('input', {type: 'checkbox', checked: on, 'data-key': `feat-${r.id}-${f}`, 'aria-label': `${f} on ${r.host_name}`,
			onchange: async () => {
				const want = features.filter(x => x === f ? box.checked : (r.features || []).includes(x));
				await guard(async () => {
					await api.patch(`${kind.path}/${r.id}`, {features: want});
					flash(`${r.host_name}: ${want.join(', ') || 'no features'}.`, 'ok');
				});
				await load();
			}});
		return h('label.toggle', {}, box, f);
	}));
	const columns = [...kind.columns,
		...(kind.features ? [{title: 'Features', cell: r => canWrite() && features ? toggles(r) : (r.features || []).join(', ')}] : []),
		{title: 'State', cell: r => badge(r.state)},
		{title: 'Last keepalive', cell: r => fmtTime(r.last_keep_alive_at || r.updated_at)},
		{title: 'Created', cell: r => fmtTime(r.created_at)},
		...(canWrite() ? [{title: '', cell: r => h('button.small.danger', {type: 'button', 'data-key': `del-${r.id}`, onclick: () => {
			if (confirm(`Delete ${r.host_name}?`)) remove([r]);
		}}, 'Delete')}] : [])];
	let shown = null;
	const load = async () => {
		rows = await api.list(kind.path, query);
		rows.sort((a, b) => a.id - b.id);
		stamp.textContent = `updated ${new Date().toLocaleTimeString()}, every ${POLL_MS / 1000} s`;
		const text = JSON.stringify(rows);
		if (text === shown) return;
		shown = text;
		// a new table, and the keyboard focus where it was (a poll must not steal it)
		const key = holder.contains(document.activeElement) ? document.activeElement.dataset.key : null;
		mount(holder, table(columns, rows, `No ${kind.title.toLowerCase()} in this cluster.`));
		if (key) holder.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
	};
	await load();
	const delInactive = canWrite() ? h('button.danger', {type: 'button', onclick: () => {
		const dead = rows.filter(r => r.state !== 'active');
		if (!dead.length) {
			flash(`No inactive ${kind.title.toLowerCase()}.`, 'ok');
			return;
		}
		if (confirm(`Delete ${dead.length} inactive ${kind.title.toLowerCase()}?`)) remove(dead);
	}}, 'Delete inactive') : null;
	mount(view, h('div.head', {}, h('h1', {}, c.name), h('div.actions', {}, delInactive)), clusterTabs(id, kind.tab),
		h('h2', {}, kind.title, ' ', stamp), holder);
	poll(load, POLL_MS, view);
}

const schedulers = {
	title: 'Schedulers', one: 'scheduler', tab: '/schedulers', path: '/api/v1/schedulers',
	filter: c => ({scheduler_cluster_id: String(c.scheduler_cluster_id)}),
	columns: [{title: 'Host name', cell: r => link(`/clusters/${r.scheduler_cluster_id}/schedulers/${r.id}`, r.host_name)},
		{title: 'IP', cell: r => r.ip}, {title: 'Port', cell: r => String(r.port)}, {title: 'Version', cell: r => r.git_version || ''}],
	// upstream's GET scheduler-features, served with its PATCH of a scheduler; a manager
	// without them (this one: a scheduler's features are what it registers with) gets no
	// switches, which could only fail
	features: async () => {
		try {
			return (await api.get('/api/v1/scheduler-features')) || [];
		} catch (e) {
			return null;
		}
	},
};

const seedPeers = {
	title: 'Seed peers', one: 'seed peer', tab: '/seed-peers', path: '/api/v1/seed-peers',
	filter: c => ({seed_peer_cluster_id: String(c.seed_peer_cluster_id)}),
	columns: [{title: 'Host name', cell: r => r.host_name}, {title: 'IP', cell: r => r.ip},
		{title: 'Port', cell: r => String(r.port)}, {title: 'Download port', cell: r => String(r.download_port)},
		{title: 'Type', cell: r => r.type}, {title: 'Version', cell: r => r.git_version || ''}],
};

async function schedulerDetail(view, cid, sid) {
	const box = h('div');
	const load = async () => {
		const s = await api.get(`/api/v1/schedulers/${sid}`);
		mount(box, h('section.card', {}, h('dl', {}, [['Host name', s.host_name], ['IP', s.ip], ['Port', String(s.port)],
			['State', badge(s.state)], ['Features', (s.features || []).join(', ')], ['IDC', s.idc], ['Location', s.location],
			['Version', s.git_version], ['Commit', s.git_commit], ['Cluster', s.scheduler_cluster?.name],
			['Last keepalive', fmtTime(s.last_keep_alive_at)], ['Created', fmtTime(s.created_at)], ['Updated', fmtTime(s.updated_at)]]
			.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '–')]))));
	};
	await load();
	mount(view, h('h1', {}, 'Scheduler'), h('p', {}, link(`/clusters/${cid}/schedulers`, '← the cluster\'s schedulers')), box);
	poll(load, POLL_MS, view);
}

// Counts of rows by key, largest first.
function countBy(rows, key) {
	const m = new Map();
	for (const r of rows) m.set(r[key] || '(none)', (m.get(r[key] || '(none)') || 0) + 1);
	return [...m.entries()].sort((a, b) => b[1] - a[1]);
}

// A horizontal bar chart of [label, count] pairs, drawn with elements (no library).
function bars(title, pairs) {
	const max = Math.max(1, ...pairs.map(p => p[1]));
	return h('figure.chart', {}, h('figcaption', {}, title), pairs.length ? pairs.map(([label, n]) => {
		const bar = h('span.bar');
		bar.style.width = `${(100 * n) / max}%`;
		return h('div.bar-row', {}, h('span.bar-label', {title: label}, label), h('span.bar-track', {}, bar), h('span.bar-n', {}, String(n)));
	}) : h('p.muted', {}, 'No peers.'));
}

const CSV_COLUMNS = ['id', 'host_name', 'type', 'ip', 'port', 'download_port', 'state', 'os', 'platform', 'kernel_version',
	'git_version', 'git_commit', 'build_platform', 'idc', 'location', 'created_at', 'updated_at'];

// One CSV field (RFC 4180); a leading = + - @ is defused so a spreadsheet does not run it.
function csvField(v) {
	let s = v === undefined || v === null ? '' : String(v);
	if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
	return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function peersCsv(rows) {
	return [CSV_COLUMNS.join(','), ...rows.map(r => CSV_COLUMNS.map(k => csvField(r[k])).join(','))].join('\r\n') + '\r\n';
}

async function peers(view, id) {
	const c = await api.get(`/api/v1/clusters/${id}`);
	const rows = await api.list('/api/v1/peers', {scheduler_cluster_id: String(c.scheduler_cluster_id)});
	const versions = countBy(rows, 'git_version'), commits = countBy(rows, 'git_commit');
	const exportCsv = h('button.secondary', {type: 'button', onclick: () => {
		const url = URL.createObjectURL(new Blob([peersCsv(rows)], {type: 'text/csv'}));
		const a = h('a', {href: url, download: `peers-cluster-${c.id}.csv`});
		document.body.appendChild(a);
		a.click();
		a.remove();
		setTimeout(() => URL.revokeObjectURL(url), 1000);
	}}, 'Export CSV');
	const refresh = canWrite() ? h('button', {type: 'button', onclick: async () => {
		await guard(async () => {
			await api.post('/api/v1/jobs', {type: 'sync_peers', scheduler_cluster_ids: [c.scheduler_cluster_id]});
			flash('Peers refreshed from the schedulers.', 'ok');
			await peers(view, id);
		});
	}}, 'Refresh') : null;
	mount(view, h('div.head', {}, h('h1', {}, c.name), h('div.actions', {}, refresh, exportCsv)), clusterTabs(id, '/peers'),
		h('div.stats', {}, h('div.stat', {}, h('div.num', {}, String(rows.length)), h('div.muted', {}, 'peers')),
			h('div.stat', {}, h('div.num', {}, String(rows.filter(r => r.state === 'active').length)), h('div.muted', {}, 'active')),
			h('div.stat', {}, h('div.num', {}, String(versions.length)), h('div.muted', {}, 'versions')),
			h('div.stat', {}, h('div.num', {}, String(commits.length)), h('div.muted', {}, 'commits'))),
		h('div.charts', {}, bars('Peers by version', versions), bars('Peers by commit', commits.slice(0, 10))),
		table([{title: 'Host name', cell: r => r.host_name}, {title: 'IP', cell: r => r.ip}, {title: 'Type', cell: r => r.type},
			{title: 'Version', cell: r => r.git_version || ''}, {title: 'State', cell: r => badge(r.state)},
			{title: 'Updated', cell: r => fmtTime(r.updated_at)}], rows, 'No peers in this cluster.'));
}

export const instancePages = [
	{re: /^\/clusters\/(\d+)\/schedulers$/, title: 'Schedulers', render: (v, id) => instances(v, id, schedulers)},
	{re: /^\/clusters\/(\d+)\/schedulers\/(\d+)$/, title: 'Scheduler', render: schedulerDetail},
	{re: /^\/clusters\/(\d+)\/seed-peers$/, title: 'Seed peers', render: (v, id) => instances(v, id, seedPeers)},
	{re: /^\/clusters\/(\d+)\/peers$/, title: 'Peers', render: peers},
];
