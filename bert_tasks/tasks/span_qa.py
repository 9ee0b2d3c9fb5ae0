"""Extractive span QA (BERT paper, section 4.2): ``[CLS] question [SEP] passage [SEP]``.

A start vector and an end vector are scored against every token (the standard
``AutoModelForQuestionAnswering`` head: a run is a plain HF QA model folder;
transformers 5 removed ``pipeline("question-answering")``, so the toolkit's
``Predictor`` answers raw questions); softmax over positions; the answer is the
best valid span.

* Passages longer than ``data.max_length`` are split into windows overlapping by
  ``task.doc_stride`` tokens (HF's names); the offset mapping is kept.
* Training labels are the answer's first and last token, or the ``[CLS]``
  position when the answer is outside the window or there is none. With
  ``train_answers: all`` a training question with several distinct gold spans
  is trained on each of them (one row per span); the default uses the first.
* Post-processing: the ``n_best`` start and end positions of every window;
  spans inside the passage, end >= start, at most ``max_answer_length`` tokens;
  the best span over all windows of a question, cut from the passage by
  character offsets. For data with unanswerable questions a null score per
  question (the lowest ``[CLS]`` score over its windows) and a no-answer
  threshold tuned on validation for best F1 (``null_threshold: auto``), saved
  in ``qa_threshold.json`` and used by the predictor.
* Questions longer than ``task.max_question_length`` tokens are cut to it (BERT's
  ``max_query_length``), so a window always has room for the passage.
* Data checks: an ``answer_start`` whose text does not match the passage is
  moved to the occurrence of the answer text nearest to it; a training question
  whose answer text is nowhere in its passage is dropped, with a warning naming
  it; in validation and test it stays, scored by its answer text (as SQuAD's
  evaluation scores), its ``answer_start`` -1 and listed after those found.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..config_check import closest
from ..data import check_text_column
from ..errors import UserError, shown
from ..metrics.squad import best_null_threshold, squad_metrics
from ..rundir import write_json
from .base import TaskAdapter, TaskOptions, encode_quietly, is_str_pair, register_task

log = logging.getLogger("bert_tasks")
THRESHOLD = "qa_threshold.json"


def _check_unique_ids(ids: list[str], where: str) -> None:
    first: dict[str, int] = {}
    for row, qid in enumerate(ids):
        if qid in first:
            raise UserError(
                f"{where}: question id '{qid}' is on rows {first[qid] + 1} and {row + 1}; ids must be unique, as "
                f"the predictions file is keyed by them"
            )
        first[qid] = row


def _as_answer_lists(ans: Any) -> Any:
    """SQuAD JSON's own per-question layout, a list of ``{text, answer_start}`` records (as a JSON-lines
    export of it keeps them), as ``{text: [...], answer_start: [...]}``; anything else as it is."""
    if isinstance(ans, list) and all(isinstance(a, dict) and set(a) >= {"text", "answer_start"} for a in ans):
        return {"text": [a["text"] for a in ans], "answer_start": [a["answer_start"] for a in ans]}
    return ans


def _answers_shape_ok(ans: Any) -> bool:
    """``ans`` is ``{text: [str, ...], answer_start: [int, ...]}`` with lists of equal length."""
    if not isinstance(ans, dict):
        return False
    texts, starts = ans.get("text"), ans.get("answer_start")
    return (
        isinstance(texts, list) and isinstance(starts, list) and len(texts) == len(starts)
        and all(isinstance(t, str) for t in texts)
        and all(isinstance(s, int) and not isinstance(s, bool) for s in starts)
    )


@dataclass
class SpanQAOptions(TaskOptions):
    doc_stride: int = field(default=128, metadata={"help": "Tokens shared by consecutive windows of a passage."})
    max_question_length: int = field(
        default=64,
        metadata={"help": "Longest question, in tokens; longer ones are cut to it (BERT's max_query_length)."},
    )
    max_answer_length: int = field(default=30, metadata={"help": "Longest answer, in tokens."})
    n_best: int = field(default=20, metadata={"help": "Start/end candidates per window."})
    null_threshold: float | Literal["auto"] | None = field(
        default="auto",
        metadata={"help": "No-answer margin: auto (tuned on validation when it has unanswerable questions), "
                  "a float, or null (always answer)."},
    )
    train_answers: Literal["first", "all"] = field(
        default="first",
        metadata={"help": "Which gold answers of a training question become training targets: first (HF's "
                  "run_qa) or all (one copy of the question per distinct answer span, as SQuAD-Shifts and "
                  "SQuAD dev list several annotators' answers)."},
    )


def cut_questions(tokenizer: Any, questions: list[str], limit: int) -> tuple[list[str], list[int]]:
    """Each question cut after its ``limit``-th token (the text up to that token's end), and its token count."""
    offsets = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    cut = [q if len(offs) <= limit else q[: offs[limit - 1][1]] for q, offs in zip(questions, offsets)]
    return cut, [min(len(offs), limit) for offs in offsets]


@register_task
class SpanQA(TaskAdapter):
    """Start/end span extraction over windows of long passages."""

    name = "span_qa"
    Options = SpanQAOptions
    column_roles = ("id", "question", "context", "answers")
    default_metric = "f1"
    no_label_smoothing = "its loss is over start and end positions, which Trainer's smoother never sees"

    def __init__(self, options: SpanQAOptions):
        super().__init__(options)
        self.rows: dict = {}
        self.features: dict = {}
        self.threshold: float | None = options.null_threshold if isinstance(options.null_threshold, float) else None

    # -- data ---------------------------------------------------------------
    def prepare(self, splits: dict, sources: dict[str, str], columns: dict | None = None) -> dict:
        col = {r: (columns or {}).get(r, r) for r in self.column_roles}
        out = {}
        for split, ds in splits.items():
            source = sources.get(split, "data")
            needed = ["question", "context"] + (["answers"] if split != "test" else [])
            missing = [col[r] for r in needed if col[r] not in ds.column_names]
            if missing:
                raise UserError(
                    f"{split} split ({source}): span QA needs columns question, context and answers "
                    f"(SQuAD JSON, or JSON rows with answers {{text: [...], answer_start: [...]}}); missing "
                    + ", ".join(f"'{m}'{closest(m, ds.column_names)}" for m in missing)
                    + f"; the data has {ds.column_names}. Map them with data.columns.<role>=<column>"
                )
            for role in ("question", "context"):
                check_text_column(ds, col[role], f"{split} split ({source})", role)
            ids = [str(x) for x in ds[col["id"]]] if col["id"] in ds.column_names else [str(i) for i in range(len(ds))]
            if split != "train":  # predictions_<split>.json is keyed by id: a repeated one would hide a prediction
                _check_unique_ids(ids, f"{split} split ({source})")
            rows = {"id": ids, "question": ds[col["question"]], "context": ds[col["context"]]}
            if col["answers"] in ds.column_names:
                rows["answers"], keep = self._check_answers(ds[col["answers"]], rows["context"], ids, split, source)
                rows = {k: [v[i] for i in keep] for k, v in rows.items()}
                if split == "train" and self.options.train_answers == "all":
                    rows = self._one_row_per_answer(rows)
            from datasets import Dataset

            out[split] = Dataset.from_dict({**rows, "__index": list(range(len(rows["id"])))})
        return out

    @staticmethod
    def _check_answers(answers: list, contexts: list, ids: list, split: str, source: str):
        fixed, keep, moved, unplaced = [None] * len(answers), [], 0, []
        for i, (ans, ctx) in enumerate(zip(answers, contexts)):
            ans = _as_answer_lists(ans)
            if not _answers_shape_ok(ans):
                raise UserError(
                    f"{split} split ({source}), row {i + 1} (id {ids[i]}): answers must be "
                    f"{{text: [str, ...], answer_start: [int, ...]}}, lists of equal length (empty: no answer), or a "
                    f"list of {{text, answer_start}} records; "
                    f"got {shown(ans)}"
                )
            if not all(t.strip() for t in ans["text"]):
                raise UserError(
                    f"{split} split ({source}), row {i + 1} (id {ids[i]}): an answer text is blank, got {shown(ans)}; "
                    f"a question without an answer has empty lists"
                )
            texts, starts, lost = [], [], []
            for text, start in zip(ans["text"], ans["answer_start"]):
                if start >= 0 and ctx[start : start + len(text)] == text:
                    texts.append(text)
                    starts.append(start)
                    continue
                found = [j for j in range(len(ctx)) if ctx.startswith(text, j)] if text else []
                if found:
                    starts.append(min(found, key=lambda j: abs(j - start)))
                    texts.append(text)
                    moved += 1
                else:
                    lost.append(text)
            if lost and not texts:  # not one of its answers is in the passage
                unplaced.append(ids[i])
            if lost and split != "train":  # scored by text, as SQuAD's evaluation does; no span (start -1), last
                texts, starts = texts + lost, starts + [-1] * len(lost)
            if texts or not lost:  # train keeps the answers that were found
                fixed[i] = {"text": texts, "answer_start": starts}
                keep.append(i)
        if moved:
            log.warning("%s split (%s): %d answer_start offsets did not match their text; moved to the nearest "
                        "occurrence of the answer text", split, source, moved)
        if unplaced and split == "train":
            log.warning("%s split (%s): %d question(s) dropped, their answer text is not in the passage "
                        "(first: id %s)", split, source, len(unplaced), unplaced[0])
        elif unplaced:  # before: dropped here too, so that the split's scores left them out
            log.warning("%s split (%s): %d question(s) whose answer text is not in the passage, scored by that text "
                        "all the same (their loss takes no answer as the target; first: id %s)",
                        split, source, len(unplaced), unplaced[0])
        return fixed, keep

    @staticmethod
    def _one_row_per_answer(rows: dict) -> dict:
        """A training question with several distinct answer spans becomes one row per span (same id)."""
        out: dict = {k: [] for k in rows}
        for i, ans in enumerate(rows["answers"]):
            spans = dict.fromkeys(zip(ans["text"], ans["answer_start"]))
            for one in [{"text": [t], "answer_start": [s]} for t, s in spans] or [ans]:  # no answer: row as is
                for k, v in rows.items():
                    out[k].append(one if k == "answers" else v[i])
        return out

    def attach(self, rows: dict, features: dict) -> None:
        self.rows, self.features = rows, features

    # -- features -----------------------------------------------------------
    def encode_fn(self, tokenizer: Any, max_length: int):
        stride, max_question = min(self.options.doc_stride, max_length // 2), self.options.max_question_length
        if max_question < 1 or stride < 0:
            raise UserError(f"task.max_question_length must be at least 1 and task.doc_stride at least 0, got "
                            f"{max_question} and {self.options.doc_stride}")
        pad_right = tokenizer.padding_side == "right"
        specials = tokenizer.num_special_tokens_to_add(pair=True)

        def encode(batch: dict) -> dict:
            questions, lengths = cut_questions(tokenizer, [q.lstrip() for q in batch["question"]], max_question)
            for i, n in enumerate(lengths):
                room = max_length - specials - n  # passage tokens per window
                if stride >= room:  # the tokenizer would abort: windows could not advance
                    who = f"question id {batch['id'][i]}" if "id" in batch else f"input {batch['__index'][i] + 1}"
                    raise UserError(
                        f"{who} ({questions[i][:40]!r}) has {n} tokens: with "
                        f"data.max_length={max_length} a window holds {max(room, 0)} passage tokens, not more than "
                        f"the {stride} shared by consecutive windows (task.doc_stride); lower task.doc_stride or "
                        f"task.max_question_length, or raise data.max_length"
                    )
            enc = tokenizer(
                questions if pad_right else batch["context"],
                batch["context"] if pad_right else questions,
                truncation="only_second" if pad_right else "only_first",
                max_length=max_length,
                stride=stride,
                return_overflowing_tokens=True,
                return_offsets_mapping=True,
            )
            sample = enc.pop("overflow_to_sample_mapping")
            starts, ends, examples, offsets = [], [], [], []
            for f, offs in enumerate(enc["offset_mapping"]):
                ex = sample[f]
                seq = enc.sequence_ids(f)
                ctx_id = 1 if pad_right else 0
                offs = [o if seq[k] == ctx_id else None for k, o in enumerate(offs)]
                offsets.append(offs)
                examples.append(batch["__index"][ex])
                s_tok = e_tok = 0
                answers = batch["answers"][ex] if "answers" in batch else None
                if answers and answers["text"] and answers["answer_start"][0] >= 0:  # -1: text not in the passage
                    a_start = answers["answer_start"][0]
                    a_end = a_start + len(answers["text"][0])
                    ctx = [k for k, o in enumerate(offs) if o is not None]
                    if ctx and offs[ctx[0]][0] <= a_start and offs[ctx[-1]][1] >= a_end:
                        s_tok = next(k for k in ctx if offs[k][1] > a_start)
                        e_tok = next(k for k in reversed(ctx) if offs[k][0] < a_end)
                starts.append(s_tok)
                ends.append(e_tok)
            enc["offset_mapping"] = offsets
            enc["example"] = examples
            enc["start_positions"] = starts
            enc["end_positions"] = ends
            return enc

        return encode

    # -- model --------------------------------------------------------------
    def build_model(self, encoder_path: str, **load_kwargs: Any):
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering.from_pretrained(encoder_path, **self.options.model_config, **load_kwargs)

    @classmethod
    def load_model(cls, run_dir: str) -> Any:
        from transformers import AutoModelForQuestionAnswering

        return AutoModelForQuestionAnswering.from_pretrained(run_dir, use_safetensors=True)

    # -- post-processing ----------------------------------------------------
    def best_spans(self, start_logits: np.ndarray, end_logits: np.ndarray, features: Any, contexts: list[str]):
        """Per example: (answer text, span score, null score, n-best list, (char start, char end)).

        ``start_logits``/``end_logits``: (features, positions), padded with any value past each row.
        """
        n_best, max_len = self.options.n_best, self.options.max_answer_length
        best: list[dict] = [{"score": -np.inf, "text": "", "span": None, "null": np.inf, "cands": []} for _ in contexts]
        for f, (ex, offsets) in enumerate(zip(features["example"], features["offset_mapping"])):
            s_log, e_log = start_logits[f][: len(offsets)], end_logits[f][: len(offsets)]
            entry = best[ex]
            entry["null"] = min(entry["null"], float(s_log[0] + e_log[0]))
            s_top = np.argsort(s_log)[::-1][:n_best]
            e_top = np.argsort(e_log)[::-1][:n_best]
            for s in s_top:
                if offsets[s] is None:
                    continue
                for e in e_top:
                    if offsets[e] is None or e < s or e - s + 1 > max_len:
                        continue
                    score = float(s_log[s] + e_log[e])
                    c0, c1 = offsets[s][0], offsets[e][1]
                    entry["cands"].append((score, c0, c1))
                    if score > entry["score"]:
                        entry.update(score=score, span=(c0, c1), text=contexts[ex][c0:c1])
        for entry, ctx in zip(best, contexts):
            seen, top = set(), []
            for score, c0, c1 in sorted(entry.pop("cands"), reverse=True):
                if (c0, c1) not in seen:
                    seen.add((c0, c1))
                    top.append({"text": ctx[c0:c1], "score": score, "start": c0, "end": c1})
                if len(top) == n_best:
                    break
            entry["n_best"] = top
        return best

    def answers(self, best: list[dict], threshold: float | None) -> list[str]:
        if threshold is None:
            return [b["text"] for b in best]
        return ["" if b["null"] - b["score"] > threshold else b["text"] for b in best]

    def _logits(self, predictions: Any) -> tuple[np.ndarray, np.ndarray]:
        start, end = predictions[0], predictions[1]
        return np.asarray(start), np.asarray(end)

    def _gold(self, rows: Any) -> list[list[str]]:
        return [list(a["text"]) for a in rows["answers"]]

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        split = self.eval_split
        start, end = self._logits(eval_pred.predictions)
        if split not in self.features or len(self.features[split]) != len(start):
            raise ValueError("span_qa compute_metrics scores windows of a known split only: call "
                             "trainer.predict(trainer.job.features[<split>]) or trainer.evaluate()")
        rows = self.rows[split]
        best = self.best_spans(start, end, self.features[split], rows["context"])
        gold = self._gold(rows)
        threshold = self.threshold
        if self.options.null_threshold == "auto" and any(not g for g in gold):
            threshold, _ = best_null_threshold([b["null"] - b["score"] for b in best], [b["text"] for b in best], gold)
        return squad_metrics(self.answers(best, threshold), gold)

    def metric_names(self) -> list[str] | None:
        if "validation" not in self.rows:
            return None
        gold = self._gold(self.rows["validation"])  # the has_ans/no_ans figures depend on the gold answers
        return list(squad_metrics([""] * len(gold), gold))

    def calibrate(self, output: Any) -> None:
        rows = self.rows["validation"]
        gold = self._gold(rows)
        if self.options.null_threshold != "auto" or all(gold):
            return
        start, end = self._logits(output.predictions)
        best = self.best_spans(start, end, self.features["validation"], rows["context"])
        self.threshold, f1 = best_null_threshold([b["null"] - b["score"] for b in best], [b["text"] for b in best], gold)
        log.info("no-answer threshold tuned on validation: %.4f (F1 %.4f)", self.threshold, f1)

    def save(self, run_dir: str) -> None:
        write_json(Path(run_dir) / THRESHOLD, {"null_threshold": self.threshold})

    def report(self, split: str, rows: Any, output: Any, run_dir: str) -> dict:
        start, end = self._logits(output.predictions)
        best = self.best_spans(start, end, self.features[split], rows["context"])
        answers = self.answers(best, self.threshold)
        write_json(Path(run_dir) / f"predictions_{split}.json", dict(zip(rows["id"], answers)))
        write_json(Path(run_dir) / f"nbest_{split}.json", {i: b["n_best"] for i, b in zip(rows["id"], best)})
        if "answers" not in rows.column_names:
            return {}
        gold = self._gold(rows)
        metrics = squad_metrics(answers, gold)
        metrics["windows"] = len(self.features[split])
        metrics["questions"] = len(rows)
        # Questions whose answer lies beyond the first window vs the rest (long-passage handling).
        beyond = self.beyond_first_window(rows, self.features[split])
        for name, keep in (("beyond_first_window", beyond), ("in_first_window", [not b for b in beyond])):
            idx = [i for i, k in enumerate(keep) if k and gold[i]]
            part = squad_metrics([answers[i] for i in idx], [gold[i] for i in idx]) if idx else {}
            metrics[f"{name}_f1"] = part.get("f1", 0.0)
            metrics[f"{name}_exact_match"] = part.get("exact_match", 0.0)
            metrics[f"{name}_total"] = len(idx)
        return metrics

    @staticmethod
    def beyond_first_window(rows: Any, features: Any) -> list[bool]:
        """Whether each question's first gold answer ends after the passage text of its first window."""
        first_end: dict[int, int] = {}
        for ex, offsets in zip(features["example"], features["offset_mapping"]):
            if ex not in first_end:
                first_end[ex] = max((o[1] for o in offsets if o is not None), default=0)
        out = []
        for i, ans in enumerate(rows["answers"]):
            if not ans["text"] or ans["answer_start"][0] < 0:  # no answer, or its text not in the passage
                out.append(False)
                continue
            end = ans["answer_start"][0] + len(ans["text"][0])
            out.append(end > first_end.get(i, 0))
        return out

    def summary(self) -> dict:
        return {"windows": {s: len(f) for s, f in self.features.items()}, "doc_stride": self.options.doc_stride}

    # -- prediction ---------------------------------------------------------
    @classmethod
    def from_run(cls, options: SpanQAOptions, model: Any, run_dir: str) -> SpanQA:
        adapter = cls(options)
        path = Path(run_dir) / THRESHOLD
        if path.is_file():
            adapter.threshold = json.loads(path.read_text(encoding="utf-8"))["null_threshold"]
        return adapter

    input_fields = ("question", "context")
    input_help = "a (question, context) pair of str, the question not blank"

    @classmethod
    def accepts(cls, x: Any) -> bool:  # a blank question asks nothing (a blank passage: no answer)
        return is_str_pair(x) and bool(x[0].strip())

    def make_input(self, row: dict) -> Any:
        if "question" not in row or "context" not in row:
            raise UserError(f"an input row needs 'question' and 'context'; its fields: {list(row)}")
        return (row["question"], row["context"])

    def predict(self, model: Any, tokenizer: Any, inputs: list, batch_size: int = 32, max_length: int = 384) -> list[dict]:
        """Answer ``(question, passage)`` pairs of any length.

        Returns per input ``answer`` ("" for no answer), ``score``, ``start``/``end``
        (character offsets in the passage) and ``n_best``.
        """
        import torch
        from datasets import Dataset

        rows = Dataset.from_dict({"question": [q for q, _ in inputs], "context": [c for _, c in inputs],
                                  "__index": list(range(len(inputs)))})
        feats = encode_quietly(rows, self.encode_fn(tokenizer, max_length))
        model.eval()
        starts, ends = [], []
        with torch.inference_mode():
            for i in range(0, len(feats), batch_size):
                batch = feats[i : i + batch_size]
                keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch]
                enc = tokenizer.pad({k: batch[k] for k in keys}, return_tensors="pt").to(model.device)
                out = model(**enc)
                starts += list(out.start_logits.float().cpu().numpy())
                ends += list(out.end_logits.float().cpu().numpy())
        width = max((len(x) for x in starts), default=0)
        s_arr = np.full((len(starts), width), -1e9, dtype=np.float32)
        e_arr = np.full((len(ends), width), -1e9, dtype=np.float32)
        for i, (s, e) in enumerate(zip(starts, ends)):
            s_arr[i, : len(s)], e_arr[i, : len(e)] = s, e
        best = self.best_spans(s_arr, e_arr, feats, [c for _, c in inputs])
        answers = self.answers(best, self.threshold)
        return [
            {"answer": a, "score": b["score"] if b["span"] else None, "start": b["span"][0] if a and b["span"] else None,
             "end": b["span"][1] if a and b["span"] else None, "n_best": b["n_best"][:5]}
            for a, b in zip(answers, best)
        ]
