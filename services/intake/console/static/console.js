// Follows a receipt until it stops moving: asks for its stage every few seconds and reloads the
// page when the stage changes. Without script the page offers a refresh link.
(function () {
  var box = document.querySelector("[data-follow-stage]");
  if (!box) { return; }
  var url = box.getAttribute("data-follow-stage");
  var stage = box.getAttribute("data-stage");
  function poll() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data && data.stage !== stage) { window.location.reload(); return; }
        if (!data || !data.final) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1500);
})();
