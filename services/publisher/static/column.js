/* Filters and sorting for a special column's site table.
 * A column of several pages has an index (column-index.json: every page's rows' filter keys):
 * the filter then counts over the whole column and lists the other pages with matches, their
 * links carrying the filter. Progressive enhancement: without this script the whole table is
 * shown. No inline code is
 * needed (CSP: script-src 'self'); the filter form is revealed only when the script runs. */
(function () {
  "use strict";

  function cellValue(row, index) {
    var cell = row.cells[index];
    if (!cell) return "";
    return cell.getAttribute("data-sort") || cell.textContent.trim();
  }

  function makeSortable(table) {
    var head = table.tHead;
    var body = table.tBodies[0];
    if (!head || !body) return;
    var headers = head.rows[0].cells;
    Array.prototype.forEach.call(headers, function (th, index) {
      if (!th.hasAttribute("data-sort-type")) return;
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(headers, function (other) {
          other.removeAttribute("aria-sort");
        });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var result = cellValue(a, index).localeCompare(cellValue(b, index), "zh-CN", {
            numeric: true,
          });
          return ascending ? result : -result;
        });
        rows.forEach(function (row) {
          body.appendChild(row);
        });
      });
    });
  }

  var ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

  /* The filter as a hash ("#status=missing&publication=unreachable"): a page link carries it
   * to the next page of a column, and a page opened with one applies it. */
  function readHash(selects) {
    var wanted = {};
    var hash = typeof location !== "undefined" && location.hash ? location.hash.slice(1) : "";
    hash
      .split("&")
      .forEach(function (pair) {
        var at = pair.indexOf("=");
        if (at > 0) wanted[decodeURIComponent(pair.slice(0, at))] = decodeURIComponent(pair.slice(at + 1));
      });
    Array.prototype.forEach.call(selects, function (select) {
      var value = wanted[select.name];
      if (value && Array.prototype.some.call(select.options || [], function (o) { return o.value === value; })) {
        select.value = value;
      }
    });
  }

  function filterHash(selects) {
    var parts = [];
    Array.prototype.forEach.call(selects, function (select) {
      if (select.value) parts.push(encodeURIComponent(select.name) + "=" + encodeURIComponent(select.value));
    });
    return parts.length ? "#" + parts.join("&") : "";
  }

  /* Matches per page from the column's index: each page's rows, one character per key. */
  function countPages(index, selects) {
    var keys = index.keys;
    var wanted = keys.map(function (key) {
      var select = Array.prototype.filter.call(selects, function (s) { return s.name === key; })[0];
      if (!select || !select.value) return null;
      var at = index.values[key].indexOf(select.value);
      return at < 0 ? "?" : ALPHABET.charAt(at);
    });
    return index.pages.map(function (page) {
      var matched = 0;
      for (var row = 0; row < page.count; row += 1) {
        var ok = true;
        for (var k = 0; k < keys.length && ok; k += 1) {
          if (wanted[k] !== null && page.rows.charAt(row * keys.length + k) !== wanted[k]) ok = false;
        }
        if (ok) matched += 1;
      }
      return matched;
    });
  }

  function showPages(box, index, matches, current, hash) {
    if (!box) return;
    while (box.firstChild) box.removeChild(box.firstChild);
    if (!hash) return;
    var list = document.createElement("ul");
    index.pages.forEach(function (page, i) {
      if (!matches[i]) return;
      var item = document.createElement("li");
      if (page.number === current) {
        item.textContent = "第 " + page.number + " 页（本页）：" + matches[i] + " 个";
      } else {
        var link = document.createElement("a");
        link.href = page.href + hash;
        link.textContent = "第 " + page.number + " 页";
        item.appendChild(link);
        item.appendChild(document.createTextNode("：" + matches[i] + " 个（" + page.label + "）"));
      }
      list.appendChild(item);
    });
    box.appendChild(list);
  }

  function makeFilterable(form) {
    var table = document.getElementById(form.getAttribute("data-table"));
    if (!table || !table.tBodies[0]) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows).filter(function (row) {
      return row.hasAttribute("data-status");
    });
    var selects = form.querySelectorAll("select");
    var counter = form.querySelector(".filter-count");
    var box = form.querySelector(".filter-pages");
    var current = Number(form.getAttribute("data-page") || "1");
    var index = null;

    function apply() {
      var shown = 0;
      rows.forEach(function (row) {
        var visible = Array.prototype.every.call(selects, function (select) {
          return !select.value || row.getAttribute("data-" + select.name) === select.value;
        });
        row.hidden = !visible;
        if (visible) shown += 1;
      });
      if (!counter) return;
      if (!index) {
        counter.textContent = "显示 " + shown + " / " + rows.length + " 个网站";
        return;
      }
      var matches = countPages(index, selects);
      var total = matches.reduce(function (a, b) { return a + b; }, 0);
      counter.textContent =
        "全专栏 " + total + " / " + index.total + " 个网站符合，本页显示 " + shown + " 个";
      var hash = filterHash(selects);
      showPages(box, index, matches, current, hash);
      Array.prototype.forEach.call(document.querySelectorAll("a[data-page]"), function (link) {
        link.setAttribute("href", link.getAttribute("href").split("#")[0] + hash);
      });
    }

    Array.prototype.forEach.call(selects, function (select) {
      select.addEventListener("change", apply);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
    });
    readHash(selects);
    form.hidden = false;
    apply();
    var source = form.getAttribute("data-index");
    if (source && typeof fetch === "function") {
      fetch(source, { credentials: "same-origin" })
        .then(function (response) {
          if (!response.ok) throw new Error(String(response.status));
          return response.json();
        })
        .then(function (doc) {
          index = doc;
          apply();
        })
        .catch(function () {
          /* without the index the filter works on this page alone */
        });
    }
  }

  function init() {
    Array.prototype.forEach.call(document.querySelectorAll("table[data-sortable]"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("form.filters[data-table]"), makeFilterable);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
