// SPDX-License-Identifier: Apache-2.0
// The user's own pages (profile, password, sign out), personal access tokens, and the
// users and their roles (root only).
import {h, mount, link, linkButton, field, fmtTime, table, badge} from '../dom.js';
import * as api from '../api.js';
import {session, canWrite, flash, guard, navigate, render, forgetUser} from '../app.js';

async function profile(view) {
	const u = await api.get(`/api/v1/users/${session.user.id}`);
	const info = h('form.card', {id: 'profile-form'}, h('h2', {}, 'Information'),
		field('Email', 'email', {type: 'email', value: u.email}),
		field('Phone', 'phone', {value: u.phone}),
		field('Location', 'location', {value: u.location}),
		field('Bio', 'bio', {type: 'textarea', value: u.bio}),
		canWrite() ? h('button', {type: 'submit'}, 'Save') : h('p.muted', {}, 'Only root can change user information.'));
	if (!canWrite()) for (const el of info.elements) el.disabled = true;
	info.addEventListener('submit', async e => {
		e.preventDefault();
		const f = info.elements;
		await guard(async () => {
			await api.patch(`/api/v1/users/${u.id}`, {email: f.email.value, phone: f.phone.value, location: f.location.value, bio: f.bio.value});
			flash('Saved.', 'ok');
		});
	});
	const pw = h('form.card', {id: 'password-form'}, h('h2', {}, 'Change the password'),
		field('Current password', 'old_password', {type: 'password', required: true, autocomplete: 'current-password', minlength: 8, maxlength: 20}),
		field('New password (8 to 20 characters)', 'new_password', {type: 'password', required: true, autocomplete: 'new-password', minlength: 8, maxlength: 20}),
		field('New password again', 'new_password2', {type: 'password', required: true, autocomplete: 'new-password', minlength: 8, maxlength: 20}),
		h('button', {type: 'submit'}, 'Change the password'));
	pw.addEventListener('submit', async e => {
		e.preventDefault();
		const f = pw.elements;
		if (f.new_password.value !== f.new_password2.value) {
			flash('The two new passwords differ.');
			return;
		}
		try {
			await api.post(`/api/v1/users/${u.id}/reset_password`, {old_password: f.old_password.value, new_password: f.new_password.value}, {noRedirect: true});
			pw.reset();
			flash('Password changed.', 'ok');
		} catch (err) {
			flash(err.status === 401 ? 'The current password is wrong.' : err.message);
		}
	});
	mount(view, h('div.head', {}, h('h1', {}, u.name), h('button.secondary', {type: 'button', id: 'signout', onclick: signout}, 'Sign out')),
		h('p.muted', {}, 'Roles: ', session.user.roles.join(', ') || 'none', ' · created ', fmtTime(u.created_at)), info, pw);
}

async function signout() {
	await guard(async () => {
		await api.post('/api/v1/users/signout', undefined, {noRedirect: true});
		forgetUser();
		navigate('/signin');
	});
}

// ---- personal access tokens ----

async function tokens(view) {
	const rows = await api.list('/api/v1/personal-access-tokens');
	const revoke = t => h('button.danger.small', {type: 'button', onclick: async () => {
		if (!confirm(`Revoke the token ${t.name}? Clients using it get 401 at once.`)) return;
		await guard(async () => {
			await api.del(`/api/v1/personal-access-tokens/${t.id}`);
			await render();
			flash(`Token ${t.name} revoked.`, 'ok');
		});
	}}, 'Revoke');
	mount(view, h('div.head', {}, h('h1', {}, 'Personal access tokens'), canWrite() ? linkButton('/developer/personal-access-tokens/new', 'New token') : null),
		h('p.muted', {}, 'For programs: send one as Authorization: Bearer <token> to /oapi/v1/jobs and /oapi/v1/clusters.'),
		table([{title: 'Name', cell: t => t.name}, {title: 'Scopes', cell: t => (t.scopes || []).join(', ') || 'all'},
			{title: 'State', cell: t => badge(t.state)}, {title: 'Expires', cell: t => fmtTime(t.expired_at)},
			{title: 'Description', cell: t => t.bio || ''},
			...(canWrite() ? [{title: '', cell: revoke}] : [])], rows, 'No token yet.'));
}

async function newToken(view) {
	const f = h('form.card', {id: 'token-form'}, h('h1', {}, 'New personal access token'),
		field('Name', 'name', {required: true, maxlength: 256}),
		field('Description', 'bio', {type: 'textarea'}),
		field('Expires in', 'days', {type: 'select', value: '30', options: [['7', '7 days'], ['30', '30 days'], ['90', '90 days'], ['365', 'a year']]}),
		h('fieldset', {}, h('legend', {}, 'Scopes'), field('job (/oapi/v1/jobs)', 'scope_job', {type: 'checkbox', value: true}),
			field('cluster (/oapi/v1/clusters)', 'scope_cluster', {type: 'checkbox', value: true})),
		h('div.actions', {}, h('button', {type: 'submit'}, 'Create'), link('/developer/personal-access-tokens', 'Cancel')));
	f.addEventListener('submit', async e => {
		e.preventDefault();
		const el = f.elements;
		const scopes = [];
		if (el.scope_job.checked) scopes.push('job');
		if (el.scope_cluster.checked) scopes.push('cluster');
		if (!scopes.length) {
			flash('Pick at least one scope.');
			return;
		}
		const exp = new Date(Date.now() + Number(el.days.value) * 86400000).toISOString().replace(/\.\d+Z$/, 'Z');
		await guard(async () => {
			const t = await api.post('/api/v1/personal-access-tokens', {name: el.name.value, bio: el.bio.value, scopes, expired_at: exp, user_id: session.user.id});
			// shown once: the manager keeps only its hash
			const box = h('input', {id: 'new-token', readonly: true, value: t.token, 'aria-label': 'The new token'});
			mount(view, h('div.card', {}, h('h1', {}, `Token ${t.name} created`),
				h('p', {}, 'Copy it now: it is shown only this once.'), box,
				h('div.actions', {}, h('button', {type: 'button', onclick: () => {
					box.select();
					navigator.clipboard?.writeText(t.token).then(() => flash('Copied.', 'ok'), () => {});
				}}, 'Copy'), linkButton('/developer/personal-access-tokens', 'Done'))));
			box.select();
		});
	});
	mount(view, f);
	f.elements.name.focus();
}

// ---- users (root only) ----

async function users(view) {
	const rows = await api.list('/api/v1/users');
	const roles = await Promise.all(rows.map(u => api.get(`/api/v1/users/${u.id}/roles`)));
	const roleOf = new Map(rows.map((u, i) => [u.id, roles[i] || []]));
	const toggle = u => {
		const isRoot = roleOf.get(u.id).includes('root');
		if (u.id === session.user.id) return h('span.muted', {}, 'you');
		return h('button.small.secondary', {type: 'button', onclick: async () => {
			await guard(async () => {
				if (isRoot) {
					await api.put(`/api/v1/users/${u.id}/roles/guest`).catch(e => { if (e.status !== 409) throw e; });
					await api.del(`/api/v1/users/${u.id}/roles/root`);
				} else {
					await api.put(`/api/v1/users/${u.id}/roles/root`);
				}
				await render();
				flash(`${u.name} is now ${isRoot ? 'guest' : 'root'}.`, 'ok');
			});
		}}, isRoot ? 'Make guest' : 'Make root');
	};
	mount(view, h('div.head', {}, h('h1', {}, 'Users'), linkButton('/users/new', 'New user')),
		table([{title: 'ID', cell: u => String(u.id)}, {title: 'Name', cell: u => u.name}, {title: 'Email', cell: u => u.email || ''},
			{title: 'State', cell: u => badge(u.state === 'enable' ? 'enabled' : u.state)},
			{title: 'Roles', cell: u => roleOf.get(u.id).join(', ')}, {title: 'Bio', cell: u => u.bio || ''},
			{title: 'Created', cell: u => fmtTime(u.created_at)}, {title: '', cell: toggle}], rows));
}

async function newUser(view) {
	const f = h('form.card.narrow', {id: 'user-form'}, h('h1', {}, 'New user'),
		field('Name (3 to 10 characters)', 'name', {required: true, minlength: 3, maxlength: 10}),
		field('Email', 'email', {type: 'email', required: true}),
		field('Password (8 to 20 characters)', 'password', {type: 'password', required: true, minlength: 8, maxlength: 20, autocomplete: 'new-password'}),
		h('p.muted', {}, 'A new user is a guest; make them root on the list.'),
		h('div.actions', {}, h('button', {type: 'submit'}, 'Create'), link('/users', 'Cancel')));
	f.addEventListener('submit', async e => {
		e.preventDefault();
		const el = f.elements;
		await guard(async () => {
			await api.post('/api/v1/users/signup', {name: el.name.value, email: el.email.value, password: el.password.value});
			navigate('/users');
			flash(`User ${el.name.value} created.`, 'ok');
		});
	});
	mount(view, f);
}

export const accountPages = [
	{re: /^\/profile$/, title: 'Profile', render: profile},
	{re: /^\/developer\/personal-access-tokens$/, title: 'Tokens', render: tokens},
	{re: /^\/developer\/personal-access-tokens\/new$/, title: 'New token', rootOnly: true, render: newToken},
	{re: /^\/users$/, title: 'Users', rootOnly: true, render: users},
	{re: /^\/users\/new$/, title: 'New user', rootOnly: true, render: newUser},
];
