// Runs static/column.js against a tiny fake DOM: filters hide rows, headers sort rows.
"use strict";
const fs = require("fs");

function el(tag, attrs) {
  const e = {
    tagName: tag, attrs: Object.assign({}, attrs || {}), children: [], listeners: {},
    hidden: false, textContent: "",
    hasAttribute(n) { return n in this.attrs; },
    getAttribute(n) { return n in this.attrs ? this.attrs[n] : null; },
    setAttribute(n, v) { this.attrs[n] = String(v); },
    removeAttribute(n) { delete this.attrs[n]; },
    addEventListener(t, f) { this.listeners[t] = f; },
    appendChild(c) { this.children = this.children.filter((x) => x !== c); this.children.push(c); return c; },
  };
  return e;
}
function row(name, level, date) {
  const r = el("tr", { "data-level": level, "data-type": "portal", "data-status": "on_time" });
  r.name = name;
  const a = el("th"); a.textContent = name;
  const b = el("td"); b.textContent = level;
  const c = el("td", { "data-sort": date }); c.textContent = date.slice(0, 10);
  r.cells = [a, b, c];
  return r;
}
const body = el("tbody");
[row("乙", "city", "2026-01-20"), row("甲", "county", "2026-01-03"), row("丙", "city", "2026-02-01")]
  .forEach((r) => body.appendChild(r));
Object.defineProperty(body, "rows", { get() { return this.children; } });
const headers = [el("th", { "data-sort-type": "text" }), el("th", { "data-sort-type": "text" }), el("th", { "data-sort-type": "text" })];
headers.forEach((h, i) => { h.textContent = ["名称", "层级", "日期"][i]; });
const table = el("table", { id: "site-table", "data-sortable": "" });
table.tHead = { rows: [{ cells: headers }] };
table.tBodies = [body];
const select = el("select"); select.name = "level"; select.value = "";
const counter = el("output");
const form = el("form", { "data-table": "site-table" });
form.hidden = true;
form.querySelectorAll = () => [select];
form.querySelector = () => counter;
global.document = {
  readyState: "complete",
  createElement: (t) => el(t),
  getElementById: (id) => (id === "site-table" ? table : null),
  querySelectorAll: (q) => (q.startsWith("table") ? [table] : [form]),
};
eval(fs.readFileSync(process.argv[2], "utf8"));

const names = () => body.rows.map((r) => r.name).join("");
const check = (ok, what) => { if (!ok) { console.error("FAILED: " + what); process.exit(1); } };
check(form.hidden === false, "form revealed");
check(counter.textContent === "显示 3 / 3 个网站", "counter " + counter.textContent);
select.value = "city"; select.listeners.change();
check(body.rows.filter((r) => !r.hidden).length === 2, "level filter");
check(counter.textContent === "显示 2 / 3 个网站", "counter after filter");
headers[2].children[0].listeners.click();
check(names() === "甲乙丙" && headers[2].attrs["aria-sort"] === "ascending", "date ascending " + names());
headers[2].children[0].listeners.click();
check(names() === "丙乙甲" && headers[2].attrs["aria-sort"] === "descending", "date descending");
headers[0].children[0].listeners.click();
check(!("aria-sort" in headers[2].attrs), "other headers reset");
console.log("ok");
