"""pipetune.compat.hyperopt: Hyperopt code runs unchanged but for its import.

Covers nested conditional spaces under tpe.suggest and rand.suggest, space_eval of the argmin,
the Trials record (losses, statuses, results, vals), failed trials, reproducibility from rstate,
continuing a search with the same Trials (in memory, pickled, or in a SQLite storage), and the
objective style of seed 001 (a classifier choice returning {"loss": -accuracy, "status": ok}).
"""

from __future__ import annotations

import functools
import math
import pickle
import time

import numpy as np
import pytest
from availability import require_installed

import pipetune
from pipetune.compat.hyperopt import (
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    STATUS_FAIL,
    STATUS_OK,
    AllTrialsFailedError,
    DuplicateLabelError,
    Trials,
    fmin,
    hp,
    rand,
    scope,
    space_eval,
    tpe,
)


def classifier_space(hp, scope):
    """The seed's kind of space: a classifier choice, each branch with its own params (the
    svm's gamma exists only for the rbf kernel). Takes ``hp`` / ``scope`` so the very same
    space can be built with the real Hyperopt for comparison."""
    return {
        "classifier": hp.choice("classifier", [
            {"type": "svm",
             "C": hp.loguniform("C", math.log(1e-2), math.log(1e2)),
             "kernel": hp.choice("kernel", [
                 {"name": "linear"},
                 {"name": "rbf", "gamma": hp.loguniform("gamma", math.log(1e-3), math.log(1.0))},
             ])},
            {"type": "rf",
             "max_depth": scope.int(hp.quniform("max_depth", 2, 12, 1)),
             "n_estimators": hp.randint("n_estimators", 10, 100)},
        ]),
        "scale": hp.choice("scale", [True, False]),
    }


SPACE = classifier_space(hp, scope)
SVM_ONLY = {"C", "kernel", "gamma"}
RF_ONLY = {"max_depth", "n_estimators"}
SPACE_LABELS = {"classifier", "C", "kernel", "gamma", "max_depth", "n_estimators", "scale"}


def toy_loss(sample):
    """A deterministic loss of a sample: best with an rbf svm near C = 1, gamma = 0.1."""
    clf = sample["classifier"]
    if clf["type"] == "svm":
        loss = math.log(clf["C"]) ** 2
        if clf["kernel"]["name"] == "rbf":
            loss += (math.log10(clf["kernel"]["gamma"]) + 1) ** 2
        else:
            loss += 1.0
    else:
        loss = 2.0 + abs(clf["max_depth"] - 6) / 6 + clf["n_estimators"] / 100
    return loss + (0.0 if sample["scale"] else 0.5)


def check_active_params_only(params):
    """A trial holds exactly the params of the branches it took."""
    if params["classifier"] == 0:
        assert not RF_ONLY & params.keys()
        assert {"C", "kernel"} <= params.keys()
        assert ("gamma" in params) == (params["kernel"] == 1)
    else:
        assert not SVM_ONLY & params.keys()
        assert params.keys() >= RF_ONLY


@pytest.mark.parametrize("algo", [tpe.suggest, rand.suggest], ids=["tpe", "rand"])
def test_nested_conditional_space_runs_to_completion(algo):
    samples = []

    def objective(sample):
        samples.append(sample)
        return {"loss": toy_loss(sample), "status": STATUS_OK}

    trials = Trials()
    best = fmin(objective, SPACE, algo=algo, max_evals=30, trials=trials,
                rstate=np.random.default_rng(3))

    assert len(trials) == 30 and len(samples) == 30
    assert {s["classifier"]["type"] for s in samples} == {"svm", "rf"}
    for sample in samples:
        clf = sample["classifier"]
        if clf["type"] == "rf":  # the branch's own params, nothing else
            assert set(clf) == {"type", "max_depth", "n_estimators"}
            assert isinstance(clf["max_depth"], int) and 2 <= clf["max_depth"] <= 12
            assert 10 <= clf["n_estimators"] < 100
        else:
            assert set(clf) == {"type", "C", "kernel"}
            assert 1e-2 <= clf["C"] <= 1e2
    for frozen in trials.study.trials:
        check_active_params_only(frozen.params)
        assert frozen.state == pipetune.TrialState.COMPLETE

    # The argmin holds choice indices and the best trial's own values.
    assert best == trials.argmin
    assert best["classifier"] in (0, 1) and best["scale"] in (0, 1)
    losses = trials.losses()
    assert toy_loss(space_eval(SPACE, best)) == pytest.approx(min(losses))


def test_space_eval_returns_the_chosen_branch_with_its_params():
    svm = space_eval(SPACE, {"classifier": 0, "C": 2.5, "kernel": 1, "gamma": 0.01, "scale": 1})
    assert svm == {"classifier": {"type": "svm", "C": 2.5,
                                  "kernel": {"name": "rbf", "gamma": 0.01}},
                   "scale": False}
    rf = space_eval(SPACE, {"classifier": 1, "max_depth": 7.0, "n_estimators": 40, "scale": 0,
                            "C": 99.0})  # labels of branches not taken are ignored
    assert rf == {"classifier": {"type": "rf", "max_depth": 7, "n_estimators": 40},
                  "scale": True}
    assert isinstance(rf["classifier"]["max_depth"], int)  # scope.int applied


def test_space_eval_names_a_missing_label_and_a_bad_index():
    with pytest.raises(pipetune.InvalidArgumentError, match="'kernel'"):
        space_eval(SPACE, {"classifier": 0, "C": 1.0, "scale": 0})
    with pytest.raises(pipetune.InvalidArgumentError, match="index of an option, 0 to 1"):
        space_eval(SPACE, {"classifier": 2, "scale": 0})


def test_trials_record_losses_statuses_results_and_extra_keys():
    def objective(sample):
        loss = toy_loss(sample)
        return {"loss": loss, "status": STATUS_OK, "accuracy": 1 / (1 + loss),
                "kind": sample["classifier"]["type"], "model": object()}

    trials = Trials()
    fmin(objective, SPACE, algo=rand.suggest, max_evals=12, trials=trials,
         rstate=np.random.default_rng(0))

    assert len(trials.losses()) == len(trials.statuses()) == len(trials.results) == 12
    assert trials.statuses() == [STATUS_OK] * 12
    assert [t["tid"] for t in trials] == list(range(12))
    for record, frozen in zip(trials.trials, trials.study.trials):
        assert record["state"] == JOB_STATE_DONE
        result = record["result"]
        assert result["loss"] == frozen.value
        assert isinstance(result["model"], object)  # kept in memory as returned
        # JSON-serializable extras are stored with the trial; the model is not.
        assert frozen.user_attrs == {"accuracy": result["accuracy"], "kind": result["kind"]}
        vals = record["misc"]["vals"]
        assert set(vals) == SPACE_LABELS
        assert {k for k, v in vals.items() if v} == set(frozen.params)
    assert len(trials.vals["scale"]) == 12
    assert trials.best_trial["result"]["loss"] == min(trials.losses())


def test_failed_status_trials_are_fail_and_excluded_from_argmin():
    def objective(sample):
        x = sample["x"]
        if x < 0.5:  # the better half "fails": it must never be the best
            return {"status": STATUS_FAIL, "loss": x, "failure": "diverged"}
        return {"loss": x, "status": STATUS_OK}

    trials = Trials()
    best = fmin(objective, {"x": hp.uniform("x", 0, 1)}, algo=rand.suggest, max_evals=20,
                trials=trials, rstate=np.random.default_rng(1))

    statuses = trials.statuses()
    assert STATUS_FAIL in statuses and STATUS_OK in statuses
    assert best["x"] >= 0.5
    ok_losses = [r["loss"] for r in trials.results if r["status"] == STATUS_OK]
    assert best["x"] == min(ok_losses)
    for record, frozen in zip(trials.trials, trials.study.trials):
        failed = record["result"]["status"] == STATUS_FAIL
        assert frozen.state == (pipetune.TrialState.FAIL if failed
                                else pipetune.TrialState.COMPLETE)
        assert record["state"] == JOB_STATE_DONE  # the objective ran and answered
        if failed:
            assert "diverged" in frozen.system_attrs["fail_reason"]


def test_a_nan_loss_fails_its_trial_and_is_never_best():
    trials = Trials()
    best = fmin(lambda x: float("nan") if x < 0.5 else x, hp.uniform("x", 0, 1),
                algo=rand.suggest, max_evals=12, trials=trials, rstate=np.random.default_rng(2))
    states = {t.state for t in trials.study.trials}
    assert states == {pipetune.TrialState.FAIL, pipetune.TrialState.COMPLETE}
    assert best["x"] >= 0.5


def test_all_failed_raises_all_trials_failed():
    with pytest.raises(AllTrialsFailedError, match="None of the 3 trials"):
        fmin(lambda s: {"status": STATUS_FAIL}, hp.uniform("x", 0, 1), algo=rand.suggest,
             max_evals=3)


def test_objective_exception_fails_the_trial_and_propagates_unless_caught():
    def objective(sample):
        if sample > 0.5:
            raise ValueError("bad region")
        return sample

    trials = Trials()
    with pytest.raises(ValueError, match="bad region"):
        fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=50, trials=trials,
             rstate=np.random.default_rng(0))
    last = trials.trials[-1]
    assert last["state"] == JOB_STATE_ERROR and last["result"]["status"] == STATUS_FAIL
    assert trials.study.trials[-1].state == pipetune.TrialState.FAIL
    assert "bad region" in trials.study.trials[-1].system_attrs["fail_reason"]

    trials = Trials()
    best = fmin(objective, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=15,
                trials=trials, rstate=np.random.default_rng(0), catch_eval_exceptions=True)
    assert len(trials) == 15 and best["x"] <= 0.5
    assert JOB_STATE_ERROR in [t["state"] for t in trials]


@pytest.mark.parametrize("bad", [{"loss": 1.0}, {"status": STATUS_OK}, "1.0", None,
                                 {"status": "done", "loss": 1.0}])
def test_a_result_breaking_the_contract_fails_the_trial_with_a_clear_error(bad):
    trials = Trials()
    with pytest.raises(pipetune.PipetuneError, match="status|loss"):
        fmin(lambda s: bad, hp.uniform("x", 0, 1), algo=rand.suggest, max_evals=2,
             trials=trials)
    assert trials.study.trials[0].state == pipetune.TrialState.FAIL


@pytest.mark.parametrize("algo", [tpe.suggest, rand.suggest], ids=["tpe", "rand"])
def test_rstate_makes_runs_reproducible(algo):
    def run(seed):
        trials = Trials()
        fmin(toy_loss, SPACE, algo=algo, max_evals=15, trials=trials,
             rstate=np.random.default_rng(seed))
        return [t["misc"]["vals"] for t in trials]

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_the_same_trials_continue_and_max_evals_counts_the_total():
    trials = Trials()
    fmin(toy_loss, SPACE, algo=tpe.suggest, max_evals=5, trials=trials,
         rstate=np.random.default_rng(0))
    first = [t["misc"]["vals"] for t in trials]
    best = fmin(toy_loss, SPACE, algo=tpe.suggest, max_evals=14, trials=trials,
                rstate=np.random.default_rng(1))
    assert len(trials) == 14
    assert [t["misc"]["vals"] for t in trials][:5] == first
    assert best == trials.argmin
    fmin(toy_loss, SPACE, algo=tpe.suggest, max_evals=14, trials=trials)  # budget already spent
    assert len(trials) == 14


def test_pickled_trials_continue_where_they_stopped():
    trials = Trials()
    fmin(toy_loss, SPACE, algo=rand.suggest, max_evals=6, trials=trials,
         rstate=np.random.default_rng(0))
    restored = pickle.loads(pickle.dumps(trials))
    assert restored.losses() == trials.losses() and restored.argmin == trials.argmin
    fmin(toy_loss, SPACE, algo=rand.suggest, max_evals=9, trials=restored)
    assert len(restored) == 9 and len(trials) == 6


def test_trials_in_a_storage_are_continued_by_another_trials_object(sqlite_url):
    def objective(sample):
        return {"loss": toy_loss(sample), "status": STATUS_OK, "note": "seen"}

    first = Trials(storage=sqlite_url, study_name="hpo")
    fmin(objective, SPACE, algo=tpe.suggest, max_evals=6, trials=first,
         rstate=np.random.default_rng(0))
    again = Trials(storage=sqlite_url, study_name="hpo")  # a later process, say
    assert again.losses() == first.losses()
    assert again.results[0] == {"loss": first.losses()[0], "status": STATUS_OK, "note": "seen"}
    fmin(objective, SPACE, algo=tpe.suggest, max_evals=10, trials=again)
    assert len(again) == 10
    study = pipetune.load_study(study_name="hpo", storage=sqlite_url)
    assert len(study.trials) == 10 and study.best_value == min(again.losses())
    with pytest.raises(pipetune.InvalidArgumentError, match="study_name"):
        Trials(storage=sqlite_url)


def test_seed_001_style_classifier_search():
    """The seed's listing: a choice among scikit-learn classifiers, the objective pops the
    'type', builds the model with the remaining params and returns -accuracy."""
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    X, y = load_iris(return_X_y=True)

    def objective(params):
        classifier_type = params["type"]
        del params["type"]
        if classifier_type == "svm":
            clf = SVC(**params)
        elif classifier_type == "rf":
            clf = RandomForestClassifier(**params)
        else:
            clf = LogisticRegression(**params)
        accuracy = cross_val_score(clf, X, y, cv=3).mean()
        return {"loss": -accuracy, "status": STATUS_OK}

    search_space = hp.choice("classifier_type", [
        {"type": "svm", "C": hp.lognormal("SVM_C", 0, 1.0),
         "kernel": hp.choice("kernel", ["linear", "rbf"])},
        {"type": "rf", "max_depth": scope.int(hp.quniform("max_depth", 2, 5, 1)),
         "n_estimators": scope.int(hp.quniform("n_estimators", 5, 20, 5)),
         "criterion": hp.choice("criterion", ["gini", "entropy"])},
        {"type": "logreg", "C": hp.lognormal("LR_C", 0, 1.0), "max_iter": 500},
    ])
    trials = Trials()
    best = fmin(objective, search_space, algo=tpe.suggest, max_evals=10, trials=trials,
                rstate=np.random.default_rng(42))
    assert len(trials.losses()) == 10
    assert min(trials.losses()) < -0.8
    chosen = space_eval(search_space, best)
    assert chosen["type"] == ["svm", "rf", "logreg"][best["classifier_type"]]


def test_duplicate_labels_raise_but_a_shared_node_is_one_param():
    with pytest.raises(DuplicateLabelError, match="'x'") as error:
        fmin(toy_loss, {"a": hp.uniform("x", 0, 1), "b": hp.choice("x", [1, 2])},
             algo=rand.suggest, max_evals=1)
    assert isinstance(error.value, pipetune.PipetuneError)
    with pytest.raises(DuplicateLabelError):
        space_eval(hp.choice("c", [hp.uniform("x", 0, 1), hp.uniform("x", 0, 2)]), {"c": 0})

    shared = hp.uniform("x", 0, 1)
    samples = []
    fmin(lambda s: samples.append(s) or 0.0, {"a": shared, "b": [shared]},
         algo=rand.suggest, max_evals=3)
    assert all(s["a"] == s["b"][0] for s in samples)


def test_hp_domains_follow_hyperopt_conventions():
    samples = []
    space = {
        "lr": hp.loguniform("lr", math.log(1e-4), math.log(1e-1)),  # bounds are logs
        "units": hp.quniform("units", 16, 128, 16),
        "batch": hp.qloguniform("batch", math.log(8), math.log(512), 8),
        "seed": hp.randint("seed", 5),
        "shift": hp.randint("shift", -3, 3),
        "w": hp.normal("w", 10.0, 2.0),
        "decay": hp.lognormal("decay", 0.0, 0.5),
        "steps": hp.uniformint("steps", 1, 4),
    }
    trials = Trials()
    fmin(lambda s: samples.append(s) or 0.0, space, algo=rand.suggest, max_evals=40,
         trials=trials, rstate=np.random.default_rng(0))
    for s in samples:
        assert 1e-4 <= s["lr"] <= 1e-1
        assert s["units"] % 16 == 0 and 16 <= s["units"] <= 128
        assert isinstance(s["units"], float)
        assert s["batch"] % 8 == 0 and 8 <= s["batch"] <= 512
        assert s["seed"] in range(5) and s["shift"] in range(-3, 3)
        assert 2.0 <= s["w"] <= 18.0  # mu +- 4 sigma
        assert math.exp(-2.0) <= s["decay"] <= math.exp(2.0)
        assert s["steps"] in (1, 2, 3, 4) and isinstance(s["steps"], int)
    # The record and the argmin show the rounded value the objective saw.
    assert [t["misc"]["vals"]["batch"][0] for t in trials] == [s["batch"] for s in samples]


@pytest.mark.parametrize("make, match", [
    (lambda: hp.uniform("x", 1, 0), r"hp.uniform\('x', 1, 0\).*low < high"),
    (lambda: hp.randint("n", 3, 3), "low < high"),
    (lambda: hp.normal("w", 0, 0), "sigma must be > 0"),
    (lambda: hp.quniform("q", 0, 1, -1), "q must be > 0"),
    (lambda: hp.loguniform("lr", 1e-5, 1e3), "log space"),
    (lambda: hp.choice("c", []), "non-empty list"),
    (lambda: hp.uniform(3, 0, 1), "label"),
])
def test_bad_hp_arguments_name_the_node(make, match):
    with pytest.raises(pipetune.PipetuneError, match=match):
        make()


def test_points_to_evaluate_run_first():
    samples = []
    points = [{"classifier": 1, "max_depth": 4.0, "n_estimators": 50, "scale": 0},
              {"classifier": 0, "C": 1.0, "kernel": 0, "scale": 1}]
    fmin(lambda s: samples.append(s) or toy_loss(s), SPACE, algo=tpe.suggest, max_evals=4,
         points_to_evaluate=points, rstate=np.random.default_rng(0))
    assert samples[0] == {"classifier": {"type": "rf", "max_depth": 4, "n_estimators": 50},
                          "scale": True}
    assert samples[1] == {"classifier": {"type": "svm", "C": 1.0, "kernel": {"name": "linear"}},
                          "scale": False}
    assert len(samples) == 4
    with pytest.raises(pipetune.InvalidArgumentError, match="no label of the space"):
        fmin(toy_loss, SPACE, max_evals=1, points_to_evaluate=[{"depth": 3}])
    with pytest.raises(pipetune.InvalidArgumentError, match="index of an option"):
        fmin(toy_loss, SPACE, max_evals=1, points_to_evaluate=[{"classifier": "svm"}])


@pytest.mark.timeout(60)  # a search the timeout failed to stop never ends
def test_stopping_by_loss_threshold_timeout_and_early_stop_fn():
    trials = Trials()
    fmin(lambda s: 0.0, hp.uniform("x", 0, 1), max_evals=100, trials=trials,
         loss_threshold=0.1)
    assert len(trials) == 1

    def sleepy(x: float) -> float:
        time.sleep(0.05)
        return x

    trials = Trials()
    started = time.monotonic()
    fmin(sleepy, hp.uniform("x", 0, 1), algo=rand.suggest, trials=trials, timeout=0.5)
    # No max_evals: the timeout alone ends the search, once 0.5 s have passed, and each
    # evaluation sleeping 0.05 s, at most 0.5 / 0.05 + 1 start before then.
    assert time.monotonic() - started >= 0.5
    assert 1 <= len(trials) <= 11

    def stop_after_three(trials, count=0):
        return count + 1 >= 3, [count + 1]

    trials = Trials()
    fmin(lambda s: s, hp.uniform("x", 0, 1), max_evals=50, trials=trials,
         early_stop_fn=stop_after_three)
    assert len(trials) == 3


def test_return_argmin_false_returns_the_best_sample():
    best = fmin(toy_loss, SPACE, algo=rand.suggest, max_evals=10, return_argmin=False,
                rstate=np.random.default_rng(0))
    assert isinstance(best["classifier"], dict) and "type" in best["classifier"]


def test_algo_options_and_bad_arguments():
    trials = Trials()
    fmin(toy_loss, SPACE, algo=functools.partial(tpe.suggest, n_startup_jobs=3, gamma=0.25),
         max_evals=8, trials=trials, rstate=np.random.default_rng(0))
    assert len(trials) == 8
    fmin(toy_loss, SPACE, algo=pipetune.samplers.QMCSampler(seed=0), max_evals=4)
    with pytest.raises(pipetune.InvalidArgumentError, match="tpe.suggest option"):
        fmin(toy_loss, SPACE, algo=functools.partial(tpe.suggest, anneal=1), max_evals=1)
    with pytest.raises(pipetune.InvalidArgumentError, match="'algo' argument"):
        fmin(toy_loss, SPACE, algo=lambda *a: None, max_evals=1)
    with pytest.raises(pipetune.InvalidArgumentError, match="'rstate' argument"):
        fmin(toy_loss, SPACE, max_evals=1, rstate=42)
    with pytest.raises(pipetune.InvalidArgumentError, match="budget"):
        fmin(toy_loss, SPACE)
    with pytest.raises(pipetune.InvalidArgumentError, match="'max_evals' argument"):
        fmin(toy_loss, SPACE, max_evals=-1)
    with pytest.raises(pipetune.InvalidArgumentError, match="pass it to fmin"):
        tpe.suggest([0], None, None, 0)


def test_argmin_and_space_eval_agree_with_real_hyperopt():
    """Built the same way with Hyperopt, the space reads pipetune's argmin identically, and
    Hyperopt's own argmin has the same keys and kinds of values."""
    require_installed("hyperopt", extra="test")
    import hyperopt
    from hyperopt.pyll import scope as hyperopt_scope

    theirs_space = classifier_space(hyperopt.hp, hyperopt_scope)
    for seed in range(4):
        ours = fmin(toy_loss, SPACE, algo=rand.suggest, max_evals=5,
                    rstate=np.random.default_rng(seed))
        assert hyperopt.space_eval(theirs_space, ours) == space_eval(SPACE, ours)

    theirs = hyperopt.fmin(toy_loss, theirs_space, algo=hyperopt.rand.suggest, max_evals=5,
                           rstate=np.random.default_rng(0), show_progressbar=False)
    assert set(theirs) <= SPACE_LABELS
    assert int(theirs["classifier"]) in (0, 1)
    assert space_eval(SPACE, theirs) == hyperopt.space_eval(theirs_space, theirs)



def test_all_is_sorted_and_resolvable():
    import pipetune.compat.hyperopt as module

    assert list(module.__all__) == sorted(set(module.__all__))
    for name in module.__all__:
        assert getattr(module, name) is not None, name
