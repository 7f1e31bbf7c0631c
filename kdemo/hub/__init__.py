"""The Hugging Face Hub, on folders: model cards, pushing a saved folder, downloading a checkpoint folder.

Like ``huggingface_hub``'s ``ModelHubMixin``, this package works on saved folders and never on predictors, so it
sits below :mod:`kdemo.inference`. :mod:`kdemo.hub.folder` is the saved folder's schema (which file owns which
fact); :mod:`kdemo.hub.card` writes the card from it, :mod:`kdemo.hub.push` uploads it, :mod:`kdemo.hub.download`
fetches a checkpoint folder.
"""
