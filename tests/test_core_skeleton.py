"""The compiled core (fsrace._core, built from core/) is importable and versioned."""
import re

import fsrace._core as core


def test_core_has_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", core.__version__)
