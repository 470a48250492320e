// Runs static/column.js on page 2 of a three-page column against a tiny fake DOM and a fake
// fetch of the column's index: the filter counts over every page, lists the pages with
// matches, and carries itself to them in the links' hash; a page opened with a hash applies it.
"use strict";
const fs = require("fs");

function el(tag, attrs) {
  return {
    tagName: tag, attrs: Object.assign({}, attrs || {}), children: [], listeners: {},
    hidden: false, textContent: "", href: "",
    get firstChild() { return this.children[0] || null; },
    hasAttribute(n) { return n in this.attrs; },
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); },
    removeAttribute(n) { delete this.attrs[n]; },
    addEventListener(t, f) { this.listeners[t] = f; },
    appendChild(c) { this.children = this.children.filter((x) => x !== c); this.children.push(c); return c; },
    removeChild(c) { this.children = this.children.filter((x) => x !== c); return c; },
  };
}
const text = (node) => (node.nodeText || node.textContent || "") + node.children.map(text).join("");
// the index: keys status, publication; values on_time/missing and undeclared/unreachable
const index = {
  keys: ["status", "publication"],
  values: { status: ["on_time", "missing"], publication: ["undeclared", "unreachable"] },
  total: 7,
  pages: [
    { href: "index.html", number: 1, label: "甲", start: 0, count: 3, rows: "001011" },
    { href: "page-2.html", number: 2, label: "乙", start: 3, count: 2, rows: "0110" },
    { href: "page-3.html", number: 3, label: "丙", start: 5, count: 2, rows: "1100" },
  ],
};
// this page's own rows (page 2): on_time/unreachable, missing/undeclared
function row(status, publication) {
  const r = el("tr", { "data-status": status, "data-publication": publication });
  r.cells = [];
  return r;
}
const body = el("tbody");
[row("on_time", "unreachable"), row("missing", "undeclared")].forEach((r) => body.appendChild(r));
Object.defineProperty(body, "rows", { get() { return this.children; } });
const table = el("table", { id: "site-table" });
table.tBodies = [body];
function select(name, values) {
  const s = el("select"); s.name = name; s.value = "";
  s.options = ["", ...values].map((v) => ({ value: v }));
  return s;
}
const status = select("status", ["on_time", "missing"]);
const publication = select("publication", ["undeclared", "unreachable"]);
const counter = el("output");
const box = el("div");
const form = el("form", { "data-table": "site-table", "data-index": "column-index.json", "data-page": "2" });
form.hidden = true;
form.querySelectorAll = () => [status, publication];
form.querySelector = (q) => (q === ".filter-count" ? counter : box);
const pageLinks = [el("a", { href: "index.html", "data-page": "1" }), el("a", { href: "page-3.html", "data-page": "3" })];
global.location = { hash: "#status=missing" };
let fetched = null;
global.fetch = (url) => {
  fetched = url;
  return Promise.resolve({ ok: true, json: () => Promise.resolve(index) });
};
global.document = {
  readyState: "complete",
  createElement: (t) => el(t),
  createTextNode: (t) => ({ nodeText: t, children: [] }),
  getElementById: (id) => (id === "site-table" ? table : null),
  querySelectorAll: (q) => (q.startsWith("table") ? [] : q.startsWith("form") ? [form] : pageLinks),
};
eval(fs.readFileSync(process.argv[2], "utf8"));

const check = (ok, what) => { if (!ok) { console.error("FAILED: " + what); process.exit(1); } };
check(status.value === "missing", "the hash's filter applied: " + status.value);
check(body.rows.filter((r) => !r.hidden).length === 1, "this page filtered before the index");
setImmediate(() => {
  check(fetched === "column-index.json", "index fetched: " + fetched);
  // missing: page 1 rows 2-3, page 2 row 2, page 3 row 1 → 4 in all
  check(counter.textContent === "全专栏 4 / 7 个网站符合，本页显示 1 个", "counter " + counter.textContent);
  const listed = text(box);
  check(listed === "第 1 页：2 个（甲）第 2 页（本页）：1 个第 3 页：1 个（丙）", "pages listed: " + listed);
  const links = box.children[0].children.map((li) => li.children.find((c) => c.tagName === "a")).filter(Boolean);
  check(links.map((a) => a.href).join(" ") === "index.html#status=missing page-3.html#status=missing", "links carry the filter");
  check(pageLinks[1].attrs.href === "page-3.html#status=missing", "page list links carry the filter");
  // both keys: missing and unreachable → pages 1 and 3, none here; unreachable alone → 3
  publication.value = "unreachable"; publication.listeners.change();
  check(counter.textContent === "全专栏 2 / 7 个网站符合，本页显示 0 个", "two keys " + counter.textContent);
  check(text(box) === "第 1 页：1 个（甲）第 3 页：1 个（丙）", "two keys' pages " + text(box));
  status.value = ""; status.listeners.change();
  check(counter.textContent === "全专栏 3 / 7 个网站符合，本页显示 1 个", "one key " + counter.textContent);
  publication.value = ""; publication.listeners.change();
  check(box.children.length === 0 && pageLinks[0].attrs.href === "index.html", "no filter, no list");
  console.log("ok");
});
