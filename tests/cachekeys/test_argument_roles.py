"""Argument roles from the real dependency parser (spaCy en_core_web_sm): an exchange
of roles is a different question; voice, word order and rewording are not."""

from __future__ import annotations

import pytest

from promptpress.cachekeys.semantic_cache.argument_roles import (
    QUESTION,
    RoleReader,
    ends_reversed,
    roles_exchanged,
    subjects_traded,
)


@pytest.fixture(scope="module")
def reader() -> RoleReader:
    return RoleReader()


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Who owns WhatsApp?", "What does WhatsApp own?"),
        ("Which airline owns KLM?", "Which airline does KLM own?"),
        ("How many grams are in 3 ounces?", "How many ounces are in 3 grams?"),
        ("Which birds migrate from Europe to Africa in winter?",
         "Which birds migrate from Africa to Europe in winter?"),
        ("Why did Germany declare war on the US in 1941?",
         "Why did the US declare war on Germany in 1941?"),
        # do-support, which the small parser misreads: the wh-phrase is the object
        ("Which company acquired Pixar?", "Which company did Pixar acquire?"),
        ("Which band opened for the Beatles at Shea Stadium?",
         "Which band did the Beatles open for at Shea Stadium?"),  # stranded "for"
        ("Who inherited the throne from Elizabeth I?",
         "Who did Elizabeth I inherit the throne from?"),
        # two phrases traded, every other word in place
        ("Is a liter bigger than a quart?", "Is a quart bigger than a liter?"),
        ("Did Eminem sign 50 Cent?", "Did 50 Cent sign Eminem?"),
        ("Do tomatoes need more sun than lettuce?", "Does lettuce need more sun than tomatoes?"),
        ("Is Darth Vader Luke Skywalker's father?", "Is Luke Skywalker Darth Vader's father?"),
        # the tagger takes the verb after do-support for a noun, or the subject for a verb
        ("Which artists influenced Pablo Picasso?", "Which artists did Pablo Picasso influence?"),
        ("What causes acid rain?", "What does acid rain cause?"),
        # a name lemmatised apart in the two questions ("Moors": noun, then name)
        ("What did Spain inherit from the Moors?", "What did the Moors inherit from Spain?"),
        # a verb's particle is not a stranded preposition
        ("Who knocked out Joe Louis in 1936?", "Who did Joe Louis knock out in 1936?"),
        # a passive with a stranded preposition
        ("Which languages are descended from Latin?", "Which language is Latin descended from?"),
        # a possessive's owner and filler traded
        ("Who was Charlemagne's father?", "Whose father was Charlemagne?"),
        ("Whose mother was Catherine of Aragon?", "Who was the mother of Catherine of Aragon?"),
        # an agent noun against its verb
        ("Who was the teacher of Plato in Athens?", "Who did Plato teach in Athens?"),
        ("Who is the owner of Chelsea FC?", "What does Chelsea FC own?"),
        # "an" is "a": adjectives traded across the article's two forms
        ("How do I translate a Spanish menu into English?",
         "How do I translate an English menu into Spanish?"),
        # "am" after a number is a time of day, however the tagger lemmatises it
        ("Is 3 am London 11 am Tokyo?", "Is 3 am Tokyo 11 am London?"),
        # a comparison's stranded "than", the wh-phrase's noun tagged as a verb
        ("Which rivers are longer than the Danube?", "Which rivers is the Danube longer than?"),
        # the asker trading roles with someone else
        ("Can I claim my mother as a dependent on my taxes?",
         "Can my mother claim me as a dependent on her taxes?"),
        # each one's subject another argument in the other, not role for role
        ("How do I give feedback to my manager?",
         "How do I respond when my manager gives me feedback?"),
        ("Do I pay taxes on money I send to family overseas?",
         "Do I pay taxes on money my family sends me from overseas?"),
        # a third-person pronoun keeps its role within one verb's clause
        ("How do I pay my sister back the money she lent me?",
         "How do I ask my sister to pay back the money I lent her?"),
    ],
)  # fmt: skip
def test_swapped_arguments_exchange_roles(reader: RoleReader, first: str, second: str) -> None:
    assert reader.exchanged(first, second)
    assert reader.exchanged(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Who wrote Hamlet?", "Hamlet was written by whom?"),  # passive: roles map back
        ("Who wrote Hamlet?", "Who is the author of Hamlet?"),
        ("How do I move money from savings to checking?",
         "How can I transfer funds from my savings to my checking account?"),
        ("When was the Eiffel Tower built?", "The Eiffel Tower was built when?"),
        ("What should I pack for a beach vacation?", "what should i bring on a beach holiday"),
        ("Who owns WhatsApp?", "Who owns WhatsApp?"),
        # around a coordinator a swap keeps the meaning
        ("Do cats and dogs get along?", "Do dogs and cats get along?"),
        ("What is the difference between a crocodile and an alligator?",
         "What is the difference between an alligator and a crocodile?"),
        ("Should I learn Python or JavaScript first?", "Should I learn JavaScript or Python first?"),
        # a phrase moved, nothing traded
        ("In Java, how do I convert a string to an integer?",
         "How do I convert a string to an integer in Java?"),
        ("How much iron do I need per day?", "how much iron per day do i need"),
        ("How tall is Mount Everest?", "Mount Everest is how tall?"),
        ("Which band did the Beatles open for?", "Which band did the Beatles open for?"),
        # the asker is not an argument: an imperative makes "I" an object
        ("What should I wear to a job interview?", "Tell me what I should wear to a job interview."),
        ("How do I get my husband to help more around the house?",
         "Give me ways to get my husband to do more housework."),
        ("Which vaccines does a kitten need before going outdoors?",
         "Tell me which vaccines a kitten needs before going outdoors."),
        # an adjunct moved with its preposition or conjunction
        ("If my flight is delayed by five hours, am I owed compensation under EU rules?",
         "Under EU rules, am I owed compensation if my flight is delayed by five hours?"),
        # a pronoun standing for the other question's noun
        ("When my cat sneezes a lot, should I take her to the vet?",
         "Should I take my cat to the vet when she sneezes a lot?"),
        ("Why do onions make you cry when you cut them?",
         "When you cut onions, why do they make you cry?"),
        # the same possessive, or an agent noun read the same way as its verb
        ("Who was Charlemagne's father?", "Who was the father of Charlemagne?"),
        ("Who was the teacher of Plato?", "Who taught Plato?"),
        ("Who is the owner of Chelsea FC?", "Who owns Chelsea FC?"),
        # the asker addressed by an imperative, or inside a subordinate clause
        ("What should I wear to a job interview?",
         "Tell me what outfit is appropriate for an interview."),
        ("How do I keep my pipes from freezing when I'm away for the winter?",
         "Tell me how to stop my pipes freezing while I'm gone for the winter."),
    ],
)  # fmt: skip
def test_rewordings_keep_roles(reader: RoleReader, first: str, second: str) -> None:
    assert not reader.exchanged(first, second)


def test_roles_name_subject_object_and_preposition(reader: RoleReader) -> None:
    roles = reader.roles("Who sent the parcel to Paris?")
    assert roles[QUESTION] == "subject"
    assert roles["parcel"] == "object"
    assert roles["paris"] == "prep:to"
    passive = reader.roles("The parcel was sent to Paris by whom?")
    assert passive["parcel"] == "object" and passive[QUESTION] == "subject"


def test_do_support_makes_the_wh_phrase_the_object(reader: RoleReader) -> None:
    roles = reader.roles("Which company did Pixar acquire?")
    assert roles[QUESTION] == "object" and roles["company"] == "object"
    assert roles["pixar"] == "subject"
    stranded = reader.roles("Who did Elizabeth I inherit the throne from?")
    assert stranded[QUESTION] == "prep:from" and stranded["elizabeth"] == "subject"


@pytest.mark.parametrize(
    ("question", "asker"),
    [
        ("What must I do as a landlord before a tenant moves in?", {"landlord"}),
        ("What are my obligations as the borrower under a loan?", {"borrower"}),
        ("What fees can a letting agent charge me as a tenant?", {"tenant"}),
        ("I'm a manager; how should I give feedback?", {"manager"}),
        # "as" beside no word for the asker, or a comparison: nobody the asker is
        ("Why do chefs treat a tomato as a vegetable?", set()),
        ("Is a tablet as fast as a laptop?", set()),
    ],
)  # fmt: skip
def test_asker_is_what_the_asker_says_they_are(
    reader: RoleReader, question: str, asker: set[str]
) -> None:
    assert reader.asker(question) == asker


def test_subjects_traded_needs_both_subjects_moved() -> None:
    assert subjects_traded({"i": "subject", "boss": "prep:to"}, {"boss": "subject", "i": "object"})
    # one subject moved, the other question's subject new: not a trade
    assert not subjects_traded({"i": "subject", "boss": "prep:to"}, {"boss": "subject"})
    # a passive's agent keeps the subject's part
    assert not subjects_traded({"?wh": "subject", "carta": "object"},
                               {"?wh": "prep:by", "carta": "subject"})  # fmt: skip


def test_one_changed_role_alone_is_not_an_exchange() -> None:
    # "subject -> object" for one word with no partner trading back: not an exchange.
    assert not roles_exchanged({"a": "subject", "b": "prep:in"}, {"a": "object", "b": "prep:in"})
    assert roles_exchanged({"a": "subject", "b": "object"}, {"a": "object", "b": "subject"})
    # Roles that are not arguments (a modifier's label) never trade.
    assert not roles_exchanged({"a": "advmod", "b": "ROOT"}, {"a": "ROOT", "b": "advmod"})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Where was the first settlement in Victoria?", "When was Victoria first settled?"),
        ("Who founded the Office of Western Medicine?",
         "When was the Office of Western Medicine founded?"),
        ("Where is the Rhine?", "How long is the Rhine?"),
        ("Why did oil start getting priced in gold?", "When did oil start getting priced in gold?"),
    ],
)  # fmt: skip
def test_questions_asking_for_different_kinds_of_answer_are_refused(
    reader: RoleReader, first: str, second: str
) -> None:
    assert reader.refuses(first, second) and reader.refuses(second, first)
    assert not reader.exchanged(first, second)  # refused for what they ask, not for roles


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # the question word of a subordinate clause is not the question's
        ("When it rains, why does my roof leak?", "Why does my roof leak when it rains?"),
        # "what"/"which" and "how do I" name no kind; a time and a duration can agree
        ("When was the Eiffel Tower built?", "In what year was the Eiffel Tower built?"),
        ("How do I find my IP address on Windows?", "Where can I see my IP address on Windows?"),
        ("When do I get my first paycheck?", "How long until I'm paid for the first time?"),
        ("Who wrote Hamlet?", "Which playwright wrote Hamlet?"),
    ],
)  # fmt: skip
def test_questions_asking_for_the_same_kind_are_not_refused(
    reader: RoleReader, first: str, second: str
) -> None:
    assert not reader.refuses(first, second) and not reader.refuses(second, first)


@pytest.mark.parametrize(
    ("first", "second", "reversed_"),
    [
        ("How do I sell my Canon lenses to KEH?", "How do I buy Canon lenses from KEH?", True),
        ("Where do I catch the ferry to the Isle of Wight?",
         "Where do I catch the ferry from the Isle of Wight?", True),
        ("How do I add a collaborator to a GitHub repository?",
         "How do I remove a collaborator from a GitHub repository?", True),
        # an indirect object is where something ends
        ("How do I send the seller a message on eBay?",
         "How do I get a message from the seller on eBay?", True),
        # the same ends, reworded
        ("How do I move photos from my iPhone to my Mac?",
         "How can I get photos onto my Mac from my iPhone?", False),
        # a modifier is not an end, nor is a number
        ("What's the cheapest way to get from the airport to downtown Lisbon?",
         "What is the least expensive way to travel from Lisbon airport into the city centre?",
         False),
        ("How do I set working hours from 9 to 5 in Outlook?",
         "How do I change my Outlook work schedule to 9 till 5?", False),
    ],
)  # fmt: skip
def test_a_noun_at_the_other_end_of_a_path_reverses_the_question(
    reader: RoleReader, first: str, second: str, reversed_: bool
) -> None:
    assert reader.refuses(first, second) == reversed_
    assert reader.refuses(second, first) == reversed_


def test_path_ends_name_where_a_path_starts_and_ends(reader: RoleReader) -> None:
    ends = reader._parsed("How do I transfer money from PayPal to my bank account?").ends
    assert ends == {"paypal": "start", "account": "end"}
    # a noun at both ends (of two paths) has no one end
    assert "london" not in reader._parsed("Can I fly from London to Paris and back to London?").ends
    assert ends_reversed({"a": "start", "b": "end"}, {"a": "end"})
    assert not ends_reversed({"a": "start"}, {"a": "start", "b": "end"})
