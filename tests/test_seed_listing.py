"""The objective of seed listing 11.5 (an Optuna study of DcTaxiModel, in
``shared/seeds/000_d05d12d10c6a8951.txt``) runs unchanged on pipetune, with a cheap synthetic
loss in place of the PyTorch training, and the listing's dataframe query works."""

from __future__ import annotations

import math

from availability import require_installed

require_installed("pandas", extra="pandas")

import pandas as pd  # noqa: E402

import pipetune  # noqa: E402

INT32_MAX = 2**31 - 1  # pt.iinfo(pt.int32).max in the listing


def synthetic_rmse(hparams: dict) -> float:
    """Stands in for training DcTaxiModel: smooth in lr, batch size and depth, with a little
    seed-dependent noise, so the best trials have a clear order."""
    neurons = eval(hparams["num_hidden_neurons"])  # the listing passes str(list), as the seed does
    loss = 3.0 + 40.0 * (math.log(hparams["lr"]) - math.log(0.03)) ** 2
    loss += 0.05 * abs(hparams["batch_size"] - 40) + 0.02 * abs(hparams["max_batches"] - 45)
    loss += 0.5 * (hparams["optimizer"] == "SGD")
    loss += 0.3 * (hparams["batch_norm_linear_layers"] == "1")
    loss += 0.1 * len(neurons) - 0.01 * sum(neurons)
    return loss + (hparams["seed"] % 1000) / 1000.0


def objective(trial):
    hparams = {
        "seed": trial.suggest_int('seed', 0, INT32_MAX - 1),
        "num_features": "8",
        "batch_norm_linear_layers": str(trial.suggest_int('batch_norm_linear_layers', 0, 1)),
        "optimizer": trial.suggest_categorical('optimizer', ['Adam', 'SGD']),
        "lr": trial.suggest_loguniform('lr', 0.009, 0.07),
        "num_hidden_neurons": str([trial.suggest_categorical(f"num_hidden_layer_{layer}_neurons",
                                                             [7, 11])
                                   for layer in range(trial.suggest_categorical('num_layers',
                                                                                [2, 3]))]),
        "batch_size": trial.suggest_int('batch_size', 30, 50, log=True),
        "max_batches": trial.suggest_int('max_batches', 30, 50, log=True),
    }
    return synthetic_rmse(hparams)


def run_listing():
    study = pipetune.create_study(direction='minimize',
                                  sampler=pipetune.samplers.RandomSampler(seed=42))
    study.optimize(objective, n_trials=30)
    study_df = study.trials_dataframe().sort_values(by='value', ascending=True)
    return study, study_df[:5][['number', 'value', 'params_seed']]


def test_listing_runs_and_top_five_are_the_best_trials():
    study, top = run_listing()
    assert len(study.trials) == 30
    assert all(t.state == pipetune.TrialState.COMPLETE for t in study.trials)
    assert list(top.columns) == ['number', 'value', 'params_seed']
    assert len(top) == 5
    values = top['value'].tolist()
    assert values == sorted(values)
    assert values[0] == study.best_value
    assert top['number'].iloc[0] == study.best_trial.number
    assert sorted(values) == sorted(t.value for t in study.trials)[:5]
    seeds = top['params_seed'].tolist()
    assert all(isinstance(s, int) and 0 <= s <= INT32_MAX - 1 for s in seeds)
    assert pd.api.types.is_integer_dtype(top['params_seed'])
    for number, seed in zip(top['number'], seeds):
        assert study.trials[number].params['seed'] == seed


def test_listing_search_space():
    study, _ = run_listing()
    frame = study.trials_dataframe()
    for t in study.trials:
        p = t.params
        assert p['optimizer'] in ('Adam', 'SGD') and p['num_layers'] in (2, 3)
        assert 0.009 <= p['lr'] <= 0.07 and p['batch_norm_linear_layers'] in (0, 1)
        assert 30 <= p['batch_size'] <= 50 and 30 <= p['max_batches'] <= 50
        layers = {k for k in p if k.startswith('num_hidden_layer_')}
        assert layers == {f"num_hidden_layer_{i}_neurons" for i in range(p['num_layers'])}
        assert all(p[k] in (7, 11) for k in layers)
        assert t.distributions['lr'].log
    two_layer = frame[frame['params_num_layers'] == 2]
    assert two_layer['params_num_hidden_layer_2_neurons'].isna().all()
    assert {2, 3} == set(frame['params_num_layers'])


def test_listing_is_reproducible():
    _, first = run_listing()
    _, second = run_listing()
    pd.testing.assert_frame_equal(first, second)


def test_the_listings_own_study_code_with_only_the_import_changed():
    """Listing 11.5's study lines as printed, ``optuna`` spelt ``pipetune``: TPE with seed 42
    and 100 trials; then the dataframe query of the text."""
    import pipetune
    from pipetune.samplers import TPESampler
    study = \
        pipetune.create_study(direction = 'minimize',
                              sampler = TPESampler( seed = 42 ),)
    study.optimize(objective, n_trials = 100)
    study_df = study.trials_dataframe().sort_values(by='value', ascending = True)
    top = study_df[:5][['number', 'value', 'params_seed']]
    assert len(study.trials) == 100
    assert top['value'].iloc[0] == study.best_value
    assert top['number'].iloc[0] == study.best_trial.number
    assert f"{study.best_trial.state}" == "TrialState.COMPLETE"
    assert objective(study.best_trial) == study.best_value  # the best trial re-runs
