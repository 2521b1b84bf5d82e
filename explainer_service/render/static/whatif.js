// The what-if editor of an explanation page (render/templates/whatif.html.j2). A change asks
// the service for the live model's answer (POST /whatif/predict: one model call, nothing
// stored); "Explain this" asks for an explanation of the edited values (POST /whatif/explain)
// and opens its page; a counterfactual's "apply" puts its values in the editor. The page's
// Content-Security-Policy runs no inline script: everything is wired here, once the whole
// page (counterfactuals included) is parsed: the script is deferred. With access control
// on, the page carries a grant (the query of a signed link), sent with each call.
(function () {
  "use strict";
  var form = document.getElementById("whatif-form");
  if (!form) {
    return;
  }
  var grant = form.getAttribute("data-grant");
  var answer = document.getElementById("whatif-prediction");
  var status = document.getElementById("whatif-status");
  var method = document.getElementById("whatif-method");
  var explainButton = document.getElementById("whatif-explain");
  var fields = Array.prototype.slice.call(form.querySelectorAll("[data-feature]"));
  var timer = null;
  var asked = 0;

  function url(path) {
    return grant ? path + "?" + grant : path;
  }

  function valueOf(field) {
    var text = field.value;
    if (field.getAttribute("data-number") === "true") {
      return text === "" ? null : Number(text);
    }
    return text;
  }

  function values() {
    var out = {};
    fields.forEach(function (field) {
      out[field.getAttribute("data-feature")] = valueOf(field);
    });
    return out;
  }

  function markChanged() {
    var changed = 0;
    fields.forEach(function (field) {
      var differs = field.value !== field.getAttribute("data-original");
      field.parentNode.classList.toggle("changed", differs);
      changed += differs ? 1 : 0;
    });
    form.setAttribute("data-changed", String(changed));
    return changed;
  }

  function post(path, body) {
    return fetch(url(path), {
      method: "POST",
      headers: {"Content-Type": "application/json", "Accept": "application/json"},
      credentials: "same-origin",
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          var error = data && data.error ? data.error : {message: response.statusText};
          throw new Error(error.message || ("status " + response.status));
        }
        return data;
      });
    });
  }

  function predict() {
    var mine = ++asked;
    markChanged();
    status.textContent = "asking the model…";
    form.setAttribute("data-state", "asking");
    post("/whatif/predict", {values: values(), original: form.getAttribute("data-id")}).then(function (data) {
      if (mine !== asked) {
        return;
      }
      answer.textContent = data.text;
      status.textContent = "the model's answer now";
      form.setAttribute("data-state", "answered");
    }).catch(function (error) {
      if (mine !== asked) {
        return;
      }
      status.textContent = error.message;
      form.setAttribute("data-state", "refused");
    });
  }

  function later() {
    clearTimeout(timer);
    timer = setTimeout(predict, 250);
  }

  fields.forEach(function (field) {
    field.addEventListener("input", later);
    field.addEventListener("change", later);
  });

  explainButton.addEventListener("click", function () {
    explainButton.disabled = true;
    status.textContent = "explaining…";
    form.setAttribute("data-state", "explaining");
    var body = {values: values(), method: method.value, original: form.getAttribute("data-id")};
    post("/whatif/explain", body).then(function (data) {
      window.location.assign(data.links.html);
    }).catch(function (error) {
      explainButton.disabled = false;
      status.textContent = error.message;
      form.setAttribute("data-state", "refused");
    });
  });

  document.getElementById("whatif-reset").addEventListener("click", function () {
    fields.forEach(function (field) {
      field.value = field.getAttribute("data-original");
    });
    predict();
  });

  Array.prototype.forEach.call(document.querySelectorAll("button.apply"), function (button) {
    button.addEventListener("click", function () {
      var chosen = JSON.parse(button.getAttribute("data-values"));
      fields.forEach(function (field) {
        var name = field.getAttribute("data-feature");
        if (Object.prototype.hasOwnProperty.call(chosen, name)) {
          field.value = String(chosen[name]);
        }
      });
      form.scrollIntoView();
      predict();
    });
  });
})();
