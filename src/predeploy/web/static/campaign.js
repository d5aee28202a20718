// A campaign's page follows its progress: the server sends `progress` events (the page's view
// of the campaign as JSON) on every change and `end` once the campaign is over. Every text from
// the server goes in with textContent, never as markup.
(function () {
  "use strict";

  function setText(id, text) {
    const el = document.getElementById(id);
    if (el && el.textContent !== text) {
      el.textContent = text;
    }
  }

  // The column's header text, which narrow screens show before each cell.
  function label(table, index) {
    const header = table.tHead && table.tHead.rows[0] && table.tHead.rows[0].cells[index];
    return header ? header.textContent : "";
  }

  function cell(table, row, field, index) {
    let td = row.querySelector('[data-field="' + field + '"]');
    if (!td) {
      td = document.createElement("td");
      td.setAttribute("data-field", field);
      td.setAttribute("data-label", label(table, index));
      row.appendChild(td);
    }
    return td;
  }

  function jobRow(body, id) {
    for (const row of body.rows) {
      if (row.getAttribute("data-job") === id) {
        return row;
      }
    }
    const row = document.createElement("tr");
    row.setAttribute("data-job", id);
    body.appendChild(row);
    return row;
  }

  function updateJobs(view) {
    const table = document.getElementById("campaign-jobs");
    if (!table || !table.tBodies.length) {
      return;
    }
    const fields = ["task", "model", "samples", "state"];
    if (view.show_scores) {
      fields.push("score");
    }
    const body = table.tBodies[0];
    view.jobs.forEach(function (job) {
      const row = jobRow(body, job.id);
      fields.forEach(function (field, index) {
        const td = cell(table, row, field, index);
        if (td.textContent !== String(job[field])) {
          td.textContent = String(job[field]);
        }
      });
    });
  }

  function updateErrors(view) {
    const list = document.getElementById("campaign-errors");
    if (!list) {
      return;
    }
    const items = view.errors.length ? view.errors : [list.getAttribute("data-empty") || ""];
    const current = Array.from(list.children, function (li) { return li.textContent; });
    if (current.join("\n") === items.join("\n")) {
      return;
    }
    list.replaceChildren.apply(list, items.map(function (text) {
      const li = document.createElement("li");
      li.textContent = text;
      return li;
    }));
  }

  function update(view) {
    const state = document.getElementById("campaign-state");
    if (state) {
      state.textContent = view.state_label;
      state.className = "badge" + (view.state_badge ? " " + view.state_badge : "");
    }
    setText("campaign-reason", view.reason);
    const bar = document.getElementById("campaign-progress");
    if (bar) {
      bar.value = view.percent;
      bar.textContent = view.percent + "%";
    }
    setText("campaign-progress-text", view.progress_text);
    setText("campaign-eta", view.eta_text);
    setText("campaign-started", view.started);
    setText("campaign-finished", view.finished_at);
    updateJobs(view);
    updateErrors(view);
    if (view.finished) {
      const cancel = document.getElementById("campaign-cancel");
      if (cancel) {
        cancel.hidden = true;
      }
    }
  }

  function follow(section) {
    const url = section.getAttribute("data-events");
    if (!url || !window.EventSource) {
      return;
    }
    const source = new EventSource(url);
    source.addEventListener("progress", function (event) {
      update(JSON.parse(event.data));
    });
    source.addEventListener("end", function (event) {
      const end = JSON.parse(event.data);
      source.close();
      setText(
        "campaign-announce",
        "The campaign is over: " + end.state_label.toLowerCase() +
          (end.reason ? " (" + end.reason + ")" : "") + "."
      );
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    const section = document.getElementById("campaign-live");
    if (section && section.getAttribute("data-finished") !== "true") {
      follow(section);
    }
  });
})();
