"""The git adapter of the repository port against real git (a bare repository on disk, fetched by path): files at a
commit stay as they were, tags resolve, and bad input is one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from commands.adapters.repo_git import GitRepository
from commands.errors import RepositoryUnavailable
from tests.edge.git_server import git


@pytest.fixture
def remote(tmp_path: Path) -> tuple[Path, Path]:
    bare, work = tmp_path / "app.git", tmp_path / "work"
    git(tmp_path, "init", "--bare", "--quiet", "--initial-branch=main", str(bare))
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    return bare, work


def commit(work: Path, bare: Path, text: str) -> str:
    (work / "m.sql").write_text(text, encoding="utf-8")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", text)
    git(work, "push", "--quiet", "--tags", str(bare), "main")
    return git(work, "rev-parse", "HEAD")


def test_a_commit_keeps_its_files_after_the_branch_moves_and_tags_resolve(
    remote: tuple[Path, Path], tmp_path: Path
) -> None:
    bare, work = remote
    repo = GitRepository(url=str(bare), cache_dir=tmp_path / "cache")
    first = commit(work, bare, "select 1;")
    git(work, "tag", "v1")
    second = commit(work, bare, "select 2;")

    head = repo.checkout("main")
    assert head.commit == second and (head.root / "m.sql").read_text() == "select 2;"
    assert repo.checkout("v1").commit == first
    old = repo.at(first)
    assert (old.root / "m.sql").read_text() == "select 1;" and old.root != head.root
    commit(work, bare, "select 3;")
    assert (repo.at(first).root / "m.sql").read_text() == "select 1;"  # a snapshot never changes
    assert (repo.checkout("main").root / "m.sql").read_text() == "select 3;"


def test_bad_refs_and_unreachable_repositories_are_one_sentence(remote: tuple[Path, Path], tmp_path: Path) -> None:
    bare, work = remote
    commit(work, bare, "select 1;")
    repo = GitRepository(url=str(bare), cache_dir=tmp_path / "cache")
    for ref, why in (("--upload-pack=touch", "is not a branch or tag name"), ("nope", "has no branch or tag `nope`")):
        with pytest.raises(RepositoryUnavailable, match=why) as raised:
            repo.checkout(ref)
        assert "\n" not in str(raised.value) and str(raised.value).endswith("Nothing was changed.")
    with pytest.raises(RepositoryUnavailable, match="is not in it any more"):
        repo.at("0" * 40)
    gone = GitRepository(url=str(tmp_path / "missing.git"), cache_dir=tmp_path / "cache2")
    with pytest.raises(RepositoryUnavailable, match="`git fetch`"):
        gone.checkout("main")
