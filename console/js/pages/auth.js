// SPDX-License-Identifier: Apache-2.0
// Sign in and sign up.
import {h, mount, link, field} from '../dom.js';
import * as api from '../api.js';
import {navigate, loadUser, flash, forgetUser} from '../app.js';

// Where to go after sign-in: ?next= when it is a path of ours, else the clusters.
function nextPath() {
	const n = new URLSearchParams(location.search).get('next') || '';
	return n.startsWith('/') && !n.startsWith('//') && !n.startsWith('/signin') ? n : '/clusters';
}

async function signin(view) {
	forgetUser();
	const form = h('form.card.narrow', {},
		h('h1', {}, 'Sign in'),
		field('Name', 'name', {required: true, autocomplete: 'username', minlength: 3, maxlength: 10}),
		field('Password', 'password', {type: 'password', required: true, autocomplete: 'current-password', minlength: 8, maxlength: 20}),
		h('button', {type: 'submit'}, 'Sign in'),
		h('p', {}, 'No account? ', link('/signup', 'Sign up')));
	form.addEventListener('submit', async e => {
		e.preventDefault();
		const body = {name: form.elements.name.value, password: form.elements.password.value};
		try {
			const r = await api.post('/api/v1/users/signin', body, {noRedirect: true});
			await loadUser(api.tokenUserId(r.token));
			navigate(nextPath(), true);
		} catch (err) {
			flash(err.status === 401 ? 'Wrong name or password.' : err.message);
		}
	});
	mount(view, form);
	form.elements.name.focus();
}

async function signup(view) {
	const form = h('form.card.narrow', {},
		h('h1', {}, 'Sign up'),
		field('Name (3 to 10 characters)', 'name', {required: true, minlength: 3, maxlength: 10, autocomplete: 'username'}),
		field('Email', 'email', {type: 'email', required: true, autocomplete: 'email'}),
		field('Password (8 to 20 characters)', 'password', {type: 'password', required: true, minlength: 8, maxlength: 20, autocomplete: 'new-password'}),
		h('button', {type: 'submit'}, 'Create the account'),
		h('p', {}, 'Have one? ', link('/signin', 'Sign in')));
	form.addEventListener('submit', async e => {
		e.preventDefault();
		const f = form.elements;
		try {
			await api.post('/api/v1/users/signup', {name: f.name.value, email: f.email.value, password: f.password.value}, {noRedirect: true});
			navigate('/signin', true);
			flash('Account created: sign in.', 'ok');
		} catch (err) {
			flash(err.status === 409 ? 'That name is taken.' : err.message);
		}
	});
	mount(view, form);
}

export const authPages = [
	{re: /^\/signin$/, open: true, title: 'Sign in', render: signin},
	{re: /^\/signup$/, open: true, title: 'Sign up', render: signup},
];
