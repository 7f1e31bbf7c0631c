"""``python -m kdemo publish-space MODEL_DIR REPO_ID``: a live demo Space of a pushed model (:mod:`kdemo.hub.space`)."""

from __future__ import annotations

import argparse
import os


def add_parser(sub, fmt) -> None:
    """Add the ``publish-space`` subcommand to ``python -m kdemo``'s subparsers.

    Args:
        sub: The ``add_subparsers`` object of the main parser.
        fmt: The help formatter class.
    """
    p = sub.add_parser("publish-space", help="publish a live demo Space of a pushed model", formatter_class=fmt,
                       description="Create or update a Gradio Space (app.py, requirements.txt, README.md) that demos "
                                   "the model REPO_ID, in one commit; --local-dir writes the files instead.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="predictor folder written by 'train' (pushed as REPO_ID)")
    p.add_argument("repo_id", metavar="REPO_ID", help="the model's repo id, user-or-org/name")
    p.add_argument("--space-id", metavar="ID", help="the Space's id (default: REPO_ID-demo)")
    vis = p.add_mutually_exclusive_group()
    vis.add_argument("--private", dest="private", action="store_true", default=None,
                     help="private Space (default: private when the model is)")
    vis.add_argument("--public", dest="private", action="store_false", help="public Space")
    p.add_argument("--local-dir", metavar="DIR", help="write the Space's files into DIR instead of uploading them")
    p.add_argument("--token", help="write token (default: the HF_TOKEN environment variable or the cached login)")


def run_publish_space(args: argparse.Namespace) -> int:
    """Publish (or, with ``--local-dir``, write) the demo Space; prints its URL. Returns the exit status 0.

    Raises:
        HubError: If the Hub refuses the token, the repo id is malformed, or the upload fails.
    """
    from kdemo.hub.space import publish_space

    token = args.token or os.environ.get("HF_TOKEN") or None
    result = publish_space(args.model_dir, args.repo_id, space_id=args.space_id, token=token, private=args.private,
                           local_dir=args.local_dir)
    print(f"{'written' if result.commit_url is None else 'published'}: {result.url}")
    return 0
