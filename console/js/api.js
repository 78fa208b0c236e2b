// SPDX-License-Identifier: Apache-2.0
// The manager's REST API. The session is the jwt cookie (HttpOnly: no script reads it);
// every request says X-Requested-With, which the manager requires of a write that carries
// the cookie (its CSRF defence). A 401 sends the user to sign-in and back afterwards.

export const MAX_PAGE = 10000000;

export class ApiError extends Error {
	constructor(status, message) {
		super(message);
		this.status = status;
	}
}

let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
	onUnauthorized = fn;
}

// The text of an error answer: {"message"} or {"errors"}, else the status line; never raw JSON.
function errorText(status, text) {
	try {
		const doc = JSON.parse(text);
		if (doc && typeof doc.message === 'string' && doc.message) return doc.message;
		if (doc && typeof doc.errors === 'string' && doc.errors) return doc.errors;
	} catch (e) {
		// not JSON: the text itself when short and plain
	}
	if (text && text.length < 200 && !text.trim().startsWith('<')) return text.trim();
	return `request failed (HTTP ${status})`;
}

// request(method, path, body) -> {data, headers}; throws ApiError.
export async function request(method, path, body, opts = {}) {
	const init = {method, credentials: 'same-origin', headers: {'X-Requested-With': 'dragonfly-console', Accept: 'application/json'}};
	if (body !== undefined) {
		init.headers['Content-Type'] = 'application/json';
		init.body = JSON.stringify(body);
	}
	let resp;
	try {
		resp = await fetch(path, init);
	} catch (e) {
		throw new ApiError(0, 'the manager cannot be reached: ' + e.message);
	}
	const text = await resp.text();
	if (resp.status === 401 && !opts.noRedirect) {
		const msg = errorText(401, text);
		// "permission deny" is a signed-in user without the right: say so, stay here
		if (msg !== 'permission deny') onUnauthorized();
		throw new ApiError(401, msg === 'permission deny' ? 'You do not have permission to do this.' : 'Please sign in.');
	}
	if (resp.status === 409) throw new ApiError(409, 'That name is already taken.');
	if (resp.status < 200 || resp.status > 299) throw new ApiError(resp.status, errorText(resp.status, text));
	let data = null;
	if (text) {
		try {
			data = JSON.parse(text);
		} catch (e) {
			data = text;
		}
	}
	return {data, headers: resp.headers};
}

export const get = async (path, opts) => (await request('GET', path, undefined, opts)).data;
export const post = async (path, body, opts) => (await request('POST', path, body, opts)).data;
export const patch = async (path, body) => (await request('PATCH', path, body)).data;
export const put = async (path, body) => (await request('PUT', path, body)).data;
export const del = async path => (await request('DELETE', path)).data;

// Every row of a list (the console's tables page in the browser, as upstream's do).
export async function list(path, query = {}) {
	const q = new URLSearchParams({...query, page: '1', per_page: String(MAX_PAGE)});
	return (await get(`${path}?${q}`)) || [];
}

// One page of a server-paginated list: {rows, last} from the Link header's rel=last.
export async function page(path, query, pageNo, perPage = 10) {
	const q = new URLSearchParams({...query, page: String(pageNo), per_page: String(perPage)});
	const r = await request('GET', `${path}?${q}`);
	let last = 1;
	const link = r.headers.get('Link') || '';
	const m = /<([^>]*)>;rel=last/.exec(link);
	if (m) last = Number(new URL(m[1], location.origin).searchParams.get('page')) || 1;
	return {rows: r.data || [], last: Math.max(1, last)};
}

// The id claim of a JWT (the sign-in answer's token; the cookie itself is not readable).
export function tokenUserId(token) {
	const part = String(token).split('.')[1] || '';
	const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
	return Number(JSON.parse(json).id);
}
