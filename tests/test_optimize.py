"""Study.optimize: budgets across threads, timeout, callbacks, stop(), failures, interrupts and
argument checks."""

from __future__ import annotations

import threading
import time

import pytest

import pipetune
from pipetune import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.samplers import RandomSampler


def quadratic(trial):
    return (trial.suggest_float("x", -2, 2) - 0.5) ** 2


@pytest.mark.parametrize(("n_jobs", "n_trials"), [(1, 7), (2, 9), (4, 13), (4, 1), (-1, 5)])
def test_n_trials_is_exact_across_threads(storage, n_jobs, n_trials):
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0))
    threads = set()

    def objective(trial):
        threads.add(threading.get_ident())
        time.sleep(0.002)
        return quadratic(trial)

    study.optimize(objective, n_trials=n_trials, n_jobs=n_jobs)
    assert len(study.trials) == n_trials
    assert [t.number for t in study.trials] == list(range(n_trials))
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    # a second call adds exactly its own budget
    study.optimize(quadratic, n_trials=3, n_jobs=n_jobs)
    assert len(study.trials) == n_trials + 3


def test_timeout_stops(storage):
    """No trial starts after the timeout, and none is cut short. Each trial takes at least
    0.05 s, so a thread starts at most 0.5 / 0.05 + 1 trials in 0.5 s however loaded the
    machine is; the budget of 100 trials is far above that, so only the timeout stops it."""
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        time.sleep(0.05)
        return quadratic(trial)

    for n_jobs in (1, 2):
        before = len(study.trials)
        started = time.monotonic()
        study.optimize(objective, n_trials=100, timeout=0.5, n_jobs=n_jobs)
        assert time.monotonic() - started >= 0.5  # it ran until the timeout
        assert 1 <= len(study.trials) - before <= n_jobs * 11
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


def test_callbacks_are_called_once_per_trial(storage):
    study = pipetune.create_study(storage=storage)
    calls = []
    lock = threading.Lock()

    def callback(s, frozen):
        assert s is study
        with lock:
            calls.append((frozen.number, frozen.state))

    study.optimize(quadratic, n_trials=6, n_jobs=2, callbacks=[callback])
    assert sorted(n for n, _ in calls) == list(range(6))
    assert all(state == TrialState.COMPLETE for _, state in calls)


def test_stop_from_a_callback(storage):
    study = pipetune.create_study(storage=storage)

    def stop_after_three(s, frozen):
        if frozen.number == 2:
            s.stop()

    study.optimize(quadratic, n_trials=50, callbacks=[stop_after_three])
    assert len(study.trials) == 3
    # stop() only ends that run: the next optimize runs normally
    study.optimize(quadratic, n_trials=2)
    assert len(study.trials) == 5


def test_stop_with_threads_starts_no_more_trials():
    study = pipetune.create_study()

    def stop_early(s, frozen):
        if frozen.number >= 3:
            s.stop()

    study.optimize(quadratic, n_trials=100, n_jobs=4, callbacks=[stop_early])
    assert 4 <= len(study.trials) < 100
    assert all(t.state == TrialState.COMPLETE for t in study.trials)


class Boom(RuntimeError):
    pass


def test_objective_error_fails_the_trial_and_propagates(storage):
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        trial.suggest_float("x", 0, 1)
        if trial.number == 1:
            raise Boom("exploded at trial one")
        return 1.0

    with pytest.raises(Boom, match="exploded"):
        study.optimize(objective, n_trials=5)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    failed = study.trials[1]
    assert failed.system_attrs["fail_reason"] == "Boom: exploded at trial one"
    assert "Traceback" in failed.system_attrs["traceback"]
    assert "raise Boom" in failed.system_attrs["traceback"]
    assert "x" in failed.params  # what it tried is kept


@pytest.mark.parametrize("catch", [Boom, (Boom,), [ValueError, RuntimeError], (Exception,)])
def test_caught_errors_fail_the_trial_and_continue(storage, catch):
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        if trial.number % 2:
            raise Boom("odd")
        return 1.0

    study.optimize(objective, n_trials=6, catch=catch)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL] * 3
    assert all(t.system_attrs["fail_reason"] == "Boom: odd" for t in study.trials[1::2])


def test_error_in_a_thread_propagates_and_leaves_nothing_running():
    study = pipetune.create_study()

    def objective(trial):
        time.sleep(0.002)
        if trial.number == 3:
            raise Boom("thread")
        return 0.0

    with pytest.raises(Boom):
        study.optimize(objective, n_trials=40, n_jobs=4)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    assert len(study.trials) < 40
    assert study.trials[3].state == TrialState.FAIL


@pytest.mark.parametrize(("result", "reason"), [
    (float("nan"), "returned NaN"), ("0.3", "'0.3' (str)"), (None, "None (NoneType)"),
    ([1.0, 2.0], "2 values for a study with 1 objective"),
    # beyond the float range (float(10**400) raises OverflowError); too long even to print
    pytest.param(10 ** 400, "an int of about 401 digits", id="10**400"),
    pytest.param(-10 ** 5000, "an int of about 5001 digits", id="-10**5000")])
def test_unusable_return_value_fails_the_trial(storage, result, reason):
    study = pipetune.create_study(storage=storage)
    study.optimize(lambda t: result, n_trials=2)  # no exception: the study goes on
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 2
    assert reason in study.trials[0].system_attrs["fail_reason"]


def test_pruned_trials(storage):
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        trial.report(7.0, 0)
        if trial.number == 0:
            raise pipetune.TrialPruned()
        return 1.0

    study.optimize(objective, n_trials=2)
    assert study.trials[0].state == TrialState.PRUNED and study.trials[0].value == 7.0
    assert study.trials[1].state == TrialState.COMPLETE


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_keyboard_interrupt_fails_the_trial_and_propagates(storage, n_jobs):
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        trial.suggest_float("x", 0, 1)
        if trial.number == 2:
            raise KeyboardInterrupt
        time.sleep(0.002)
        return 1.0

    with pytest.raises(KeyboardInterrupt):
        study.optimize(objective, n_trials=20, n_jobs=n_jobs)
    states = {t.number: t.state for t in study.trials}
    assert TrialState.RUNNING not in states.values()
    assert states[2] == TrialState.FAIL
    assert "KeyboardInterrupt" in study.trials[2].system_attrs["fail_reason"]
    # the study is still usable
    study.optimize(quadratic, n_trials=1)
    assert study.trials[-1].state == TrialState.COMPLETE


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"n_trials": -3}, "'n_trials'"),
    ({"n_trials": 0}, "'n_trials'"),
    ({"n_trials": 2.5}, "'n_trials'"),
    ({"n_trials": True}, "'n_trials'"),
    ({"n_trials": "10"}, "'n_trials'"),
    ({"n_jobs": 0}, "'n_jobs'"),
    ({"n_jobs": -2}, "'n_jobs'"),
    ({"n_jobs": 1.0}, "'n_jobs'"),
    ({"timeout": 0}, "'timeout'"),
    ({"timeout": -1.0}, "'timeout'"),
    ({"timeout": "60"}, "'timeout'"),
    ({"timeout": float("nan")}, "'timeout'"),
    ({"catch": 1}, "'catch'"),
    ({"catch": "ValueError"}, "'catch'"),
    ({"catch": (ValueError, 3)}, "'catch'"),
    ({"callbacks": 5}, "'callbacks'"),
    ({"callbacks": [print, "not callable"]}, "'callbacks'"),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    study = pipetune.create_study()
    with pytest.raises(InvalidArgumentError) as info:
        study.optimize(quadratic, **{"n_trials": 1, **kwargs})
    assert argument in str(info.value)
    assert "Got" in str(info.value)
    assert study.trials == []  # nothing ran


def test_non_callable_objective():
    study = pipetune.create_study()
    with pytest.raises(InvalidArgumentError, match="callable objective"):
        study.optimize("objective", n_trials=1)


def test_show_progress_bar(storage, capsys):
    study = pipetune.create_study(storage=storage)
    study.optimize(quadratic, n_trials=4, show_progress_bar=True)
    first = capsys.readouterr().err.replace("\r", "\n").splitlines()[-1]
    # The last state of the bar: trials done of the budget, and the best value and trial.
    assert "4/4" in first
    assert f"best={study.best_value:.6g}" in first and f"trial={study.best_trial.number}" in first
    study.optimize(quadratic, timeout=0.05, show_progress_bar=True, n_jobs=2)
    assert len(study.trials) >= 5
    assert "trial" in capsys.readouterr().err


def test_no_budget_runs_until_stopped():
    study = pipetune.create_study()

    def objective(trial):
        if trial.number == 9:
            study.stop()
        return 0.0

    study.optimize(objective)
    assert len(study.trials) == 10


def test_study_wide_max_parallel_caps_the_threads_of_optimize(storage):
    study = pipetune.create_study(storage=storage, max_parallel=2)
    lock, running, most = threading.Lock(), [0], [0]

    def objective(trial):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1
        return trial.suggest_float("x", 0, 1)

    study.optimize(objective, n_trials=12, n_jobs=4)
    assert most[0] <= 2
    assert sum(t.state == TrialState.COMPLETE for t in study.trials) == 12


def test_study_wide_max_trials_binds_every_optimize_call(storage):
    study = pipetune.create_study(storage=storage, max_trials=5)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    assert len(study.trials) == 5
    study.optimize(lambda trial: 0.0, n_trials=3)  # the budget is spent: starts nothing
    assert len(study.trials) == 5


@pytest.mark.parametrize("argument", ["max_trials", "max_parallel"])
@pytest.mark.parametrize("value", [0, -1, 1.5, True])
def test_bad_study_budget_names_the_argument(argument, value):
    with pytest.raises(InvalidArgumentError, match=argument):
        pipetune.create_study(**{argument: value})


# -- what optimize returns -------------------------------------------------------------------


def test_optimize_returns_the_trials_it_ran_how_they_ended_and_the_best(storage):
    study = pipetune.create_study(storage=storage, sampler=RandomSampler(seed=0))
    study.optimize(quadratic, n_trials=2)  # an earlier run: not counted, but its best counts

    def objective(trial):
        value = quadratic(trial)
        if trial.number == 3:
            trial.report(value, step=0)
            raise pipetune.TrialPruned()
        if trial.number == 4:
            raise Boom("no value")
        return value

    result = study.optimize(objective, n_trials=5, catch=Boom)
    assert result.trial_numbers == (2, 3, 4, 5, 6) and result.n_trials == 5
    assert (result.n_complete, result.n_pruned, result.n_failed) == (3, 1, 1)
    assert result.stop_reason == pipetune.StopReason.N_TRIALS
    assert result.stop_message == "ran the 5 trial(s) asked for"
    assert result.best_trial == study.best_trial and result.best_value == study.best_value
    assert result.duration >= 0
    assert "5 trial(s) (3 COMPLETE, 1 PRUNED, 1 FAIL)" in repr(result)
    with pytest.raises(AttributeError):
        result.n_complete = 0  # frozen


def test_a_multi_objective_result_has_no_single_best_trial():
    study = pipetune.create_study(directions=["minimize", "maximize"])
    result = study.optimize(lambda t: (quadratic(t), 1.0), n_trials=2)
    assert result.n_complete == 2 and result.best_trial is None and result.best_value is None


def test_the_result_says_the_timeout_stopped_it():
    study = pipetune.create_study()

    def objective(trial):
        time.sleep(0.02)
        return quadratic(trial)

    result = study.optimize(objective, n_trials=100_000, timeout=0.2)
    assert result.stop_reason == pipetune.StopReason.TIMEOUT
    assert result.stop_message == "the timeout of 0.2s passed"
    assert result.n_trials == len(study.trials)


def test_the_result_says_a_stopping_criterion_stopped_it():
    from pipetune.stopping import TargetValue

    study = pipetune.create_study(sampler=RandomSampler(seed=0))
    result = study.optimize(quadratic, n_trials=1000, stop_when=TargetValue(0.5))
    assert result.stop_reason == pipetune.StopReason.STOPPING_CRITERION
    assert result.stop_message.startswith(f"trial {study.best_trial.number} reached the target")
    assert result.n_trials == len(study.trials) < 1000


def test_the_result_says_the_study_budget_stopped_it_even_with_a_timeout(storage):
    study = pipetune.create_study(storage=storage, max_trials=3)
    for n_jobs in (1, 2):
        study = pipetune.load_study(study_name=study.study_name,
                                    storage=study.run_interface.storage)
        result = study.optimize(quadratic, n_trials=10, timeout=600, n_jobs=n_jobs)
        assert result.stop_reason == pipetune.StopReason.STUDY_BUDGET
        assert result.stop_message == f"study {study.study_name!r} has its max_trials=3 trials"
    assert len(study.trials) == 3


def test_the_result_says_the_grid_ran_out():
    from pipetune.samplers import GridSampler

    study = pipetune.create_study(sampler=GridSampler({"x": [0.0, 1.0, 2.0]}))
    result = study.optimize(lambda t: t.suggest_float("x", 0, 2), n_trials=10)
    assert result.stop_reason == pipetune.StopReason.SEARCH_SPACE_EXHAUSTED
    assert result.n_trials == 3


def test_the_result_says_stop_was_called():
    study = pipetune.create_study()
    result = study.optimize(quadratic, n_trials=50,
                            callbacks=[lambda s, t: s.stop() if t.number == 1 else None])
    assert result.stop_reason == pipetune.StopReason.STOP_CALLED
    assert result.n_trials == 2


# -- what optimize logs ------------------------------------------------------------------------


@pytest.fixture
def default_logging():
    """pipetune's logging as a newcomer has it, put back as it was after the test."""
    verbosity = pipetune.logging.get_verbosity()
    pipetune.logging.set_verbosity(pipetune.logging.INFO)
    pipetune.logging.enable_default_handler()
    yield
    pipetune.logging.enable_default_handler()
    pipetune.logging.set_verbosity(verbosity)


def test_each_finished_trial_is_logged_by_default(default_logging, capsys):
    study = pipetune.create_study()
    study.enqueue_trial({"x": 1.0})
    study.enqueue_trial({"x": 0.0})
    study.optimize(quadratic, n_trials=2)
    err = capsys.readouterr().err
    assert ("INFO Trial 0 finished with value 0.25 and params {'x': 1.0}. "
            "Best is trial 0 with value 0.25.\n") in err
    assert "INFO Trial 1 finished with value 0.25 and params {'x': 0.0}. Best is trial 0" in err


def test_set_verbosity_silences_the_trial_lines_and_keeps_warnings(default_logging, capsys):
    pipetune.logging.set_verbosity(pipetune.logging.WARNING)
    assert pipetune.logging.get_verbosity() == pipetune.logging.WARNING
    study = pipetune.create_study()

    def objective(trial):
        if trial.number == 1:
            raise Boom("bad params")
        return quadratic(trial)

    study.optimize(objective, n_trials=2, catch=Boom)
    err = capsys.readouterr().err
    assert "finished with value" not in err
    assert "WARNING Trial 1 failed with Boom: bad params" in err
    with pytest.raises(InvalidArgumentError, match="logging level"):
        pipetune.logging.set_verbosity("quiet")


def test_without_the_default_handler_records_reach_the_applications_logging(
        default_logging, capsys, caplog):
    pipetune.logging.disable_default_handler()
    with caplog.at_level("INFO", logger="pipetune"):
        pipetune.create_study().optimize(quadratic, n_trials=1)
    assert "finished with value" not in capsys.readouterr().err  # printed once, by the app's
    assert any(r.name == "pipetune" and "Trial 0 finished" in r.getMessage()
               for r in caplog.records)


def test_a_failed_trials_message_is_printed_whole_above_the_progress_bar(
        default_logging, capsys):
    study = pipetune.create_study()

    def objective(trial):
        if trial.number == 0:
            raise Boom("the data file is missing\nsecond line of the reason")
        return quadratic(trial)

    study.optimize(objective, n_trials=3, catch=Boom, show_progress_bar=True)
    # The bar draws its line without ending it ("\r" redraws it): a message simply written
    # after it would continue the bar's line instead of standing on lines of its own.
    pieces = capsys.readouterr().err.replace("\r", "\n").splitlines()
    start = next(i for i, piece in enumerate(pieces) if "WARNING Trial 0 failed" in piece)
    assert pieces[start].startswith("[")  # the log line's own start, not the bar's
    assert pieces[start].endswith("WARNING Trial 0 failed with Boom: the data file is missing")
    assert pieces[start + 1] == "second line of the reason"
