/* The wall's figures, in the browser: asks /board/frame once per refresh period and
 * writes what changed into the page (wallboard/frames.py says what an answer holds).
 *
 * - A tile arrives as HTML the first time (or when its markup changes); after that only
 *   its moving parts ("slots": text, class, inner HTML, data attributes by element id).
 * - The tiles' ages and the agents' time in state are drawn here from the answer's own
 *   clock (the server's: a display's clock may be wrong).
 * - Every request reports this display (a random id kept in localStorage, the wall, the
 *   viewport): /displays lists them for IT.
 * - When the server stops answering the page says so (the last figures are not live);
 *   it keeps asking, so it comes back by itself after a restart. An answer from another
 *   build (a new release) reloads the page.
 * The layout (which tiles, how large, which page) is fit.js's, on the tiles this writes.
 */
(function () {
  "use strict";

  const spec = window.callboardWalls;
  const parts = window.location.pathname.split("/").filter(Boolean);
  if (!spec || parts[0] !== "board" || parts.length > 2) { return; }
  const query = new URLSearchParams(window.location.search);
  const wallName = parts.length === 2 ? parts[1] : "";
  const wall = spec.walls[wallName || "board"] || {};
  const asked = query.get("lang");
  const lang = asked === "en" || asked === "zh" ? asked : (wall.lang || "zh");

  const state = { v: null, lastOk: Date.now(), busy: false, ages: {}, since: {}, now: 0,
                  ladder: 0 };

  function displayId() {
    try {
      let id = window.localStorage.getItem("callboard-display");
      if (!id) {
        const bytes = new Uint8Array(8);
        window.crypto.getRandomValues(bytes);
        id = Array.prototype.map.call(bytes, function (b) {
          return (b < 16 ? "0" : "") + b.toString(16);
        }).join("");
        window.localStorage.setItem("callboard-display", id);
      }
      return id;
    } catch (e) {  // storage refused (a locked-down kiosk): one id per page load
      return "page-" + Math.random().toString(16).slice(2, 14);
    }
  }
  const display = displayId();

  function put(id, props) {
    const el = document.getElementById(id);
    if (!el) { return; }
    if ("t" in props) { el.textContent = props.t; }
    if ("h" in props) { el.innerHTML = props.h; }
    if ("c" in props) { el.className = props.c; }
    if (props.d) { Object.keys(props.d).forEach(function (k) { el.dataset[k] = props.d[k]; }); }
  }

  function element(html) {
    const holder = document.createElement("template");
    holder.innerHTML = html;
    return holder.content.firstElementChild;
  }

  function tiles(grid, answer) {
    const byKey = {};
    Array.prototype.forEach.call(grid.children, function (t) { byKey[t.dataset.key] = t; });
    if (answer.full) {
      Object.keys(byKey).forEach(function (k) { if (!(k in answer.html)) { byKey[k].remove(); } });
    }
    Object.keys(answer.html || {}).forEach(function (key) {
      const fresh = element(answer.html[key]);
      fresh.dataset.key = key;
      const old = byKey[key];
      if (old) {  // keep fit.js's place for it until it lays the page out again
        fresh.style.order = old.style.order;
        fresh.style.display = old.style.display;
        old.replaceWith(fresh);
      } else {
        grid.appendChild(fresh);
      }
      byKey[key] = fresh;
    });
    if (answer.order) {
      const keep = {};
      answer.order.forEach(function (key, i) {
        keep[key] = true;
        const el = byKey[key];
        if (el && grid.children[i] !== el) { grid.insertBefore(el, grid.children[i] || null); }
      });
      Object.keys(byKey).forEach(function (k) { if (!keep[k]) { byKey[k].remove(); } });
    }
  }

  function merge(into, changed, full) {
    const out = full ? {} : into;
    Object.keys(changed || {}).forEach(function (k) {
      if (changed[k] === null) { delete out[k]; } else { out[k] = changed[k]; }
    });
    return out;
  }

  function ageText(ms) {
    const age = Math.max(0, Math.floor((state.now - ms) / 1000));
    const units = spec.age_units[lang];
    const text = age < 120 ? units[0].replace("{n}", age) : units[1].replace("{n}", Math.floor(age / 60));
    return spec.age[lang].replace("{age}", text);
  }

  function clockText(ms) {
    const s = Math.max(0, Math.floor((state.now - ms) / 1000));
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    const two = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r);
  }

  function times() {
    document.querySelectorAll("#tiles [data-age]").forEach(function (el) {
      const ms = state.ages[el.dataset.age];
      el.textContent = ms === undefined ? "" : ageText(ms);
    });
    document.querySelectorAll("#tiles [data-since]").forEach(function (el) {
      const ms = state.since[el.dataset.since];
      el.textContent = ms === undefined ? "" : clockText(ms);
    });
  }

  function beepOnNewStep() {
    const count = document.querySelectorAll("#esc-banner .esc-line").length;
    // Optional sound (?sound=1): a kiosk Chromium needs
    // --autoplay-policy=no-user-gesture-required for it.
    if (query.get("sound") === "1" && count > state.ladder) {
      try {
        const ctx = new (window.AudioContext || window.webkitAudioContext)();
        const osc = ctx.createOscillator();
        osc.frequency.value = 880; osc.connect(ctx.destination);
        osc.start(); osc.stop(ctx.currentTime + 0.4);
      } catch (e) { /* no audio device: the strip still shows */ }
    }
    state.ladder = count;
  }

  function apply(answer) {
    if (answer.build && answer.build !== spec.build) {
      // A new release answers: load its page (once per build, never a reload loop).
      let done = null;
      try { done = window.sessionStorage.getItem("callboard-reloaded-for"); } catch (e) { /* none */ }
      if (done !== answer.build) {
        try { window.sessionStorage.setItem("callboard-reloaded-for", answer.build); } catch (e) { /* none */ }
        window.location.reload();
        return;
      }
    }
    const grid = document.getElementById("tiles");
    tiles(grid, answer);
    Object.keys(answer.slots || {}).forEach(function (id) { put(id, answer.slots[id]); });
    state.ages = merge(state.ages, answer.ages, answer.full);
    state.since = merge(state.since, answer.since, answer.full);
    state.now = answer.now;
    state.v = answer.v;
    times();
    beepOnNewStep();
  }

  function connection() {
    const lost = Date.now() - state.lastOk > spec.stale_after_ms;
    put("conn-banner", { t: lost ? spec.board_down[lang] : "",
                         c: lost ? "banner stale" : "banner hidden" });
  }

  function ask() {
    if (state.busy) { return; }
    state.busy = true;
    const params = new URLSearchParams({ wall: wallName, display: display,
                                         w: String(window.innerWidth), h: String(window.innerHeight) });
    if (asked) { params.set("lang", asked); }
    if (query.get("session")) { params.set("session", query.get("session")); }
    if (state.v) { params.set("since", state.v); }
    const abort = new AbortController();
    const timer = window.setTimeout(function () { abort.abort(); }, Math.max(3 * spec.refresh_ms, 3000));
    window.fetch("/board/frame?" + params.toString(), { cache: "no-store", signal: abort.signal })
      .then(function (reply) {
        if (!reply.ok) { throw new Error("HTTP " + reply.status); }
        return reply.json();
      })
      .then(function (answer) { state.lastOk = Date.now(); apply(answer); })
      .catch(function () { /* the banner below says so; the next tick asks again */ })
      .then(function () { window.clearTimeout(timer); state.busy = false; connection(); });
  }

  function start() {
    if (!document.getElementById("tiles") || !document.getElementById("conn-banner")) {
      window.setTimeout(start, 50);  // Dash is still rendering the page's layout
      return;
    }
    ask();
    window.setInterval(ask, spec.refresh_ms);
    window.setInterval(connection, 1000);
  }

  window.callboardDisplay = display;  // for the browser tests and a console
  start();
})();
