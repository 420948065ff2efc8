"""The ``gridedge catalog`` subcommands: serve, token, seed."""

import argparse
import secrets
from typing import TextIO

from gridedge import config
from gridedge.catalog.auth import sha256_hex
from gridedge.catalog.config import SECTION, CatalogConfig


def run(args: argparse.Namespace, *, stream: TextIO) -> int:
    """Run the subcommand `args.action`; return the exit status."""
    if args.action == "token":
        token = secrets.token_urlsafe(32)
        print(f"token:  {token}", file=stream)
        print(f"sha256: {sha256_hex(token)}  (catalog.admin_token_sha256)", file=stream)
        return 0
    settings = config.load(CatalogConfig, args.config, section=SECTION)
    if args.action == "serve":
        from gridedge.catalog.server import serve

        serve(settings)
        return 0
    from gridedge.catalog.seed import seed

    seed(settings, args.case, stream=stream)
    return 0
