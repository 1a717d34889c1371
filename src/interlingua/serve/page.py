"""The page served at ``GET /``: cross-lingual search and an alignment heatmap, one self-contained HTML file.

Kept as a Python string rather than a package-data file so that any install of the package carries it. It
calls the same JSON API as any client (``/health``, ``/search``, ``/align``), sending the API key typed into
it as a bearer token; every text from the server is set with ``textContent``, never parsed as HTML.
"""
from __future__ import annotations

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>interlingua</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1080px; padding: 16px 24px; color: #222; }
  header { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; border-bottom: 1px solid #ddd; }
  header h1 { font-size: 22px; margin: 8px 0; }
  #model { color: #555; flex: 1; }
  section { margin: 18px 0; }
  h2 { font-size: 17px; margin: 0 0 8px; }
  form { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
  input[type=text], input[type=password] { padding: 6px 8px; border: 1px solid #bbb; border-radius: 4px; }
  #query, #src, #tgt { flex: 1; min-width: 260px; }
  button { padding: 6px 14px; border: 1px solid #2b6cb0; background: #2b6cb0; color: #fff; border-radius: 4px; }
  button.small { padding: 2px 8px; background: #fff; color: #2b6cb0; font-size: 13px; }
  table { border-collapse: collapse; width: 100%; margin-top: 10px; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #eee; vertical-align: middle; }
  td.score { white-space: nowrap; font-variant-numeric: tabular-nums; width: 150px; }
  .bar { display: inline-block; height: 8px; background: #2b6cb0; margin-left: 6px; border-radius: 2px; }
  td.lang { color: #666; font-family: ui-monospace, monospace; }
  #status { min-height: 1.4em; color: #555; }
  #status.error { color: #b00020; }
  #heatmap svg { font: 12px system-ui, sans-serif; }
  .hint { color: #666; font-size: 13px; }
</style>
</head>
<body>
<header>
  <h1>interlingua</h1>
  <span id="model">connecting...</span>
  <label>API key <input type="password" id="api-key" autocomplete="off" size="14"></label>
</header>
<p id="status"></p>

<section>
  <h2>Nearest sentences across languages</h2>
  <form id="search-form">
    <input type="text" id="query" placeholder="Type a sentence in any language" autofocus>
    <select id="lang"><option value="">all languages</option></select>
    <label>k <input type="number" id="k" value="10" min="1" max="100" style="width:4em"></label>
    <button type="submit" id="search-btn">Search</button>
  </form>
  <table id="results" hidden>
    <thead><tr><th title="pick two to align them">pick</th><th>#</th><th>lang</th><th>sentence</th>
      <th>score</th><th></th></tr></thead>
    <tbody></tbody>
  </table>
</section>

<section>
  <h2>Word alignment</h2>
  <form id="align-form">
    <input type="text" id="src" placeholder="Source sentence">
    <input type="text" id="tgt" placeholder="Target sentence">
    <select id="method"><option>argmax</option><option>itermax</option><option>softmax</option></select>
    <button type="submit" id="align-btn">Align</button>
  </form>
  <p class="hint">Pick two results above, press "align with query" on one, or type a pair. Cells show the cosine
    of the two words' subword vectors (the best pair); dots are the aligner's links.</p>
  <div id="heatmap"></div>
</section>

<script>
"use strict";
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
let picked = [];

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, body) {
  const headers = {"Content-Type": "application/json"};
  const key = $("api-key").value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const init = body === undefined ? {headers} : {method: "POST", headers, body: JSON.stringify(body)};
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error((data.error && data.error.message) || response.status + " " + response.statusText);
  return data;
}

async function loadHealth() {
  try {
    const h = await api("/health");
    const n = h.index ? h.index.sentences + " sentences indexed" : "no index";
    $("model").textContent = h.model + " · " + h.dim + " dimensions · " + n;
    const select = $("lang");
    while (select.options.length > 1) select.remove(1);
    for (const [lang, count] of Object.entries(h.index ? h.index.langs : {})) {
      if (lang) select.add(new Option(lang + " (" + count + ")", lang));
    }
    status("");
  } catch (e) {
    $("model").textContent = "not connected";
    status(e.message, true);
  }
}

function cell(row, text, cls) {
  const td = row.insertCell();
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function renderResults(results) {
  const body = $("results").tBodies[0];
  body.replaceChildren();
  picked = [];
  results.forEach((hit, i) => {
    const row = body.insertRow();
    row.className = "hit";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.addEventListener("change", () => pick(box, hit.sentence));
    cell(row, "").appendChild(box);
    cell(row, String(i + 1), "rank");
    cell(row, hit.lang || "", "lang");
    cell(row, hit.sentence, "sentence");
    const score = cell(row, hit.score.toFixed(3), "score");
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.style.width = Math.max(0, hit.score) * 80 + "px";
    score.appendChild(bar);
    const button = document.createElement("button");
    button.className = "small";
    button.type = "button";
    button.textContent = "align with query";
    button.addEventListener("click", () => alignPair($("query").value, hit.sentence));
    cell(row, "").appendChild(button);
  });
  $("results").hidden = false;
}

function pick(box, sentence) {
  if (box.checked) {
    picked.push({box, sentence});
    if (picked.length > 2) { const old = picked.shift(); old.box.checked = false; }
  } else {
    picked = picked.filter((p) => p.box !== box);
  }
  if (picked.length === 2) alignPair(picked[0].sentence, picked[1].sentence);
}

async function search(event) {
  event.preventDefault();
  const query = $("query").value;
  const started = performance.now();
  try {
    const lang = $("lang").value || null;
    const data = await api("/search", {query, k: Number($("k").value) || 10, lang});
    renderResults(data.results);
    status(data.results.length + " results in " + Math.round(performance.now() - started) + " ms");
  } catch (e) {
    status(e.message, true);
  }
}

function color(t) {  // light to dark blue, t in [0, 1]
  const a = [247, 251, 255], b = [8, 48, 107];
  return "rgb(" + a.map((v, i) => Math.round(v + (b[i] - v) * t)).join(",") + ")";
}

function svgNode(name, attrs, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function renderHeatmap(a) {
  const m = a.src.length, n = a.tgt.length, size = Math.max(18, Math.min(34, Math.floor(720 / Math.max(m, n))));
  const longest = (words) => Math.max(...words.map((w) => w.length));
  const left = 12 + 7.5 * Math.min(24, longest(a.src)), top = 12 + 6 * Math.min(24, longest(a.tgt));
  const flat = a.similarity.flat(), lo = Math.min(...flat), hi = Math.max(...flat);
  const svg = svgNode("svg", {width: left + n * size + 10, height: top + m * size + 10, role: "img"});
  a.tgt.forEach((w, j) => {
    const x = left + j * size + size / 2, y = top - 6;
    svg.appendChild(svgNode("text", {x, y, transform: "rotate(-55 " + x + " " + y + ")", class: "tgt-word"}, w));
  });
  a.src.forEach((w, i) => {
    svg.appendChild(svgNode("text", {x: left - 6, y: top + i * size + size / 2 + 4, "text-anchor": "end",
                                     class: "src-word"}, w));
    a.tgt.forEach((t, j) => {
      const v = a.similarity[i][j];
      const rect = svgNode("rect", {x: left + j * size, y: top + i * size, width: size - 1, height: size - 1,
                                    fill: color(hi > lo ? (v - lo) / (hi - lo) : 1), class: "cell"});
      rect.appendChild(svgNode("title", {}, w + " / " + t + ": " + v.toFixed(3)));
      svg.appendChild(rect);
    });
  });
  for (const [i, j] of a.links) {
    svg.appendChild(svgNode("circle", {cx: left + j * size + size / 2 - 0.5, cy: top + i * size + size / 2 - 0.5,
                                       r: size * 0.22, fill: "#e6550d", stroke: "#fff", "stroke-width": 1.5,
                                       class: "link"}));
  }
  $("heatmap").replaceChildren(svg);
}

async function alignPair(src, tgt) {
  $("src").value = src;
  $("tgt").value = tgt;
  try {
    const a = await api("/align", {src, tgt, method: $("method").value});
    renderHeatmap(a);
    status(a.links.length + " links, layer " + a.layer + " of " + a.num_layers + ", " + a.method);
  } catch (e) {
    status(e.message, true);
  }
}

$("search-form").addEventListener("submit", search);
$("align-form").addEventListener("submit", (e) => { e.preventDefault(); alignPair($("src").value, $("tgt").value); });
$("api-key").addEventListener("change", loadHealth);
loadHealth();
</script>
</body>
</html>
"""
