"""runstream: experiment tracking on Kafka and ClickHouse.

::

    from runstream import Workspace, Experiment

    run = Experiment(Workspace(), "train").start_logging()
    run.log("loss", 0.25)
    run.complete()
    run.get_metrics()
"""

from runstream.errors import (
    BackendError,
    BrokerError,
    ConflictError,
    InvalidArgumentError,
    InvalidTypeError,
    NotFoundError,
    RunFailedError,
    RunstreamError,
    SchemaError,
    ServerError,
    StoreError,
)
from runstream.producer import (
    Environment,
    Experiment,
    Model,
    Run,
    ScriptRun,
    ScriptRunConfig,
    Workspace,
)

__all__ = [
    "BackendError",
    "BrokerError",
    "ConflictError",
    "Environment",
    "Experiment",
    "InvalidArgumentError",
    "InvalidTypeError",
    "Model",
    "NotFoundError",
    "Run",
    "RunFailedError",
    "RunstreamError",
    "SchemaError",
    "ScriptRun",
    "ScriptRunConfig",
    "ServerError",
    "StoreError",
    "Workspace",
]
