"""Deep Learning parameter schema: names vs the booklet, H2O defaults, errors, effective rules, checkpoint."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from algos.deeplearning.parameters import (CHECKPOINT_MUTABLE, PARAM_ALIASES, PARAMS, check_checkpoint, effective_params,
                             param_docs_table, validate)
from cloudkit import DATA, REPO

# the booklet's Appendix A parameter names, kept in the repository (tests/data/SOURCES.md)
APPENDIX_A = DATA / "booklet_appendix_a_params.txt"


def eff(problem: str = "regression", nclasses: int = 1, n_nodes: int = 1, **params):
    params.setdefault("seed", 42)
    if problem == "autoencoder":
        params.setdefault("autoencoder", True)
    return effective_params(params, problem=problem, nclasses=nclasses, n_nodes=n_nodes)


def appendix_a_names() -> list[str]:
    lines = APPENDIX_A.read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


# ------------------------------------------------------------------------------------------- schema

def test_every_appendix_a_parameter_is_in_the_schema():
    names = appendix_a_names()
    assert len(names) == 68 and names[:3] == ["x", "y", "training_frame"]  # the whole list, as the booklet has it
    missing = [n for n in names if n not in PARAMS and n not in PARAM_ALIASES]
    assert missing == []


def test_brief_parameters_beyond_the_booklet_are_present():
    extra = ["target_ratio_comm_to_comp", "quantile_alpha", "huber_alpha", "score_each_iteration", "stopping_rounds",
             "stopping_metric", "stopping_tolerance", "max_runtime_secs", "missing_values_handling", "standardize",
             "keep_cross_validation_models", "keep_cross_validation_fold_assignment", "mini_batch_size",
             "elastic_averaging", "elastic_averaging_moving_rate", "elastic_averaging_regularization",
             "initial_weights", "initial_biases", "pretrained_autoencoder", "categorical_encoding",
             "ignored_columns", "response_column", "training_frame", "validation_frame"]
    assert [n for n in extra if n not in PARAMS] == []


def test_key_defaults_equal_h2o():
    expected = {
        "activation": "Rectifier", "hidden": [200, 200], "epochs": 10.0, "train_samples_per_iteration": -2,
        "target_ratio_comm_to_comp": 0.05, "seed": -1, "adaptive_rate": True, "rho": 0.99, "epsilon": 1e-8,
        "rate": 0.005, "rate_annealing": 1e-6, "rate_decay": 1.0, "momentum_start": 0.0, "momentum_ramp": 1e6,
        "momentum_stable": 0.0, "nesterov_accelerated_gradient": True, "input_dropout_ratio": 0.0,
        "hidden_dropout_ratios": None, "l1": 0.0, "l2": 0.0, "max_w2": math.inf,
        "initial_weight_distribution": "UniformAdaptive", "initial_weight_scale": 1.0, "loss": "Automatic",
        "distribution": "AUTO", "quantile_alpha": 0.5, "tweedie_power": 1.5, "huber_alpha": 0.9,
        "score_interval": 5.0, "score_training_samples": 10000, "score_validation_samples": 0,
        "score_duty_cycle": 0.1, "classification_stop": 0.0, "regression_stop": 1e-6, "stopping_rounds": 5,
        "stopping_metric": "AUTO", "stopping_tolerance": 0.0, "max_runtime_secs": 0.0,
        "overwrite_with_best_model": True, "use_all_factor_levels": True, "standardize": True, "fast_mode": True,
        "force_load_balance": True, "replicate_training_data": True, "variable_importances": True,
        "diagnostics": True, "shuffle_training_data": False, "single_node_mode": False, "reproducible": False,
        "sparse": False, "autoencoder": False, "export_weights_and_biases": False, "elastic_averaging": False,
        "missing_values_handling": "MeanImputation", "mini_batch_size": 1, "max_categorical_features": 2**31 - 1,
        "sparsity_beta": 0.0, "average_activation": 0.0, "elastic_averaging_moving_rate": 0.9,
        "elastic_averaging_regularization": 1e-3, "categorical_encoding": "AUTO", "balance_classes": False,
        "max_after_balance_size": 5.0, "class_sampling_factors": None, "nfolds": 0, "fold_assignment": "AUTO",
        "keep_cross_validation_models": True, "keep_cross_validation_predictions": False,
        "keep_cross_validation_fold_assignment": False, "max_confusion_matrix_size": 20, "quiet_mode": False,
        "ignore_const_cols": True, "score_validation_sampling": "Uniform", "score_each_iteration": False,
        "col_major": False,
    }
    defaults = validate({})
    assert {k: defaults[k] for k in expected} == expected
    assert set(defaults) == set(PARAMS)


def test_defaults_are_fresh_copies():
    a = validate({})
    a["hidden"].append(5)
    assert validate({})["hidden"] == [200, 200]


def test_enum_defaults_are_allowed_and_schema_is_consistent():
    for p in PARAMS.values():
        if p.kind == "enum":
            assert p.default in p.allowed, p.name
            assert all(c in p.allowed for _, c in p.aliases)
        assert p.doc, p.name
    assert {"diagnostics", "col_major"} == {p.name for p in PARAMS.values() if p.deprecated}
    assert CHECKPOINT_MUTABLE <= set(PARAMS)


# -------------------------------------------------------------------------------------------- errors

def test_unknown_name_suggests_the_closest():
    with pytest.raises(ValueError, match=r"unknown Deep Learning parameter 'hiden'.*'hidden'"):
        validate({"hiden": [10]})
    with pytest.raises(ValueError, match=r"'epoch'.*'epochs'"):
        validate({"epoch": 3})
    with pytest.raises(ValueError, match=r"'zzzz_qqq'.*PARAMS"):
        validate({"zzzz_qqq": 1})


@pytest.mark.parametrize("name,value,expected", [
    ("epochs", "10", "a number"), ("epochs", True, "a number"), ("hidden", "200", "a list of ints"),
    ("hidden", [200, 2.5], "element 1"), ("adaptive_rate", 1, "a bool"), ("seed", 1.5, "an int"),
    ("seed", True, "an int"), ("mini_batch_size", np.float64(2.0), "an int"), ("activation", 3, "a string"),
    ("training_frame", 5, "Frame or its key"), ("checkpoint", object(), "model or its key"),
    ("response_column", -1, "column index"), ("initial_weights", ["k", 3], "Frame"),
    ("hidden", np.zeros((2, 2), dtype=int), "1-D list"), ("model_id", "  ", "non-empty string"),
])
def test_wrong_type_names_parameter_expected_type_and_value(name, value, expected):
    with pytest.raises(ValueError) as ei:
        validate({name: value})
    msg = str(ei.value)
    assert repr(name) in msg and expected in msg


@pytest.mark.parametrize("name,value,range_text", [
    ("rho", 1.0, "in [0, 1)"), ("rho", -0.1, "in [0, 1)"), ("epochs", 0, "> 0"), ("l1", -1e-5, ">= 0"),
    ("input_dropout_ratio", 1.0, "in [0, 1)"), ("score_duty_cycle", 1.5, "in [0, 1]"),
    ("tweedie_power", 2.0, "in (1, 2)"), ("tweedie_power", 1.0, "in (1, 2)"), ("quantile_alpha", 1.1, "in [0, 1]"),
    ("train_samples_per_iteration", -3, ">= -2"), ("mini_batch_size", 0, ">= 1"), ("max_w2", 0.0, "> 0"),
    ("classification_stop", -2.0, ">= -1"), ("max_categorical_features", 0, "in [1, 2147483647]"),
    ("hidden_dropout_ratios", [0.5, 1.0], "in [0, 1)"), ("hidden", [10, 0], ">= 1"),
    ("class_sampling_factors", [1.0, 0.0], "> 0"), ("seed", 2**63, "in [-9223372036854775808"),
    ("epochs", math.inf, "finite"), ("l2", float("nan"), "NaN"),
    # beyond 64 bits: accepted, such a model could not be sent between nodes, and `models` failed cloud-wide
    ("stopping_rounds", 10**23, "must fit in 64 bits"), ("mini_batch_size", 2**64, "must fit in 64 bits"),
    ("hidden", [10, 10**30], "must fit in 64 bits"), ("epochs", 10**400, "an int of 401 digits"),
])
def test_out_of_range_names_parameter_and_range(name, value, range_text):
    with pytest.raises(ValueError) as ei:
        validate({name: value})
    assert repr(name) in str(ei.value) and range_text in str(ei.value)


def test_unknown_enum_lists_allowed_values():
    with pytest.raises(ValueError) as ei:
        validate({"activation": "Sigmoid"})
    msg = str(ei.value)
    assert "'activation'" in msg and "'Sigmoid'" in msg
    for a in PARAMS["activation"].allowed:
        assert a in msg
    with pytest.raises(ValueError, match=r"'loss'.*MeanSquare -> Quadratic"):
        validate({"loss": "hinge"})
    with pytest.raises(ValueError, match=r"'categorical_encoding'.*AUTO, OneHotInternal"):
        validate({"categorical_encoding": "Binary"})


def test_non_dict_and_non_string_names():
    with pytest.raises(ValueError, match="must be a dict"):
        validate([("epochs", 1)])
    with pytest.raises(ValueError, match="must be strings"):
        validate({3: 1})


def test_list_length_rules():
    with pytest.raises(ValueError, match=r"hidden_dropout_ratios needs one ratio per hidden layer \(2"):
        validate({"hidden": [10, 10], "hidden_dropout_ratios": [0.1]})
    with pytest.raises(ValueError, match="'initial_weights' is not supported by aquifer"):
        validate({"hidden": [10, 10], "initial_weights": ["w0", None]})      # refused before its length
    with pytest.raises(ValueError, match="'initial_biases' is not supported by aquifer"):
        validate({"hidden": [4], "initial_biases": [None, "b1"]})
    with pytest.raises(ValueError, match="nfolds must be 0 .* or >= 2"):
        validate({"nfolds": 1})
    with pytest.raises(ValueError, match="either x .* or ignored_columns"):
        validate({"x": ["a"], "ignored_columns": ["b"]})


# ---------------------------------------------------------------------------------- normalisation

def test_enum_case_insensitive_and_aliases():
    assert validate({"activation": "rectifier"})["activation"] == "Rectifier"
    assert validate({"activation": "tanh_with_dropout"})["activation"] == "TanhWithDropout"
    assert validate({"activation": "EXPRECTIFIERWITHDROPOUT"})["activation"] == "ExpRectifierWithDropout"
    assert validate({"loss": "MeanSquare"})["loss"] == "Quadratic"
    assert validate({"loss": "cross_entropy"})["loss"] == "CrossEntropy"
    assert validate({"distribution": "bernouilli"})["distribution"] == "bernoulli"
    assert validate({"distribution": "Gaussian"})["distribution"] == "gaussian"
    assert validate({"stopping_metric": "auc"})["stopping_metric"] == "AUC"
    assert validate({"stopping_metric": "aucpr"})["stopping_metric"] == "AUCPR"
    assert validate({"stopping_metric": "Lift-Top-Group"})["stopping_metric"] == "lift_top_group"
    assert validate({"missing_values_handling": "mean_imputation"})["missing_values_handling"] == "MeanImputation"
    assert validate({"initial_weight_distribution": "uniform_adaptive"})["initial_weight_distribution"] == \
        "UniformAdaptive"
    assert validate({"fold_assignment": "modulo"})["fold_assignment"] == "Modulo"
    assert validate({"score_validation_sampling": "stratified"})["score_validation_sampling"] == "Stratified"


def test_numbers_numpy_scalars_and_lists():
    p = validate({"epochs": 3, "rate": np.float32(0.25), "seed": np.int64(7), "hidden": np.array([8, 4]),
                  "adaptive_rate": np.bool_(False), "hidden_dropout_ratios": (0, 0.25), "max_w2": 3.4028235e38})
    assert p["epochs"] == 3.0 and type(p["epochs"]) is float
    assert p["rate"] == 0.25 and type(p["rate"]) is float
    assert p["seed"] == 7 and type(p["seed"]) is int
    assert p["hidden"] == [8, 4] and all(type(h) is int for h in p["hidden"])
    assert p["adaptive_rate"] is False
    assert p["hidden_dropout_ratios"] == [0.0, 0.25]
    assert p["max_w2"] == pytest.approx(3.4028235e38)
    assert validate({"hidden": 64})["hidden"] == [64]
    assert validate({"hidden": []})["hidden"] == []


def test_none_means_default_and_y_alias():
    assert validate({"epochs": None})["epochs"] == 10.0
    p = validate({"y": "label", "x": "a"})
    assert p["response_column"] == "label" and "y" not in p and p["x"] == ["a"]
    assert validate({"x": [0, "b", np.int64(2)]})["x"] == [0, "b", 2]
    with pytest.raises(ValueError, match="given twice"):
        validate({"y": "a", "response_column": "b"})


def test_frames_and_models_by_key_or_object():
    class FakeFrame:
        key = "train.hex"

    class FakeModel:
        model_id = "dl_1"

    f, m = FakeFrame(), FakeModel()
    p = validate({"training_frame": f, "validation_frame": "valid.hex", "checkpoint": m})
    assert p["training_frame"] is f and p["validation_frame"] == "valid.hex" and p["checkpoint"] is m


@pytest.mark.parametrize("name, value", [("pretrained_autoencoder", "ae_1"), ("initial_weights", [None, None]),
                                         ("initial_biases", ["b0", None]), ("elastic_averaging", True)])
def test_unimplemented_h2o_extras_are_refused_not_ignored(name, value):
    with pytest.raises(ValueError, match=f"'{name}' is not supported by aquifer .*leave it unset"):
        validate({"hidden": [4], name: value})
    assert validate({"hidden": [4], name: None})[name] in (None, False)        # unset is fine


def test_deprecated_parameters_warn():
    with pytest.warns(DeprecationWarning, match="'col_major' is deprecated and has no effect"):
        validate({"col_major": True})
    with pytest.warns(DeprecationWarning, match="'diagnostics' is deprecated"):
        p = validate({"diagnostics": False})
    assert p["diagnostics"] is False  # accepted as given
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate({"epochs": 1, "diagnostics": True, "col_major": False})  # defaults (e.g. model.params): quiet


def test_validate_changes_nothing_else():
    given = {"rate": 0.1, "adaptive_rate": True, "replicate_training_data": True, "seed": -1}
    p = validate(given)
    assert (p["rate"], p["replicate_training_data"], p["seed"], p["distribution"]) == (0.1, True, -1, "AUTO")


# -------------------------------------------------------------------------------- effective rules

@pytest.mark.parametrize("problem,nclasses,loss,dist", [
    ("binomial", 2, "Automatic", "bernoulli"), ("multinomial", 5, "Automatic", "multinomial"),
    ("regression", 1, "Automatic", "gaussian"), ("regression", 1, "Quadratic", "gaussian"),
    ("regression", 1, "Absolute", "laplace"), ("regression", 1, "Quantile", "quantile"),
    ("regression", 1, "Huber", "huber"), ("autoencoder", 1, "Automatic", "gaussian"),
    ("autoencoder", 1, "Absolute", "laplace"),
])
def test_distribution_auto(problem, nclasses, loss, dist):
    e, notes = eff(problem, nclasses, loss=loss)
    assert e["distribution"] == dist
    assert any(n.startswith("distribution: 'AUTO' -> ") for n in notes)


@pytest.mark.parametrize("problem,nclasses,dist,loss", [
    ("binomial", 2, "bernoulli", "CrossEntropy"), ("multinomial", 3, "multinomial", "CrossEntropy"),
    ("binomial", 2, "multinomial", "CrossEntropy"),
    ("regression", 1, "gaussian", "Quadratic"), ("regression", 1, "laplace", "Absolute"),
    ("regression", 1, "quantile", "Quantile"), ("regression", 1, "huber", "Huber"),
    ("regression", 1, "poisson", "Automatic"), ("regression", 1, "gamma", "Automatic"),
    ("regression", 1, "tweedie", "Automatic"),
])
def test_loss_automatic(problem, nclasses, dist, loss):
    assert eff(problem, nclasses, distribution=dist)[0]["loss"] == loss


def test_explicit_classification_quadratic_kept():
    e, _ = eff("binomial", 2, loss="Quadratic")
    assert (e["loss"], e["distribution"]) == ("Quadratic", "bernoulli")


def test_adaptive_rate_zeroes_manual_rate_and_notes_it():
    e, notes = eff(rate=0.01, momentum_start=0.5, momentum_stable=0.9, rate_annealing=1e-4, rate_decay=0.5)
    assert (e["rate"], e["rate_annealing"], e["momentum_start"], e["momentum_stable"]) == (0, 0, 0, 0)
    assert (e["rho"], e["epsilon"]) == (0.99, 1e-8)
    assert e["rate_decay"] == 0.5 and e["momentum_ramp"] == 1e6  # kept: a factor and a divisor
    assert "rate: 0.01 -> 0.0 (not used by the adaptive learning rate (ADADELTA))" in notes
    assert any(n.startswith("momentum_start: 0.5 -> 0.0") for n in notes)
    assert any(n.startswith("rate_decay: 0.5 kept but not used") for n in notes)


def test_manual_rate_zeroes_rho_epsilon():
    e, notes = eff(adaptive_rate=False, rate=0.01, momentum_start=0.5)
    assert (e["rho"], e["epsilon"], e["rate"], e["momentum_start"]) == (0.0, 0.0, 0.01, 0.5)
    assert any(n.startswith("rho: 0.99 -> 0.0") for n in notes)


@pytest.mark.parametrize("activation,expected", [
    ("RectifierWithDropout", [0.5, 0.5, 0.5]), ("TanhWithDropout", [0.5, 0.5, 0.5]),
    ("MaxoutWithDropout", [0.5, 0.5, 0.5]), ("ExpRectifierWithDropout", [0.5, 0.5, 0.5]),
    ("Rectifier", [0.0, 0.0, 0.0]), ("Tanh", [0.0, 0.0, 0.0]),
])
def test_hidden_dropout_defaults(activation, expected):
    assert eff(activation=activation, hidden=[4, 4, 4])[0]["hidden_dropout_ratios"] == expected


def test_hidden_dropout_given_is_kept():
    assert eff(activation="TanhWithDropout", hidden=[4, 4], hidden_dropout_ratios=[0.1, 0.2])[0][
        "hidden_dropout_ratios"] == [0.1, 0.2]


def test_replication_and_single_node_mode_by_cloud_size():
    e1, notes = eff(n_nodes=1, single_node_mode=True)
    assert e1["replicate_training_data"] is False and e1["single_node_mode"] is False
    assert any("replicate_training_data: True -> False" in n for n in notes)
    e3, _ = eff(n_nodes=3, single_node_mode=True)
    assert e3["replicate_training_data"] is True and e3["single_node_mode"] is True
    e3b, _ = eff(n_nodes=3, single_node_mode=True, replicate_training_data=False)
    assert e3b["single_node_mode"] is False


def test_cross_validation_rules():
    e, notes = eff("binomial", 2, nfolds=5)
    assert e["overwrite_with_best_model"] is False and e["fold_assignment"] == "Random"
    assert any(n.startswith("overwrite_with_best_model: True -> False") for n in notes)
    e, _ = eff("binomial", 2, nfolds=3, fold_assignment="Stratified")
    assert e["fold_assignment"] == "Stratified"
    e, _ = eff("binomial", 2, fold_column="fold")
    assert e["overwrite_with_best_model"] is False and e["fold_assignment"] == "AUTO"
    assert eff("binomial", 2)[0]["overwrite_with_best_model"] is True


def test_autoencoder_forces_factor_levels_and_mse():
    e, notes = eff("autoencoder", use_all_factor_levels=False)
    assert e["use_all_factor_levels"] is True and e["stopping_metric"] == "MSE"
    assert "use_all_factor_levels: False -> True (mandatory for an autoencoder)" in notes


@pytest.mark.parametrize("problem,nclasses,metric", [
    ("binomial", 2, "logloss"), ("multinomial", 4, "logloss"), ("regression", 1, "deviance"),
    ("autoencoder", 1, "MSE"),
])
def test_stopping_metric_auto(problem, nclasses, metric):
    assert eff(problem, nclasses)[0]["stopping_metric"] == metric


def test_reproducible():
    e, notes = eff(n_nodes=4, reproducible=True, force_load_balance=False)
    assert e["force_load_balance"] is True and e["score_each_iteration"] is True
    assert e["replicate_training_data"] is False and e["train_samples_per_iteration"] == -1
    assert any("train_samples_per_iteration: -2 -> -1" in n for n in notes)
    assert eff(reproducible=True, train_samples_per_iteration=500)[0]["train_samples_per_iteration"] == 500


def test_thread_plan_is_chosen_once_and_recorded():
    """thread_mode (an aquifer addition, expert group) resolves AUTO by mini_batch_size; reproducible forces the
    sequential plan; a kernel team cannot train mini-batches; block_momentum is kept as given."""
    assert PARAMS["thread_mode"].extension and PARAMS["thread_mode"].level == "expert"
    assert PARAMS["block_momentum"].extension and PARAMS["block_momentum"].default is True
    assert eff()[0]["thread_mode"] == "team"
    assert eff(mini_batch_size=16)[0]["thread_mode"] == "replicas"
    e, notes = eff(reproducible=True, thread_mode="hogwild")
    assert e["thread_mode"] == "sequential" and any("thread_mode: 'hogwild' -> 'sequential'" in n for n in notes)
    assert eff(thread_mode="Hogwild", mini_batch_size=8)[0]["thread_mode"] == "hogwild"
    assert eff(block_momentum=False)[0]["block_momentum"] is False
    with pytest.raises(ValueError, match="thread_mode 'team' splits per-sample SGD"):
        eff(thread_mode="team", mini_batch_size=4)
    with pytest.raises(ValueError, match="'thread_mode': unknown value 'threads'"):
        validate({"thread_mode": "threads"})
    old = eff(seed=3)[0]
    check_checkpoint({**old, "_epochs_trained": 1.0}, dict(old, epochs=20.0, thread_mode="replicas",
                                                           block_momentum=False))


def test_seed_minus_one_becomes_a_recorded_random_seed():
    e1, notes = effective_params({}, problem="regression", nclasses=1, n_nodes=1)
    e2, _ = effective_params({}, problem="regression", nclasses=1, n_nodes=1)
    assert 0 <= e1["seed"] < 2**63 and e1["seed"] != e2["seed"]
    assert any(n.startswith("seed: -1 -> ") for n in notes)
    assert eff(seed=123)[0]["seed"] == 123


def test_project_decisions_max_w2_and_mini_batch():
    e, _ = eff(activation="Rectifier")
    assert e["max_w2"] == math.inf
    e, _ = eff(mini_batch_size=32, max_w2=10.0)
    assert (e["mini_batch_size"], e["max_w2"]) == (32, 10.0)


def test_mini_batches_take_adadelta_mini_batch_setting_unless_given():
    """H2O's rho/epsilon are for per-sample steps; batches take Zeiler's 0.95 / 1e-6 (a noted change), a value the
    user changed is kept, per-sample training and the manual rate are untouched."""
    e, notes = eff(mini_batch_size=128)
    assert (e["rho"], e["epsilon"]) == (0.95, 1e-6)
    assert any(n.startswith("rho: 0.99 -> 0.95 (ADADELTA's mini-batch setting") for n in notes)
    assert (eff()[0]["rho"], eff()[0]["epsilon"]) == (0.99, 1e-8)
    e, _ = eff(mini_batch_size=128, rho=0.9, epsilon=1e-7)
    assert (e["rho"], e["epsilon"]) == (0.9, 1e-7)
    e, _ = eff(mini_batch_size=128, adaptive_rate=False)
    assert (e["rho"], e["epsilon"]) == (0.0, 0.0)
    again, notes = eff(**eff(mini_batch_size=128)[0])
    assert (again["rho"], again["epsilon"]) == (0.95, 1e-6) and not any(n.startswith(("rho", "epsilon")) for n in notes)


def test_categorical_encoding_auto_is_one_hot_internal():
    assert eff()[0]["categorical_encoding"] == "OneHotInternal"
    assert eff(categorical_encoding="one_hot_internal")[0]["categorical_encoding"] == "OneHotInternal"


def test_unused_parameters_are_noted():
    _, notes = eff("binomial", 2, regression_stop=0.5, initial_weight_scale=2.0, tweedie_power=1.2,
                   score_validation_samples=100, keep_cross_validation_predictions=True)
    text = "\n".join(notes)
    for name in ("regression_stop", "initial_weight_scale", "tweedie_power", "score_validation_samples",
                 "keep_cross_validation_predictions"):
        assert f"{name}: " in text and "has no effect" in text
    _, notes = eff("binomial", 2)
    assert not any("has no effect" in n for n in notes)


def test_effective_params_is_a_fixed_point():
    for problem, nclasses, extra in [("multinomial", 10, {"activation": "RectifierWithDropout", "nfolds": 3}),
                                     ("regression", 1, {"adaptive_rate": False, "reproducible": True}),
                                     ("autoencoder", 1, {"loss": "Huber"})]:
        e, _ = eff(problem, nclasses, n_nodes=2, **extra)
        again, notes = effective_params(e, problem=problem, nclasses=nclasses, n_nodes=2)
        assert again == e and not any("->" in n for n in notes)


# ----------------------------------------------------------------------------- incompatibilities

@pytest.mark.parametrize("problem,nclasses,params,pattern", [
    ("regression", 1, {"loss": "CrossEntropy"}, r"loss 'CrossEntropy' needs a categorical response.*Quadratic"),
    ("autoencoder", 1, {"loss": "CrossEntropy"}, r"CrossEntropy"),
    ("autoencoder", 1, {"activation": "Maxout"}, r"activation 'Maxout' is not supported for an autoencoder"),
    ("autoencoder", 1, {"nfolds": 3}, r"cross-validation .* not supported for an autoencoder"),
    ("autoencoder", 1, {"distribution": "poisson"}, r"distribution 'poisson' .* autoencoder; allowed: AUTO"),
    ("autoencoder", 1, {"loss": "Quantile"}, r"Quantile.*autoencoder"),
    ("autoencoder", 1, {"stopping_metric": "MAE"}, r"stopping_metric 'MAE' .* autoencoder; allowed: AUTO, MSE"),
    ("regression", 1, {"distribution": "multinomial"}, r"distribution 'multinomial' is not allowed for regression"),
    ("binomial", 2, {"distribution": "gaussian"}, r"distribution 'gaussian' .* classification; allowed: AUTO"),
    ("multinomial", 3, {"distribution": "bernoulli"}, r"'bernoulli' needs 2 classes.*has 3"),
    ("binomial", 2, {"loss": "Quantile"}, r"loss 'Quantile' is not allowed for classification; allowed: Automatic"),
    ("binomial", 2, {"loss": "Absolute"}, r"loss 'Absolute' is not allowed for classification"),
    ("regression", 1, {"distribution": "poisson", "loss": "Quadratic"}, r"'poisson' allows only loss 'Automatic'"),
    ("regression", 1, {"distribution": "laplace", "loss": "Huber"}, r"'laplace' allows loss Automatic or Absolute"),
    ("regression", 1, {"distribution": "gaussian", "loss": "Absolute"}, r"'gaussian' allows loss Automatic or Quad"),
    ("regression", 1, {"balance_classes": True}, r"balance_classes needs a classification problem"),
    ("binomial", 2, {"balance_classes": True, "class_sampling_factors": [1.0, 2.0, 3.0]},
     r"class_sampling_factors needs one factor per class \(2\), got 3"),
    ("binomial", 2, {"class_sampling_factors": [1.0, 2.0]}, r"class_sampling_factors needs balance_classes=True"),
    ("regression", 1, {"hidden_dropout_ratios": [0.2, 0.2]},
     r"hidden_dropout_ratios \[0.2, 0.2\] need a dropout activation .*RectifierWithDropout.*got activation 'Rect"),
    ("binomial", 2, {"offset_column": "off"}, r"offset_column is supported for regression only"),
    ("regression", 1, {"sparsity_beta": 0.1}, r"sparsity_beta applies to autoencoders only"),
    ("autoencoder", 1, {"sparsity_beta": 0.1, "activation": "Tanh", "average_activation": 1.0},
     r"average_activation must be in \(-1, 1\)"),
    ("autoencoder", 1, {"sparsity_beta": 0.1, "average_activation": 0.0}, r"average_activation must be > 0"),
    ("regression", 1, {"stopping_metric": "AUC"}, r"stopping_metric 'AUC' is not available for regression"),
    ("multinomial", 3, {"stopping_metric": "AUC"}, r"'AUC' is not available for multinomial"),
    ("binomial", 2, {"stopping_metric": "lift_top_group"}, r"'lift_top_group' is not available for binomial"),
    ("binomial", 2, {"stopping_metric": "deviance"}, r"'deviance' is not available for binomial"),
    ("binomial", 2, {"nfolds": 3, "fold_column": "f"}, r"either nfolds \(3\) or fold_column"),
    ("binomial", 2, {"fold_assignment": "Modulo"}, r"fold_assignment='Modulo' needs nfolds >= 2"),
    ("binomial", 2, {"fold_column": "f", "fold_assignment": "Random"}, r"fold_assignment cannot be combined"),
    ("regression", 1, {"nfolds": 3, "fold_assignment": "Stratified"}, r"'Stratified' needs a classification"),
    ("regression", 1, {"checkpoint": "m1", "nfolds": 2}, r"not supported during a checkpoint restart"),
    ("regression", 1, {"response_column": "y", "weights_column": "y"}, r"weights_column and response_column"),
    ("regression", 1, {"autoencoder": True}, r"autoencoder=True contradicts problem 'regression'"),
    ("binomial", 3, {}, r"binomial problem needs nclasses == 2, got 3"),
    ("multinomial", 2, {}, r"nclasses >= 3"),
    ("regression", 2, {}, r"nclasses == 1"),
    ("banana", 1, {}, r"problem must be one of regression, binomial, multinomial, autoencoder"),
])
def test_incompatible_combinations(problem, nclasses, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        eff(problem, nclasses, **params)


def test_bad_cloud_size():
    with pytest.raises(ValueError, match="n_nodes must be >= 1"):
        eff(n_nodes=0)


def test_mini_batch_size_below_one_is_rejected_before_any_job():
    with pytest.raises(ValueError, match=r"'mini_batch_size' must be >= 1"):
        eff(mini_batch_size=0)


# ------------------------------------------------------------------------------------- checkpoint

def trained(problem="multinomial", nclasses=4, **params):
    e, _ = eff(problem, nclasses, n_nodes=1, hidden=[16], epochs=2, response_column="label", **params)
    return e


def test_checkpoint_mutable_set_follows_h2o():
    for name in ("seed", "epochs", "l1", "l2", "max_w2", "input_dropout_ratio", "hidden_dropout_ratios", "loss",
                 "stopping_rounds", "mini_batch_size", "overwrite_with_best_model", "pretrained_autoencoder",
                 "score_interval", "train_samples_per_iteration"):
        assert name in CHECKPOINT_MUTABLE
    for name in ("response_column", "activation", "use_all_factor_levels", "standardize", "adaptive_rate",
                 "autoencoder", "rho", "epsilon", "sparse", "sparsity_beta", "col_major", "rate", "rate_annealing",
                 "rate_decay", "momentum_start", "momentum_ramp", "momentum_stable", "nesterov_accelerated_gradient",
                 "ignore_const_cols", "max_categorical_features", "nfolds", "distribution", "quantile_alpha",
                 "huber_alpha", "tweedie_power", "hidden", "ignored_columns", "x", "offset_column"):
        assert name not in CHECKPOINT_MUTABLE


def test_checkpoint_allows_mutable_changes_and_auto_values():
    old = trained()
    new = dict(old, epochs=6.0, l1=1e-4, seed=9, mini_batch_size=8, loss="Quadratic", model_id="dl_2",
               training_frame="more.hex", stopping_metric="misclassification")
    check_checkpoint(old, new, epochs_trained=2.0)
    # the user's AUTO/Automatic values do not trip the check (H2O issue #16717)
    raw = {"epochs": 6.0, "hidden": [16], "response_column": "label", "distribution": "AUTO", "loss": "Automatic",
           "seed": old["seed"]}
    check_checkpoint(old, raw, epochs_trained=2.0)
    # the re-resolved effective values of the same request do not trip it either
    new_eff, _ = effective_params(raw, problem="multinomial", nclasses=4, n_nodes=1)
    check_checkpoint(old, new_eff, epochs_trained=2.0)


@pytest.mark.parametrize("name,value", [
    ("activation", "Tanh"), ("hidden", [32]), ("response_column", "other"), ("distribution", "bernoulli"),
    ("standardize", False), ("adaptive_rate", False), ("rho", 0.95), ("max_categorical_features", 10),
    ("ignored_columns", ["c"]), ("use_all_factor_levels", False),
])
def test_checkpoint_rejects_forbidden_changes(name, value):
    old = trained()
    new = dict(old, epochs=5.0, **{name: value})
    with pytest.raises(ValueError, match=rf"cannot change '{name}'"):
        check_checkpoint(old, new, epochs_trained=2.0)


def test_checkpoint_ignores_optimiser_parameters_not_in_use():
    old = trained()  # adaptive: the manual rate is unused
    check_checkpoint(old, dict(old, epochs=5.0, rate=0.5, rate_decay=0.3), epochs_trained=2.0)
    manual = trained(adaptive_rate=False, rate=0.01)
    check_checkpoint(manual, dict(manual, epochs=5.0, rho=0.5), epochs_trained=2.0)
    with pytest.raises(ValueError, match="cannot change 'rate'"):
        check_checkpoint(manual, dict(manual, epochs=5.0, rate=0.02), epochs_trained=2.0)


def test_checkpoint_epochs_nfolds_and_validation_presence():
    old = trained()
    with pytest.raises(ValueError, match=r"epochs \(2.0\) must be greater than .* \(2.0\)"):
        check_checkpoint(old, dict(old), epochs_trained=2.0)
    check_checkpoint({**old, "_epochs_trained": 1.5}, dict(old))  # epochs 2 > 1.5, taken from old
    with pytest.raises(ValueError, match="needs the epochs already trained"):
        check_checkpoint(old, dict(old, epochs=5.0))
    with pytest.raises(ValueError, match="nfolds must be 0"):
        check_checkpoint(old, dict(old, epochs=5.0, nfolds=3), epochs_trained=2.0)
    with pytest.raises(ValueError, match="presence of validation_frame"):
        check_checkpoint(old, dict(old, epochs=5.0, validation_frame="v.hex"), epochs_trained=2.0)
    with pytest.raises(ValueError, match="unknown Deep Learning parameter 'epoks'"):
        check_checkpoint(old, {"epoks": 3}, epochs_trained=2.0)


def test_checkpoint_compares_lists_canonically():
    old = trained()
    check_checkpoint(old, dict(old, epochs=5.0, hidden=(16,)), epochs_trained=2.0)
    check_checkpoint(old, dict(old, epochs=5.0, hidden=np.array([16])), epochs_trained=2.0)


# ------------------------------------------------------------------------------------------- docs

def test_param_docs_table():
    table = param_docs_table()
    lines = table.strip().splitlines()
    assert lines[0] == "| name | default | group | meaning |" and len(lines) == len(PARAMS) + 2
    assert "| `hidden` | `[200, 200]` | basic |" in table
    assert "| `max_w2` | `inf` | expert |" in table
    assert "| `activation` | `'Rectifier'` | basic |" in table and "One of: Tanh, TanhWithDropout" in table
    assert "| `l1` | `0.0` | advanced |" in table
    assert "**Deprecated.**" in table
    assert "| `thread_mode` | `'AUTO'` | expert | **aquifer addition** (not in H2O)." in table
    assert all(line.count("|") == 5 for line in lines)


def test_the_readme_shows_the_table_as_it_is():
    """README's parameter list is the table's own output (regenerate it when a parameter changes)."""
    assert param_docs_table() in (REPO / "README.md").read_text(encoding="utf-8")


def test_doctests():
    import doctest

    import algos.deeplearning.parameters

    res = doctest.testmod(algos.deeplearning.parameters)
    assert res.attempted >= 10 and res.failed == 0


def test_adadelta_needs_epsilon_and_rho_both_positive_as_h2o():
    """H2O refuses epsilon 0 with rho > 0 and rho 0 with epsilon > 0 before training (checked against H2O-3 3.46);
    epsilon 0 used to be accepted here and to fail in training as an unstable model."""
    with pytest.raises(ValueError, match=r"epsilon must be > 0 if rho is > 0 .*got 0\.0"):
        eff(epsilon=0)
    with pytest.raises(ValueError, match=r"rho must be > 0 if epsilon is > 0 .*got 0\.0"):
        eff(rho=0)
    assert eff(rho=0, epsilon=0, adaptive_rate=False)[0]["adaptive_rate"] is False   # plain SGD reads neither
    assert eff(epsilon=1.0)[0]["epsilon"] == 1.0                                      # H2O accepts it too
