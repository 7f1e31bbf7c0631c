"""The Hugging Face Hub, on folders: model cards, pushing a saved folder, downloading a checkpoint folder.

Like ``huggingface_hub``'s ``ModelHubMixin``, this package works on saved folders and never on predictors, so it
sits below :mod:`kdemo.inference`.
"""
