/* Questionnaire enhancements (the form works without them; the CSP allows this file, never inline script):
   - a question with data-if="code" data-if-value="v" is shown only while question `code` has the answer v;
     hidden, it is also disabled, so what it held is neither sent nor lost if the answer changes back;
   - the "n of m questions answered" line follows the answers (hidden questions are not counted). */
(function () {
  "use strict";

  function checkedValue(name) {
    var inputs = document.getElementsByName(name);
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].checked) { return inputs[i].value; }
    }
    return null;
  }

  function isAnswered(fieldset) {
    var fields = fieldset.querySelectorAll("input, textarea");
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.type === "radio" || field.type === "checkbox" ? field.checked : field.value.trim() !== "") {
        return true;
      }
    }
    return false;
  }

  function start() {
    var questions = document.querySelectorAll("fieldset.q");
    var conditional = document.querySelectorAll("fieldset.q[data-if]");
    var counter = document.getElementById("answered");
    var label = counter && counter.querySelector("label");
    var bar = counter && counter.querySelector("progress");

    function update() {
      for (var i = 0; i < conditional.length; i++) {
        var fieldset = conditional[i];
        var applies = checkedValue(fieldset.getAttribute("data-if")) === fieldset.getAttribute("data-if-value");
        fieldset.hidden = !applies;
        fieldset.disabled = !applies;
      }
      if (!counter) { return; }
      var asked = 0, done = 0;
      for (var j = 0; j < questions.length; j++) {
        if (questions[j].hidden) { continue; }
        asked += 1;
        if (isAnswered(questions[j])) { done += 1; }
      }
      label.textContent = counter.getAttribute("data-template").replace("{done}", done).replace("{total}", asked);
      bar.max = asked;
      bar.value = done;
      bar.textContent = done + " / " + asked;
    }

    document.addEventListener("change", update);
    document.addEventListener("input", update);
    update();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
