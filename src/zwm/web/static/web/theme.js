// Light/dark mode: follows the system until the user picks one, then remembers the pick.
// Loaded in <head> so the stored theme applies before the first paint (no flash).
(function () {
  var stored = localStorage.getItem("zwm-theme");
  if (stored === "light" || stored === "dark") {
    document.documentElement.setAttribute("data-theme", stored);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-theme-toggle]");
    if (!button) return;
    var root = document.documentElement;
    var current = root.getAttribute("data-theme") ||
      (window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light");
    var next = current === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    localStorage.setItem("zwm-theme", next);
  });
})();
