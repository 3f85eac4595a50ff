// Refreshes the parts of a page marked data-live every few seconds, so an
// approver sees a run arrive without reloading. Skipped while the operator
// is typing in that part; everything works without it.
(function () {
  'use strict';
  function busy(el) {
    if (el.contains(document.activeElement) && document.activeElement !== document.body) return true;
    return Array.prototype.some.call(el.querySelectorAll('textarea, input[type=text]'), function (f) { return f.value !== ''; });
  }
  function refresh(el) {
    if (document.hidden || busy(el)) return;
    fetch(el.getAttribute('data-live'), { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (res) {
        if (res.status === 401) { window.location.reload(); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html !== null && !busy(el) && el.innerHTML !== html) el.innerHTML = html;
      })
      .catch(function () {});
  }
  document.querySelectorAll('[data-live]').forEach(function (el) {
    setInterval(function () { refresh(el); }, 2000);
  });
})();
