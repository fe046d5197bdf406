"""A real BPE tokenizer to measure the estimator against, with nothing to install but
`tokenizers`: Claude's tokenizer.json, as the anthropic SDK shipped it in 0.34 (its last
release with a local tokenizer). Fetched once from PyPI with `pip download` and cached."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "trooper" / "claude-tokenizer.json"
WHEEL = "anthropic==0.34.0"


def tokenizer_path() -> Path:
    if CACHE.exists():
        return CACHE
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary", ":all:", "-d", tmp, WHEEL],
            check=True, timeout=300,
        )
        wheel = next(Path(tmp).glob("anthropic-*.whl"))
        with zipfile.ZipFile(wheel) as archive:
            CACHE.write_bytes(archive.read("anthropic/tokenizer.json"))
    return CACHE


def load():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_path()))
