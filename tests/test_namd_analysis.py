"""What the surface-hopping analysis claims, and what it declines to claim."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import curve_fit

from fusionpot.namd.analysis import (
    UNDETERMINED,
    fit_lifetime,
    kaplan_meier,
    outcomes,
    quantum_yields,
    time_to_ground,
)

TIME = np.arange(0.0, 600.0, 1.0)  # fs
TAU = 100.0  # fs


def ensemble(decay: np.ndarray, stop: np.ndarray | None = None) -> np.ndarray:
    """active [n_traj, n_frames]: on S1 until ``decay`` fs, then S0; −1 after ``stop`` fs."""
    active = np.where(TIME[None, :] < decay[:, None], 1, 0)
    if stop is not None:
        active[TIME[None, :] > stop[:, None]] = -1
    return active


def exponential_decay_times(n: int = 200, seed: int = 7) -> np.ndarray:
    return np.random.default_rng(seed).exponential(TAU, size=n)


def test_kaplan_meier_by_hand() -> None:
    t = np.array([1.0, 2.0, 2.0, 3.0, 4.0])
    decayed = np.array([True, True, False, True, False])
    survival, at_risk = kaplan_meier(t, decayed, np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))
    # 1 fs: 1 of 5 -> 0.8; 2 fs: 1 of 4 (the one censored at 2 fs is still at risk) -> 0.6;
    # 3 fs: 1 of 2 -> 0.3; nothing known after the last record at 4 fs
    np.testing.assert_allclose(survival[:5], [1.0, 0.8, 0.6, 0.3, 0.3])
    assert np.isnan(survival[5])
    np.testing.assert_array_equal(at_risk, [5, 5, 4, 2, 1, 0])


def test_time_to_ground_censors_at_the_last_record() -> None:
    active = ensemble(np.array([10.0, 1e9, 1e9]), stop=np.array([599.0, 50.0, 599.0]))
    t, decayed = time_to_ground(TIME, active)
    np.testing.assert_array_equal(t, [10.0, 50.0, 599.0])
    np.testing.assert_array_equal(decayed, [True, False, False])


def test_an_ensemble_that_never_decays_reports_not_reached() -> None:
    lifetime = fit_lifetime(TIME, ensemble(np.full(200, 1e9)), n_boot=20)
    assert not lifetime.reached and lifetime.tau is None and lifetime.tau_low is None
    assert lifetime.n_decayed == 0 and lifetime.t_max == TIME[-1]
    text = lifetime.describe()
    assert "not reached within 599.0 fs" in text and "0 of 200" in text
    assert lifetime.as_dict()["tau"] is None and lifetime.as_dict()["ci"] is None
    with pytest.raises(ValueError, match="not reached"):
        lifetime.model(TIME)
    # a few decays are below both thresholds, and the count is reported
    few = np.full(200, 1e9)
    few[:12] = 300.0
    lifetime = fit_lifetime(TIME, ensemble(few), n_boot=20)
    assert not lifetime.reached and "12 of 200 trajectories (6 %) reached S0" in lifetime.describe()
    assert fit_lifetime(TIME, ensemble(few), n_boot=20, min_fraction=0.05).reached


def test_exponential_ensemble_recovers_tau_within_its_interval() -> None:
    lifetime = fit_lifetime(TIME, ensemble(exponential_decay_times()), n_boot=200)
    assert lifetime.reached and lifetime.n_decayed == 200
    assert lifetime.tau_low < TAU < lifetime.tau_high
    assert lifetime.tau_high - lifetime.tau_low < 0.5 * TAU
    assert lifetime.t0 == pytest.approx(0.0, abs=5.0)
    assert "τ = " in lifetime.describe() and "200 of 200" in lifetime.describe()


def test_censored_trajectories_do_not_count_as_excited_forever() -> None:
    decay = exponential_decay_times()
    stop = np.full(len(decay), TIME[-1])
    stop[::2] = np.random.default_rng(3).uniform(0.0, 150.0, size=len(decay[::2]))
    active = ensemble(decay, stop)
    n_censored = int((decay[::2] > stop[::2]).sum())
    assert n_censored > 30  # many stop while still excited
    lifetime = fit_lifetime(TIME, active, n_boot=200)
    assert lifetime.n_decayed == len(decay) - n_censored
    assert lifetime.tau_low < TAU < lifetime.tau_high
    assert lifetime.tau == pytest.approx(TAU, rel=0.15)
    # the naive estimate, stopped trajectories carried on their last state to the end
    filled = np.maximum.accumulate(np.where(active >= 0, np.arange(len(TIME)), 0), axis=1)
    excited = (np.take_along_axis(active, filled, axis=1) > 0).mean(axis=0)

    def decay_model(t: np.ndarray, tau: float) -> np.ndarray:
        return np.exp(-t / tau)

    (naive,), _ = curve_fit(decay_model, TIME, excited, p0=[TAU])
    assert naive > 1.3 * TAU


def test_yields_count_only_trajectories_on_s0_in_a_product_region() -> None:
    labels = np.array(["cis"] * 40 + ["trans"] * 40 + ["other"] * 20, dtype=object)
    final_active = np.zeros(100, dtype=int)
    final_active[:10] = 1  # 10 cis geometries still on S1
    final_active[40:45] = 2  # 5 trans geometries on S2
    final_active[95:] = -1  # no final record
    outcome = outcomes(labels, final_active)
    yields = quantum_yields(outcome, ["cis", "trans", UNDETERMINED], n_boot=300)
    assert yields["cis"][0] == pytest.approx(0.30) and yields["trans"][0] == pytest.approx(0.35)
    assert yields[UNDETERMINED][0] == pytest.approx(0.35)
    assert sum(y for y, _, _ in yields.values()) == pytest.approx(1.0)
    for y, low, high in yields.values():
        assert low < y < high
    with pytest.raises(ValueError, match="differ"):
        outcomes(labels, final_active[:5])
