"""Each attack on one sentence: what it does, and that a seed fixes it."""
import pyarrow as pa
import pytest

from benchmarks.perturb.attacks import ATTACKS, attack_texts
from filterkit.contract.normalize import defend_texts, repair_case

S = "The government said the 3 new programs would help a big center grow until 2025."


def one(name, seed=0):
    return attack_texts(name, [S], seed)[0]


def test_every_attack_is_deterministic_and_changes_the_sentence():
    for name in ATTACKS:
        assert one(name) == one(name), name
        # The sentence has no sentence break inside it, so paragraph insertion has nowhere to act.
        assert one(name) != S or name == "paragraph_insertion", name


@pytest.mark.parametrize("name,check", [
    ("homoglyph", lambda out: "\u043e" in out or "\u0430" in out),
    ("zero_width", lambda out: "\u200b" in out and out.replace("\u200b", "") == S),
    ("whitespace", lambda out: "  " in out and " ".join(out.split()) == S),
    ("upper_lower", lambda out: out.lower() == S.lower()),
    ("misspelling", lambda out: "goverment" in out and "untill" in out),
    ("article_deletion", lambda out: len(out) < len(S) and "government" in out),
    ("number_swap", lambda out: out.replace("3", "").replace("2025", "") != S or out != S),
    ("alternative_spelling", lambda out: "centre" in out and "programmes" not in out),
    ("synonym", lambda out: any(w in out for w in ("stated", "assist", "large"))),
])
def test_what_each_attack_does(name, check):
    assert check(one(name)), one(name)


def test_paragraph_insertion_breaks_at_sentence_ends():
    text = "One. Two. Three. Four. Five. Six. Seven."
    out = attack_texts("paragraph_insertion", [text], 1)[0]
    assert "\n\n" in out and out.replace("\n\n", " ") == text


def test_defence_undoes_character_attacks():
    for name in ("homoglyph", "zero_width"):
        assert defend_texts(pa.array([one(name)]))[0] == S
    # Case swaps inside words are undone; seed 0 also capitalises "help" and "big", which nothing can tell apart
    # from names in this one sentence (the obfuscation detector reports the trace instead).
    assert one("upper_lower", 1) != S and defend_texts(pa.array([one("upper_lower", 1)]))[0] == S
    assert defend_texts(pa.array([one("upper_lower", 0)]))[0] == S.replace("help a big", "Help a Big")


@pytest.mark.parametrize("attacked,repaired", [
    ("tHe goveRnment oF NaSA", "the government of NASA"),        # inside words; acronyms stay upper
    ("THe iPhone has URLs. A dog", "The iphone has URLs. A dog"),  # a capitalised word; plural acronyms kept
    ("the cat and The dog and the bird", "the cat and the dog and the bird"),  # "The" among "the"s, mid-sentence
    ("In london, then London and London.", "In London, then London and London."),  # a name written lower once
    ("We saw Of course. I think i am", "We saw of course. I think i am"),  # a function word; "I" is left alone
])
def test_case_repair(attacked, repaired):
    assert repair_case(attacked) == repaired


def test_unknown_attack_lists_valid_ones():
    with pytest.raises(ValueError, match="valid attacks: homoglyph"):
        attack_texts("rot13", [S])


def test_few_case_swaps_repaired_inside_words_only():
    # One mixed-case word in 60 is under the 2% share: "goveRnment" is repaired, capitals stay as written.
    text = "The goveRnment said The Times would print it. " + " ".join(["more words here"] * 19)
    assert defend_texts(pa.array([text]))[0] == text.replace("goveRnment", "government")
    assert repair_case(text) != defend_texts(pa.array([text]))[0]  # with first letters, "The Times" loses its "The"
