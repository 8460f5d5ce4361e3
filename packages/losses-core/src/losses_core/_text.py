r"""Docstrings as readable terminal text: reST markup and LaTeX formulas
rendered as plain Unicode text, and the one-sentence summary of a loss.

``math_text`` turns a LaTeX formula into Unicode (``\beta`` → ``β``,
``\frac{a}{b}`` → ``a/b``, ``\mathrm{lse}`` → ``lse``, ``\sum_c`` →
``Σ_c``, ``x^{2}`` → ``x²``); ``inline_text`` renders the inline markup
of running text (``:math:`` and other roles, literals, emphasis);
``docstring_text`` renders a whole docstring at a width (paragraphs and
list items wrapped, ``.. math::`` blocks indented, field lists titled);
``first_sentence`` finds a docstring's first sentence and ``summarize``
renders it: the summary every listing and manifest shows (and the docs
catalogue, from ``first_sentence``). Only the standard library is used.
"""

from __future__ import annotations

import re
import textwrap


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# -- LaTeX ---------------------------------------------------------------------
# fmt: off
_SYMBOLS = {
    # Greek letters
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ϵ", "varepsilon": "ε",
    "zeta": "ζ", "eta": "η", "theta": "θ", "vartheta": "ϑ", "iota": "ι", "kappa": "κ",
    "lambda": "λ", "mu": "μ", "nu": "ν", "xi": "ξ", "pi": "π", "varpi": "ϖ", "rho": "ρ",
    "varrho": "ϱ", "sigma": "σ", "varsigma": "ς", "tau": "τ", "upsilon": "υ", "phi": "ϕ",
    "varphi": "φ", "chi": "χ", "psi": "ψ", "omega": "ω", "Gamma": "Γ", "Delta": "Δ",
    "Theta": "Θ", "Lambda": "Λ", "Xi": "Ξ", "Pi": "Π", "Sigma": "Σ", "Upsilon": "Υ",
    "Phi": "Φ", "Psi": "Ψ", "Omega": "Ω",
    # letters and big operators
    "ell": "ℓ", "infty": "∞", "partial": "∂", "nabla": "∇", "sum": "Σ", "prod": "Π",
    "int": "∫", "emptyset": "∅", "varnothing": "∅", "hbar": "ħ", "Re": "ℜ", "Im": "ℑ",
    # relations, operators, arrows
    "in": "∈", "notin": "∉", "ni": "∋", "subset": "⊂", "subseteq": "⊆", "supset": "⊃",
    "supseteq": "⊇", "cup": "∪", "cap": "∩", "setminus": "∖", "mid": "|",
    "vert": "|", "Vert": "‖", "|": "‖",
    "cdot": "·", "times": "×", "div": "÷", "pm": "±", "mp": "∓", "ast": "∗", "star": "⋆",
    "circ": "∘", "bullet": "•", "odot": "⊙", "otimes": "⊗", "oplus": "⊕", "wedge": "∧",
    "land": "∧", "vee": "∨", "lor": "∨", "neg": "¬", "lnot": "¬", "top": "⊤", "bot": "⊥",
    "perp": "⊥", "parallel": "∥", "ne": "≠", "neq": "≠", "le": "≤", "leq": "≤", "ge": "≥",
    "geq": "≥", "ll": "≪", "gg": "≫", "approx": "≈", "simeq": "≃", "sim": "∼", "cong": "≅",
    "equiv": "≡", "propto": "∝", "coloneqq": "≔", "to": "→", "rightarrow": "→",
    "leftarrow": "←", "gets": "←", "leftrightarrow": "↔", "Rightarrow": "⇒",
    "Leftarrow": "⇐", "Leftrightarrow": "⇔", "implies": "⇒", "iff": "⇔", "mapsto": "↦",
    "uparrow": "↑", "downarrow": "↓", "forall": "∀", "exists": "∃", "dots": "…",
    "ldots": "…", "cdots": "⋯", "vdots": "⋮", "ddots": "⋱", "prime": "′", "dagger": "†",
    "angle": "∠", "triangle": "△", "square": "□", "checkmark": "✓",
    # escaped characters and spacing
    "{": "{", "}": "}", "_": "_", "%": "%", "&": "&", "#": "#", "$": "$",
    ",": " ", ";": " ", ":": " ", ">": " ", " ": " ", "!": "", "quad": "  ", "qquad": "    ",
    "\\": "\n", "newline": "\n",
}
# fmt: on

_DELIMITERS = {
    "lvert": (True, "|"), "rvert": (False, "|"), "lVert": (True, "‖"), "rVert": (False, "‖"),
    "langle": (True, "⟨"), "rangle": (False, "⟩"), "lfloor": (True, "⌊"), "rfloor": (False, "⌋"),
    "lceil": (True, "⌈"), "rceil": (False, "⌉"),
}  # fmt: skip
"""Left (``True``) and right delimiters: no space inside them."""

_RELATIONS = _words("= ∈ ∉ ∋ ⊂ ⊆ ⊃ ⊇ ≠ ≤ ≥ ≪ ≫ ≈ ≃ ∼ ≅ ≡ ∝ ≔ → ← ↔ ⇒ ⇐ ⇔ ↦ |")
"""What a relation command gives: spaced on both sides (``i \\ne j`` → ``i ≠ j``)."""

_OPERATORS = _words(
    "log ln lg exp sin cos tan sec csc cot sinh cosh tanh arcsin arccos arctan arg max "
    "min sup inf lim liminf limsup det dim ker deg gcd Pr argmax argmin softmax"
)
"""Named operators, written as words: ``\\log x`` → ``log x``."""

_IGNORED = _words(
    "left right big Big bigg Bigg bigl bigr Bigl Bigr biggl biggr Biggl Biggr middle "
    "displaystyle textstyle scriptstyle limits nolimits nonumber notag label"
)
"""Sizing and layout commands, with no text of their own."""

_FONTS = _words(
    "mathrm text textrm mathit textit mathbf textbf boldsymbol bm mathsf textsf mathtt "
    "texttt operatorname mbox emph textnormal mathnormal"
)
"""One-argument font commands: their argument as it is."""

_BLACKBOARD = {"E": "𝔼", "R": "ℝ", "N": "ℕ", "Z": "ℤ", "Q": "ℚ", "C": "ℂ", "P": "ℙ", "1": "𝟙"}
_CALLIGRAPHIC = {"L": "ℒ", "H": "ℋ", "F": "ℱ", "B": "ℬ", "E": "ℰ", "M": "ℳ", "I": "ℐ", "R": "ℛ"}
# fmt: off
_ACCENTS = {
    "hat": "\u0302", "widehat": "\u0302", "bar": "\u0304", "overline": "\u0304",
    "tilde": "\u0303", "widetilde": "\u0303", "vec": "\u20d7", "dot": "\u0307",
    "ddot": "\u0308", "check": "\u030c", "breve": "\u0306", "acute": "\u0301", "grave": "\u0300",
}
# fmt: on
_SUPERSCRIPTS = str.maketrans("0123456789+-=()n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁿ")
_OPENS_GROUP = re.compile(r"\(|\\(?:left|[bB]igg?l?)$")
_TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.S)
_WORDLIKE = re.compile(r"[^\W_]+")


class _Formula:
    """A recursive reader of one LaTeX formula's tokens."""

    def __init__(self, source: str) -> None:
        self.tokens: list[str] = _TOKEN.findall(source)
        self.at = 0
        self.operator = False  # the last piece was an operator's name: "log σ", not "logσ"

    def _next(self) -> str | None:
        if self.at >= len(self.tokens):
            return None
        token = self.tokens[self.at]
        self.at += 1
        return token

    def _peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def _skip_space(self) -> None:
        while (token := self._peek()) is not None and token.isspace():
            self.at += 1

    def sequence(self, closing: str | None = None) -> str:
        """What follows, up to ``closing`` (consumed) or the end."""
        out = ""
        while (token := self._next()) is not None:
            if closing is not None and token == closing:
                break
            after_operator, self.operator = self.operator, False
            piece = self._piece(token)
            if (after_operator and piece[:1].isalnum()) or (token.startswith("\\") and _spaced(out, piece)):
                out += " "  # \frac{1}{N}\sum_i \log x: "1/N Σ_i log x"
            elif token in ("_", "^") and piece.endswith(")") and _OPENS_GROUP.match(self._peek() or ""):
                piece += " "  # \sum_{b,j}(x_b): "Σ_(b,j) (x_b)"
            if token.startswith("\\") and piece in _RELATIONS:
                piece = f" {piece} "
            elif token[1:] in _DELIMITERS and not _DELIMITERS[token[1:]][0]:
                out = out.rstrip(" ")
            out += piece
        return out

    def argument(self) -> str:
        """One argument: a ``{group}``, a command or a single character."""
        self._skip_space()
        token = self._next()
        if token is None:
            return ""
        if token == "{":
            return self.sequence("}")
        return self._piece(token)

    def _optional(self) -> str | None:
        self._skip_space()
        if self._peek() != "[":
            return None
        self.at += 1
        return self.sequence("]")

    def _piece(self, token: str) -> str:
        if token == "{":
            return self.sequence("}")
        if token in ("_", "^"):
            return _script(token, self.argument().strip())
        if token == "&":
            return ""
        if token == "~":
            return " "
        if token.isspace():
            return " "
        if not token.startswith("\\"):
            return token
        return self._command(token[1:])

    def _command(self, name: str) -> str:
        if name in _DELIMITERS:
            opening, text = _DELIMITERS[name]
            if opening:
                self._skip_space()
            return text
        if name in _SYMBOLS:
            return _SYMBOLS[name]
        if name in _OPERATORS:
            self.operator = True
            return name
        if name in _IGNORED:
            if name in ("left", "right", "middle") or name.startswith(("big", "Big")):
                self._skip_space()
                if self._peek() == ".":  # \left. is an invisible delimiter
                    self.at += 1
            return ""
        if name in _FONTS:
            return self.argument()
        if name == "mathbb":
            text = self.argument()
            return _BLACKBOARD.get(text, text)
        if name in ("mathcal", "mathscr"):
            text = self.argument()
            return _CALLIGRAPHIC.get(text, text)
        if name in _ACCENTS:
            text = self.argument().strip()
            if len(text) == 1:
                return text + _ACCENTS[name]
            return f"{name.removeprefix('wide').replace('overline', 'bar')}({text})"
        if name in ("frac", "tfrac", "dfrac", "cfrac"):
            numerator, denominator = self.argument().strip(), self.argument().strip()
            return f"{_operand(numerator)}/{_operand(denominator)}"
        if name == "sqrt":
            degree = self._optional()
            radicand = self.argument().strip()
            root = {"3": "∛", "4": "∜"}.get((degree or "").strip(), "√")
            if degree is not None and root == "√":
                return f"root({degree.strip()}, {radicand})"
            return root + _operand(radicand)
        if name in ("underbrace", "overbrace"):
            body = self.argument().strip()
            self._skip_space()
            if self._peek() in ("_", "^"):
                self.at += 1
                return f"[{body}]{_script('_', self.argument().strip())}"
            return body
        if name in ("binom", "tbinom", "dbinom"):
            n, k = self.argument().strip(), self.argument().strip()
            return f"C({n}, {k})"
        if name in ("begin", "end"):
            self.argument()  # environment names: aligned, cases... rows end at \\
            return ""
        self.operator = True  # an unknown command reads as a word, never with its backslash
        return name


def _spaced(before: str, piece: str) -> bool:
    """Whether a command's text needs a space after what precedes it: a
    word (``log``, ``MI``) or a big operator after a letter, digit or ``)``."""
    if not before or not piece or not (before[-1].isalnum() or before[-1] in ")]}"):
        return False
    return (len(piece) > 1 and piece[0].isalpha()) or piece[0] in "ΣΠ∫"


def _operand(text: str) -> str:
    """``text`` as one operand of ``/`` or ``√``: in parentheses unless atomic."""
    if len(text) <= 1 or re.fullmatch(r"\w+", text) or _balanced_group(text):
        return text
    return f"({text})"


def _balanced_group(text: str) -> bool:
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and index < len(text) - 1:
            return False
    return True


def _script(mark: str, text: str) -> str:
    """A sub- or superscript: ``x²``, ``Wᵀ``, ``x_i``, ``x_(i,j)``."""
    if mark == "^":
        if text == "⊤":
            return "ᵀ"
        if text == "′":
            return "′"
        if text and all(c in "0123456789+-=()n" for c in text):
            return text.translate(_SUPERSCRIPTS)
    if len(text) == 1 or _WORDLIKE.fullmatch(text):
        return mark + text
    return f"{mark}({text})"


def _tidy(line: str) -> str:
    line = re.sub(r"\s{2,}", " ", line)
    return re.sub(r"([(\[{]) | ([)\]}])", lambda m: m.group(1) or m.group(2), line).strip()


def math_text(formula: str) -> str:
    r"""A LaTeX formula as readable Unicode text.

    Greek letters and symbols become their characters, font commands
    (``\mathrm``, ``\text``...) their argument, ``\frac{a}{b}`` ``a/b``
    (operands in parentheses unless atomic), sizing commands nothing, an
    unknown command its bare name; ``\\`` starts a new line. No backslash
    command is left.
    """
    text = _Formula(formula).sequence()
    lines = [_tidy(line) for line in text.split("\n")]
    return "\n".join(line for line in lines if line)


# -- inline reST -------------------------------------------------------------------
_INLINE = re.compile(
    r"(?P<role>:(?P<name>[\w:+.-]+):`(?P<body>[^`]*)`)"
    r"|``(?P<literal>.+?)``"
    r"|(?<![\w`])`(?P<interpreted>[^`\s](?:[^`]*[^`\s])?)`(?!`)(?:_{1,2})?"
    r"|(?<![\w*])\*\*(?P<strong>[^*\s](?:[^*]*[^*\s])?)\*\*(?![\w*])"
    r"|(?<![\w*\\])\*(?P<emphasis>[^*\s](?:[^*]*[^*\s])?)\*(?![\w*])",
    re.S,
)


def _inline(match: re.Match[str]) -> str:
    if match.group("role"):
        if match.group("name") == "math":
            return math_text(match.group("body")).replace("\n", "; ")
        body = " ".join(match.group("body").split())
        titled = re.fullmatch(r"(.+?)\s*<[^<>]+>", body)  # :ref:`text <target>`
        if titled:
            return titled.group(1)
        return body.rpartition(".")[2] if body.startswith("~") else body.lstrip("!")
    for group in ("literal", "interpreted", "strong", "emphasis"):
        if match.group(group) is not None:
            return match.group(group)
    return match.group(0)  # pragma: no cover  # every alternative names a group


def inline_text(text: str) -> str:
    r"""Running reST text with its inline markup rendered: ``:math:`\beta```
    → ``β``, ``:func:`~pkg.f``` → ``f``, ````x```` → ``x``,
    ``**x**`` and ``*x*`` → ``x``."""
    return _INLINE.sub(_inline, text)


# -- docstrings -------------------------------------------------------------------
_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?P<name>[\w:-]+)::(?:\s+(?P<argument>.*))?$")
_FIELD = re.compile(r"^:(?P<kind>[^:`\s]+)(?:\s+(?P<subject>[^:`]+?))?:(?:\s+|$)")
_BULLET = re.compile(r"^(?:[-*+•]|\d{1,2}[.)]|#\.)\s+")
_NAMED_FIELDS = frozenset({"param", "parameter", "arg", "argument", "key", "keyword", "kwarg", "ivar"})
_CODE = frozenset({"code", "code-block", "sourcecode", "highlight", "literalinclude", "parsed-literal"})


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _item_start(line: str) -> tuple[str, int] | None:
    """The prefix a field or bullet line is shown with and its text's offset."""
    stripped = line.strip()
    field = _FIELD.match(stripped)
    if field:
        kind, subject = field.group("kind"), field.group("subject")
        if kind in _NAMED_FIELDS and subject:
            title = subject.split()[-1]
        else:
            title = " ".join(filter(None, [kind.replace("_", " ").capitalize(), subject]))
        return f"{title}: ", field.end()
    bullet = _BULLET.match(stripped)
    if bullet:
        return bullet.group(0), bullet.end()
    return None


def _fit(text: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        text,
        max(width, len(first) + 1, len(rest) + 1),
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
    ) or [first.rstrip()]


def _preformatted(lines: list[str], width: int) -> list[str]:
    """Lines kept as written, each folded at a space when wider than ``width``."""
    out: list[str] = []
    for line in lines:
        if len(line) <= width:
            out.append(line.rstrip())
            continue
        indent = " " * _indent(line)
        out += _fit(line.strip(), width, indent, indent + "    ")
    return out


def _block(lines: list[str], start: int, indent: int) -> tuple[list[str], int]:
    """The lines from ``start`` indented more than ``indent`` (and blank lines
    among them), and the index after them."""
    end = start
    while end < len(lines) and (not lines[end].strip() or _indent(lines[end]) > indent):
        end += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end], end


def _math_block(argument: str, body: list[str], indent: int, width: int) -> list[str]:
    content = [line for line in body if not re.match(r"\s*:\w+:", line)]  # :label:, :nowrap:
    equations: list[list[str]] = [[argument]] if argument.strip() else []
    current: list[str] = []
    for line in content:
        if line.strip():
            current.append(line.strip())
        elif current:
            equations.append(current)
            current = []
    if current:
        equations.append(current)
    pad = " " * (indent + 4)
    out: list[str] = []
    for equation in equations:
        out += [pad + line for line in math_text(" ".join(equation)).splitlines()]
    return _preformatted(out, width)


def docstring_text(doc: str, width: int) -> str:
    """A docstring (reST, formulas in LaTeX) as plain text at most ``width``
    characters wide where words allow: paragraphs, list items and fields
    re-wrapped with their indentation, ``.. math::`` blocks rendered and
    indented by four spaces, literal blocks kept (folded when too wide)."""
    lines = doc.expandtabs().splitlines()
    out: list[str] = []
    at = 0
    while at < len(lines):
        line = lines[at]
        indent = _indent(line)
        if not line.strip():
            out.append("")
            at += 1
            continue
        directive = _DIRECTIVE.match(line)
        if directive:
            name, argument = directive.group("name"), directive.group("argument") or ""
            if name == "math":
                body, at = _block(lines, at + 1, indent)
                out += _math_block(argument, body, indent, width)
            elif name in _CODE:
                body, at = _block(lines, at + 1, indent)
                out += _preformatted([b for b in body if not re.match(r"\s*:\w[\w-]*:", b)], width)
            else:  # admonitions and the rest: a title, then the body as text
                title = name.replace("-", " ").capitalize() + (
                    f": {inline_text(argument)}" if argument else ":"
                )
                out += _fit(title, width, " " * indent, " " * (indent + 4))
                at += 1
            continue
        if line.lstrip().startswith(">>>"):
            end = at
            while end < len(lines) and lines[end].strip():
                end += 1
            out += _preformatted(lines[at:end], width)
            at = end
            continue
        start = _item_start(line)
        prefix, offset = start if start else ("", 0)
        parts = [line.strip()[offset:]]
        at += 1
        while at < len(lines) and lines[at].strip() and not _DIRECTIVE.match(lines[at]):
            # a field, or a list item after an item, at this indentation starts a new item
            # (a line opening with "- " inside a paragraph or a formula continues it)
            marker = lines[at].strip()
            opens_item = _indent(lines[at]) <= indent and (
                bool(_FIELD.match(marker)) or (bool(prefix) and bool(_BULLET.match(marker)))
            )
            if opens_item and " ".join(parts).count("`") % 2 == 0:
                break
            parts.append(lines[at].strip())
            at += 1
        text = " ".join(parts)
        literal = text.endswith("::")
        if literal:
            text = text[:-2].rstrip() + (":" if not text[:-2].endswith(" ") else "")
        hang = len(prefix) if _BULLET.match(prefix) else 4 if prefix else 0
        if text.strip() or prefix:
            out += _fit(inline_text(text), width, " " * indent + prefix, " " * (indent + hang))
        if literal:
            while at < len(lines) and not lines[at].strip():
                out.append("")
                at += 1
            body, at = _block(lines, at, indent)
            out += _preformatted(body, width)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


# -- summaries ----------------------------------------------------------------------
_ABBREVIATIONS = _words(
    "e.g i.e al cf vs eq eqs fig figs sec secs app apps ref refs thm def alg tab ch resp approx viz incl wrt"
)
"""Words ending in a period that do not end a sentence (compared lower-case)."""

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _ends_sentence(before: str, after: str) -> bool:
    word = before.rsplit(None, 1)[-1] if before.strip() else ""
    word = word.lstrip("([{\"'").rstrip(".!?")
    if word.casefold() in _ABBREVIATIONS or (len(word) == 1 and word.isupper()):
        return False  # "et al. 2018", "Eq. 3", "J. Smith"
    return not after[:1].islower()


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, its reST markup
    kept, on one line.

    A period after an abbreviation (``e.g.``, ``i.e.``, ``et al.``, ``Eq.``,
    ``Fig.``, ``Sec.``, ``App.``, ``vs.``...) or an initial, or followed by
    a lower-case word, does not end the sentence, nor does one inside inline
    markup (``:math:`...```, ````...````). A trailing ``:``, ``,`` or ``;``
    is dropped.
    """
    paragraph = " ".join(re.split(r"\n\s*\n", doc.strip(), maxsplit=1)[0].split())
    markup = [m.span() for m in _INLINE.finditer(paragraph)]
    for match in _SENTENCE_END.finditer(paragraph):
        if any(start < match.start() < end for start, end in markup):
            continue
        if _ends_sentence(paragraph[: match.start()], paragraph[match.end() :]):
            paragraph = paragraph[: match.start()]
            break
    return paragraph.rstrip(":,;")


def summarize(doc: str) -> str:
    """A loss's summary: the first sentence of its docstring
    (``first_sentence``) as plain text (``inline_text``: ``:math:`\\beta```
    → ``β``). The one summary ``losses list`` shows and manifests hold."""
    return " ".join(inline_text(first_sentence(doc)).split()).rstrip(":,;")


__all__ = ["docstring_text", "first_sentence", "inline_text", "math_text", "summarize"]
