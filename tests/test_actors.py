"""Actor merging on real text: the seed article, and each rule alone."""
from collections import Counter

import pytest

from transforms import lexicon
from transforms.actors import (ActorStatsFn, decide_merges, pack_mentions, remap_article,
                               resolve_article, split_conjoined, trim_span)
from transforms.articles import strip_furniture

SEED_ACTORS = {
    "PERSON:vladimir_putin", "PERSON:xi_jinping", "PERSON:joe_biden",
    "PERSON:patricia_kim", "PERSON:alexei_miller", "PERSON:igor_sechin",
    "ORG:chinese_communist_party", "ORG:brookings_institution", "ORG:gazprom",
    "ORG:rosneft", "GPE:russia", "GPE:china", "GPE:ukraine", "GPE:united_states",
}


def analyse(nlp, text):
    doc = nlp(text)
    return resolve_article(text, [(e.start_char, e.end_char, e.label_) for e in doc.ents],
                           [s.start_char for s in doc.sents], lexicon.aliases())


def test_seed_article_yields_each_actor_once(nlp, seed_text):
    body = seed_text.split("\n", 1)[1]
    body = body[: strip_furniture(body)[0]]
    mentions, votes = analyse(nlp, body)
    ids = {m["actor_id"] for m in mentions}
    assert SEED_ACTORS <= ids
    # no second actor for a variant: no bare surnames, no acronym actor
    assert not ids & {"PERSON:putin", "PERSON:xi", "PERSON:biden", "PERSON:kim",
                      "ORG:ccp", "GPE:us", "ORG:gazprom_and_rosneft"}
    # furniture and the trailer are cut, so they are not actors
    assert not ids & {"ORG:ntd_daily", "ORG:the_epoch_times", "ORG:privacy_policy"}
    # a Title Case heading's false ORG ("China Supports") is dropped
    assert "ORG:china_supports" not in ids
    names = Counter(m["actor_id"] for m in mentions)
    assert names["PERSON:vladimir_putin"] >= 9   # "Vladimir Putin", "Mr. Putin", "Putin"
    assert names["PERSON:xi_jinping"] >= 6       # "Xi Jinping", "Mr. Xi"
    for m in mentions:
        assert body[m["start"]:m["end"]] == m["text"]
    forms = {m["text"] for m in mentions if m["actor_id"] == "ORG:chinese_communist_party"}
    assert forms == {"Chinese Communist Party", "CCP"}
    assert ("xi", "PERSON:xi_jinping") in votes and ("putin", "PERSON:vladimir_putin") in votes


def test_trim_span_strips_the_titles_and_possessives():
    text = "the Brookings Institution met Mr. Putin’s aides and U.S. President Joe Biden's staff"
    assert text.__getitem__(slice(*trim_span(text, 0, 25, "ORG"))) == "Brookings Institution"
    s, e = trim_span(text, 30, 41, "PERSON")
    assert text[s:e] == "Putin"
    i = text.index("President")
    s, e = trim_span(text, i, i + len("President Joe Biden's"), "PERSON")
    assert text[s:e] == "Joe Biden"


def test_conjoined_names_split_unless_listed():
    text = "Gazprom and Rosneft; Bosnia and Herzegovina; Department of Health and Human Services"
    assert [text[s:e] for s, e in split_conjoined(text, 0, 19)] == ["Gazprom", "Rosneft"]
    b = text.index("Bosnia")
    assert split_conjoined(text, b, b + 22) == [(b, b + 22)]
    d = text.index("Department")
    assert split_conjoined(text, d, len(text)) == [(d, len(text))]


def test_shared_surname_goes_to_the_nearest_full_name(nlp):
    text = ("Patricia Kim, a fellow at the Brookings Institution, spoke first. "
            "Kim said the talks were stalled. North Korean leader Kim Jong Un "
            "then fired a missile, and Kim later praised the launch.")
    mentions, _ = analyse(nlp, text)
    kims = [(m["text"], m["actor_id"]) for m in mentions if "Kim" in m["text"]]
    assert kims == [("Patricia Kim", "PERSON:patricia_kim"), ("Kim", "PERSON:patricia_kim"),
                    ("Kim Jong Un", "PERSON:kim_jong_un"), ("Kim", "PERSON:kim_jong_un")]


def test_acronym_defined_in_text_joins_full_name(nlp):
    text = ("The Shanghai Cooperation Organisation (SCO) met in Astana. "
            "Diplomats said the SCO would expand.")
    mentions, votes = analyse(nlp, text)
    ids = {(m["text"], m["actor_id"]) for m in mentions}
    assert ("SCO", "ORG:shanghai_cooperation_organisation") in ids
    assert ("sco", "ORG:shanghai_cooperation_organisation") in votes


def test_corpus_merge_needs_a_large_majority():
    assert list(decide_merges(("putin", [("PERSON:vladimir_putin", 9),
                                         ("PERSON:ivan_putin", 1)]))) == \
        [("putin", "PERSON:vladimir_putin")]
    assert list(decide_merges(("kim", [("PERSON:kim_jong_un", 3),
                                       ("PERSON:patricia_kim", 2)]))) == []
    assert list(decide_merges(("xi", [("PERSON:xi_jinping", 1)]))) == []   # one vote


def test_remap_article_merges_bare_surnames_only():
    mentions = [
        {"start": 0, "end": 5, "text": "Putin", "label": "PERSON", "sentence": 0,
         "actor_id": "PERSON:putin", "type": "PERSON", "name": "Putin", "full": False,
         "alias": False},
        {"start": 10, "end": 14, "text": "U.S.", "label": "GPE", "sentence": 0,
         "actor_id": "GPE:united_states", "type": "GPE", "name": "United States",
         "full": True, "alias": True},
    ]
    out, partials = remap_article({"mentions": pack_mentions(mentions)},
                                  {"putin": "PERSON:vladimir_putin", "us": "GPE:nope"})
    assert [m["actor_id"] for m in out] == ["PERSON:vladimir_putin", "GPE:united_states"]
    assert partials["PERSON:vladimir_putin"]["names"] == {}  # bare form names nothing
    assert partials["GPE:united_states"]["alias_name"] == "United States"


def test_user_aliases_file_wins(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("alias,actor_id,name\nBeeb,ORG:bbc,BBC\nAmerica,GPE:americas,Americas\n")
    table = lexicon.aliases(str(path))
    assert table["beeb"] == ("ORG:bbc", "ORG", "BBC")
    assert table["america"][0] == "GPE:americas"
    assert table["us"][0] == "GPE:united_states"


def test_alias_ids_with_a_control_character_are_refused(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("alias,actor_id,name\nBeeb,ORG:b\x1fbc,BBC\n")
    with pytest.raises(ValueError, match="control character"):
        lexicon.aliases(str(path))


def test_actor_stats_fallback_name_does_not_depend_on_merge_order():
    # no full form, no alias: the most frequent form, ties broken by text
    fn = ActorStatsFn()
    parts = [{"type": "PERSON", "n_mentions": 1, "forms": {"Kim": 1}, "names": {},
              "alias_name": None},
             {"type": "PERSON", "n_mentions": 1, "forms": {"KIM": 1}, "names": {},
              "alias_name": None}]
    for order in (parts, parts[::-1]):
        acc = fn.merge_accumulators([fn.add_input(fn.create_accumulator(), p) for p in order])
        assert fn.extract_output(acc) == {"name": "KIM", "n_articles": 2, "n_mentions": 2,
                                          "aliases": ["KIM", "Kim"]}


def test_shard_stats_merge_leaves_the_other_accumulators_alone():
    from transforms.actors import ShardStatsFn
    fn = ShardStatsFn()
    part = {"type": "GPE", "n_mentions": 2, "forms": {"U.S.": 2}, "names": {},
            "alias_name": "United States"}
    first = fn.add_input(fn.create_accumulator(), {"ORG:un": dict(part, type="ORG")})
    second = fn.add_input(fn.create_accumulator(), {"GPE:united_states": part})
    merged = fn.merge_accumulators([first, second])
    fn.add_input(merged, {"GPE:united_states": part})
    assert second["GPE:united_states"]["n_articles"] == 1   # not changed by the merge's user
    assert dict(fn.extract_output(merged))["GPE:united_states"] == {
        "name": "United States", "n_articles": 2, "n_mentions": 4, "aliases": ["U.S."]}


def test_vote_counts_merge_in_any_order():
    from transforms.actors import VoteCountFn
    fn = VoteCountFn()
    a = fn.add_input(fn.add_input(fn.create_accumulator(), "PERSON:xi_jinping"), "PERSON:xi_x")
    b = fn.add_input(fn.create_accumulator(), "PERSON:xi_jinping")
    for accs in ([dict(a), dict(b)], [dict(b), dict(a)]):
        assert sorted(fn.extract_output(fn.merge_accumulators(accs))) == [
            ("PERSON:xi_jinping", 2), ("PERSON:xi_x", 1)]


def test_fold_keys_names_and_texts_alike():
    from transforms.lexicon import fold, fold_words
    assert fold("U.S.") == "us" and fold("José Ñúñez") == "jose nunez"
    assert fold("Putin’s") == "putin's" and fold("ﬁnance Ⅸ") == "finance ix"
    assert fold("e\u0301cole, A.B.C. and 3.5%") == "ecole abc and 35"
    text = "Mr. Xi met U.S. officials in São Paulo.\n“It’s done,” said Ms. Kim."
    assert fold_words(text) == fold(text).split() == [
        "mr", "xi", "met", "us", "officials", "in", "sao", "paulo", "it's", "done", "said",
        "ms", "kim"]
