"""Finding the training examples that are probably mislabeled (issue 27).

Two ways, one result (:class:`~kdemo.run.label_issues.result.LabelIssues`):

- thorough: out-of-sample predictions by K-fold cross-validation (:mod:`kdemo.run.label_issues.cross_val`), each fold a
  real :func:`kdemo.train` run, given to cleanlab's confident learning (Northcutt, Jiang and Chuang 2021, "Confident
  Learning: Estimating Uncertainty in Dataset Labels", JAIR 70) through one adapter per task (the task spec's
  ``label_issues`` role: :mod:`~kdemo.run.label_issues.classes`, :mod:`~kdemo.run.label_issues.regression`,
  :mod:`~kdemo.run.label_issues.tokens`);
- quick: one run's training dynamics drawn as a data map (Swayamdipta et al. 2020), in
  ``kdemo.run.label_issues.data_map``.

:func:`kdemo.run.label_issues.api.find_label_issues` (``kdemo.find_label_issues``) is the door; the corrections a person
decides on are applied and written by :mod:`kdemo.run.label_issues.corrections`.
"""
