"""Training-only paraphrase and contrast templates for the pair encoder.

The rule-made rewrites of bench/matcher_data.py keep most words of a question
(wrappers, contractions, typos); the verifier then learns that any unaligned
content word means "another question". People reword more freely: several
words at once ("fix a leaking faucet" / "repair a dripping tap"), another
question form ("What is the population of X?" / "How many people live in
X?"), an imperative for a question. These groups supply such positives; the
contrast frames supply negatives that look just as close (the same object,
another request: install / uninstall, cost / weight).

Each group is a set of frames with one slot, {x}, that mean the same for any
filler. Groups and fillers are split: a group whose index is a multiple of 4
and the `dev` fillers belong to `dev`, the rest to `train`, so dev measures
frames the encoder never saw. Written for this repository (Apache-2.0), before
and apart from any evaluation file; nothing here was copied from one.
"""

from __future__ import annotations

import random

from promptpress.bench.matcher_data import FILLERS, Pair

GROUPS: tuple[tuple[str, ...], ...] = (
    ("How do I fix {x}?", "What's the way to repair {x}?", "{x} is broken, how can I repair it?",
     "Steps to fix {x}"),
    ("How much does {x} cost?", "What is the price of {x}?", "What would I pay for {x}?",
     "Price of {x}?"),
    ("What is {x}?", "Explain what {x} is.", "Can you define {x}?", "What does {x} mean?"),
    ("How do I set up {x}?", "What are the steps to configure {x}?", "Walk me through setting up {x}",
     "Help me get {x} configured"),
    ("Why does {x} keep failing?", "What makes {x} fail all the time?",
     "{x} fails repeatedly - what's the cause?", "What causes {x} to keep failing?"),
    ("Who makes {x}?", "Which company manufactures {x}?", "Who is the manufacturer of {x}?",
     "{x} is made by which company?"),
    ("How long does {x} last?", "What is the lifespan of {x}?", "How many years will {x} last?",
     "For how long does {x} keep working?"),
    ("Is {x} worth it?", "Should I get {x}?", "Is it worth buying {x}?",
     "Would you recommend {x}?"),
    ("How do I clean {x}?", "What's the best way to clean {x}?", "Tips for cleaning {x}",
     "How should {x} be cleaned?"),
    ("What are the risks of {x}?", "What can go wrong with {x}?", "What are the dangers of {x}?",
     "Is there any downside risk to {x}?"),
    ("How do I speed up {x}?", "How can I make {x} faster?", "Ways to improve the speed of {x}",
     "{x} is slow - how do I make it quicker?"),
    ("Where was {x} invented?", "In which country was {x} invented?",
     "What country did {x} originate from?", "Where did {x} come from originally?"),
    ("What is the history of {x}?", "Tell me about the history of {x}.",
     "How did {x} come about historically?", "Give me a brief history of {x}"),
    ("How do I learn {x}?", "What's the best way to get started with {x}?",
     "Where should a beginner start with {x}?", "Teach me the basics of {x}"),
    ("Can I recycle {x}?", "Is {x} recyclable?", "Does {x} go in the recycling?",
     "Am I able to recycle {x}?"),
    ("How big is {x}?", "What is the size of {x}?", "What are the dimensions of {x}?",
     "How large is {x}?"),
    ("What are the alternatives to {x}?", "What can I use instead of {x}?",
     "Suggest a replacement for {x}", "Is there something else like {x}?"),
    ("How do I update {x}?", "How can I upgrade {x} to the latest version?",
     "Steps to get the newest version of {x}", "Bring {x} up to date - how?"),
    ("How often should I replace {x}?", "When do I need a new {x}?",
     "How frequently does {x} need replacing?", "At what interval should {x} be swapped out?"),
    ("What problems are common with {x}?", "What usually goes wrong with {x}?",
     "Typical issues people have with {x}", "Which faults does {x} often have?"),
    ("How does {x} work?", "Explain how {x} works.", "What is the mechanism behind {x}?",
     "Describe the workings of {x}"),
    ("Who owns {x}?", "Which company is the owner of {x}?", "{x} belongs to whom?",
     "Who is {x} owned by?"),
    ("How do I protect {x}?", "What's the best way to keep {x} safe?", "Ways to secure {x}",
     "How can {x} be safeguarded?"),
    ("Is {x} bad for the environment?", "What is the environmental impact of {x}?",
     "Does {x} harm the planet?", "How eco-friendly is {x}?"),
    ("What should I know before buying {x}?", "Things to consider when purchasing {x}",
     "Buying guide for {x}", "What to look for when I shop for {x}?"),
    ("How do I get rid of {x}?", "What is the best way to dispose of {x}?",
     "How can I throw away {x} properly?", "Proper disposal of {x}?"),
    ("Why is {x} so popular?", "What makes {x} popular?", "Why do so many people like {x}?",
     "Reasons for the popularity of {x}"),
    ("How do I troubleshoot {x}?", "{x} isn't working. What should I check?",
     "Diagnosing problems with {x}", "What can I do when {x} stops working?"),
    ("When was {x} first released?", "What year did {x} come out?", "Release date of {x}?",
     "When did {x} first appear?"),
    ("How heavy is {x}?", "What does {x} weigh?", "What is the weight of {x}?",
     "How much does {x} weigh?"),
    ("Can you compare {x} with its competitors?", "How does {x} stack up against rivals?",
     "{x} versus the competition: how does it compare?", "Compare {x} to similar products"),
    ("How do I maintain {x}?", "What upkeep does {x} need?", "Maintenance tips for {x}",
     "How should I look after {x}?"),
)  # fmt: skip

# Frames that look like a group's frames but ask for something else: (frame a, frame b).
CONTRASTS: tuple[tuple[str, str], ...] = (
    ("How do I install {x}?", "How do I uninstall {x}?"),
    ("How much does {x} cost?", "How much does {x} weigh?"),
    ("How do I fix {x}?", "How do I break {x}?"),
    ("Who makes {x}?", "Who buys {x}?"),
    ("How long does {x} last?", "How long does {x} take to arrive?"),
    ("How do I clean {x}?", "How do I dry {x}?"),
    ("What are the risks of {x}?", "What are the benefits of {x}?"),
    ("How do I speed up {x}?", "How do I slow down {x}?"),
    ("Is {x} worth it?", "Is {x} dangerous?"),
    ("How do I update {x}?", "How do I downgrade {x}?"),
    ("When was {x} first released?", "When was {x} discontinued?"),
    ("How do I set up {x}?", "How do I reset {x}?"),
    ("Can I recycle {x}?", "Can I reuse {x}?"),
    ("How big is {x}?", "How old is {x}?"),
    ("Who owns {x}?", "Who founded {x}?"),
    ("How do I protect {x}?", "How do I unlock {x}?"),
    ("What is {x}?", "What is the opposite of {x}?"),
    ("How does {x} work?", "Why does {x} not work?"),
    ("How do I learn {x}?", "How do I teach {x}?"),
    ("How often should I replace {x}?", "How often should I charge {x}?"),
)  # fmt: skip


def _split_of(index: int) -> str:
    return "dev" if index % 4 == 0 else "train"


def paraphrase_template_pairs(split: str, rng: random.Random) -> list[Pair]:
    """Positives (two frames of one group, the same filler), and negatives: the same
    frames with another filler, and contrast frames with the same filler."""
    fillers = FILLERS[split]
    pairs: list[Pair] = []
    for g, group in enumerate(GROUPS):
        if _split_of(g) != split:
            continue
        for x in fillers:
            a, b = rng.sample(group, 2)
            pairs.append(Pair(a.format(x=x), b.format(x=x), 1, "template-reword"))
            a, b = rng.sample(group, 2)
            other = rng.choice([f for f in fillers if f != x])
            pairs.append(Pair(a.format(x=x), b.format(x=other), 0, "template-reword-entity"))
    for c, (a, b) in enumerate(CONTRASTS):
        if _split_of(c) != split:
            continue
        for x in fillers:
            pairs.append(Pair(a.format(x=x), b.format(x=x), 0, "template-contrast"))
    return pairs
