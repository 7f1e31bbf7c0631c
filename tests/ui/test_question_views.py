"""The question-answering views of the app: the highlighted preview, the answers table, the report, the stride."""

from __future__ import annotations

import pandas as pd

from kdemo.evaluation.qa import QAReport
from kdemo.ui.views import questions


def test_highlighted_preview_marks_the_question_and_the_answer_and_cuts_long_contexts():
    long_before = "word " * 100
    preview = [{"where": "row 1", "question": "who?", "answer": "ann",
                "context": [("so ", None), ("ann", "answer"), (" went.", None)]},
               {"where": "row 2", "question": "what?", "answer": None, "context": [(long_before, None)]}]
    spans = questions.highlighted_preview(preview)
    assert spans[0] == ("row 1: who?", "question") and ("ann", "answer") in spans
    assert "".join(t for t, _ in spans[:6]) == "row 1: who?\nso ann went."
    assert ("row 2: what? (no answer)", "question") in spans
    assert len("".join(t for t, _ in spans)) < len(long_before) + 40  # cut to PREVIEW_AROUND either side
    cut = questions._around_answer([("x" * 600, None), ("ann", "answer"), ("y" * 600, None)])
    assert cut[0][0].startswith("…") and cut[2][0].endswith("…") and cut[1] == ("ann", "answer")


def test_answers_frame_and_stride():
    found = [{"answer": "paris", "score": 0.512345, "start": 3, "end": 8}, {"answer": "", "score": 0.1,
                                                                          "start": None, "end": None}]
    table = questions.answers_frame(found)
    assert list(table.columns) == questions.ANSWER_COLUMNS
    assert table.iloc[0].tolist() == ["paris", 0.5123, 3, 8] and table.iloc[1]["answer"] == "(no answer)"
    assert questions.answers_frame([]).empty
    assert [questions.stride_for(m) for m in (384, 64, 16, 512)] == [128, 16, 8, 128]
    assert questions.held_out_contexts(30, 0.1) == 3 and questions.held_out_contexts(1, 0.1) == 0


def test_report_outputs_give_em_f1_the_worst_questions_and_no_figure():
    per_question = pd.DataFrame({"id": ["a", "b"], "question": ["q1", "q2"], "answers": ["x", "y"],
                                 "predicted": ["x", "z"], "exact": [1.0, 0.0], "f1": [100.0, 0.0],
                                 "probability": [0.9, 0.2]})
    report = QAReport(exact_match=50.0, f1=50.0, num_rows=2, num_windows=3, version_2=False,
                      per_question=per_question)
    text, table, figure = questions.report_outputs(report)
    assert "exact match **50.00**" in text and "F1 **50.00**" in text and figure is None
    assert list(table.columns) == questions.WORST_COLUMNS and table.iloc[0]["question"] == "q2"
