"""The keyword baseline: a vocabulary from the generator's escalation pools, the interface of the
other comparators, and scores that follow cue words."""

from __future__ import annotations

import numpy as np
import pytest

from serving.params import from_dict, load_params
from serving.schema import SIGNALS, Limits, labels_of, parse_record, with_consent
from tests.conftest import ROOT
from training import synthetic
from training.config import training_params
from training.keyword_baseline import STOPWORDS, KeywordBaseline, KeywordConfig, cue_vocabulary, words

LIMITS = Limits(max_messages=2000, max_message_chars=4000, max_record_bytes=2_000_000)
CONFIG = from_dict(KeywordConfig, load_params(ROOT / "params.yaml")["keyword"])


@pytest.fixture(scope="module")
def quick() -> dict[str, list]:
    config = training_params(ROOT / "params.yaml", "quick")[0].generate
    return {
        name: with_consent([parse_record(r, LIMITS) for r in records])
        for name, records in synthetic.generate(config).items()
    }


def _conversation(*texts: str, conversation_id: str = "k-1"):
    return parse_record(
        {
            "conversation_id": conversation_id,
            "opt_in": True,
            "participants": [{"id": "u1", "role": "reporter"}, {"id": "u2", "role": "reported"}],
            "messages": [{"sender": "u2" if i % 2 == 0 else "u1", "text": t} for i, t in enumerate(texts)],
        },
        LIMITS,
    )


def test_vocabulary_comes_from_the_escalation_pools():
    vocabulary = cue_vocabulary()
    assert set(vocabulary) == set(SIGNALS)
    assert all(vocabulary[s] for s in SIGNALS)
    background = set().union(*(words(t) for t in synthetic.background_phrases()))
    for signal, cue_words in vocabulary.items():
        assert not cue_words & STOPWORDS and not cue_words & background, signal
        assert all(len(w) >= CONFIG.min_word_length for w in cue_words)
        pool_words = set().union(*(words(p) for p in synthetic.escalation_phrases("all")[signal]))
        assert cue_words <= pool_words
    assert {"selfie", "photo"} <= vocabulary["image_request"]
    assert "meet" in vocabulary["meeting_request"]
    assert {"chatnest", "switch"} <= vocabulary["platform_move"]
    # Discourse fillers frame benign messages too: "? just curious" is no cue of probing.
    assert "curious" not in vocabulary["personal_info_probing"]


def test_vocabulary_knows_the_heldout_phrasing():
    every = training_params(ROOT / "params.yaml")[0].generate.heldout_every
    seen, held, both = cue_vocabulary(3, "seen", every), cue_vocabulary(3, "heldout", every), cue_vocabulary()
    assert all(seen[s] | held[s] == both[s] for s in SIGNALS)
    assert any(held[s] - seen[s] for s in SIGNALS)
    with pytest.raises(ValueError):
        synthetic.escalation_phrases("seen")


def test_words_use_the_shared_normalisation():
    assert words("\uff33\uff25\uff2c\uff26\uff29\uff25\u200b please") == {
        "selfie",
        "please",
    }  # NFKC and invisible characters


def test_fit_predict_interface_and_determinism(quick):
    train = quick["train"]
    model = KeywordBaseline(CONFIG, seed=3).fit(train, labels_of(train))
    assert model.fit(train, labels_of(train)) is model
    test = quick["test"]
    proba = model.predict_proba(test)
    assert proba.shape == (len(test), 2)
    assert np.all((proba >= 0) & (proba <= 1)) and np.allclose(proba.sum(axis=1), 1.0)
    again = KeywordBaseline(CONFIG, seed=3).fit(train, labels_of(train)).predict_proba(test)
    assert np.array_equal(proba, again)
    assert model.features(test).shape == (len(test), len(model.feature_names))


def test_cue_words_raise_the_score_when_they_separate_the_labels():
    plain = ["did you finish the math homework", "almost done", "cool see you at practice"]
    cued = ["send me a selfie", "why", "add me on chatnest", "ok", "let's meet at the arcade", "maybe"]
    train = [_conversation(*(cued if i % 2 else plain), conversation_id=f"t-{i}") for i in range(20)]
    model = KeywordBaseline(CONFIG, seed=0).fit(train, [i % 2 for i in range(20)])
    features = model.features([_conversation(*plain), _conversation(*cued, conversation_id="k-2")])
    assert features[0, :-1].sum() == 0 and features[1, :-1].sum() >= 3
    assert features[1, model.feature_names.index("image_request.reported")] == 1
    assert features[1, model.feature_names.index("platform_move.reported")] >= 1  # "send" is a cue of several
    low, high = model.predict_proba([_conversation(*plain), _conversation(*cued, conversation_id="k-2")])[:, 1]
    assert high > 0.5 > low


def test_config_is_checked():
    with pytest.raises(ValueError):
        KeywordConfig(0, 1.0, 100)
    with pytest.raises(ValueError):
        KeywordConfig(3, 0.0, 100)
