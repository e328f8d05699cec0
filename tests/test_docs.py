"""The docs' example outputs are what the code prints now (docs/examples.py)."""

import importlib.util
import runpy
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples.py"


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None,
                    reason="the evaluation example's PCKh row needs the pose extra (make install-pose)")
def test_every_example_block_in_the_docs_is_what_its_commands_print_now(capsys):
    main = runpy.run_path(str(EXAMPLES))["main"]
    code = main(["--check"])
    assert code == 0, capsys.readouterr().out  # rerun `python docs/examples.py` and review the diff
