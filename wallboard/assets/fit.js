/* The wall's layout, in the browser: every tile fitted to the screen it is on.
 *
 * Columns and rows are chosen so that the main digits are as large as they can be
 * (the tile's fonts follow its size: container query units in board.css). When
 * fitting every tile would make them smaller than the floor (a fraction of the
 * screen's shorter side, its height on a landscape wall), the wall pages: as many
 * tiles as fit, rotating every page_s seconds, "2/3" shown. Every queue that is amber, red or on a ladder
 * step or a breach warning (data-severity, data-step, data-warn) is pinned onto every
 * page, worst first
 * (data-rank); if they alone exceed a page they page among themselves and the calm
 * queues shrink to a strip of names and waiting counts. The page is chosen from the
 * clock, so every display of a wall shows the same page.
 *
 * Dash owns the tiles; this only sets their style (order, display) and the grid's,
 * and draws the page number and the strip outside Dash's tree.
 */
(function () {
  "use strict";

  function px(value) { return parseFloat(value) || 0; }

  // This page's wall (window.callboardWalls, from the page's head: wallboard/wall.py).
  function wallSpec() {
    const spec = window.callboardWalls || { walls: {}, floor: 1 / 18, page_label: {} };
    const parts = window.location.pathname.split("/").filter(Boolean);
    const name = parts.length === 2 && parts[0] === "board" ? parts[1] : "board";
    const wall = spec.walls[name] || { figures: "full", page_s: 10, lang: "zh" };
    const asked = new URLSearchParams(window.location.search).get("lang");
    const lang = asked === "en" || asked === "zh" ? asked : wall.lang;
    return { wall: wall, floor: spec.floor, palette: spec.palette,
             pageLabel: spec.page_label[lang] || "{n}/{of}" };
  }

  function metrics(grid) {
    const style = getComputedStyle(grid);
    return {
      kh: px(style.getPropertyValue("--kh")) || 0.22,
      kw: px(style.getPropertyValue("--kw")) || 0.13,
      rowGap: px(style.rowGap),
      colGap: px(style.columnGap),
    };
  }

  // The largest main digit n tiles can have in w x h, and the grid that gives it.
  function best(n, w, h, m, chrome) {
    let top = { digit: 0, cols: 1, rows: n, tileW: w, tileH: h };
    for (let cols = 1; cols <= n; cols++) {
      const rows = Math.ceil(n / cols);
      // Whole pixels, as the grid is set below: the digit computed is the one shown.
      const tileW = Math.floor((w - (cols - 1) * m.colGap) / cols);
      const tileH = Math.floor((h - (rows - 1) * m.rowGap) / rows);
      if (tileW <= chrome.w || tileH <= chrome.h) { continue; }
      const digit = Math.min(m.kh * (tileH - chrome.h), m.kw * (tileW - chrome.w));
      if (digit > top.digit) { top = { digit: digit, cols: cols, rows: rows, tileW: tileW, tileH: tileH }; }
    }
    return top;
  }

  function waiting(tile) {  // callers waiting, as the tile shows them
    const figure = document.getElementById(tile.dataset.queue + "-waiting");
    return figure ? px(figure.textContent) : 0;
  }

  // The largest x in [lo, hi] for which ok(x), or lo, where ok holds for a prefix of
  // the range: a binary search, since each try costs a layout or a grid search.
  function largest(lo, hi, ok) {
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (ok(mid)) { lo = mid; } else { hi = mid - 1; }
    }
    return lo;
  }

  function overlay(id, className) {
    let el = document.getElementById(id);
    if (!el) {
      el = document.createElement("div");
      el.id = id;
      el.className = className;
      document.body.appendChild(el);
    }
    return el;
  }

  function tileChrome(tile) {  // padding and border: the tile's content box is the rest
    const s = getComputedStyle(tile);
    return {
      h: px(s.paddingTop) + px(s.paddingBottom) + px(s.borderTopWidth) + px(s.borderBottomWidth),
      w: px(s.paddingLeft) + px(s.paddingRight) + px(s.borderLeftWidth) + px(s.borderRightWidth),
    };
  }

  function layout() {
    const grid = document.getElementById("tiles");
    if (!grid) { return; }
    const tiles = Array.prototype.filter.call(grid.children, function (t) {
      return t.dataset && t.dataset.queue;
    });
    const pageNo = overlay("page-no", "page-no");
    const strip = overlay("calm-strip", "calm-strip");
    if (!tiles.length) { pageNo.textContent = ""; strip.style.display = "none"; return; }
    const spec = wallSpec();
    const agents = spec.wall.kind === "agents";
    grid.classList.toggle("agents", agents);
    grid.classList.toggle("compact", !agents && spec.wall.figures === "compact");
    grid.classList.toggle("full", !agents && spec.wall.figures !== "compact");
    document.body.classList.toggle("palette-okabe_ito", spec.palette === "okabe_ito");
    const m = metrics(grid);
    const chrome = tileChrome(tiles[0]);
    // A portrait wall is the same panel turned: the same millimetres read as far.
    const floor = spec.floor * Math.min(window.innerHeight, window.innerWidth);
    const pageS = spec.wall.page_s || 10;
    const footer = document.getElementById("footer");
    const footerH = footer ? footer.getBoundingClientRect().height : 0;
    const width = grid.clientWidth;
    const top = grid.getBoundingClientRect().top;
    const fullH = window.innerHeight - top - footerH - 12;

    const pinned = tiles.filter(function (t) {
      return px(t.dataset.severity) > 0 || px(t.dataset.step) > 0 || t.dataset.warn === "1";
    }).sort(function (a, b) {
      return px(b.dataset.rank) - px(a.dataset.rank) || waiting(b) - waiting(a);
    });
    const calm = tiles.filter(function (t) { return pinned.indexOf(t) < 0; });

    function perPage(h) {  // the most tiles a page holds with digits at the floor
      // Fewer tiles never make smaller digits (the same grid holds them), so the tile
      // counts that fit are 1..k: a binary search, not a try of every count per tick.
      return largest(1, tiles.length, function (n) {
        return best(n, width, h, m, chrome).digit >= floor;
      });
    }

    // The page turns on the clock; a test may hold one (window.callboardPage).
    const now = typeof window.callboardPage === "number" ? window.callboardPage
      : Math.floor(Date.now() / 1000 / pageS);
    let shown = tiles, pages = 1, stripped = [], height = fullH;
    if (best(tiles.length, width, fullH, m, chrome).digit < floor) {
      let fit = perPage(fullH);
      if (pinned.length >= fit && calm.length) {
        height = fullH * 0.9;  // the strip takes the rest
        fit = perPage(height);
        stripped = calm;
      }
      if (stripped.length || pinned.length >= fit) {
        pages = Math.max(1, Math.ceil(pinned.length / fit));
        const page = now % pages;
        shown = pinned.slice(page * fit, (page + 1) * fit);
      } else {
        const room = fit - pinned.length;
        pages = Math.ceil(calm.length / room);
        const page = now % pages;
        shown = pinned.concat(calm.slice(page * room, (page + 1) * room));
      }
    }
    const g = best(shown.length, width, height, m, chrome);
    grid.style.gridTemplateColumns = "repeat(" + g.cols + ", " + g.tileW + "px)";
    grid.style.gridAutoRows = g.tileH + "px";
    grid.style.height = Math.floor(height) + "px";
    grid.dataset.digit = String(Math.floor(g.digit));
    tiles.forEach(function (t) {
      const at = shown.indexOf(t);
      t.style.display = at < 0 ? "none" : "";
      t.style.order = String(at < 0 ? 0 : at);
    });
    if (stripped.length) {
      // Below the footer, which follows the grid: the room the grid gave up.
      pages = Math.max(pages, strip_(stripped, top + height + footerH + 4, fullH - height - 8, now));
    } else {
      strip.style.display = "none";
    }
    grid.dataset.pages = String(pages);
    pageNo.textContent = pages > 1 ? spec.pageLabel
      .replace("{n}", String(now % pages + 1)).replace("{of}", pages) : "";
  }

  // The calm queues as a strip of names and waiting counts, as large as lets them all
  // show; if even the smallest readable size does not, the strip pages too. Returns
  // how many pages the strip needs.
  function strip_(calm, top, height, now) {
    const strip = document.getElementById("calm-strip");
    const smallest = Math.max(10, 0.018 * Math.min(window.innerHeight, window.innerWidth));
    strip.style.display = "";
    strip.style.top = Math.floor(top) + "px";
    strip.style.height = Math.floor(height) + "px";

    function fill(items, size) {
      strip.textContent = "";
      strip.style.fontSize = size + "px";
      items.forEach(function (t) {
        const item = document.createElement("span");
        item.className = "calm-item";
        // A queue: its callers waiting; an agent: its state.
        item.textContent = t.dataset.name + " " + (t.dataset.state || waiting(t));
        item.dataset.queue = t.dataset.queue;
        strip.appendChild(item);
      });
      return strip.scrollHeight <= strip.clientHeight;
    }

    const low = Math.ceil(smallest);
    const size = largest(low, Math.max(low, Math.floor(height * 0.45)),
                         function (s) { return fill(calm, s); });
    if (fill(calm, size)) { return 1; }
    const per = largest(1, calm.length, function (k) { return fill(calm.slice(0, k), low); });
    const pages = Math.ceil(calm.length / per);
    const page = now % pages;
    fill(calm.slice(page * per, (page + 1) * per), low);
    return pages;
  }

  let queued = false;
  function soon() {
    if (queued) { return; }
    queued = true;
    window.requestAnimationFrame(function () { queued = false; layout(); });
  }

  function watch() {
    const grid = document.getElementById("tiles");
    if (!grid) { window.setTimeout(watch, 100); return; }
    new MutationObserver(soon).observe(grid, {
      childList: true, subtree: true, attributes: true,
      attributeFilter: ["data-severity", "data-step", "data-rank", "data-warn", "class"],
      characterData: true,
    });
    window.addEventListener("resize", soon);
    window.setInterval(soon, 1000);  // the page turns on the clock
    soon();
  }

  window.callboardLayout = layout;  // for the browser tests and a console
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", watch);
  } else {
    watch();
  }
})();
