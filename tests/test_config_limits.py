"""Config hardening: non-finite bounds, an output name longer than the file system allows,
a YAML alias bomb and a huge file all end in exit 2 and one line, writing nothing."""

import time

import pytest

from tests.helpers import GOOD, one_line, run, write


@pytest.mark.parametrize("space,key", [
    ({"x": {"low": 0.0, "high": float("inf")}}, "space.x.high"),
    ({"x": {"low": float("nan"), "high": 1.0}}, "space.x.low"),
    ({"x": {"lower": 1, "upper": 5, "scaling": float("nan")}}, "space.x.scaling"),
    ({"x": {"lower": 1, "upper": 5, "scaling": float("inf")}}, "space.x.scaling"),
])
def test_non_finite_bounds_or_scaling_exit_2_and_write_nothing(tmp_path, capsys, space, key):
    cfg = write(tmp_path, {**GOOD, "objective": "failing", "space": space, "out": str(tmp_path / "never")})
    status, err = run([cfg, "--quiet"], capsys)
    one_line(status, err)
    assert key in err and not (tmp_path / "never").exists()


def test_an_out_name_longer_than_the_file_system_allows_exit_2(tmp_path, capsys):
    cfg = write(tmp_path, GOOD)
    status, err = run([cfg, "--quiet", "--out", str(tmp_path / ("x" * 300))], capsys)
    one_line(status, err)
    assert "--out" in err and "255" in err
    cfg = write(tmp_path, {**GOOD, "out": str(tmp_path / ("y" * 300) / "z")}, "long.yaml")
    status, err = run([cfg, "--quiet"], capsys)
    one_line(status, err)
    assert err.startswith("config error: out ")


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, capsys):
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        levels.append(f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, "
                      f"*{prev}, *{prev}, *{prev}, *{prev}]")
    path = tmp_path / "bomb.yaml"  # 9^9 values once expanded
    path.write_text("objective:\n  name: branin\n  bomb:\n" + "".join(f"    {l}\n" for l in levels)
                    + "space: {x: {low: 0.0, high: 1.0}}\n")
    start = time.perf_counter()
    status, err = run([path, "--quiet", "--out", str(tmp_path / "never")], capsys)
    one_line(status, err)
    assert "aliases" in err and time.perf_counter() - start < 30  # generous: it takes milliseconds


def test_a_huge_config_file_is_refused_without_parsing(tmp_path, capsys):
    path = tmp_path / "huge.yaml"
    with open(path, "w") as fh:
        fh.write("objective: branin\nspace: {x: {low: 0.0, high: 1.0}}\npad: [")
        fh.write("1, " * 600_000 + "1]\n")
    status, err = run([path, "--quiet"], capsys)
    one_line(status, err)
    assert "larger than 1 MiB" in err
