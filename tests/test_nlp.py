"""The spaCy step on its own: the components it runs, and that neither
the vocabulary cap nor the batching changes entities or sentences."""
import random
import statistics
import zlib

from transforms.nlp import DEFAULT_MODEL, BatchKeyFn, EntitiesFn, batch_count, ner_inputs

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


def _analysis(nlp, texts):
    return [([(e.start_char, e.end_char, e.label_) for e in d.ents],
             [s.start_char for s in d.sents]) for d in nlp.pipe(texts)]


def test_the_default_model_runs_its_ner_without_the_shared_tok2vec(nlp, seed_text):
    # en_core_web_sm's NER embeds with a tok2vec of its own; the shared one
    # feeds only the tagger and parser, so running it is wasted time
    import spacy
    assert nlp.pipe_names == ["ner", "sentencizer"]
    full = spacy.load(DEFAULT_MODEL)
    assert "ner" not in full.get_pipe("tok2vec").listening_components
    full.select_pipes(enable=["tok2vec", "ner"])
    full.add_pipe("sentencizer")
    texts = TEXTS + [seed_text]
    assert _analysis(nlp, texts) == _analysis(full, texts)


def test_a_tok2vec_the_ner_listens_to_stays_on():
    import spacy
    blank = spacy.blank("en")
    blank.add_pipe("tok2vec")
    blank.add_pipe("tagger")
    blank.add_pipe("ner", config={"model": {
        "@architectures": "spacy.TransitionBasedParser.v2", "state_type": "ner",
        "extra_state_tokens": False, "hidden_width": 64, "maxout_pieces": 2,
        "use_upper": True, "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1",
                                       "width": 96, "upstream": "*"}}})
    blank._link_components()  # what spacy.load does for a packaged model
    assert ner_inputs(blank) == ["tok2vec", "ner"]


def test_an_articles_entities_do_not_depend_on_its_batch():
    # BatchKeyFn's batches depend on the order a worker sees articles in
    together, _ = _run(max_lexemes=10**9, batch_size=3)
    fn = EntitiesFn(DEFAULT_MODEL, 1_000_000, 1)
    fn.setup()
    alone = [out for a in _articles() for out in fn.process([a])]
    assert [(a["ents"], a["sents"]) for a in alone] == [(a["ents"], a["sents"]) for a in together]


def test_batch_count_is_a_multiple_of_eight_from_eight_batches_on():
    assert [batch_count(n, 64) for n in (1, 10, 63, 64, 100, 4_000, 10_000)] == \
        [1, 1, 7, 8, 8, 64, 160]


def test_batch_keys_spread_text_evenly():
    rng = random.Random(7)
    articles = [{"article_id": f"doc-{i}", "text": "x" * int(rng.lognormvariate(6.5, 1.0))}
                for i in range(4_000)]
    n = batch_count(len(articles), 64)

    def spread(keys):  # coefficient of variation of the batches' characters
        load = [0] * n
        for key, a in keys:
            load[key] += len(a["text"])
        return statistics.pstdev(load) / statistics.mean(load)

    # two workers' instances, each keying every second article
    keyed = []
    for half in (articles[0::2], articles[1::2]):
        fn = BatchKeyFn(64, 1_000_000)
        fn.setup()
        keyed += [kv for a in half for kv in fn.process(a, len(articles))]
    assert sorted(a["article_id"] for _, a in keyed) == sorted(a["article_id"] for a in articles)
    assert spread(keyed) < 0.1
    # the same texts with one hash per article, as before
    assert spread([(zlib.crc32(a["article_id"].encode()) % n, a) for a in articles]) > 0.15


def test_settle_heap_freezes_once_and_raises_the_young_threshold():
    import subprocess
    import sys
    code = ("import gc; from transforms import nlp; nlp.settle_heap(); n = gc.get_freeze_count(); "
            "x = [[] for _ in range(1000)]; nlp.settle_heap(); "
            "print(n > 0, gc.get_freeze_count() == n, gc.get_threshold()[0] == nlp.GC_THRESHOLD)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]
