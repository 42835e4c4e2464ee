/*
 * The hookd dashboard: asks GET /dashboard/data once a second and draws it.
 *
 * The data endpoint answers the snapshot of GET /stats, the processes, the
 * Redis and PostgreSQL samples, and one point per second since the last
 * second this page has (?since=SEC), so the charts keep five minutes here
 * while each refresh carries one new point.  When the admin port has a
 * token, the token typed into the form is kept in sessionStorage (this tab
 * only) and sent as "Authorization: Bearer", never in a URL.
 */
"use strict";

(function () {
	const TOKEN_KEY = "hookd-admin-token";
	const KEEP = 300;		/* points: five minutes at one a second */
	/* The snapshot window of tiles and tables: "1s", "10s", "60s", "all". */
	const PERIOD_MS = 1000;
	const COLORS = { p50: "#2f6fb5", p90: "#e08a1e", p99: "#c0392b" };

	const state = {
		points: [],
		win: "10s",
		last: null,		/* the last answer, to redraw on a change */
		since: 0,
		stages: null,
		charts: null,
		updates: 0,
		timer: null,
	};
	window.hookdDashboard = state;

	const $ = (id) => document.getElementById(id);

	/* Numbers for people; null and -1 ("unknown") read "-". */
	function fixed(v, digits) {
		if (v === null || v === undefined || v < 0 || !isFinite(v))
			return "-";
		return Number(v).toFixed(digits);
	}

	function count(v) {
		return v === null || v === undefined || v < 0 ? "-" : String(v);
	}

	function bytes(v) {
		if (v === null || v === undefined || v < 0)
			return "-";
		const units = ["B", "KiB", "MiB", "GiB", "TiB"];
		let i = 0;
		while (v >= 1024 && i < units.length - 1) {
			v /= 1024;
			i++;
		}
		return (i ? v.toFixed(1) : String(v)) + " " + units[i];
	}

	function duration(s) {
		s = Math.floor(s);
		if (s < 60)
			return s + "s";
		if (s < 3600)
			return Math.floor(s / 60) + "m" + (s % 60) + "s";
		if (s < 86400)
			return Math.floor(s / 3600) + "h" + Math.floor(s % 3600 / 60) + "m";
		return Math.floor(s / 86400) + "d" + Math.floor(s % 86400 / 3600) + "h";
	}

	function clock(t) {
		const d = new Date(t * 1000);
		const two = (n) => String(n).padStart(2, "0");
		return two(d.getHours()) + ":" + two(d.getMinutes()) + ":" +
		    two(d.getSeconds());
	}

	function yesno(v) {
		return v === null || v === undefined ? "unknown" : v ? "up" : "down";
	}

	function setText(id, text) {
		const el = $(id);
		if (el)
			el.textContent = text;
	}

	/* Replace a table body by rows of cells; a cell is text or
	 * { text, id, cls }. */
	function fillRows(table, rows) {
		const body = $(table).tBodies[0];
		const out = document.createDocumentFragment();
		for (const cells of rows) {
			const tr = document.createElement("tr");
			for (const c of cells) {
				const td = document.createElement(tr.cells.length ? "td" : "th");
				const cell = typeof c === "object" && c !== null ? c : { text: c };
				td.textContent = cell.text;
				if (cell.id)
					td.id = cell.id;
				if (cell.cls)
					td.className = cell.cls;
				tr.appendChild(td);
			}
			out.appendChild(tr);
		}
		body.replaceChildren(out);
	}

	/* --- charts --------------------------------------------------------- */

	/* Latencies span microseconds to seconds: their axis is logarithmic,
	 * so p50 stays readable beside a p99 a hundred times larger. */
	function lineChart(canvas, datasets, ytitle, log) {
		return new window.Chart($(canvas), {
			type: "line",
			data: {
				datasets: datasets.map((d) => ({
					label: d.label,
					data: [],
					borderColor: d.color,
					backgroundColor: d.color,
					borderWidth: 1.5,
					pointRadius: 0,
					spanGaps: false,
				})),
			},
			options: {
				animation: false,
				responsive: true,
				maintainAspectRatio: false,
				parsing: false,
				normalized: true,
				interaction: { mode: "index", intersect: false },
				scales: {
					x: {
						type: "linear",
						ticks: { callback: clock, maxTicksLimit: 6 },
					},
					y: log ? {
						type: "logarithmic",
						title: { display: true, text: ytitle },
					} : {
						beginAtZero: true,
						title: { display: true, text: ytitle },
					},
				},
				plugins: { legend: { position: "bottom" } },
			},
		});
	}

	function makeCharts() {
		if (typeof window.Chart !== "function") {
			$("nocharts").hidden = false;
			return null;
		}
		return {
			rates: lineChart("chart-rates", [
				{ label: "ingest req/s", color: "#2f6fb5" },
				{ label: "delivery attempts/s", color: "#1b7f3b" },
			], "per second"),
			errors: lineChart("chart-errors", [
				{ label: "ingest errors/s", color: "#c0392b" },
				{ label: "duplicates/s", color: "#8e5bb5" },
				{ label: "delivery failures/s", color: "#e08a1e" },
				{ label: "dead/s", color: "#444" },
			], "per second"),
			ingest: lineChart("chart-ingest", [
				{ label: "p50", color: COLORS.p50 },
				{ label: "p90", color: COLORS.p90 },
				{ label: "p99", color: COLORS.p99 },
			], "ms", true),
			delivery: lineChart("chart-delivery", [
				{ label: "p50", color: COLORS.p50 },
				{ label: "p90", color: COLORS.p90 },
				{ label: "p99", color: COLORS.p99 },
			], "ms", true),
		};
	}

	function series(get) {
		return state.points.map((p) => ({ x: p.t, y: p.gap ? null : get(p) }));
	}

	function percentileSeries(kind, k) {
		const sel = $("stage-" + kind);
		const i = sel.selectedIndex < 0 ? 0 : sel.selectedIndex;
		/* 0 has no place on a logarithmic axis: a gap instead. */
		return series((p) => (p[kind].p[i] && p[kind].p[i][k] > 0
		    ? p[kind].p[i][k] : null));
	}

	function drawCharts() {
		const c = state.charts, pts = state.points;
		if (!c || pts.length === 0)
			return;
		const last = pts[pts.length - 1].t;
		const set = (chart, lists) => {
			lists.forEach((l, i) => { chart.data.datasets[i].data = l; });
			chart.options.scales.x.min = Math.max(pts[0].t, last - KEEP);
			chart.options.scales.x.max = last;
			chart.update("none");
		};
		set(c.rates, [series((p) => p.ingest.requests),
		    series((p) => p.delivery.requests)]);
		set(c.errors, [series((p) => p.ingest.errors),
		    series((p) => p.ingest.duplicates),
		    series((p) => p.delivery.errors),
		    series((p) => p.delivery.dead)]);
		for (const kind of ["ingest", "delivery"])
			set(c[kind], [0, 1, 2].map((k) => percentileSeries(kind, k)));
	}

	function setupStages(stages) {
		if (state.stages)
			return;
		state.stages = stages;
		const pick = { ingest: "total", delivery: "attempt" };
		for (const kind of ["ingest", "delivery"]) {
			const sel = $("stage-" + kind);
			for (const name of stages[kind]) {
				const o = document.createElement("option");
				o.value = o.textContent = name;
				o.selected = name === pick[kind];
				sel.appendChild(o);
			}
			sel.addEventListener("change", drawCharts);
		}
	}

	/* --- tables --------------------------------------------------------- */

	/* A duration of a stage summary; "-" when nothing was timed. */
	function ms(st, k) {
		return st && st.count ? fixed(st[k], 3) : "-";
	}

	function stageRows(kind, w) {
		return state.stages[kind].map((name) => {
			const st = w.stages[name] || {};
			const id = (k) => "stage-" + kind + "-" + name + "-" + k;
			return [name, { text: count(st.count), id: id("count") },
			    { text: ms(st, "p50_ms"), id: id("p50") },
			    { text: ms(st, "p90_ms"), id: id("p90") },
			    { text: ms(st, "p99_ms"), id: id("p99") },
			    { text: ms(st, "max_ms"), id: id("max") }];
		});
	}

	function perSecond(w, n) {
		return w.seconds ? n / w.seconds : 0;
	}

	function sourceRow(name, g) {
		const w = g.windows[state.win];
		return [name, fixed(w.rate, 1), fixed(w.error_rate, 1),
		    fixed(perSecond(w, w.duplicates), 1), ms(w.stages.total, "p99_ms"),
		    count(g.requests), count(g.status_class["2xx"]),
		    count(g.status_class["4xx"]), count(g.status_class["5xx"]),
		    count(g.fallback)];
	}

	/* Breaker and disabled, sampled from Redis and PostgreSQL; "-" while
	 * not known. */
	function destinationState(st) {
		st = st || {};
		const flag = (v, yes, no) => (v === null || v === undefined ? "-"
		    : v ? { text: yes, cls: "bad" } : no);
		return [flag(st.breaker_open, "open", "closed"),
		    flag(st.disabled, "disabled", "enabled")];
	}

	function destinationRow(name, g, st) {
		const w = g.windows[state.win];
		return [name, fixed(w.rate, 1), fixed(w.error_rate, 1),
		    ms(w.stages.attempt, "p99_ms"), ms(w.stages.e2e, "p99_ms"),
		    count(g.requests),
		    count(g.status_class["2xx"]), count(g.status_class["4xx"]),
		    count(g.status_class["5xx"]), count(g.status_class.other),
		    count(g.dead), ...destinationState(st)];
	}

	function processRows(d) {
		return d.processes.map((p) => {
			const stale = p.heartbeat_age_ms > d.watchdog_ms;
			const current = p.generation === d.generation || p.role === "master";
			const bad = current && (!p.alive || stale);
			return [String(p.slot), p.role, String(p.index), String(p.pid),
			    String(p.generation),
			    { text: p.state + (p.alive ? "" : " (gone)"), cls: bad ? "bad" : "" },
			    duration(p.uptime_s),
			    { text: fixed(p.heartbeat_age_ms / 1000, 1) + " s ago",
			      cls: current && stale ? "bad" : "" },
			    { text: String(p.restarts), cls: p.restarts ? "bad" : "" },
			    p.cpu_s === null ? "-" : fixed(p.cpu_s, 1) + " s",
			    p.rss_bytes === null ? "-" : bytes(p.rss_bytes), count(p.fds),
			    count(p.ring_records), count(p.ring_missed)];
		});
	}

	function ago(ms) {
		return ms < 0 ? "not yet" : fixed(ms / 1000, 1) + " s ago";
	}

	function backendRows(d) {
		const r = d.redis, pg = d.postgres;
		const up = (v) => ({ text: yesno(v), cls: v ? "ok" : "bad" });
		fillRows("redis", [
			["state", up(r.up)],
			["stream length", { text: count(r.stream_length), id: "redis-length" }],
			["pending (not acked)", { text: count(r.pending), id: "redis-pending" }],
			["sampled", ago(r.sampled_age_ms)],
		]);
		const rows = [
			["state", up(pg.up)],
			["dead letters (DLQ)", { text: count(pg.dlq), id: "pg-dlq" }],
			["overdue > 1 min", count(pg.overdue)],
			["inbox rows", { text: count(pg.inbox), id: "pg-inbox" }],
			["oldest event", pg.oldest_event > 0
			    ? new Date(pg.oldest_event * 1000).toLocaleString() : "-"],
			["days kept past retention", count(pg.days_kept)],
		];
		for (const [table, n] of Object.entries(pg.bytes))
			rows.push([table + " size", bytes(n)]);
		rows.push(["sampled", ago(pg.sampled_age_ms)]);
		fillRows("postgres", rows);
	}

	function tiles(s, d) {
		const i = s.ingest.windows[state.win], o = s.delivery.windows[state.win];
		const pct = (w) => (w.requests ? 100 * w.errors / w.requests : 0);
		setText("window-s", String(i.seconds));
		setText("tile-ingest-rate", fixed(i.rate, 1));
		setText("tile-ingest-errors", fixed(i.error_rate, 1));
		setText("tile-ingest-error-pct", fixed(pct(i), 1));
		setText("tile-duplicates", fixed(perSecond(i, i.duplicates), 1));
		setText("tile-delivery-rate", fixed(o.rate, 1));
		setText("tile-delivery-errors", fixed(o.error_rate, 1));
		setText("tile-delivery-error-pct", fixed(pct(o), 1));
		setText("tile-stream-length", count(d.redis.stream_length));
		setText("tile-stream-pending", count(d.redis.pending));
		setText("tile-inbox", count(d.postgres.inbox));
		setText("tile-dlq", count(d.postgres.dlq));
	}

	/* The tiles and tables, from the last answer and the chosen window. */
	function renderTables() {
		const d = state.last, s = d.stats;
		setText("instance", d.instance);
		setText("updated", "updated " + clock(d.now) + ", counting for " +
		    duration(s.uptime_s));
		tiles(s, d);
		fillRows("stages-ingest",
		    stageRows("ingest", s.ingest.windows[state.win]));
		fillRows("stages-delivery",
		    stageRows("delivery", s.delivery.windows[state.win]));
		const src = Object.entries(s.ingest.sources)
		    .map(([n, g]) => sourceRow(n, g));
		if (s.ingest.unknown_source)
			src.push(sourceRow("(no such source)", s.ingest.unknown_source));
		fillRows("sources", src);
		fillRows("destinations", Object.entries(s.delivery.destinations)
		    .map(([n, g]) => destinationRow(n, g,
		    (d.destination_state || {})[n])));
		backendRows(d);
		fillRows("processes", processRows(d));
	}

	function render(d) {
		setupStages(d.stages);
		if (state.charts === null)
			state.charts = makeCharts() || false;
		state.last = d;
		renderTables();
		if (d.sec < state.since)
			state.points = [];	/* another stats process's seconds */
		const h = d.history;
		/* Seconds this tab missed (a background tab polls seldom) are a
		 * gap in the lines, not a straight line across them. */
		if (state.points.length && h.length && h[0].sec > state.since + 1)
			state.points.push({ sec: h[0].sec - 1, t: h[0].t - 1, gap: true });
		state.points.push(...h);
		if (state.points.length > KEEP)
			state.points.splice(0, state.points.length - KEEP);
		state.since = d.sec;
		drawCharts();
		state.updates++;
	}

	/* --- the loop and the token ------------------------------------------ */

	function problem(text) {
		const el = $("problem");
		el.textContent = text;
		el.hidden = !text;
	}

	function showLogin(message) {
		$("main").hidden = true;
		$("logout").hidden = true;
		$("login").hidden = false;
		setText("login-error", message);
		setText("updated", "");
		$("token").focus();
	}

	function schedule() {
		clearTimeout(state.timer);
		state.timer = setTimeout(poll, PERIOD_MS);
	}

	async function poll() {
		const token = sessionStorage.getItem(TOKEN_KEY);
		const headers = token ? { Authorization: "Bearer " + token } : {};
		let r, d;
		try {
			r = await fetch("/dashboard/data?since=" + state.since,
			    { headers: headers, cache: "no-store" });
			if (r.status === 401) {
				showLogin(token ? "That token was refused." : "");
				return;		/* until the form is sent */
			}
			d = await r.json();
			if (!r.ok)
				throw new Error(d.message || r.statusText);
		} catch (e) {
			problem("no answer from the admin port: " + e.message);
			schedule();
			return;
		}
		problem("");
		$("login").hidden = true;
		$("main").hidden = false;
		$("logout").hidden = !token;
		render(d);
		schedule();
	}

	$("window").addEventListener("change", () => {
		state.win = $("window").value;
		if (state.last)
			renderTables();
	});
	$("login").addEventListener("submit", (ev) => {
		ev.preventDefault();
		sessionStorage.setItem(TOKEN_KEY, $("token").value);
		$("token").value = "";
		poll();
	});
	$("logout").addEventListener("click", () => {
		sessionStorage.removeItem(TOKEN_KEY);
		clearTimeout(state.timer);
		showLogin("");
	});
	poll();
}());
