"""The SDK users import, and the emitter that sends what they log.

This package never imports the consumer, and never loads chdb.
"""

from runstream.producer._experiment import Experiment
from runstream.producer._models import Model
from runstream.producer._run import Run
from runstream.producer._script import Environment, ScriptRun, ScriptRunConfig
from runstream.producer._workspace import Workspace

__all__ = [
    "Environment",
    "Experiment",
    "Model",
    "Run",
    "ScriptRun",
    "ScriptRunConfig",
    "Workspace",
]
