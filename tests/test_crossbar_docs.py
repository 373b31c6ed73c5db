"""The Python example of docs/crossbar.md runs as written."""

import re
from pathlib import Path


def test_docs_example_runs():
    text = (Path(__file__).resolve().parent.parent / "docs" / "crossbar.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    scope = {}
    exec(compile(code, "docs/crossbar.md", "exec"), scope)
    assert scope["a_in"].shape == (32,)
    assert scope["xb"].weights().shape == (64, 32)
