// Label page: the active-learning queue one item at a time; n / u / p post a label, s skips.
// The API token is pasted once and kept in sessionStorage (this tab only); feed text is only
// ever inserted as text nodes, never as HTML.
"use strict";
const TOKEN_KEY = "focusdig-api-token";
const KEYS = { n: "negative", u: "neutral", p: "positive" };
let queue = [];
let position = 0;
let busy = false;

const $ = (id) => document.getElementById(id);
const status = (message) => { $("status").textContent = message; };

function showTokenForm(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  $("labeler").hidden = true;
  $("token-form").hidden = false;
  $("token").value = "";
  $("token").focus();
  if (message) status(message);
}

function renderText(container, text, tokens) {
  container.replaceChildren();
  const spans = tokens.filter((t) => t.start >= 0 && t.end <= text.length && t.start < t.end)
    .sort((a, b) => a.start - b.start);
  const heaviest = Math.max(...spans.map((t) => t.weight), 0);
  let at = 0;
  for (const t of spans) {
    if (t.start < at) continue;
    container.append(document.createTextNode(text.slice(at, t.start)));
    const mark = document.createElement("span");
    const level = heaviest > 0 ? Math.max(1, Math.round((5 * t.weight) / heaviest)) : 1;
    mark.className = `hl hl-${level}`;
    mark.title = `weight ${t.weight.toFixed(3)}`;
    mark.textContent = text.slice(t.start, t.end);
    container.append(mark);
    at = t.end;
  }
  container.append(document.createTextNode(text.slice(at)));
}

function show() {
  if (position >= queue.length) {
    $("labeler").hidden = true;
    status(queue.length ? "Queue done. Reload for more." : "Nothing to label: every scored item has a label.");
    return;
  }
  const entry = queue[position];
  $("labeler").hidden = false;
  $("position").textContent = `${position + 1} / ${queue.length} · item ${entry.item_id}`;
  $("model-label").textContent = entry.label;
  $("model-label").className = `chip chip-${entry.label}`;
  const p = entry.probs;
  $("model-probs").textContent =
    `(neg ${p.negative.toFixed(2)} · neu ${p.neutral.toFixed(2)} · pos ${p.positive.toFixed(2)})`;
  $("item-link").href = `/items/${entry.item_id}`;
  renderText($("text"), entry.text, entry.top_tokens);
  $("original").hidden = !entry.source_text;
  $("original").textContent = entry.source_text ? `original (${entry.language}): ${entry.source_text}` : "";
}

async function answer(key) {
  if (busy || $("labeler").hidden || position >= queue.length) return;
  const entry = queue[position];
  if (key === "s") { position += 1; status(`skipped item ${entry.item_id}`); show(); return; }
  const label = KEYS[key];
  if (!label) return;
  busy = true;
  try {
    const response = await fetch("/api/labels", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`,
      },
      body: JSON.stringify({ item_id: entry.item_id, label }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) { showTokenForm("The token was refused: paste it again."); return; }
    if (!response.ok) { status(`not saved: ${body.detail ? JSON.stringify(body.detail) : response.status}`); return; }
    status(body.stored ? `saved item ${entry.item_id} as ${label} (by ${body.annotator})`
                       : `item ${entry.item_id} already had the label ${label}`);
    position += 1;
    show();
  } catch (error) {
    status(`not saved: ${error}`);
  } finally {
    busy = false;
  }
}

async function start() {
  $("token-form").hidden = true;
  status("loading the queue…");
  const response = await fetch("/api/label-queue?n=20");
  if (!response.ok) { status(`could not load the queue (${response.status})`); return; }
  queue = await response.json();
  position = 0;
  status("");
  show();
}

document.addEventListener("DOMContentLoaded", () => {
  if (!$("token-form")) return; // writes are disabled on this server
  $("token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
    start();
  });
  $("forget").addEventListener("click", () => showTokenForm("Token forgotten."));
  for (const button of document.querySelectorAll("button[data-key]")) {
    button.addEventListener("click", () => answer(button.dataset.key));
  }
  document.addEventListener("keydown", (event) => {
    if (event.target.tagName === "INPUT" || event.ctrlKey || event.metaKey || event.altKey) return;
    answer(event.key.toLowerCase());
  });
  if (sessionStorage.getItem(TOKEN_KEY)) start(); else showTokenForm("");
});
