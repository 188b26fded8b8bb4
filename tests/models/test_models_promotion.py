"""Promotion: the decision on live scores (constructed), the install and rollback (temp dirs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.models.package import ModelPackage, load_package
from monitor.models.promotion import (
    LiveScore,
    PromotionError,
    compare_scores,
    daemon_verdict,
    install,
    package_problems,
    replace_link,
    rollback,
    scores_from_models,
)
from monitor.models.testing import make_random_package
from monitor.models.writing import update_documents

PER_DAY = 1440.0  # one frame a minute


def _scores(package: str, tss: dict[str, float | None], hss: float | None = 0.5,
            days: float = 10.0, window: str = "27d") -> list[LiveScore]:
    return [LiveScore(package, t, window, v, hss, int(days * PER_DAY)) for t, v in tss.items()]


def _decide(champion: list[LiveScore], candidate: list[LiveScore], **kw: object):  # type: ignore[no-untyped-def]
    return compare_scores(champion, candidate, window="27d", min_days=7,
                          frames_per_day=PER_DAY, **kw)  # type: ignore[arg-type]


def test_a_candidate_at_least_as_good_everywhere_is_promoted() -> None:
    champion = _scores("a:1", {"M": 0.50, "X": 0.40})
    candidate = _scores("b:1", {"M": 0.50, "X": 0.45})
    decision = _decide(champion, candidate)
    assert decision.promote and decision.reasons == () and not decision.forced


def test_every_shortfall_is_a_reason() -> None:
    champion = _scores("a:1", {"C": 0.7, "M": 0.6, "X": 0.4})
    candidate = (_scores("b:1", {"C": 0.8}, days=3)
                 + _scores("b:1", {"M": 0.55, "X": None}, hss=0.4))
    decision = _decide(champion, candidate)
    assert not decision.promote
    text = "\n".join(decision.reasons)
    assert ">=C: 3.0 days of live scores, at least 7 required" in text
    assert ">=M: TSS 0.550 below the champion's 0.600" in text
    assert ">=M: HSS 0.400 below the champion's 0.500" in text
    assert ">=X: the candidate's TSS is undefined" in text
    assert len(decision.reasons) == 5


def test_no_live_scores_refuses_and_force_overrides_keeping_the_reasons() -> None:
    champion = _scores("a:1", {"M": 0.6})
    decision = _decide(champion, [])
    assert not decision.promote and "no live scores for the candidate" in decision.reasons[0]
    forced = _decide(champion, [], force=True)
    assert forced.promote and forced.forced and forced.reasons == decision.reasons


def test_only_the_chosen_window_counts_and_an_unscored_champion_is_no_bar() -> None:
    candidate = _scores("b:1", {"M": 0.3}) + _scores("b:1", {"M": 0.9}, window="24h")
    assert _decide([], candidate).promote  # nothing to be worse than
    champion = _scores("a:1", {"M": 0.5}) + _scores("a:1", {"M": 0.1}, window="24h")
    assert not _decide(champion, candidate).promote  # 27d: 0.3 < 0.5


def test_scores_from_the_daemons_models_api_name_packages_by_sha256() -> None:
    models = {"packages": [
        {"role": "serving", "package": "a:1", "model": {"sha256": "aa"},
         "live": [{"threshold": "M", "window": "27d", "tss": 0.5, "hss": 0.4, "n": 100}]},
        {"role": "shadow", "package": "b:2", "model": {"sha256": "bb"},
         "live": [{"threshold": "M", "window": "27d", "tss": None, "hss": 0.1, "n": 9},
                  "not a row"]},
        "not an entry"], "refused": []}
    assert scores_from_models(models) == [LiveScore("aa", "M", "27d", 0.5, 0.4, 100),
                                          LiveScore("bb", "M", "27d", None, 0.1, 9)]
    assert scores_from_models({}) == []


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelPackage, ModelPackage]:
    root = tmp_path_factory.mktemp("candidates")
    return (make_random_package(root / "a", size=32, seed=1, spec={"name": "pkg-a"}),
            make_random_package(root / "b", size=32, seed=2, spec={"name": "pkg-b"}))


def test_install_keeps_the_previous_target_and_rollback_swaps_back(
        tmp_path: Path, two: tuple[ModelPackage, ModelPackage]) -> None:
    a, b = two
    link = tmp_path / "models" / "current"
    installed_a, previous = install(a, link)
    assert previous is None and installed_a.name == f"pkg-a-0.0.0-{a.sha256[:12]}"
    assert os.readlink(link) == installed_a.name  # relative: the directory may move
    assert load_package(link).sha256 == a.sha256
    installed_b, previous = install(b, link)
    assert previous == installed_a and load_package(link).sha256 == b.sha256
    assert os.readlink(tmp_path / "models" / "previous") == installed_a.name
    left, back = rollback(link)
    assert (left, back) == (installed_b, installed_a)
    assert load_package(link).sha256 == a.sha256
    assert os.readlink(tmp_path / "models" / "previous") == installed_b.name
    # installing what is current changes nothing and keeps the rollback target
    assert install(a, link) == (installed_a, None)
    assert os.readlink(tmp_path / "models" / "previous") == installed_b.name
    # no temporary links or directories are left behind
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == sorted(
        ["current", "previous", installed_a.name, installed_b.name])


def test_a_tampered_previous_package_is_not_rolled_back_to(
        tmp_path: Path, two: tuple[ModelPackage, ModelPackage]) -> None:
    from monitor.models.errors import PackageHashMismatchError

    a, b = two
    link = tmp_path / "models" / "current"
    installed_a, _ = install(a, link)
    install(b, link)
    weights = installed_a / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x00")
    with pytest.raises(PackageHashMismatchError):
        rollback(link)
    assert load_package(link, verify=False).sha256 == b.sha256  # nothing moved


def test_a_directory_in_place_of_the_link_and_no_previous_are_refused(
        tmp_path: Path, two: tuple[ModelPackage, ModelPackage]) -> None:
    a, _ = two
    real = tmp_path / "current"
    real.mkdir()
    with pytest.raises(PromotionError, match="not a link"):
        install(a, real)
    link = tmp_path / "models" / "current"
    install(a, link)
    with pytest.raises(PromotionError, match="nothing to roll back to"):
        rollback(link)


def test_replace_link_is_one_rename(tmp_path: Path) -> None:
    link = tmp_path / "current"
    replace_link(link, "one")
    replace_link(link, "two")
    assert os.readlink(link) == "two" and [p.name for p in tmp_path.iterdir()] == ["current"]


def test_an_unevaluated_package_or_an_empty_card_is_unfit(
        tmp_path: Path, two: tuple[ModelPackage, ModelPackage]) -> None:
    a, _ = two
    assert package_problems(a) == ["metrics.json says the package was not evaluated"]
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(a.path, copy)
    evaluated = update_documents(copy, metrics={"status": "evaluated"}, model_card=" \n")
    assert package_problems(evaluated) == ["MODEL_CARD.md is empty"]


def test_the_models_api_as_the_daemon_writes_it_reads_back(
        two: tuple[ModelPackage, ModelPackage]) -> None:
    """The parser against the producer (:class:`ModelRoster`), not a hand-written copy."""
    from monitor.goes.scores import Contingency, SkillRow
    from monitor.pipeline.roster import ModelRoster

    a, _ = two
    label = a.identity.label
    rows = [SkillRow("M", "27d", Contingency(3, 1, 2, 100), label),
            SkillRow("X", "27d", Contingency(0, 0, 0, 106), label),
            SkillRow("M", "27d", Contingency(1, 0, 0, 5), "someone-else:1")]
    roster = ModelRoster(lambda: a, (), {}, scores=lambda: rows)
    scores = scores_from_models(roster.to_dict())
    table = Contingency(3, 1, 2, 100)
    assert scores == [LiveScore(a.sha256, "M", "27d", table.tss, table.hss, 106),
                      LiveScore(a.sha256, "X", "27d", None, None, 106)]


def test_the_daemons_verdict_on_an_installed_package(tmp_path: Path) -> None:
    target = tmp_path / "pkg-b"
    target.mkdir()
    refused = {"model": {"sha256": "aa"}, "model_switch": {
        "result": "refused", "reason": "hash_mismatch", "detail": "model.onnx: sha256 mismatch",
        "target": str(target.resolve()), "at": 1000.0}}
    assert daemon_verdict({"model": {"sha256": "bb"}}, "bb", target, 0) == ("serving", "")
    assert daemon_verdict(refused, "bb", target, 999.0) == (
        "refused", "hash_mismatch: model.onnx: sha256 mismatch")
    # a refusal from before this install, or of another directory, is not the answer
    assert daemon_verdict(refused, "bb", target, 1001.0) == ("pending", "")
    assert daemon_verdict(refused, "bb", tmp_path / "other", 0) == ("pending", "")
    assert daemon_verdict({}, "bb", target, 0) == ("pending", "")
