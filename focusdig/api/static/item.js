// Item page: hovering or focusing a highlighted word also marks the words it is aligned to.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const marks = Array.from(document.querySelectorAll("a.hl[data-links]"));
  const linksOf = (el) => el.dataset.links.split(" ");
  const mark = (source, on) => {
    const links = linksOf(source);
    for (const el of marks) {
      if (linksOf(el).some((l) => links.includes(l))) el.classList.toggle("linked", on);
    }
  };
  for (const el of marks) {
    el.addEventListener("mouseenter", () => mark(el, true));
    el.addEventListener("mouseleave", () => mark(el, false));
    el.addEventListener("focus", () => mark(el, true));
    el.addEventListener("blur", () => mark(el, false));
  }
});
