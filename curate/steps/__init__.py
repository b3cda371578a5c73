"""Built-in steps, one module per family. Importing this package imports every module in it, and
each module registers its steps with ``@register_step`` (curate.pipeline.step)."""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
