"""Evaluation results as people read them: the tables mfr.evaluate prints (results.json holds every figure)."""

from __future__ import annotations

NA = "n/a"


def _num(value, digits: int = 4) -> str:
    return NA if value is None else f"{value:.{digits}f}"


def _verification_row(set_name: str, label: str, m: dict, fars: list[str]) -> list[str]:
    acc = NA if m.get("acc") is None else f"{m['acc']:.4f}±{m['acc_std']:.4f}"
    tars = [NA if m["tar_at_far"].get(f) is None else f"{m['tar_at_far'][f]['tar']:.4f}" for f in fars]
    best = NA if m.get("best_threshold") is None else f"{m['best_threshold']:.3f} ({m['best_threshold_acc']:.4f})"
    return [
        set_name,
        label,
        str(m["pairs"]),
        f"{m['genuine']}/{m['impostor']}",
        acc,
        _num(m.get("auc")),
        _num(m.get("eer")),
        *tars,
        best,
    ]


def _identification_row(set_name: str, label: str, m: dict) -> list[str]:
    gallery = (
        f"{m['gallery_identities']} ({m['gallery_images']})" if "gallery_images" in m else str(m["gallery_identities"])
    )
    return [set_name, label, str(m["probes"]), gallery, _num(m.get("rank1")), _num(m.get("rank5"))]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))  # noqa: E731
    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def set_notes(result: dict) -> list[str]:
    """Everything a reader of the table should know about one set: skips, n/a reasons, detector fallbacks."""
    notes = list(result["notes"])
    notes += [
        f"all {m['pairs']} pairs are {m['title']} pairs, so the 'all' row is that row"
        for m in result["protocols"].values()
        if m.get("every_pair")
    ]
    for section in ("protocols", "identification"):
        notes += [
            f"{pid}: {n}" for pid, m in result[section].items() for n in m["notes"] if not n.startswith("TAR@FAR")
        ]
    if any(n.startswith("TAR@FAR") for m in result["protocols"].values() for n in m["notes"]):
        notes.append(
            "TAR@FAR=f is n/a where a protocol has fewer than 1/f impostor pairs (one false accept would exceed f)"
        )
    embedding = result["embedding"]
    notes += [
        f"embedding: {count} of {embedding['images']} images: {what}" for what, count in embedding["notes"].items()
    ]
    if result.get("attention"):
        a = result["attention"]
        notes.append(
            f"refinement attention: row entropy {a['entropy']:.3f} nats, input dependence {a['input_dependence']:.3f}; "
            f"share below the nose: masked {a.get('real/lower_face_share', float('nan')):.3f}, "
            f"unmasked {a.get('unmasked/lower_face_share', float('nan')):.3f}"
        )
    if "mr_mp" in result:
        mr = result["mr_mp"]
        notes.append(
            f"mr_mp: {mr['references']} references masked on the fly ({mr['stand_in_masks']} with a stand-in mask type)"
        )
        counts = ", ".join(f"{count} {source}" for source, count in mr["landmarks"].items())
        notes.append(
            f"mr_mp: landmarks of the {sum(mr['landmarks'].values())} reference images, each its own: {counts}"
        )
        notes += [
            f"mr_mp embedding: {count} of {mr['references']} references: {what}"
            for what, count in mr["embedding"]["notes"].items()
        ]
    return notes


def format_tables(results: dict[str, dict]) -> str:
    """A verification table, an identification table and each set's notes, for the terminal."""
    fars = sorted(
        {f for r in results.values() for m in r["protocols"].values() for f in m["tar_at_far"]}, key=float, reverse=True
    )
    ver_rows, id_rows, notes = [], [], []
    for name, result in results.items():
        for rows, section, row in (
            (ver_rows, "protocols", lambda *a: _verification_row(*a, fars)),
            (id_rows, "identification", _identification_row),
        ):
            shown = name  # the set's name heads its first row only
            # a protocol holding every pair repeats the 'all' row: show it once
            skip = {"all"} if any(m.get("every_pair") for m in result[section].values()) else set()
            for pid, m in result[section].items():
                if pid in skip:
                    continue
                rows.append(row(shown, m["title"], m))
                rows += [row("", f"  · probe mask {label}", part) for label, part in m.get("by_mask_type", {}).items()]
                shown = ""
        notes += [f"  {name}: {n}" for n in set_notes(result)]
    out = []
    if ver_rows:
        # 10 folds is the protocol; a small set (few identities for identity-disjoint folds) may have fewer
        ks = sorted({len(m.get("fold_acc", [])) for r in results.values() for m in r["protocols"].values()} - {0})
        if len(ks) == 1:
            k, fold_note = ks[0], f"threshold from {ks[0] - 1} folds"
        else:
            k, fold_note = "k", f"k by set: {', '.join(map(str, ks)) or 'none'}"
        header = [
            "set",
            "protocol",
            "pairs",
            "gen/imp",
            f"acc ({k}-fold)",
            "AUC",
            "EER",
            *[f"TAR@FAR={f}" for f in fars],
            "best thr (acc)",
        ]
        out += [
            f"Verification: {k}-fold accuracy ({fold_note}); AUC, EER, TAR@FAR over all pairs",
            _table(header, ver_rows),
        ]
    if id_rows:
        header = ["set", "protocol", "probes", "gallery ids (imgs)", "rank-1", "rank-5"]
        out += ["", "Identification 1:N: masked probes vs a gallery of unmasked references", _table(header, id_rows)]
    if notes:
        out += ["", "Notes:", *notes]
    return "\n".join(out)
