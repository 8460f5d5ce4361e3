"""``losses_core.lazy.export_lazily``: exports imported on first access."""

from __future__ import annotations

import sys
import types

import pytest

PACKAGE = """
from losses_core.lazy import export_lazily

__all__ = ["alpha", "helper", "tools"]
export_lazily(__name__, {"alpha": "alpha", "helper": "_impl"}, submodules=["tools"])
"""


@pytest.fixture
def lazy_package(tmp_path, monkeypatch):
    root = tmp_path / "lazypkg_demo"
    root.mkdir()
    (root / "__init__.py").write_text(PACKAGE, encoding="utf-8")
    (root / "alpha.py").write_text("def alpha():\n    return 'alpha'\n", encoding="utf-8")
    (root / "_impl.py").write_text("def helper():\n    return 'helper'\n", encoding="utf-8")
    (root / "tools.py").write_text("VALUE = 3\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    for name in [m for m in sys.modules if m == "lazypkg_demo" or m.startswith("lazypkg_demo.")]:
        del sys.modules[name]


def test_exports_are_imported_on_first_access_and_stay_the_exported_object(lazy_package):
    import lazypkg_demo

    assert "lazypkg_demo.alpha" not in sys.modules and "lazypkg_demo._impl" not in sys.modules
    assert lazypkg_demo.helper() == "helper" and "lazypkg_demo.alpha" not in sys.modules
    import lazypkg_demo.alpha  # sets the package attribute 'alpha' to the module...

    assert isinstance(lazypkg_demo.alpha, types.FunctionType)  # ...which the package puts back
    assert lazypkg_demo.alpha() == "alpha"
    assert lazypkg_demo.tools.VALUE == 3 and isinstance(lazypkg_demo.tools, types.ModuleType)
    assert dir(lazypkg_demo) == ["alpha", "helper", "tools"]
    with pytest.raises(AttributeError, match="module 'lazypkg_demo' has no attribute 'beta'"):
        lazypkg_demo.beta  # noqa: B018
