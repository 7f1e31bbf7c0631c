"""The models a run may use, as the front doors (the app, the CLI) see them: the default checkpoint, which names
and local folders are allowed (:class:`FolderPolicy`), resolving a name to what loads, and its tokenizer.

The doors ask here instead of reaching into :mod:`kdemo.modeling`; the rules themselves live in
:mod:`kdemo.modeling.sources` and :mod:`kdemo.modeling.classifier`.
"""

from kdemo.modeling.classifier import DEFAULT_MODEL_ID, load_tokenizer, resolve_model_source
from kdemo.modeling.sources import DEFAULT_POLICY, SESSION_FOLDER_PREFIX, FolderPolicy, shown
from kdemo.training.learner import FAST_FREEZE_LOWER

__all__ = ["DEFAULT_MODEL_ID", "DEFAULT_POLICY", "FAST_FREEZE_LOWER", "SESSION_FOLDER_PREFIX", "FolderPolicy",
           "load_tokenizer", "resolve_model_source", "shown"]
