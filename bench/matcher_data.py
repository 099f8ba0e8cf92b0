"""Training and calibration pairs for the semantic-cache verifier, produced automatically.

Two sources, neither of them the hand-written evaluation set (bench/data/):

- SQuAD v2.0 dev questions, split by article (train: articles whose index is not
  a multiple of 4; dev/calibration: the rest). Positives are meaning-preserving
  rewrites of a question (filler wrappers, contractions, casing, punctuation, a
  typo, a question-form rewrite); negatives are SQuAD's human-written
  unanswerable near-copies of an answerable question (token Jaccard >= 0.5),
  other questions about the same paragraph whose embeddings are close, and
  automatic perturbations: a negator added, a number changed, a name or a
  content word swapped for one from another question, a phrase from another
  question appended (scope narrowing), the two ends of "from A to B" swapped,
  a particle or opposite swapped.
- Small templates written for training only (TEMPLATES below): paraphrase
  groups and near-miss pairs whose slots are filled from per-split filler lists.

Every pair is (a, b, label, category); label 1 means "the same answer serves both".
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from promptpress.bench import datasets


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    label: int
    category: str


WRAPPERS = ("Hey, {q}", "{Q} Thank you.", "Could you tell me {q}", "Quick one: {Q}",
            "I was wondering, {q}", "{Q} Just curious.", "Help me out: {Q}",
            "Can you explain {q}", "Question for you - {Q}", "{Q} Answer briefly please.",
            "Hello there. {Q}", "{Q} Cheers!", "Real quick, {q}", "Do you happen to know {q}",
            "{Q} if you can", "I need to know: {Q}", "Honestly, {q}", "{Q} Much appreciated.",
            "Morning! {Q}", "Okay so {q}", "{Q} (asking for a friend)", "Any idea {q}")  # fmt: skip
FORM_REWRITES = ((r"^What is\b", "What's"), (r"^What's\b", "What is"), (r"^Who is\b", "Who's"),
                 (r"^In what year\b", "What year"), (r"^What year\b", "In which year"),
                 (r"^How many\b", "What is the number of"), (r"\bWhat kind of\b", "What type of"),
                 (r"^When did\b", "At what time did"), (r"^Where is\b", "Where's"),
                 (r"^What\b", "Which"), (r"\bdid not\b", "didn't"), (r"\bis not\b", "isn't"),
                 (r"^How do I\b", "How can I"), (r"^How can I\b", "How do I"),
                 (r"^How do you\b", "How does one"), (r"^Why do\b", "For what reason do"),
                 (r"^Why did\b", "For what reason did"), (r"^What are\b", "What're"),
                 (r"^Who\b", "Which person"), (r"^Where\b", "In what place"),
                 (r"^When\b", "At what point"), (r"^Name\b", "What is"))  # fmt: skip
OPPOSITES = (("on", "off"), ("in", "out"), ("up", "down"), ("before", "after"), ("from", "to"),
             ("more", "less"), ("most", "least"), ("largest", "smallest"), ("first", "last"),
             ("am", "pm"), ("above", "below"), ("increase", "decrease"), ("import", "export"),
             ("inside", "outside"), ("highest", "lowest"), ("early", "late"), ("with", "without"),
             ("enable", "disable"), ("north", "south"), ("east", "west"), ("buy", "sell"))  # fmt: skip
AUX = (
    "is",
    "are",
    "was",
    "were",
    "does",
    "do",
    "did",
    "can",
    "could",
    "will",
    "would",
    "has",
    "have",
)

# Training-only templates: each group's members mean the same thing.
PARAPHRASE_GROUPS = (
    ("Who painted {x}?", "Who was the painter of {x}?", "{x} was painted by whom?"),
    ("How do I reset my {x}?", "What are the steps to reset my {x}?", "how to reset {x}"),
    ("What does {x} cost?", "How much is {x}?", "What's the price of {x}?"),
    ("Where can I find {x}?", "Where is {x} located?", "where do i find {x}"),
    ("When was {x} founded?", "In what year was {x} founded?", "What year did {x} get founded?"),
    ("What is the purpose of {x}?", "What is {x} used for?", "Why would someone use {x}?"),
    ("Can you summarize {x}?", "Give me a summary of {x}.", "Summarize {x} for me please"),
    ("How long does {x} take?", "What is the duration of {x}?", "How much time does {x} take?"),
    ("Who invented {x}?", "Who is credited with inventing {x}?", "{x} was invented by who?"),
    ("What are the benefits of {x}?", "What are the advantages of {x}?", "Why is {x} good?"),
    ("How do I install {x}?", "What's the way to install {x}?", "installing {x} - how?"),
    ("Is {x} safe to use?", "Is it safe to use {x}?", "Can {x} be used safely?"),
)
# Near-miss template pairs: the slots keep their fillers, the frame changes the answer.
NEAR_MISS_TEMPLATES = (
    ("Move {x} from {y} to {z}", "Move {x} from {z} to {y}", "direction"),
    ("How far is it from {y} to {z}?", "How far is it from {z} to {y}?", "direction"),
    ("Convert {y} to {z}", "Convert {z} to {y}", "direction"),
    ("Is {y} bigger than {z}?", "Is {z} bigger than {y}?", "direction"),
    ("Does {y} depend on {z}?", "Does {z} depend on {y}?", "direction"),
    ("Set an alarm for 7 am", "Set an alarm for 7 pm", "time"),
    ("Turn on {x}", "Turn off {x}", "on-off"),
    ("How do I opt in to {x}?", "How do I opt out of {x}?", "opt"),
    ("How do I log in to {x}?", "How do I log out of {x}?", "opt"),
    ("What is {x}?", "What is {x} used for in {y}?", "scope"),
    ("How does {x} work?", "How does {x} work for {y}?", "scope"),
    ("Who uses {x}?", "Who doesn't use {x}?", "negation"),
)
FILLERS = {
    "train": ("the router", "my laptop", "the thermostat", "a mortgage", "the printer", "Docker",
              "the VPN", "Kubernetes", "a credit card", "the dishwasher", "my password",
              "the Mona Lisa", "Spotify", "the firewall", "solar panels", "a savings account"),
    "dev": ("the modem", "my tablet", "the heat pump", "a car loan", "the scanner", "Terraform",
            "the proxy", "a debit card", "the oven", "my PIN", "the Sistine ceiling", "Netflix",
            "wind turbines", "a brokerage account", "the smart lock", "Git"),
}  # fmt: skip
PLACES = {
    "train": ("Berlin", "the warehouse", "Kenya", "the cloud", "Lisbon", "the archive", "Chile"),
    "dev": ("Vienna", "the depot", "Peru", "the server", "Oslo", "the backup", "Ghana"),
}  # fmt: skip
_TOK = re.compile(r"\w+")
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]{2,}\b")
_NUM = re.compile(r"\b\d{1,4}\b")
_PHRASE = re.compile(r"\b(?:in|for|during|among|of|by) (?:the )?[a-z]+(?: [a-z]+)?\b")


def _jaccard(a: str, b: str) -> float:
    x, y = set(_TOK.findall(a.lower())), set(_TOK.findall(b.lower()))
    return len(x & y) / max(1, len(x | y))


def typo(s: str, rng: random.Random) -> str:
    """Two adjacent letters of one long word swapped ("received" -> "recieved")."""
    words = re.findall(r"\b[a-z]{6,}\b", s)
    if not words:
        return s
    w = rng.choice(words)
    i = rng.randrange(1, len(w) - 2)
    return s.replace(w, w[:i] + w[i + 1] + w[i] + w[i + 2 :], 1)


def casual(s: str) -> str:
    """Lower case, without the closing punctuation."""
    return s.lower().rstrip(" ?.")


def positive(q: str, rng: random.Random) -> str:
    """A rewrite of q that keeps its meaning (one or two steps)."""

    def wrap(s: str) -> str:
        return rng.choice(WRAPPERS).format(q=s[0].lower() + s[1:], Q=s)

    def form(s: str) -> str:
        options = [(p, r) for p, r in FORM_REWRITES if re.search(p, s)]
        return re.sub(*rng.choice(options), s, count=1) if options else s

    def misspell(s: str) -> str:
        return typo(s, rng)

    def front(s: str) -> str:
        """A trailing phrase moved to the front: "X in Brazil?" -> "In Brazil, x?"."""
        m = re.match(r"^(.+?) ((?:in|on|at|during|for|after|before) [^,?]{3,40})\?$", s)
        return f"{m[2][0].upper()}{m[2][1:]}, {m[1][0].lower()}{m[1][1:]}?" if m else s

    def passive(s: str) -> str:
        """ "Who discovered X?" -> "X was discovered by whom?"."""
        m = re.match(r"^Who (\w+ed) (.+?)\?$", s)
        return f"{m[2][0].upper()}{m[2][1:]} was {m[1]} by whom?" if m else s

    out = q
    steps = [wrap, form, misspell, casual, front, passive]
    for step in rng.sample(steps, rng.choice((1, 2))):
        out = step(out)
    return out if out != q else wrap(q)


def perturbations(q: str, rng: random.Random, pool: Sequence[str]) -> Iterator[tuple[str, str]]:
    """(category, near-miss) variants of q; pool: other questions of the same split."""
    words = q.split()
    if m := re.search(r"\b(" + "|".join(AUX) + r")\b", q):
        yield "negation", q[: m.end()] + " not" + q[m.end() :]
    if m := _NUM.search(q):
        n = int(m.group())
        changed = n + rng.choice((-1, 1)) * rng.randint(1, 9)
        yield "number", q[: m.start()] + str(changed) + q[m.end() :]
    other = rng.choice(pool)
    names = _NAME.findall(q)
    other_names = [n for n in _NAME.findall(other) if n not in names]
    if names and other_names:
        yield "entity", q.replace(rng.choice(names), rng.choice(other_names), 1)
    content = [w for w in words[1:] if len(w) > 4 and w.isalpha()]
    other_content = [w for w in other.split()[1:] if len(w) > 4 and w.isalpha()]
    if content and other_content:
        old, swap = rng.choice(content), rng.choice(other_content)
        if old.lower() != swap.lower():
            yield "substitution", q.replace(old, swap.lower() if old.islower() else swap, 1)
    if phrases := _PHRASE.findall(other):
        yield "scope", q.rstrip(" ?") + " " + rng.choice(phrases) + "?"
    # "from A to B" only: around "and" ("between A and B") a swap keeps the meaning.
    if m := re.search(r"\bfrom (\w+) to (\w+)", q):
        yield "direction", q[: m.start()] + f"from {m[2]} to {m[1]}" + q[m.end() :]
    low = [w.lower().strip("?,.") for w in words]
    for x, y in OPPOSITES:
        for src, dst in ((x, y), (y, x)):
            if src in low:
                k = low.index(src)
                yield "opposite", " ".join([*words[:k], dst, *words[k + 1 :]])
                return


def squad_pairs(
    split: str, rng: random.Random, near_cosine: dict[tuple[str, str], float]
) -> list[Pair]:
    articles, _ = datasets.squad_v2_dev()
    keep = [a for k, a in enumerate(articles) if (k % 4 == 0) == (split == "dev")]
    pool = [q.question.strip() for a in keep for p in a.paragraphs for q in p.questions]
    pairs: list[Pair] = []
    for article in keep:
        for para in article.paragraphs:
            answerable = [q for q in para.questions if not q.is_impossible]
            for q in answerable:
                text = q.question.strip()
                pairs.append(Pair(text, positive(text, rng), 1, "rewrite"))
                if rng.random() < 0.5:
                    pairs.append(Pair(text, text, 1, "repeat"))
                for cat, b in perturbations(text, rng, pool):
                    if b.strip() != text:
                        pairs.append(Pair(text, b, 0, cat))
            for q in para.questions:
                if q.is_impossible and answerable:
                    best = max(answerable, key=lambda a: _jaccard(q.question, a.question))
                    if 0.5 <= _jaccard(q.question, best.question) < 1.0:
                        pairs.append(
                            Pair(best.question.strip(), q.question.strip(), 0, "adversarial")
                        )
            for i, x in enumerate(answerable):
                for y in answerable[i + 1 :]:
                    key = (x.question.strip(), y.question.strip())
                    if near_cosine.get(key, 0.0) >= 0.6 and not set(x.answers) & set(y.answers):
                        pairs.append(Pair(*key, 0, "same-paragraph"))
    return pairs


def template_pairs(split: str, rng: random.Random) -> list[Pair]:
    fillers, places = FILLERS[split], PLACES[split]
    pairs: list[Pair] = []
    for group in PARAPHRASE_GROUPS:
        for x in fillers:
            a, b = rng.sample(group, 2)
            pairs.append(Pair(a.format(x=x), b.format(x=x), 1, "template-paraphrase"))
            other = rng.choice([f for f in fillers if f != x])
            pairs.append(Pair(a.format(x=x), b.format(x=other), 0, "template-entity"))
    for a, b, cat in NEAR_MISS_TEMPLATES:
        for x in fillers[:8]:
            y, z = rng.sample(places, 2)
            pairs.append(
                Pair(a.format(x=x, y=y, z=z), b.format(x=x, y=y, z=z), 0, f"template-{cat}")
            )
    return pairs


def question_pairs_to_score(split: str) -> list[tuple[str, str]]:
    """Same-paragraph answerable question pairs (their cosines pick the hard negatives)."""
    articles, _ = datasets.squad_v2_dev()
    out = []
    for k, article in enumerate(articles):
        if (k % 4 == 0) != (split == "dev"):
            continue
        for para in article.paragraphs:
            qs = [q.question.strip() for q in para.questions if not q.is_impossible]
            out += [(x, y) for i, x in enumerate(qs) for y in qs[i + 1 :]]
    return out
