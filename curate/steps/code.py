"""``broken_code``: drop documents that are code or markup fragments rather than text.

Polyglot-Ko lists "broken code" among its data-quality problems: documents that are pieces of
HTML, CSS, JavaScript or Markdown left over from extraction (Ko et al. 2023, "A Technical Report
for Polyglot-Ko", arXiv:2306.02254, section 2). C4 (Raffel et al. 2020) dropped every page with a
curly bracket for the same reason; that also drops every programming Q&A thread and much math, so
here the decision is per line and relative: a document goes when most of its lines look like code
(``max_code_line_fraction``) or when its Markdown code fences do not pair up (a fragment cut in the
middle of a code block).

Code inside balanced ``` fences is deliberate, well-marked code (a StackExchange answer with a
snippet), so those lines are left out of the fraction unless ``count_fenced_lines`` is set; a
document that is nothing but fenced code counts as all code.

A line looks like code when it (one RE2 match per line, over the whole batch's lines at once):

* ends with ``{`` or ``}``, or ends with ``;`` as a statement does: after an assignment
  (``x = 1;``), as a CSS declaration (``margin: 0;``) or after a call (``foo(a);``). A ``;`` at
  the end of prose does not count: English list items and patent claim elements end with one
  ("- a lever attached to the housing (12);"), and so does the Korean emoticon ";;";
* is ``break;`` or ``continue;``;
* starts with ``{``, ``}``, or is only closing brackets (``});``, ``]``);
* starts with an HTML tag (``<div ...>``, ``</td>``) or a comment marker (``//``, ``/*``, ``*/``,
  ``<!--``, ``-->``);
* starts with a JS/CSS/C/Python keyword form: ``function``, ``var ``, ``let ``, ``const ``,
  ``import ``, ``export ``, ``return``, ``if (``, ``for (``, ``while (``, ``$(``, ``document.``,
  ``window.``, ``console.``, ``@media``, ``@import``, ``@font-face``, ``#include``, ``#define``,
  ``def name(``, ``public ``, ``private ``, ``static ``;
* contains ``=>``, ``===``, ``!==`` or ``){``;
* is a Markdown table rule (``|---|:---:|``).

Markdown headings, lists and rules (``#``, ``*``, ``-``) are document structure, not code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.pipeline.step import Step, StepResult, failed_checks, register_step
from curate.steps.normalize import ints, mask_of, text_column

# Statement-like endings. A ";" alone is not enough: English list items and patent claim elements
# end with ";" too ("- a lever attached to the housing (12);"), so it counts only after an
# assignment, a CSS declaration ("margin: 0;") or a call ("foo(a);", no space before the "(").
_END = (r"""[{}][ \t]*$|=.*;[ \t]*$|^[ \t]*[-a-zA-Z]+[ \t]*:[^;]*;[ \t]*$"""
        r"""|[\w$.\]]\([^()]*\)[ \t]*;[ \t]*$""")
_START = (r"""[{}]|[)\]][;,)\]]*[ \t]*$|</?[a-zA-Z][a-zA-Z0-9-]*(?:[ \t][^<>]*)?/?>|//|/\*|\*/|<!--|-->"""
          r"""|function\b|var |let |const |import |export |return\b|break;|continue;|if ?\(|for ?\(|while ?\("""
          r"""|\$\(|document\.|window\.|console\.|@media|@import|@font-face|#include|#define|def \w+\("""
          r"""|public |private |static |\|?[ \t]*:?-{3,}:?[ \t]*\|""")
_ANYWHERE = r"""=>|===|!==|\)\{"""
# Matched against one line at a time (Arrow's count_substring_regex re-anchors ^ after each match,
# so lines are split first and each is tested on its own).
CODE_LINE_RE = _END.replace("[ \\t]*$", "[ \\t\\r]*$") + r"|^[ \t]*(?:" + _START + r")|" + _ANYWHERE
FENCE = "```"
FENCED_BLOCK_RE = r"(?s)```.*?```"


def _line_counts(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(non-blank lines, code-like lines) per row."""
    lines = pc.split_pattern(text, "\n")
    offsets = lines.offsets.to_numpy()
    offsets = offsets - offsets[0]
    flat = pc.list_flatten(lines)
    nonblank = mask_of(pc.match_substring_regex(flat, r"\S"))
    code = mask_of(pc.match_substring_regex(flat, CODE_LINE_RE)) & nonblank

    def per_row(values: np.ndarray) -> np.ndarray:
        cs = np.concatenate([[0], np.cumsum(values, dtype=np.int64)])
        return cs[offsets[1:]] - cs[offsets[:-1]]

    return per_row(nonblank), per_row(code)


def code_lines(text: pa.Array, count_fenced_lines: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(code-like line fraction, unbalanced fences, number of fences) per row. See module doc."""
    fences = ints(pc.count_substring(text, FENCE))
    has_fence = fences > 0
    outside = text
    if has_fence.any():
        sel = pa.array(has_fence)
        outside = pc.replace_with_mask(text, sel, pc.replace_substring_regex(text.filter(sel), FENCED_BLOCK_RE, "\n"))
    lines, code = _line_counts(outside)
    if count_fenced_lines and has_fence.any():
        all_lines, _ = _line_counts(text)
        # fence lines and the lines between them all count as code
        code, lines = code + np.maximum(all_lines - lines, 0), all_lines
    fraction = code / np.maximum(lines, 1)
    fraction = np.where((lines == 0) & has_fence, 1.0, fraction)  # nothing but fenced code
    return fraction, (fences % 2) == 1, fences


@register_step
class BrokenCode(Step):
    """Drop code/markup fragments: > ``max_code_line_fraction`` code-like lines, or unbalanced fences.

    Polyglot-Ko "broken code" (Ko et al. 2023, arXiv:2306.02254, section 2); a per-line, relative
    version of C4's curly-bracket rule (Raffel et al. 2020). See the module docstring for what a
    code-like line is and docs/steps/cleanup.md for examples.
    """

    name = "broken_code"
    kind = "filter"
    metrics = {"code_line_fraction": pa.float64(), "unbalanced_fences": pa.bool_()}

    @dataclass
    class Params:
        max_code_line_fraction: float = 0.5
        drop_unbalanced_fences: bool = True
        count_fenced_lines: bool = False

        def __post_init__(self) -> None:
            if not 0.0 <= self.max_code_line_fraction <= 1.0:
                raise ValueError(f"max_code_line_fraction must be within [0, 1] (got {self.max_code_line_fraction})")

    def apply(self, batch: pa.RecordBatch) -> StepResult:
        p = self.params
        fraction, unbalanced, fences = code_lines(text_column(batch), p.count_fenced_lines)
        too_much = fraction > p.max_code_line_fraction
        bad_fences = unbalanced if p.drop_unbalanced_fences else np.zeros_like(unbalanced)
        keep, reason = failed_checks([
            (too_much, lambda i: f"code-like lines {fraction[i]:.2f} > {p.max_code_line_fraction:g}"),
            (bad_fences, lambda i: f"unbalanced ``` fences ({fences[i]})")], len(fraction))
        return StepResult(keep=keep, reason=reason,
                          metrics={"code_line_fraction": fraction, "unbalanced_fences": unbalanced})
