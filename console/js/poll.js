// SPDX-License-Identifier: Apache-2.0
// Live pages poll: fn runs every ms until the page changes, and not while the tab is hidden.
// el is the element the page draws into (the router gives each render its own): once it has
// left the document the poller stops, even when the page was still loading as the user
// moved on and only started polling afterwards (the router's dragonfly:leave, which also
// stops pollers, has then been sent already).
export function poll(fn, ms, el = null) {
	let timer = null, stopped = false;
	const stop = () => {
		stopped = true;
		clearTimeout(timer);
		window.removeEventListener('dragonfly:leave', stop);
	};
	const gone = () => el !== null && !el.isConnected;
	const tick = async () => {
		if (stopped || gone()) {
			stop();
			return;
		}
		if (!document.hidden) {
			try {
				await fn();
			} catch (e) {
				// the next tick tries again; the page shows the last good state
			}
		}
		if (!stopped) timer = setTimeout(tick, ms);
	};
	if (gone()) return stop;
	window.addEventListener('dragonfly:leave', stop);
	timer = setTimeout(tick, ms);
	return stop;
}
