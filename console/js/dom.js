// SPDX-License-Identifier: Apache-2.0
// Building the page. Every value goes in as text (textContent, attribute values): there
// is no innerHTML in the console, so a host name like <img src=x onerror=...> stays text.

// h('tag.class', {attr: value, onclick: fn}, child, ...): an element; children are nodes,
// strings (text nodes), arrays of those, or null/false (skipped).
export function h(spec, attrs, ...children) {
	const [tag, ...classes] = spec.split('.');
	const el = document.createElement(tag || 'div');
	if (classes.length) el.className = classes.join(' ');
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === undefined || v === null || v === false) continue;
		if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
		else if (k === 'value') el.value = v;
		else if (k === 'checked') el.checked = !!v;
		else el.setAttribute(k, v === true ? '' : String(v));
	}
	append(el, children);
	return el;
}

function append(el, children) {
	for (const c of children) {
		if (c === null || c === undefined || c === false) continue;
		if (Array.isArray(c)) append(el, c);
		else if (c instanceof Node) el.appendChild(c);
		else el.appendChild(document.createTextNode(String(c)));
	}
}

// Replace the children of el.
export function mount(el, ...children) {
	el.replaceChildren();
	append(el, children);
}

// A link handled by the router (History API), so the back button works.
export function link(href, ...children) {
	return h('a', {href, 'data-link': true}, ...children);
}

// A table: columns [{title, cell: row => node|string}], rows.
export function table(columns, rows, empty = 'Nothing yet.') {
	if (!rows.length) return h('p.muted', {}, empty);
	return h('div.scroll', {}, h('table', {},
		h('thead', {}, h('tr', {}, columns.map(c => h('th', {scope: 'col'}, c.title)))),
		h('tbody', {}, rows.map(r => h('tr', {}, columns.map(c => h('td', {'data-label': c.title}, c.cell(r))))))));
}

// A labelled form field. opts: {type, value, required, min, max, placeholder, help, rows}.
export function field(label, name, opts = {}) {
	const id = 'f-' + name.replace(/[^a-z0-9_]/gi, '-');
	let input;
	if (opts.type === 'textarea') {
		input = h('textarea', {id, name, rows: opts.rows || 3, placeholder: opts.placeholder});
		input.value = opts.value ?? '';
	} else if (opts.type === 'select') {
		input = h('select', {id, name}, opts.options.map(o => h('option', {value: o[0], selected: o[0] === opts.value}, o[1])));
	} else if (opts.type === 'checkbox') {
		input = h('input', {id, name, type: 'checkbox', checked: !!opts.value});
		return h('div.field.check', {}, input, h('label', {for: id}, label));
	} else {
		input = h('input', {id, name, type: opts.type || 'text', value: opts.value ?? '', required: opts.required,
			min: opts.min, max: opts.max, minlength: opts.minlength, maxlength: opts.maxlength,
			placeholder: opts.placeholder, autocomplete: opts.autocomplete || 'off'});
	}
	return h('div.field', {}, h('label', {for: id}, label), input, opts.help ? h('small.muted', {}, opts.help) : null);
}

export function fmtTime(s) {
	if (!s) return '';
	const d = new Date(s);
	return isNaN(d) ? String(s) : d.toLocaleString();
}

// A state badge: active/SUCCESS green, inactive/FAILURE red, anything else grey.
export function badge(state) {
	const s = String(state ?? '');
	const cls = /^(active|success|enabled)$/i.test(s) ? 'ok' : /^(inactive|failure|disable)$/i.test(s) ? 'bad' : 'wait';
	return h('span.badge.' + cls, {}, s);
}

// A router link styled as a button.
export function linkButton(href, ...children) {
	return h('a.button', {href, 'data-link': true}, ...children);
}
