// The dashboard's one page: inline style and script, nothing fetched but /api/fleet. Values from
// the nodes are put in with textContent only (never as HTML): a node's data cannot inject markup.
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Herr Ober fleet</title>
<style>
  :root { --ok: #1b7f3b; --warn: #b36b00; --bad: #c62828; --fg: #1d232a; --muted: #66707a; --line: #dde2e7; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; background: #f6f8fa; }
  header { display: flex; align-items: center; gap: 16px; padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  h1 { font-size: 18px; margin: 0; }
  h2 { font-size: 15px; margin: 20px 0 8px; }
  main { padding: 0 20px 20px; }
  #state { padding: 4px 12px; border-radius: 4px; color: #fff; font-weight: 700; background: var(--muted); }
  #state.ok { background: var(--ok); }
  #state.attention { background: var(--warn); }
  #state.split { background: var(--bad); }
  body.split-brain header { background: #fdecea; border-bottom: 3px solid var(--bad); }
  #updated { color: var(--muted); margin-left: auto; }
  table { border-collapse: collapse; background: #fff; width: 100%; }
  th, td { text-align: left; padding: 5px 10px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-size: 12px; color: var(--muted); text-transform: uppercase; }
  tr.unreachable td, tr.unhealthy td { color: var(--warn); }
  tr.split td { background: #fdecea; color: var(--bad); font-weight: 600; }
  tr.none td { background: #fff4e5; color: var(--warn); }
  td.bad { color: var(--bad); font-weight: 600; }
  ul { list-style: none; padding: 0; margin: 0; background: #fff; border: 1px solid var(--line); }
  li { padding: 4px 10px; border-bottom: 1px solid var(--line); }
  #flags li.split-brain { color: #fff; background: var(--bad); font-weight: 700; }
  #flags li.attention { color: var(--warn); }
  #flags li.none { color: var(--ok); }
  #events { max-height: 360px; overflow-y: auto; font-family: ui-monospace, Menlo, monospace; font-size: 12.5px; }
  #events .at { color: var(--muted); }
  #events .node { font-weight: 600; }
  #events li.vrrp-MASTER .msg { color: var(--bad); }
  #events li.vrrp-BACKUP .msg { color: var(--ok); }
</style>
</head>
<body>
<header>
  <h1 id="title">Herr Ober fleet</h1>
  <span id="state">waiting for the nodes…</span>
  <span id="updated"></span>
</header>
<main>
  <h2>Flags</h2>
  <ul id="flags"><li class="none">none yet</li></ul>
  <h2>Nodes</h2>
  <table id="nodes"><thead><tr><th>Node</th><th>Address</th><th>Image</th><th>First boot</th><th>HAProxy</th><th>Backends</th><th id="vipcol">VIPs</th><th>BGP</th><th>BFD</th><th>VRRP</th><th>Health</th></tr></thead><tbody></tbody></table>
  <h2>VIPs</h2>
  <table id="vips"><thead><tr><th>VIP</th><th>Address</th><th>VRID</th><th>Held / announced by</th><th>VRRP MASTER</th></tr></thead><tbody></tbody></table>
  <h2>Event timeline <small>(newest first)</small></h2>
  <ul id="events"></ul>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
function cell(tr, text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td); return td; }
function fill(tbody, rows) { tbody.replaceChildren(...rows); }
function render(v) {
  document.body.classList.toggle("split-brain", v.splitBrain);
  const state = $("state");
  state.className = v.splitBrain ? "split" : v.ok ? "ok" : "attention";
  state.textContent = v.splitBrain ? "SPLIT BRAIN" : v.ok ? "OK" : "ATTENTION";
  $("title").textContent = "Herr Ober fleet: " + v.cluster + " (" + v.mode + ")";
  $("updated").textContent = "asked " + new Date(v.at).toLocaleTimeString();
  $("vipcol").textContent = v.mode === "bgp" ? "Announces" : "Holds";
  const splitNodes = new Set(v.flags.filter((f) => f.splitBrain).flatMap((f) => f.nodes));
  fill($("nodes").tBodies[0], v.nodes.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.node = n.node;
    tr.className = !n.reachable ? "unreachable" : splitNodes.has(n.node) ? "split" : n.healthy ? "" : "unhealthy";
    cell(tr, n.node); cell(tr, n.address);
    if (!n.reachable) { cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "–"); cell(tr, "UNREACHABLE", "bad"); return tr; }
    cell(tr, n.imageVersion || "?"); cell(tr, n.firstboot || "?");
    cell(tr, n.haproxy || "?", n.haproxy === "up" ? "" : "bad");
    cell(tr, n.backendsUp + "/" + n.backendsTotal, n.backendsUp === n.backendsTotal ? "" : "bad");
    cell(tr, n.vips.join(", ") || "–");
    cell(tr, n.bgp ? n.bgp.established + "/" + n.bgp.total : "–");
    cell(tr, n.bfd ? n.bfd.up + "/" + n.bfd.total : "–");
    cell(tr, n.vrrp ? Object.entries(n.vrrp).map(([k, s]) => k + ":" + s).join(" ") : "–");
    cell(tr, n.healthy ? "healthy" : "NOT healthy", n.healthy ? "" : "bad");
    return tr;
  }));
  const bgp = v.mode === "bgp";
  fill($("vips").tBodies[0], v.vips.map((x) => {
    const tr = document.createElement("tr");
    tr.dataset.vip = x.name;
    tr.className = (!bgp && x.holders.length > 1) || x.masters.length > 1 ? "split" : x.holders.length === 0 ? "none" : "";
    cell(tr, x.name); cell(tr, x.address); cell(tr, x.vrid === undefined ? "–" : String(x.vrid));
    cell(tr, x.holders.join(", ") || "nobody"); cell(tr, x.masters.join(", ") || "–");
    return tr;
  }));
  const flags = v.flags.length ? v.flags.map((f) => { const li = document.createElement("li"); li.className = f.splitBrain ? "split-brain" : "attention"; li.dataset.kind = f.kind; li.textContent = f.message; return li; })
    : [Object.assign(document.createElement("li"), { className: "none", textContent: "nothing flagged" })];
  $("flags").replaceChildren(...flags);
  $("events").replaceChildren(...v.events.slice().reverse().map((e) => {
    const li = document.createElement("li");
    li.className = e.kind + (e.kind === "vrrp" ? " vrrp-" + e.state : "");
    const at = document.createElement("span"); at.className = "at"; at.textContent = e.at.replace("T", " ").replace("Z", "") + "  ";
    const node = document.createElement("span"); node.className = "node"; node.textContent = e.node + "  ";
    const msg = document.createElement("span"); msg.className = "msg"; msg.textContent = e.message;
    li.append(at, node, msg);
    return li;
  }));
}
async function tick() {
  try {
    const r = await fetch("/api/fleet", { cache: "no-store" });
    if (r.ok) render(await r.json());
  } catch (e) {
    $("updated").textContent = "dashboard not answering: " + e.message;
  }
  setTimeout(tick, 1000);
}
tick();
</script>
</body>
</html>
`;
