import random

import numpy as np
import pytest

from bert_tasks.decoding import viterbi
from bert_tasks.tagging_schemes import (
    convert,
    detect_scheme,
    from_spans,
    label_set,
    split_tag,
    to_spans,
)
from conftest import SHARED


def test_iob2_to_iobes_and_back():
    tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "I-LOC"]
    iobes, invalid = convert(tags, "iob2")
    assert iobes == ["B-PER", "E-PER", "O", "S-LOC", "B-LOC", "I-LOC", "E-LOC"] and not invalid
    assert convert(iobes, "iobes", "iob2")[0] == tags


def test_iob1_entities():
    # IOB1: I- starts an entity; B- only separates two adjacent entities of one type
    tags = ["I-ORG", "I-ORG", "B-ORG", "O", "I-PER"]
    spans, invalid = to_spans(tags, "iob1")
    assert spans == [("ORG", 0, 2), ("ORG", 2, 3), ("PER", 4, 5)] and not invalid


def test_bmes_and_bilou():
    assert to_spans(["B-NAME", "M-NAME", "E-NAME", "S-ORG", "O"], "bmes")[0] == [("NAME", 0, 3), ("ORG", 3, 4)]
    assert to_spans(["U-PER", "B-LOC", "I-LOC", "L-LOC"], "bilou")[0] == [("PER", 0, 1), ("LOC", 1, 4)]


def test_invalid_sequences_counted_and_repaired():
    spans, invalid = to_spans(["O", "I-PER", "I-PER", "O"], "iob2")
    assert spans == [("PER", 1, 3)] and invalid == [1]
    spans, invalid = to_spans(["B-PER", "I-PER", "O", "E-LOC"], "iobes")  # PER never ends; E-LOC starts nothing
    assert spans == [("PER", 0, 2), ("LOC", 3, 4)] and invalid == [1, 3]


def test_detect():
    assert detect_scheme([["B-PER", "I-PER", "O"]]) == "iob2"
    assert detect_scheme([["I-PER", "I-PER", "O", "I-LOC"]]) == "iob1"
    assert detect_scheme([["S-PER", "B-LOC", "E-LOC"]]) == "iobes"
    assert detect_scheme([["B-A", "M-A", "E-A"]]) == "bmes"
    assert detect_scheme([["U-A", "B-A", "L-A"]]) == "bilou"


def test_split_tag_rejects_garbage():
    assert split_tag("M-X") == ("I", "X")
    with pytest.raises(ValueError, match="not O or <prefix>-<type>"):
        split_tag("PERSON")


def random_spans(rng, n, types=("A", "B")):
    spans, i = [], 0
    while i < n:
        if rng.random() < 0.3:
            length = rng.randint(1, 3)
            spans.append((rng.choice(types), i, min(n, i + length)))
            i += length
        else:
            i += 1
    return spans


@pytest.mark.parametrize("scheme", ["iob2", "iobes"])
def test_round_trip_random(scheme):
    rng = random.Random(0)
    for _ in range(300):
        n = rng.randint(0, 12)
        spans = random_spans(rng, n)
        tags = from_spans(spans, n, scheme)
        assert to_spans(tags, scheme) == (spans, [])
        assert to_spans(convert(tags, scheme, "iobes")[0], "iobes")[0] == spans


@pytest.mark.parametrize(
    "path, scheme",
    [("conll2003/train.txt", "iob2"), ("resume_ner/train.char.bmes", "bmes"), ("weibo_ner/weiboNER_2nd_conll.train", "iob2")],
)
def test_shared_data_round_trip_every_scheme(path, scheme):
    """Source scheme -> IOBES -> every scheme -> spans: the same entities everywhere."""
    if not (SHARED / path).is_file():
        pytest.skip(f"{SHARED / path} not found")
    from bert_tasks.data import read_conll

    ds = read_conll([str(SHARED / path)], "test")
    assert detect_scheme(ds["tags"]) == scheme
    for tags in ds["tags"]:
        spans, _ = to_spans(tags, scheme)
        iobes, _ = convert(tags, scheme, "iobes")
        assert to_spans(iobes, "iobes")[0] == spans
        assert to_spans(from_spans(spans, len(tags), "iob2"), "iob2")[0] == spans
        # IOB1: an I- start, B- only between adjacent same-type entities
        iob1 = from_spans(spans, len(tags), "iob2")
        for k, s, _ in spans:
            if s == 0 or not iob1[s - 1].endswith(f"-{k}"):
                iob1[s] = f"I-{k}"
        assert to_spans(iob1, "iob1")[0] == spans
        bmes = [t.replace("I-", "M-") for t in iobes]
        bilou = [t.replace("E-", "L-").replace("S-", "U-") for t in iobes]
        assert to_spans(bmes, "bmes")[0] == spans and to_spans(bilou, "bilou")[0] == spans


@pytest.mark.parametrize("scheme", ["iobes", "iob2"])
def test_viterbi_never_invalid(scheme):
    labels = label_set(["PER", "LOC", "ORG"], scheme)
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 15))
        logp = np.log(rng.dirichlet(np.ones(len(labels)) * 0.3, size=n))
        tags = [labels[i] for i in viterbi(logp, labels, scheme)]
        assert to_spans(tags, scheme)[1] == [], tags


def test_viterbi_prefers_best_valid_path():
    labels = label_set(["PER"], "iobes")  # O B I E S
    logp = np.log(np.array([[0.1, 0.6, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.6, 0.1]]))
    assert [labels[i] for i in viterbi(logp, labels)] == ["B-PER", "E-PER"]
    # argmax would say I-PER first: invalid; Viterbi picks the best valid path
    logp = np.log(np.array([[0.3, 0.1, 0.5, 0.05, 0.05], [0.8, 0.05, 0.05, 0.05, 0.05]]))
    assert [labels[i] for i in viterbi(logp, labels)] == ["O", "O"]
