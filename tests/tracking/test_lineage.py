"""Lineage tags: `git_dirty` ignores what the pipeline rewrites (checked on the project's own
dvc.yaml / dvc.lock files), the DVC context and the invocation id every parent run carries."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tradelab.tracking.lineage import (
    DVC_BASELINE_TAG,
    DVC_EXPERIMENT_TAG,
    DVC_STAGE_TAG,
    INVOCATION_TAG,
    DvcContext,
    Lineage,
    git_state,
    pipeline_outputs,
)

ROOT = Path(__file__).resolve().parents[2]
PIPELINE_FILES = [
    "dvc.yaml",
    "dvc.lock",
    "params.yaml",
    *(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("pipelines/*/dvc.*"))),
]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
}


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, env={**os.environ, **GIT_ENV}
    )


def _touch(root: Path, relative: str, text: str = "# changed\n") -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        handle.write(text)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding the project's pipeline files, a source file and committed
    pipeline outputs (metrics, and two outputs someone chose to track in git)."""
    root = tmp_path / "repo"
    for name in PIPELINE_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    shutil.copy2(ROOT / ".gitignore", root / ".gitignore")
    for name in ("src/tradelab/errors.py", "metrics/wfo_SMH.json", "reports/summary.md"):
        _touch(root, name, "v1\n")
    _touch(root, "reports/wfo/SMH/plateaus_atr_d_ls_demo.png", "v1\n")
    _git(root, "init", "-q")
    _git(root, "add", "-A")
    _git(root, "add", "-f", "reports/summary.md", "reports/wfo/SMH/plateaus_atr_d_ls_demo.png")
    _git(root, "commit", "-q", "-m", "pipeline")
    git_state.cache_clear()
    yield root
    git_state.cache_clear()


def _dirty(root: Path, in_experiment: bool = False) -> bool:
    git_state.cache_clear()
    commit, dirty = git_state(str(root), in_experiment)
    assert len(commit) == 40
    return dirty


def test_files_the_pipeline_rewrites_do_not_make_the_checkout_dirty(repo: Path) -> None:
    assert not _dirty(repo)
    # what `dvc repro` writes: every lock file, the metrics, outputs its lock files list (the
    # wfo sub-pipeline's, whose paths are relative to its wdir ../..)
    for name in (
        "dvc.lock",
        "pipelines/wfo/dvc.lock",
        "pipelines/kalman/dvc.lock",
        "metrics/wfo_SMH.json",
        "reports/summary.md",
        "reports/wfo/SMH/plateaus_atr_d_ls_demo.png",
    ):
        _touch(repo, name)
    assert not _dirty(repo)
    _touch(repo, "src/tradelab/errors.py")
    assert _dirty(repo)


def test_params_yaml_counts_except_inside_dvc_exp_run(repo: Path) -> None:
    _touch(repo, "params.yaml", "# dvc exp run -S wrote this\n")
    assert _dirty(repo)
    assert not _dirty(repo, in_experiment=True)


def test_a_changed_pipeline_definition_counts(repo: Path) -> None:
    _touch(repo, "pipelines/wfo/dvc.yaml", "# edited\n")
    assert _dirty(repo)


def test_pipeline_outputs_resolve_each_stage_wdir(repo: Path) -> None:
    outputs = pipeline_outputs(repo)
    assert {"metrics", "results/SMH", "reports/wfo/SMH", "metrics/wfo_SMH.json"} <= outputs
    assert {"conf/production", "production", "reports/summary.md"} <= outputs
    assert not any(p.startswith(("pipelines/", "..")) for p in outputs)


def test_outside_git_the_state_is_unknown_and_clean(tmp_path: Path) -> None:
    git_state.cache_clear()
    assert git_state(str(tmp_path)) == ("unknown", False)


def test_tags_carry_the_invocation_and_the_dvc_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DVC_STAGE", "pipelines/wfo/dvc.yaml:single@SMH")
    monkeypatch.setenv("DVC_EXP_NAME", "smoke-exp")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc123")
    tags = Lineage.collect("h", invocation="call-1").tags()
    assert tags[INVOCATION_TAG] == "call-1"
    assert tags[DVC_STAGE_TAG] == "pipelines/wfo/dvc.yaml:single@SMH"
    assert (tags[DVC_EXPERIMENT_TAG], tags[DVC_BASELINE_TAG]) == ("smoke-exp", "abc123")
    for name in ("DVC_STAGE", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV"):
        monkeypatch.delenv(name)
    plain = Lineage.collect("h").tags()
    assert DVC_STAGE_TAG not in plain and DVC_EXPERIMENT_TAG not in plain
    assert plain[INVOCATION_TAG] == Lineage.collect("other").tags()[INVOCATION_TAG]
    monkeypatch.setenv("TRADELAB_INVOCATION", "script-7")
    assert Lineage.collect("h").tags()[INVOCATION_TAG] == "script-7"
    assert DvcContext.from_env({"DVC_STAGE": ""}) == DvcContext()


APP = """
import sys
from pathlib import Path

import hydra

from tradelab.apps._runtime import invocation_id


@hydra.main(version_base="1.3", config_path=None, config_name=None)
def main(cfg) -> None:
    with (Path(sys.argv[1]).parent / "ids.txt").open("a") as out:
        out.write(invocation_id() + "\\n")


if __name__ == "__main__":
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    main()
"""


def _ids(script: Path, *overrides: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "TRADELAB_INVOCATION"}
    result = subprocess.run(
        [sys.executable, str(script), str(script), *overrides],
        cwd=script.parent,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = script.parent / "ids.txt"
    ids = path.read_text().split()
    path.unlink()
    return ids


def test_one_invocation_id_per_multirun_and_per_plain_call(tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP)
    multirun = _ids(script, "-m", "+x=1,2", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert len(multirun) == 2 and multirun[0] == multirun[1]
    assert multirun[0].startswith("multirun-")
    [first], [second] = _ids(script, "+x=1"), _ids(script, "+x=1")
    assert first != second and not first.startswith("multirun-")
