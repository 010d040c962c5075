"""HTML pages: a stage's executed notebook as code-free HTML, and the run's ``index.html``."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from recnb.data.io import write_text

#: stage titles that the file name cannot spell (abbreviations)
_TITLES = {"ab_simulation": "A/B simulation", "fairness_bias": "Fairness and bias"}


def stage_title(stage: str) -> str:
    """The reader's title of a stage: ``"05_ab_simulation"`` -> ``"A/B simulation"``."""
    name = stage.split("_", 1)[-1]
    return _TITLES.get(name, name.replace("_", " ").capitalize())


def notebook_to_html(ipynb: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Convert an executed notebook to HTML with all code hidden (for stakeholders)."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    # papermill's error banner cells and the injected-parameters cell carry no reader content
    nb.cells = [
        c
        for c in nb.cells
        if "injected-parameters" not in c.get("metadata", {}).get("tags", [])
        and "parameters" not in c.get("metadata", {}).get("tags", [])
    ]
    exporter = HTMLExporter(template_name="lab")
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    return write_text(out, body)


def _md_to_html(text: str) -> str:
    """Tiny, safe Markdown subset for summaries: paragraphs, **bold**, `code`, bullet lists."""
    out: list[str] = []
    items: list[str] = []

    def inline(s: str) -> str:
        s = html.escape(s)
        s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
        return re.sub(r"`(.+?)`", r"<code>\1</code>", s)

    for block in re.split(r"\n\s*\n", text.strip()):
        lines = block.splitlines()
        if all(line.lstrip().startswith(("- ", "* ")) for line in lines):
            items = [f"<li>{inline(line.lstrip()[2:])}</li>" for line in lines]
            out.append("<ul>" + "".join(items) + "</ul>")
        else:
            out.append(f"<p>{inline(' '.join(line.strip() for line in lines))}</p>")
    return "\n".join(out)


_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.5}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
.stage{border:1px solid #ddd;border-radius:8px;padding:1em 1.2em;margin:1em 0}
.stage h2{margin:.1em 0 .4em 0;font-size:1.25em}
.ok{color:#1a7f37;font-weight:600} .failed,.interrupted{color:#c62828;font-weight:600}
.stale{color:#b26a00;font-weight:600} .skipped,.running{color:#888}
table.meta{border-collapse:collapse;font-size:.9em} table.meta td{padding:2px 10px 2px 0;vertical-align:top}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}
"""


def _privacy_line(check: dict[str, Any] | None) -> str:
    """One line for the index: what the privacy check found, and where leaking files went."""
    if not check:
        return ""
    status = check.get("status")
    kinds = ", ".join(check.get("identifier_kinds", [])) or "none listed"
    if status == "passed":
        line = (
            f"passed: no raw identifiers ({kinds}), e-mail addresses or phone numbers in "
            f"{check.get('files_scanned', 0)} files of this run"
        )
        ids = (check.get("id_matching") or {}).get("customer id")
        if ids and ids.get("ids"):
            line += (
                f"; {ids['distinctive']:,} of {ids['ids']:,} customer ids are distinctive enough to be "
                f"searched everywhere, the rest where a customer id is expected"
            )
        return line
    if status == "failed" and check.get("findings"):
        found: dict[str, set[str]] = {}
        for f in check["findings"]:
            found.setdefault(f["file"], set()).add(f["kind"])
        files = "; ".join(f"{p} ({', '.join(sorted(k))})" for p, k in sorted(found.items()))
        moved = check.get("quarantined") or []
        dest = (
            f" Moved out of the run folder to {check.get('quarantine_dir')}: "
            + ", ".join(m["path"] for m in moved)
            + "."
            if moved
            else ""
        )
        return f"FAILED: raw identifiers in {len(found)} file(s): {files}.{dest}"
    return f"{str(status).upper()}: {check.get('error', '')}"


def write_index(run_dir: str | os.PathLike, manifest: dict[str, Any]) -> Path:
    """Write ``index.html`` linking every stage report with its one-paragraph summary."""
    run_dir = Path(run_dir)
    rows = []
    for stage, info in manifest.get("stages", {}).items():
        status = info.get("status", "not run")
        shown = status in ("ok", "stale")  # a stale report is linked, with its mark
        summary_file = run_dir / "summaries" / f"{stage}.md"
        summary = (
            _md_to_html(summary_file.read_text(encoding="utf-8"))
            if summary_file.exists() and shown
            else ""
        )
        measured = run_dir / "summaries" / f"{stage}.timing.md"
        if shown and measured.exists():
            summary += _md_to_html(measured.read_text(encoding="utf-8"))
        title = html.escape(stage_title(stage))
        link = (
            f'<a href="{html.escape(info["html"])}">{title}</a>'
            if shown and info.get("html") and (run_dir / info["html"]).exists()
            else title  # no link to a report the privacy check moved out
        )
        secs = info.get("seconds")
        timing = f" · {secs:.0f} s" if isinstance(secs, int | float) else ""
        notes = []
        if status in ("failed", "interrupted"):
            notes.append(f"<p class='failed'>{html.escape(str(info.get('error', '')))}</p>")
        if status == "stale":
            why = "; ".join(info.get("stale_because", []))
            notes.append(
                "<p class='stale'>Stale: this report no longer matches the run's inputs "
                f"({html.escape(why)}). Rerun the stage before relying on it.</p>"
            )
        if info.get("previous_outputs"):
            prev = str(info["previous_outputs"])
            old = run_dir / prev / f"{stage}.html"
            where = (
                f'<a href="{html.escape(prev)}/{html.escape(stage)}.html">{html.escape(prev)}/</a>'
                if old.exists()
                else f"<code>{html.escape(prev)}/</code>"
            )
            notes.append(
                f"<p class='stale'>The outputs of the earlier run of this stage were moved to "
                f"{where}; they were made with earlier inputs.</p>"
            )
        rows.append(
            f"<div class='stage'><h2>{html.escape(stage[:2])} · {link}</h2>"
            f"<div><span class='{html.escape(status)}'>{html.escape(status)}</span>{timing}</div>"
            f"{''.join(notes)}{summary}</div>"
        )
    data = manifest.get("data", {})
    meta_rows = [
        ("Run", manifest.get("run_name", "")),
        ("Description", manifest.get("description", "")),
        (
            "Data",
            " · ".join(
                [str(data.get("source", ""))]
                + [f"{n:,} {t}" for t, n in (data.get("rows") or {}).items()]
            ),
        ),
        ("Privacy check", _privacy_line(manifest.get("privacy_check"))),
        ("Data fingerprint", (data.get("fingerprint") or "")[:16]),
        ("Seed", manifest.get("seed", "")),
        ("Git revision", manifest.get("git", {}).get("revision", "")),
        ("Finished", manifest.get("finished", "")),
    ]
    meta = "".join(
        f"<tr><td><b>{html.escape(str(k))}</b></td><td>{html.escape(str(v))}</td></tr>"
        for k, v in meta_rows
        if v not in ("", None)
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>recnb · {html.escape(str(manifest.get("run_name", "")))}</title>
<style>{_CSS}</style></head><body>
<h1>Recommendation evaluation · {html.escape(str(manifest.get("run_name", "")))}</h1>
<p class="sub">Each stage below links to its full report. Summaries are computed from this run's results.</p>
<table class="meta">{meta}</table>
{"".join(rows)}
<p class="sub">Machine-readable results: <code>results/</code>, figures: <code>figures/</code>,
provenance: <a href="manifest.json">manifest.json</a>.</p>
</body></html>
"""
    return write_text(run_dir / "index.html", page)
