"""No chapter talks about how the book was written.

The reader cannot know what "the digest", "the issue" or "the laptop plan" are: they are words of
the book's making, not of its subject. This test reads every chapter (Markdown and code cells,
comments included) and every Markdown page of ``chapters/`` and fails on any of them.

Decisions:

* "issue" is forbidden in every form ("issue", "issues", "issued") except in the idioms "at issue"
  ("the point at issue") and "not an issue", which are ordinary English and never name a tracker
  item. "The issue", "this issue", "an issue" are forbidden: write "the problem" or "the question".
* "session" is forbidden even in "a Binder session": write "in Binder".
* Matching is case-insensitive and on whole words, so "reviewers" matches and "todos" matches, but
  "sessional" would not (no such word is in the book).
"""

from __future__ import annotations

import re

import pytest
from _chapter_code import CHAPTERS, PAGES, cells

#: words of the book's making; each is matched case-insensitively as a whole word or phrase
FORBIDDEN = (
    r"digests?",
    r"(?<!at )(?<!not an )issues?",
    r"issued",
    r"helpers?",
    r"sessions?",
    r"the laptop plan",
    r"laptop plan",
    r"available to us",
    r"the brief",
    r"todos?",
    r"fixme",
    r"reviewers?",
    r"worktrees?",
    r"shared/papers",
    r"seed pages?",
)
PATTERN = re.compile(r"\b(?:" + "|".join(FORBIDDEN) + r")\b", re.IGNORECASE)


def offending(text):
    """Every forbidden word of ``text``, with a little context."""
    return [
        text[max(0, m.start() - 30) : m.end() + 30].replace("\n", " ")
        for m in PATTERN.finditer(text)
    ]


def _sources(path):
    if path.suffix == ".ipynb":
        return cells(path, "markdown") + cells(path, "code")
    return [path.read_text(encoding="utf-8")]


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=lambda p: p.name)
def test_no_words_of_the_making(path):
    found = [hit for source in _sources(path) for hit in offending(source)]
    assert not found, (
        f"{path.name} uses words of how the book was written:\n  " + "\n  ".join(found)
    )


@pytest.mark.parametrize(
    "text",
    [
        "the digest of yuksel2023 available to us",
        "the plain form of the Issue",
        "this is an issue for MAML",
        "following the laptop plan",
        "# TODO: tighten",
        "a helper function",
        "as a reviewer noted",
        "in a Binder session",
    ],
)
def test_the_words_are_caught(text):
    assert offending(text)


@pytest.mark.parametrize(
    "text",
    [
        "the point at issue is the rate",
        "memory is not an issue for ANIL",
        "a representation",
        "the digits of pi",
    ],
)
def test_ordinary_words_pass(text):
    assert not offending(text)
