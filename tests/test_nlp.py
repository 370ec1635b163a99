"""The spaCy step on its own: the vocabulary cap and the batching change
neither entities nor sentences."""
from transforms.nlp import DEFAULT_MODEL, EntitiesFn

TEXTS = [
    "Mr. Putin met Xi Jinping in Beijing on Tuesday. The Kremlin said talks went well.",
    "Zorblaxian envoy Quentavius Morrowdane flew to Ouagadougou, said Reuters.",
    "The Chinese Communist Party (CCP) met in Beijing.\nSign up for our newsletter.",
]


def _articles():
    return [{"article_id": f"a{i}", "text": t, "source_file": "f", "record": i}
            for i, t in enumerate(TEXTS)]


def _run(max_lexemes, batch_size=2):
    fn = EntitiesFn(DEFAULT_MODEL, 1_000_000, batch_size, max_lexemes=max_lexemes)
    fn.setup()
    before = len(fn._nlp.vocab.strings)
    out = list(fn.process(_articles()))
    return out, len(fn._nlp.vocab.strings) - before


def test_memory_zone_past_the_cap_gives_the_same_analysis_and_frees_new_words():
    kept, grown = _run(max_lexemes=10**9)     # never a zone: new words stay
    zoned, grown_zoned = _run(max_lexemes=0)  # a zone around every batch
    assert [(a["ents"], a["sents"]) for a in zoned] == [(a["ents"], a["sents"]) for a in kept]
    assert grown > 0 and grown_zoned == 0
    spans = {TEXTS[0][s:e]: label for s, e, label in kept[0]["ents"]}
    assert spans.get("Putin") == "PERSON" and spans.get("Beijing") == "GPE"
    assert kept[0]["sents"] == [0, TEXTS[0].index("The Kremlin")]


def test_batch_size_does_not_change_the_entities():
    whole, _ = _run(max_lexemes=10**9, batch_size=64)
    split, _ = _run(max_lexemes=10**9, batch_size=1)
    assert len(whole) == len(TEXTS)
    assert [a["ents"] for a in whole] == [a["ents"] for a in split]
