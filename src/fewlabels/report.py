"""Plain-text tables for the terminal: the method comparison and per-class details."""

from __future__ import annotations

from collections.abc import Sequence


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*map(str, row)) for row in rows]
    return "\n".join(out)


def comparison_table(results: Sequence[dict]) -> str:
    """The table comparing methods on the test data.

    Args:
        results: dicts with `name`, `metrics` (from `classification_metrics`: its
            calibration's expected calibration error is the ECE column) and optionally
            `labeled`, `pseudo_labeled`, `epochs`, `wall_s`.

    Returns:
        The table as text.
    """
    header = ["method", "accuracy", "macro-F1", "loss", "ECE", "labeled", "pseudo",
              "epochs/rounds", "time s"]
    rows = [
        [
            r["name"],
            f"{r['metrics']['accuracy']:.4f}",
            f"{r['metrics']['macro_f1']:.4f}",
            f"{r['metrics']['loss']:.4f}",
            f"{r['metrics']['calibration']['ece']:.4f}" if r["metrics"].get("calibration")
            else "",
            r.get("labeled", ""),
            r.get("pseudo_labeled", ""),
            r.get("epochs", r.get("rounds", "")),
            f"{r['wall_s']:.1f}" if "wall_s" in r else "",
        ]
        for r in results
    ]
    return _table(header, rows)


def per_class_table(metrics: dict) -> str:
    """Per-class precision, recall, F1 and support, then the confusion matrix."""
    per_class = metrics["per_class"]
    rows = [
        [name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", m["support"]]
        for name, m in per_class.items()
    ]
    text = _table(["class", "precision", "recall", "F1", "support"], rows)
    names = list(per_class)
    matrix = [[name, *row] for name, row in zip(names, metrics["confusion_matrix"], strict=True)]
    text += "\n\nconfusion matrix (rows: true class, columns: predicted)\n"
    text += _table(["true \\ pred", *names], matrix)
    return text


def rounds_table(rounds: Sequence[dict]) -> str:
    """One line per self-training round: rows accepted, confidence, validation accuracy."""
    has_truth = any("pseudo_label_accuracy" in r for r in rounds)
    header = ["round", "accepted", "total pseudo", "mean conf", "val acc"]
    if has_truth:
        header.append("pseudo-label acc")
    rows = []
    for r in rounds:
        val = r.get("validation", {}).get("accuracy")
        row = [
            r["round"],
            r["accepted"],
            r["pseudo_labeled_total"],
            f"{r['mean_confidence']:.3f}",
            "" if val is None else f"{val:.3f}",
        ]
        if has_truth:
            acc = r.get("pseudo_label_accuracy")
            row.append("" if acc is None else f"{acc:.3f}")
        rows.append(row)
    return _table(header, rows)
