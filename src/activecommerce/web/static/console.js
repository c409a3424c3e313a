// The console's small behaviours, as a static file (no inline scripts: strict CSP).
// A form with data-confirm="Question?" asks before it is sent (deletes, removals).
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
