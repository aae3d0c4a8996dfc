"""An evaluation as tables: rows of text shared by the terminal (rich) and the docs (Markdown)."""

from __future__ import annotations

from arctl_lbw.evaluate import CALIBRATION_KEYS, Evaluation, Rates

# "empirical": threshold from the clean arm's scores; "p<=": the nominal rate, flagged when p <= alpha
ATTACK_HEADER = ("attack", "AUC", "TPR@1% empirical", "TPR@0.1% empirical", "TPR p<=0.01", "TPR p<=0.001",
                 "clean p<=0.01", "clean p<=0.001", "green share marked / clean")


def attack_row(name: str, rates: Rates, green_share: tuple[float, float]) -> list[str]:
    return [name, f"{rates.auc:.3f}", *(f"{rates.tpr_empirical[f]:.3f}" for f in rates.tpr_empirical),
            *(f"{rates.tpr_nominal[f]:.3f}" for f in rates.tpr_nominal),
            *(f"{rates.clean_fpr_nominal[f]:.3f}" for f in rates.clean_fpr_nominal),
            f"{green_share[0]:.3f} / {green_share[1]:.3f}"]


def attack_table(evaluation: Evaluation) -> tuple[tuple[str, ...], list[list[str]]]:
    return ATTACK_HEADER, [attack_row(name, rates, evaluation.green_share[name])
                           for name, rates in evaluation.attacks.items()]


def by_scale_table(table: dict[str, dict], value) -> tuple[tuple[str, ...], list[list[str]]] | None:
    """Attacks as rows, counted scales as columns, ``value(cell)`` in each; None for single-scale tokenizers."""
    if not table:
        return None
    labels = list(next(iter(table.values())))
    return ("attack", *labels), [[name, *(f"{value(by_label[label]):.3f}" for label in labels)]
                                 for name, by_label in table.items()]


def quality_table(evaluation: Evaluation) -> tuple[tuple[str, ...], list[list[str]]] | None:
    """Class fidelity and the Fréchet distances of both arms, as far as the model's judges give them."""
    q = evaluation.quality
    if q is None:
        return None
    header, rows = ["images"], [["clean"], ["watermarked"], ["difference"]]
    if "class_fidelity_clean" in q:
        clean, marked = q["class_fidelity_clean"], q["class_fidelity_watermarked"]
        header.append("class fidelity")
        for row, cell in zip(rows, (f"{clean:.3f}", f"{marked:.3f}", f"{marked - clean:+.3f}")):
            row.append(cell)
    if "fd_clean_vs_real" in q:
        clean, marked = q["fd_clean_vs_real"], q["fd_watermarked_vs_real"]
        header += ["FD vs real", "FD vs clean"]
        for row, cells in zip(rows, ((f"{clean:.1f}", "0"), (f"{marked:.1f}", f"{q['fd_watermarked_vs_clean']:.1f}"),
                                     (f"{marked - clean:+.1f}", ""))):
            row.extend(cells)
    return tuple(header), rows


def quality_title(evaluation: Evaluation) -> str:
    """The table's title, naming the judges: "judge shapes", or each score's where they differ."""
    judges = evaluation.quality_judges
    if len(set(judges.values())) == 1:
        return f"Image quality (judge {next(iter(judges.values()))}), no attack"
    named = ", ".join(f"{score.replace('_', ' ')}: {name}" for score, name in judges.items())
    return f"Image quality (judges {named}), no attack"


def tables(evaluation: Evaluation) -> list[tuple[str, tuple[str, ...], list[list[str]]]]:
    """(title, header, rows) of every table this evaluation has."""
    found = [("Detection under attack", *attack_table(evaluation))]
    tpr = by_scale_table(evaluation.scales, lambda rates: rates.tpr_nominal[0.01])
    if tpr:
        found.append(("TPR at p <= 0.01 by counted scales (0 = coarsest)", *tpr))
    green = by_scale_table(evaluation.green_share_by_scale, float)
    if green:
        found.append(("Green share of the watermarked images on their own list, by counted scales", *green))
    quality = quality_table(evaluation)
    if quality:
        found.append((quality_title(evaluation), *quality))
    return found


def markdown(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def print_tables(evaluation: Evaluation, console) -> None:
    """The tables with rich, then the settings and notes as plain lines."""
    from rich.table import Table

    for title, header, rows in tables(evaluation):
        table = Table(title=title, title_justify="left")
        for index, column in enumerate(header):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
    console.print(summary(evaluation), markup=False, highlight=False)
    console.print(f"calibration: {calibration(evaluation)}", markup=False, highlight=False)
    for note in evaluation.notes:
        console.print(f"note: {note}", markup=False, highlight=False)


def summary(evaluation: Evaluation) -> str:
    options = ", ".join(f"{k}={v}" for k, v in evaluation.options.items())
    return (f"{evaluation.model}: {evaluation.num} clean and {evaluation.num} watermarked images, seed "
            f"{evaluation.seed}, key {evaluation.key}; LBW {options}; counted scales "
            f"{evaluation.counted_scales} of {evaluation.num_scales}")


def calibration(evaluation: Evaluation) -> str:
    rates = " / ".join(f"{rate:.4f}" for rate in evaluation.clean_fpr_over_keys.values())
    alphas = " / ".join(f"{fpr:g}" for fpr in evaluation.clean_fpr_over_keys)
    return f"unattacked clean images with p <= {alphas}, mean over {CALIBRATION_KEYS} other keys: {rates}"
