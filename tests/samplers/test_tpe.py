"""TPESampler, the default sampler: what a user relies on.

Seeded studies repeat exactly (also when resumed in a new process), the sampler beats random
search on simple problems, conditional and changing search spaces work, parallel trials spread
out (constant liar), several objectives get a good Pareto front, pruned trials count, and bad
arguments are refused. Tests compare behaviour across several seeds rather than exact numbers,
so that tuning the defaults (bandwidth, gamma) does not break them.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pipetune
from pipetune.samplers import RandomSampler, TPESampler
from pipetune.samplers.tpe.parzen import Axis, ParzenEstimator

# The objective lives in source form so the resume test can run the very same code in a new
# process; the tests exec it once here.
OBJECTIVE_SOURCE = textwrap.dedent('''
    import math

    def mixed_objective(trial):
        lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        layers = trial.suggest_int("layers", 1, 8)
        dropout = trial.suggest_float("dropout", 0.0, 0.5, step=0.05)
        units = trial.suggest_int("units", 4, 512, log=True)
        act = trial.suggest_categorical("act", ["relu", "tanh", "gelu"])
        penalty = {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[act]
        return ((math.log10(lr) + 3) ** 2 + (layers - 3) ** 2 / 4 + (dropout - 0.2) ** 2
                + (math.log2(units) - 7) ** 2 / 10 + penalty)
''')
_namespace: dict = {}
exec(OBJECTIVE_SOURCE, _namespace)
mixed_objective = _namespace["mixed_objective"]


def _params(study: pipetune.Study) -> list[dict]:
    return [t.params for t in study.trials]


def quadratic(trial) -> float:
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    return (x - 1.5) ** 2 + (y + 2) ** 2


# -- reproducibility ---------------------------------------------------------------------------


def test_same_seed_gives_the_same_trials():
    a = pipetune.create_study(sampler=TPESampler(seed=3))
    b = pipetune.create_study(sampler=TPESampler(seed=3))
    a.optimize(mixed_objective, n_trials=40)
    b.optimize(mixed_objective, n_trials=40)
    assert _params(a) == _params(b)
    assert [t.value for t in a.trials] == [t.value for t in b.trials]


def test_different_seeds_give_different_trials():
    a = pipetune.create_study(sampler=TPESampler(seed=3))
    b = pipetune.create_study(sampler=TPESampler(seed=4))
    a.optimize(mixed_objective, n_trials=20)
    b.optimize(mixed_objective, n_trials=20)
    # Both during the random startup and once the model is used.
    assert _params(a)[:10] != _params(b)[:10]
    assert _params(a)[10:] != _params(b)[10:]


def test_same_seed_gives_the_same_trials_in_memory_and_in_sqlite(sqlite_url: str):
    """SQLite hands params back in another order than they were suggested; a seeded study must
    not depend on that order (it once did, from the first trial after the startup)."""
    in_memory = pipetune.create_study(sampler=TPESampler(seed=3))
    in_sqlite = pipetune.create_study(storage=sqlite_url, sampler=TPESampler(seed=3))
    in_memory.optimize(mixed_objective, n_trials=20)
    in_sqlite.optimize(mixed_objective, n_trials=20)
    assert _params(in_sqlite) == _params(in_memory)


def test_study_resumed_in_a_new_process_continues_like_an_uninterrupted_one(tmp_path: Path,
                                                                            sqlite_url: str):
    whole = pipetune.create_study(sampler=TPESampler(seed=3))
    whole.optimize(mixed_objective, n_trials=30)

    first = pipetune.create_study(storage=sqlite_url, study_name="resume",
                                  sampler=TPESampler(seed=3))
    first.optimize(mixed_objective, n_trials=15)
    script = tmp_path / "resume.py"
    script.write_text(OBJECTIVE_SOURCE + textwrap.dedent(f'''
        import pipetune
        from pipetune.samplers import TPESampler

        study = pipetune.load_study(study_name="resume", storage={sqlite_url!r},
                                    sampler=TPESampler(seed=3))
        study.optimize(mixed_objective, n_trials=15)
    '''))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr

    resumed = pipetune.load_study(study_name="resume", storage=sqlite_url,
                                  sampler=TPESampler(seed=3))
    assert len(resumed.trials) == 30
    assert _params(resumed) == _params(whole)
    assert [t.value for t in resumed.trials] == [t.value for t in whole.trials]


def test_seeded_study_does_not_depend_on_reading_the_history_in_between():
    """A study driven by ask/tell, refreshed at every step, proposes what optimize does."""
    by_optimize = pipetune.create_study(sampler=TPESampler(seed=5))
    by_optimize.optimize(quadratic, n_trials=25)
    by_hand = pipetune.create_study(sampler=TPESampler(seed=5))
    for _ in range(25):
        trial = by_hand.ask()
        by_hand.tell(trial, quadratic(trial))
        assert by_hand.trials[-1].state == pipetune.TrialState.COMPLETE
    assert _params(by_hand) == _params(by_optimize)


# -- it learns ---------------------------------------------------------------------------------


def test_beats_random_search_on_a_quadratic():
    def median_best(make_sampler) -> float:
        bests = []
        for seed in range(5):
            study = pipetune.create_study(sampler=make_sampler(seed))
            study.optimize(quadratic, n_trials=60)
            bests.append(study.best_value)
        return float(np.median(bests))

    tpe = median_best(lambda seed: TPESampler(seed=seed))
    random = median_best(lambda seed: RandomSampler(seed=seed))
    assert tpe < random / 5, (tpe, random)


def test_later_trials_mostly_pick_the_best_choice():
    def objective(trial) -> float:
        choice = trial.suggest_categorical("optimizer", ["sgd", "adam", "rmsprop", "adagrad"])
        x = trial.suggest_float("x", 0, 1)
        return {"sgd": 1.0, "adam": 0.0, "rmsprop": 1.2, "adagrad": 0.9}[choice] + 0.1 * x

    late = []
    for seed in range(3):
        study = pipetune.create_study(sampler=TPESampler(seed=seed))
        study.optimize(objective, n_trials=60)
        late += [t.params["optimizer"] for t in study.trials[30:]]
    # Random search would pick it a quarter of the time.
    assert late.count("adam") / len(late) > 0.5


# -- search spaces -----------------------------------------------------------------------------


def _conditional_objective(trial) -> float:
    model = trial.suggest_categorical("model", ["svm", "rf"])
    if model == "svm":
        c = trial.suggest_float("svm_c", 1e-3, 1e3, log=True)
        kernel = trial.suggest_categorical("svm_kernel", ["linear", "rbf"])
        return abs(math.log10(c) - 1) + (0.5 if kernel == "linear" else 0.0)
    depth = trial.suggest_int("rf_depth", 2, 32)
    n_trees = trial.suggest_int("rf_trees", 10, 1000, log=True)
    features = trial.suggest_float("rf_features", 0.1, 1.0, step=0.1)
    return 0.3 + abs(depth - 8) / 10 + abs(math.log10(n_trees) - 2) + abs(features - 0.5)


@pytest.mark.parametrize("options", [{}, {"multivariate": False}, {"group": False}],
                         ids=["default", "independent", "ungrouped"])
def test_conditional_space_keeps_branches_apart_and_respects_domains(options):
    study = pipetune.create_study(sampler=TPESampler(seed=1, **options))
    study.optimize(_conditional_objective, n_trials=50)
    svm_keys = {"model", "svm_c", "svm_kernel"}
    rf_keys = {"model", "rf_depth", "rf_trees", "rf_features"}
    models = []
    for trial in study.trials:
        params = trial.params
        models.append(params["model"])
        if params["model"] == "svm":
            assert set(params) == svm_keys, params
            assert isinstance(params["svm_c"], float) and 1e-3 <= params["svm_c"] <= 1e3
            assert params["svm_kernel"] in ("linear", "rbf")
        else:
            assert set(params) == rf_keys, params
            assert type(params["rf_depth"]) is int and 2 <= params["rf_depth"] <= 32
            assert type(params["rf_trees"]) is int and 10 <= params["rf_trees"] <= 1000
            features = params["rf_features"]
            assert isinstance(features, float) and 0.1 <= features <= 1.0
            assert math.isclose(features * 10, round(features * 10), abs_tol=1e-9), features
    assert set(models) == {"svm", "rf"}
    if not options:
        assert study.best_value < 0.5


def test_categorical_choices_that_change_between_trials():
    def objective(trial) -> float:
        choices = ["a", "b"] if trial.number < 20 else ["a", "b", "c"]
        letter = trial.suggest_categorical("letter", choices)
        x = trial.suggest_float("x", 0, 1)
        return {"a": 1.0, "b": 0.5, "c": 0.0}[letter] + x

    study = pipetune.create_study(sampler=TPESampler(seed=2))
    study.optimize(objective, n_trials=50)
    letters = [t.params["letter"] for t in study.trials]
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    assert "c" not in letters[:20]
    assert "c" in letters[20:]
    assert study.best_params["letter"] == "c"


# -- parallel trials ---------------------------------------------------------------------------


def _batch_min_distance(constant_liar: bool | None, seed: int) -> float:
    """Smallest distance between the values of 4 trials asked at once after 20 finished."""
    def objective(trial) -> float:
        return (trial.suggest_float("x", -10, 10) - 2) ** 2

    study = pipetune.create_study(sampler=TPESampler(seed=seed, constant_liar=constant_liar))
    study.optimize(objective, n_trials=20)
    batch = [study.ask() for _ in range(4)]
    xs = [trial.suggest_float("x", -10, 10) for trial in batch]
    return min(abs(a - b) for a, b in itertools.combinations(xs, 2))


def test_constant_liar_spreads_out_trials_that_run_at_once():
    seeds = range(12)
    with_liar = np.median([_batch_min_distance(None, seed) for seed in seeds])
    without = np.median([_batch_min_distance(False, seed) for seed in seeds])
    assert with_liar > 2 * without, (with_liar, without)
    forced = np.median([_batch_min_distance(True, seed) for seed in seeds])
    assert forced > 2 * without, (forced, without)


def test_parallel_optimize_runs_exactly_n_trials():
    study = pipetune.create_study(sampler=TPESampler(seed=0))
    study.optimize(quadratic, n_trials=40, n_jobs=4)
    trials = study.trials
    assert len(trials) == 40
    assert [t.number for t in trials] == list(range(40))
    assert all(t.state == pipetune.TrialState.COMPLETE for t in trials)
    assert study.best_value < 1.0


# -- several objectives ------------------------------------------------------------------------


def _zdt1(trial) -> tuple[float, float]:
    x1 = trial.suggest_float("x1", 0, 1)
    x2 = trial.suggest_float("x2", 0, 1)
    g = 1 + 9 * x2
    return x1, g * (1 - math.sqrt(x1 / g))


def _hypervolume(points: list[tuple[float, float]], reference: tuple[float, float]) -> float:
    area, lowest = 0.0, reference[1]
    for f1, f2 in sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1]):
        if f2 < lowest:
            area += (reference[0] - f1) * (lowest - f2)
            lowest = f2
    return area


def test_multi_objective_front_is_pareto_and_beats_random():
    def front_quality(sampler) -> float:
        study = pipetune.create_study(directions=["minimize", "minimize"], sampler=sampler)
        study.optimize(_zdt1, n_trials=80)
        front = study.best_trials
        assert front
        complete = [t for t in study.trials if t.state == pipetune.TrialState.COMPLETE]
        for member in front:
            for other in complete:
                dominates = (all(o <= m for o, m in zip(other.values, member.values))
                             and any(o < m for o, m in zip(other.values, member.values)))
                assert not dominates, (member.number, other.number)
        return _hypervolume([tuple(t.values) for t in front], (1.1, 11.0))

    tpe = [front_quality(TPESampler(seed=seed)) for seed in range(3)]
    random = [front_quality(RandomSampler(seed=seed)) for seed in range(3)]
    assert np.median(tpe) > np.median(random), (tpe, random)


def test_default_sampler_runs_a_multi_objective_study():
    study = pipetune.create_study(directions=["minimize", "maximize"])
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), t.suggest_float("y", 0, 1)),
                   n_trials=20)
    assert len(study.trials) == 20
    assert study.best_trials


# -- pruned trials -----------------------------------------------------------------------------


def test_pruned_trials_count_towards_startup_and_guide_sampling():
    """Every trial is pruned after reporting (x - 0.8)^2, so only pruned trials can teach the
    sampler where the good region is."""
    def run(sampler) -> list[float]:
        study = pipetune.create_study(sampler=sampler)
        for _ in range(40):
            trial = study.ask()
            x = trial.suggest_float("x", 0, 1)
            trial.report((x - 0.8) ** 2, step=0)
            trial.report((x - 0.8) ** 2 / 2, step=1)
            study.tell(trial, state="PRUNED")
        assert all(t.state == pipetune.TrialState.PRUNED for t in study.trials)
        return [abs(t.params["x"] - 0.8) for t in study.trials[20:]]

    for seed in range(2):
        tpe = run(TPESampler(seed=seed, n_startup_trials=5))
        random = run(RandomSampler(seed=seed))
        assert np.median(tpe) < np.median(random) / 2, (np.median(tpe), np.median(random))


def test_pruned_trials_are_compared_at_equal_budget():
    """Hyperband's brackets stop trials at different steps: a trial that led at step 3 in an
    aggressive bracket must rank above one that trailed at every step but ran to step 9 in a
    conservative bracket (BOHB compares configurations at one budget, Falkner et al. 2018)."""
    from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
    from pipetune.distributions import FloatDistribution
    from pipetune.samplers.tpe.observations import Observations

    curves = {
        "leads_at_3": {1: 0.2, 3: 0.25},                        # pruned at 3
        "trails_to_9": {1: 0.9, 3: 0.85, 9: 0.8},               # pruned at 9, worst throughout
        "leads_at_9": {1: 0.3, 3: 0.2, 9: 0.1},                 # pruned at 9
        "middling_at_3": {1: 0.5, 3: 0.6},                      # pruned at 3
    }
    trials = [FrozenTrial(number=i, trial_id=i, state=TrialState.PRUNED,
                          params={"x": i / 10}, distributions={"x": FloatDistribution(0, 1)},
                          intermediate_values=curve)
              for i, curve in enumerate(curves.values())]
    observations = Observations((StudyDirection.MINIMIZE,))
    observations.update(trials)
    ranked = observations.rank(lambda n: 2, observations.n)
    names = list(curves)
    good = {names[row] for row in ranked.order[:ranked.n_below]}
    assert good == {"leads_at_9", "leads_at_3"}
    # A complete trial still comes first, however it compares.
    observations.update(trials + [FrozenTrial(
        number=4, trial_id=4, state=TrialState.COMPLETE, values=(0.95,), params={"x": 0.4},
        distributions={"x": FloatDistribution(0, 1)}, intermediate_values={1: 0.99, 9: 0.95})])
    assert observations.rank(lambda n: 2, observations.n).order[0] == 4


def test_failed_trials_are_ignored():
    def objective(trial) -> float:
        x = trial.suggest_float("x", -5, 5)
        if trial.number % 3 == 0:
            raise RuntimeError("flaky")
        return (x - 1) ** 2

    study = pipetune.create_study(sampler=TPESampler(seed=0))
    study.optimize(objective, n_trials=40, catch=(RuntimeError,))
    assert len(study.trials) == 40
    assert study.best_value < 0.5


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, name", [
    ({"n_startup_trials": -1}, "n_startup_trials"),
    ({"n_startup_trials": 2.5}, "n_startup_trials"),
    ({"n_ei_candidates": 0}, "n_ei_candidates"),
    ({"n_ei_candidates": True}, "n_ei_candidates"),
    ({"prior_weight": 0}, "prior_weight"),
    ({"prior_weight": -1.0}, "prior_weight"),
    ({"prior_weight": float("nan")}, "prior_weight"),
    ({"gamma": 5}, "gamma"),
])
def test_bad_arguments_are_refused(kwargs, name):
    with pytest.raises(pipetune.InvalidArgumentError, match=name):
        TPESampler(**kwargs)


def test_zero_startup_trials_and_custom_gamma_work():
    study = pipetune.create_study(
        sampler=TPESampler(seed=0, n_startup_trials=0, gamma=lambda n: max(1, n // 4)))
    study.optimize(quadratic, n_trials=15)
    assert len(study.trials) == 15
    # Plain Python floats, as the user gets from suggest_float, not numpy scalars.
    assert all(type(v) is float for params in _params(study) for v in params.values())


# -- Optuna's keywords ---------------------------------------------------------------------------


def test_weights_are_asked_for_the_good_and_the_bad_trials_and_used():
    """The function gets the size of the good set and of the bad set (oldest trial first);
    a zero weight removes that trial's kernel from the density."""
    sizes = []

    def weights(n: int) -> np.ndarray:
        sizes.append(n)
        return np.ones(n)

    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=4,
                                                     weights=weights, multivariate=False))
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=6)
    assert sizes == [1, 3, 1, 4]  # trials 4 and 5: gamma(4) = 1 good, then gamma(5) = 1

    axes = [Axis.of("x", pipetune.FloatDistribution(0.0, 1.0))]
    points = np.array([[0.1], [0.9]])
    only_second = ParzenEstimator(axes, points, prior_weight=1e-6, bandwidth_factor=0.05,
                                  min_bandwidth_fraction=0.01, weights=np.array([0.0, 1.0]))
    density = only_second.log_pdf(np.array([[0.1], [0.9]]))
    assert density[1] > density[0] + 10


def test_weights_of_the_wrong_shape_are_an_error():
    study = pipetune.create_study(
        sampler=TPESampler(seed=0, n_startup_trials=2, weights=lambda n: np.ones(n + 1)))
    with pytest.raises(pipetune.InvalidArgumentError, match="weights"):
        study.optimize(quadratic, n_trials=4)


def test_infeasible_trials_rank_after_feasible_ones():
    """x <= 0 is feasible; the unconstrained optimum (x = 1.5) is not: with constraints the
    sampler searches at the feasible boundary x = 0 instead."""
    def objective(trial) -> float:
        value = quadratic(trial)
        trial.set_constraint("x", trial.params["x"])
        return value

    late = {}
    for constrained in (False, True):
        study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=10))
        study.optimize(objective if constrained else quadratic, n_trials=60)
        late[constrained] = float(np.median([t.params["x"] for t in study.trials[30:]]))
    assert abs(late[True]) < 0.5 < 1.0 < late[False]


def test_constraints_func_is_recorded_on_each_trial():
    study = pipetune.create_study(sampler=TPESampler(
        seed=0, n_startup_trials=2, constraints_func=lambda t: [t.params["x"], -1.0]))
    study.optimize(quadratic, n_trials=5)
    for trial in study.trials:
        assert trial.constraints == {"0": trial.params["x"], "1": -1.0}


def test_keywords_that_change_nothing_here_say_so():
    with pytest.warns(UserWarning, match="consider_prior"):
        TPESampler(consider_prior=False)
    with pytest.warns(UserWarning, match="consider_endpoints"):
        TPESampler(consider_endpoints=True)
    TPESampler(consider_prior=True, consider_endpoints=False, consider_magic_clip=False,
               prior_weight=None, gamma=None, multivariate=None)


def test_warns_about_independent_sampling_when_asked():
    def objective(trial) -> float:  # the domain of z changes: it cannot be modelled jointly
        return quadratic(trial) + trial.suggest_float("z", 0, 1 + trial.number)

    study = pipetune.create_study(sampler=TPESampler(seed=0, n_startup_trials=2,
                                                     warn_independent_sampling=True))
    with pytest.warns(UserWarning, match="'z'"):
        study.optimize(objective, n_trials=6)
