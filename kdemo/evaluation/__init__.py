"""Evaluation: task-aware model outputs on labelled data, validation reports and top losses."""
