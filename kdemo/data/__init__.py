"""Tables and labels: reading files into checked tables, recognising the task, tokenized datasets and batches.

Nothing here knows a model: :mod:`kdemo.text` turns tables into tokenized datasets for one checkpoint.
"""
