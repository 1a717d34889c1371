"""Run-folder safety (issue 6, defects 2-5 and the doubled metrics rows of 10), through the CLI on a tiny run."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from interlingua.cli import main
from interlingua.config import TrainConfig
from interlingua.errors import TrainingError
from interlingua.training.checkpoint import latest_checkpoint
from interlingua.training.run_folder import RunLock
from tests.test_end_to_end import DE, EN, TINY
from tests.training.tiny_run import make_trainer


@pytest.fixture
def args(tmp_path):
    (tmp_path / "en.txt").write_text("\n".join(EN * 3) + "\n", encoding="utf-8")
    (tmp_path / "de.txt").write_text("\n".join(DE * 3) + "\n", encoding="utf-8")
    corpus = ["data.corpus=files", f"data.files=['deu={tmp_path / 'en.txt'},{tmp_path / 'de.txt'}']"]
    return ["train", "--recipe", "xlm", "--run-dir", str(tmp_path / "run"), *corpus, *TINY, "train.steps=6",
            "train.log_every=1"]


def _snapshot(run: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run)): p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}


def test_failed_resume_changes_nothing(tmp_path, args, capsys):
    """Defect 2: a resume with a changed shape key used to rewrite interlingua.json before failing."""
    run = tmp_path / "run"
    assert main(args + ["--stop-at", "3"]) == 0
    before = _snapshot(run)
    assert main(args + ["--resume", "model.d_model=64"]) == 2
    err = capsys.readouterr().err
    assert "model.d_model: 32 -> 64" in err
    assert main(args + ["--resume", "data.vocab_size=100"]) == 2  # used to be recorded but not applied
    assert "data.vocab_size: 120 -> 100" in capsys.readouterr().err
    assert _snapshot(run) == before
    assert main(args + ["--resume", "train.steps=8"]) == 0  # budgets may change
    assert latest_checkpoint(run / "checkpoints").name == "step-00000008"


def test_corrupted_checkpoint_is_refused(tmp_path, args, capsys):
    """Defect 3: flipped bytes (same size) used to resume with rc 0 and train at loss=nan."""
    run = tmp_path / "run"
    assert main(args + ["--stop-at", "3"]) == 0
    weights = latest_checkpoint(run / "checkpoints") / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-64:-32] = b"\xff" * 32  # inside the last tensor: NaN bit patterns, the header still parses
    weights.write_bytes(bytes(data))
    before = _snapshot(run)
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert f"{weights} is corrupted" in err
    assert _snapshot(run) == before


def test_corruption_message_names_the_file(tmp_path, args, capsys):
    run = tmp_path / "run"
    assert main(args + ["--stop-at", "2"]) == 0
    optim = latest_checkpoint(run / "checkpoints") / "optim.safetensors"
    data = bytearray(optim.read_bytes())
    data[-1] ^= 0x01
    optim.write_bytes(bytes(data))
    assert main(args + ["--resume"]) == 2
    err = capsys.readouterr().err
    assert "optim.safetensors is corrupted" in err and "SHA-256" in err


class _NanFrom:
    """Wraps an objective; its loss becomes NaN once the trainer has taken ``start`` steps."""

    def __init__(self, obj, trainer, start: int) -> None:
        self.obj, self.trainer, self.start = obj, trainer, start

    def __getattr__(self, name):
        return getattr(self.obj, name)

    def __call__(self, model, batch):
        loss, n, m = self.obj(model, batch)
        return (loss * float("nan") if self.trainer.step >= self.start else loss), n, m


def test_non_finite_loss_stops_and_keeps_the_good_checkpoint(tmp_path):
    """Defect 3: a NaN step is an error naming the step; the last good checkpoint stays, with finite weights."""
    trainer = make_trainer(tmp_path / "run", "train.ckpt_every=2", "train.keep_checkpoints=1")
    trainer.objectives[0] = _NanFrom(trainer.objectives[0], trainer, start=3)
    with pytest.raises(TrainingError, match="step 4: non-finite"):
        trainer.fit()
    ckpt = latest_checkpoint(tmp_path / "run" / "checkpoints")
    assert ckpt.name == "step-00000002"
    assert all(torch.isfinite(t).all() for t in load_file(str(ckpt / "model.safetensors")).values())


def test_skip_nonfinite_counts_and_leaves_weights(tmp_path):
    """train.skip_nonfinite: steps 4-6 are skipped (counted), so the weights are those after step 3."""
    ref = make_trainer(tmp_path / "ref")
    ref.fit(stop_at=3)
    trainer = make_trainer(tmp_path / "run", "train.skip_nonfinite=true")
    trainer.objectives[0] = _NanFrom(trainer.objectives[0], trainer, start=3)
    rows = trainer.fit()
    assert rows[-1]["step"] == 6 and rows[-1]["train/skipped"] == 3.0
    for k, v in ref.model.state_dict().items():
        assert torch.equal(v, trainer.model.state_dict()[k]), k


def test_fresh_run_into_used_folder(tmp_path, args, capsys):
    """Defect 4: a stale tokenizer and metrics.jsonl used to be reused; now refused, or replaced with --overwrite."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "notes.txt").write_text("mine", encoding="utf-8")
    (run / "metrics.jsonl").write_text('{"step": 99}\n', encoding="utf-8")
    assert main(args) == 2
    assert "not empty" in capsys.readouterr().err
    bad = [a if not a.startswith("data.files") else "data.files=['xxq=/nonexistent.txt,/n2.txt']" for a in args]
    assert main(bad + ["--overwrite"]) == 2  # fails in set-up: the old files come back
    assert (run / "metrics.jsonl").read_text() == '{"step": 99}\n' and not (run / ".overwritten").exists()
    assert main(args + ["--overwrite"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6] and (run / "notes.txt").read_text() == "mine"


def test_failed_fresh_run_leaves_no_folder(tmp_path, args):
    bad = [a if not a.startswith("data.files") else "data.files=['xxq=/nonexistent.txt,/n2.txt']" for a in args]
    assert main(bad) == 2
    assert not (tmp_path / "run").exists()


def test_resume_needs_a_checkpoint(tmp_path, args, capsys):
    """Defect 4: --resume on a missing folder used to start silently from step 0."""
    assert main(args + ["--resume"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_default_checkpoint_cadence_by_time(tmp_path):
    """Defect 4: ckpt_every=0 used to mean no checkpoint before the end; now every train.ckpt_minutes."""
    assert TrainConfig().ckpt_minutes > 0
    trainer = make_trainer(tmp_path / "run", "train.ckpt_minutes=1e-9")
    saved = []
    trainer.save = lambda: saved.append(trainer.step)
    trainer.fit()
    assert saved == [1, 2, 3, 4, 5, 6]


def test_second_writer_is_refused(tmp_path, args, capsys):
    """Defect 5: two trainings in one folder mixed their outputs; the second now names the holder's pid."""
    with RunLock(tmp_path / "run"):
        assert main(args) == 2
    assert f"pid {os.getpid()}" in capsys.readouterr().err
    assert main(args) == 0  # released


def test_resumed_metrics_have_each_step_once(tmp_path, args):
    """Defect 10: after a crash past the last checkpoint the replayed steps were logged twice."""
    run = tmp_path / "run"
    assert main(args + ["--stop-at", "4", "train.ckpt_every=2"]) == 0
    (run / "checkpoints" / "latest").write_text("step-00000002\n")  # as if it crashed before step 4's checkpoint
    assert main(args + ["--resume", "train.ckpt_every=2"]) == 0
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_resume_of_a_run_written_before_a_key_existed(tmp_path, args):
    """A key missing from an older run's interlingua.json counts as its default, not as a change."""
    run = tmp_path / "run"
    assert main(args + ["--stop-at", "2"]) == 0
    info = json.loads((run / "interlingua.json").read_text())
    del info["config"]["data"]["max_pairs_per_lang"], info["config"]["train"]["ckpt_minutes"]
    (run / "interlingua.json").write_text(json.dumps(info))
    assert main(args + ["--resume"]) == 0
