// grtmp status page: lists live streams (status.json, every 2 s) and plays one of them with
// mpegts.js (HTTP-FLV, WebSocket-FLV) or hls.js (LL-HLS). All URLs are relative to the page, so
// the app works mounted under a prefix. ?play=APP/NAME&via=http-flv|ws-flv|hls starts a player.
"use strict";
(function () {
  const base = new URL(".", location.href);
  const video = document.getElementById("video");
  const state = { kind: null, player: null, key: null, started: 0, errors: [] };
  window.grtmp = state;

  function text(v) { return v === null || v === undefined ? "" : String(v); }
  function esc(p) { return encodeURIComponent(p); }
  function urls(app, name) {
    const flv = new URL(esc(app) + "/" + esc(name) + ".flv", base);
    const ws = new URL(flv.href);
    ws.protocol = flv.protocol === "https:" ? "wss:" : "ws:";
    return { "http-flv": flv.href, "ws-flv": ws.href,
             "hls": new URL(esc(app) + "/" + esc(name) + "/index.m3u8", base).href };
  }
  function rate(bps) {
    if (!bps) return "";
    return bps >= 1e6 ? (bps / 1e6).toFixed(2) + " Mb/s" : (bps / 1e3).toFixed(0) + " kb/s";
  }
  function duration(s) {
    s = Math.floor(s || 0);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
    return (h ? h + ":" : "") + String(m).padStart(h ? 2 : 1, "0") + ":" +
      String(sec).padStart(2, "0");
  }

  function stop() {
    const p = state.player;
    state.player = null; state.kind = null; state.key = null;
    if (p) {
      try { if (p.destroy) p.destroy(); } catch (e) { /* already gone */ }
    }
    video.removeAttribute("src");
    video.load();
    document.getElementById("player").style.display = "none";
  }

  function play(app, name, kind) {
    stop();
    const url = urls(app, name)[kind];
    state.kind = kind; state.key = app + "/" + name; state.errors = []; state.url = url;
    state.started = performance.now();
    document.getElementById("player").style.display = "block";
    document.getElementById("title").textContent = kind + "  " + url;
    if (kind === "hls") {
      if (window.Hls && Hls.isSupported()) {
        const hls = new Hls({ lowLatencyMode: true, backBufferLength: 30 });
        hls.on(Hls.Events.ERROR, (e, d) =>
          state.errors.push({ type: d.type, details: d.details, fatal: !!d.fatal }));
        hls.loadSource(url);
        hls.attachMedia(video);
        state.player = hls;
      } else {  // Safari plays LL-HLS natively
        video.src = url;
      }
    } else {
      const p = mpegts.createPlayer(
        { type: "flv", isLive: true, url: url },
        { enableWorker: false, enableStashBuffer: false, lazyLoad: false,
          liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.2,
          liveBufferLatencyMinRemain: 0.2 });
      p.on(mpegts.Events.ERROR, (type, detail) =>  // mpegts.js stops on any error
        state.errors.push({ type: type, details: detail, fatal: true }));
      p.attachMediaElement(video);
      p.load();
      state.player = p;
    }
    const attempt = video.play();
    if (attempt && attempt.catch) attempt.catch(() => {});
    render(state.last || { streams: [] });
  }

  function latency() {
    const p = state.player;
    if (!p) return null;
    if (state.kind === "hls") return p.latency;
    const b = video.buffered;
    return b.length ? b.end(b.length - 1) - video.currentTime : null;
  }

  function render(data) {
    state.last = data;
    const body = document.querySelector("#streams tbody");
    body.textContent = "";
    document.getElementById("empty").style.display = data.streams.length ? "none" : "block";
    for (const s of data.streams) {
      const tr = document.createElement("tr");
      if (!s.live) tr.className = "offline";
      const players = Object.entries(s.players || {}).map(([k, v]) => k + " " + v).join(", ");
      const cells = [
        s.app + "/" + s.name + (s.live ? "" : " (waiting)"),
        [text(s.video), text(s.audio)].filter(Boolean).join(" + "),
        s.width ? s.width + "x" + s.height : "",
        text(s.fps), rate(s.bitrate), s.live ? duration(s.uptime) : "",
        players || "0"];
      cells.forEach((c, i) => {
        const td = document.createElement("td");
        td.textContent = c;
        if (i >= 3 && i <= 5) td.className = "num";
        tr.appendChild(td);
      });
      const td = document.createElement("td");
      for (const kind of ["http-flv", "ws-flv", "hls"]) {
        const b = document.createElement("button");
        b.textContent = kind === "hls" ? "LL-HLS" : kind.toUpperCase();
        b.dataset.kind = kind;
        b.dataset.stream = s.app + "/" + s.name;
        if (state.key === s.app + "/" + s.name && state.kind === kind) b.className = "on";
        b.addEventListener("click", () => play(s.app, s.name, kind));
        td.appendChild(b);
      }
      tr.appendChild(td);
      body.appendChild(tr);
    }
  }

  async function refresh() {
    try {
      const r = await fetch(new URL("status.json", base), { cache: "no-store" });
      if (r.ok) render(await r.json());
    } catch (e) { /* the server restarts: try again later */ }
  }

  function stats() {
    if (!state.kind) return;
    const l = latency();
    document.getElementById("stats").textContent =
      "time " + video.currentTime.toFixed(1) + " s, " + video.videoWidth + "x" +
      video.videoHeight + (l === null || l === undefined ? "" : ", latency " + l.toFixed(2) + " s") +
      (state.errors.length ? ", errors " + state.errors.length : "");
  }

  document.getElementById("stop").addEventListener("click", stop);
  state.play = play;
  state.stop = stop;
  state.latency = latency;
  const q = new URLSearchParams(location.search);
  if (q.get("play")) {
    const key = q.get("play"), i = key.indexOf("/");
    if (i > 0) play(key.slice(0, i), key.slice(i + 1), q.get("via") || "http-flv");
  }
  refresh();
  setInterval(refresh, 2000);
  setInterval(stats, 500);
})();
