"""The rest of Hyperopt's public API on pipetune, piece by piece: expressions on ``hp`` nodes,
``scope``, ``hp.pchoice``, ``pyll.stochastic.sample``, the other algorithms, ``Trials``
attachments and statistics, ``fmin``'s options, ``generate_trials_to_calculate``,
``no_progress_loss``, shared storages and the ``trials.fmin`` hook a ``Trials`` subclass uses."""

from __future__ import annotations

import functools
import math
import pickle

import numpy as np
import pytest

import pipetune
import pipetune.compat.hyperopt as hyperopt
from pipetune.compat.hyperopt import (
    STATUS_FAIL,
    STATUS_OK,
    Trials,
    anneal,
    atpe,
    exceptions,
    fmin,
    hp,
    mix,
    rand,
    space_eval,
    tpe,
)
from pipetune.compat.hyperopt.early_stop import no_progress_loss
from pipetune.compat.hyperopt.fmin import generate_trials_to_calculate
from pipetune.compat.hyperopt.pyll import as_apply, scope
from pipetune.compat.hyperopt.pyll.stochastic import sample


def test_arithmetic_on_nodes_is_evaluated_with_the_sample():
    x = hp.uniform("x", -5, 5)
    space = {"sq": (x - 3) ** 2, "neg": -x, "half": x / 2, "twice": 2 * x, "shift": 1 + x,
             "rpow": 2 ** x, "floor": x // 1, "mod": x % 2, "abs": abs(x), "pos": x > 0,
             "np": np.float64(2.0) * x}
    value = space_eval(space, {"x": 1.5})
    assert value == {"sq": 2.25, "neg": -1.5, "half": 0.75, "twice": 3.0, "shift": 2.5,
                     "rpow": 2 ** 1.5, "floor": 1.0, "mod": 1.5, "abs": 1.5, "pos": True,
                     "np": 3.0}
    with pytest.raises(TypeError, match="index it"):
        list(x)


def test_indexing_scope_functions_and_as_apply():
    o_x = hp.choice("o_x", [(-3, hp.uniform("x_neg", -5, 5)), (3, hp.uniform("x_pos", -5, 5))])
    assert space_eval((o_x[0] - o_x[1]) ** 2, {"o_x": 1, "x_pos": 1.0}) == 4.0

    arm = hp.choice("arm", [0, 1])
    mus = as_apply([-1, 0])
    assert space_eval(mus[arm], {"arm": 0}) == -1
    assert space_eval(as_apply({"a": [1, arm]}), {"arm": 1}) == {"a": (1, 1)}

    x = hp.uniform("x", 0, 4)
    loss = scope.min(0.1 * (scope.exp(x) - 10) ** 2, 10) + scope.sin(0) + scope.int(x)
    assert space_eval(loss, {"x": 0.0}) == pytest.approx(8.1)

    @scope.define
    def twice(value):
        return 2 * value

    assert space_eval(scope.twice(x), {"x": 1.25}) == 2.5
    with pytest.raises(AttributeError, match="scope.define"):
        scope.no_such_function  # noqa: B018


def test_fmin_minimizes_a_loss_written_as_an_expression():
    # Hyperopt's own way of writing a test problem: the space holds the loss itself.
    space = {"loss": (hp.uniform("x", -5, 5) - 3) ** 2, "status": STATUS_OK}
    trials = Trials()
    best = fmin(lambda result: result, space, algo=tpe.suggest, max_evals=40, trials=trials,
                rstate=np.random.default_rng(0))
    assert abs(best["x"] - 3) < 0.5
    assert min(trials.losses()) == pytest.approx((best["x"] - 3) ** 2)


def test_a_node_used_twice_has_one_value_per_sample():
    u = scope.uniform(0, 1)
    shared = hp.uniform("s", 0, 1)
    space = {"u": u, "l": [0, 1, scope.one_of(2, 3), u], "a": shared, "b": shared * 1}
    for seed in range(5):
        value = sample(space, np.random.default_rng(seed))
        assert value["u"] == value["l"][3] and value["l"][:2] == (0, 1)
        assert value["l"][2] in (2, 3) and value["a"] == value["b"]
    samples = []
    fmin(lambda s: samples.append(s) or 0.0, space, algo=rand.suggest, max_evals=3)
    assert all(s["u"] == s["l"][3] and s["a"] == s["b"] for s in samples)


def test_sample_draws_from_the_priors_and_is_repeatable():
    space = {"n": hp.normal("n", 5, 0.1), "r": hp.randint("r", 5, 15), "z": scope.normal(0, 1),
             "c": hp.choice("c", [1, 2]), "q": hp.quniform("q", 0, 10, 2)}
    first = sample(space, np.random.default_rng(3))
    assert first == sample(space, np.random.default_rng(3))
    assert first != sample(space, np.random.default_rng(4))
    draws = [sample(space, np.random.default_rng(i)) for i in range(200)]
    assert {d["r"] for d in draws} == set(range(5, 15))
    assert all(d["q"] % 2 == 0 for d in draws)
    assert 4.9 < np.mean([d["n"] for d in draws]) < 5.1
    assert sample(as_apply([0, 1]), np.random.default_rng(0)) == (0, 1)


def test_pchoice_weights_the_prior_of_sample_and_rand():
    space = hp.pchoice("a", [(0.1, 0), (0.2, 1), (0.3, 2), (0.4, 3)])
    rng = np.random.default_rng(0)
    counts = np.bincount([sample(space, rng) for _ in range(2000)], minlength=4)
    assert np.allclose(counts / 2000, [0.1, 0.2, 0.3, 0.4], atol=0.04)

    trials = Trials()
    fmin(lambda a: 0.0, space, algo=rand.suggest, max_evals=200, trials=trials,
         rstate=np.random.default_rng(1))
    chosen = np.bincount([t["misc"]["vals"]["a"][0] for t in trials.trials], minlength=4)
    assert chosen[3] > chosen[0] * 2
    with pytest.raises(ValueError, match="sum to 1"):
        hp.pchoice("p", [(0.5, "a"), (0.2, "b")])


def test_hp_uniform_needs_room_and_labels_are_unique():
    with pytest.raises(ValueError):
        hp.uniform("stub", 10, 10)
    with pytest.raises(exceptions.DuplicateLabel):
        fmin(lambda xy: 0.0, [hp.uniform("x", -5, 5), hp.uniform("x", -5, 5)],
             algo=rand.suggest, max_evals=1)
    assert issubclass(exceptions.DuplicateLabel, pipetune.PipetuneError)


@pytest.mark.parametrize("algo", [
    anneal.suggest, functools.partial(anneal.suggest, shrink_coef=0.2), atpe.suggest,
    functools.partial(mix.suggest, p_suggest=[(0.3, rand.suggest), (0.7, tpe.suggest)]),
], ids=["anneal", "anneal-options", "atpe", "mix"])
def test_the_other_algorithms_search_conditional_spaces(algo):
    space = hp.choice("a", [("case 1", 1 + hp.lognormal("c1", 0, 1)),
                            ("case 2", hp.uniform("c2", -10, 10))])

    def objective(args):
        case, value = args
        return value if case == "case 1" else value ** 2

    trials = Trials()
    best = fmin(objective, space, algo=algo, max_evals=30, trials=trials,
                rstate=np.random.default_rng(1))
    assert len(trials) == 30 and min(trials.losses()) < 1.5
    assert objective(space_eval(space, best)) == min(trials.losses())


def test_algorithm_options_are_checked():
    with pytest.raises(pipetune.InvalidArgumentError, match="p_suggest"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), algo=mix.suggest, max_evals=1)
    with pytest.raises(pipetune.InvalidArgumentError, match="sum to 1"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=1,
             algo=functools.partial(mix.suggest, p_suggest=[(0.5, rand.suggest)]))
    with pytest.raises(pipetune.InvalidArgumentError, match="anneal.suggest option"):
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=1,
             algo=functools.partial(anneal.suggest, speed=2))


def test_generate_trials_to_calculate_and_no_progress_loss():
    # The given point lies outside the domain: it is evaluated as given, and never beaten.
    trials = generate_trials_to_calculate([{"x": -100}])
    fmin(lambda x: x, hp.uniform("x", -5, 5), algo=rand.suggest, max_evals=500, trials=trials,
         early_stop_fn=no_progress_loss(10))
    assert len(trials) == 10
    assert trials.trials[0]["misc"]["vals"]["x"] == [-100]
    assert trials.argmin == {"x": -100} and trials.best_trial["result"]["loss"] == -100

    stop = no_progress_loss(2, percent_increase=10.0)

    class Record:
        def __init__(self, *losses):
            self.trials = [{"result": {"loss": loss}} for loss in losses]

    assert stop(Record(10.0)) == (False, [10.0, 1])
    assert stop(Record(10.0, 9.5), 10.0, 1) == (True, [10.0, 2])  # under 10% better
    assert stop(Record(10.0, 8.0), 10.0, 1) == (False, [8.0, 0])


def test_points_to_evaluate_run_first_and_may_leave_the_domain():
    samples = []
    best = fmin(lambda s: samples.append(s) or s["x"] ** 2 + s["y"] ** 2,
                {"x": hp.uniform("x", -10, 10), "y": hp.uniform("y", -10, 10)},
                algo=tpe.suggest, max_evals=10,
                points_to_evaluate=[{"x": 0.0, "y": 0.0}, {"x": 20.0, "y": 1.0}])
    assert samples[:2] == [{"x": 0.0, "y": 0.0}, {"x": 20.0, "y": 1.0}]
    assert best == {"x": 0.0, "y": 0.0}


def test_trials_attachments_best_trial_argmin_and_average_best_error():
    def objective(x):
        return {"loss": x, "status": STATUS_OK, "true_loss": x + 1,
                "attachments": {"blob": b"\x00\x01", "note": f"x={x:.3f}"}}

    trials = Trials()
    best = fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=8,
                trials=trials, rstate=np.random.default_rng(0))
    record = trials.trials[2]
    attachments = trials.trial_attachments(record)
    assert attachments["blob"] == b"\x00\x01" and "note" in attachments
    assert sorted(attachments) == ["blob", "note"]
    attachments["extra"] = 1
    assert trials.attachments["ATTACH::2::extra"] == 1
    assert trials.best_trial["misc"]["vals"]["x"] == [best["x"]] == [trials.argmin["x"]]
    assert trials.average_best_error() == pytest.approx(best["x"] + 1)


def test_average_best_error_weighs_noisy_losses():
    trials = Trials()
    losses = iter([1.0, 1.0, 5.0])
    fmin(lambda x: {"loss": next(losses), "loss_variance": 0.01, "true_loss": x,
                    "status": STATUS_OK},
         hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, trials=trials)
    true = [r["true_loss"] for r in trials.results]
    # Two equally good losses share the chance of being the best; the third has none.
    assert trials.average_best_error() == pytest.approx((true[0] + true[1]) / 2, abs=0.02)
    with pytest.raises(exceptions.AllTrialsFailed):
        Trials().average_best_error()


def test_trials_in_a_storage_are_shared_like_mongo_trials(sqlite_url):
    def objective(x):
        return {"loss": x, "status": STATUS_OK, "attachments": {"blob": b"abc"}}

    first = Trials(exp_key="exp1", storage=sqlite_url)
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=4, trials=first)
    worker = Trials(exp_key="exp1", storage=sqlite_url)  # another process, say
    assert worker.losses() == first.losses()
    assert worker.trial_attachments(worker.trials[0])["blob"] == b"abc"
    fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=6, trials=worker)
    assert len(first) == 6  # max_evals counts the trials of every process
    assert len(pickle.loads(pickle.dumps(first))) == 6


def test_trials_save_file_resumes_a_search(tmp_path):
    path = str(tmp_path / "trials.pkl")
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3,
         trials_save_file=path)
    with open(path, "rb") as handle:
        assert len(pickle.load(handle)) == 3
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=5,
         trials_save_file=path, show_progressbar=True)
    with open(path, "rb") as handle:
        assert len(pickle.load(handle)) == 5


def test_a_trials_subclass_runs_fmin_its_own_way():
    calls = []

    class Delegating(Trials):
        def fmin(self, fn, space, algo=None, max_evals=None, **kwargs):
            calls.append((algo, max_evals, kwargs))
            return super().fmin(fn, space, algo=algo, max_evals=max_evals, **kwargs)

    trials = Delegating()
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, trials=trials,
         early_stop_fn=None, timeout=60)
    assert len(calls) == 1 and len(trials) == 3
    algo, max_evals, kwargs = calls[0]
    assert algo is rand.suggest and max_evals == 3 and kwargs["timeout"] == 60
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=4, trials=trials,
         allow_trials_fmin=False)
    assert len(calls) == 1 and len(trials) == 4


def test_annotated_space():
    def objective(x: hp.uniform("x", -10, 10), y: hp.uniform("y", -10, 10)):
        return (x * y) ** 2

    trials = Trials()
    fmin(objective, space="annotated", algo=tpe.suggest, max_evals=5, trials=trials)
    assert len(trials) == 5

    def half_annotated(x: hp.uniform("x", -10, 10), y: float):
        return x * y

    with pytest.raises(exceptions.InvalidAnnotatedParameter, match="'y'"):
        fmin(half_annotated, space="annotated", max_evals=1)


@pytest.mark.parametrize("kwargs, message", [
    ({"timeout": -1}, "The timeout argument should be None or a positive value. Given value: -1"),
    ({"timeout": True}, "Given value: True"),
    ({"loss_threshold": "a"}, "The loss_threshold argument should be None or a numeric value"),
])
def test_bad_budgets_are_refused_with_hyperopts_messages(kwargs, message):
    with pytest.raises(pipetune.InvalidArgumentError) as error:
        fmin(lambda x: x, hp.uniform("x", 0, 1), max_evals=3, **kwargs)
    assert message in str(error.value)


def test_failed_and_bad_results_use_hyperopts_exception_names():
    with pytest.raises(exceptions.InvalidResultStatus):
        fmin(lambda x: {"loss": x, "status": "done"}, hp.uniform("x", 0, 1), max_evals=1)
    with pytest.raises(exceptions.InvalidLoss):
        fmin(lambda x: {"status": STATUS_OK}, hp.uniform("x", 0, 1), max_evals=1)
    with pytest.raises(exceptions.AllTrialsFailed):
        fmin(lambda x: {"status": STATUS_FAIL}, hp.uniform("x", 0, 1), max_evals=2)


def test_hyperopts_module_layout_is_mirrored():
    import pipetune.compat.hyperopt.base as base

    assert hyperopt.hp.uniform is hp.uniform and hyperopt.pyll.scope is scope
    assert hyperopt.pyll.stochastic.sample is sample
    assert base.Trials is Trials and base.STATUS_OK == "ok"
    assert hyperopt.fmin is fmin and callable(hyperopt.fmin)
    assert hyperopt.partial(tpe.suggest, n_startup_jobs=3).keywords == {"n_startup_jobs": 3}
    assert math.isfinite(hyperopt.NORMAL_SIGMAS)


def test_mongo_trials_map_onto_a_storage_url(sqlite_url):
    from pipetune.compat.hyperopt.mongoexp import MongoTrials
    from pipetune.errors import StorageURLError

    trials = MongoTrials(sqlite_url, exp_key="exp1")
    fmin(lambda x: x, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=3, trials=trials)
    assert len(Trials(storage=sqlite_url, study_name="exp1")) == 3
    with pytest.raises(StorageURLError, match="not MongoDB"):
        MongoTrials("mongo://localhost:1234/foo_db/jobs", exp_key="exp1")


def test_hyperopt_search_cv_is_a_scikit_learn_search():
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge

    from pipetune.compat.hyperopt.sklearn import HyperoptSearchCV

    X, y = load_diabetes(return_X_y=True)
    search = HyperoptSearchCV(Ridge(), {"alpha": hp.loguniform("alpha", -5, 0)}, max_evals=6,
                              random_state=0, cv=3).fit(X, y)
    assert len(search.trials_) == 6 == len(search.cv_results_["params"])
    assert search.best_score_ == max(search.cv_results_["mean_test_score"])
    assert -min(search.trials_.losses()) == pytest.approx(search.best_score_)
    assert search.predict(X[:2]).shape == (2,)


def test_fmin_shows_a_progress_bar_with_the_best_loss_unless_told_not_to(capsys):
    space = hp.uniform("x", -2, 2)
    fmin(lambda x: (x - 1) ** 2, space, algo=rand.suggest, max_evals=5,
         rstate=np.random.default_rng(0))
    shown = capsys.readouterr().err
    assert "5/5" in shown and "best_loss=" in shown
    fmin(lambda x: (x - 1) ** 2, space, algo=rand.suggest, max_evals=5,
         rstate=np.random.default_rng(0), show_progressbar=False)
    assert capsys.readouterr().err == ""
