"""Profile search shared by the profile stores: query words, typo expansion, ranking.

A store indexes, per profile, three fields (name, e-mail, city with country) as *normalized words*:
lower-case, accents stripped, every run of other characters a separator, and letters split from
digits (``janet.walker942@gmail.com`` → ``janet walker 942 gmail com``), so that the vocabulary
stays the size of the name lists rather than one word per e-mail address.

A search gathers a bounded set of candidates in passes, narrowest first, until the asked page is
full: every word whole; every word or one of its completions (the shortest vocabulary words it
begins: whole words, which an index reads lazily under a row limit, where a prefix query would
merge the lists of every word it begins); then with each word's typo neighbours (trigram
similarity over the vocabulary), every word and then any word. This module builds the passes,
each store renders and runs them, and this module scores the candidates and orders them.
Scoring only a bounded set keeps a query on a common word ("gmail") as fast as one on a rare one.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

# Candidates a store gathers before ranking (more when a page reaches further, up to the most):
# each costs Python time in the ranking, and one request must stay near a millisecond to keep
# the p99 low with 32 concurrent clients on one worker.
CANDIDATES = 100
MAX_CANDIDATES = 1_000
# Typo expansions per query word, and the least trigram similarity an expansion needs.
EXPANSIONS = 8
MIN_SIMILARITY = 0.3
MEMO_WORDS = 10_000
# Completions of a prefix searched (the shortest), and the vocabulary span looked at for them.
COMPLETIONS = 24
COMPLETION_SCAN = 5_000
# Shortest query word searched as a prefix: a one-letter prefix would match most of the index.
MIN_PREFIX = 2
# A field's weight in the score: a match in the name beats one in the e-mail or the city.
FIELD_WEIGHTS = (1.0, 0.9, 0.8)

Candidate = tuple[int, str, str, str]
Expansions = dict[str, dict[str, float]]

_SEPARATORS = re.compile(r"[\W_]+")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")

# The same normalization in DuckDB, for publishing (``{x}`` is the text expression).
NORMALIZE_SQL = (
    "trim(regexp_replace(regexp_replace(regexp_replace(strip_accents(lower(coalesce({x}, ''))), "
    r"'[^\p{{L}}\p{{N}}]+', ' ', 'g'), '(\p{{L}})(\p{{N}})', '\1 \2', 'g'), "
    r"'(\p{{N}})(\p{{L}})', '\1 \2', 'g'))"
)


def normalize(text: str) -> str:
    """``text`` as the index holds it: normalized words separated by single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(_LETTER_DIGIT.sub(" ", _SEPARATORS.sub(" ", plain)).split())


def query_words(text: str) -> list[str]:
    """The distinct normalized words of a query, in order."""
    return list(dict.fromkeys(normalize(text).split()))


def _grams(word: str) -> set[str]:
    padded = f" {word} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


class Vocabulary:
    """The indexed words of one store version, with a trigram index to find a misspelled word's
    neighbours without scanning the vocabulary. Only words of letters, three or more long, are
    expanded: digits and short words must match as typed."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = sorted(word for word in words if len(word) >= 3 and word.isalpha())
        self._sizes = []
        self._index: dict[str, list[int]] = {}
        for position, word in enumerate(self.words):
            grams = _grams(word)
            self._sizes.append(len(grams))
            for gram in grams:
                self._index.setdefault(gram, []).append(position)
        # Queries repeat (a search box, a support desk): remember the answers, up to a bound.
        self._memo: dict[str, dict[str, float]] = {}

    def similar(self, word: str, limit: int = EXPANSIONS) -> dict[str, float]:
        """Up to ``limit`` vocabulary words closest to ``word`` (itself excluded) → similarity."""
        if len(word) < 3 or not word.isalpha():
            return {}
        key = f"{limit}:{word}"
        if key not in self._memo:
            if len(self._memo) >= MEMO_WORDS:
                self._memo.clear()
            self._memo[key] = self._similar(word, limit)
        return self._memo[key]

    def completions(self, prefix: str, limit: int = COMPLETIONS) -> list[str]:
        """Up to ``limit`` vocabulary words starting with ``prefix`` (itself excluded), shortest
        first: the closest completions of what the user is typing."""
        start = bisect.bisect_left(self.words, prefix)
        end = bisect.bisect_left(self.words, prefix + "\U0010ffff", start)
        if end - start > COMPLETION_SCAN:
            end = start + COMPLETION_SCAN
        found = [word for word in self.words[start:end] if word != prefix]
        return sorted(found, key=len)[:limit]

    def _similar(self, word: str, limit: int) -> dict[str, float]:
        grams = _grams(word)
        shared: Counter[int] = Counter()
        for gram in grams:
            shared.update(self._index.get(gram, ()))
        scored = []
        for position, common in shared.items():
            similarity = common / (len(grams) + self._sizes[position] - common)
            if similarity >= MIN_SIMILARITY and self.words[position] != word:
                scored.append((-similarity, self.words[position]))
        return {candidate: -negative for negative, candidate in sorted(scored)[:limit]}


def score(words: Sequence[str], fields: Sequence[str], near: Expansions) -> float:
    """Mean over the query words of their best match in any field (normalized), weighted by the
    field: a whole word 1, a prefix up to 0.9, a typo (a neighbour from :meth:`Vocabulary.similar`,
    in ``near``) 0.8 times its similarity. One flat loop: it runs for every candidate."""
    if not words:
        return 0.0
    split = [field.split() for field in fields]
    total = 0.0
    for word in words:
        neighbours = near.get(word) or {}
        length = len(word)
        best = 0.0
        for weight, targets in zip(FIELD_WEIGHTS, split, strict=True):
            for target in targets:
                if target == word:
                    value = weight
                elif target.startswith(word):
                    value = weight * (0.6 + 0.3 * length / len(target))
                elif target in neighbours:
                    value = weight * 0.8 * neighbours[target]
                else:
                    continue
                if value > best:
                    best = value
        total += best
    return total / len(words)


def rank(
    words: Sequence[str],
    candidates: Iterable[tuple[int, str, str, str]],
    near: Expansions | None = None,
) -> list[tuple[float, int]]:
    """(score, customer_id) of each (customer_id, name, email, city) candidate, best first; equal
    scores in customer_id order so that pages are stable. ``near``: each query word's typo
    neighbours, when the candidates were gathered with them."""
    scored = [(score(words, (name, email, city), near or {}), cid) for cid, name, email, city in candidates]
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


# One query of a candidate pass: "and" or "or" over groups, each group any of its terms, a term
# a word matched whole or (True) as a prefix. Each store renders it in its own syntax.
Term = tuple[str, bool]
Pass = tuple[str, list[list[Term]]]


def _prefix_group(word: str, vocabulary: Vocabulary) -> list[Term]:
    """The word whole or completed. Words of letters complete from the vocabulary (a few whole
    words, which an index reads lazily); others (digits) as an index prefix; short ones whole."""
    if len(word) < MIN_PREFIX:
        return [(word, False)]
    if word.isalpha():
        return [(word, False), *((completion, False) for completion in vocabulary.completions(word))]
    return [(word, True)]


def passes(words: list[str], vocabulary: Vocabulary, near: Expansions | None) -> list[Pass]:
    """The candidate passes, narrowest first: every word whole, every word or a completion, and
    with the typo neighbours ``near``: every word (or a neighbour), then any of them."""
    prefixed = [_prefix_group(word, vocabulary) for word in words]
    result: list[Pass] = [("and", [[(word, False)] for word in words]), ("and", prefixed)]
    if near is not None:
        fuzzy = [
            group + [(neighbour, False) for neighbour in near.get(word, {})]
            for word, group in zip(words, prefixed, strict=True)
        ]
        result.append(("and", fuzzy))
        if len(words) > 1:
            result.append(("or", fuzzy))
    return result


def gather(
    words: list[str],
    needed: int,
    render: Callable[[Pass], str],
    fetch: Callable[[str, int], Iterable[Candidate]],
    vocabulary: Vocabulary,
) -> tuple[list[Candidate], Expansions | None]:
    """(customer_id, name, email, city) rows from the :func:`passes` in order (``fetch`` runs one
    ``render``-ed query, with a row limit), at most :func:`candidate_bound`, and the typo
    neighbours when they were needed: only when the exact and prefix passes found fewer than
    ``needed`` (the page's end)."""
    bound = candidate_bound(needed)
    found: dict[int, Candidate] = {}
    near: Expansions | None = None
    done: set[str] = set()
    while True:
        for query in map(render, passes(words, vocabulary, near)):
            if len(found) >= bound:
                break
            if query in done:
                continue
            done.add(query)
            for row in fetch(query, bound):
                found.setdefault(row[0], row)
        if near is not None or len(found) >= needed:
            return list(found.values())[:bound], near
        near = {word: vocabulary.similar(word) for word in words}


def candidate_bound(needed: int) -> int:
    """Candidates to gather for a page ending at ``needed``."""
    return min(max(CANDIDATES, needed), MAX_CANDIDATES)
