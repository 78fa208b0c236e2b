// SPDX-License-Identifier: Apache-2.0
// Preheat jobs (server-paginated list, create form, live detail) and the task pages:
// search a task by URL, image or ID to see which hosts hold it, delete it from the cache
// everywhere, and the history of those deletions.
import {h, mount, link, linkButton, field, fmtTime, table, badge} from '../dom.js';
import * as api from '../api.js';
import {canWrite, flash, guard, navigate} from '../app.js';
import {poll} from '../poll.js';

const POLL_MS = 3000;

// A paginated job list of type; base is the page path, detail(job) the link of a row.
async function jobList(view, type, title, base, newHref) {
	const pageNo = Math.max(1, Number(new URLSearchParams(location.search).get('page')) || 1);
	const {rows, last} = await api.page('/api/v1/jobs', {type}, pageNo);
	const pager = h('nav.pager', {'aria-label': 'Pages'},
		pageNo > 1 ? link(`${base}?page=${pageNo - 1}`, '← newer') : null,
		h('span', {}, `page ${pageNo} of ${last}`),
		pageNo < last ? link(`${base}?page=${pageNo + 1}`, 'older →') : null);
	mount(view, h('div.head', {}, h('h1', {}, title), canWrite() && newHref ? linkButton(newHref, 'New') : null),
		table([{title: 'ID', cell: j => link(`${base}/${j.id}`, String(j.id))}, {title: 'Description', cell: j => j.bio || ''},
			{title: 'URL', cell: j => j.args?.url || (j.args?.urls || []).join(' ') || j.args?.task_id || ''},
			{title: 'State', cell: j => badge(j.state)}, {title: 'Created', cell: j => fmtTime(j.created_at)}], rows, 'No job yet.'),
		pager);
}

const lines = s => s.split('\n').map(x => x.trim()).filter(Boolean);

async function newPreheat(view) {
	const clusters = await api.list('/api/v1/clusters');
	const f = h('form.card', {id: 'preheat-form'}, h('h1', {}, 'New preheat'),
		field('Description', 'bio', {type: 'textarea', rows: 2}),
		h('fieldset', {}, h('legend', {}, 'Clusters (none: every cluster)'),
			clusters.map(c => field(c.name, `cluster_${c.scheduler_cluster_id}`, {type: 'checkbox'}))),
		field('Type', 'type', {type: 'select', value: 'image', options: [['image', 'image'], ['file', 'file']]}),
		h('fieldset', {id: 'image-args'}, h('legend', {}, 'Image'),
			field('Manifest URL', 'url', {placeholder: 'https://registry/v2/library/alpine/manifests/3.19'}),
			field('Platform', 'platform', {type: 'select', value: 'linux/amd64', options: [['linux/amd64', 'linux/amd64'], ['linux/arm64', 'linux/arm64']]}),
			field('Registry user name', 'username'),
			field('Registry password', 'password', {type: 'password', autocomplete: 'new-password'})),
		h('fieldset', {id: 'file-args', hidden: true}, h('legend', {}, 'Files'), field('URLs (one a line)', 'urls', {type: 'textarea'})),
		h('fieldset', {}, h('legend', {}, 'Options'),
			field('Tag', 'tag'), field('Application', 'application'),
			field('Piece length (MiB, 4 to 64; empty: automatic)', 'piece_length', {type: 'number', min: 4, max: 64}),
			field('Filtered query parameters (& separated)', 'filtered_query_params'),
			field('Headers (Name: value, one a line)', 'headers', {type: 'textarea', rows: 2})),
		h('fieldset', {}, h('legend', {}, 'Scope'),
			field('Scope', 'scope', {type: 'select', value: 'single_seed_peer', options: [['single_seed_peer', 'one seed peer'], ['all_seed_peers', 'all seed peers'], ['all_peers', 'all peers']]}),
			field('IPs (one a line; first choice)', 'ips', {type: 'textarea', rows: 2}),
			field('Count (1 to 200)', 'count', {type: 'number', min: 1, max: 200}),
			field('Percentage (1 to 100)', 'percentage', {type: 'number', min: 1, max: 100})),
		h('div.actions', {}, h('button', {type: 'submit'}, 'Preheat'), link('/jobs/preheats', 'Cancel')));
	const el = f.elements;
	const sync = () => {
		f.querySelector('#image-args').hidden = el.type.value !== 'image';
		f.querySelector('#file-args').hidden = el.type.value !== 'file';
	};
	el.type.addEventListener('change', sync);
	f.addEventListener('submit', async e => {
		e.preventDefault();
		const args = {type: el.type.value, scope: el.scope.value};
		if (args.type === 'image') {
			args.url = el.url.value.trim();
			args.platform = el.platform.value;
			if (el.username.value) args.username = el.username.value;
			if (el.password.value) args.password = el.password.value;
		} else {
			args.urls = lines(el.urls.value);
		}
		for (const k of ['tag', 'application', 'filtered_query_params']) if (el[k].value.trim()) args[k] = el[k].value.trim();
		if (el.piece_length.value) args.piece_length = Number(el.piece_length.value) * 1048576;
		const headers = {};
		for (const l of lines(el.headers.value)) {
			const i = l.indexOf(':');
			if (i > 0) headers[l.slice(0, i).trim()] = l.slice(i + 1).trim();
		}
		if (Object.keys(headers).length) args.headers = headers;
		const ips = lines(el.ips.value);
		if (ips.length) args.ips = ips;
		else if (el.count.value) args.count = Number(el.count.value);
		else if (el.percentage.value) args.percentage = Number(el.percentage.value);
		const ids = clusters.filter(c => el[`cluster_${c.scheduler_cluster_id}`].checked).map(c => c.scheduler_cluster_id);
		await guard(async () => {
			const j = await api.post('/api/v1/jobs', {type: 'preheat', bio: el.bio.value, scheduler_cluster_ids: ids, args});
			navigate(`/jobs/preheats/${j.id}`);
		});
	});
	mount(view, f);
	sync();
}

// The hosts of a job's results: [{cluster, url, hostname, ip, ok, description}].
function resultRows(job) {
	const out = [];
	for (const js of job.result?.job_states || []) {
		for (const r of js.results || []) {
			for (const t of r.success_tasks || []) out.push({...t, ok: true, cluster: r.scheduler_cluster_id});
			for (const t of r.failure_tasks || []) out.push({...t, ok: false, cluster: r.scheduler_cluster_id});
			for (const p of r.peers || []) out.push({...p, ok: true, cluster: r.scheduler_cluster_id});
		}
	}
	return out;
}

function jobErrors(job) {
	return (job.result?.job_states || []).map(s => s.error).filter(Boolean);
}

async function jobDetail(view, id, back) {
	const box = h('div', {id: 'job-detail'});
	let done = false;
	const load = async () => {
		if (done) return;
		const j = await api.get(`/api/v1/jobs/${id}`);
		done = j.state === 'SUCCESS' || j.state === 'FAILURE';
		const rows = resultRows(j);
		const args = Object.entries(j.args || {}).filter(([, v]) => v !== null && v !== '' && !(Array.isArray(v) && !v.length));
		mount(box, h('section.card', {}, h('dl', {}, [['State', badge(j.state)], ['Type', j.type], ['Description', j.bio],
			['Created', fmtTime(j.created_at)], ['Updated', fmtTime(j.updated_at)],
			['Clusters', (j.scheduler_clusters || []).map(c => c.name).join(', ')]].map(([k, v]) => [h('dt', {}, k), h('dd', {}, v || '–')]))),
		jobErrors(j).length ? h('section.card.error', {}, h('h2', {}, 'Errors'), jobErrors(j).map(e => h('pre', {}, e))) : null,
		h('h2', {}, 'Succeeded'), table([{title: 'Cluster', cell: r => String(r.cluster ?? '')}, {title: 'Host', cell: r => r.hostname || ''},
			{title: 'IP', cell: r => r.ip || ''}, {title: 'URL', cell: r => r.url || ''}], rows.filter(r => r.ok), done ? 'None.' : 'None yet.'),
		h('h2', {}, 'Failed'), table([{title: 'Cluster', cell: r => String(r.cluster ?? '')}, {title: 'Host', cell: r => r.hostname || ''},
			{title: 'IP', cell: r => r.ip || ''}, {title: 'URL', cell: r => r.url || ''}, {title: 'Reason', cell: r => r.description || ''}],
		rows.filter(r => !r.ok), 'None.'),
		h('h2', {}, 'Arguments'), h('dl', {}, args.map(([k, v]) => [h('dt', {}, k), h('dd', {}, typeof v === 'object' ? JSON.stringify(v) : String(v))])));
	};
	await load();
	mount(view, h('h1', {}, `Job ${id}`), h('p', {}, link(back, '← all jobs')), box);
	poll(load, POLL_MS, view);
}

// The last path segment of a blob URL: its digest, shortened for a table cell.
const digestOf = url => {
	const d = url.slice(url.lastIndexOf('/') + 1);
	return d.length > 23 ? `${d.slice(0, 19)}…` : d;
};

// An image search: get_image_distribution answers at once (no job) with the image's layers
// and each host's cached layers.
async function imageSearch(out, el) {
	const args = {url: el.key.value.trim(), platform: el.platform.value};
	if (el.username.value) args.username = el.username.value;
	if (el.password.value) args.password = el.password.value;
	for (const k of ['tag', 'application', 'filtered_query_params']) if (el[k].value.trim()) args[k] = el[k].value.trim();
	mount(out, h('p', {}, 'Searching…'));
	const r = await api.post('/api/v1/jobs', {type: 'get_image_distribution', args});
	const layers = r.image?.layers || [], n = layers.length;
	mount(out, h('h2', {}, `Hosts holding layers of the image (${n} layers)`),
		table([{title: 'Host', cell: p => p.hostname}, {title: 'IP', cell: p => p.ip}, {title: 'Cluster', cell: p => String(p.scheduler_cluster_id)},
			{title: 'Cached', cell: p => `${p.cached_layers.length} of ${n}`},
			{title: 'Layers', cell: p => p.cached_layers.map(l => digestOf(l.url)).join(' ')}], r.peers || [], 'No host holds a layer of it.'),
		h('h2', {}, 'Layers'), table([{title: 'Digest', cell: l => digestOf(l.url)}, {title: 'URL', cell: l => l.url},
			{title: 'Hosts', cell: l => String((r.peers || []).filter(p => p.cached_layers.some(c => c.url === l.url)).length)}], layers, 'None.'));
}

// Task search: get_task (by URL or task ID) runs as a job; the page polls it and lists the
// hosts that hold the task, with a delete_task button. By image: imageSearch.
async function taskSearch(view) {
	const f = h('form.card', {id: 'task-form'}, h('h1', {}, 'Find a task'),
		field('Search by', 'by', {type: 'select', value: 'url', options: [['url', 'URL'], ['task_id', 'task ID'], ['image', 'image']]}),
		field('URL, task ID or manifest URL', 'key', {required: true}),
		h('fieldset', {id: 'image-search', hidden: true}, h('legend', {}, 'Image'),
			field('Platform', 'platform', {type: 'select', value: 'linux/amd64', options: [['linux/amd64', 'linux/amd64'], ['linux/arm64', 'linux/arm64']]}),
			field('Registry user name', 'username'),
			field('Registry password', 'password', {type: 'password', autocomplete: 'new-password'})),
		field('Tag', 'tag'), field('Application', 'application'), field('Filtered query parameters', 'filtered_query_params'),
		h('div.actions', {}, h('button', {type: 'submit'}, 'Search'), link('/resource/task/executions', 'Deletion history')));
	const out = h('div', {id: 'task-result'});
	f.elements.by.addEventListener('change', () => { f.querySelector('#image-search').hidden = f.elements.by.value !== 'image'; });
	const argsOf = () => {
		const el = f.elements, a = {};
		a[el.by.value] = el.key.value.trim();
		for (const k of ['tag', 'application', 'filtered_query_params']) if (el[k].value.trim()) a[k] = el[k].value.trim();
		return a;
	};
	const runJob = async (type, args, show) => {
		const j = await api.post('/api/v1/jobs', {type, args});
		const stop = poll(async () => {
			const cur = await api.get(`/api/v1/jobs/${j.id}`);
			show(cur);
			if (cur.state !== 'PENDING') stop();
		}, 1000);
		show(j);
	};
	f.addEventListener('submit', e => {
		e.preventDefault();
		if (f.elements.by.value === 'image') {
			guard(() => imageSearch(out, f.elements));
			return;
		}
		const args = argsOf();
		guard(() => runJob('get_task', args, j => {
			const hosts = resultRows(j);
			const del = canWrite() && hosts.length ? h('button.danger', {type: 'button', onclick: () => {
				if (!confirm('Delete this task from the cache of every host?')) return;
				guard(() => runJob('delete_task', args, d => mount(out, h('p', {}, 'Deletion job ', link(`/resource/task/executions/${d.id}`, String(d.id)), ': ', badge(d.state)))));
			}}, 'Delete everywhere') : null;
			mount(out, h('h2', {}, 'Hosts holding it ', badge(j.state)), jobErrors(j).map(x => h('p.error', {}, x)),
				table([{title: 'Host', cell: r => r.hostname || ''}, {title: 'IP', cell: r => r.ip || ''}, {title: 'Type', cell: r => r.host_type || ''},
					{title: 'Cluster', cell: r => String(r.cluster ?? '')}], hosts, j.state === 'PENDING' ? 'Searching…' : 'No host holds it.'), del);
		}));
	});
	mount(view, f, out);
}

export const jobPages = [
	{re: /^\/jobs\/preheats$/, title: 'Preheat', render: v => jobList(v, 'preheat', 'Preheat jobs', '/jobs/preheats', '/jobs/preheats/new')},
	{re: /^\/jobs\/preheats\/new$/, title: 'New preheat', rootOnly: true, render: newPreheat},
	{re: /^\/jobs\/preheats\/(\d+)$/, title: 'Preheat job', render: (v, id) => jobDetail(v, id, '/jobs/preheats')},
	{re: /^\/resource\/task$/, title: 'Tasks', render: taskSearch},
	{re: /^\/resource\/task\/executions$/, title: 'Task deletions', render: v => jobList(v, 'delete_task', 'Task deletions', '/resource/task/executions', null)},
	{re: /^\/resource\/task\/executions\/(\d+)$/, title: 'Task deletion', render: (v, id) => jobDetail(v, id, '/resource/task/executions')},
];
