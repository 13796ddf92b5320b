"""The README's example runs as written, and its commands are the ones CI runs."""

import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"

pytestmark = pytest.mark.skipif(not README.exists(), reason="run from a source checkout")


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_readme_example_trains():
    (example,) = python_blocks(README)
    namespace = {}
    exec(compile(example, str(README), "exec"), namespace)
    # The chapter-10 loop ran to its end: the loss fell from log(3) (uniform guesses).
    loss = namespace["loss"]
    assert np.isfinite(loss) and loss < 0.9 * np.log(3)
    assert namespace["optimizer"].iterations == 10001


def test_readme_test_command_is_what_ci_runs():
    commands = re.findall(r"```sh\n(.*?)\n```", README.read_text(), flags=re.S)
    assert 'pip install ".[test]" && pytest' in commands
    ci_run = ROOT / ".ci" / "run"
    if not ci_run.exists():
        pytest.skip("no .ci/run here (an unpacked sdist)")
    ci = ci_run.read_text()
    # The README's line, stopping the run if it fails (set -e does not stop at a failure
    # before &&).
    assert '\npip install ".[test]" && pytest || exit 1\n' in ci


def test_readme_is_short():
    words = len(README.read_text().split())
    assert words < 1000, f"README.md has {words} words"


def test_book_page_imports_exist():
    (imports,) = python_blocks(ROOT / "docs" / "book.md")
    exec(compile(imports, "docs/book.md", "exec"), {})
