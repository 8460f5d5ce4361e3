// Typesets the formulas of the page with the vendored KaTeX (docs/vendor/katex).
//
// pymdownx.arithmatex (generic mode) leaves each formula as the TeX between
// its delimiters: <span class="arithmatex">\(...\)</span> inline and
// <div class="arithmatex">\[...\]</div> for a display block. Each element is
// replaced by KaTeX's rendering; a formula KaTeX cannot parse is shown as its
// TeX in red with the error as tooltip (class "katex-error"), and the rest of
// the page still renders. document$ (mkdocs-material) emits on every page
// load, including instant navigation.
function typesetMath(root) {
  for (const element of root.querySelectorAll(".arithmatex")) {
    const text = element.textContent.trim();
    const display = element.tagName === "DIV";
    const tex = /^\\[([]/.test(text) ? text.slice(2, -2) : text;
    katex.render(tex, element, { displayMode: display, throwOnError: false });
  }
}

document$.subscribe(() => typesetMath(document.body));
