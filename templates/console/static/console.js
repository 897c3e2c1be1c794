// The console's one script: confirmations before publishing actions, and the live preview of
// a notice's Markdown (rendered by the server, exactly as the site will render it).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var text = button && button.getAttribute("data-confirm");
  if (text && !window.confirm(text)) {
    event.preventDefault();
  }
});

document.addEventListener("DOMContentLoaded", function () {
  var area = document.querySelector("textarea[data-preview]");
  if (!area) return;
  var target = document.querySelector(area.getAttribute("data-preview"));
  var token = area.form.querySelector("input[name=csrftoken]").value;
  var timer = null;
  function render() {
    var body = new FormData();
    body.append("body", area.value);
    body.append("csrftoken", token);
    fetch(area.form.getAttribute("data-preview-url") || "/admin/preview", {
      method: "POST", body: body, credentials: "same-origin",
      headers: { "x-csrftoken": token }
    }).then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) target.innerHTML = data.html; });
  }
  area.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  render();
});
