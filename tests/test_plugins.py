"""The plugin registry shared by trackers and workloads."""

import pytest

from bench.plugins import PluginError, Registry
from bench.trackers import Tracker
from workloads.base import Workload


def _registry(builtin):
    return Registry("workload", "trackerbench.no-such-group", builtin, Workload)


def test_unknown_names_list_the_valid_ones_in_order():
    reg = Registry(
        "tracker",
        "trackerbench.no-such-group",
        {"b": "x:Y", "none": "x:Y", "a": "x:Y"},
        Tracker,
        order=lambda n: (n != "none", n),
    )
    assert reg.names() == ["none", "a", "b"]
    with pytest.raises(KeyError, match="unknown tracker 'c'; valid: none, a, b"):
        reg.load("c")


def test_a_plugin_that_cannot_be_imported_is_named_with_the_cause():
    reg = _registry({"broken": "no_such_module_xyz:Thing"})
    with pytest.raises(PluginError, match="workload 'broken'.*ModuleNotFoundError"):
        reg.load("broken")


def test_a_plugin_of_the_wrong_kind_is_refused():
    reg = _registry({"tracker-not-workload": "bench.trackers.none:NoneTracker"})
    with pytest.raises(PluginError, match="not a Workload subclass"):
        reg.load("tracker-not-workload")
    assert _registry({"mlp": "workloads.mlp:MlpWorkload"}).load("mlp").name == "mlp"
