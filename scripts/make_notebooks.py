"""Write the per-task notebooks in notebooks/ (run once after editing; the test suite executes them).

Each notebook trains a shipped recipe on its shipped sample with the embedded encoder, shows the
metrics and plots, and predicts on new inputs. With BERT_TASKS_FAST=1 (set by the test suite) a tiny
random BERT and a few steps replace the real encoder.
"""

from pathlib import Path

import nbformat as nbf

OUT = Path(__file__).resolve().parent.parent / "notebooks"
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell


def setup(recipe: str, run: str, sample_glob: str, steps: int, extra: str = "", lowercase: bool = True) -> str:
    return f'''import os
os.environ.setdefault("HF_HUB_OFFLINE", "1")   # nothing is downloaded
from pathlib import Path
from bert_tasks import load_recipe, train, Predictor, build_tiny_bert

FAST = os.environ.get("BERT_TASKS_FAST") == "1"   # the test suite: tiny model, few steps
overrides = ["train.output_dir=runs/{run}", "overwrite=true"{extra}]
if FAST:
    texts = [p.read_text(encoding="utf-8-sig") for p in Path("../recipes/data").glob("{sample_glob}")]
    overrides += [f"encoder={{build_tiny_bert('runs/tiny_{run}', texts, lowercase={lowercase})}}", "train.max_steps={steps}"]
recipe = load_recipe("{recipe}", overrides)
print(recipe.to_yaml())'''


SHOW = '''from IPython.display import Image, display
import json
print(json.dumps({{k: v for k, v in metrics["{split}"].items() if not isinstance(v, (dict, list))}}, indent=1))
for png in sorted(Path(run_dir).glob("*.png")):
    print(png.name)
    display(Image(filename=str(png)))'''


def notebook(name: str, cells: list) -> None:
    nb = nbf.v4.new_notebook()
    nb.cells = cells
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbf.write(nb, OUT / name)
    print(OUT / name)


notebook("pair_classification.ipynb", [
    md("# Sentence pairs: MRPC paraphrase detection\n\n`[CLS] A [SEP] B [SEP]` with segment ids; the shipped "
       "`mrpc` recipe (2,000 pairs, 408 held out for validation, 500 test pairs). A few minutes on 2 CPU cores."),
    code(setup("mrpc", "nb_mrpc", "mrpc/*.txt", 10, ', "train.num_train_epochs=2"')),
    code("run_dir, metrics = train(recipe)"),
    code(SHOW.format(split="test")),
    md("Pairs are predicted as `(sentence_a, sentence_b)` tuples; the run is a plain `text-classification` model."),
    code('''predictor = Predictor.from_run(run_dir)
pairs = [("The cat sat on the mat.", "A cat was sitting on the mat."), ("Stocks fell sharply.", "The weather was sunny.")]
for pair, p in zip(pairs, predictor.predict(pairs)):
    print(f"{p['label']:15s} {p['score']:.3f}  {pair}")'''),
])

notebook("tagging.ipynb", [
    md("# Named entities: CoNLL-2003 with IOBES tags\n\nA linear layer per token, constrained Viterbi decoding, "
       "seqeval strict metrics. The shipped `conll2003` recipe (60 documents). A few minutes on 2 CPU cores."),
    code(setup("conll2003", "nb_conll", "conll2003/*.txt", 10, ', "train.num_train_epochs=2"')),
    code("run_dir, metrics = train(recipe)"),
    code(SHOW.format(split="test") + '''
print("constrained F1", metrics["test"]["f1"], " argmax F1", metrics["test"]["argmax_f1"],
      " invalid sequences", metrics["test"]["invalid_sequences"], "/", metrics["test"]["argmax_invalid_sequences"])'''),
    md("Raw text gives entity spans with character offsets; token lists give tags per token."),
    code('''predictor = Predictor.from_run(run_dir)
for result in predictor.predict(["Angela Merkel met Emmanuel Macron in Paris on Monday.", ["EU", "rejects", "German", "call"]]):
    print(result["tags"])
    print(result["entities"])'''),
])

notebook("question_answering.ipynb", [
    md("# Extractive QA: SQuAD-format data\n\nStart and end vectors over `[CLS] question [SEP] passage [SEP]`; "
       "long passages in overlapping windows. The shipped `squad` recipe (a SQuAD-Shifts sample for training, "
       "an XQuAD-en sample for test). A few minutes on 2 CPU cores with the embedded encoder."),
    code(setup("squad", "nb_squad", "squad/*.json", 5, ', "train.num_train_epochs=1"')),
    code("run_dir, metrics = train(recipe)"),
    code(SHOW.format(split="test")),
    md("Questions on passages of any length: the answer, its score and character offsets."),
    code('''predictor = Predictor.from_run(run_dir)
passage = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. "
           "It is named after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")
for q in ["Who is the tower named after?", "When was the tower built?"]:
    a = predictor.predict([(q, passage)])[0]
    print(q, "->", repr(a["answer"]), round(a["score"], 2), (a["start"], a["end"]))'''),
])

notebook("multilabel.ipynb", [
    md("# Multi-label and multi-head: GoEmotions\n\nA sigmoid per label with per-label thresholds tuned on "
       "validation (`goemotions`), then two softmax heads on one encoder (`goemotions_multihead`: Ekman group and "
       "sentiment). The shipped sample (4,000 comments). Several minutes on 2 CPU cores."),
    code(setup("goemotions", "nb_goemotions", "goemotions/*.t*", 10, ', "train.num_train_epochs=1"')),
    code("run_dir, metrics = train(recipe)"),
    code(SHOW.format(split="test") + '''
print("macro-F1 with tuned thresholds", round(metrics["test"]["macro_f1"], 4),
      " at 0.5", round(metrics["test"]["macro_f1_at_0.5"], 4))'''),
    code('''predictor = Predictor.from_run(run_dir)
for text, p in zip(["Thank you so much, this made my day!", "Why would anyone do that?"],
                   predictor.predict(["Thank you so much, this made my day!", "Why would anyone do that?"])):
    top = sorted(p["scores"].items(), key=lambda kv: -kv[1])[:3]
    print(text, "->", p["labels"], top)'''),
    md("Two heads, one encoder: losses summed; metrics per head."),
    code('''heads_recipe = load_recipe("goemotions_multihead", overrides + ["train.output_dir=runs/nb_multihead"])
heads_dir, heads_metrics = train(heads_recipe)
for head in ("ekman", "sentiment"):
    print(head, "accuracy", round(heads_metrics["test"][head]["accuracy"], 4), "macro-F1", round(heads_metrics["test"][head]["macro_f1"], 4))
Predictor.from_run(heads_dir).predict(["Thank you so much, this made my day!"])'''),
])

notebook("continued_pretraining.ipynb", [
    md("# Continued pretraining: masked-LM on your text, then fine-tune\n\nThe shipped `sst2_mlm` recipe: BERT's "
       "masked-LM objective with whole-word masking on the 3,000 shipped SST-2 sentences (labels unused), scored on "
       "the dev sentences (masked once, with a fixed seed); then the `sst2` recipe fine-tuned on the result. About "
       "8 minutes on 2 CPU cores."),
    code(setup("sst2_mlm", "nb_mlm", "sst2/*.tsv", 10)),
    code("run_dir, metrics = train(recipe)"),
    code(SHOW.format(split="validation")),
    md("The run is a plain `BertForMaskedLM` folder: the toolkit's predictor and transformers' `fill-mask` "
       "pipeline both fill in `[MASK]` tokens."),
    code('''predictor = Predictor.from_run(run_dir)
texts = ["a [MASK] , witty film .", "the acting is [MASK] ."]
for text, p in zip(texts, predictor.predict(texts)):
    print(text, [m["token"] for m in p["masks"][0]])
from transformers import pipeline
print([p["token_str"] for p in pipeline("fill-mask", model=run_dir)("a [MASK] , witty film .")])'''),
    md("Any other recipe fine-tunes the continued-pretrained encoder with `encoder=<run dir>` (the MLM head is "
       "dropped; the task's head and a new pooler start as for any encoder)."),
    code('''tuned = ["train.output_dir=runs/nb_sst2_from_mlm", "overwrite=true", "train.num_train_epochs=1", f"encoder={run_dir}"]
if FAST:
    tuned += ["train.max_steps=10"]
sst2_dir, sst2_metrics = train(load_recipe("sst2", tuned))
print("SST-2 dev accuracy", round(sst2_metrics["validation"]["accuracy"], 4))'''),
])
