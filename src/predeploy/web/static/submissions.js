// Submissions pages. The pages work without this file; it only
// - shows the "new model" fields only when "Register a new model" is chosen (and disables
//   them otherwise, so they are neither focused nor sent), and
// - asks before a move that cannot be undone (forms with data-confirm).
(function () {
  "use strict";

  function syncNewModel(select, fields) {
    const chosen = select.value === "new";
    fields.hidden = !chosen;
    fields.querySelectorAll("input, select, textarea").forEach(function (el) {
      el.disabled = !chosen;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const select = document.getElementById("model_id");
    const fields = document.getElementById("new-model");
    if (select && fields && select.tagName === "SELECT") {
      syncNewModel(select, fields);
      select.addEventListener("change", function () { syncNewModel(select, fields); });
    }
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  });
})();
