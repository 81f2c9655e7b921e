"""Keeps bench/ from rotting: its pure parts run here on a few inputs. No timing is asserted (the benchmark
prints timings; tests never judge them)."""

from __future__ import annotations

import json

from bench import boot, idle, online, scale
from bench.table import Row, ordered, render
from pipe.bootstrap.steps import BOOT_STEPS


def test_idle_precision_runs_the_real_agent_on_a_few_patterns() -> None:
    result = idle.measure(patterns=5, seed=7)
    assert result.patterns == 5
    assert result.never_off + len(result.after_last_step_s) + result.during_step == 5
    [row] = idle.rows(result)
    assert row.figure.startswith("Idle precision")
    assert row.data["patterns"] == 5 and row.met in (True, False)


def test_idle_patterns_are_reproducible_from_the_seed() -> None:
    assert idle.measure(patterns=3, seed=11).after_last_step_s == idle.measure(patterns=3, seed=11).after_last_step_s


def test_boot_path_has_a_row_per_cloud_and_cpu_gpu_with_every_step_in_the_data() -> None:
    rows = boot.rows()
    assert len(rows) == 6
    for row in rows:
        cloud, kind = row.figure.replace(":", "").split()[2:4]
        steps = BOOT_STEPS[(cloud, kind == "GPU")]
        assert [s["name"] for s in row.data["steps"]] == [name for name, _, _ in steps]
        assert row.data["total_s"] == sum(seconds for _, seconds, _ in steps)


def test_detection_phases_cover_one_poll_period_starting_just_after_a_poll() -> None:
    spread = online.phases(5)
    assert spread[0] < 0.1 and all(0 <= p < online.POLL_PERIOD_S for p in spread) and spread == sorted(spread)


def test_launch_allowance_is_six_plus_one_per_five_seconds_waited() -> None:
    assert online.LaunchRun(0.0, 1.0, 5, 4.9, 0).allowance == 6
    assert online.LaunchRun(0.0, 1.0, 5, 12.0, 0).allowance == 8


def test_the_table_has_one_line_per_figure_and_the_json_is_serialisable() -> None:
    rows = [*boot.rows(), Row("x", "1 s", "<= 2 s", True), Row("y", "3 s", "<= 2 s", False)]
    text = render(ordered(rows))
    lines = text.splitlines()
    assert lines[0].startswith("| Figure") and "Met?" in lines[0]
    assert len(lines) == 2 + len(rows)
    assert "| yes" in text and "| NO" in text and "| info" in text
    json.dumps([r.as_json() for r in rows])


def test_scale_rows_judge_each_launch_against_the_empty_repository_and_reuse_against_its_pages() -> None:
    launches = [
        scale.Launch(0, 0, "default", 4, 10),
        scale.Launch(2000, 300, "default", 7, 10),
        scale.Launch(2000, 300, "REUSE_IDLE", 26, 10),  # over 1 + 20 + 4
    ]
    rows = scale.rows(launches, [])
    assert [row.met for row in rows] == [True, True, False]
    assert "<= 7 Bitbucket (empty + 3), <= 15 EC2 (empty + 5)" in rows[1].goal
    assert rows[2].goal == "<= 25 Bitbucket (1 + ceil(N/100) + 4)"


CONSOLE = """[    0.000000] Linux version 6.1.0-56-amd64
[   78.856979] cloud-init[633]: cml-runner: boot script for runner-6b91 on aws (gpu: false)
[   79.697836] cloud-init[633]: cml-runner: step prepare: done in 652 ms
cml-test: runner stand-in image docker-public.packages.atlassian.com/x:1 imported in 1500 ms
[   94.043252] cloud-init[633]: cml-runner: step docker: done in 632 ms
[  114.128846] cloud-init[633]: cml-runner: step start-runner: done in 12974 ms
"""


def test_the_vm_boot_milestones_are_read_from_a_serial_console() -> None:
    from bench import vm_boot

    run = vm_boot.BootRun("nodocker", ok=True, signed_in_s=130.0, online_s=131.5)
    vm_boot.parse_console(run, CONSOLE)
    assert (run.user_data_s, run.docker_ready_s, run.runner_started_s) == (78.856979, 94.043252, 114.128846)
    assert run.steps_ms == {"prepare": 652, "docker": 632, "start-runner": 12974}
    assert run.runner_image_import_ms == 1500
    [row] = vm_boot.rows([run])
    assert "measured under TCG emulation" in row.figure and "user-data 79 s" in row.measured
    assert "import 1.5 s" in row.measured


STOCK_CONSOLE = """[   80.1] cloud-init[633]: cml-runner: docker not found: installing docker.io from the distribution
cml-test: runner stand-in image docker-public.packages.atlassian.com/x:1 imported in 4200 ms
[  201.2] cloud-init[633]: cml-runner: step docker: done in 121000 ms
[  201.3] cloud-init[633]: cml-runner: step pull-runner-image: done in 90 ms
"""
BAKED_CONSOLE = """[ 70.0] cloud-init[63]: cml-runner: baked image: nothing to install or pull (recipe=0123 saved_ms=1)
[   70.5] cloud-init[633]: cml-runner: step docker: done in 400 ms
[   70.6] cloud-init[633]: cml-runner: step pull-runner-image: done in 80 ms
"""


def test_the_stock_vs_baked_row_reads_both_consoles_and_judges_the_ratio_against_half() -> None:
    from bench import vm_bake

    def launch(kind: str, console: str, online_s: float) -> vm_bake.Launch:
        one = vm_bake.Launch(kind, ok=True, launch_to_online_s=online_s, qemu_to_online_s=online_s - 2, load_1m=1.5)
        vm_bake.read_console(one, console)
        return one

    stock, baked = launch("stock", STOCK_CONSOLE, 200.0), launch("baked", BAKED_CONSOLE, 90.0)
    assert (stock.install_ms, stock.pull_ms, stock.runner_image_import_ms, stock.installed) == (121000, 90, 4200, True)
    assert (baked.install_ms, baked.pull_ms, baked.installed, baked.fast_path) == (400, 80, False, True)
    timing, steps = vm_bake.rows(vm_bake.Comparison(bake_s=300.0, image="ami-1", launches=[stock, baked]))
    assert timing.met is True and "ratio 0.45" in timing.measured and "measured under TCG emulation" in timing.figure
    assert "install 121.0 s, pull 0.1 s (runner image import 4.2 s inside install)" in timing.measured
    assert steps.met is True
    slow = launch("baked", BAKED_CONSOLE, 101.0)
    [timing, steps] = vm_bake.rows(vm_bake.Comparison(launches=[stock, slow]))
    assert timing.met is False and "ratio 0.51" in timing.measured
    installed = launch("baked", STOCK_CONSOLE, 90.0)
    assert vm_bake.rows(vm_bake.Comparison(launches=[stock, installed]))[1].met is False
    [failed] = vm_bake.rows(vm_bake.Comparison(launches=[stock, vm_bake.Launch("baked", error="baked launch failed")]))
    assert failed.met is False and failed.measured == "failed: baked launch failed"
