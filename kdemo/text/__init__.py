"""ktrain's text API: ``texts_from_csv/df/folder`` and the ``Transformer`` preprocessor for one checkpoint."""
