"""Progress of long stages: the file a notebook writes, the line the runner prints."""

from __future__ import annotations

import json

from recnb.workflow.progress import Progress, describe, read_state


def test_progress_file_and_terminal_line(tmp_path):
    f = tmp_path / "p.json"
    p = Progress("03_model_comparison", path=f, min_interval=3600)
    p("tuning", "als", 0, 10)
    s = read_state(f)
    assert (s["step"], s["model"], s["n"], s["total"]) == ("tuning", "als", 0, 10)
    p("tuning", "als", 1, 10)  # same step within min_interval: not rewritten (CI logs stay short)
    assert read_state(f)["n"] == 0
    p("tuning", "als", 10, 10)  # the last unit always is
    assert read_state(f)["n"] == 10
    p("tuning", "ease", 0, 6)  # a new step always is
    s = read_state(f)
    assert s["model"] == "ease"
    assert len(f.read_text().splitlines()) == 3  # one line per change, not per call
    # 3 of 10 trials in 30 s: about 70 s left
    state = {
        "step": "tuning",
        "model": "als",
        "n": 3,
        "total": 10,
        "count_started": 1000.0,
        "stage_started": 900.0,
    }
    line = describe(state, now=1030.0)
    assert line == "tuning als · 3/10 trials done · ~70 s left · 2 min elapsed"
    assert describe(state, now=1030.0, stage_started=1000.0).endswith("30 s elapsed")
    assert describe({"step": "report", "stage_started": 0.0}, now=5.0) == "report · 5 s elapsed"


def test_without_a_progress_file_a_bar_is_drawn(monkeypatch, capsys):
    monkeypatch.delenv("RECNB_PROGRESS_FILE", raising=False)
    p = Progress("02_preprocessing")
    assert p.path is None
    p("tuning", "als", 1, 4)
    p("tuning", "als", 2, 4)
    p.close()
    assert "tuning als" in capsys.readouterr().err  # tqdm's text bar outside a notebook


def test_read_state_of_a_half_written_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text('{"step": "tun')
    assert read_state(f) is None
    assert read_state(tmp_path / "missing.json") is None
    f.write_text(json.dumps({"step": "x"}) + "\n" + '{"step": "y')
    assert read_state(f) == {"step": "x"}  # the line still being written waits


def test_runner_prints_every_step_change_and_rate_limits_the_rest(tmp_path):
    """A stage whose steps pass within a poll still shows each of them; updates within one step
    print at most every `interval` seconds (CI logs stay short)."""
    from recnb.workflow.runner import _ProgressPrinter

    f = tmp_path / "p.jsonl"
    lines: list[str] = []
    printer = _ProgressPrinter(f, lines.append, interval=3600)
    p = Progress("03", path=f, min_interval=0)
    p("tuning", "als", 0, 3)
    p("tuning", "als", 1, 3)
    p("tuning", "ease", 0, 2)
    state = printer.step(None, 0.0, 0, None)
    assert [ln.split(" · ")[0].strip() for ln in lines] == ["tuning als", "tuning ease"]
    for n in range(1, 3):
        p("tuning", "ease", n, 2)
    state = printer.step(*state)
    assert len(lines) == 2  # same step, within the interval: nothing new printed
    printer.interval = 0
    printer.step(*state)
    assert len(lines) == 3 and "2/2 trials done" in lines[-1]
