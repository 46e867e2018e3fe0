"""Each attack on one sentence: what it does, and that a seed fixes it."""
import pytest

from detectors.normalize import defend_texts
from filterkit.attacks import ATTACKS, attack_texts

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
        assert defend_texts(__import__("pyarrow").array([one(name)]))[0] == S


def test_unknown_attack_lists_valid_ones():
    with pytest.raises(ValueError, match="valid attacks: homoglyph"):
        attack_texts("rot13", [S])
