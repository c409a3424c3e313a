"""The README's configuration table: every setting once, none missing."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from activecommerce.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(ACTIVECOMMERCE_[A-Z0-9_]+)` \|", re.M)


def test_the_configuration_table_lists_every_setting_once() -> None:
    listed = Counter(ROW.findall(README.read_text()))
    assert listed, "no configuration table in README.md"
    twice = sorted(name for name, count in listed.items() if count > 1)
    assert not twice, f"listed more than once in README.md: {twice}"
    prefix = Settings.model_config.get("env_prefix", "")
    settings = {f"{prefix}{name}".upper() for name in Settings.model_fields}
    missing = sorted(settings - set(listed))
    assert not missing, f"settings missing from README.md's configuration table: {missing}"
    unknown = sorted(set(listed) - settings)
    assert not unknown, f"README.md's configuration table lists what is no setting: {unknown}"
