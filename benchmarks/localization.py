"""What the data can teach: reference localizers trained on a generated dataset, with and
without each measurement family, beside the centroid baselines.

    .venv/bin/pip install 'heimdall-studio[learn]'      # scikit-learn
    .venv/bin/python benchmarks/localization.py         # about 4 minutes on 2 cores
    .venv/bin/python benchmarks/localization.py --quick # 30,000 samples, under a minute
    .venv/bin/python benchmarks/localization.py --dataset PATH   # an existing dataset

By default a dataset of the default network (7 receivers, built-in terrain, every other
parameter default) with every receiver GPS-timed is created in a temporary workspace
(`--workspace DIR` keeps it), and split by a seeded permutation into 200,000 training and
50,000 test samples. The feature families are cumulative:

1. signal strength: each receiver's SNR, detection flag, received power and noise floor;
2. + frequency offset: each detecting receiver's offset less the sample's mean over the
   detecting receivers (the transmitter's own oscillator error, shared by all, is gone);
3. + arrival times: each timed detection's arrival after the sample's earliest one, in
   microseconds, and a flag per receiver for "timed and detected" (the emission instant
   is unknown, so only differences carry information).

Features are measurements only (`config.fields.MEASUREMENT_FIELDS`); the transmitter's
position is the target, as east and north in km around the centre of the receiver box
(`tools.loader.to_local_km`), and an error is the distance in that frame. Each family is
learned by k nearest neighbours, gradient-boosted trees and a small neural network;
baselines: the centroid of the detecting receivers, an SNR-weighted centroid, and for
arrival times a least-squares TDOA multilateration (Gauss-Newton), no training at all.

The feature builders and the baselines are plain numpy (tests/core/
test_localization_benchmark.py checks them without scikit-learn).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from report import print_table, row, timed

from heimdall_studio.core import api
from heimdall_studio.core.config.fields import MEASUREMENT_FIELDS
from heimdall_studio.core.config.geo import receiver_box, training_box
from heimdall_studio.core.config.model import DatasetConfig
from heimdall_studio.core.tools.loader import relative_to_first, to_local_km

INSTALL_HINT = "pip install 'heimdall-studio[learn]'"
# The measurements the feature builders read; nothing else of a sample reaches them.
MEASUREMENTS = ("signal_present", "snr_db", "rx_power_dbm", "noise_floor_dbm",
                "freq_offset_hz", "toa_ns")
TARGETS = ("tx_lat", "tx_lon")
assert set(MEASUREMENTS) <= MEASUREMENT_FIELDS
# Undetected links read this far below the detection threshold.
BELOW_THRESHOLD_DB = 10.0
LIGHT_KM_PER_US = 0.299_792_458
GAUSS_NEWTON_STEPS = 15
TDOA_STARTS_PER_SIDE = 3  # a grid of 3 x 3 starts besides the centroid

Arrays = Mapping[str, np.ndarray]


# ---------------------------------------------------------------------------
# features: one builder per family, measurements in, (n, columns) float64 out


def signal_features(arrays: Arrays, min_snr_db: float) -> np.ndarray:
    """(n, 4R): SNR, detected (0/1), received power, noise floor, per receiver. An
    undetected link's SNR reads `BELOW_THRESHOLD_DB` under the detection threshold, its
    power the same margin under what a detection needs over that receiver's noise floor."""
    present = np.asarray(arrays["signal_present"], dtype=bool)
    floor = np.asarray(arrays["noise_floor_dbm"], dtype=np.float64)
    fill_snr = min_snr_db - BELOW_THRESHOLD_DB
    snr = np.where(present, arrays["snr_db"], fill_snr)
    power = np.where(present, arrays["rx_power_dbm"], floor + fill_snr)
    return np.concatenate([snr, present, power, floor], axis=1).astype(np.float64)


def frequency_features(arrays: Arrays) -> np.ndarray:
    """(n, R): each detecting receiver's frequency offset less the mean over the sample's
    detecting receivers, in Hz; 0 where not detected."""
    offset = np.asarray(arrays["freq_offset_hz"], dtype=np.float64)
    seen = np.isfinite(offset)
    count = seen.sum(axis=1, keepdims=True)
    mean = np.where(seen, offset, 0.0).sum(axis=1, keepdims=True) / np.maximum(count, 1)
    return np.where(seen, offset - mean, 0.0)


def arrival_times_us(toa_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(arrival after the sample's earliest timed detection in us, 0 where none; timed
    and detected), both (n, R)."""
    after = relative_to_first(toa_ns)  # the loader's arrival-time features, in ns
    timed = np.isfinite(after)
    return np.where(timed, after / 1000.0, 0.0), timed


def arrival_features(arrays: Arrays) -> np.ndarray:
    """(n, 2R): `arrival_times_us` and its timed flags (0/1)."""
    after_us, timed = arrival_times_us(arrays["toa_ns"])
    return np.concatenate([after_us, timed], axis=1).astype(np.float64)


FAMILIES: dict[str, Callable[[Arrays, float], list[np.ndarray]]] = {
    "signal strength": lambda a, snr: [signal_features(a, snr)],
    "+ frequency offset": lambda a, snr: [signal_features(a, snr), frequency_features(a)],
    "+ arrival times": lambda a, snr: [signal_features(a, snr), frequency_features(a),
                                       arrival_features(a)],
}


def family_features(arrays: Arrays, family: str, min_snr_db: float) -> np.ndarray:
    """The feature matrix of `family` (a key of FAMILIES), cumulative."""
    return np.concatenate(FAMILIES[family](arrays, min_snr_db), axis=1)


# ---------------------------------------------------------------------------
# the km frame, the targets and the errors


def frame_origin(config: DatasetConfig) -> tuple[float, float]:
    """The centre of the receiver box: the loader's default origin of `target_frame="km"`."""
    lat0, lat1, lon0, lon1 = receiver_box(config)
    return (lat0 + lat1) / 2, (lon0 + lon1) / 2


def receivers_km(config: DatasetConfig) -> np.ndarray:
    """(R, 2) east and north of the receivers in km."""
    lat = np.array([r.lat for r in config.receivers])
    lon = np.array([r.lon for r in config.receivers])
    return np.stack(to_local_km(lat, lon, frame_origin(config)), axis=1)


def targets_km(lat: np.ndarray, lon: np.ndarray, config: DatasetConfig) -> np.ndarray:
    """(n, 2) east and north of the transmitters in km."""
    return np.stack(to_local_km(lat, lon, frame_origin(config)), axis=1)


def training_box_km(config: DatasetConfig) -> tuple[float, float, float, float]:
    """(west, east, south, north) in km: the rectangle of the frame around the training
    box, whose edges the projection bends a little."""
    south, north, west, east = training_box(config)
    t = np.linspace(0.0, 1.0, 65)
    lat = np.concatenate([south + 0 * t, north + 0 * t, south + (north - south) * t,
                          south + (north - south) * t])
    lon = np.concatenate([west + (east - west) * t, west + (east - west) * t, west + 0 * t,
                          east + 0 * t])
    edge = targets_km(lat, lon, config)
    return (float(edge[:, 0].min()), float(edge[:, 0].max()), float(edge[:, 1].min()),
            float(edge[:, 1].max()))


def box_diagonal_km(box: tuple[float, float, float, float]) -> float:
    """The largest error a guess inside the box can make."""
    west, east, south, north = box
    return float(np.hypot(east - west, north - south))


def errors_km(predicted: np.ndarray, truth: np.ndarray) -> np.ndarray:
    return np.hypot(*(np.asarray(predicted) - truth).T)


# ---------------------------------------------------------------------------
# baselines: no training


def centroid(present: np.ndarray, rx_km: np.ndarray,
             weights: np.ndarray | None = None) -> np.ndarray:
    """(n, 2): the mean position of each sample's detecting receivers, weighted by
    `weights` (n, R) where given."""
    w = np.asarray(present, dtype=np.float64)
    if weights is not None:
        w = w * weights
    total = w.sum(axis=1, keepdims=True)
    return (w @ rx_km) / np.where(total > 0, total, 1.0)


def snr_weighted_centroid(arrays: Arrays, rx_km: np.ndarray, min_snr_db: float
                          ) -> np.ndarray:
    """The centroid weighted by each detection's SNR above the threshold, in dB, plus 1."""
    present = np.asarray(arrays["signal_present"], dtype=bool)
    above = np.where(present, np.asarray(arrays["snr_db"], dtype=np.float64) - min_snr_db, 0)
    return centroid(present, rx_km, np.maximum(above, 0.0) + 1.0)


def gauss_newton(after_us: np.ndarray, timed: np.ndarray, rx_km: np.ndarray,
                 start_km: np.ndarray, iterations: int = GAUSS_NEWTON_STEPS,
                 max_step_km: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
    """(positions (n, 2), rms residual in km (n,)) of the TDOA least squares from one start
    per sample.

    Each timed detection i says |p - r_i| = c t_i + b, with b the unknown range of the
    earliest arrival: three unknowns (east, north, b), on the plane of the frame, solved
    for all samples at once. Steps longer than `max_step_km` are shortened.
    """
    n, n_rx = timed.shape
    w = np.asarray(timed, dtype=np.float64)
    count = np.maximum(w.sum(axis=1), 1)
    ranges = np.where(timed, after_us, 0.0) * LIGHT_KM_PER_US
    p = np.array(start_km, dtype=np.float64)

    def distances(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        delta = p[:, None, :] - rx_km[None]  # (n, R, 2)
        return delta, np.maximum(np.hypot(delta[..., 0], delta[..., 1]), 1e-6)

    _, distance = distances(p)
    b = (w * (distance - ranges)).sum(axis=1) / count
    damping = 1e-9 * np.eye(3)
    for _ in range(iterations):
        delta, distance = distances(p)
        residual = w * (distance - b[:, None] - ranges)
        jacobian = np.concatenate([delta / distance[..., None], -np.ones((n, n_rx, 1))],
                                  axis=2) * w[..., None]
        normal = np.einsum("nri,nrj->nij", jacobian, jacobian) + damping
        gradient = np.einsum("nri,nr->ni", jacobian, residual)
        step = -np.linalg.solve(normal, gradient[..., None])[..., 0]
        length = np.hypot(step[:, 0], step[:, 1])
        step *= np.minimum(1.0, max_step_km / np.maximum(length, 1e-12))[:, None]
        p += step[:, :2]
        b += step[:, 2]
    _, distance = distances(p)
    residual = w * (distance - ranges)
    residual -= w * (residual.sum(axis=1, keepdims=True) / count[:, None])  # the best b
    return p, np.sqrt((residual**2).sum(axis=1) / count)


def tdoa_multilateration(after_us: np.ndarray, timed: np.ndarray, rx_km: np.ndarray,
                         fallback_km: np.ndarray, box_km: tuple[float, float, float, float],
                         starts_per_side: int = TDOA_STARTS_PER_SIDE) -> np.ndarray:
    """(n, 2): least-squares positions from arrival-time differences (`gauss_newton`).

    Hyperbolas cross more than once and the least squares has local minima, so it starts
    from `fallback_km` (the centroid) and from a grid of starts over `box_km`, and keeps
    the solution inside the box with the smallest residual (ties, as the two exact
    solutions of three detections, go to the one nearest the fallback). Samples with
    fewer than three timed detections, or no solution inside the box, keep the fallback.
    """
    west, east, south, north = box_km
    grid = [np.array([e, n]) for e in np.linspace(west, east, starts_per_side + 2)[1:-1]
            for n in np.linspace(south, north, starts_per_side + 2)[1:-1]]
    fallback = np.asarray(fallback_km, dtype=np.float64)
    best = fallback.copy()
    best_score = np.full(len(best), np.inf)
    for start in [fallback, *(np.broadcast_to(g, fallback.shape) for g in grid)]:
        p, rms = gauss_newton(after_us, timed, rx_km, start)
        score = rms + 1e-4 * np.hypot(*(p - fallback).T)
        inside = ((p[:, 0] >= west) & (p[:, 0] <= east) & (p[:, 1] >= south)
                  & (p[:, 1] <= north) & np.isfinite(score))
        better = inside & (score < best_score)
        best[better] = p[better]
        best_score[better] = score[better]
    best[np.asarray(timed).sum(axis=1) < 3] = fallback[np.asarray(timed).sum(axis=1) < 3]
    return best


# ---------------------------------------------------------------------------
# the learned models (scikit-learn, imported only here)


def models(seed: int) -> dict[str, Callable[[], object]]:
    """Fresh estimators by name, each fitting (n, features) -> (n, 2) km."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.neighbors import KNeighborsRegressor
    from sklearn.neural_network import MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return {
        "KNN (k=10)": lambda: make_pipeline(StandardScaler(),
                                            KNeighborsRegressor(n_neighbors=10, n_jobs=-1)),
        # one model per coordinate; 10 % of the training set decides when to stop
        "gradient boosting": lambda: MultiOutputRegressor(HistGradientBoostingRegressor(
            max_iter=500, learning_rate=0.1, max_leaf_nodes=63, early_stopping=True,
            random_state=seed)),
        # targets scaled too: km spread over 200 km are no loss for an MLP to start from
        "MLP (128, 128)": lambda: TransformedTargetRegressor(
            regressor=make_pipeline(StandardScaler(), MLPRegressor(
                hidden_layer_sizes=(128, 128), early_stopping=True,
                max_iter=60, batch_size=1024, random_state=seed)),
            transformer=StandardScaler()),
    }


def require_sklearn() -> str:
    """scikit-learn's version, or exit with how to install it."""
    try:
        import sklearn
    except ImportError:
        sys.exit("benchmarks/localization.py trains scikit-learn models, which is not "
                 f"installed: {INSTALL_HINT}")
    return sklearn.__version__


# ---------------------------------------------------------------------------
# the run


RESULTS: list[tuple[str, str, float, float, str, str, str]] = []


def result(family: str, model: str, err: np.ndarray, fit_s: float | None,
           predict_s: float, iterations: str = "-") -> None:
    median, p90 = np.percentile(err, [50, 90])
    fit = "-" if fit_s is None else f"{fit_s:.1f}"
    RESULTS.append((family, model, median, p90, fit, f"{predict_s:.1f}", iterations))
    print(f"  {family:<20} {model:<36} median {median:7.2f} km  p90 {p90:7.2f} km  "
          f"fit {fit:>6} s  predict {predict_s:.1f} s  iterations {iterations}", flush=True)


def iterations(model: object) -> str:
    """Boosting rounds per coordinate, or the MLP's epochs; "-" for KNN."""
    if hasattr(model, "estimators_"):  # MultiOutputRegressor
        return " / ".join(str(m.n_iter_) for m in model.estimators_)
    if hasattr(model, "regressor_"):  # TransformedTargetRegressor of a pipeline
        return str(model.regressor_[-1].n_iter_)
    return "-"


def print_results() -> None:
    print("\n| family | model | median km | p90 km | fit s | predict s | iterations |\n"
          "|---|---|---|---|---|---|---|")
    for family, model, median, p90, fit, predict, rounds in RESULTS:
        print(f"| {family} | {model} | {median:.2f} | {p90:.2f} | {fit} | {predict} "
              f"| {rounds} |")


def default_config(seed: int, **params: object) -> DatasetConfig:
    """The default network, every receiver GPS-timed, everything else default (or
    `params`)."""
    network = api.make_config("network", seed=0).receivers
    return api.make_config(f"localization-seed{seed}", seed=seed, **params,
                           receivers=[{**r.to_dict(), "timing": "gps"} for r in network])


def create(samples: int, seed: int, workspace: Path) -> Path:
    config = default_config(seed)
    if api.dataset_path(config.name, workspace).exists():
        sys.exit(f"{api.dataset_path(config.name, workspace)} exists: pass it as --dataset")
    seconds, progress = timed(api.create_dataset, config, samples, workspace)
    row("dataset generated", f"{samples:,} samples",
        f"{seconds:.1f} s, acceptance {samples / progress.candidates:.1%}, {progress.path}")
    return progress.path


def evaluate(path: Path, train: int, test: int, seed: int, model_names: list[str]) -> None:
    header = api.dataset_header(path)
    if not set(MEASUREMENTS) <= set(header.fields):
        sys.exit(f"{path} was drawn by generator version {header.generator_version}: "
                 "arrival times and noise floors need version 4 or later")
    seconds, data = timed(api.load_dataset, path, fields=MEASUREMENTS + TARGETS)
    config = data.config
    n = data.num_samples
    row("dataset read", f"{n:,} samples", f"{seconds:.1f} s, {path.name}, "
        f"{len(config.receivers)} receivers, "
        f"{sum(r.timing != 'none' for r in config.receivers)} timed")
    if train + test > n:
        sys.exit(f"{path} holds {n:,} samples: fewer than --train {train:,} + --test {test:,}")
    order = np.random.default_rng(seed).permutation(n)
    splits = {"train": np.sort(order[:train]), "test": np.sort(order[train:train + test])}
    row("split", f"{train:,} / {test:,}", "train / test, seeded permutation"
        + (f"; {n - train - test:,} samples unused" if n > train + test else ""))
    measured = {name: {k: data[k][rows] for k in MEASUREMENTS} for name, rows in splits.items()}
    truth = {name: targets_km(data["tx_lat"][rows], data["tx_lon"][rows], config)
             for name, rows in splits.items()}
    del data
    rx_km = receivers_km(config)
    min_snr = config.min_snr_db
    test_x, test_y = measured["test"], truth["test"]
    box = training_box_km(config)
    row("training box diagonal", f"{box_diagonal_km(box):.0f} km",
        "the error of the worst guess inside it")

    print("\nbaselines (test split, no training)")
    s, guess = timed(centroid, test_x["signal_present"], rx_km)
    result("signal strength", "centroid of detecting receivers", errors_km(guess, test_y),
           None, s)
    s, guess = timed(snr_weighted_centroid, test_x, rx_km, min_snr)
    result("signal strength", "SNR-weighted centroid", errors_km(guess, test_y), None, s)

    available = models(seed)
    for family in FAMILIES:
        print(f"\n{family}")
        x_train = family_features(measured["train"], family, min_snr)
        x_test = family_features(test_x, family, min_snr)
        for name in model_names:
            model = available[name]()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # MLP's ConvergenceWarning at max_iter
                fit_s, _ = timed(model.fit, x_train, truth["train"])
            predict_s, guess = timed(model.predict, x_test)
            result(family, name, errors_km(guess, test_y), fit_s, predict_s,
                   iterations(model))
        if family == "+ arrival times":
            after_us, timed_rx = arrival_times_us(test_x["toa_ns"])
            start = centroid(test_x["signal_present"], rx_km)
            s, guess = timed(tdoa_multilateration, after_us, timed_rx, rx_km, start, box)
            result(family, "TDOA least squares (Gauss-Newton)", errors_km(guess, test_y),
                   None, s, f"{GAUSS_NEWTON_STEPS} x {1 + TDOA_STARTS_PER_SIDE**2} starts")


def main() -> None:
    parser = argparse.ArgumentParser(description="Heimdall Studio localization benchmark")
    parser.add_argument("--quick", action="store_true",
                        help="30,000 samples: 20,000 to train, 10,000 to test")
    parser.add_argument("--samples", type=int, help="samples to create (default 300,000)")
    parser.add_argument("--train", type=int, help="training samples (default 200,000)")
    parser.add_argument("--test", type=int, help="test samples (default 50,000)")
    parser.add_argument("--seed", type=int, default=1,
                        help="the dataset's seed, the split's and the models' (default 1)")
    parser.add_argument("--dataset", type=Path, help="use this dataset instead of creating one")
    parser.add_argument("--workspace", type=Path,
                        help="create the dataset here and keep it (default: a temporary one)")
    parser.add_argument("--models", default="all",
                        help="comma-separated subset of knn, hgb, mlp (default all)")
    args = parser.parse_args()
    sizes = (30_000, 20_000, 10_000) if args.quick else (300_000, 200_000, 50_000)
    samples, train, test = (given if given is not None else default for given, default
                            in zip((args.samples, args.train, args.test), sizes, strict=True))
    if args.dataset is None and train + test > samples:
        parser.error(f"--train {train:,} + --test {test:,} exceed --samples {samples:,}")
    short = {"knn": "KNN (k=10)", "hgb": "gradient boosting", "mlp": "MLP (128, 128)"}
    picked = list(short) if args.models == "all" else args.models.split(",")
    if not set(picked) <= set(short):
        parser.error(f"--models takes a subset of {', '.join(short)}")
    sklearn_version = require_sklearn()

    print(f"Heimdall Studio localization benchmark: {platform.machine()}, "
          f"{os.cpu_count()} cpus, Python {platform.python_version()}, numpy "
          f"{np.__version__}, scikit-learn {sklearn_version}")
    row("machine", f"{os.cpu_count()} cpus", f"{platform.machine()}, "
        f"Python {platform.python_version()}, scikit-learn {sklearn_version}")
    total_s, _ = timed(_run, args, samples, train, test, [short[m] for m in picked])
    row("total wall time", f"{total_s:.0f} s")
    print_table()
    print_results()


def _run(args: argparse.Namespace, samples: int, train: int, test: int,
         model_names: list[str]) -> None:
    if args.dataset is not None:
        evaluate(args.dataset, train, test, args.seed, model_names)
        return
    from user_folders import private_user_folders  # loads the GUI's settings module

    with tempfile.TemporaryDirectory() as tmp, private_user_folders(Path(tmp)):
        workspace = args.workspace or Path(tmp) / "workspace"
        path = create(samples, args.seed, workspace)
        evaluate(path, train, test, args.seed, model_names)


if __name__ == "__main__":
    main()
