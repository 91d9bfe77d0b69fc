"""Source checks: no code path unpickles or turns off Keras's safe mode."""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
FORBIDDEN = re.compile(r"pickle\.loads?\(|joblib\.load\(|allow_pickle\s*=\s*True|"
                       r"safe_mode\s*=\s*False|enable_unsafe_deserialization")


def test_library_source_never_unpickles_or_disables_safe_mode():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name.endswith("_test.py"):
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(PACKAGE)}:{lineno}: {line.strip()}")
    assert offenders == []


def test_the_scan_catches_what_it_looks_for():
    assert FORBIDDEN.search("x = pickle.load(f)")
    assert FORBIDDEN.search("np.load(p, allow_pickle=True)")
    assert FORBIDDEN.search("keras.saving.load_model(p, safe_mode=False)")
