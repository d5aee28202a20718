// Countdowns: an element with data-deadline (ISO time) and data-server-now (the server's time
// when the page was made) shows the time left, ticking from the server's clock, not the
// browser's (which may be wrong).
(function () {
  "use strict";
  const loadedAt = Date.now();

  function left(ms) {
    const past = ms < 0;
    let s = Math.floor(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60);
    const text = d ? d + " d " + h + " h" : h ? h + " h " + m + " min" : m + " min";
    return past ? text + " ago" : text + " left";
  }

  function tick() {
    document.querySelectorAll("[data-deadline][data-server-now]").forEach(function (el) {
      const deadline = Date.parse(el.getAttribute("data-deadline"));
      const serverNow = Date.parse(el.getAttribute("data-server-now")) + (Date.now() - loadedAt);
      if (!isNaN(deadline) && !isNaN(serverNow)) {
        el.textContent = left(deadline - serverNow);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 30000);
  });
  document.addEventListener("htmx:afterSwap", tick);
})();
