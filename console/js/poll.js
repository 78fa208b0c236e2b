// SPDX-License-Identifier: Apache-2.0
// Live pages poll: fn runs every ms until the page changes (the router's dragonfly:leave),
// and not while the tab is hidden.
export function poll(fn, ms) {
	let timer = null, stopped = false;
	const tick = async () => {
		if (stopped) return;
		if (!document.hidden) {
			try {
				await fn();
			} catch (e) {
				// the next tick tries again; the page shows the last good state
			}
		}
		if (!stopped) timer = setTimeout(tick, ms);
	};
	const stop = () => {
		stopped = true;
		clearTimeout(timer);
		window.removeEventListener('dragonfly:leave', stop);
	};
	window.addEventListener('dragonfly:leave', stop);
	timer = setTimeout(tick, ms);
	return stop;
}
